#include "ponder/model.h"

#include <llama.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace ponder {

namespace {

// llama.cpp reports why a load failed only through its log; keep the last error lines.
struct LogState {
  std::mutex mutex;
  bool verbose = false;
  std::string last_errors;
};

LogState& log_state() {
  static LogState state;
  return state;
}

void log_callback(ggml_log_level level, const char* text, void*) {
  LogState& s = log_state();
  std::lock_guard lock(s.mutex);
  if (level == GGML_LOG_LEVEL_ERROR) {
    s.last_errors += text;
    if (s.last_errors.size() > 4096) s.last_errors.erase(0, s.last_errors.size() - 4096);
  }
  if (s.verbose) std::fputs(text, stderr);
}

void init_backend_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(log_callback, nullptr);
    llama_backend_init();
  });
}

std::string take_llama_errors() {
  LogState& s = log_state();
  std::lock_guard lock(s.mutex);
  std::string errors;
  errors.swap(s.last_errors);
  while (!errors.empty() && (errors.back() == '\n' || errors.back() == ' ')) errors.pop_back();
  return errors;
}

// Checks what can be said clearly before llama.cpp sees the file.
void check_model_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError("model file not found: " + path);
  if (!fs::is_regular_file(path, ec)) throw ModelError("model path is not a regular file: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError("cannot open model file: " + path);
  std::array<char, 4> magic{};
  in.read(magic.data(), magic.size());
  if (in.gcount() < 4) throw ModelError("model file is empty or truncated (no GGUF header): " + path);
  if (std::memcmp(magic.data(), "GGUF", 4) != 0) {
    throw ModelError("not a GGUF model file (bad magic): " + path);
  }
}

}  // namespace

void set_llama_logging(bool verbose) {
  init_backend_once();
  std::lock_guard lock(log_state().mutex);
  log_state().verbose = verbose;
}

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
  init_backend_once();
  check_model_file(path);
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  if (!options.use_mmap) params.load_mode = LLAMA_LOAD_MODE_NONE;
  take_llama_errors();
  llama_model* model = llama_model_load_from_file(path.c_str(), params);
  if (model == nullptr) {
    std::string why = take_llama_errors();
    throw ModelError("cannot load model " + path + ": " +
                     (why.empty() ? "llama.cpp rejected the file" : why));
  }
  if (!llama_model_has_decoder(model) || llama_model_has_encoder(model)) {
    llama_model_free(model);
    throw ModelError("unsupported model " + path + ": ponder needs a decoder-only model");
  }
  return std::shared_ptr<const Model>(new Model(path, model));
}

Model::Model(std::string path, llama_model* model)
    : path_(std::move(path)), model_(model), vocab_(llama_model_get_vocab(model)) {
  if (const char* tmpl = llama_model_chat_template(model_, nullptr)) chat_template_ = tmpl;
  const int32_t n = llama_vocab_n_tokens(vocab_);
  pieces_.resize(size_t(n));
  std::vector<char> buf(256);
  for (Token t = 0; t < n; ++t) {
    int32_t len = llama_token_to_piece(vocab_, t, buf.data(), int32_t(buf.size()), 0, false);
    if (len < 0) {
      buf.resize(size_t(-len));
      len = llama_token_to_piece(vocab_, t, buf.data(), int32_t(buf.size()), 0, false);
    }
    pieces_[size_t(t)].assign(buf.data(), size_t(std::max(len, 0)));
  }
}

Model::~Model() { llama_model_free(model_); }

std::vector<Token> Model::tokenize(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<Token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab_, text.data(), int32_t(text.size()), tokens.data(),
                             int32_t(tokens.size()), add_bos, parse_special);
  if (n < 0) {
    if (n == INT32_MIN) throw ModelError("text too long to tokenize");
    tokens.resize(size_t(-n));
    n = llama_tokenize(vocab_, text.data(), int32_t(text.size()), tokens.data(),
                       int32_t(tokens.size()), add_bos, parse_special);
  }
  tokens.resize(size_t(std::max(n, 0)));
  return tokens;
}

std::string Model::detokenize(std::span<const Token> tokens, bool render_special) const {
  std::string text(tokens.size() * 4 + 16, '\0');
  int32_t n = llama_detokenize(vocab_, tokens.data(), int32_t(tokens.size()), text.data(),
                               int32_t(text.size()), false, render_special);
  if (n < 0) {
    text.resize(size_t(-n));
    n = llama_detokenize(vocab_, tokens.data(), int32_t(tokens.size()), text.data(),
                         int32_t(text.size()), false, render_special);
  }
  text.resize(size_t(std::max(n, 0)));
  return text;
}

std::string Model::token_piece(Token token) const {
  if (token < 0 || size_t(token) >= pieces_.size()) return {};
  return pieces_[size_t(token)];
}

std::string Model::apply_chat_template(const std::vector<ChatMessage>& messages,
                                       bool add_assistant) const {
  if (chat_template_.empty()) {
    std::string text;
    for (const auto& m : messages) text += m.content + "\n";
    return text;
  }
  std::vector<llama_chat_message> chat;
  size_t total = 0;
  for (const auto& m : messages) {
    chat.push_back({m.role.c_str(), m.content.c_str()});
    total += m.role.size() + m.content.size();
  }
  std::string out(total * 2 + 256, '\0');
  int32_t n = llama_chat_apply_template(chat_template_.c_str(), chat.data(), chat.size(),
                                        add_assistant, out.data(), int32_t(out.size()));
  if (n > int32_t(out.size())) {
    out.resize(size_t(n));
    n = llama_chat_apply_template(chat_template_.c_str(), chat.data(), chat.size(), add_assistant,
                                  out.data(), int32_t(out.size()));
  }
  if (n < 0) throw ModelError("the chat template of " + path_ + " is not supported by llama.cpp");
  out.resize(size_t(n));
  return out;
}

Token Model::bos() const { return llama_vocab_bos(vocab_); }
Token Model::eos() const { return llama_vocab_eos(vocab_); }
bool Model::is_end_of_generation(Token token) const { return llama_vocab_is_eog(vocab_, token); }
int32_t Model::n_vocab() const { return llama_vocab_n_tokens(vocab_); }
int32_t Model::n_ctx_train() const { return llama_model_n_ctx_train(model_); }
int64_t Model::n_params() const { return int64_t(llama_model_n_params(model_)); }

bool Model::supports_rollback() const {
  return !llama_model_is_recurrent(model_) && !llama_model_is_hybrid(model_);
}

std::string Model::description() const {
  char buf[256];
  llama_model_desc(model_, buf, sizeof(buf));
  return buf;
}

}  // namespace ponder
