#pragma once
// The verifier model a command runs beside its generator, when a strategy needs one.

#include <memory>
#include <optional>
#include <string>

#include "ponder/engine.h"
#include "ponder/verifier.h"

namespace ponder::cli {

struct VerifierSetup {
  std::unique_ptr<Engine> engine;
  std::optional<ProcessRewardModel> prm;
};

// Loads `path` (with its settings file, see prm_settings_path) on an engine of
// `max_sequences` slots. An empty path means none, except that the bundled toy
// reasoners get the bundled toy PRM when `needed`; otherwise a needed verifier without a
// path is a UsageError.
VerifierSetup load_verifier(std::string path, const std::string& generator_path, bool needed, int max_sequences,
                            int threads);

}  // namespace ponder::cli
