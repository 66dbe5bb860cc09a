#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "engine/llama_glue.h"
#include "ponder/engine_sizing.h"

namespace ponder {

namespace {

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", bytes / double(1ull << 30));
  return buf;
}

}  // namespace

int64_t kv_bytes_per_token(const Model& model, KvCacheTypes types) {
  const int64_t layers = std::max(1, llama_model_n_layer(model.raw()));
  const int64_t embd = std::max(1, llama_model_n_embd(model.raw()));
  const int64_t heads = std::max(1, llama_model_n_head(model.raw()));
  const int64_t kv_heads = std::max(1, llama_model_n_head_kv(model.raw()));
  const int64_t kv_width = std::max<int64_t>(1, embd / heads) * kv_heads;
  // A quantized row is counted in whole blocks (a partial one is refused by the engine).
  auto row_bytes = [&](KvCacheType type) {
    const ggml_type t = kv_cache_ggml_type(type);
    const int64_t block = ggml_blck_size(t);
    return int64_t(ggml_row_size(t, (kv_width + block - 1) / block * block));
  };
  return layers * (row_bytes(types.k) + row_bytes(types.v));
}

int64_t default_kv_memory_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return std::numeric_limits<int64_t>::max();
  return int64_t(pages) * int64_t(page_size) / 2;
}

EngineOptions engine_options_for(const Model& model, const Workload& w) {
  if (w.sequences < 1) throw std::invalid_argument("sequences: must be >= 1");
  if (w.prompt_tokens < 0) throw std::invalid_argument("prompt tokens: must be >= 0");
  if (w.max_new_tokens < 1) throw std::invalid_argument("max_tokens: must be >= 1");
  if (w.memory_limit < 0)
    throw std::invalid_argument("memory limit: must be >= 0 (0 = half the physical memory)");

  const int64_t model_context = model.n_ctx_train();
  // The engine keeps a prompt's last token out of the cache until it is decoded, so a
  // prompt needs one cell more than its length to start generating.
  if (int64_t(w.prompt_tokens) + 1 >= model_context) {
    throw std::invalid_argument("the prompt has " + std::to_string(w.prompt_tokens) +
                                " tokens; the model's context is " + std::to_string(model_context) +
                                " tokens (at most " +
                                std::to_string(std::max<int64_t>(0, model_context - 2)) + " for the prompt)");
  }
  EngineOptions o;
  o.max_sequences = std::min(w.sequences, max_engine_sequences());
  o.threads = w.threads;
  o.kv_layout = w.kv_layout;
  o.kv_cache = w.kv_cache;
  o.batch_tokens = std::max(512, o.max_sequences);
  const int64_t wanted = int64_t(w.prompt_tokens) + int64_t(w.max_new_tokens) + 1;
  const int64_t per_seq = std::min(model_context, wanted);

  // The cache holds per_seq cells for each slot (and the split layout's spare stream).
  const int64_t streams = o.max_sequences + (o.kv_layout == KvLayout::unified ? 0 : 1);
  const int64_t limit = w.memory_limit > 0 ? w.memory_limit : default_kv_memory_limit();
  const int64_t per_token = kv_bytes_per_token(model, w.kv_cache);
  const int64_t cells_by_memory = limit / per_token;
  const int64_t cells_by_llama = std::numeric_limits<uint32_t>::max();
  const int64_t fit_per_seq = std::min(cells_by_memory, cells_by_llama) / streams;
  if (per_seq > fit_per_seq) {
    const std::string fit =
        fit_per_seq > w.prompt_tokens + 1
            ? "at most " + std::to_string(fit_per_seq - w.prompt_tokens - 1) +
                  " new tokens per sequence fit after this prompt of " + std::to_string(w.prompt_tokens) +
                  " tokens"
            : "not even this prompt of " + std::to_string(w.prompt_tokens) + " tokens fits";
    throw std::invalid_argument(
        "the KV cache for " + std::to_string(o.max_sequences) + " sequences of " + std::to_string(per_seq) +
        " tokens would take " + gib(double(per_seq) * double(streams) * double(per_token)) +
        ", more than the " + gib(double(std::min(limit, cells_by_llama * per_token))) +
        (w.memory_limit > 0 ? " allowed" : " allowed (half the physical memory)") + ": " + fit +
        "; lower --max-tokens or the number of sequences");
  }
  o.context_per_sequence = int(per_seq);
  o.validate();
  return o;
}

int automatic_replicas(const Model& model, const EngineOptions& options) {
  const int threads = options.threads > 0 ? options.threads : default_threads();
  if (int64_t(llama_model_size(model.raw())) > kReplicaWeightBytes) return 1;
  const int64_t streams = options.max_sequences + (options.kv_layout == KvLayout::unified ? 0 : 1);
  const int64_t context = options.context_per_sequence > 0 ? options.context_per_sequence
                                                            : std::min<int64_t>(model.n_ctx_train(), 4096);
  const int64_t kv_bytes = std::max<int64_t>(1, streams * context * kv_bytes_per_token(model, options.kv_cache));
  const int64_t fit = std::max<int64_t>(1, default_kv_memory_limit() / kv_bytes);
  return int(std::clamp<int64_t>(std::min<int64_t>(threads, fit), 1, 8));
}

std::vector<EngineOptions> replica_options(EngineOptions options, int replicas) {
  if (replicas < 1 || replicas > 64) throw std::invalid_argument("replicas: must be 1..64");
  const int threads = options.threads > 0 ? options.threads : default_threads();
  std::vector<EngineOptions> out(size_t(replicas), options);
  for (int i = 0; i < replicas; ++i) out[size_t(i)].threads = std::max(1, threads / replicas + (i < threads % replicas));
  return out;
}

void check_text_fits(const Model& model, std::string_view text, int64_t max_tokens, const std::string& what) {
  const int64_t most_bytes = max_tokens * model.max_token_bytes();
  if (int64_t(text.size()) > most_bytes) {
    throw std::invalid_argument(what + " has " + std::to_string(text.size()) + " bytes; at most " +
                                std::to_string(most_bytes) + " can fit in " + std::to_string(max_tokens) +
                                " tokens of this model");
  }
}

}  // namespace ponder
