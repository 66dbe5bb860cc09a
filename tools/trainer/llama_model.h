#pragma once
// The llama architecture in LibTorch, numerically the same network llama.cpp runs for a
// GGUF file with `general.architecture = llama`: RMSNorm, rotary position embeddings on
// interleaved pairs (llama.cpp's "normal" RoPE, not NeoX halves, so Q and K need no
// permutation on export), SwiGLU feed-forward, untied output matrix.

#include <torch/torch.h>

#include <vector>

#include "toy/llama_gguf.h"

namespace ponder::trainer {

class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const toy::LlamaShape& shape);

  // tokens, positions, docs: [B, T] int64. Attention is causal and stays inside runs of
  // equal `docs` (packed documents do not see each other); `positions` restart at 0 in
  // each document, as they do when llama.cpp evaluates that document alone.
  // Returns logits [B, T, n_vocab].
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                        const torch::Tensor& docs);

  // Copies weights from / to the GGUF tensor layout (toy::llama_tensor_layout names,
  // ggml order: a Linear weight [out, in] has ne {in, out} and the same bytes).
  void load_tensors(const std::vector<toy::NamedTensor>& tensors);
  std::vector<toy::NamedTensor> to_tensors() const;

  const toy::LlamaShape& shape() const { return shape_; }

  // Stops training the token embeddings and the layers below `layer` (the optimiser
  // skips parameters that do not require gradients).
  void freeze_below(int layer);

 private:
  struct Layer {
    torch::Tensor attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const;
  torch::Tensor rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;
  // Every parameter with its GGUF name, in llama_tensor_layout order.
  std::vector<std::pair<std::string, torch::Tensor>> named_gguf_parameters() const;

  toy::LlamaShape shape_;
  torch::Tensor tok_embd_, out_norm_, output_;
  std::vector<Layer> layers_;
};
TORCH_MODULE(LlamaModel);

}  // namespace ponder::trainer
