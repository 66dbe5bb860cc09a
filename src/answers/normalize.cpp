// normalize_answer: tidy the text to a fixed point, then read it as a number or keep it as text.
//
//   what                               becomes          why
//   "$", "\$", "\(", "\)", "\[", "\]"  " "              math delimiters and currency
//   \text{x} \mathrm{x} \mbox{x} ...   " x "            a unit or a word, not markup
//   \boxed{x} \fbox{x}                 " x "            the answer inside
//   \left \right \left. \displaystyle  " "              sizing only
//   \, \; \: \! \> "\ " "~"            " "              spacing
//   \dfrac \tfrac                      \frac            same value
//   "\%"                               "%"              then dropped after a number: "50%" = "50",
//                                                       as graders compare the number written
//   ^\circ ^{\circ} U+00B0             " "              degrees
//   U+2212; U+00A0 U+2009 U+202F       "-"; " "         Unicode minus and spaces
//   A-Z                                a-z              ASCII only; other bytes stay as they are
//   blanks                             one " " between two word characters (ASCII letters and
//                                      digits, non-ASCII bytes), none elsewhere: "x + 1" = "x+1"
//   leading ,;:!?*"` trailing .,;:!?*"` and '...' pairs: removed ("42." = "42", "**42**" = "42")
//
// Then `number_key` (numbers.h) reads integers, decimals, a/b, \frac, a sign, "1,234"
// separators, a leading "x=" or "answer:", a trailing "%" and unit words ("42 apples").
// Text that is not one number keeps its tidied form with ", " after each comma, so that "1,23"
// (a list or a decimal comma, never 123) and "1, 23" agree and no text key reads as a number.
// Not numbers: scientific notation ("1e5"), "1 1/2", "1,23", "3.14.15", division by zero.

#include <string>
#include <vector>

#include "answers/numbers.h"
#include "answers/text.h"
#include "ponder/answers.h"

namespace ponder {
namespace {

using answers::has_at;
using answers::is_alpha;

// Commands whose braced argument is kept: "\text{ cm}" -> " cm ".
constexpr std::string_view kUnwrap[] = {"text",   "textbf", "textit", "textrm", "texttt", "mathrm",
                                        "mathbf", "mathit", "mbox",   "boxed",  "fbox"};

bool unwraps(std::string_view name) {
  for (auto n : kUnwrap)
    if (n == name) return true;
  return false;
}

// One left-to-right pass over LaTeX markup and the few non-ASCII characters with a meaning.
// What it removes becomes a blank, so that removing never joins its neighbours into a new
// command ("\bo\left.xed" is not "\boxed"); tidy() drops the blanks that do not separate words.
std::string strip_markup(std::string_view s) {
  const auto close = answers::match_braces(s);
  std::vector<bool> unwrapped_close(s.size(), false);
  std::string out;
  out.reserve(s.size());
  auto blank = [&out](size_t& i, size_t n) {
    out += ' ';
    i += n;
  };
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (unwrapped_close[i] || c == '$' || c == '~') {
      blank(i, 1);
    } else if (c == '^' && has_at(s, i, "^\\circ") && !(i + 6 < s.size() && is_alpha(s[i + 6]))) {
      blank(i, 6);
    } else if (c == '^' && has_at(s, i, "^{\\circ}")) {
      blank(i, 8);
    } else if (answers::is_non_ascii(c) && has_at(s, i, "\u2212")) {
      out += '-';
      i += 3;
    } else if (answers::is_non_ascii(c) && (has_at(s, i, "\u00a0") || has_at(s, i, "\u00b0"))) {
      blank(i, 2);
    } else if (answers::is_non_ascii(c) && (has_at(s, i, "\u2009") || has_at(s, i, "\u202f"))) {
      blank(i, 3);
    } else if (c == '\\' && i + 1 < s.size()) {
      const char d = s[i + 1];
      if (d == '%') {
        out += '%';
        i += 2;
      } else if (std::string_view("$()[]!,;:> ").find(d) != std::string_view::npos) {
        blank(i, 2);  // "\$", math delimiters, spacing
      } else if (is_alpha(d)) {
        size_t j = i + 1;
        while (j < s.size() && is_alpha(s[j])) ++j;
        const std::string_view name = s.substr(i + 1, j - i - 1);
        if (name == "left" || name == "right") {
          blank(i, j - i + (j < s.size() && s[j] == '.' ? 1 : 0));
        } else if (name == "displaystyle") {
          blank(i, j - i);
        } else if (name == "dfrac" || name == "tfrac") {
          out += "\\frac";
          i = j;
        } else if (unwraps(name) && j < s.size() && close[j] != std::string_view::npos) {
          unwrapped_close[close[j]] = true;
          blank(i, j + 1 - i);
        } else {
          out.append(s.substr(i, j - i));
          i = j;
        }
      } else {
        out.append(s.substr(i, 2));  // "\{", "\\": the pair stays together
        i += 2;
      }
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// Lower case, blanks collapsed, surrounding punctuation removed.
std::string tidy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (answers::is_space(s[i])) {
      size_t j = i;
      while (j < s.size() && answers::is_space(s[j])) ++j;
      if (!out.empty() && j < s.size() && answers::is_word(out.back()) && answers::is_word(s[j])) out += ' ';
      i = j;
    } else {
      out += answers::to_lower(s[i++]);
    }
  }
  std::string_view v = out;
  constexpr std::string_view kLeading = ",;:!?*\"`", kTrailing = ".,;:!?*\"`";
  while (!v.empty()) {
    if (answers::is_space(v.front()) || kLeading.find(v.front()) != std::string_view::npos) {
      v.remove_prefix(1);
    } else if (answers::is_space(v.back()) || kTrailing.find(v.back()) != std::string_view::npos) {
      v.remove_suffix(1);
    } else if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
      v.remove_prefix(1);
      v.remove_suffix(1);
    } else {
      break;
    }
  }
  return std::string(v);
}

// Lower-casing ("\TEXT{5}"), dropping a blank ("\text {5}") or a quote ("'\text{5}'") can make
// markup that a second pass removes; repeating to a fixed point makes normalize_answer
// idempotent. After the first pass every change shortens the text, so this ends, and in
// practice within three passes.
std::string tidy_to_fixed_point(std::string_view answer) {
  std::string s = tidy(strip_markup(answer));
  while (true) {
    std::string next = tidy(strip_markup(s));
    if (next == s) return s;
    s = std::move(next);
  }
}

}  // namespace

std::string normalize_answer(std::string_view answer) {
  const std::string s = tidy_to_fixed_point(answer);
  if (auto key = answers::number_key(s)) return *key;
  std::string key;
  key.reserve(s.size() + 8);
  for (char c : s) {
    key += c;
    if (c == ',') key += ' ';
  }
  return key;
}

bool answers_equivalent(std::string_view a, std::string_view b) {
  return normalize_answer(a) == normalize_answer(b);
}

}  // namespace ponder
