// `ponder run`: one question, one strategy; prints the answer.

#include <cstdio>

#include "cli/commands.h"
#include "cli/report.h"
#include "cli/verifier.h"
#include "ponder/runtime.h"

namespace ponder::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string verifier;
  std::string question;
  std::string strategy = "adaptive-vote";
  std::string answer_rule = "auto";
  int budget = 0;
  int threads = 0;
  bool json = false;
  bool verbose = false;
  StrategyOptions options;
};

// Prints each event as it happens: the samples' lines, their answers, the vote, the stop.
void print_event(const Event& e) {
  switch (e.kind) {
    case EventKind::launched:
      std::printf("[sample %d] launched\n", e.sample);
      break;
    case EventKind::forked:
      std::printf("[sample %d] forked from sample %d at token %d\n", e.sample, e.parent, e.position);
      break;
    case EventKind::line: {
      double lowest = 0.0;
      for (const auto& t : e.tokens) lowest = std::min(lowest, double(t.logprob));
      std::string line = e.text;
      while (!line.empty() && line.back() == '\n') line.pop_back();
      std::printf("[sample %d] %-40s lowest logprob %.2f\n", e.sample, line.c_str(), lowest);
      break;
    }
    case EventKind::finished:
      std::printf("[sample %d] finished (%s): answer %s\n", e.sample, e.detail.c_str(),
                  e.answer ? e.answer->text.c_str() : "(none)");
      break;
    case EventKind::pruned:
      std::printf("[sample %d] pruned: %s\n", e.sample, e.detail.c_str());
      break;
    case EventKind::scored:
      std::printf("[verifier] sample %d: %.3f\n", e.position, e.value);
      break;
    case EventKind::vote: {
      std::string tally;
      for (const auto& [answer, weight] : e.tally) {
        char part[96];
        std::snprintf(part, sizeof(part), "%s%s: %g", tally.empty() ? "" : ", ", answer.c_str(), weight);
        tally += part;
      }
      std::printf("[vote] %s (criterion %.3f)\n", tally.empty() ? "no answers yet" : tally.c_str(), e.value);
      break;
    }
    case EventKind::stopped:
      std::printf("[stopped] %s\n", e.detail.c_str());
      break;
    default:
      break;
  }
  std::fflush(stdout);
}

void print_summary(const StrategyResult& r) {
  std::printf("--- strategy %s: stopped (%s) after %zu samples; confidence %.2f\n", r.strategy.c_str(),
              r.stop_reason.c_str(), r.samples.size(), r.confidence);
  std::printf("--- cost: %lld prompt + %lld generated tokens, %lld forward passes, %.1f ms",
              (long long)r.cost.prompt_tokens, (long long)r.cost.generated_tokens, (long long)r.cost.forward_passes,
              r.cost.wall_ms);
  if (r.cost.verifier_tokens > 0) std::printf("; verifier %lld tokens", (long long)r.cost.verifier_tokens);
  std::printf("\n");
}

void run_question(RunArgs a) {
  if (a.question.empty()) throw UsageError("run: the question is empty");
  if (a.model.empty()) a.model = PONDER_DEFAULT_MODEL;
  a.options.generation.answers.rule = parse_answer_rule(a.answer_rule);
  std::shared_ptr<const Strategy> strategy = make_strategy(a.strategy, a.options, a.budget);

  auto model = Model::load(a.model);
  EngineOptions engine_options;
  engine_options.max_sequences = std::clamp(strategy->budget() + 1, 2, max_engine_sequences());
  engine_options.threads = a.threads;
  engine_options.context_per_sequence =
      std::min(model->n_ctx_train(), int(format_question(*model, a.question).size()) + a.options.generation.stop.max_tokens + 1);
  engine_options.batch_tokens = std::max(512, engine_options.max_sequences);
  Engine engine(model, engine_options);
  VerifierSetup verifier = load_verifier(a.verifier, a.model, (strategy->needs() & kVerify) != 0,
                                         engine_options.max_sequences, a.threads);

  Runtime runtime(engine, {.max_in_flight = 1});
  if (verifier.prm) runtime.set_verifier(*verifier.engine, *verifier.prm);
  EventSink live;
  if (a.verbose && !a.json) live = print_event;
  const StrategyResult r = runtime.wait(runtime.submit({std::move(strategy), a.question, live, {}}));
  if (!r.error.empty()) throw std::runtime_error(r.error);
  if (a.json) {
    std::printf("%s\n", dump(to_json(r)).c_str());
    return;
  }
  if (a.verbose) print_summary(r);
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
  cmd->add_option("--verifier", a->verifier,
                  "Verifier GGUF for prm-vote, prm-best-of-n (default with the toy reasoners: the toy PRM)");
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
  cmd->add_flag("-v,--verbose", a->verbose, "Show the samples, votes and stop as they happen, then the cost");
  cmd->callback([a] { run_question(*a); });
}

}  // namespace ponder::cli
