#pragma once
// Writes llama-architecture GGUF files with the toy vocabulary: random-weight models for
// engine tests and benchmarks, and the trained toy models (the trainer hands its weights
// here). Stock llama.cpp loads the result.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ponder::toy {

struct LlamaShape {
  int n_embd = 256;
  int n_layer = 6;
  int n_head = 4;
  int n_head_kv = 4;  // < n_head: grouped-query attention
  int n_ff = 768;
  int n_ctx = 512;  // context_length written to the file
  float rope_freq_base = 10000.0f;
  float rms_norm_eps = 1e-5f;

  int head_dim() const { return n_embd / n_head; }
  int n_embd_kv() const { return head_dim() * n_head_kv; }
  int64_t n_params() const;
  // Throws std::invalid_argument naming the field that is out of range.
  void validate() const;
};

// One weight tensor; `ne` in ggml order (ne[0] is the contiguous dimension, so a torch
// Linear weight [out, in] is ne = {in, out} with the same bytes).
struct NamedTensor {
  std::string name;
  std::vector<int64_t> ne;
  std::vector<float> data;

  int64_t n_elements() const;
};

// Names and shapes of every tensor of a llama model with this shape (data left empty).
std::vector<NamedTensor> llama_tensor_layout(const LlamaShape& shape);

// Deterministic random weights (same seed, same bytes on every platform): matrices
// ~ N(0, std^2), norm weights 1.
std::vector<NamedTensor> random_llama_weights(const LlamaShape& shape, uint64_t seed, float std);

// q8_0 and q4_0 are ggml's block quantisations (32 weights a block): the bench models'
// stand-in for the quantised weights real models are run with.
enum class WeightType { f32, f16, bf16, q8_0, q4_0 };

struct GgufWriteOptions {
  std::string name = "ponder-toy";  // general.name
  WeightType matrix_type = WeightType::f32;  // norms stay f32 whatever this says
  std::string chat_template;  // empty: none written
  // Extra string metadata written as is (e.g. {"ponder.toy.role", "prm"}).
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Writes the model; throws std::runtime_error if a tensor is missing or misshapen or
// the file cannot be written.
void write_llama_gguf(const std::string& path, const LlamaShape& shape,
                      const std::vector<NamedTensor>& tensors, const GgufWriteOptions& options);

// A llama GGUF read back: its shape, its tensors as f32 (in llama_tensor_layout order)
// and its string metadata under "ponder." (as written through GgufWriteOptions::metadata).
struct LlamaFile {
  LlamaShape shape;
  std::vector<NamedTensor> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Reads a file with f32 or f16 matrices and the toy vocabulary size; throws
// std::runtime_error naming the file and what is missing or unsupported.
LlamaFile read_llama_gguf(const std::string& path);

}  // namespace ponder::toy
