#include "cli/verifier.h"

#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "cli/options.h"
#include "ponder/engine_sizing.h"
#include "toy/models.h"

namespace ponder::cli {

namespace {

bool is_toy_reasoner(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  return fs::equivalent(path, toy::default_reasoner_path(), ec) ||
         fs::equivalent(path, toy::small_reasoner_path(), ec);
}

}  // namespace

void add_verifier_options(CLI::App* cmd, VerifierArgs& a) {
  cmd->add_option(
      "--verifier", a.model,
      "Verifier for prm-vote, prm-best-of-n and the searches: a PRM GGUF, or 'self' (the generator "
      "judges its own solutions; default with the toy reasoners: the toy PRM)");
  cmd->add_option("--verifier-command", a.command,
                  "Verifier program: reads {\"question\", \"solution\", \"steps\"} as JSON on stdin, prints "
                  "{\"score\": S} or {\"steps\": [...]} (each in [0, 1]); run without a shell");
  cmd->add_option("--verifier-arg", a.command_args, "An argument of the verifier program (repeat for more)")
      ->allow_extra_args(false);
  cmd->add_option("--verifier-timeout", a.timeout_s, "Seconds the verifier program may take per solution")
      ->check(number_in(0, 86400, true))
      ->capture_default_str();
  cmd->add_option("--verifier-parallel", a.parallel, "Verifier programs running at once")
      ->check(integer_in(1, 64))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--self-eval-question",
      [&a](const std::string& text) {
        a.self.question = unescaped("--self-eval-question", text);
        if (a.self.question.empty()) throw CLI::ValidationError("--self-eval-question", "must not be empty");
      },
      "--verifier self: what is asked after a solution (\\n for a newline; default \"\\nIs this solution "
      "correct? Answer yes or no:\")");
  cmd->add_option_function<std::string>(
      "--self-eval-yes", [&a](const std::string& text) { a.self.yes = unescaped("--self-eval-yes", text); },
      "--verifier self: the answer 'yes', one token of the model (default \" yes\")");
  cmd->add_option_function<std::string>(
      "--self-eval-no", [&a](const std::string& text) { a.self.no = unescaped("--self-eval-no", text); },
      "--verifier self: the answer 'no', one token of the model (default \" no\")");
  cmd->add_flag(
      "--self-eval-per-step", a.self.per_step,
      "--verifier self: a verdict after each step (the solution's score is the lowest), not one on the "
      "whole solution");
}

VerifierUse verifier_use(const Strategy& strategy) {
  if (strategy.needs() & kVerify) return VerifierUse::needed;
  return (strategy.wants() & kVerify) ? VerifierUse::wanted : VerifierUse::none;
}

void VerifierSetup::attach(Runtime& runtime) const {
  if (prm) runtime.set_verifier(*engine, *prm);
  if (command) runtime.set_verifier(*command);
  if (self) runtime.set_verifier(*self);
}

VerifierSetup load_verifier(const VerifierArgs& a, const std::shared_ptr<const Model>& generator,
                            const std::string& generator_path, VerifierUse use, int max_sequences,
                            const EngineArgs& engine, const std::string& step_delimiter) {
  const bool self = a.model == "self";
  if (self && !a.command.empty())
    throw UsageError("--verifier self and --verifier-command: give one verifier");
  if (!a.model.empty() && !self && !a.command.empty()) {
    throw UsageError("--verifier MODEL and --verifier-command: give one verifier");
  }
  if (a.command.empty() && !a.command_args.empty())
    throw UsageError("--verifier-arg needs --verifier-command");
  const std::string delimiter = !step_delimiter.empty()           ? step_delimiter
                                : is_toy_reasoner(generator_path) ? "\n"
                                                                  : "\n\n";
  VerifierSetup v;
  if (!a.command.empty()) {
    CommandVerifierOptions o;
    o.argv.push_back(a.command);
    o.argv.insert(o.argv.end(), a.command_args.begin(), a.command_args.end());
    o.timeout_s = a.timeout_s;
    o.parallel = a.parallel;
    o.step_delimiter = delimiter;
    try {
      v.command.emplace(std::move(o));
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    return v;
  }
  if (self) {
    SelfEvalSettings s = a.self;
    s.step_delimiter = delimiter;
    try {
      v.self.emplace(generator, std::move(s));
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    return v;
  }
  std::string path = a.model;
  if (path.empty() && use != VerifierUse::none) {
    if (is_toy_reasoner(generator_path)) {
      path = toy::prm_path();
    } else if (use == VerifierUse::needed) {
      throw UsageError(
          "the strategy needs a verifier: give --verifier MODEL, --verifier self or --verifier-command");
    }
  }
  if (path.empty()) return v;
  auto model = Model::load(path, engine.model_options());
  v.prm.emplace(ProcessRewardModel::load(model));
  // Each solution is scored on a fork of the question's prompt, which stays in its slot.
  Workload work;
  work.sequences = std::max(2, max_sequences);
  work.max_new_tokens = std::min(model->n_ctx_train(), 1024) - 1;
  work.threads = engine.threads;
  work.kv_cache = engine.kv_cache;
  v.engine = std::make_unique<Engine>(model, engine_options_for(*model, work));
  return v;
}

}  // namespace ponder::cli
