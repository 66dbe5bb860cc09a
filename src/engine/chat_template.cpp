// ChatTemplate: llama.cpp's Jinja chat templates (common/chat.h), for thinking control.

#include "ponder/chat_template.h"

#include <chat.h>

#include <chrono>
#include <stdexcept>

namespace ponder {

struct ChatTemplate::Templates {
  common_chat_templates_ptr ptr;
};

namespace {

std::string trimmed_end(const std::string& text) {
  const size_t end = text.find_last_not_of(" \t\r\n");
  return end == std::string::npos ? std::string() : text.substr(0, end + 1);
}

common_chat_params render(const common_chat_templates* templates, const std::vector<ChatMessage>& messages,
                          bool enable_thinking, bool add_assistant) {
  common_chat_templates_inputs inputs;
  for (const auto& m : messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    inputs.messages.push_back(std::move(msg));
  }
  inputs.add_generation_prompt = add_assistant;
  inputs.enable_thinking = enable_thinking;
  // Asking for the reasoning to be told apart is what makes llama.cpp report the tags.
  inputs.reasoning_format = COMMON_REASONING_FORMAT_DEEPSEEK;
  // The date some templates print: fixed, so that a prompt depends only on its messages.
  inputs.now = std::chrono::system_clock::time_point{};
  return common_chat_templates_apply(templates, inputs);
}

}  // namespace

ChatTemplate::ChatTemplate(const Model& model, std::string source) : model_(model.path()) {
  if (source.empty() && !model.has_chat_template()) {
    throw ModelError("model " + model_ + " has no chat template (so no thinking mode)");
  }
  templates_ = std::make_unique<Templates>();
  try {
    templates_->ptr = common_chat_templates_init(model.raw(), source);
    // What llama.cpp's analysis of the template finds its thinking tags to be.
    const common_chat_params probe = render(templates_->ptr.get(), {{"user", "test"}}, true, true);
    if (probe.supports_thinking && !probe.thinking_start_tag.empty() && !probe.thinking_end_tags.empty()) {
      tags_ = {probe.thinking_start_tag, probe.thinking_end_tags.front()};
    }
  } catch (const std::exception& e) {
    throw ModelError("the chat template of " + model_ + " cannot be read by llama.cpp's Jinja engine: " + e.what());
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, ThinkingMode thinking,
                                bool add_assistant) const {
  if (thinking != ThinkingMode::automatic && !supports_thinking()) {
    throw std::invalid_argument(std::string("thinking ") + thinking_mode_name(thinking) + ": the chat template of " +
                                model_ + " has no thinking block");
  }
  std::string prompt;
  try {
    prompt = render(templates_->ptr.get(), messages, thinking != ThinkingMode::off, add_assistant).prompt;
  } catch (const std::exception& e) {
    throw ModelError("the chat template of " + model_ + " failed to render: " + e.what());
  }
  if (thinking == ThinkingMode::automatic || !add_assistant) return prompt;
  // Templates differ in what enable_thinking does (some open the block themselves,
  // some close an empty one, some ignore it): make the prompt end as asked either way.
  const std::string tail = trimmed_end(prompt);
  const bool ends_open = tail.ends_with(tags_.start);
  const bool ends_closed = tail.ends_with(tags_.end);
  if (thinking == ThinkingMode::on) {
    if (!ends_open) prompt += tags_.start + "\n";
  } else if (ends_open) {
    prompt += "\n" + tags_.end + "\n\n";
  } else if (!ends_closed) {
    prompt += tags_.start + "\n\n" + tags_.end + "\n\n";
  }
  return prompt;
}

ThinkingBudget ChatTemplate::thinking_budget(int tokens) const {
  if (!supports_thinking()) {
    throw std::invalid_argument("thinking budget: the chat template of " + model_ + " has no thinking block");
  }
  if (tokens < 0) throw std::invalid_argument("thinking budget: must be >= 0");
  return {tokens, tags_.start, tags_.end, "\n" + tags_.end + "\n\n"};
}

}  // namespace ponder
