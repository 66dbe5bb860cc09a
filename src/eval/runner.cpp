// run_eval: strategies x items on one engine through the runtime, with resumable
// traces.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "eval/batch_budget.h"
#include "eval/files.h"
#include "eval/report.h"
#include "eval/run_dir.h"
#include "ponder/engine_sizing.h"
#include "ponder/eval.h"
#include "ponder/result_json.h"
#include "ponder/runtime.h"
#include "ponder/verifier.h"

namespace ponder {

namespace {

namespace fs = std::filesystem;

// A result's cost in tokens of a model of `reference` parameters (StrategySummary::equivalent_tokens).
double equivalent_tokens(const StrategyResult& r, int64_t reference) {
  if (r.costs.empty() || reference <= 0) return double(r.cost.generated_tokens + r.cost.verifier_tokens);
  double total = 0.0;
  for (const ModelCost& c : r.costs) {
    const int64_t tokens = c.role == "verifier" ? c.cost.prompt_tokens + c.cost.scored_tokens
                                                : c.cost.generated_tokens + c.cost.scored_tokens;
    total += double(tokens) * double(c.parameters) / double(reference);
  }
  return total;
}

// Rows are successful runs only; `reference`: the parameters equivalent tokens are counted in.
StrategySummary summarize(const std::string& name, const std::vector<const TraceRow*>& rows, uint64_t seed,
                          int64_t reference) {
  StrategySummary s;
  s.name = name;
  std::vector<int> outcomes;
  size_t min_samples = SIZE_MAX, samples = 0, no_answer = 0;
  double tree_tokens = 0.0, drawn = 0.0, drawn_large = 0.0;
  for (const TraceRow* row : rows) {
    outcomes.push_back(row->correct ? 1 : 0);
    const Cost& cost = row->result.cost;
    s.generated_tokens += double(cost.generated_tokens);
    s.verifier_tokens += double(cost.verifier_tokens);
    s.equivalent_tokens += equivalent_tokens(row->result, reference);
    for (const ModelCost& c : row->result.costs) {
      if (c.role == "generator" || c.role == "large generator") drawn += double(c.cost.generated_tokens);
      if (c.role == "large generator") drawn_large += double(c.cost.generated_tokens);
    }
    s.forward_passes += double(cost.forward_passes);
    s.decoded_tokens += double(cost.decoded_tokens);
    tree_tokens += double(cost.tree_tokens);
    s.wall_s += cost.wall_ms / 1000.0;
    samples += row->result.samples.size();
    min_samples = std::min(min_samples, row->result.samples.size());
    for (const auto& sample : row->result.samples) no_answer += !sample.answer;
  }
  s.questions = int(outcomes.size());
  if (outcomes.empty()) return s;
  const double n = double(outcomes.size());
  s.accuracy = double(std::count(outcomes.begin(), outcomes.end(), 1)) / n;
  s.ci95 = bootstrap_ci95(outcomes, seed);
  s.generated_tokens /= n;
  s.verifier_tokens /= n;
  s.equivalent_tokens /= n;
  s.large_share = drawn > 0 ? drawn_large / drawn : 0.0;
  s.reprocess_ratio = tree_tokens > 0 ? s.decoded_tokens / tree_tokens : 0.0;
  s.forward_passes /= n;
  s.decoded_tokens /= n;
  s.wall_s /= n;
  s.samples = double(samples) / n;
  s.no_answer_share = samples > 0 ? double(no_answer) / double(samples) : 0.0;
  for (size_t k = 1; k <= min_samples; k *= 2) {
    double total = 0.0;
    for (const TraceRow* row : rows) {
      const int correct = int(std::count(row->samples_correct.begin(), row->samples_correct.end(), true));
      total += pass_at_k(int(row->result.samples.size()), correct, int(k));
    }
    s.coverage[int(k)] = total / n;
  }
  return s;
}

// What a verifier's scores depend on: its model and its settings.
nlohmann::json verifier_record(const ProcessRewardModel& verifier) {
  const PrmSettings& v = verifier.settings();
  nlohmann::json j = eval::identity_json(eval::model_identity(verifier.model().path()));
  j["settings"] = {{"prompt", v.prompt},
                   {"step_delimiter", v.step_delimiter},
                   {"tag", v.tag},
                   {"good", v.good},
                   {"bad", v.bad},
                   {"aggregation", step_aggregation_name(v.aggregation)},
                   {"surprise_weight", v.surprise_weight}};
  return j;
}

// A command's scores depend on the program and its arguments, and on the files they name
// (a test script edited between runs is another verifier); not on its timeout.
nlohmann::json verifier_record(const CommandVerifier& verifier) {
  const CommandVerifierOptions& o = verifier.options();
  nlohmann::json files = nlohmann::json::array();
  for (const auto& arg : o.argv) {
    std::error_code ec;
    if (arg.find('/') != std::string::npos && fs::is_regular_file(arg, ec)) {
      files.push_back(eval::identity_json(eval::model_identity(arg)));
    }
  }
  return {{"command",
           {{"argv", o.argv},
            {"files", files},
            {"step_delimiter", o.step_delimiter},
            {"aggregation", step_aggregation_name(o.aggregation)}}}};
}

// Self-evaluation's scores depend on the generator (recorded already) and the settings.
nlohmann::json verifier_record(const SelfEvaluator& verifier) {
  const SelfEvalSettings& s = verifier.settings();
  return {{"self_evaluation",
           {{"question", s.question},
            {"yes", s.yes},
            {"no", s.no},
            {"per_step", s.per_step},
            {"step_delimiter", s.step_delimiter},
            {"aggregation", step_aggregation_name(s.aggregation)}}}};
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

EngineOptions eval_engine_options(const Model& model, int max_sequences, int threads, KvCacheTypes kv_cache) {
  // Items vary in length, so every slot gets the model's context up to 1024 tokens.
  Workload work;
  work.sequences = max_sequences;
  work.max_new_tokens = std::min(model.n_ctx_train(), 1024) - 1;
  work.threads = threads;
  work.kv_cache = kv_cache;
  return engine_options_for(model, work);
}

EvalReport run_eval(Engine& engine, const Dataset& data, const EvalOptions& options) {
  options.batch.validate();
  const bool batch = options.batch.tokens_per_question > 0.0;
  if (options.strategies.empty() && !batch) throw std::invalid_argument("strategies: give at least one");
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
  // Every rule, the data set's own first: a model that answers another way still scores.
  AnswerOptions& answers = so.generation.answers;
  if (answers.rule == AnswerRule::automatic && answers.first == AnswerRule::automatic) {
    answers.first = default_answer_rule(data.format);
  }
  std::vector<std::unique_ptr<Strategy>> strategies;
  std::vector<std::string> names;  // every row's strategy, the batch's last
  for (const auto& spec : options.strategies) {
    strategies.push_back(make_strategy(spec, so));
    if (std::find(names.begin(), names.end(), strategies.back()->name()) != names.end()) {
      throw std::invalid_argument("strategies: '" + spec + "' is listed twice");
    }
    names.push_back(strategies.back()->name());
  }
  const std::string batch_name = "batch@" + std::to_string(options.batch.max_samples);
  if (batch) names.push_back(batch_name);  // no strategy is named batch

  const fs::path dir(options.out_dir);
  std::error_code made;
  fs::create_directories(dir, made);
  if (made) throw eval::FileError("cannot create " + dir.string() + ": " + made.message());
  const eval::DirectoryLock lock(dir / ".lock");
  if (int(options.verifier != nullptr) + int(options.command_verifier != nullptr) +
          int(options.self_evaluator != nullptr) > 1) {
    throw std::invalid_argument("verifier: give one of a PRM, a command and self-evaluation");
  }
  if (options.verifier && !options.verifier_engine) throw std::invalid_argument("verifier: the PRM needs its engine");
  const nlohmann::json verifier = options.verifier           ? verifier_record(*options.verifier)
                                  : options.command_verifier ? verifier_record(*options.command_verifier)
                                  : options.self_evaluator   ? verifier_record(*options.self_evaluator)
                                                             : nlohmann::json();
  nlohmann::json settings =
      eval::run_settings(so, options.seed, data, eval::model_identity(engine.model().path()), verifier);
  // Same samples either way, but decoding in other batches may round differently.
  settings["reuse_prefixes"] = options.reuse_prefixes;
  settings["large_model"] = options.large_engine
                                ? eval::identity_json(eval::model_identity(options.large_engine->model().path()))
                                : nlohmann::json();
  // Recorded only when used, so that runs from before thinking control still resume.
  if (options.thinking != ThinkingMode::automatic) settings["thinking"] = thinking_mode_name(options.thinking);
  if (batch) {
    const BatchBudgetOptions& b = options.batch;
    settings["batch"] = {{"tokens_per_question", b.tokens_per_question},
                         {"max_samples", b.max_samples},
                         {"first_wave", b.first_wave},
                         {"wave", b.wave},
                         {"round_share", b.round_share},
                         {"weight_power", so.controller.weight_power}};
  }
  if (options.remote) {
    // Recorded only when used, as thinking is; each server's own engine draws the samples.
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& e : options.remote->options().endpoints) {
      backends.push_back({{"url", e.url}, {"api", remote_api_name(e.api)}, {"model", e.model}});
    }
    settings["backend"] = backends;
  }
  eval::check_or_write_settings(dir, settings);
  const fs::path traces_path = dir / "traces.jsonl";
  auto [done, warnings] = eval::load_traces(traces_path);

  EvalReport report;
  report.warnings = std::move(warnings);
  const Model& largest = options.large_engine && options.large_engine->model().n_params() > engine.model().n_params()
                             ? options.large_engine->model()
                             : engine.model();
  report.equivalent_model = fs::path(largest.path()).filename().string();
  report.equivalent_parameters = largest.n_params();
  std::vector<Job> jobs;
  std::vector<const EvalItem*> job_items;
  for (const auto& item : items) {
    for (const auto& s : strategies) {
      const auto it = done.find({item.id, s->name()});
      if (it == done.end()) {
        // The strategies outlive the runtime: it only borrows them.
        jobs.push_back({std::shared_ptr<const Strategy>(s.get(), [](const Strategy*) {}), item.question, {}, {}});
        job_items.push_back(&item);
      } else if (it->second.item_hash != item_hash(item)) {
        // run.json's data hash guards files; this guards data sets built in memory.
        throw std::runtime_error(traces_path.string() + ": item \"" + item.id +
                                 "\" was run with another question or reference; use another --out");
      } else {
        ++report.resumed;
      }
    }
  }

  eval::AppendFile traces(traces_path);
  Runtime runtime(engine, {.max_in_flight = options.max_in_flight,
                           .record_tokens = options.trace_tokens,
                           .reuse_prefixes = options.reuse_prefixes,
                           .thinking = options.thinking,
                           .remote = options.remote});
  if (options.verifier) runtime.set_verifier(*options.verifier_engine, *options.verifier);
  if (options.command_verifier) runtime.set_verifier(*options.command_verifier);
  if (options.self_evaluator) runtime.set_verifier(*options.self_evaluator);
  if (options.large_engine) runtime.set_large_model(*options.large_engine);
  for (Engine* replica : options.generator_replicas) runtime.add_generator_replica(*replica);
  const size_t total = jobs.size();
  for (size_t i = 0; i < jobs.size(); ++i) {
    // A row that cannot be written throws out of the run: nothing after it is computed.
    jobs[i].on_result = [&, i](const StrategyResult& r) {
      TraceRow row = make_trace_row(*job_items[i], r);
      traces.append_line(dump_json(row));
      if (r.error.empty()) done[{row.id, r.strategy}] = std::move(row);
      ++report.ran;
      if (options.on_progress) options.on_progress(size_t(report.ran), total);
    };
  }
  runtime.run(std::move(jobs));

  // The batch, over the items without its row (a resumed run's missing ones form a
  // batch of their own); its rows are written when the whole batch has ended.
  if (batch) {
    std::vector<const EvalItem*> batch_items;
    for (const auto& item : items) {
      const auto it = done.find({item.id, batch_name});
      if (it == done.end()) {
        batch_items.push_back(&item);
      } else if (it->second.item_hash != item_hash(item)) {
        throw std::runtime_error(traces_path.string() + ": item \"" + item.id +
                                 "\" was run with another question or reference; use another --out");
      } else {
        ++report.resumed;
      }
    }
    if (!batch_items.empty()) {
      std::vector<std::string> texts;
      for (const EvalItem* item : batch_items) texts.push_back(item->question);
      const int64_t reference = report.equivalent_parameters;
      std::vector<StrategyResult> results =
          eval::run_batch(runtime, texts, batch_name, so, options.batch,
                          [reference](const StrategyResult& r) { return equivalent_tokens(r, reference); });
      const size_t total_runs = total + batch_items.size();
      for (size_t i = 0; i < results.size(); ++i) {
        const bool ok = results[i].error.empty();
        TraceRow row = make_trace_row(*batch_items[i], std::move(results[i]));
        traces.append_line(dump_json(row));
        if (ok) done[{row.id, batch_name}] = std::move(row);
        ++report.ran;
        if (options.on_progress) options.on_progress(size_t(report.ran), total_runs);
      }
    }
  }
  traces.close();

  // Every strategy's summary over `members`; a failed run leaves no row and counts as an error.
  auto summarize_all = [&](const std::vector<const EvalItem*>& members) {
    std::vector<StrategySummary> out;
    for (const auto& name : names) {
      std::vector<const TraceRow*> rows;
      for (const EvalItem* item : members) {
        auto it = done.find({item->id, name});
        if (it != done.end()) rows.push_back(&it->second);
      }
      out.push_back(summarize(name, rows, options.seed, report.equivalent_parameters));
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
  for (const auto& s : report.strategies) {
    report.failed += s.errors;
    if (s.no_answer_share > 0.5) {
      char line[256];
      std::snprintf(line, sizeof(line), "%s: %.0f%% of samples gave no answer under the answer rule %s%s",
                    s.name.c_str(), 100 * s.no_answer_share, answer_rule_name(answers.rule),
                    answers.rule == AnswerRule::automatic ? " (every rule tried; samples cut short by --max-tokens?)"
                                                          : "; try --answer auto");
      report.warnings.push_back(line);
    }
  }
  eval::write_reports(dir, report);
  return report;
}

TraceRow make_trace_row(const EvalItem& item, StrategyResult result) {
  TraceRow row;
  row.id = item.id;
  row.item_hash = item_hash(item);
  row.reference = item.reference.text;
  row.correct = result.answer && result.answer->key == item.reference.key;
  for (const auto& s : result.samples) {
    row.samples_correct.push_back(s.answer && s.answer->key == item.reference.key);
  }
  row.result = std::move(result);
  return row;
}

}  // namespace ponder
