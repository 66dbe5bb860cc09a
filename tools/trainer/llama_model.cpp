#include "llama_model.h"

#include <cmath>
#include <map>
#include <stdexcept>

#include "toy/vocab.h"

namespace ponder::trainer {

LlamaModelImpl::LlamaModelImpl(const toy::LlamaShape& shape) : shape_(shape) {
  shape_.validate();
  const int64_t d = shape_.n_embd, kv = shape_.n_embd_kv(), ff = shape_.n_ff, v = toy::kVocabSize;
  tok_embd_ = register_parameter("tok_embd", torch::zeros({v, d}));
  for (int i = 0; i < shape_.n_layer; ++i) {
    const std::string b = "l" + std::to_string(i) + "_";
    Layer l;
    l.attn_norm = register_parameter(b + "attn_norm", torch::ones({d}));
    l.wq = register_parameter(b + "wq", torch::zeros({d, d}));
    l.wk = register_parameter(b + "wk", torch::zeros({kv, d}));
    l.wv = register_parameter(b + "wv", torch::zeros({kv, d}));
    l.wo = register_parameter(b + "wo", torch::zeros({d, d}));
    l.ffn_norm = register_parameter(b + "ffn_norm", torch::ones({d}));
    l.w_gate = register_parameter(b + "w_gate", torch::zeros({ff, d}));
    l.w_up = register_parameter(b + "w_up", torch::zeros({ff, d}));
    l.w_down = register_parameter(b + "w_down", torch::zeros({d, ff}));
    layers_.push_back(l);
  }
  out_norm_ = register_parameter("out_norm", torch::ones({d}));
  output_ = register_parameter("output", torch::zeros({v, d}));
}

void LlamaModelImpl::freeze_below(int layer) {
  if (layer < 0 || layer > shape_.n_layer) {
    throw std::invalid_argument("freeze_below: layer " + std::to_string(layer) + " is not in [0, " +
                                std::to_string(shape_.n_layer) + "]");
  }
  tok_embd_.set_requires_grad(false);
  for (int i = 0; i < layer; ++i) {
    const Layer& l = layers_[size_t(i)];
    for (auto t : {l.attn_norm, l.wq, l.wk, l.wv, l.wo, l.ffn_norm, l.w_gate, l.w_up, l.w_down}) t.set_requires_grad(false);
  }
}

torch::Tensor LlamaModelImpl::rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + shape_.rms_norm_eps) * weight;
}

// x: [B, H, T, D]; rotates the pairs (x[2i], x[2i+1]) by position * base^(-2i/D).
torch::Tensor LlamaModelImpl::rope(const torch::Tensor& x, const torch::Tensor& cos,
                                   const torch::Tensor& sin) const {
  auto pairs = x.unflatten(-1, {x.size(-1) / 2, 2});
  auto x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);
  return torch::stack({x0 * cos - x1 * sin, x0 * sin + x1 * cos}, -1).flatten(-2);
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& tokens, const torch::Tensor& positions,
                                      const torch::Tensor& docs) {
  namespace F = torch::nn::functional;
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t H = shape_.n_head, Hkv = shape_.n_head_kv, D = shape_.head_dim();

  auto inv_freq = torch::pow(double(shape_.rope_freq_base),
                             -torch::arange(0, D, 2, torch::kFloat64) / double(D));
  auto angles = (positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq).to(torch::kFloat32);
  auto cos = angles.cos().unsqueeze(1), sin = angles.sin().unsqueeze(1);  // [B, 1, T, D/2]

  auto causal = torch::ones({T, T}, torch::kBool).tril();
  auto allowed = causal.unsqueeze(0) & (docs.unsqueeze(2) == docs.unsqueeze(1));  // [B, T, T]
  auto bias = torch::zeros({B, 1, T, T}).masked_fill(allowed.logical_not().unsqueeze(1),
                                                     -std::numeric_limits<float>::infinity());

  auto x = F::embedding(tokens, tok_embd_);
  const double scale = 1.0 / std::sqrt(double(D));
  for (const Layer& l : layers_) {
    auto h = rms_norm(x, l.attn_norm);
    auto q = F::linear(h, l.wq).view({B, T, H, D}).transpose(1, 2);
    auto k = F::linear(h, l.wk).view({B, T, Hkv, D}).transpose(1, 2);
    auto v = F::linear(h, l.wv).view({B, T, Hkv, D}).transpose(1, 2);
    q = rope(q, cos, sin);
    k = rope(k, cos, sin);
    if (Hkv != H) {
      k = k.repeat_interleave(H / Hkv, 1);
      v = v.repeat_interleave(H / Hkv, 1);
    }
    auto att = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale + bias, -1);
    auto o = torch::matmul(att, v).transpose(1, 2).reshape({B, T, H * D});
    x = x + F::linear(o, l.wo);
    h = rms_norm(x, l.ffn_norm);
    x = x + F::linear(torch::silu(F::linear(h, l.w_gate)) * F::linear(h, l.w_up), l.w_down);
  }
  return F::linear(rms_norm(x, out_norm_), output_);
}

std::vector<std::pair<std::string, torch::Tensor>> LlamaModelImpl::named_gguf_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> p;
  p.emplace_back("token_embd.weight", tok_embd_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const Layer& l = layers_[i];
    p.emplace_back(b + "attn_norm.weight", l.attn_norm);
    p.emplace_back(b + "attn_q.weight", l.wq);
    p.emplace_back(b + "attn_k.weight", l.wk);
    p.emplace_back(b + "attn_v.weight", l.wv);
    p.emplace_back(b + "attn_output.weight", l.wo);
    p.emplace_back(b + "ffn_norm.weight", l.ffn_norm);
    p.emplace_back(b + "ffn_gate.weight", l.w_gate);
    p.emplace_back(b + "ffn_up.weight", l.w_up);
    p.emplace_back(b + "ffn_down.weight", l.w_down);
  }
  p.emplace_back("output_norm.weight", out_norm_);
  p.emplace_back("output.weight", output_);
  return p;
}

void LlamaModelImpl::load_tensors(const std::vector<toy::NamedTensor>& tensors) {
  std::map<std::string, const toy::NamedTensor*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : named_gguf_parameters()) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw std::runtime_error("load_tensors: missing tensor " + name);
    const auto& data = it->second->data;
    if (int64_t(data.size()) != param.numel()) {
      throw std::runtime_error("load_tensors: tensor " + name + " has " + std::to_string(data.size()) +
                               " elements, the model needs " + std::to_string(param.numel()));
    }
    param.copy_(torch::from_blob(const_cast<float*>(data.data()), param.sizes(), torch::kFloat32));
  }
}

std::vector<toy::NamedTensor> LlamaModelImpl::to_tensors() const {
  auto layout = toy::llama_tensor_layout(shape_);
  auto params = named_gguf_parameters();
  for (size_t i = 0; i < layout.size(); ++i) {
    auto p = params[i].second.detach().contiguous();
    layout[i].data.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  }
  return layout;
}

}  // namespace ponder::trainer
