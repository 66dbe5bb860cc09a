#include "ponder/model.h"

#include <gguf.h>
#include <llama.h>
#include <log.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "engine/llama_glue.h"

#ifndef PONDER_SOURCE_MODELS_DIR
#error "PONDER_SOURCE_MODELS_DIR must name the source tree's models/ directory (CMakeLists.txt sets it)"
#endif

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
    // llama.cpp's common library (chat templates) logs on its own: quiet unless asked.
    common_log_set_verbosity_thold(-1);
    llama_backend_init();
  });
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

// The GGUF metadata of a file, read without its tensors, for the checks below.
class GgufMetadata {
 public:
  explicit GgufMetadata(const std::string& path)
      : ctx_(gguf_init_from_file(path.c_str(), {true, nullptr}), gguf_free) {}
  bool ok() const { return ctx_ != nullptr; }

  std::optional<std::string> string(const std::string& key) const {
    const int64_t id = gguf_find_key(ctx_.get(), key.c_str());
    if (id < 0 || gguf_get_kv_type(ctx_.get(), id) != GGUF_TYPE_STRING) return std::nullopt;
    return gguf_get_val_str(ctx_.get(), id);
  }

  // The integer values of a key (one, or an array's): empty when the key is absent or not
  // integers (llama.cpp reports a wrong type itself).
  std::vector<int64_t> integers(const std::string& key) const {
    const int64_t id = gguf_find_key(ctx_.get(), key.c_str());
    if (id < 0) return {};
    // gguf_get_*_data aborts on strings: only integer types are read.
    const gguf_type type = gguf_get_kv_type(ctx_.get(), id);
    if (type != GGUF_TYPE_ARRAY) {
      if (!is_integer(type)) return {};
      return {*integer(type, gguf_get_val_data(ctx_.get(), id), 0)};
    }
    const gguf_type element = gguf_get_arr_type(ctx_.get(), id);
    if (!is_integer(element)) return {};
    std::vector<int64_t> values;
    const void* data = gguf_get_arr_data(ctx_.get(), id);
    for (size_t i = 0; i < gguf_get_arr_n(ctx_.get(), id); ++i) values.push_back(*integer(element, data, i));
    return values;
  }

  // Every float value (single or in an array) of the keys starting with `prefix`.
  std::vector<std::pair<std::string, double>> reals(const std::string& prefix) const {
    std::vector<std::pair<std::string, double>> values;
    for (int64_t id = 0; id < gguf_get_n_kv(ctx_.get()); ++id) {
      const std::string key = gguf_get_key(ctx_.get(), id);
      if (!key.starts_with(prefix)) continue;
      gguf_type type = gguf_get_kv_type(ctx_.get(), id);
      const void* data = nullptr;
      size_t n = 1;
      if (type == GGUF_TYPE_ARRAY) {
        type = gguf_get_arr_type(ctx_.get(), id);
        if (type != GGUF_TYPE_FLOAT32 && type != GGUF_TYPE_FLOAT64) continue;
        data = gguf_get_arr_data(ctx_.get(), id);
        n = gguf_get_arr_n(ctx_.get(), id);
      } else if (type == GGUF_TYPE_FLOAT32 || type == GGUF_TYPE_FLOAT64) {
        data = gguf_get_val_data(ctx_.get(), id);
      } else {
        continue;
      }
      for (size_t i = 0; i < n; ++i) {
        values.emplace_back(key, type == GGUF_TYPE_FLOAT32 ? double(static_cast<const float*>(data)[i])
                                                           : static_cast<const double*>(data)[i]);
      }
    }
    return values;
  }

  // The strings of a string array; nullopt when absent or of another type.
  std::optional<std::vector<std::string_view>> strings(const std::string& key) const {
    const int64_t id = gguf_find_key(ctx_.get(), key.c_str());
    if (id < 0 || gguf_get_kv_type(ctx_.get(), id) != GGUF_TYPE_ARRAY ||
        gguf_get_arr_type(ctx_.get(), id) != GGUF_TYPE_STRING) {
      return std::nullopt;
    }
    std::vector<std::string_view> values;
    for (size_t i = 0; i < gguf_get_arr_n(ctx_.get(), id); ++i) values.emplace_back(gguf_get_arr_str(ctx_.get(), id, i));
    return values;
  }

 private:
  static bool is_integer(gguf_type type) {
    switch (type) {
      case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
      case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
        return true;
      default:
        return false;
    }
  }

  static std::optional<int64_t> integer(gguf_type type, const void* data, size_t i) {
    switch (type) {
      case GGUF_TYPE_UINT8: return static_cast<const uint8_t*>(data)[i];
      case GGUF_TYPE_INT8: return static_cast<const int8_t*>(data)[i];
      case GGUF_TYPE_UINT16: return static_cast<const uint16_t*>(data)[i];
      case GGUF_TYPE_INT16: return static_cast<const int16_t*>(data)[i];
      case GGUF_TYPE_UINT32: return static_cast<const uint32_t*>(data)[i];
      case GGUF_TYPE_INT32: return static_cast<const int32_t*>(data)[i];
      case GGUF_TYPE_INT64: return static_cast<const int64_t*>(data)[i];
      case GGUF_TYPE_UINT64: {
        const uint64_t v = static_cast<const uint64_t*>(data)[i];
        return v > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(v);
      }
      default: return std::nullopt;
    }
  }

  std::unique_ptr<gguf_context, decltype(&gguf_free)> ctx_;
};

// llama.cpp aborts the process (GGML_ASSERT) on some hyperparameters instead of failing
// the load: refuse those here, naming the key. Absent keys and wrong types are left to
// llama.cpp, which reports them as errors.
void check_model_metadata(const std::string& path) {
  const GgufMetadata meta(path);
  if (!meta.ok()) return;  // llama.cpp says why it cannot read the file
  const std::optional<std::string> arch = meta.string("general.architecture");
  if (!arch) return;
  auto refuse = [&](const std::string& key, const std::string& allowed, int64_t value) {
    throw ModelError("cannot load model " + path + ": " + key + " is " + std::to_string(value) + "; it must be " +
                     allowed);
  };
  // Each value of `key` (one, or one per layer) must lie in [lo, hi].
  auto require_in = [&](const std::string& key, int64_t lo, int64_t hi) {
    for (int64_t v : meta.integers(key)) {
      if (v < lo || v > hi) refuse(key, "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", v);
    }
  };
  const std::string a = *arch + ".";
  constexpr int64_t kMaxLayers = 512;    // llama.cpp's LLAMA_MAX_LAYERS
  constexpr int64_t kMaxExperts = 1024;  // llama.cpp's LLAMA_MAX_EXPERTS
  require_in(a + "block_count", 1, kMaxLayers);
  require_in(a + "embedding_length", 1, INT32_MAX);
  require_in(a + "context_length", 1, INT32_MAX);
  const std::vector<int64_t> layers = meta.integers(a + "block_count");
  if (!layers.empty()) require_in(a + "nextn_predict_layers", 0, layers[0]);

  // Every layer with attention heads needs key/value heads that divide them.
  const std::vector<int64_t> heads = meta.integers(a + "attention.head_count");
  const std::vector<int64_t> kv_heads = meta.integers(a + "attention.head_count_kv");
  auto at = [](const std::vector<int64_t>& v, size_t i) { return v.size() == 1 ? v[0] : v[i]; };
  if (!heads.empty() && !kv_heads.empty() && (heads.size() == 1 || kv_heads.size() == 1 || heads.size() == kv_heads.size())) {
    for (size_t i = 0; i < std::max(heads.size(), kv_heads.size()); ++i) {
      const int64_t h = at(heads, i), kv = at(kv_heads, i);
      if (h > 0 && kv > 0 && h % kv != 0) {
        refuse(a + "attention.head_count_kv", "a divisor of " + a + "attention.head_count (" + std::to_string(h) + ")",
               kv);
      }
    }
  }

  // Mixture of experts: llama.cpp asserts these relations.
  const std::vector<int64_t> experts = meta.integers(a + "expert_count");
  const int64_t n_expert = experts.empty() ? 0 : experts[0];
  require_in(a + "expert_count", 0, kMaxExperts);
  // Layers may route different numbers of experts; llama.cpp checks the largest.
  const std::vector<int64_t> used = meta.integers(a + "expert_used_count");  // absent: 0
  {
    const int64_t most = used.empty() ? 0 : *std::max_element(used.begin(), used.end());
    if (most < (n_expert > 0 ? 1 : 0) || most > n_expert) {
      refuse(a + "expert_used_count", n_expert > 0 ? "in [1, " + std::to_string(n_expert) + "] (the expert count)"
                                                    : "0 (the model has no experts)",
             most);
    }
  }
  require_in(a + "expert_group_count", 0, std::max<int64_t>(0, n_expert - 1));
  const std::vector<int64_t> groups = meta.integers(a + "expert_group_count");
  if (!groups.empty() && groups[0] > 1) {
    if (n_expert % groups[0] != 0) refuse(a + "expert_group_count", "a divisor of the expert count", groups[0]);
    require_in(a + "expert_group_used_count", 1, groups[0] - 1);
  }

  if (const auto rope = meta.string(a + "rope.scaling.type")) {
    static const char* const kRopeTypes[] = {"none", "linear", "yarn", "longrope"};
    if (std::find(std::begin(kRopeTypes), std::end(kRopeTypes), *rope) == std::end(kRopeTypes)) {
      throw ModelError("cannot load model " + path + ": " + a + "rope.scaling.type is '" + *rope +
                       "'; it must be none, linear, yarn or longrope");
    }
  }

  // Hyperparameters that are numbers only when finite (a NaN norm epsilon aborts the first
  // decode; a NaN rope base decodes garbage); norm epsilons also must not be negative.
  for (const auto& [key, value] : meta.reals(a)) {
    if (!std::isfinite(value)) {
      throw ModelError("cannot load model " + path + ": " + key + " is " + std::to_string(value) +
                       "; it must be a finite number");
    }
    if (key.ends_with("epsilon") && value < 0) {
      throw ModelError("cannot load model " + path + ": " + key + " is " + std::to_string(value) + "; it must be >= 0");
    }
  }

  // The vocabulary: ponder tokenizes, so it needs one (llama.cpp asserts on a model
  // without), and llama.cpp asserts that token texts are distinct.
  if (const auto tokenizer = meta.string("tokenizer.ggml.model"); tokenizer == "none" || tokenizer == "no_vocab") {
    throw ModelError("cannot load model " + path + ": tokenizer.ggml.model is '" + *tokenizer +
                     "'; ponder needs a model with a vocabulary");
  }
  if (const auto tokens = meta.strings("tokenizer.ggml.tokens")) {
    if (tokens->empty()) throw ModelError("cannot load model " + path + ": tokenizer.ggml.tokens is empty");
    std::unordered_set<std::string_view> seen;
    seen.reserve(tokens->size());
    for (size_t i = 0; i < tokens->size(); ++i) {
      if (!seen.insert((*tokens)[i]).second) {
        throw ModelError("cannot load model " + path + ": tokenizer.ggml.tokens has '" + std::string((*tokens)[i]) +
                         "' twice (token " + std::to_string(i) + "); token texts must be distinct");
      }
    }
  }
}

}  // namespace

std::string take_llama_errors() {
  LogState& s = log_state();
  std::lock_guard lock(s.mutex);
  std::string errors;
  errors.swap(s.last_errors);
  while (!errors.empty() && (errors.back() == '\n' || errors.back() == ' ')) errors.pop_back();
  return errors;
}

std::string models_dir() {
  const char* env = std::getenv("PONDER_MODELS_DIR");
  return env && *env ? std::string(env) : std::string(PONDER_SOURCE_MODELS_DIR);
}

std::string default_model_path(std::string_view name) { return models_dir() + "/" + std::string(name) + ".gguf"; }

void set_llama_logging(bool verbose) {
  init_backend_once();
  std::lock_guard lock(log_state().mutex);
  log_state().verbose = verbose;
  common_log_set_verbosity_thold(verbose ? LOG_DEFAULT_LLAMA : -1);
}

void ModelOptions::validate() const {
  if (gpu_layers < -1) {
    throw std::invalid_argument("ModelOptions.gpu_layers: must be >= -1 (-1 = all layers), not " +
                                std::to_string(gpu_layers));
  }
}

bool gpu_offload_supported() {
  init_backend_once();
  return llama_supports_gpu_offload();
}

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
  options.validate();
  init_backend_once();
  check_model_file(path);
  check_model_metadata(path);
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = options.gpu_layers;
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
  return std::shared_ptr<const Model>(new Model(path, model, options));
}

Model::Model(std::string path, llama_model* model, ModelOptions options)
    : path_(std::move(path)), options_(options), model_(model), vocab_(llama_model_get_vocab(model)) {
  if (const char* tmpl = llama_model_chat_template(model_, nullptr)) chat_template_ = tmpl;
  const int32_t n = llama_vocab_n_tokens(vocab_);
  pieces_.resize(size_t(n));
  std::vector<char> buf(256);
  auto piece = [&](Token t, bool special) {
    int32_t len = llama_token_to_piece(vocab_, t, buf.data(), int32_t(buf.size()), 0, special);
    if (len < 0) {
      buf.resize(size_t(-len));
      len = llama_token_to_piece(vocab_, t, buf.data(), int32_t(buf.size()), 0, special);
    }
    return std::string(buf.data(), size_t(std::max(len, 0)));
  };
  for (Token t = 0; t < n; ++t) {
    pieces_[size_t(t)] = piece(t, false);
    max_token_bytes_ = std::max({max_token_bytes_, int64_t(pieces_[size_t(t)].size()), int64_t(piece(t, true).size())});
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
int32_t Model::n_embd() const { return llama_model_n_embd_out(model_); }

bool Model::supports_rollback() const {
  return !llama_model_is_recurrent(model_) && !llama_model_is_hybrid(model_);
}

std::string Model::description() const {
  char buf[256];
  llama_model_desc(model_, buf, sizeof(buf));
  return buf;
}

}  // namespace ponder
