// `ponder run`: one question, one strategy; prints the answer.

#include <cstdio>

#include "cli/commands.h"
#include "cli/large_model.h"
#include "cli/options.h"
#include "cli/report.h"
#include "cli/verifier.h"
#include "ponder/engine_sizing.h"
#include "ponder/runtime.h"

namespace ponder::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string large_model;
  VerifierArgs verifier;
  std::string question;
  std::string strategy = "adaptive";
  int budget = 0;
  bool json = false;
  bool verbose = false;
  EngineArgs engine;
  SpeculativeArgs speculative;
  BackendArgs backend;
  ThinkingArgs thinking;
  StrategyOptions options;
};

// Prints each event as it happens: the samples' lines, their answers, the vote, the stop.
void print_event(const Event& e) {
  // Samples on the large model are numbered apart.
  const char* sample = e.large_model ? "large sample" : "sample";
  switch (e.kind) {
    case EventKind::launched:
      std::printf("[%s %d] launched\n", sample, e.sample);
      break;
    case EventKind::forked:
      std::printf("[%s %d] forked from sample %d at token %d\n", sample, e.sample, e.parent, e.position);
      break;
    case EventKind::extended:
      std::printf("[%s %d] read %zu given bytes\n", sample, e.sample, e.text.size());
      break;
    case EventKind::line: {
      double lowest = 0.0;
      for (const auto& t : e.tokens) lowest = std::min(lowest, double(t.logprob));
      std::string line = e.text;
      while (!line.empty() && line.back() == '\n') line.pop_back();
      std::printf("[%s %d] %-40s lowest logprob %.2f\n", sample, e.sample, line.c_str(), lowest);
      break;
    }
    case EventKind::finished:
      std::printf("[%s %d] finished (%s): answer %s\n", sample, e.sample, e.detail.c_str(),
                  e.answer ? e.answer->text.c_str() : "(none)");
      break;
    case EventKind::pruned:
      std::printf("[%s %d] pruned: %s\n", sample, e.sample, e.detail.c_str());
      break;
    case EventKind::scored:
      // verify() numbers the solutions it was given; verify_samples() names the sample.
      std::printf("[verifier] %s %d: %.3f\n", e.sample >= 0 ? "sample" : "solution",
                  e.sample >= 0 ? e.sample : e.position, e.value);
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
    case EventKind::decided:
      std::printf("[decided] %s\n", e.detail.c_str());
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
  for (const ModelCost& c : r.costs) {
    if (c.role != "large generator") continue;
    std::printf("--- of which the large model (%s): %lld prompt + %lld generated + %lld read tokens\n", c.model.c_str(),
                (long long)c.cost.prompt_tokens, (long long)c.cost.generated_tokens, (long long)c.cost.scored_tokens);
  }
}

void run_question(RunArgs a) {
  if (a.question.empty()) throw UsageError("run: the question is empty");
  if (a.model.empty()) a.model = default_model_path();
  make_strategy(a.strategy, a.options, a.budget);  // a bad name fails before the model loads

  a.engine.note_gpu_layers();
  auto model = Model::load(a.model, a.engine.model_options());
  check_text_fits(*model, a.question, model->n_ctx_train(), "the question");
  const ThinkingMode thinking = resolve_thinking(a.thinking, *model, a.options.generation.stop);
  std::shared_ptr<const Strategy> strategy = make_strategy(a.strategy, a.options, a.budget);
  Workload work;
  // The prompt's sequence and the samples the strategy keeps or draws at once.
  work.sequences = std::max(strategy->budget(), strategy->held_samples()) + 1;
  work.prompt_tokens = int((thinking == ThinkingMode::automatic
                                ? format_question(*model, a.question)
                                : format_question(*model, ChatTemplate(*model), a.question, thinking))
                               .size());
  work.max_new_tokens = a.options.generation.stop.max_tokens;
  work.threads = a.engine.threads;
  work.kv_cache = a.engine.kv_cache;
  // With remote servers the local engine only formats and tokenizes: two slots do.
  if (a.backend.enabled()) work.sequences = 2;
  EngineOptions engine_options = engine_options_for(*model, work);
  engine_options.speculative = speculative_options(a.speculative, a.engine);
  Engine engine(model, engine_options);
  std::shared_ptr<RemoteBackend> remote = a.backend.make(model);
  VerifierSetup verifier = load_verifier(a.verifier, model, a.model, verifier_use(*strategy),
                                         engine_options.max_sequences, a.engine, a.options.search.step_delimiter);
  std::unique_ptr<Engine> large_engine;
  const std::string large_path = large_model_path(a.large_model, a.model, (strategy->needs() & kLargeModel) != 0);
  if (!large_path.empty()) {
    auto large = Model::load(large_path, a.engine.model_options());
    Workload large_work = work;
    large_work.prompt_tokens = int(format_question(*large, a.question).size());
    large_engine = std::make_unique<Engine>(large, engine_options_for(*large, large_work));
  }

  Runtime runtime(engine, {.max_in_flight = 1, .thinking = thinking, .remote = remote});
  verifier.attach(runtime);
  if (large_engine) runtime.set_large_model(*large_engine);
  EventSink live;
  if (a.verbose && !a.json) live = print_event;
  const StrategyResult r = runtime.wait(runtime.submit({std::move(strategy), a.question, live, {}}));
  if (remote && a.verbose) print_backend_stats(*remote);
  if (!r.error.empty()) throw std::runtime_error(r.error);
  if (a.json) {
    std::printf("%s\n", dump(to_json(r)).c_str());
    return;
  }
  if (a.verbose) print_summary(r);
  std::printf("%s\n", r.answer ? r.answer->text.c_str() : "(no answer)");
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Answer one question with a test-time compute strategy");
  cmd->add_option("question", a->question, "The question")->required();
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  add_large_model_option(cmd, a->large_model);
  add_verifier_options(cmd, a->verifier);
  cmd->add_option("-s,--strategy", a->strategy, "Strategy (see below)")->capture_default_str();
  cmd->add_option("-b,--budget", a->budget, "Samples: N, or the maximum for adaptive strategies (0 = the name's)")
      ->check(integer_in(0, 1024, "0 = the strategy's own"));
  add_sampling_options(cmd, a->options.generation.sampling, a->options.generation.stop);
  add_answer_options(cmd, a->options.generation.answers, "auto");
  add_adaptive_options(cmd, a->options.adaptive);
  add_search_options(cmd, a->options.search);
  add_deepconf_options(cmd, a->options.deepconf);
  add_controller_options(cmd, a->options.controller);
  add_cascade_options(cmd, a->options.cascade, a->options.ead);
  add_engine_options(cmd, a->engine, false);
  add_speculative_options(cmd, a->speculative);
  add_backend_options(cmd, a->backend);
  add_thinking_options(cmd, a->thinking);
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("-v,--verbose", a->verbose, "Show the samples, votes and stop as they happen, then the cost");
  cmd->footer(strategy_list_help());
  cmd->callback([a] { run_question(*a); });
}

}  // namespace ponder::cli
