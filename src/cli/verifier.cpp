#include "cli/verifier.h"

#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "ponder/engine_sizing.h"
#include "toy/models.h"

namespace ponder::cli {

VerifierSetup load_verifier(std::string path, const std::string& generator_path, bool needed, int max_sequences,
                            int threads) {
  namespace fs = std::filesystem;
  if (path.empty() && needed) {
    std::error_code ec;
    const bool toy = fs::equivalent(generator_path, toy::default_reasoner_path(), ec) ||
                     fs::equivalent(generator_path, toy::small_reasoner_path(), ec);
    if (!toy) throw UsageError("the strategy needs a verifier: give --verifier MODEL");
    path = toy::prm_path();
  }
  VerifierSetup v;
  if (path.empty()) return v;
  auto model = Model::load(path);
  v.prm.emplace(ProcessRewardModel::load(model));
  // Each solution is scored on a fork of the question's prompt, which stays in its slot.
  Workload work;
  work.sequences = std::max(2, max_sequences);
  work.max_new_tokens = std::min(model->n_ctx_train(), 1024) - 1;
  work.threads = threads;
  v.engine = std::make_unique<Engine>(model, engine_options_for(*model, work));
  return v;
}

}  // namespace ponder::cli
