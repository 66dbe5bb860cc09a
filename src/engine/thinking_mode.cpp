// Thinking modes by name (no llama.cpp here: the server's request parser is fuzzed alone).

#include <stdexcept>
#include <string>

#include "ponder/chat_template.h"

namespace ponder {

const char* thinking_mode_name(ThinkingMode mode) {
  switch (mode) {
    case ThinkingMode::automatic: return "auto";
    case ThinkingMode::on: return "on";
    case ThinkingMode::off: return "off";
  }
  return "?";
}

ThinkingMode parse_thinking_mode(std::string_view name) {
  if (name == "auto") return ThinkingMode::automatic;
  if (name == "on") return ThinkingMode::on;
  if (name == "off") return ThinkingMode::off;
  throw std::invalid_argument("thinking: '" + std::string(name) + "' is not one of auto, on, off");
}

}  // namespace ponder
