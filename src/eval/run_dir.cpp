#include "eval/run_dir.h"

#include <stdexcept>

#include "eval/content_hash.h"
#include "eval/files.h"
#include "ponder/presets.h"
#include "ponder/result_json.h"

namespace ponder::eval {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* criterion_name(AdaptiveVoteOptions::Criterion c) {
  using C = AdaptiveVoteOptions::Criterion;
  return c == C::beta ? "beta" : c == C::dirichlet ? "dirichlet" : "esc";
}

const char* format_name(DatasetFormat f) {
  switch (f) {
    case DatasetFormat::automatic:
      return "auto";
    case DatasetFormat::ponder:
      return "ponder";
    case DatasetFormat::gsm8k:
      return "gsm8k";
    case DatasetFormat::math:
      return "math";
  }
  return "unknown";
}

// Each place where `before` and `after` differ, as "key: X there, Y now" (nested keys dotted).
void differences(const json& before, const json& after, const std::string& path,
                 std::vector<std::string>& out) {
  const std::string where = path.empty() ? "the settings" : path;
  if (!before.is_object() || !after.is_object()) {
    if (before != after)
      out.push_back(where + ": " + dump_json(before) + " there, " + dump_json(after) + " now");
    return;
  }
  auto key_path = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  for (const auto& [key, value] : before.items()) {
    if (!after.contains(key)) out.push_back(key_path(key) + ": " + dump_json(value) + " there, none now");
  }
  for (const auto& [key, value] : after.items()) {
    if (!before.contains(key)) {
      out.push_back(key_path(key) + ": none there, " + dump_json(value) + " now");
    } else {
      differences(before[key], value, key_path(key), out);
    }
  }
}

}  // namespace

ModelIdentity model_identity(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) throw FileError("cannot read " + path + ": " + error.message());
  return {fs::path(path).filename().string(), cached_file_sha256(path), int64_t(size)};
}

// Every field of StrategyOptions is here: a setting left out would let rows computed with
// different values mix in one directory.
json identity_json(const ModelIdentity& m) { return {{"file", m.file}, {"sha256", m.sha256}, {"size", m.size}}; }

json run_settings(const StrategyOptions& o, uint64_t seed, const Dataset& data, const ModelIdentity& model,
                  const json& verifier) {
  const auto& g = o.generation;
  const auto& a = o.adaptive;
  const auto& p = o.prune;
  const auto& s = o.search;
  const auto& d = o.deepconf;
  static const char* measures[] = {"lowest", "bottom", "tail", "mean"};
  json stop = {{"max_tokens", g.stop.max_tokens}, {"stop", g.stop.stop}, {"ignore_eos", g.stop.ignore_eos}};
  // Recorded only when set, so that runs from before thinking budgets still resume.
  if (g.stop.thinking.enabled()) {
    stop["thinking"] = {{"tokens", g.stop.thinking.tokens},
                        {"start", g.stop.thinking.start},
                        {"end", g.stop.thinking.end},
                        {"close", g.stop.thinking.close}};
  }
  return {
      {"version", kRunFileVersion},
      {"data", {{"sha256", data.content_hash}, {"format", format_name(data.format)}}},
      {"model", identity_json(model)},
      {"verifier", verifier},
      {"seed", seed},
      {"sampling",
       {{"temperature", g.sampling.temperature},
        {"top_k", g.sampling.top_k},
        {"top_p", g.sampling.top_p},
        {"min_p", g.sampling.min_p},
        {"top_logprobs", g.sampling.top_logprobs}}},
      {"stop", stop},
      {"answers",
       {{"rule", answer_rule_name(g.answers.rule)},
        {"first", answer_rule_name(g.answers.first)},
        {"pattern", g.answers.pattern}}},
      {"adaptive",
       {{"criterion", criterion_name(a.criterion)},
        {"threshold", a.threshold},
        {"wave", a.wave},
        {"esc_window", a.esc_window},
        {"dirichlet_top", a.dirichlet_top},
        {"dirichlet_draws", a.dirichlet_draws}}},
      {"prune",
       {{"warmup_tokens", p.warmup_tokens}, {"quantile", p.quantile}, {"min_survivors", p.min_survivors}}},
      {"search",
       {{"step_delimiter", s.step_delimiter},
        {"max_steps", s.max_steps},
        {"beam_width", s.beam_width},
        {"aggregation", step_aggregation_name(s.aggregation)},
        {"lookahead", s.lookahead},
        {"pf_temperature", s.pf_temperature},
        {"resampling", s.resampling == SearchOptions::Resampling::multinomial ? "multinomial" : "systematic"},
        {"keep_finished", s.keep_finished},
        {"rollback_threshold", s.rollback_threshold},
        {"rollback_tries", s.rollback_tries},
        {"astar_expansions", s.astar_expansions},
        {"astar_step_cost", s.astar_step_cost}}},
      {"deepconf",
       {{"window", d.window},
        {"top_k", d.top_k},
        {"percentile", d.percentile},
        {"warmup", d.warmup},
        {"wave", d.wave},
        {"consensus", d.consensus},
        {"min_votes", d.min_votes},
        {"keep", d.keep},
        {"measure", measures[int(d.measure)]}}},
      {"controller", controller_json(o.controller)},
      {"cascade",
       {{"small_samples", o.cascade.small_samples},
        {"agreement", o.cascade.agreement},
        {"escalation", o.cascade.escalation}}},
      {"ead", {{"threshold", o.ead.threshold}, {"window", o.ead.window}, {"dwell", o.ead.dwell}}},
  };
}

std::vector<std::string> settings_differences(std::string_view recorded, const json& now) {
  const json old = json::parse(recorded, nullptr, false);
  if (old.is_discarded() || !old.is_object()) throw std::runtime_error("run.json is not a JSON object");
  if (!old.contains("version") || old["version"] != kRunFileVersion) {
    throw std::runtime_error(
        "run.json has layout version " +
        (old.contains("version") ? dump_json(old["version"]) : std::string("1")) +
        " and this ponder reads version " + std::to_string(kRunFileVersion) +
        " (directories before version 2 do not record the data and model hashes a resumed run checks)");
  }
  std::vector<std::string> out;
  differences(old, now, "", out);
  return out;
}

void check_or_write_settings(const fs::path& dir, const json& now) {
  const fs::path path = dir / "run.json";
  if (!fs::exists(fs::symlink_status(path))) {
    std::error_code error;
    if (fs::file_size(dir / "traces.jsonl", error) > 0 && !error) {
      throw std::runtime_error(dir.string() +
                               " holds traces.jsonl but no run.json, so what its rows depend on is " +
                               "unknown; use another --out");
    }
    write_file_atomic(path, now.dump(2) + "\n");
    return;
  }
  std::vector<std::string> differences;
  try {
    differences = settings_differences(read_regular_file(path), now);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path.string() + ": " + e.what() + "; use another --out");
  }
  if (differences.empty()) return;
  std::string list;
  for (const auto& d : differences) list += "\n  " + d;
  throw std::runtime_error(dir.string() + " holds a run with other settings (data, model or options); what differs:" +
                           list + "\nuse another --out (or the same settings)");
}

LoadedTraces parse_traces(std::string_view content) {
  LoadedTraces out;
  size_t start = 0;
  for (int line = 1; start < content.size(); ++line) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    const std::string_view text = content.substr(start, end - start);
    start = end + 1;
    const json j = json::parse(text, nullptr, false);
    try {
      if (j.is_discarded()) throw ResultJsonError("not valid JSON");
      TraceRow row = j.get<TraceRow>();
      if (row.result.error.empty()) out.done.try_emplace({row.id, row.result.strategy}, std::move(row));
    } catch (const ResultJsonError& e) {
      out.warnings.push_back("traces.jsonl line " + std::to_string(line) + " skipped (" + e.what() +
                             "); its run is done again");
    }
  }
  return out;
}

LoadedTraces load_traces(const fs::path& path) {
  if (!fs::exists(fs::symlink_status(path))) return {};
  const std::string content = read_regular_file(path);
  const size_t complete = content.rfind('\n') == std::string::npos ? 0 : content.rfind('\n') + 1;
  if (complete < content.size()) {
    std::error_code error;
    fs::resize_file(path, complete, error);
    if (error) throw FileError("cannot write " + path.string() + ": " + error.message());
  }
  return parse_traces(std::string_view(content).substr(0, complete));
}

}  // namespace ponder::eval
