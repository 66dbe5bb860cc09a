#pragma once
// A model's chat template run by llama.cpp's Jinja engine (its `common` library), for what
// the built-in template code of Model::apply_chat_template cannot do: thinking-mode
// control. A template that knows a thinking block (Qwen3's <think>...</think>, and the
// others llama.cpp recognises) can have it forced open, forbidden, or left to the model.
//
//   ChatTemplate chat(*model);                      // the model's own template
//   if (chat.supports_thinking()) {
//     std::string prompt = chat.apply({{"user", q}}, ThinkingMode::off);
//     StopParams stop;
//     stop.thinking = chat.thinking_budget(256);    // close the block after 256 tokens
//   }

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ponder/model.h"
#include "ponder/sampling.h"

namespace ponder {

enum class ThinkingMode {
  automatic,  // as the template renders it by default: the model decides
  on,         // the prompt ends inside an open thinking block: the model thinks first
  off,        // the prompt holds an empty, closed block: the model answers at once
};
// "auto", "on", "off".
const char* thinking_mode_name(ThinkingMode mode);
// Throws std::invalid_argument naming the allowed values.
ThinkingMode parse_thinking_mode(std::string_view name);

// The tags of a template's thinking block, as llama.cpp's template analysis finds them.
struct ThinkingTags {
  std::string start;  // e.g. "<think>"
  std::string end;    // e.g. "</think>"
};

class ChatTemplate {
 public:
  // The model's own template (`tokenizer.chat_template`), or `source` (Jinja) in its
  // place. Throws ModelError when there is none (the toy models have no template) or it
  // does not parse, naming the model.
  explicit ChatTemplate(const Model& model, std::string source = "");
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  bool supports_thinking() const { return !tags_.start.empty() && !tags_.end.empty(); }
  // Empty strings when the template has no thinking block.
  const ThinkingTags& thinking_tags() const { return tags_; }

  // The messages rendered (the assistant turn opened when `add_assistant`). `on` and
  // `off` need supports_thinking() (else std::invalid_argument naming the model): `on`
  // renders with enable_thinking and opens the block if the template did not; `off`
  // renders without it and closes an empty block if the template did not. Throws
  // ModelError when the template fails to render.
  std::string apply(const std::vector<ChatMessage>& messages, ThinkingMode thinking = ThinkingMode::automatic,
                    bool add_assistant = true) const;

  // A budget of `tokens` thinking tokens for StopParams::thinking: the engine closes the
  // block with "\n" + end tag + "\n\n" once the model has generated that many inside
  // it. Needs supports_thinking() (else std::invalid_argument).
  ThinkingBudget thinking_budget(int tokens) const;

 private:
  struct Templates;
  std::string model_;  // the model's file, for messages
  std::unique_ptr<Templates> templates_;
  ThinkingTags tags_;
};

}  // namespace ponder
