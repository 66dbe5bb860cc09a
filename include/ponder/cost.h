#pragma once

#include <cstdint>
#include <string>

namespace ponder {

// What a request spent. Shared prompt tokens are counted once, where they were decoded.
struct Cost {
  int64_t prompt_tokens = 0;     // context tokens decoded (prefill)
  // Context tokens whose KV was copied from the engine's prompt cache instead (not in
  // prompt_tokens: they were not decoded for this request).
  int64_t cached_tokens = 0;
  int64_t generated_tokens = 0;  // tokens sampled
  int64_t scored_tokens = 0;     // tokens whose logprobs were read without sampling
  int64_t forward_passes = 0;    // llama_decode calls that carried any of this work
  // Every token this request put through llama_decode, re-reads included (a fork
  // decodes its parent's last token again; a re-prefill decodes its whole prefix again).
  int64_t decoded_tokens = 0;
  // The distinct tokens of the question's tree of samples, the prompt counted once:
  // decoded_tokens / tree_tokens is how often each token was read (1 = never re-read).
  int64_t tree_tokens = 0;
  double wall_ms = 0.0;          // from the request's start to its last activity
  // Tokens a verifier model decoded for this request (its prompt and the scored
  // solutions); the counts above are the generator's own.
  int64_t verifier_tokens = 0;

  Cost& operator+=(const Cost& other);
};

// One model's share of a request's cost (a question may use a generator and a verifier).
struct ModelCost {
  std::string role;   // "generator", "large generator", "verifier"
  std::string model;  // the model file's name
  int64_t parameters = 0;
  Cost cost;
};

}  // namespace ponder
