#pragma once
// An evaluation's output directory as a record of what its rows depend on:
//
//   run.json       the data's and the model's content hashes and every setting; a later
//                  run into the directory must match it
//   traces.jsonl   one TraceRow per line, appended as runs finish
//   .lock          held (flock) by the run writing the directory

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ponder/eval.h"

namespace ponder::eval {

// run.json's layout; older directories (without the hashes) are refused.
constexpr int kRunFileVersion = 2;

// What identifies the model a run used.
struct ModelIdentity {
  std::string file;    // its file name, for people reading run.json
  std::string sha256;  // of its content
  int64_t size = 0;    // bytes
};
ModelIdentity model_identity(const std::string& path);
// {"file", "sha256", "size"}
nlohmann::json identity_json(const ModelIdentity& model);

// run.json's content. `options` as the strategies run them (answer rule resolved, seed
// set); `verifier` the verifier's identity and settings (null: none).
nlohmann::json run_settings(const StrategyOptions& options, uint64_t seed, const Dataset& data,
                            const ModelIdentity& model, const nlohmann::json& verifier = nullptr);

// Every difference between the run.json text `recorded` and `now`, each as
// "key: X there, Y now" (nested keys dotted). Throws std::runtime_error when `recorded`
// is not a run.json of this version.
std::vector<std::string> settings_differences(std::string_view recorded, const nlohmann::json& now);

// Writes dir/run.json, or when there is one, throws std::runtime_error listing how it
// differs from `now`.
void check_or_write_settings(const std::filesystem::path& dir, const nlohmann::json& now);

struct LoadedTraces {
  std::map<std::pair<std::string, std::string>, TraceRow> done;  // by (id, strategy): runs that succeeded
  std::vector<std::string> warnings;  // rows that could not be read (their runs are done again)
};

// The rows of traces.jsonl text (complete lines only). A row that is not valid JSON or
// not a valid TraceRow is skipped with a warning naming its line, so its run is done
// again; a failed run (with "error") is not done. The first row of a run counts.
LoadedTraces parse_traces(std::string_view content);

// parse_traces of the file, after cutting a last line left incomplete by an interruption
// so that appending continues cleanly. No file: nothing done.
LoadedTraces load_traces(const std::filesystem::path& path);

}  // namespace ponder::eval
