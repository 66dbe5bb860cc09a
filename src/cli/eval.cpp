// `ponder eval`: strategies x budgets over a data set, with reports in --out.

#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/plots.h"
#include "cli/progress.h"
#include "ponder/eval.h"

namespace ponder::cli {

namespace {

struct EvalArgs {
  std::string model;
  std::string data;
  std::string strategies = "greedy,vote@4,vote@16,adaptive-vote";
  std::string format = "auto";
  std::string group_by;
  std::string answer_rule;
  std::string on_bad_data = "skip";
  int threads = 0;
  int max_sequences = 64;
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
  if (!a.answer_rule.empty()) a.options.strategy_options.generation.answers.rule = parse_answer_rule(a.answer_rule);
  if (a.model.empty()) a.model = PONDER_DEFAULT_MODEL;

  const Dataset data = load_dataset(a.data, parse_dataset_format(a.format), a.group_by);
  for (const auto& e : data.errors) std::fprintf(stderr, "%s:%d: %s\n", a.data.c_str(), e.line, e.message.c_str());
  if (!data.errors.empty()) {
    std::fprintf(stderr, "%zu bad rows %s\n", data.errors.size(),
                 a.options.stop_on_bad_data ? "(stopping: --on-bad-data stop)" : "skipped");
  }

  auto model = Model::load(a.model);
  Engine engine(model, eval_engine_options(*model, a.max_sequences, a.threads));
  if (a.progress) a.options.on_progress = progress_line("eval");
  const EvalReport report = run_eval(engine, data, a.options);

  std::printf("%-22s %9s %15s %12s %10s\n", "strategy", "accuracy", "95% CI", "gen tok/q", "wall s/q");
  for (const auto& s : report.strategies) {
    std::printf("%-22s %8.1f%% %6.1f-%5.1f%% %12.1f %10.3f%s\n", s.name.c_str(), 100 * s.accuracy, 100 * s.ci95.first,
                100 * s.ci95.second, s.generated_tokens, s.wall_s,
                s.errors ? ("  (" + std::to_string(s.errors) + " failed)").c_str() : "");
  }
  std::printf("%d runs done now, %d resumed from %s\n", report.ran, report.resumed, a.options.out_dir.c_str());
  for (const auto& w : report.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::string no_plots = write_plots(a.options.out_dir, report);
  if (!no_plots.empty()) std::fprintf(stderr, "no plots: %s\n", no_plots.c_str());
  if (report.failed > 0) {
    throw std::runtime_error(std::to_string(report.failed) + " runs failed (their \"error\" is in traces.jsonl)");
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Evaluate strategies x budgets on a data set (accuracy vs cost)");
  cmd->add_option("--data", a->data, "JSONL data set (ponder, GSM8K or MATH format)")->required();
  cmd->add_option("--out", a->options.out_dir, "Output directory (resumable)")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  cmd->add_option("--strategies", a->strategies, "Comma-separated strategy names, e.g. greedy,vote@16,rpc@8");
  cmd->add_option("--limit", a->options.limit, "Only the first N items (0 = all)");
  cmd->add_option("--seed", a->options.seed, "Sampling seed");
  cmd->add_option("--temp", a->options.strategy_options.generation.sampling.temperature, "Sampling temperature (0.8)");
  cmd->add_option("--max-tokens", a->options.strategy_options.generation.stop.max_tokens, "Tokens per sample (256)");
  add_adaptive_options(cmd, a->options.strategy_options.adaptive);
  cmd->add_option("--by", a->group_by,
                  "Also summarise per value of this data field (dotted path: difficulty.steps, MATH's level)");
  cmd->add_option("--format", a->format, "Data format: auto, ponder, gsm8k, math");
  cmd->add_option("--answer", a->answer_rule, "Answer rule for model outputs (default auto: every rule, the format's own first)");
  cmd->add_option("--answer-regex", a->options.strategy_options.generation.answers.pattern, "Pattern for --answer regex");
  cmd->add_option("--on-bad-data", a->on_bad_data, "skip (report and go on) or stop");
  cmd->add_option("--max-sequences", a->max_sequences, "Engine sequence slots (64)");
  cmd->add_option("--in-flight", a->options.max_in_flight, "Questions in flight (0 = half the slots)");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--no-progress", [a](int64_t) { a->progress = false; }, "No progress line");
  cmd->callback([a] { run_eval_command(*a); });
}

}  // namespace ponder::cli
