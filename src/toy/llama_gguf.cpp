#include "toy/llama_gguf.h"

#include <ggml.h>
#include <gguf.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

#include "toy/vocab.h"

namespace ponder::toy {

namespace {

void require(bool ok, const std::string& field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument("LlamaShape." + field + ": must be " + allowed);
}

// splitmix64: a portable generator, so random models are identical everywhere.
struct PortableRng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double((next() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]
  double normal() {
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
  }
};

bool is_norm(const std::string& name) { return name.find("norm") != std::string::npos; }

}  // namespace

int64_t NamedTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

void LlamaShape::validate() const {
  require(n_embd > 0, "n_embd", "> 0");
  require(n_layer > 0, "n_layer", "> 0");
  require(n_head > 0 && n_embd % n_head == 0, "n_head", "> 0 and divide n_embd");
  require(head_dim() % 2 == 0, "n_head", "such that n_embd / n_head is even (RoPE pairs)");
  require(n_head_kv > 0 && n_head % n_head_kv == 0, "n_head_kv", "> 0 and divide n_head");
  require(n_ff > 0, "n_ff", "> 0");
  require(n_ctx > 0, "n_ctx", "> 0");
  require(rope_freq_base > 0, "rope_freq_base", "> 0");
  require(rms_norm_eps > 0, "rms_norm_eps", "> 0");
}

int64_t LlamaShape::n_params() const {
  int64_t n = 0;
  for (const auto& t : llama_tensor_layout(*this)) n += t.n_elements();
  return n;
}

std::vector<NamedTensor> llama_tensor_layout(const LlamaShape& s) {
  const int64_t d = s.n_embd, kv = s.n_embd_kv(), ff = s.n_ff, v = kVocabSize;
  std::vector<NamedTensor> t;
  t.push_back({"token_embd.weight", {d, v}, {}});
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", {d}, {}});
    t.push_back({b + "attn_q.weight", {d, d}, {}});
    t.push_back({b + "attn_k.weight", {d, kv}, {}});
    t.push_back({b + "attn_v.weight", {d, kv}, {}});
    t.push_back({b + "attn_output.weight", {d, d}, {}});
    t.push_back({b + "ffn_norm.weight", {d}, {}});
    t.push_back({b + "ffn_gate.weight", {d, ff}, {}});
    t.push_back({b + "ffn_up.weight", {d, ff}, {}});
    t.push_back({b + "ffn_down.weight", {ff, d}, {}});
  }
  t.push_back({"output_norm.weight", {d}, {}});
  t.push_back({"output.weight", {d, v}, {}});
  return t;
}

std::vector<NamedTensor> random_llama_weights(const LlamaShape& shape, uint64_t seed, float std) {
  shape.validate();
  auto tensors = llama_tensor_layout(shape);
  PortableRng rng{seed};
  for (auto& t : tensors) {
    t.data.resize(size_t(t.n_elements()));
    for (float& x : t.data) x = is_norm(t.name) ? 1.0f : float(rng.normal() * std);
  }
  return tensors;
}

namespace {
ggml_type ggml_type_of(WeightType t) {
  switch (t) {
    case WeightType::f32: return GGML_TYPE_F32;
    case WeightType::f16: return GGML_TYPE_F16;
    case WeightType::bf16: return GGML_TYPE_BF16;
    case WeightType::q8_0: return GGML_TYPE_Q8_0;
    case WeightType::q4_0: return GGML_TYPE_Q4_0;
  }
  return GGML_TYPE_F32;
}

// general.file_type: llama.cpp's LLAMA_FTYPE_* for files whose matrices are all of t.
uint32_t llama_file_type(WeightType t) {
  switch (t) {
    case WeightType::f32: return 0;   // ALL_F32
    case WeightType::f16: return 1;   // MOSTLY_F16
    case WeightType::bf16: return 32;  // MOSTLY_BF16
    case WeightType::q8_0: return 7;  // MOSTLY_Q8_0
    case WeightType::q4_0: return 2;  // MOSTLY_Q4_0
  }
  return 0;
}
}  // namespace

void write_llama_gguf(const std::string& path, const LlamaShape& shape,
                      const std::vector<NamedTensor>& tensors, const GgufWriteOptions& options) {
  shape.validate();
  std::map<std::string, const NamedTensor*> by_name;
  for (const auto& t : tensors) by_name[t.name] = &t;

  std::unique_ptr<gguf_context, decltype(&gguf_free)> gguf(gguf_init_empty(), gguf_free);
  gguf_context* g = gguf.get();
  gguf_set_val_str(g, "general.architecture", "llama");
  gguf_set_val_str(g, "general.name", options.name.c_str());
  gguf_set_val_u32(g, "general.file_type", llama_file_type(options.matrix_type));
  gguf_set_val_u32(g, "llama.context_length", uint32_t(shape.n_ctx));
  gguf_set_val_u32(g, "llama.embedding_length", uint32_t(shape.n_embd));
  gguf_set_val_u32(g, "llama.block_count", uint32_t(shape.n_layer));
  gguf_set_val_u32(g, "llama.feed_forward_length", uint32_t(shape.n_ff));
  gguf_set_val_u32(g, "llama.attention.head_count", uint32_t(shape.n_head));
  gguf_set_val_u32(g, "llama.attention.head_count_kv", uint32_t(shape.n_head_kv));
  gguf_set_val_u32(g, "llama.rope.dimension_count", uint32_t(shape.head_dim()));
  gguf_set_val_f32(g, "llama.rope.freq_base", shape.rope_freq_base);
  gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", shape.rms_norm_eps);
  gguf_set_val_u32(g, "llama.vocab_size", uint32_t(kVocabSize));

  const auto vocab = toy_vocab();
  std::vector<const char*> texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const auto& e : vocab) {
    texts.push_back(e.text.c_str());
    scores.push_back(e.score);
    types.push_back(e.type);
  }
  gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
  gguf_set_val_str(g, "tokenizer.ggml.pre", "default");
  gguf_set_arr_str(g, "tokenizer.ggml.tokens", texts.data(), texts.size());
  gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores.data(), scores.size());
  gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
  gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", kBosToken);
  gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", kEosToken);
  gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", kUnkToken);
  gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
  gguf_set_val_bool(g, "tokenizer.ggml.add_space_prefix", false);
  if (!options.chat_template.empty()) {
    gguf_set_val_str(g, "tokenizer.chat_template", options.chat_template.c_str());
  }
  for (const auto& [key, value] : options.metadata) gguf_set_val_str(g, key.c_str(), value.c_str());

  const auto layout = llama_tensor_layout(shape);
  size_t bytes = ggml_tensor_overhead() * layout.size();
  for (const auto& t : layout) bytes += size_t(t.n_elements()) * sizeof(float) + 64;
  ggml_init_params params{bytes, nullptr, false};
  std::unique_ptr<ggml_context, decltype(&ggml_free)> ctx(ggml_init(params), ggml_free);
  if (!ctx) throw std::runtime_error("write_llama_gguf: cannot allocate tensor memory");

  for (const auto& want : layout) {
    auto it = by_name.find(want.name);
    if (it == by_name.end()) throw std::runtime_error("write_llama_gguf: missing tensor " + want.name);
    const NamedTensor& have = *it->second;
    if (have.ne != want.ne || int64_t(have.data.size()) != want.n_elements()) {
      throw std::runtime_error("write_llama_gguf: tensor " + want.name + " has the wrong shape");
    }
    const ggml_type type = is_norm(want.name) ? GGML_TYPE_F32 : ggml_type_of(options.matrix_type);
    if (want.ne[0] % ggml_blck_size(type) != 0) {
      throw std::runtime_error("write_llama_gguf: " + std::string(ggml_type_name(type)) + " needs rows of a multiple of " +
                               std::to_string(ggml_blck_size(type)) + " weights; " + want.name + "'s are " +
                               std::to_string(want.ne[0]));
    }
    ggml_tensor* tensor = want.ne.size() == 1 ? ggml_new_tensor_1d(ctx.get(), type, want.ne[0])
                                              : ggml_new_tensor_2d(ctx.get(), type, want.ne[0], want.ne[1]);
    ggml_set_name(tensor, want.name.c_str());
    if (type == GGML_TYPE_F32) {
      std::copy(have.data.begin(), have.data.end(), static_cast<float*>(tensor->data));
    } else {
      const int64_t rows = want.ne.size() == 1 ? 1 : want.ne[1];
      ggml_quantize_chunk(type, have.data.data(), tensor->data, 0, rows, want.ne[0], nullptr);
    }
    gguf_add_tensor(g, tensor);
  }
  errno = 0;
  if (!gguf_write_to_file(g, path.c_str(), false)) {
    const std::string why = errno != 0 ? std::string(": ") + std::strerror(errno) : "";
    throw std::runtime_error("write_llama_gguf: cannot write " + path + why);
  }
}

LlamaFile read_llama_gguf(const std::string& path) {
  ggml_context* raw_ctx = nullptr;
  gguf_init_params params{false, &raw_ctx};
  std::unique_ptr<gguf_context, decltype(&gguf_free)> gguf(gguf_init_from_file(path.c_str(), params), gguf_free);
  std::unique_ptr<ggml_context, decltype(&ggml_free)> ctx(raw_ctx, ggml_free);
  if (!gguf) throw std::runtime_error("read_llama_gguf: " + path + " is missing or not a GGUF file");
  const gguf_context* g = gguf.get();
  auto u32 = [&](const char* key) -> uint32_t {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) throw std::runtime_error("read_llama_gguf: " + path + " has no " + key);
    return gguf_get_val_u32(g, id);
  };
  auto f32 = [&](const char* key) -> float {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) throw std::runtime_error("read_llama_gguf: " + path + " has no " + key);
    return gguf_get_val_f32(g, id);
  };
  LlamaFile file;
  LlamaShape& s = file.shape;
  s.n_ctx = int(u32("llama.context_length"));
  s.n_embd = int(u32("llama.embedding_length"));
  s.n_layer = int(u32("llama.block_count"));
  s.n_ff = int(u32("llama.feed_forward_length"));
  s.n_head = int(u32("llama.attention.head_count"));
  s.n_head_kv = int(u32("llama.attention.head_count_kv"));
  s.rope_freq_base = f32("llama.rope.freq_base");
  s.rms_norm_eps = f32("llama.attention.layer_norm_rms_epsilon");
  s.validate();
  for (int64_t i = 0; i < gguf_get_n_kv(g); ++i) {
    const std::string key = gguf_get_key(g, i);
    if (key.rfind("ponder.", 0) == 0 && gguf_get_kv_type(g, i) == GGUF_TYPE_STRING) {
      file.metadata.emplace_back(key, gguf_get_val_str(g, i));
    }
  }
  file.tensors = llama_tensor_layout(s);
  for (auto& t : file.tensors) {
    const ggml_tensor* have = ggml_get_tensor(ctx.get(), t.name.c_str());
    if (!have) throw std::runtime_error("read_llama_gguf: " + path + " has no tensor " + t.name);
    if (ggml_nelements(have) != t.n_elements() || have->ne[0] != t.ne[0]) {
      throw std::runtime_error("read_llama_gguf: " + path + ": tensor " + t.name + " has the wrong shape");
    }
    t.data.resize(size_t(t.n_elements()));
    if (have->type == GGML_TYPE_F32) {
      const auto* src = static_cast<const float*>(have->data);
      std::copy(src, src + t.n_elements(), t.data.begin());
    } else if (have->type == GGML_TYPE_F16) {
      ggml_fp16_to_fp32_row(static_cast<const ggml_fp16_t*>(have->data), t.data.data(), t.n_elements());
    } else {
      throw std::runtime_error("read_llama_gguf: " + path + ": tensor " + t.name + " is " +
                               ggml_type_name(have->type) + ", only f32 and f16 are supported");
    }
  }
  return file;
}

}  // namespace ponder::toy
