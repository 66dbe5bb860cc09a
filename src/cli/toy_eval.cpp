// `ponder toy-eval`: measures the toy world's quality targets through ponder's engine:
// greedy accuracy, majority vote and coverage of N samples for each toy reasoner, and
// the toy PRM's step-level AUC and PRM-weighted vote over the large reasoner's samples.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include "cli/commands.h"
#include "ponder/engine.h"
#include "ponder/generate.h"
#include "toy/dataset.h"
#include "toy/metrics.h"
#include "toy/models.h"
#include "toy/prm.h"

namespace ponder::cli {

namespace {

struct ToyEvalArgs {
  std::string data;       // default: toy_data_dir()/test.jsonl
  std::string small;      // default: toy::small_reasoner_path()
  std::string large;      // default: toy::default_reasoner_path()
  std::string prm;        // default: toy::prm_path()
  int samples = 16;       // samples per question for vote@N / coverage@N / PRM
  float temperature = 0.8f;
  uint64_t seed = 1;      // sample i of a question uses seed + i
  int limit = 0;          // first `limit` questions only; 0 = all
  int max_tokens = 240;   // per solution
  int threads = 0;
  bool skip_small = false;
  bool skip_prm = false;
  bool json = false;
  std::string markdown;   // also write the results as a markdown table here
  std::string scores;     // also write each sample's PRM step scores and labels here (JSONL)
  std::string write_samples;  // also write the large reasoner's samples here (toy-task JSONL)
  double surprise_weight = toy::kPrmSurpriseWeight;  // of the PRM's step score
};

struct Question {
  toy::Example example;
  toy::Problem problem;
  int64_t answer = 0;
};

struct Sampled {
  std::string text;
  std::optional<int64_t> answer;
};

struct QuestionRun {
  bool greedy_correct = false;
  std::vector<Sampled> samples;
};

struct ReasonerReport {
  std::string name;
  int64_t parameters = 0;
  std::vector<QuestionRun> runs;
  std::array<int64_t, 4> first_mistakes{};  // samples by toy::FirstMistake of their text
  Cost cost;
  double seconds = 0.0;
};

double elapsed_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every 25 questions on a terminal (one line, rewritten); only the last elsewhere.
void show_progress(const std::string& path, size_t done, size_t total, std::chrono::steady_clock::time_point t0) {
  static const bool terminal = isatty(STDERR_FILENO);
  if (done != total && (!terminal || done % 25 != 0)) return;
  std::fprintf(stderr, "%stoy-eval: %s %zu/%zu questions, %.0f s%s", terminal ? "\r" : "", path.c_str(), done, total,
               elapsed_since(t0), done == total ? "\n" : "");
}

std::vector<Question> load_questions(const ToyEvalArgs& a) {
  std::vector<Question> qs;
  for (auto& e : toy::read_jsonl(a.data)) {
    auto problem = toy::parse_question(e.question);
    if (!problem) throw UsageError(a.data + ": " + e.id + ": not a toy-task question: " + e.question);
    const int64_t answer = std::stoll(e.answer);
    qs.push_back({std::move(e), std::move(*problem), answer});
    if (a.limit > 0 && int(qs.size()) == a.limit) break;
  }
  if (qs.empty()) throw UsageError(a.data + ": no questions");
  return qs;
}

// An engine over the model's whole training context with `slots` sequence slots.
Engine toy_engine(std::shared_ptr<const Model> model, int slots, int threads) {
  EngineOptions options;
  options.max_sequences = std::min(slots, max_engine_sequences());
  options.context_per_sequence = model->n_ctx_train();
  options.threads = threads;
  return Engine(std::move(model), options);
}

ReasonerReport run_reasoner(const std::string& path, const std::vector<Question>& qs, const ToyEvalArgs& a) {
  auto model = Model::load(path);
  Engine engine = toy_engine(model, a.samples, a.threads);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  SamplingParams sampled;
  sampled.temperature = a.temperature;
  sampled.seed = a.seed;
  StopParams stop;
  stop.max_tokens = a.max_tokens;

  ReasonerReport r;
  r.name = path;
  r.parameters = model->n_params();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < qs.size(); ++i) {
    const auto prompt = model->tokenize(toy::reasoner_prompt(qs[i].example.question), true);
    QuestionRun run;
    SampleSet g = generate_samples(engine, prompt, 1, greedy, stop);
    run.greedy_correct = toy::extract_answer(g.samples[0].text) == qs[i].answer;
    r.cost += g.cost;
    SampleSet s = generate_samples(engine, prompt, a.samples, sampled, stop);
    r.cost += s.cost;
    for (const Sample& x : s.samples) {
      run.samples.push_back({x.text, toy::extract_answer(x.text)});
      ++r.first_mistakes[size_t(toy::first_mistake(qs[i].problem, toy::solution_lines(x.text)))];
    }
    r.runs.push_back(std::move(run));
    show_progress(path, i + 1, qs.size(), t0);
  }
  r.seconds = elapsed_since(t0);
  return r;
}

// What toy-prm gives each solution's text (toy::PrmReading), all solutions of one question
// read together on forks of the shared question prefix; empty for a solution that is
// empty or does not fit the context.
std::vector<toy::PrmReading> prm_readings(Engine& engine, const Model& prm, const std::string& question,
                                          const std::vector<std::vector<std::string>>& solutions) {
  const Token plus = prm.tokenize(std::string(1, toy::kPrmGood), false).at(0);
  const Token minus = prm.tokenize(std::string(1, toy::kPrmBad), false).at(0);
  std::vector<Token> prompt = prm.tokenize(toy::prm_prefix(question), true);
  std::vector<toy::PrmReading> readings(solutions.size());
  std::vector<std::vector<Token>> continuations(solutions.size());
  std::vector<size_t> scored;  // solutions that fit the context
  for (size_t i = 0; i < solutions.size(); ++i) {
    std::string text;
    for (const auto& line : solutions[i]) text += toy::prm_step(line);
    if (text.empty()) continue;
    continuations[i] = prm.tokenize(text + toy::kPrmGood, false);
    if (prompt.size() + continuations[i].size() <= size_t(engine.context_per_sequence())) scored.push_back(i);
  }
  if (scored.empty()) return readings;
  const RequestId request = engine.begin_request();
  const SeqId root = engine.add_sequence(request, prompt);
  const std::vector<SeqId> seqs = engine.fork(root, int(scored.size()));
  engine.free(root);
  for (size_t k = 0; k < scored.size(); ++k) engine.score(seqs[k], continuations[scored[k]], {plus, minus});
  engine.run_until_done(seqs, [&](SeqId id) {
    const size_t k = size_t(std::find(seqs.begin(), seqs.end(), id) - seqs.begin());
    const ScoreResult& res = *engine.sequence(id).score;
    toy::PrmReading& r = readings[scored[k]];
    r.tokens.assign(continuations[scored[k]].begin(), continuations[scored[k]].end());
    r.logprobs = res.logprobs;
    for (const auto& candidates : res.candidate_logprobs) {
      r.good.push_back(candidates[0]);
      r.bad.push_back(candidates[1]);
    }
    engine.free(id);
  });
  engine.end_request(request);
  return readings;
}

// Accuracy of choosing among a question's samples by their PRM scores.
struct PrmSelection {
  double weighted_vote = 0;  // the answer whose samples' scores sum highest
  double best_of_n = 0;      // the answer of the best-scored sample
};

// Step AUCs and selections use toy-prm's score (toy::prm_step_probabilities at
// --surprise-weight); the `verdict` ones its verdict after the tag alone.
struct PrmReport {
  std::optional<double> auc_injected, auc_injected_verdict;  // injected mistakes on the test questions
  // The same steps scored without a PRM: the large reasoner's lowest token logprob in the
  // step and every step before it. The PRM has to beat this to be worth running.
  std::optional<double> auc_injected_surprise;
  int64_t steps_injected = 0;
  std::optional<double> auc_samples, auc_samples_verdict;  // the large reasoner's own sampled steps
  int64_t steps_samples = 0;
  // A solution's score: its weakest step's (Math-Shepherd's min), or its last step's,
  // which the labels make the PRM's estimate that the whole solution is right.
  PrmSelection by_min, by_last, by_min_verdict;
  double seconds = 0.0;
};

// Held-out labelled steps: each question's reference path with injected mistakes.
std::vector<toy::LabelledSolution> injected_examples(const std::vector<Question>& qs, uint64_t seed) {
  toy::Rng rng(toy::derive_seed(seed, 77));
  std::vector<toy::LabelledSolution> out;
  for (const auto& q : qs) out.push_back(toy::make_prm_example(q.problem, rng));
  return out;
}

// Step AUC of the reasoner's own surprise on the injected examples: a step scores the
// lowest logprob of any token of it and of the steps before it.
std::optional<double> surprise_auc(const std::string& path, const std::vector<Question>& qs,
                                   const std::vector<toy::LabelledSolution>& injected, const ToyEvalArgs& a) {
  auto model = Model::load(path);
  Engine engine = toy_engine(model, 1, a.threads);
  std::vector<std::pair<double, bool>> scored;
  for (size_t i = 0; i < qs.size(); ++i) {
    const auto& ex = injected[i];
    const toy::ReasonerOutput output = toy::reasoner_output(ex.lines);
    const std::vector<Token> continuation(output.tokens.begin(), output.tokens.end());
    const auto& line_ends = output.line_ends;
    const std::vector<Token> prompt = model->tokenize(toy::reasoner_prompt(qs[i].example.question), true);
    if (prompt.size() + continuation.size() > size_t(engine.context_per_sequence())) continue;
    const RequestId request = engine.begin_request();
    const SeqId seq = engine.add_sequence(request, prompt);
    engine.score(seq, continuation);
    engine.run_until_done(std::vector<SeqId>{seq});
    const auto& logprobs = engine.sequence(seq).score->logprobs;
    double running = 0.0;
    size_t t = 0;
    for (size_t k = 0; k < ex.lines.size(); ++k) {
      for (; t < line_ends[k]; ++t) running = std::min(running, double(logprobs[t]));
      scored.emplace_back(running, ex.labels[k]);
    }
    engine.free(seq);
    engine.end_request(request);
  }
  return toy::roc_auc(std::move(scored));
}

PrmReport run_prm(const std::string& path, const std::vector<Question>& qs, const ReasonerReport& large,
                  const std::vector<toy::LabelledSolution>& injected_steps, const ToyEvalArgs& a) {
  auto model = Model::load(path);
  Engine engine = toy_engine(model, a.samples + 1, a.threads);  // the shared question prefix and its forks
  PrmReport r;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::pair<double, bool>> injected, injected_verdict, natural, natural_verdict;
  struct Tally {
    int weighted_ok = 0, best_ok = 0;
    void add(const std::vector<std::optional<int64_t>>& answers, const std::vector<double>& scores, int64_t truth) {
      weighted_ok += toy::weighted_vote(answers, scores) == truth;
      best_ok += answers[size_t(std::max_element(scores.begin(), scores.end()) - scores.begin())] == truth;
    }
    PrmSelection of(size_t questions) const {
      return {double(weighted_ok) / double(questions), double(best_ok) / double(questions)};
    }
  } by_min, by_last, by_min_verdict;
  std::ofstream scores_out;
  if (!a.scores.empty()) {
    scores_out.open(a.scores);
    if (!scores_out) throw UsageError("toy-eval: cannot write " + a.scores);
  }
  for (size_t i = 0; i < qs.size(); ++i) {
    const auto& q = qs[i];
    const toy::LabelledSolution& ls = injected_steps[i];
    const toy::PrmReading inj_reading = prm_readings(engine, *model, q.example.question, {ls.lines})[0];
    const auto inj = toy::prm_step_probabilities(inj_reading, a.surprise_weight);
    const auto inj_verdict = toy::prm_step_probabilities(inj_reading, 0.0);
    for (size_t k = 0; k < inj.size(); ++k) {
      injected.emplace_back(inj[k], ls.labels[k]);
      injected_verdict.emplace_back(inj_verdict[k], ls.labels[k]);
    }

    std::vector<std::vector<std::string>> lines;
    for (const auto& s : large.runs[i].samples) lines.push_back(toy::solution_lines(s.text));
    const auto readings = prm_readings(engine, *model, q.example.question, lines);
    std::vector<std::optional<int64_t>> answers;
    std::vector<double> min_scores, last_scores, min_verdicts;
    std::vector<std::vector<double>> scores;
    std::vector<std::vector<bool>> labels;
    auto weakest = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); };
    for (size_t j = 0; j < lines.size(); ++j) {
      scores.push_back(toy::prm_step_probabilities(readings[j], a.surprise_weight));
      const auto verdicts = toy::prm_step_probabilities(readings[j], 0.0);
      labels.push_back(toy::label_steps(q.problem, lines[j]));
      for (size_t k = 0; k < scores[j].size(); ++k) {
        natural.emplace_back(scores[j][k], labels[j][k]);
        natural_verdict.emplace_back(verdicts[k], labels[j][k]);
      }
      answers.push_back(large.runs[i].samples[j].answer);
      min_scores.push_back(weakest(scores[j]));
      last_scores.push_back(scores[j].empty() ? 0.0 : scores[j].back());
      min_verdicts.push_back(weakest(verdicts));
    }
    by_min.add(answers, min_scores, q.answer);
    by_last.add(answers, last_scores, q.answer);
    by_min_verdict.add(answers, min_verdicts, q.answer);
    if (scores_out.is_open()) {
      nlohmann::json samples = nlohmann::json::array();
      for (size_t j = 0; j < lines.size(); ++j) {
        const auto& answer = answers[j];
        samples.push_back({{"text", large.runs[i].samples[j].text},
                           {"answer", answer ? nlohmann::json(*answer) : nlohmann::json()},
                           {"step_scores", scores[j]},
                           {"step_labels", labels[j]}});
      }
      const nlohmann::json held_out = {{"lines", ls.lines}, {"step_scores", inj}, {"step_labels", ls.labels}};
      scores_out << nlohmann::json{{"id", q.example.id}, {"answer", q.answer}, {"injected", held_out}, {"samples", samples}}
                        .dump()
                 << "\n";
    }
    show_progress(path, i + 1, qs.size(), t0);
  }
  r.steps_injected = int64_t(injected.size());
  r.steps_samples = int64_t(natural.size());
  r.auc_injected = toy::roc_auc(std::move(injected));
  r.auc_injected_verdict = toy::roc_auc(std::move(injected_verdict));
  r.auc_samples = toy::roc_auc(std::move(natural));
  r.auc_samples_verdict = toy::roc_auc(std::move(natural_verdict));
  r.by_min = by_min.of(qs.size());
  r.by_last = by_last.of(qs.size());
  r.by_min_verdict = by_min_verdict.of(qs.size());
  r.seconds = elapsed_since(t0);
  return r;
}

struct Accuracy {
  double greedy = 0, vote = 0, coverage = 0;
};

Accuracy accuracy(const ReasonerReport& r, const std::vector<Question>& qs, int min_steps = 0, int max_steps = 99) {
  int n = 0, greedy = 0, vote = 0, coverage = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    const int steps = qs[i].problem.difficulty.steps;
    if (steps < min_steps || steps > max_steps) continue;
    ++n;
    const auto& run = r.runs[i];
    greedy += run.greedy_correct;
    std::vector<std::optional<int64_t>> answers;
    bool any = false;
    for (const auto& s : run.samples) {
      answers.push_back(s.answer);
      any = any || s.answer == qs[i].answer;
    }
    vote += toy::majority_vote(answers) == qs[i].answer;
    coverage += any;
  }
  if (n == 0) return {};
  return {double(greedy) / n, double(vote) / n, double(coverage) / n};
}

// One toy-task example per sample: its question's id with "/<sample>" appended, the sample
// as "solution" (right or wrong) and the true answer. `ponder-train prm --reasoner-samples`
// trains on such files.
void write_samples(const std::string& path, const ReasonerReport& r, const std::vector<Question>& qs) {
  std::vector<toy::Example> out;
  for (size_t i = 0; i < qs.size(); ++i) {
    for (size_t j = 0; j < r.runs[i].samples.size(); ++j) {
      toy::Example e = qs[i].example;
      e.id.append(1, '/').append(std::to_string(j));
      e.solution = r.runs[i].samples[j].text;
      out.push_back(std::move(e));
    }
  }
  toy::write_jsonl(path, out);
}

nlohmann::ordered_json reasoner_json(const ReasonerReport& r, const std::vector<Question>& qs) {
  const Accuracy all = accuracy(r, qs);
  const auto& mistakes = r.first_mistakes;
  nlohmann::ordered_json by_steps = nlohmann::ordered_json::object();
  for (int s = 1; s <= 5; ++s) {
    const Accuracy acc = accuracy(r, qs, s, s);
    by_steps[std::to_string(s)] = {{"greedy", acc.greedy}, {"vote", acc.vote}, {"coverage", acc.coverage}};
  }
  return {{"model", r.name},
          {"parameters", r.parameters},
          {"greedy", all.greedy},
          {"vote", all.vote},
          {"coverage", all.coverage},
          {"by_steps", by_steps},
          {"first_mistakes", {{"arithmetic", mistakes[size_t(toy::FirstMistake::arithmetic)]},
                              {"plan", mistakes[size_t(toy::FirstMistake::plan)]},
                              {"other", mistakes[size_t(toy::FirstMistake::other)]}}},
          {"generated_tokens", r.cost.generated_tokens},
          {"seconds", r.seconds}};
}

void run_toy_eval(ToyEvalArgs a) {
  if (a.data.empty()) a.data = toy::toy_data_dir() + "/test.jsonl";
  if (a.small.empty()) a.small = toy::small_reasoner_path();
  if (a.large.empty()) a.large = toy::default_reasoner_path();
  if (a.prm.empty()) a.prm = toy::prm_path();
  if (a.samples < 1 || a.samples > 256) throw UsageError("-n/--samples: must be in [1, 256]");
  if (!(a.temperature > 0.0f)) throw UsageError("--temp: must be > 0 (greedy is measured separately)");
  const auto qs = load_questions(a);
  if (!a.write_samples.empty() && !std::ofstream(a.write_samples)) {  // before minutes of sampling
    throw UsageError("--write-samples: cannot write " + a.write_samples);
  }

  nlohmann::ordered_json out = {{"data", a.data}, {"questions", qs.size()}, {"samples", a.samples},
                                {"temperature", a.temperature}, {"seed", a.seed}};
  std::vector<std::pair<std::string, ReasonerReport>> reasoners;
  if (!a.skip_small) reasoners.emplace_back("toy-reasoner-s", run_reasoner(a.small, qs, a));
  reasoners.emplace_back("toy-reasoner-l", run_reasoner(a.large, qs, a));
  for (const auto& [name, r] : reasoners) out[name] = reasoner_json(r, qs);
  if (!a.write_samples.empty()) write_samples(a.write_samples, reasoners.back().second, qs);
  std::optional<PrmReport> prm;
  if (!a.skip_prm) {
    const auto injected = injected_examples(qs, a.seed);
    prm = run_prm(a.prm, qs, reasoners.back().second, injected, a);
    prm->auc_injected_surprise = surprise_auc(a.large, qs, injected, a);
    out["toy-prm"] = {{"model", a.prm},
                      {"surprise_weight", a.surprise_weight},
                      {"step_auc_injected", prm->auc_injected.value_or(NAN)},
                      {"step_auc_injected_verdict", prm->auc_injected_verdict.value_or(NAN)},
                      {"step_auc_injected_reasoner_surprise", prm->auc_injected_surprise.value_or(NAN)},
                      {"steps_injected", prm->steps_injected},
                      {"step_auc_samples", prm->auc_samples.value_or(NAN)},
                      {"step_auc_samples_verdict", prm->auc_samples_verdict.value_or(NAN)},
                      {"steps_samples", prm->steps_samples},
                      {"min_step", {{"prm_weighted_vote", prm->by_min.weighted_vote},
                                    {"prm_best_of_n", prm->by_min.best_of_n}}},
                      {"last_step", {{"prm_weighted_vote", prm->by_last.weighted_vote},
                                     {"prm_best_of_n", prm->by_last.best_of_n}}},
                      {"min_step_verdict", {{"prm_weighted_vote", prm->by_min_verdict.weighted_vote},
                                            {"prm_best_of_n", prm->by_min_verdict.best_of_n}}},
                      {"seconds", prm->seconds}};
  }

  std::string md = "| model | greedy | vote@" + std::to_string(a.samples) + " | coverage@" +
                   std::to_string(a.samples) + " |\n|---|---|---|---|\n";
  char line[512];
  for (const auto& [name, r] : reasoners) {
    const Accuracy acc = accuracy(r, qs);
    std::snprintf(line, sizeof(line), "| %s | %.1f%% | %.1f%% | %.1f%% |\n", name.c_str(), 100 * acc.greedy,
                  100 * acc.vote, 100 * acc.coverage);
    md += line;
  }
  md += "\nBy number of steps (toy-reasoner-l: greedy / vote / coverage):\n\n| steps | greedy | vote | coverage |\n|---|---|---|---|\n";
  for (int s = 1; s <= 5; ++s) {
    const Accuracy acc = accuracy(reasoners.back().second, qs, s, s);
    std::snprintf(line, sizeof(line), "| %d | %.1f%% | %.1f%% | %.1f%% |\n", s, 100 * acc.greedy, 100 * acc.vote,
                  100 * acc.coverage);
    md += line;
  }
  const auto& mistakes = reasoners.back().second.first_mistakes;
  const double wrong = double(std::accumulate(mistakes.begin(), mistakes.end(), int64_t{0}) -
                              mistakes[size_t(toy::FirstMistake::none)]);
  if (wrong > 0) {
    std::snprintf(line, sizeof(line),
                  "\ntoy-reasoner-l's %.0f samples with a wrong step, by their first: a wrong plan (every "
                  "equation holds) %.1f%%, an arithmetic slip %.1f%%, other %.1f%%.\n",
                  wrong, 100 * mistakes[size_t(toy::FirstMistake::plan)] / wrong,
                  100 * mistakes[size_t(toy::FirstMistake::arithmetic)] / wrong,
                  100 * mistakes[size_t(toy::FirstMistake::other)] / wrong);
    md += line;
  }
  if (prm) {
    std::snprintf(line, sizeof(line),
                  "\ntoy-prm's step score (its verdict + %.1f x its surprise) on toy-reasoner-l's %d samples per "
                  "question: step AUC %.3f on %lld injected-mistake steps (the verdict alone: %.3f; "
                  "toy-reasoner-l's own token surprise: %.3f), %.3f on %lld sampled steps (the verdict alone: "
                  "%.3f).\n\n| solution score | PRM-weighted vote@%d | PRM best-of-%d |\n|---|---|---|\n",
                  a.surprise_weight, a.samples, prm->auc_injected.value_or(NAN), (long long)prm->steps_injected,
                  prm->auc_injected_verdict.value_or(NAN), prm->auc_injected_surprise.value_or(NAN),
                  prm->auc_samples.value_or(NAN), (long long)prm->steps_samples,
                  prm->auc_samples_verdict.value_or(NAN), a.samples, a.samples);
    md += line;
    for (const auto& [what, sel] : {std::pair{"weakest step's score", prm->by_min}, {"last step's score", prm->by_last},
                                    {"weakest step's verdict alone", prm->by_min_verdict}}) {
      std::snprintf(line, sizeof(line), "| %s | %.1f%% | %.1f%% |\n", what, 100 * sel.weighted_vote,
                    100 * sel.best_of_n);
      md += line;
    }
  }
  if (!a.markdown.empty()) {
    std::ofstream f(a.markdown);
    f << md;
    if (!f) throw std::runtime_error("toy-eval: cannot write " + a.markdown);
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%zu questions from %s; %d samples at temperature %.2f, seed %llu\n\n%s", qs.size(), a.data.c_str(),
                a.samples, a.temperature, (unsigned long long)a.seed, md.c_str());
  }
}

}  // namespace

void add_toy_eval_command(CLI::App& app) {
  auto a = std::make_shared<ToyEvalArgs>();
  auto* cmd = app.add_subcommand("toy-eval", "Measure the toy models: greedy, vote@N, coverage@N, PRM AUC and PRM vote");
  cmd->add_option("--data", a->data, "Toy-task JSONL (default: the committed test split)");
  cmd->add_option("--small", a->small, "Small reasoner GGUF (default: models/toy-reasoner-s.gguf)");
  cmd->add_option("--large", a->large, "Large reasoner GGUF (default: models/toy-reasoner-l.gguf)");
  cmd->add_option("--prm", a->prm, "PRM GGUF (default: models/toy-prm.gguf)");
  cmd->add_option("-n,--samples", a->samples, "Samples per question (1-256)");
  cmd->add_option("--temp", a->temperature, "Sampling temperature of the N samples");
  cmd->add_option("--seed", a->seed, "Seed; sample i of a question uses seed + i");
  cmd->add_option("--limit", a->limit, "Evaluate the first N questions only (0 = all)");
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens per solution at most");
  cmd->add_option("-t,--threads", a->threads, "Threads (0 = all)");
  cmd->add_flag("--skip-small", a->skip_small, "Do not evaluate the small reasoner");
  cmd->add_flag("--skip-prm", a->skip_prm, "Do not evaluate the PRM");
  cmd->add_flag("--json", a->json, "Print the results as JSON");
  cmd->add_option("--markdown", a->markdown, "Also write the results as markdown to this file");
  cmd->add_option("--scores", a->scores, "Also write each sample's PRM step scores and step labels here (JSONL)");
  cmd->add_option("--surprise-weight", a->surprise_weight,
                  "Weight of the PRM's surprise in its step score (0: its verdict alone)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--write-samples", a->write_samples,
                  "Also write the large reasoner's samples here as toy-task JSONL (\"solution\": the sample)");
  cmd->callback([a] { run_toy_eval(*a); });
}

}  // namespace ponder::cli
