// `ponder toy-steps`: how well a verifier judges the toy task's steps. Accuracy of the
// reasoners and of verifier-weighted votes is `ponder eval` on the toy splits; this
// command adds what only the toy world can label:
// - step AUC on each question's reference solution with an injected mistake (toy-prm's
//   score, its verdict alone, and the reasoner's own token surprise as the baseline);
// - with --traces (an eval run's traces.jsonl), step AUC on the reasoner's own samples
//   and how they first go wrong; --write-samples writes those samples as toy-task JSONL
//   (training data for toy-prm).

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "ponder/result_json.h"
#include "ponder/runtime.h"
#include "toy/dataset.h"
#include "toy/metrics.h"
#include "toy/models.h"
#include "toy/prm.h"

namespace ponder::cli {

namespace {

struct ToyStepsArgs {
  std::string data;      // default: toy_data_dir()/test.jsonl
  std::string prm;       // default: toy::prm_path()
  std::string reasoner;  // default: toy::default_reasoner_path()
  std::string traces;    // an eval run's traces.jsonl
  std::string strategy = "vote@16";  // whose samples to read from the traces
  std::string write_samples;
  std::optional<double> surprise_weight;  // default: the verifier's settings file
  uint64_t seed = 1;
  int limit = 0;
  int threads = 0;
  bool skip_prm = false;
  bool json = false;
};

struct Question {
  toy::Example example;
  toy::Problem problem;
};

// Runs one strategy object per question (each holds that question's texts) and collects
// the events it emits.
std::vector<std::vector<Event>> run_per_question(Runtime& runtime, const std::vector<Question>& qs,
                                                 const std::function<std::shared_ptr<const Strategy>(size_t)>& make) {
  std::vector<std::vector<Event>> events(qs.size());
  std::vector<Job> jobs;
  for (size_t i = 0; i < qs.size(); ++i) {
    jobs.push_back({make(i), qs[i].example.question, [&events, i](const Event& e) { events[i].push_back(e); }, {}});
  }
  for (const StrategyResult& r : runtime.run(std::move(jobs))) {
    if (!r.error.empty()) throw std::runtime_error("toy-steps: " + r.error);
  }
  return events;
}

// Scores given solutions with the verifier; the step scores arrive as `scored` events.
class ScoreSolutions : public StrategyBase {
 public:
  explicit ScoreSolutions(std::vector<std::string> solutions)
      : StrategyBase("score-solutions", 0, {}), solutions_(std::move(solutions)) {}
  uint32_t needs() const override { return kVerify; }
  Task<StrategyResult> run(QuestionRun& q) const override {
    co_await q.verify(solutions_);
    co_return StrategyResult{};
  }

 private:
  std::vector<std::string> solutions_;
};

// The generator's logprobs of a given continuation of the question, as one `scored` event.
class ScoreContinuation : public StrategyBase {
 public:
  explicit ScoreContinuation(std::vector<Token> tokens)
      : StrategyBase("score-continuation", 0, {}), tokens_(std::move(tokens)) {}
  uint32_t needs() const override { return kScore; }
  Task<StrategyResult> run(QuestionRun& q) const override {
    const SampleId s = q.start();
    q.score(s, tokens_);
    co_await q.all(std::vector<SampleId>(1, s));
    const auto& logprobs = q.score_result(s).logprobs;
    q.emit({.kind = EventKind::scored, .sample = s, .scores = {logprobs.begin(), logprobs.end()}});
    q.prune(s);
    co_return StrategyResult{};
  }

 private:
  std::vector<Token> tokens_;
};

// Step scores per solution of each question, by the verifier with `surprise_weight`.
std::vector<std::vector<std::vector<double>>> verifier_step_scores(
    std::shared_ptr<const Model> prm_model, PrmSettings settings, const std::vector<Question>& qs,
    const std::vector<std::vector<std::string>>& solutions, int threads) {
  Engine generator(prm_model, {.max_sequences = 2, .context_per_sequence = 128, .threads = threads});
  Engine verifier(prm_model, {.max_sequences = 32, .context_per_sequence = prm_model->n_ctx_train(), .threads = threads});
  Runtime runtime(generator, {.max_in_flight = 1});
  runtime.set_verifier(verifier, ProcessRewardModel(prm_model, std::move(settings)));
  const auto events = run_per_question(runtime, qs, [&](size_t i) {
    return std::make_shared<ScoreSolutions>(solutions[i]);
  });
  std::vector<std::vector<std::vector<double>>> out(qs.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    out[i].resize(solutions[i].size());
    for (const Event& e : events[i]) {
      if (e.kind == EventKind::scored) out[i][size_t(e.position)] = e.scores;
    }
  }
  return out;
}

std::optional<double> auc_of(const std::vector<std::vector<std::vector<double>>>& scores,
                             const std::vector<std::vector<std::vector<bool>>>& labels, int64_t& steps) {
  std::vector<std::pair<double, bool>> scored;
  for (size_t i = 0; i < scores.size(); ++i) {
    for (size_t j = 0; j < scores[i].size(); ++j) {
      // A solution the verifier could not read (empty, too long) has no scores.
      for (size_t k = 0; k < scores[i][j].size() && k < labels[i][j].size(); ++k) {
        scored.emplace_back(scores[i][j][k], labels[i][j][k]);
      }
    }
  }
  steps = int64_t(scored.size());
  return toy::roc_auc(std::move(scored));
}

// The reasoner's own surprise at each injected solution: a step scores the lowest logprob
// of any token of it or of the steps before it.
std::optional<double> reasoner_surprise_auc(const std::string& path, const std::vector<Question>& qs,
                                            const std::vector<toy::LabelledSolution>& injected, int threads) {
  auto model = Model::load(path);
  Engine engine(model, {.max_sequences = 16, .context_per_sequence = model->n_ctx_train(), .threads = threads});
  std::vector<toy::ReasonerOutput> outputs;
  for (const auto& ex : injected) outputs.push_back(toy::reasoner_output(ex.lines));
  Runtime runtime(engine);
  const auto events = run_per_question(runtime, qs, [&](size_t i) {
    return std::make_shared<ScoreContinuation>(std::vector<Token>(outputs[i].tokens.begin(), outputs[i].tokens.end()));
  });
  std::vector<std::pair<double, bool>> scored;
  for (size_t i = 0; i < qs.size(); ++i) {
    const Event& e = *std::find_if(events[i].begin(), events[i].end(), [](const Event& e) { return e.kind == EventKind::scored; });
    double running = 0.0;
    size_t t = 0;
    for (size_t k = 0; k < injected[i].lines.size(); ++k) {
      for (; t < outputs[i].line_ends[k]; ++t) running = std::min(running, e.scores[t]);
      scored.emplace_back(running, injected[i].labels[k]);
    }
  }
  return toy::roc_auc(std::move(scored));
}

// The samples `strategy` drew for each question in an eval run's traces.
std::vector<std::vector<std::string>> samples_from_traces(const std::string& path, const std::string& strategy,
                                                          const std::vector<Question>& qs) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < qs.size(); ++i) index[qs[i].example.id] = i;
  std::vector<std::vector<std::string>> out(qs.size());
  std::vector<bool> seen(qs.size());
  std::ifstream in(path);
  if (!in) throw UsageError("--traces: cannot read " + path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    // The eval's own reader of trace rows: every field checked, the bad one named.
    TraceRow row;
    try {
      row = nlohmann::json::parse(line).get<TraceRow>();
    } catch (const std::exception& e) {
      throw UsageError(path + ":" + std::to_string(n) + ": not a trace row: " + e.what());
    }
    if (row.result.strategy != strategy || !row.result.error.empty()) continue;
    auto it = index.find(row.id);
    if (it == index.end()) continue;
    seen[it->second] = true;
    for (const auto& sample : row.result.samples) out[it->second].push_back(sample.text);
  }
  for (size_t i = 0; i < qs.size(); ++i) {
    if (!seen[i]) throw UsageError(path + ": no " + strategy + " row for " + qs[i].example.id);
  }
  return out;
}

void run_toy_steps(ToyStepsArgs a) {
  if (a.data.empty()) a.data = toy::toy_data_dir() + "/test.jsonl";
  if (a.prm.empty()) a.prm = toy::prm_path();
  if (a.reasoner.empty()) a.reasoner = toy::default_reasoner_path();
  if (a.limit < 0) throw UsageError("--limit: must be >= 0 (0 = all)");
  if (!a.write_samples.empty() && a.traces.empty()) throw UsageError("--write-samples needs --traces");
  std::vector<Question> qs;
  for (auto& e : toy::read_jsonl(a.data)) {
    auto problem = toy::parse_question(e.question);
    if (!problem) throw UsageError(a.data + ": " + e.id + ": not a toy-task question");
    qs.push_back({std::move(e), std::move(*problem)});
    if (a.limit > 0 && int(qs.size()) == a.limit) break;
  }
  if (qs.empty()) throw UsageError(a.data + ": no questions");

  nlohmann::ordered_json out = {{"data", std::filesystem::path(a.data).filename().string()},
                                {"questions", qs.size()}, {"seed", a.seed}};
  std::vector<std::vector<std::string>> sampled;
  if (!a.traces.empty()) {
    sampled = samples_from_traces(a.traces, a.strategy, qs);
    std::array<int64_t, 4> mistakes{};
    for (size_t i = 0; i < qs.size(); ++i) {
      for (const auto& text : sampled[i]) ++mistakes[size_t(toy::first_mistake(qs[i].problem, toy::solution_lines(text)))];
    }
    out["samples"] = {{"strategy", a.strategy},
                      {"first_mistakes", {{"none", mistakes[0]}, {"arithmetic", mistakes[1]}, {"plan", mistakes[2]},
                                          {"other", mistakes[3]}}}};
    if (!a.write_samples.empty()) {
      std::vector<toy::Example> rows;
      for (size_t i = 0; i < qs.size(); ++i) {
        for (size_t j = 0; j < sampled[i].size(); ++j) {
          toy::Example e = qs[i].example;
          e.id.append(1, '/').append(std::to_string(j));
          e.solution = sampled[i][j];
          rows.push_back(std::move(e));
        }
      }
      toy::write_jsonl(a.write_samples, rows);
    }
  }

  if (a.skip_prm) {
    if (a.json) std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  auto prm_model = Model::load(a.prm);
  PrmSettings settings = ProcessRewardModel::load(prm_model).settings();
  if (a.surprise_weight) settings.surprise_weight = *a.surprise_weight;
  PrmSettings verdict_only = settings;
  verdict_only.surprise_weight = 0.0;

  // Injected mistakes: the same held-out solutions for every PRM and seed.
  toy::Rng rng(toy::derive_seed(a.seed, 77));
  std::vector<toy::LabelledSolution> injected;
  std::vector<std::vector<std::string>> injected_texts(qs.size());
  std::vector<std::vector<std::vector<bool>>> injected_labels(qs.size());
  for (size_t i = 0; i < qs.size(); ++i) {
    injected.push_back(toy::make_prm_example(qs[i].problem, rng));
    std::string text;
    for (const auto& line : injected.back().lines) text += line + "\n";
    injected_texts[i] = {text};
    injected_labels[i] = {injected.back().labels};
  }
  int64_t steps = 0;
  out["injected"] = {
      {"step_auc", auc_of(verifier_step_scores(prm_model, settings, qs, injected_texts, a.threads), injected_labels, steps)
                       .value_or(NAN)},
      {"step_auc_verdict",
       auc_of(verifier_step_scores(prm_model, verdict_only, qs, injected_texts, a.threads), injected_labels, steps)
           .value_or(NAN)},
      {"step_auc_reasoner_surprise", reasoner_surprise_auc(a.reasoner, qs, injected, a.threads).value_or(NAN)},
      {"steps", steps}};
  if (!sampled.empty()) {
    std::vector<std::vector<std::vector<bool>>> labels(qs.size());
    for (size_t i = 0; i < qs.size(); ++i) {
      for (const auto& text : sampled[i]) labels[i].push_back(toy::label_steps(qs[i].problem, toy::solution_lines(text)));
    }
    out["samples"]["step_auc"] =
        auc_of(verifier_step_scores(prm_model, settings, qs, sampled, a.threads), labels, steps).value_or(NAN);
    out["samples"]["step_auc_verdict"] =
        auc_of(verifier_step_scores(prm_model, verdict_only, qs, sampled, a.threads), labels, steps).value_or(NAN);
    out["samples"]["steps"] = steps;
  }
  out["surprise_weight"] = settings.surprise_weight;
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  const auto& inj = out["injected"];
  std::printf("%zu questions of %s; toy-prm's step score (verdict + %.2f x surprise)\n", qs.size(), a.data.c_str(),
              settings.surprise_weight);
  std::printf("injected mistakes (%lld steps): step AUC %.3f, verdict alone %.3f, the reasoner's own surprise %.3f\n",
              (long long)inj["steps"].get<int64_t>(), inj["step_auc"].get<double>(), inj["step_auc_verdict"].get<double>(),
              inj["step_auc_reasoner_surprise"].get<double>());
  if (!sampled.empty()) {
    const auto& s = out["samples"];
    const auto& m = s["first_mistakes"];
    std::printf("%s samples (%lld steps): step AUC %.3f, verdict alone %.3f; first mistakes: plan %lld, arithmetic "
                "%lld, other %lld, none %lld\n",
                a.strategy.c_str(), (long long)s["steps"].get<int64_t>(), s["step_auc"].get<double>(),
                s["step_auc_verdict"].get<double>(), (long long)m["plan"].get<int64_t>(),
                (long long)m["arithmetic"].get<int64_t>(), (long long)m["other"].get<int64_t>(),
                (long long)m["none"].get<int64_t>());
  }
}

}  // namespace

void add_toy_steps_command(CLI::App& app) {
  auto a = std::make_shared<ToyStepsArgs>();
  auto* cmd = app.add_subcommand("toy-steps", "Step-level AUC of the toy PRM (injected mistakes, a run's samples)");
  cmd->add_option("--data", a->data, "Toy-task JSONL (default: the committed test split)");
  cmd->add_option("--prm", a->prm, "PRM GGUF (default: models/toy-prm.gguf, settings beside it)");
  cmd->add_option("--reasoner", a->reasoner, "Reasoner for the surprise baseline (default: toy-reasoner-l)");
  cmd->add_option("--traces", a->traces, "An eval run's traces.jsonl: also score its samples' steps");
  cmd->add_option("--strategy", a->strategy, "Whose samples to read from --traces (default vote@16)");
  cmd->add_option("--write-samples", a->write_samples, "Write the --traces samples here as toy-task JSONL");
  cmd->add_option("--surprise-weight", a->surprise_weight, "Weight of the PRM's surprise (default: its settings)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--seed", a->seed, "Seed of the injected mistakes");
  cmd->add_option("--limit", a->limit, "The first N questions only (0 = all)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--skip-prm", a->skip_prm, "Only read --traces (first mistakes, --write-samples); no scoring");
  cmd->add_flag("--json", a->json, "Print JSON");
  cmd->callback([a] { run_toy_steps(*a); });
}

}  // namespace ponder::cli
