// `ponder run`: one question, one strategy; prints the answer.

#include <cstdio>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/report.h"
#include "ponder/engine_sizing.h"
#include "ponder/scheduler.h"

namespace ponder::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string question;
  std::string strategy = "adaptive-vote";
  int budget = 0;
  bool json = false;
  bool verbose = false;
  EngineArgs engine;
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
  if (a.model.empty()) a.model = default_model_path();
  auto strategy = make_strategy(a.strategy, a.options, a.budget);

  auto model = Model::load(a.model);
  check_text_fits(*model, a.question, model->n_ctx_train(), "the question");
  Workload work;
  work.sequences = strategy->budget() + 1;  // the prompt's sequence and the samples forked from it
  work.prompt_tokens = int(format_question(*model, a.question).size());
  work.max_new_tokens = a.options.generation.stop.max_tokens;
  work.threads = a.engine.threads;
  Engine engine(model, engine_options_for(*model, work));

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

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Answer one question with a test-time compute strategy");
  cmd->add_option("question", a->question, "The question")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  cmd->add_option("-s,--strategy", a->strategy, "Strategy (see below)")->capture_default_str();
  cmd->add_option("-b,--budget", a->budget, "Samples: N, or the maximum for adaptive strategies (0 = the name's)")
      ->check(integer_in(0, 1024, "0 = the strategy's own"));
  add_sampling_options(cmd, a->options.generation.sampling, a->options.generation.stop);
  add_answer_options(cmd, a->options.generation.answers, "auto");
  add_adaptive_options(cmd, a->options.adaptive);
  add_engine_options(cmd, a->engine, false);
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("-v,--verbose", a->verbose, "Show samples, votes, stop reason and cost");
  cmd->footer(strategy_list_help());
  cmd->callback([a] { run_question(*a); });
}

}  // namespace ponder::cli
