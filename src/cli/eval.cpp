// `ponder eval`: strategies x budgets over a data set, with reports in --out.

#include <algorithm>
#include <climits>
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/large_model.h"
#include "cli/options.h"
#include "cli/plots.h"
#include "cli/progress.h"
#include "cli/verifier.h"
#include "ponder/eval.h"
#include "ponder/runtime.h"

namespace ponder::cli {

namespace {

struct EvalArgs {
  std::string model;
  std::string large_model;
  VerifierArgs verifier;
  std::string data;
  std::string strategies = "greedy,vote@4,vote@16,adaptive-vote";
  std::string format = "auto";
  std::string group_by;
  std::string on_bad_data = "skip";
  EngineArgs engine;
  SpeculativeArgs speculative;
  BackendArgs backend;
  ThinkingArgs thinking;
  bool progress = true;
  EvalOptions options;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

void run_eval_command(EvalArgs a) {
  if (a.on_bad_data != "skip" && a.on_bad_data != "stop") throw UsageError("--on-bad-data: skip or stop");
  a.options.stop_on_bad_data = a.on_bad_data == "stop";
  a.options.strategies = split_list(a.strategies);
  a.options.seed = a.options.strategy_options.generation.sampling.seed;
  if (a.model.empty()) a.model = default_model_path();

  const Dataset data = load_dataset(a.data, parse_dataset_format(a.format), a.group_by);
  for (const auto& e : data.errors) std::fprintf(stderr, "%s:%d: %s\n", a.data.c_str(), e.line, e.message.c_str());
  if (!data.errors.empty()) {
    std::fprintf(stderr, "%zu bad rows %s\n", data.errors.size(),
                 a.options.stop_on_bad_data ? "(stopping: --on-bad-data stop)" : "skipped");
  }
  if (!a.group_by.empty() && !data.items.empty() &&
      std::none_of(data.items.begin(), data.items.end(), [](const EvalItem& item) { return !item.group.empty(); })) {
    throw UsageError("--by " + a.group_by + ": no row of " + a.data +
                     " has this field (a dotted path to a string or number, e.g. difficulty.steps)");
  }

  a.engine.note_gpu_layers();
  auto model = Model::load(a.model, a.engine.model_options());
  a.options.thinking = resolve_thinking(a.thinking, *model, a.options.strategy_options.generation.stop);
  // With remote servers the local engine only formats and tokenizes: two slots do.
  EngineOptions engine_options = eval_engine_options(*model, a.backend.enabled() ? 2 : a.engine.max_sequences,
                                                     a.engine.threads, a.engine.kv_cache);
  engine_options.speculative = speculative_options(a.speculative, a.engine);
  VerifierUse use = VerifierUse::none;
  bool needs_large = false;
  for (const auto& spec : a.options.strategies) {
    const auto strategy = make_strategy(spec, a.options.strategy_options);
    use = std::max(use, verifier_use(*strategy));
    needs_large |= (strategy->needs() & kLargeModel) != 0;
  }
  // The batch's waves weigh votes by the verifier when there is one.
  if (a.options.batch.tokens_per_question > 0) use = std::max(use, VerifierUse::wanted);
  const std::string large_path = large_model_path(a.large_model, a.model, needs_large);
  // The large model takes a slot for each of the generators' (Runtime::set_large_model):
  // replicas beside it only when asked for.
  if (!large_path.empty() && a.engine.replicas == 0) a.engine.replicas = 1;
  const auto engines = make_generator_engines(model, engine_options, a.engine, a.backend.enabled());
  for (size_t i = 1; i < engines.size(); ++i) a.options.generator_replicas.push_back(engines[i].get());
  a.options.remote = a.backend.make(model);
  std::unique_ptr<Engine> large_engine;
  if (!large_path.empty()) {
    auto large = Model::load(large_path, a.engine.model_options());
    const int slots = a.engine.max_sequences * int(engines.size());
    if (slots > max_engine_sequences()) {
      throw UsageError("--replicas " + std::to_string(engines.size()) + " x --max-sequences " +
                       std::to_string(a.engine.max_sequences) + " slots for the large model: at most " +
                       std::to_string(max_engine_sequences()) + " fit");
    }
    large_engine = std::make_unique<Engine>(large, eval_engine_options(*large, slots, a.engine.threads, a.engine.kv_cache));
    a.options.large_engine = large_engine.get();
  }
  VerifierSetup verifier = load_verifier(a.verifier, model, a.model, use, a.engine.max_sequences,
                                         a.engine, a.options.strategy_options.search.step_delimiter);
  if (verifier.prm) {
    a.options.verifier_engine = verifier.engine.get();
    a.options.verifier = &*verifier.prm;
  }
  if (verifier.command) a.options.command_verifier = &*verifier.command;
  if (verifier.self) a.options.self_evaluator = &*verifier.self;
  if (a.progress) a.options.on_progress = progress_line("eval");
  const EvalReport report = run_eval(*engines.front(), data, a.options);
  if (a.options.remote) print_backend_stats(*a.options.remote);

  std::printf("%-22s %9s %15s %12s %12s %12s %8s %8s %10s\n", "strategy", "accuracy", "95% CI", "gen tok/q",
              "verif tok/q", "equiv tok/q", "large %", "reread", "wall s/q");
  for (const auto& s : report.strategies) {
    std::printf("%-22s %8.1f%% %6.1f-%5.1f%% %12.1f %12.1f %12.1f %7.1f%% %8.3f %10.3f%s\n", s.name.c_str(),
                100 * s.accuracy, 100 * s.ci95.first, 100 * s.ci95.second, s.generated_tokens, s.verifier_tokens,
                s.equivalent_tokens, 100 * s.large_share, s.reprocess_ratio, s.wall_s,
                s.errors ? ("  (" + std::to_string(s.errors) + " failed)").c_str() : "");
  }
  std::printf("equiv tok: tokens x the model's parameters / %s's; large %%: the large model's share of drawn tokens\n",
              report.equivalent_model.c_str());
  std::printf("%d runs done now, %d resumed from %s\n", report.ran, report.resumed, a.options.out_dir.c_str());
  for (const auto& w : report.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::string no_plots = write_plots(a.options.out_dir, report);
  if (!no_plots.empty()) std::fprintf(stderr, "no plots: %s\n", no_plots.c_str());
  if (report.failed > 0) {
    throw std::runtime_error(std::to_string(report.failed) + " of " + std::to_string(report.ran + report.resumed) +
                             " runs failed; their errors are in " + a.options.out_dir + "/traces.jsonl");
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Evaluate strategies x budgets on a data set (accuracy vs cost)");
  cmd->add_option("--data", a->data, "JSONL data set (ponder, GSM8K or MATH format)")->required();
  cmd->add_option("--out", a->options.out_dir, "Output directory (resumable)")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  add_large_model_option(cmd, a->large_model);
  add_verifier_options(cmd, a->verifier);
  cmd->add_option("--strategies", a->strategies, "Comma-separated strategy names (see below)")->capture_default_str();
  cmd->add_option("--limit", a->options.limit, "Only the first N items (0 = all)")
      ->check(integer_in(0, INT32_MAX, "0 = all"));
  add_sampling_options(cmd, a->options.strategy_options.generation.sampling, a->options.strategy_options.generation.stop);
  add_adaptive_options(cmd, a->options.strategy_options.adaptive);
  add_search_options(cmd, a->options.strategy_options.search);
  cmd->add_flag("--no-prefix-reuse", [a](int64_t) { a->options.reuse_prefixes = false; },
                "Re-read every prefix at every step, as a script driving a server does (for comparison)");
  add_deepconf_options(cmd, a->options.strategy_options.deepconf);
  add_controller_options(cmd, a->options.strategy_options.controller);
  add_cascade_options(cmd, a->options.strategy_options.cascade, a->options.strategy_options.ead);
  BatchBudgetOptions& batch = a->options.batch;
  cmd->add_option("--batch-tokens", batch.tokens_per_question,
                  "One token budget for the whole data set, as mean equivalent tokens per question, spent where "
                  "the next sample promises most; adds the row batch@MAX (0 = off; docs/adaptive.md)")
      ->check(number_in(0, 1e9))
      ->capture_default_str();
  cmd->add_option("--batch-max", batch.max_samples, "batch: samples per question at most (the MAX of batch@MAX)")
      ->check(integer_in(1, kMaxBudget))
      ->capture_default_str();
  cmd->add_option("--batch-first-wave", batch.first_wave, "batch: samples every question gets first")
      ->check(integer_in(1, kMaxBudget))
      ->capture_default_str();
  cmd->add_option("--batch-wave", batch.wave, "batch: samples per grant")
      ->check(integer_in(1, kMaxBudget))
      ->capture_default_str();
  cmd->add_option("--batch-round-share", batch.round_share,
                  "batch: the share of the questions granted a sample per round")
      ->check(number_in(0, 1, true, false))
      ->capture_default_str();
  cmd->add_option("--by", a->group_by,
                  "Also summarise per value of this data field (dotted path: difficulty.steps, MATH's level)");
  cmd->add_option("--format", a->format, "Data format: auto, ponder, gsm8k, math");
  add_answer_options(cmd, a->options.strategy_options.generation.answers, "auto: every rule, the format's own first");
  cmd->add_option("--on-bad-data", a->on_bad_data, "skip (report and go on) or stop");
  add_engine_options(cmd, a->engine, true);
  add_replicas_option(cmd, a->engine);
  add_speculative_options(cmd, a->speculative);
  add_backend_options(cmd, a->backend);
  add_thinking_options(cmd, a->thinking);
  cmd->add_flag("--trace-tokens", a->options.trace_tokens,
                "Keep every sample's token ids and logprobs in traces.jsonl (for replay)");
  cmd->add_option("--in-flight", a->options.max_in_flight,
                  "Questions in flight (0 = half the slots; with --backend, twice the backends' total concurrency)")
      ->check(integer_in(0, max_engine_sequences(), "0 = half the slots"));
  cmd->add_flag("--no-progress", [a](int64_t) { a->progress = false; }, "No progress line");
  cmd->footer(strategy_list_help());
  cmd->callback([a] { run_eval_command(*a); });
}

}  // namespace ponder::cli
