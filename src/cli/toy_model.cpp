// `ponder toy-model`: writes a random-weight llama GGUF with the toy vocabulary, for
// engine tests and benchmarks.

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "toy/random_models.h"

namespace ponder::cli {
namespace {
// --type's names: the one list the check and the lookup both read.
const std::map<std::string, toy::WeightType>& weight_types() {
  static const std::map<std::string, toy::WeightType> types = {{"f32", toy::WeightType::f32},
                                                               {"f16", toy::WeightType::f16},
                                                               {"bf16", toy::WeightType::bf16},
                                                               {"q8_0", toy::WeightType::q8_0},
                                                               {"q4_0", toy::WeightType::q4_0}};
  return types;
}
}  // namespace

void add_toy_model_command(CLI::App& app) {
  struct Args {
    std::string preset = "tiny";
    std::string out;
    uint64_t seed = 1;
    float std_dev = 0.0f;
    bool f16 = false;
    std::string type = "f32";
    bool list = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("toy-model", "Write a random-weight llama GGUF (byte-level toy vocabulary)");
  cmd->add_option("--preset", args->preset, "Shape (see --list)");
  cmd->add_option("-o,--out", args->out, "Output GGUF path");
  cmd->add_option("--seed", args->seed, "Weight seed")->check(seed_value());
  cmd->add_option("--std", args->std_dev, "Std of the random matrices (0 = 2 / sqrt(n_embd))")
      ->check(number_in(0, 100, false, false, "0 = 2 / sqrt(n_embd)"));
  auto* f16 = cmd->add_flag("--f16", args->f16, "Store matrices as f16 (--type f16)");
  std::vector<std::string> type_names;
  for (const auto& [name, type] : weight_types()) type_names.push_back(name);
  cmd->add_option("--type", args->type, "Matrix type: f32, f16, bf16, or ggml's q8_0 or q4_0 blocks (norms stay f32)")
      ->check(CLI::IsMember(type_names))
      ->excludes(f16);
  cmd->add_flag("--list", args->list, "List the presets");
  cmd->callback([args] {
    if (args->list) {
      for (const auto& [name, p] : toy::random_model_presets()) {
        std::printf("%-10s %9lld parameters  %s\n", name.c_str(), (long long)p.shape.n_params(), p.about.c_str());
      }
      return;
    }
    if (!toy::random_model_presets().count(args->preset)) {
      throw UsageError("unknown preset '" + args->preset + "' (see --list)");
    }
    if (args->out.empty()) throw UsageError("toy-model: --out is required");
    toy::write_random_model(args->out, args->preset, args->seed, args->std_dev,
                            args->f16 ? toy::WeightType::f16 : weight_types().at(args->type));
    std::printf("wrote %s (%s)\n", args->out.c_str(), args->preset.c_str());
  });
}

}  // namespace ponder::cli
