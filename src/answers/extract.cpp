// extract_answer: each rule lists its candidates and the last usable one wins. A candidate is
// usable when it is not blank and its key is not empty (a lone "$" is no answer).

#include <algorithm>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "answers/text.h"
#include "ponder/answers.h"

namespace ponder {
namespace {

using answers::has_at;
using answers::has_at_nocase;
using answers::is_alnum;
using answers::is_alpha;
using answers::is_digit;
using answers::is_space;
using answers::is_word;
constexpr size_t npos = std::string_view::npos;

struct RuleName {
  AnswerRule rule;
  const char* name;
};
constexpr RuleName kRuleNames[] = {
    {AnswerRule::automatic, "auto"},
    {AnswerRule::hash_mark, "hash"},
    {AnswerRule::boxed, "boxed"},
    {AnswerRule::answer_is, "answer-is"},
    {AnswerRule::last_number, "last-number"},
    {AnswerRule::option_letter, "option"},
    {AnswerRule::regex, "regex"},
};

struct Span {
  size_t begin = 0, end = 0;
};

std::optional<Answer> usable(std::string_view text, Span span) {
  const std::string_view s = answers::trim(text.substr(span.begin, span.end - span.begin));
  if (s.empty()) return std::nullopt;
  std::string key = normalize_answer(s);
  if (key.empty()) return std::nullopt;
  return Answer{std::string(s), std::move(key)};
}

// Candidates are found in text order but built lazily from the last, since building one can
// cost a scan to the end of its line.
template <class MakeSpan>
std::optional<Answer> last_usable(std::string_view text, const std::vector<size_t>& marks,
                                  MakeSpan make_span) {
  for (auto it = marks.rbegin(); it != marks.rend(); ++it)
    if (auto a = usable(text, make_span(*it))) return a;
  return std::nullopt;
}

std::optional<Answer> last_usable(std::string_view text, const std::vector<Span>& spans) {
  for (auto it = spans.rbegin(); it != spans.rend(); ++it)
    if (auto a = usable(text, *it)) return a;
  return std::nullopt;
}

// "#### 42": to the end of the line or the next run of four or more '#'.
std::optional<Answer> by_hash_mark(std::string_view t) {
  std::vector<Span> runs;
  for (size_t i = 0; i < t.size();) {
    if (t[i] != '#') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && t[j] == '#') ++j;
    if (j - i >= 4) runs.push_back({i, j});
    i = j;
  }
  std::vector<Span> spans;
  for (size_t k = 0; k < runs.size(); ++k) {
    size_t end = std::min(t.find('\n', runs[k].end), t.size());
    if (k + 1 < runs.size()) end = std::min(end, runs[k + 1].begin);
    spans.push_back({runs[k].end, end});
  }
  return last_usable(t, spans);
}

// The content of each "\boxed{...}" / "\fbox{...}", braces balanced, in order of the command.
std::vector<Span> boxed_contents(std::string_view t) {
  const auto close = answers::match_braces(t);
  std::vector<Span> spans;
  for (size_t i = t.find('\\'); i != npos; i = t.find('\\', i + 1)) {
    size_t j;
    if (has_at(t, i, "\\boxed")) {
      j = i + 6;
    } else if (has_at(t, i, "\\fbox")) {
      j = i + 5;
    } else {
      continue;
    }
    while (j < t.size() && is_space(t[j])) ++j;
    if (j < t.size() && close[j] != npos) spans.push_back({j + 1, close[j]});
  }
  return spans;
}

std::optional<Answer> by_boxed(std::string_view t) { return last_usable(t, boxed_contents(t)); }

// Where "answer" stands as a word, case ignored.
std::vector<size_t> answer_words(std::string_view t) {
  std::vector<size_t> at;
  for (size_t i = 0; i + 6 <= t.size(); ++i) {
    if (has_at_nocase(t, i, "answer") && (i == 0 || !is_alpha(t[i - 1])) &&
        (i + 6 == t.size() || !is_alpha(t[i + 6])))
      at.push_back(i);
  }
  return at;
}

size_t skip(std::string_view t, size_t i, std::string_view chars) {
  while (i < t.size() && (is_space(t[i]) || chars.find(t[i]) != npos)) ++i;
  return i;
}

// The end of X in "the answer is X": the end of its line or sentence (". ", "! ", "? " outside
// braces), or a clause (", " and a letter outside brackets and $...$): "42, since 6 x 7 = 42"
// gives 42, while "(1, 2)", "$1, 2$", "1, 2, 3" and "1,234, which" keep their commas.
size_t answer_is_end(std::string_view t, size_t start) {
  size_t braces = 0, brackets = 0;
  bool math = false;
  for (size_t j = start; j < t.size(); ++j) {
    const char c = t[j];
    const bool followed_by_space = j + 1 == t.size() || is_space(t[j + 1]);
    if (c == '\n') return j;
    if (c == '\\' && j + 1 < t.size() && t[j + 1] != '\n') {
      ++j;
    } else if (c == '{') {
      ++braces;
    } else if (c == '}' && braces > 0) {
      --braces;
    } else if (c == '(' || c == '[') {
      ++brackets;
    } else if ((c == ')' || c == ']') && brackets > 0) {
      --brackets;
    } else if (c == '$') {
      math = !math;
    } else if ((c == '.' || c == '!' || c == '?') && braces == 0 && followed_by_space) {
      return j;
    } else if (c == ',' && braces == 0 && brackets == 0 && !math && followed_by_space) {
      const size_t next = skip(t, j + 1, "");
      if (next < t.size() && is_alpha(t[next])) return j;
    }
  }
  return t.size();
}

// "the answer is X", "The final answer is: X" (any case).
std::optional<Answer> by_answer_is(std::string_view t) {
  std::vector<size_t> starts;
  for (size_t at : answer_words(t)) {
    size_t i = at + 6;
    if (i >= t.size() || !is_space(t[i])) continue;
    i = skip(t, i, "");
    if (has_at_nocase(t, i, "is") && (i + 2 == t.size() || !is_alpha(t[i + 2])))
      starts.push_back(skip(t, i + 2, ":*"));
  }
  return last_usable(t, starts, [t](size_t start) { return Span{start, answer_is_end(t, start)}; });
}

// The length of an unsigned number at i: "12", "1,234.5", ".5"; 0 when there is none.
size_t plain_number_length(std::string_view t, size_t i) {
  auto digit_at = [t](size_t k) { return k < t.size() && is_digit(t[k]); };
  size_t j = i;
  while (digit_at(j)) ++j;
  if (j > i && j - i <= 3 && t[i] != '0') {
    while (j < t.size() && t[j] == ',' && digit_at(j + 1) && digit_at(j + 2) && digit_at(j + 3) &&
           !digit_at(j + 4))
      j += 4;
  }
  if (j < t.size() && t[j] == '.' && digit_at(j + 1)) {
    ++j;
    while (digit_at(j)) ++j;
  }
  return j - i;
}

// Where the sign of a number starting at i begins: "-", "+" or U+2212 right before it and not
// after a word or a closing bracket ("3-5" is a range, "x-5" a difference).
size_t with_sign(std::string_view t, size_t i) {
  size_t s = i;
  if (i >= 1 && (t[i - 1] == '-' || t[i - 1] == '+')) {
    s = i - 1;
  } else if (i >= 3 && has_at(t, i - 3, "\u2212")) {
    s = i - 3;
  } else {
    return i;
  }
  if (s > 0 && (is_alnum(t[s - 1]) || t[s - 1] == ')' || t[s - 1] == ']' || t[s - 1] == '}')) return i;
  return s;
}

// A digit run glued to an ASCII word ("x2", "H2O", "1e5"'s 5) is not a number, but one right
// after a LaTeX command ("\times5") or non-ASCII text ("答案42") is.
bool after_word(std::string_view t, size_t i) {
  if (i == 0 || !(is_alpha(t[i - 1]) || t[i - 1] == '_')) return false;
  size_t k = i;
  while (k > 0 && is_alpha(t[k - 1])) --k;
  return !(k < i && k > 0 && t[k - 1] == '\\');
}

// "\frac{1}{2}", "\dfrac{-3}{4}", "\frac12" with plain numbers as arguments; its end or npos.
size_t frac_end(std::string_view t, size_t i, const std::vector<size_t>& close) {
  size_t j;
  if (has_at(t, i, "\\frac")) {
    j = i + 5;
  } else if (has_at(t, i, "\\dfrac") || has_at(t, i, "\\tfrac")) {
    j = i + 6;
  } else {
    return npos;
  }
  for (int arg = 0; arg < 2; ++arg) {
    while (j < t.size() && t[j] == ' ') ++j;
    if (j < t.size() && is_digit(t[j])) {
      ++j;
      continue;
    }
    if (j >= t.size() || close[j] == npos) return npos;
    const std::string_view inner = answers::trim(t.substr(j + 1, close[j] - j - 1));
    size_t k = (!inner.empty() && (inner[0] == '-' || inner[0] == '+')) ? 1 : 0;
    if (k == inner.size() || plain_number_length(inner, k) != inner.size() - k) return npos;
    j = close[j] + 1;
  }
  return j;
}

// The last number: integers, decimals, a/b, \frac{a}{b}, a sign, "1,234" separators. Runs with
// two decimal points ("3.14.15", "192.168.1.1") or two slashes (dates) are not numbers; commas
// that do not group thousands separate numbers ("1,23" holds 1 and 23).
std::optional<Answer> by_last_number(std::string_view t) {
  const auto close = answers::match_braces(t);
  std::vector<Span> spans;
  auto skip_run = [t](size_t i, std::string_view chars) {
    while (i < t.size() && (is_digit(t[i]) || chars.find(t[i]) != npos)) ++i;
    return i;
  };
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '\\') {
      const size_t end = frac_end(t, i, close);
      if (end != npos) {
        spans.push_back({with_sign(t, i), end});
        i = end;
      } else {
        ++i;
      }
      continue;
    }
    const bool starts = is_digit(t[i]) || (t[i] == '.' && i + 1 < t.size() && is_digit(t[i + 1]));
    if (!starts) {
      ++i;
      continue;
    }
    if (after_word(t, i)) {
      i = skip_run(i, ".");
      continue;
    }
    size_t end = i + plain_number_length(t, i);
    if (end < t.size() && t[end] == '.' && end + 1 < t.size() && is_digit(t[end + 1])) {
      i = skip_run(end, ".");
      continue;
    }
    if (end + 1 < t.size() && t[end] == '/' && is_digit(t[end + 1])) {
      const size_t den_end = end + 1 + plain_number_length(t, end + 1);
      if (den_end + 1 < t.size() && (t[den_end] == '/' || t[den_end] == '.') && is_digit(t[den_end + 1])) {
        i = skip_run(den_end, "./");
        continue;
      }
      end = den_end;
    }
    spans.push_back({with_sign(t, i), end});
    i = end;
  }
  return last_usable(t, spans);
}

bool is_option(char c) { return c >= 'A' && c <= 'E'; }

// The letter at i stands alone: not "Because", and not the article in "A man".
bool option_at(std::string_view t, size_t i) {
  if (i >= t.size() || !is_option(t[i])) return false;
  if (i + 1 < t.size() && is_word(t[i + 1])) return false;
  if (i > 0 && is_word(t[i - 1])) return false;
  return !(t[i] == 'A' && i + 2 < t.size() && t[i + 1] == ' ' && is_alpha(t[i + 2]));
}

Span letter(size_t i) { return {i, i + 1}; }

// Options in order of trust: "answer is (C)", "\boxed{C}", "C." on its own line, "(C)".
std::optional<Answer> by_option_letter(std::string_view t) {
  std::vector<Span> stated;
  for (size_t at : answer_words(t)) {
    size_t i = skip(t, at + 6, ":*");
    if (has_at_nocase(t, i, "is") && !(i + 2 < t.size() && is_alpha(t[i + 2]))) i = skip(t, i + 2, ":*");
    for (std::string_view word : {"option", "choice"}) {
      if (has_at_nocase(t, i, word)) i = skip(t, i + word.size(), ":");
    }
    i = skip(t, i, "([*");
    if (option_at(t, i)) stated.push_back(letter(i));
  }
  if (!stated.empty()) return usable(t, stated.back());

  std::vector<Span> boxed;
  for (Span s : boxed_contents(t)) {
    // One letter, ignoring markup such as \text{...} and brackets: "\boxed{\text{(B)}}".
    size_t found = npos, count = 0;
    for (size_t i = s.begin; i < s.end; ++i) {
      if (t[i] == '\\') {
        while (i + 1 < s.end && is_alpha(t[i + 1])) ++i;
      } else if (is_word(t[i])) {
        found = i;
        ++count;
      }
    }
    if (count == 1 && answers::to_lower(t[found]) >= 'a' && answers::to_lower(t[found]) <= 'e')
      boxed.push_back(letter(found));
  }
  if (!boxed.empty()) return usable(t, boxed.back());

  std::vector<Span> lines;
  for (size_t begin = 0; begin < t.size();) {
    const size_t end = std::min(t.find('\n', begin), t.size());
    constexpr std::string_view kMarks = "*_()[].:";
    size_t b = begin, e = end;
    while (b < e && (is_space(t[b]) || kMarks.find(t[b]) != npos)) ++b;
    while (e > b && (is_space(t[e - 1]) || kMarks.find(t[e - 1]) != npos)) --e;
    if (e == b + 1 && is_option(t[b])) lines.push_back(letter(b));
    begin = end + 1;
  }
  if (!lines.empty()) return usable(t, lines.back());

  for (size_t i = t.rfind(')'); i != npos && i >= 2; i = t.rfind(')', i - 1)) {
    if (t[i - 2] == '(' && is_option(t[i - 1]) && (i < 3 || !is_word(t[i - 3])))
      return usable(t, letter(i - 1));
  }
  return std::nullopt;
}

// Compiling a std::regex costs far more than matching an answer, so each thread keeps the last
// few patterns it compiled.
const std::regex& compiled(const std::string& pattern) {
  constexpr size_t kCached = 8;
  thread_local std::vector<std::pair<std::string, std::regex>> cache;
  for (auto it = cache.begin(); it != cache.end(); ++it) {
    if (it->first == pattern) {
      std::rotate(cache.begin(), it, it + 1);
      return cache.front().second;
    }
  }
  std::regex re;
  try {
    re.assign(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("pattern: not a valid ECMAScript regex '" + pattern + "' (" + e.what() + ")");
  }
  if (cache.size() == kCached) cache.pop_back();
  cache.emplace(cache.begin(), pattern, std::move(re));
  return cache.front().second;
}

// The first capture group (else the whole match) of each match; a group that did not take part
// is no candidate. A regex that fails on this text (std::regex gives up on some long inputs)
// finds nothing rather than failing the request.
std::optional<Answer> by_regex(std::string_view t, const std::string& pattern) {
  const std::regex& re = compiled(pattern);
  const size_t group = re.mark_count() > 0 ? 1 : 0;
  const char* base = t.empty() ? "" : t.data();
  std::vector<Span> spans;
  try {
    for (std::cregex_iterator it(base, base + t.size(), re), end; it != end; ++it) {
      const auto& m = (*it)[group];
      if (m.matched) spans.push_back({size_t(m.first - base), size_t(m.second - base)});
    }
  } catch (const std::regex_error&) {
    return std::nullopt;
  }
  return last_usable(t, spans);
}

}  // namespace

AnswerRule parse_answer_rule(std::string_view name) {
  for (const auto& r : kRuleNames)
    if (name == r.name) return r.rule;
  std::string names;
  for (const auto& r : kRuleNames) names += std::string(names.empty() ? "" : ", ") + r.name;
  throw std::invalid_argument("answer rule: unknown '" + std::string(name) + "' (one of " + names + ")");
}

const char* answer_rule_name(AnswerRule rule) {
  for (const auto& r : kRuleNames)
    if (rule == r.rule) return r.name;
  return "unknown";
}

void AnswerOptions::validate() const {
  if (first != AnswerRule::automatic && rule != AnswerRule::automatic)
    throw std::invalid_argument(std::string("first: only used with the auto rule (rule is ") +
                                answer_rule_name(rule) + ")");
  if (first == AnswerRule::regex)
    throw std::invalid_argument("first: any rule but regex (auto, hash, boxed, answer-is, last-number, option)");
  if (rule != AnswerRule::regex) {
    if (!pattern.empty())
      throw std::invalid_argument(std::string("pattern: only used with the regex rule (rule is ") +
                                  answer_rule_name(rule) + ")");
    return;
  }
  if (pattern.empty())
    throw std::invalid_argument("pattern: required with the regex rule (an ECMAScript regex)");
  compiled(pattern);
}

std::optional<Answer> extract_answer(std::string_view text, const AnswerOptions& options) {
  options.validate();
  switch (options.rule) {
    case AnswerRule::automatic:
      if (options.first != AnswerRule::automatic)
        if (auto a = extract_answer(text, {options.first, "", AnswerRule::automatic})) return a;
      for (auto rule : {by_hash_mark, by_boxed, by_answer_is, by_last_number})
        if (auto a = rule(text)) return a;
      return std::nullopt;
    case AnswerRule::hash_mark:
      return by_hash_mark(text);
    case AnswerRule::boxed:
      return by_boxed(text);
    case AnswerRule::answer_is:
      return by_answer_is(text);
    case AnswerRule::last_number:
      return by_last_number(text);
    case AnswerRule::option_letter:
      return by_option_letter(text);
    case AnswerRule::regex:
      return by_regex(text, options.pattern);
  }
  return std::nullopt;
}

}  // namespace ponder
