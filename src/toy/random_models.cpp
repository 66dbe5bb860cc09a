#include "toy/random_models.h"

#include <cmath>
#include <stdexcept>

namespace ponder::toy {

const std::map<std::string, RandomModelPreset>& random_model_presets() {
  static const std::map<std::string, RandomModelPreset> presets = {
      {"tiny", {{64, 2, 4, 4, 128, 512}, "engine tests"}},
      {"tiny-gqa", {{64, 2, 4, 2, 192, 512}, "grouped-query attention (4 heads, 2 KV heads)"}},
      {"bench-1m", {{128, 4, 4, 4, 384, 512}, "n_embd 128, 4 layers"}},
      {"bench-5m", {{256, 6, 4, 4, 768, 512}, "n_embd 256, 6 layers"}},
      // Between the toy reasoners and bench-100m: where generator replicas stop paying.
      {"bench-25m", {{512, 8, 8, 8, 1536, 512}, "n_embd 512, 8 layers"}},
      // Weights far beyond the CPU's caches, so a decode streams them from memory as with real models.
      {"bench-100m", {{768, 12, 12, 12, 3072, 512}, "n_embd 768, 12 layers, heads of 64 (write with --f16)"}},
  };
  return presets;
}

void write_random_model(const std::string& path, const std::string& preset, uint64_t seed, float std,
                        WeightType matrix_type) {
  auto it = random_model_presets().find(preset);
  if (it == random_model_presets().end()) {
    throw std::invalid_argument("unknown random model preset '" + preset + "'");
  }
  const LlamaShape& shape = it->second.shape;
  if (std <= 0.0f) std = 2.0f / std::sqrt(float(shape.n_embd));
  GgufWriteOptions options;
  options.name = "ponder-random-" + preset;
  options.matrix_type = matrix_type;
  write_llama_gguf(path, shape, random_llama_weights(shape, seed, std), options);
}

}  // namespace ponder::toy
