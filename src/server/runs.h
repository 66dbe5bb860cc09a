#pragma once
// The evaluation runs the live page replays (`ponder serve --runs DIR`). Each DIR is a run
// directory of `ponder eval` (it holds run.json) or a folder of them, one level deep. The
// page names a run by the name the listing gave it and a file by one of a fixed set;
// nothing a client sends becomes part of a path: the file served is one the listing
// found, never a link, and never outside the directories given.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ponder::server {

struct RunDirectory {
  std::string name;            // "DIR's name" or "DIR's name/run's name": what the page asks by
  std::filesystem::path path;  // the run directory
};

// The files of a run the page may read.
inline constexpr const char* kRunFiles[] = {"summary.json", "accuracy_vs_tokens.tsv", "traces.jsonl", "run.json"};

// Run directories under `roots`, in the order given then by name; read anew each call, so
// runs that finish while the server runs appear. Links are not followed.
std::vector<RunDirectory> list_runs(const std::vector<std::filesystem::path>& roots);

// The path of `file` (one of kRunFiles) in the run named `name`, when both are known and
// it is a regular file; none otherwise.
std::optional<std::filesystem::path> run_file(const std::vector<std::filesystem::path>& roots,
                                              const std::string& name, const std::string& file);

// Throws std::invalid_argument naming the root when one is not a readable directory.
void check_run_roots(const std::vector<std::filesystem::path>& roots);

}  // namespace ponder::server
