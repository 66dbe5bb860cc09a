#pragma once
// The final hidden state of a prompt's last token: what a difficulty probe reads
// (ponder/probe.h).
//
// It is read on a small llama context of its own, not on an engine's: llama.cpp outputs
// hidden states only from a context with embeddings on, and such a context outputs every
// token of every batch (logits included), which would cost the engine's prompt chunks
// n_vocab floats per token; and the engine keeps a prompt's last token out of the shared
// prefill (each sample decodes it), so no prefill ever holds its hidden state. One
// prefill of the prompt here is the whole cost.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ponder/model.h"

struct llama_context;
struct ggml_threadpool;

namespace ponder {

class HiddenStateReader {
 public:
  // One sequence of up to `max_tokens` tokens (0 = min(the model's training context,
  // 4096)) on `threads` threads (>= 1). Throws std::runtime_error when llama.cpp cannot
  // make the context.
  explicit HiddenStateReader(std::shared_ptr<const Model> model, int threads = 1, int max_tokens = 0);
  ~HiddenStateReader();
  HiddenStateReader(const HiddenStateReader&) = delete;
  HiddenStateReader& operator=(const HiddenStateReader&) = delete;

  // The hidden state's size (the model's embedding width).
  int size() const;
  int max_tokens() const { return max_tokens_; }
  // Reads `prompt` (tokenized, BOS included) from an empty cache and returns the hidden
  // state after the model's final norm at its last token. Throws std::invalid_argument
  // for an empty prompt or one longer than max_tokens(), std::runtime_error when
  // decoding fails.
  std::vector<float> read(std::span<const Token> prompt);

  // What the reads so far cost: prompt tokens decoded, llama_decode calls.
  int64_t tokens_read() const { return tokens_read_; }
  int64_t forward_passes() const { return forward_passes_; }
  const Model& model() const { return *model_; }

 private:
  std::shared_ptr<const Model> model_;
  llama_context* ctx_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;
  int max_tokens_ = 0;
  int batch_ = 0;
  int64_t tokens_read_ = 0;
  int64_t forward_passes_ = 0;
};

}  // namespace ponder
