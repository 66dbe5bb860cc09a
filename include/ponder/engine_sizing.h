#pragma once
// Sizing an engine for a workload: one place decides the slots, the context per
// sequence, the batch and the threads, and refuses what cannot fit before anything is
// tokenized or allocated (a refusal after gigabytes of allocation is no refusal).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// Generator replicas (Runtime::add_generator_replica) for a workload of many questions.
// On a CPU, a step of a small model takes not much longer than what llama.cpp and ponder
// do on one thread around it (preparing the batch, the KV bookkeeping, sampling), and
// its matrices are too small to split over threads without waiting at every node; so
// engines with a thread each, stepped side by side, get through more than one engine on
// every thread. Measured at 2 threads (docs/speed.md), one engine's wall time over 2
// replicas', pairs run minutes apart: 1.0-1.5x for toy-reasoner-s (1.9 MB of weights),
// 1.1-1.4x for toy-reasoner-l (10.6 MB), 1.0-1.4x for a 55 MB model, 1.1-1.2x for a
// 228 MB one. Beyond that, replicas read the weights from memory each for itself (not
// measured), so: a replica per thread, at most 8, for weights up to kReplicaWeightBytes
// and while the replicas' KV caches fit in default_kv_memory_limit(); else one engine.
// `options`: one engine's (threads 0 = default_threads()).
inline constexpr int64_t kReplicaWeightBytes = int64_t(256) << 20;
int automatic_replicas(const Model& model, const EngineOptions& options);

// The options of `replicas` engines sharing one engine's threads (0 = default_threads())
// as evenly as they go, each at least one; the rest as given. Throws
// std::invalid_argument unless 1 <= replicas <= 64.
std::vector<EngineOptions> replica_options(EngineOptions options, int replicas);

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
