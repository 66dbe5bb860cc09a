// `ponder calibrate`: fits a model's difficulty probe on a data set (greedy on every
// question, right or wrong, against the prompt's last hidden state), or with --evaluate
// measures a fitted probe on other data; either way beside a baseline field's AUC.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "eval/content_hash.h"
#include "ponder/eval.h"
#include "ponder/hidden_state.h"
#include "ponder/probe.h"
#include "ponder/runtime.h"

namespace ponder::cli {

namespace {

struct CalibrateArgs {
  std::string model;
  std::string data;
  std::string out;
  std::string evaluate;
  std::string format = "auto";
  std::string baseline = "difficulty.steps";
  int limit = 0;
  bool json = false;
  bool progress = true;
  EngineArgs engine;
  ProbeFitOptions fit;
  GenerationOptions generation;
};

// What a quality reads like in the report and in --json.
nlohmann::json quality_json(const ProbeQuality& q) {
  return {{"examples", q.examples},
          {"auc", std::isnan(q.auc) ? nlohmann::json() : nlohmann::json(q.auc)},
          {"accuracy", q.accuracy},
          {"log_loss", q.log_loss}};
}

// Paired percentile bootstrap (seeded) of AUC(a) - AUC(b) on the same questions: 95% interval.
std::pair<double, double> auc_difference_ci(const std::vector<double>& a, const std::vector<double>& b,
                                            const std::vector<int>& labels, int resamples = 2000) {
  std::mt19937_64 rng(1);
  std::vector<double> differences, ra(a.size()), rb(b.size());
  std::vector<int> rl(labels.size());
  for (int r = 0; r < resamples; ++r) {
    for (size_t i = 0; i < labels.size(); ++i) {
      const size_t k = size_t(rng() % labels.size());
      ra[i] = a[k];
      rb[i] = b[k];
      rl[i] = labels[k];
    }
    const double d = roc_auc(ra, rl) - roc_auc(rb, rl);
    if (!std::isnan(d)) differences.push_back(d);
  }
  if (differences.empty()) return {std::nan(""), std::nan("")};
  std::sort(differences.begin(), differences.end());
  const auto at = [&](double q) { return differences[size_t(q * double(differences.size() - 1))]; };
  return {at(0.025), at(0.975)};
}

std::string auc_text(double auc) {
  if (std::isnan(auc)) return "n/a (one class only)";
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", auc);
  return text;
}

void run_calibrate(CalibrateArgs a) {
  if (a.model.empty()) a.model = default_model_path();
  const bool fitting = a.evaluate.empty();
  if (!fitting && !a.out.empty()) throw UsageError("--out: a probe is written only when fitting (not with --evaluate)");
  if (fitting && a.out.empty()) a.out = default_probe_path(a.model);
  a.fit.validate();

  const Dataset data = load_dataset(a.data, parse_dataset_format(a.format), a.baseline);
  for (const auto& e : data.errors) std::fprintf(stderr, "%s:%d: %s\n", a.data.c_str(), e.line, e.message.c_str());
  if (!data.errors.empty()) std::fprintf(stderr, "%zu bad rows skipped\n", data.errors.size());
  std::vector<EvalItem> items = data.items;
  if (a.limit > 0 && size_t(a.limit) < items.size()) items.resize(size_t(a.limit));
  if (items.empty()) throw UsageError("--data " + a.data + ": no valid items");

  auto model = Model::load(a.model);
  std::optional<DifficultyProbe> probe;
  if (!fitting) {
    probe = DifficultyProbe::load(a.evaluate);
    probe->check_model(*model);
  }

  // Greedy on every question, as `ponder eval` runs it.
  GenerationOptions generation = a.generation;
  if (generation.answers.rule == AnswerRule::automatic && generation.answers.first == AnswerRule::automatic) {
    generation.answers.first = default_answer_rule(data.format);
  }
  StrategyOptions strategy_options;
  strategy_options.generation = generation;
  const std::shared_ptr<const Strategy> greedy = make_strategy("greedy", strategy_options);
  const auto engines =
      make_generator_engines(model, eval_engine_options(*model, a.engine.max_sequences, a.engine.threads), a.engine);
  Runtime runtime(*engines.front());
  for (size_t i = 1; i < engines.size(); ++i) runtime.add_generator_replica(*engines[i]);
  const auto progress = a.progress ? progress_line("calibrate") : std::function<void(size_t, size_t)>();
  std::vector<Job> jobs;
  size_t done = 0;
  for (const auto& item : items) {
    jobs.push_back({greedy, item.question, {}, [&](const StrategyResult&) {
                      if (progress) progress(++done, 2 * items.size());
                    }});
  }
  const std::vector<StrategyResult> results = runtime.run(std::move(jobs));

  // The hidden state of each question's prompt, as the runtime formats it.
  HiddenStateReader reader(model, a.engine.threads > 0 ? a.engine.threads : default_threads(),
                           engines.front()->context_per_sequence());
  std::vector<std::vector<float>> features;
  std::vector<int> labels;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!results[i].error.empty()) {
      throw std::runtime_error("greedy failed on item " + items[i].id + ": " + results[i].error);
    }
    labels.push_back(make_trace_row(items[i], results[i]).correct ? 1 : 0);
    features.push_back(reader.read(format_question(*model, items[i].question)));
    if (progress) progress(++done, 2 * items.size());
  }

  // P(right) per question: held out (cross-validated) when fitting, the probe's when evaluating.
  ProbeQuality quality;
  std::vector<double> scores;
  if (fitting) {
    probe = DifficultyProbe::fit(features, labels, a.fit, &scores);
    probe->info.model = std::filesystem::path(a.model).filename().string();
    probe->info.model_sha256 = eval::cached_file_sha256(a.model);
    probe->info.data = std::filesystem::path(a.data).filename().string();
    probe->info.data_sha256 = data.content_hash;
    const std::filesystem::path parent = std::filesystem::path(a.out).parent_path();
    std::error_code made;
    if (!parent.empty()) std::filesystem::create_directories(parent, made);
    if (made) throw std::runtime_error("cannot create " + parent.string() + ": " + made.message());
    probe->save(a.out);
    quality = probe->info.cross_validated;
  }
  if (!fitting) {
    for (const auto& f : features) scores.push_back(probe->p_correct(f));
    int right = 0;
    double loss = 0.0;
    for (size_t i = 0; i < scores.size(); ++i) {
      right += (scores[i] >= 0.5) == (labels[i] == 1);
      loss -= std::log(std::max(1e-300, labels[i] ? scores[i] : 1.0 - scores[i]));
    }
    quality = {int(scores.size()), double(right) / double(scores.size()), roc_auc(scores, labels),
               loss / double(scores.size())};
  }

  // The baseline: fewer steps (a smaller field value) predicts right; and the probe
  // within each of the field's values, where the baseline cannot tell questions apart.
  std::vector<double> baseline_scores, probe_scores;
  std::vector<int> baseline_labels;
  std::map<double, std::pair<std::vector<double>, std::vector<int>>> by_value;
  for (size_t i = 0; i < items.size(); ++i) {
    char* end = nullptr;
    const double value = std::strtod(items[i].group.c_str(), &end);
    if (items[i].group.empty() || *end != '\0' || !std::isfinite(value)) continue;
    baseline_scores.push_back(-value);
    probe_scores.push_back(scores[i]);
    baseline_labels.push_back(labels[i]);
    by_value[value].first.push_back(scores[i]);
    by_value[value].second.push_back(labels[i]);
  }
  const double baseline_auc = baseline_scores.empty() ? std::nan("") : roc_auc(baseline_scores, baseline_labels);
  const auto difference = baseline_scores.empty() ? std::pair{std::nan(""), std::nan("")}
                                                  : auc_difference_ci(probe_scores, baseline_scores, baseline_labels);
  const auto number = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };

  int right = 0;
  for (int l : labels) right += l;
  const double greedy_accuracy = double(right) / double(labels.size());
  if (a.json) {
    nlohmann::json j = {{"model", a.model},
                        {"data", a.data},
                        {"questions", items.size()},
                        {"greedy_accuracy", greedy_accuracy},
                        {"probe", quality_json(quality)},
                        {"probe_measure", fitting ? "cross_validated" : "held_out"}};
    if (fitting) {
      j["probe_file"] = a.out;
      j["l2"] = probe->info.l2;
      j["training"] = quality_json(probe->info.training);
    }
    if (!a.baseline.empty()) {
      j["baseline"] = {{"field", a.baseline},
                       {"examples", baseline_scores.size()},
                       {"auc", number(baseline_auc)},
                       {"probe_minus_baseline_ci95", {number(difference.first), number(difference.second)}}};
      nlohmann::json within = nlohmann::json::array();
      for (const auto& [value, group] : by_value) {
        const double auc = roc_auc(group.first, group.second);
        within.push_back({{"value", value}, {"examples", group.first.size()},
                          {"auc", std::isnan(auc) ? nlohmann::json() : nlohmann::json(auc)}});
      }
      j["probe_within_baseline"] = within;
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%zu questions; greedy right on %d (%.1f%%)\n", items.size(), right, 100 * greedy_accuracy);
  std::printf("probe %s: AUC %s, accuracy %.1f%%, log loss %.3f\n",
              fitting ? ("cross-validated (" + std::to_string(a.fit.folds) + " folds)").c_str() : "on this data",
              auc_text(quality.auc).c_str(), 100 * quality.accuracy, quality.log_loss);
  if (!a.baseline.empty()) {
    std::printf("baseline fewer %s: AUC %s over %zu questions; probe minus baseline: 95%% interval [%+.3f, %+.3f]\n",
                a.baseline.c_str(), auc_text(baseline_auc).c_str(), baseline_scores.size(), difference.first,
                difference.second);
    for (const auto& [value, group] : by_value) {
      std::printf("  probe%s within %s = %g: AUC %s over %zu questions\n", fitting ? " (cross-validated)" : "",
                  a.baseline.c_str(), value,
                  auc_text(roc_auc(group.first, group.second)).c_str(), group.first.size());
    }
  }
  if (fitting) {
    std::printf("wrote %s (l2 %g, training AUC %s)\n", a.out.c_str(), probe->info.l2,
                auc_text(probe->info.training.auc).c_str());
  }
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  a->generation.sampling.temperature = 0.0f;
  auto* cmd = app.add_subcommand(
      "calibrate", "Fit a difficulty probe: P(greedy answer right) from the question's last hidden state");
  cmd->add_option("--data", a->data, "JSONL data set to fit on (or, with --evaluate, to measure on)")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  cmd->add_option("-o,--out", a->out, "Probe file to write (default: beside the model, NAME.probe.json)");
  cmd->add_option("--evaluate", a->evaluate, "Measure this probe file on --data instead of fitting one");
  cmd->add_option("--baseline", a->baseline,
                  "Data field (dotted path) whose smaller values should mean easier, for comparison; \"\" = none")
      ->capture_default_str();
  cmd->add_option("--format", a->format, "Data format: auto, ponder, gsm8k, math");
  cmd->add_option("--limit", a->limit, "Only the first N items (0 = all)")->check(integer_in(0, INT32_MAX, "0 = all"));
  cmd->add_option("--max-tokens", a->generation.stop.max_tokens, "Greedy tokens per question at most")
      ->capture_default_str()
      ->check(integer_in(1, kMaxTokensOption));
  add_answer_options(cmd, a->generation.answers, "auto: every rule, the format's own first");
  cmd->add_option("--folds", a->fit.folds, "Cross-validation folds (the penalty is chosen by them)")
      ->capture_default_str()
      ->check(integer_in(2, 1000));
  cmd->add_option("--fit-seed", a->fit.seed, "Which questions go to which fold")->check(seed_value());
  add_engine_options(cmd, a->engine, true);
  add_replicas_option(cmd, a->engine);
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("--no-progress", [a](int64_t) { a->progress = false; }, "No progress line");
  cmd->callback([a] { run_calibrate(*a); });
}

}  // namespace ponder::cli
