// run_eval: strategies x items on one engine through the runtime, with resumable
// traces.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>

#include "eval/report.h"
#include "ponder/eval.h"
#include "ponder/runtime.h"

namespace ponder {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json cost_json(const Cost& c) {
  return {{"prompt_tokens", c.prompt_tokens}, {"generated_tokens", c.generated_tokens},
          {"scored_tokens", c.scored_tokens}, {"verifier_tokens", c.verifier_tokens},
          {"forward_passes", c.forward_passes},
          {"wall_ms", c.wall_ms}};
}

json trace_json(const EvalItem& item, const StrategyResult& r) {
  json samples = json::array();
  for (const auto& s : r.samples) {
    samples.push_back({{"answer", s.answer ? json(s.answer->text) : json(nullptr)},
                       {"correct", s.answer && s.answer->key == item.reference.key},
                       {"tokens", s.tokens},
                       {"mean_logprob", s.mean_logprob},
                       {"finish_reason", finish_reason_name(s.finish)},
                       {"pruned", s.pruned},
                       {"text", s.text}});
  }
  json j = {{"id", item.id},
            {"strategy", r.strategy},
            {"reference", item.reference.text},
            {"answer", r.answer ? json(r.answer->text) : json(nullptr)},
            {"correct", r.answer && r.answer->key == item.reference.key},
            {"confidence", r.confidence},
            {"stop_reason", r.stop_reason},
            {"samples", samples},
            {"cost", cost_json(r.cost)}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

json adaptive_settings(const AdaptiveVoteOptions& a) {
  using C = AdaptiveVoteOptions::Criterion;
  return {{"criterion", a.criterion == C::beta ? "beta" : a.criterion == C::dirichlet ? "dirichlet" : "esc"},
          {"threshold", a.threshold},
          {"wave", a.wave},
          {"esc_window", a.esc_window}};
}

// The settings a resumed run must share with the run that wrote the directory.
json run_settings(const Engine& engine, const EvalOptions& o, AnswerRule rule) {
  const auto& g = o.strategy_options.generation;
  return {{"model", fs::path(engine.model().path()).filename().string()},
          {"seed", o.seed},
          {"temperature", g.sampling.temperature},
          {"top_p", g.sampling.top_p},
          {"max_tokens", g.stop.max_tokens},
          {"answer_rule", answer_rule_name(rule)},
          {"answer_pattern", g.answers.pattern},
          {"adaptive", adaptive_settings(o.strategy_options.adaptive)},
          {"verifier", o.verifier ? fs::path(o.verifier->model().path()).filename().string() : ""}};
}

// Settings added after the first directories were written, at their defaults: a
// directory that lacks one ran with its default.
json settings_defaults() { return {{"adaptive", adaptive_settings({})}, {"verifier", ""}}; }

void check_or_write_settings(const fs::path& dir, const json& settings) {
  const fs::path path = dir / "run.json";
  if (fs::exists(path)) {
    std::ifstream in(path);
    const json old = json::parse(in, nullptr, false);
    if (old.is_discarded()) throw std::runtime_error(path.string() + " is not valid JSON; use another --out");
    for (auto& [key, value] : settings.items()) {
      if (!old.contains(key) && settings_defaults().value(key, json()) == value) continue;
      if (!old.contains(key) || old[key] != value) {
        throw std::runtime_error(dir.string() + " holds a run with other settings (" + key + ": " +
                                 (old.contains(key) ? old[key].dump() : "none") + " there, " + value.dump() +
                                 " now); use another --out");
      }
    }
    return;
  }
  std::ofstream(path) << settings.dump(2) << "\n";
}

// Completed traces of earlier runs, by (id, strategy). A last line cut short by an
// interruption is dropped from the file so appending continues cleanly.
std::map<std::pair<std::string, std::string>, json> load_traces(const fs::path& path) {
  std::map<std::pair<std::string, std::string>, json> done;
  if (!fs::exists(path)) return done;
  std::string content;
  {
    std::ifstream in(path, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t complete = content.rfind('\n') == std::string::npos ? 0 : content.rfind('\n') + 1;
  if (complete < content.size()) fs::resize_file(path, complete);
  size_t start = 0;
  while (start < complete) {
    const size_t end = content.find('\n', start);
    const json row = json::parse(content.substr(start, end - start), nullptr, false);
    start = end + 1;
    if (row.is_object() && row.contains("id") && row.contains("strategy") && !row.contains("error")) {
      done[{row["id"].get<std::string>(), row["strategy"].get<std::string>()}] = row;
    }
  }
  return done;
}

class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled && isatty(STDERR_FILENO)) {}
  void tick() {
    ++done_;
    if (!enabled_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done_ > 0 ? elapsed / double(done_) * double(total_ - done_) : 0.0;
    std::fprintf(stderr, "\r[eval] %zu/%zu (%.0f%%) elapsed %.0fs, ETA %.0fs   ", done_, total_,
                 100.0 * double(done_) / double(total_), elapsed, eta);
    if (done_ == total_) std::fputc('\n', stderr);
  }

 private:
  size_t total_, done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Rows are successful runs only.
StrategySummary summarize(const std::string& name, const std::vector<const json*>& rows, uint64_t seed) {
  StrategySummary s;
  s.name = name;
  std::vector<int> outcomes;
  int min_samples = INT32_MAX;
  for (const json* row : rows) {
    outcomes.push_back((*row)["correct"].get<bool>() ? 1 : 0);
    const json& cost = (*row)["cost"];
    s.generated_tokens += cost["generated_tokens"].get<double>();
    s.verifier_tokens += cost.value("verifier_tokens", 0.0);
    s.forward_passes += cost["forward_passes"].get<double>();
    s.wall_s += cost["wall_ms"].get<double>() / 1000.0;
    s.samples += double((*row)["samples"].size());
    min_samples = std::min(min_samples, int((*row)["samples"].size()));
  }
  s.questions = int(outcomes.size());
  if (outcomes.empty()) return s;
  const double n = double(outcomes.size());
  s.accuracy = double(std::count(outcomes.begin(), outcomes.end(), 1)) / n;
  s.ci95 = bootstrap_ci95(outcomes, seed);
  s.generated_tokens /= n;
  s.verifier_tokens /= n;
  s.forward_passes /= n;
  s.wall_s /= n;
  s.samples /= n;
  for (int k = 1; k <= min_samples; k *= 2) {
    double total = 0.0;
    for (const json* row : rows) {
      int correct = 0;
      for (const auto& sample : (*row)["samples"]) correct += sample["correct"].get<bool>();
      total += pass_at_k(int((*row)["samples"].size()), correct, k);
    }
    s.coverage[k] = total / n;
  }
  return s;
}

// The items by their group: in numeric order of the values when every value is a
// number, else in text order; items without a value last.
std::vector<std::pair<std::string, std::vector<const EvalItem*>>> items_by_group(const std::vector<EvalItem>& items) {
  std::map<std::string, std::vector<const EvalItem*>> valued;
  std::vector<const EvalItem*> missing;
  for (const auto& item : items) (item.group.empty() ? missing : valued[item.group]).push_back(&item);
  std::vector<std::pair<std::string, std::vector<const EvalItem*>>> out(valued.begin(), valued.end());
  auto number = [](const std::string& v) -> std::optional<double> {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    return end == v.c_str() + v.size() ? std::optional<double>(d) : std::nullopt;
  };
  if (std::all_of(out.begin(), out.end(), [&](const auto& g) { return number(g.first).has_value(); })) {
    std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) { return *number(a.first) < *number(b.first); });
  }
  if (!missing.empty()) out.emplace_back("", std::move(missing));
  return out;
}

}  // namespace

EngineOptions eval_engine_options(const Model& model, int max_sequences, int threads) {
  EngineOptions e;
  e.max_sequences = max_sequences;
  e.threads = threads;
  e.context_per_sequence = std::min(model.n_ctx_train(), 1024);
  e.batch_tokens = std::max(512, max_sequences);
  return e;
}

EvalReport run_eval(Engine& engine, const Dataset& data, const EvalOptions& options) {
  if (options.strategies.empty()) throw std::invalid_argument("strategies: give at least one");
  if (options.out_dir.empty()) throw std::invalid_argument("out: an output directory is required");
  if (options.limit < 0) throw std::invalid_argument("limit: must be >= 0 (0 = all)");
  if (options.stop_on_bad_data && !data.errors.empty()) {
    const auto& e = data.errors.front();
    throw std::runtime_error("bad data at line " + std::to_string(e.line) + ": " + e.message + " (" +
                             std::to_string(data.errors.size()) + " bad rows in all)");
  }
  std::vector<EvalItem> items = data.items;
  if (options.limit > 0 && size_t(options.limit) < items.size()) items.resize(size_t(options.limit));
  if (items.empty()) throw std::runtime_error("no valid items to evaluate");

  StrategyOptions so = options.strategy_options;
  so.generation.sampling.seed = options.seed;
  if (so.generation.answers.rule == AnswerRule::automatic) so.generation.answers.rule = default_answer_rule(data.format);
  std::vector<std::unique_ptr<Strategy>> strategies;
  std::set<std::string> names;
  for (const auto& spec : options.strategies) {
    strategies.push_back(make_strategy(spec, so));
    if (!names.insert(strategies.back()->name()).second) {
      throw std::invalid_argument("strategies: '" + spec + "' is listed twice");
    }
  }

  const fs::path dir(options.out_dir);
  fs::create_directories(dir);
  check_or_write_settings(dir, run_settings(engine, options, so.generation.answers.rule));
  const fs::path traces_path = dir / "traces.jsonl";
  auto done = load_traces(traces_path);

  EvalReport report;
  std::vector<Job> jobs;
  std::vector<const EvalItem*> job_items;
  for (const auto& item : items) {
    for (const auto& s : strategies) {
      if (done.count({item.id, s->name()})) {
        ++report.resumed;
      } else {
        // The strategies outlive the runtime: it only borrows them.
        jobs.push_back({std::shared_ptr<const Strategy>(s.get(), [](const Strategy*) {}), item.question, {}, {}});
        job_items.push_back(&item);
      }
    }
  }

  std::ofstream traces(traces_path, std::ios::app);
  if (!traces) throw std::runtime_error("cannot write " + traces_path.string());
  Progress progress(jobs.size(), options.progress);
  Runtime runtime(engine, {.max_in_flight = options.max_in_flight});
  if (options.verifier) runtime.set_verifier(*options.verifier_engine, *options.verifier);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].on_result = [&, i](const StrategyResult& r) {
      const json row = trace_json(*job_items[i], r);
      traces << dump(row) << '\n' << std::flush;
      if (!row.contains("error")) done[{job_items[i]->id, r.strategy}] = row;
      ++report.ran;
      progress.tick();
    };
  }
  runtime.run(std::move(jobs));

  // Every strategy's summary over `members`; a failed run leaves no row and counts as an error.
  auto summarize_all = [&](const std::vector<const EvalItem*>& members) {
    std::vector<StrategySummary> out;
    for (const auto& s : strategies) {
      std::vector<const json*> rows;
      for (const EvalItem* item : members) {
        auto it = done.find({item->id, s->name()});
        if (it != done.end()) rows.push_back(&it->second);
      }
      out.push_back(summarize(s->name(), rows, options.seed));
      out.back().errors = int(members.size() - rows.size());
    }
    return out;
  };
  std::vector<const EvalItem*> all;
  for (const auto& item : items) all.push_back(&item);
  report.strategies = summarize_all(all);
  report.scaling_efficiency = scaling_efficiency(report.strategies);
  report.group_by = data.group_by;
  if (!data.group_by.empty()) {
    for (const auto& [value, members] : items_by_group(items)) {
      report.groups.push_back({value, int(members.size()), summarize_all(members)});
    }
  }
  eval::write_reports(dir, report);
  return report;
}

}  // namespace ponder
