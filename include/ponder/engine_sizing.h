#pragma once
// Sizing an engine for a workload: one place decides the slots, the context per
// sequence, the batch and the threads, and refuses what cannot fit before anything is
// tokenized or allocated (a refusal after gigabytes of allocation is no refusal).

#include <cstdint>
#include <string>
#include <string_view>

#include "ponder/engine.h"
#include "ponder/model.h"

namespace ponder {

struct Workload {
  int sequences = 1;         // sequences wanted at once (more queue for a slot); >= 1
  int prompt_tokens = 0;     // the longest prompt, in tokens; >= 0
  int max_new_tokens = 256;  // generated tokens per sequence at most; >= 1
  int threads = 0;           // 0 = all hardware threads; at most max_engine_threads()
  KvLayout kv_layout = KvLayout::automatic;
  KvCacheTypes kv_cache;     // how keys and values are stored (their bytes count below)
  int64_t memory_limit = 0;  // bytes the KV cache may take; 0 = half the physical memory
};

// Slots: the workload's sequences, at most max_engine_sequences(). Context per sequence:
// prompt + new tokens + 1, at most the model's training context. Batch: 512 tokens, or
// a token per slot if more. Throws std::invalid_argument saying what is allowed when the
// prompt does not fit the model's context, or when the KV cache would outgrow the memory
// limit (with the most tokens per sequence that would fit).
EngineOptions engine_options_for(const Model& model, const Workload& workload);

// Bytes of KV cache one token of one sequence takes (keys and values of every layer, in
// the given types): an estimate from the model's shape, for the memory check above.
int64_t kv_bytes_per_token(const Model& model, KvCacheTypes types = {});

// Half the machine's physical memory (what Workload::memory_limit 0 stands for).
int64_t default_kv_memory_limit();

// Refuses, by its byte size alone, a text that cannot fit in `max_tokens` tokens of this
// model: no token stands for more than model.max_token_bytes() bytes of text, so a huge
// input is refused at once instead of after tokenizing it. std::invalid_argument names
// `what` (e.g. "the question") and the most bytes allowed.
void check_text_fits(const Model& model, std::string_view text, int64_t max_tokens, const std::string& what);

}  // namespace ponder
