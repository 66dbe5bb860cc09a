#include "answers/text.h"

namespace ponder::answers {

std::vector<size_t> match_braces(std::string_view s) {
  std::vector<size_t> close(s.size(), std::string_view::npos);
  std::vector<size_t> open;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      open.push_back(i);
    } else if (s[i] == '}' && !open.empty()) {
      close[open.back()] = i;
      open.pop_back();
    }
  }
  return close;
}

}  // namespace ponder::answers
