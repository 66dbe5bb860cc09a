#pragma once
// What the engine's files share about llama.cpp and ggml, kept out of the public headers.

#include <ggml.h>
#include <llama.h>

#include <string>

#include "ponder/engine.h"

namespace ponder {

// The error lines llama.cpp logged since the last call (it reports why a load or a
// context failed only there), trailing whitespace removed; clears them.
std::string take_llama_errors();

// A ggml threadpool of `threads` workers attached to `ctx`: its workers stay between
// decodes, where a llama.cpp built without OpenMP would start and join threads for every
// graph. On failure frees `ctx` and throws std::runtime_error.
ggml_threadpool* attach_threadpool(llama_context* ctx, int threads);

// ggml's type for a KV cache type.
ggml_type kv_cache_ggml_type(KvCacheType type);

}  // namespace ponder
