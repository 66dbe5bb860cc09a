#pragma once
// Random-weight llama models with the toy vocabulary: the shapes engine tests and
// benchmarks use. Deterministic: the same preset and seed give the same bytes.

#include <map>
#include <string>

#include "toy/llama_gguf.h"

namespace ponder::toy {

struct RandomModelPreset {
  LlamaShape shape;
  std::string about;
};

// tiny, tiny-gqa (grouped-query attention), bench-1m, bench-5m, bench-100m.
const std::map<std::string, RandomModelPreset>& random_model_presets();

// Writes the preset with matrices ~ N(0, std^2); std <= 0 picks 2 / sqrt(n_embd), which
// gives peaked next-token distributions. Throws std::invalid_argument for an unknown preset.
void write_random_model(const std::string& path, const std::string& preset, uint64_t seed,
                        float std = 0.0f, WeightType matrix_type = WeightType::f32);

}  // namespace ponder::toy
