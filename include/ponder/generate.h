#pragma once
// N samples of one prompt on the engine: the prompt is prefilled once and forked.

#include <vector>

#include "ponder/engine.h"

namespace ponder {

struct Sample {
  std::string text;
  std::vector<TokenRecord> records;
  FinishReason finish = FinishReason::none;
  double mean_logprob = 0.0;
};

struct SampleSet {
  std::vector<Sample> samples;
  Cost cost;
};

// Draws n samples; sample i uses seed sampling.seed + i, so results do not depend on n
// or on what else the engine runs. Blocks until all are done; frees what it allocated.
SampleSet generate_samples(Engine& engine, std::vector<Token> prompt, int n,
                           const SamplingParams& sampling, const StopParams& stop);

}  // namespace ponder
