#pragma once
// A GGUF model loaded once and shared (read-only) by every engine and request.

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct llama_model;
struct llama_vocab;

namespace ponder {

using Token = int32_t;

// Any failure to load or use a model file: the message names the file and the cause.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct ModelOptions {
  bool use_mmap = true;
  // Layers whose weights go to a GPU (llama_model_params::n_gpu_layers); -1 = all. A build
  // of llama.cpp without a GPU backend keeps every layer on the CPU whatever this says
  // (gpu_offload_supported() tells which build this is).
  int gpu_layers = 0;

  void validate() const;  // throws std::invalid_argument naming the field
};

// Whether the llama.cpp this was built with can put layers on a GPU.
bool gpu_offload_supported();

class Model {
 public:
  // Throws ModelError for a missing, unreadable, truncated, non-GGUF or unsupported file,
  // or one whose hyperparameters llama.cpp would abort on (the message names the key).
  static std::shared_ptr<const Model> load(const std::string& path, const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // `add_bos`: prepend BOS when the model asks for it; `parse_special`: turn spelled-out
  // control tokens (e.g. "<|im_end|>") into their ids instead of plain text.
  std::vector<Token> tokenize(std::string_view text, bool add_bos, bool parse_special = false) const;
  // Control tokens are dropped unless `render_special`.
  std::string detokenize(std::span<const Token> tokens, bool render_special = false) const;
  // The text one token contributes to a detokenized string ("" for control tokens).
  std::string token_piece(Token token) const;
  // The most bytes of text one token can stand for (control tokens spelled out
  // included; at least 4, an unknown character becoming one token): a text of B bytes
  // takes at least B / max_token_bytes() tokens.
  int64_t max_token_bytes() const { return max_token_bytes_; }

  bool has_chat_template() const { return !chat_template_.empty(); }
  // The model's chat template applied to the messages (llama.cpp's built-in template
  // engine), ending with the assistant turn opened when `add_assistant`. A model without
  // a template (the toy models) gets each message's content followed by a newline. Throws ModelError when the
  // model's template is not one llama.cpp supports.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  bool add_assistant = true) const;

  Token bos() const;
  Token eos() const;
  bool is_end_of_generation(Token token) const;
  int32_t n_vocab() const;
  int32_t n_ctx_train() const;
  int64_t n_params() const;
  // The width of its hidden states (what a difficulty probe reads).
  int32_t n_embd() const;
  // Recurrent and hybrid models cannot drop a sequence's tail (truncate).
  bool supports_rollback() const;
  const std::string& path() const { return path_; }
  std::string description() const;
  // The options it was loaded with (gpu_layers as asked, also where nothing was offloaded).
  const ModelOptions& options() const { return options_; }

  llama_model* raw() const { return model_; }
  const llama_vocab* vocab() const { return vocab_; }

 private:
  Model(std::string path, llama_model* model, ModelOptions options);

  std::string path_;
  ModelOptions options_;
  llama_model* model_;
  const llama_vocab* vocab_;
  std::string chat_template_;
  std::vector<std::string> pieces_;  // token_piece cache, indexed by token
  int64_t max_token_bytes_ = 4;
};

// The directory of the bundled models: $PONDER_MODELS_DIR when set (and not empty),
// else the source tree's models/ (fixed at build time).
std::string models_dir();
// models_dir() + "/" + name + ".gguf": a bundled model; by default the toy reasoner that
// the commands use without -m.
std::string default_model_path(std::string_view name = "toy-reasoner-l");

// Routes llama.cpp's log lines: dropped (default) or to stderr. Errors are always kept
// so that load failures can say what llama.cpp reported.
void set_llama_logging(bool verbose);

}  // namespace ponder
