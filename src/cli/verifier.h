#pragma once
// The verifier a command runs beside its generator, when a strategy needs one: a PRM
// model on its own engine, an external command, or the generator judging itself.

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/options.h"
#include "ponder/engine.h"
#include "ponder/runtime.h"
#include "ponder/verifier.h"

namespace ponder::cli {

struct VerifierArgs {
  std::string model;                      // --verifier: a PRM GGUF, or "self"
  std::string command;                    // --verifier-command PROGRAM
  std::vector<std::string> command_args;  // --verifier-arg, in order
  double timeout_s = 30.0;                // --verifier-timeout
  int parallel = 2;                       // --verifier-parallel
  SelfEvalSettings self;                  // --self-eval-*
};
// --verifier, --verifier-command, --verifier-arg, --verifier-timeout, --verifier-parallel,
// --self-eval-question, --self-eval-yes, --self-eval-no, --self-eval-per-step.
void add_verifier_options(CLI::App* cmd, VerifierArgs& args);

struct VerifierSetup {
  std::unique_ptr<Engine> engine;
  std::optional<ProcessRewardModel> prm;
  std::optional<CommandVerifier> command;
  std::optional<SelfEvaluator> self;
  void attach(Runtime& runtime) const;  // the one loaded, if any
};

// Whether the strategies need a verifier, or use one when there is one (adaptive).
enum class VerifierUse { none, wanted, needed };
VerifierUse verifier_use(const Strategy& strategy);

// The verifier `args` name. A PRM (with its settings file, see prm_settings_path) gets an
// engine of `max_sequences` slots, loaded and sized as `engine` says (threads, GPU layers,
// KV cache types). With none named, the bundled toy reasoners get the bundled toy PRM
// when one is wanted or needed; otherwise a needed verifier that is not named is a
// UsageError. Commands and self-evaluation cut steps at `step_delimiter` (the search's
// --step-delimiter) or, when it is empty, at a newline for the toy reasoners and a blank
// line otherwise.
VerifierSetup load_verifier(const VerifierArgs& args, const std::shared_ptr<const Model>& generator,
                            const std::string& generator_path, VerifierUse use, int max_sequences,
                            const EngineArgs& engine, const std::string& step_delimiter);

}  // namespace ponder::cli
