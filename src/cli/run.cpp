// `ponder run`: one question, one strategy; prints the answer.

#include <cstdio>

#include "cli/commands.h"
#include "cli/report.h"
#include "ponder/scheduler.h"

namespace ponder::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string question;
  std::string strategy = "adaptive-vote";
  std::string answer_rule = "auto";
  int budget = 0;
  int threads = 0;
  bool json = false;
  bool verbose = false;
  StrategyOptions options;
};

void print_verbose(const StrategyResult& r) {
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const SampleTrace& s = r.samples[i];
    std::printf("--- sample %zu: answer %s, %d tokens, mean logprob %.3f, %s%s\n%s\n", i,
                s.answer ? s.answer->text.c_str() : "(none)", s.tokens, s.mean_logprob, finish_reason_name(s.finish),
                s.pruned ? " (pruned)" : "", s.text.c_str());
  }
  std::printf("--- strategy %s: stopped (%s) after %zu samples; confidence %.2f\n", r.strategy.c_str(),
              r.stop_reason.c_str(), r.samples.size(), r.confidence);
  std::printf("--- cost: %lld prompt + %lld generated tokens, %lld forward passes, %.1f ms\n",
              (long long)r.cost.prompt_tokens, (long long)r.cost.generated_tokens, (long long)r.cost.forward_passes,
              r.cost.wall_ms);
}

void run_question(RunArgs a) {
  if (a.question.empty()) throw UsageError("run: the question is empty");
  if (a.model.empty()) a.model = PONDER_DEFAULT_MODEL;
  a.options.generation.answers.rule = parse_answer_rule(a.answer_rule);
  auto strategy = make_strategy(a.strategy, a.options, a.budget);

  auto model = Model::load(a.model);
  EngineOptions engine_options;
  engine_options.max_sequences = std::clamp(strategy->budget() + 1, 2, max_engine_sequences());
  engine_options.threads = a.threads;
  engine_options.context_per_sequence =
      std::min(model->n_ctx_train(), int(format_question(*model, a.question).size()) + a.options.generation.stop.max_tokens + 1);
  engine_options.batch_tokens = std::max(512, engine_options.max_sequences);
  Engine engine(model, engine_options);

  const StrategyResult r = run_strategy(engine, *strategy, a.question);
  if (!r.error.empty()) throw std::runtime_error(r.error);
  if (a.json) {
    std::printf("%s\n", dump(to_json(r)).c_str());
    return;
  }
  if (a.verbose) print_verbose(r);
  std::printf("%s\n", r.answer ? r.answer->text.c_str() : "(no answer)");
}

}  // namespace

void add_adaptive_options(CLI::App* cmd, AdaptiveVoteOptions& options) {
  cmd->add_option("--threshold", options.threshold, "adaptive-vote: stop at this confidence (0.95)");
  cmd->add_flag("--dirichlet", [&options](int64_t) { options.criterion = AdaptiveVoteOptions::Criterion::dirichlet; },
                "adaptive-vote: the Dirichlet criterion instead of Beta");
  cmd->add_option("--wave", options.wave, "adaptive-vote: samples in flight at a time (4)");
  cmd->add_option("--esc-window", options.esc_window, "esc: samples per window (5)");
}

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Answer one question with a test-time compute strategy");
  cmd->add_option("question", a->question, "The question")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  std::string names;
  for (const auto& n : strategy_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("-s,--strategy", a->strategy, "Strategy: " + names + " (default adaptive-vote)");
  cmd->add_option("-b,--budget", a->budget, "Samples (N, or the maximum for adaptive strategies)");
  cmd->add_option("--seed", a->options.generation.sampling.seed, "Seed of sample 0 (sample i uses seed + i)");
  cmd->add_option("--temp", a->options.generation.sampling.temperature, "Sampling temperature (default 0.8)");
  cmd->add_option("--top-p", a->options.generation.sampling.top_p, "Top-p (1 = off)");
  cmd->add_option("--max-tokens", a->options.generation.stop.max_tokens, "Tokens per sample at most (default 256)");
  cmd->add_option("--answer", a->answer_rule, "Answer rule: auto, hash, boxed, answer-is, last-number, option, regex");
  cmd->add_option("--answer-regex", a->options.generation.answers.pattern, "Pattern for --answer regex");
  add_adaptive_options(cmd, a->options.adaptive);
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("-v,--verbose", a->verbose, "Show samples, votes, stop reason and cost");
  cmd->callback([a] { run_question(*a); });
}

}  // namespace ponder::cli
