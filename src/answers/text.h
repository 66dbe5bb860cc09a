#pragma once
// Byte-level helpers shared by the answer extractors and the normaliser. Text is UTF-8 but
// every rule is ASCII: bytes >= 0x80 are never spaces, digits or letters, only "word" bytes.

#include <cstddef>
#include <string_view>
#include <vector>

namespace ponder::answers {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
inline bool is_non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }
// Part of a word or a number: whitespace between two of these is significant.
inline bool is_word(char c) { return is_alnum(c) || is_non_ascii(c); }
inline char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Whether `s` holds `lower` at `pos`, ignoring ASCII case (`lower` is lower-case).
inline bool has_at_nocase(std::string_view s, size_t pos, std::string_view lower) {
  if (pos > s.size() || s.size() - pos < lower.size()) return false;
  for (size_t i = 0; i < lower.size(); ++i)
    if (to_lower(s[pos + i]) != lower[i]) return false;
  return true;
}

inline bool has_at(std::string_view s, size_t pos, std::string_view lit) {
  return pos <= s.size() && s.substr(pos).starts_with(lit);
}

// close[i]: the position of the '}' closing the '{' at i, or npos when i holds no balanced '{'.
// A backslash escapes the next byte, so "\{" and "\}" are literal braces, as in LaTeX.
std::vector<size_t> match_braces(std::string_view s);

}  // namespace ponder::answers
