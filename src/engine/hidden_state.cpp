#include "ponder/hidden_state.h"

#include <ggml-cpu.h>
#include <llama.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "engine/llama_glue.h"

namespace ponder {

HiddenStateReader::HiddenStateReader(std::shared_ptr<const Model> model, int threads, int max_tokens)
    : model_(std::move(model)) {
  if (threads < 1) throw std::invalid_argument("hidden states: threads must be >= 1");
  if (max_tokens < 0) throw std::invalid_argument("hidden states: max_tokens must be >= 0 (0 = the model's)");
  max_tokens_ = max_tokens > 0 ? max_tokens : std::min(model_->n_ctx_train(), 4096);
  batch_ = std::min(max_tokens_, 512);
  llama_context_params params = llama_context_default_params();
  params.n_ctx = uint32_t(max_tokens_);
  params.n_batch = uint32_t(batch_);
  params.n_ubatch = uint32_t(batch_);
  params.n_seq_max = 1;
  params.n_threads = threads;
  params.n_threads_batch = threads;
  params.embeddings = true;
  params.pooling_type = LLAMA_POOLING_TYPE_NONE;  // per token: the last one is read
  params.no_perf = true;
  ctx_ = llama_init_from_model(model_->raw(), params);
  if (ctx_ == nullptr) {
    throw std::runtime_error("cannot create a llama context for the hidden states of " + model_->path());
  }
  threadpool_ = attach_threadpool(ctx_, threads);
}

HiddenStateReader::~HiddenStateReader() {
  llama_free(ctx_);
  ggml_threadpool_free(threadpool_);
}

int HiddenStateReader::size() const { return model_->n_embd(); }

std::vector<float> HiddenStateReader::read(std::span<const Token> prompt) {
  if (prompt.empty()) throw std::invalid_argument("hidden states: the prompt has no tokens");
  if (prompt.size() > size_t(max_tokens_)) {
    throw std::invalid_argument("hidden states: the prompt has " + std::to_string(prompt.size()) +
                                " tokens, more than the reader's " + std::to_string(max_tokens_));
  }
  llama_memory_clear(llama_get_memory(ctx_), true);
  std::vector<Token> tokens(prompt.begin(), prompt.end());
  for (size_t from = 0; from < tokens.size(); from += size_t(batch_)) {
    const int32_t n = int32_t(std::min(tokens.size() - from, size_t(batch_)));
    // Positions follow on from the cache (cleared above); every token is an output.
    if (llama_decode(ctx_, llama_batch_get_one(tokens.data() + from, n)) != 0) {
      throw std::runtime_error("hidden states: llama_decode failed on " + model_->path());
    }
    tokens_read_ += n;
    ++forward_passes_;
  }
  const float* state = llama_get_embeddings_ith(ctx_, -1);
  if (state == nullptr) throw std::runtime_error("hidden states: llama.cpp returned no hidden state");
  return std::vector<float>(state, state + size());
}

}  // namespace ponder
