#pragma once

#include <cstdint>

namespace ponder {

// What a request spent. Shared prompt tokens are counted once, where they were decoded.
struct Cost {
  int64_t prompt_tokens = 0;     // context tokens decoded (prefill)
  int64_t generated_tokens = 0;  // tokens sampled
  int64_t scored_tokens = 0;     // tokens whose logprobs were read without sampling
  int64_t forward_passes = 0;    // llama_decode calls that carried any of this work
  double wall_ms = 0.0;          // from the request's start to its last activity

  Cost& operator+=(const Cost& other);
};

}  // namespace ponder
