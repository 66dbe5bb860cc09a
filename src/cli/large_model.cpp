#include "cli/large_model.h"

#include <filesystem>

#include "cli/commands.h"
#include "toy/models.h"

namespace ponder::cli {

void add_large_model_option(CLI::App* cmd, std::string& path) {
  cmd->add_option("--large-model", path,
                  "Large GGUF model for cascade and ead; -m is then the small one (default with -m "
                  "toy-reasoner-s: toy-reasoner-l)");
}

std::string large_model_path(const std::string& given, const std::string& generator_path, bool needed) {
  if (!given.empty() || !needed) return given;
  std::error_code ec;
  if (std::filesystem::equivalent(generator_path, toy::small_reasoner_path(), ec)) {
    return toy::default_reasoner_path();
  }
  throw UsageError(
      "the strategy needs a large model: give --large-model PATH, with -m the small model (e.g. -m " +
      toy::small_reasoner_path() + ", whose large model is toy-reasoner-l by default)");
}

}  // namespace ponder::cli
