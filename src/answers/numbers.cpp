#include "answers/numbers.h"

#include <algorithm>
#include <iterator>

#include "answers/text.h"

namespace ponder::answers {
namespace {

__extension__ typedef unsigned __int128 u128;

// 10^38 < 2^128: up to this many significant digits a decimal is exact.
constexpr size_t kExactDigits = 38;
// \frac nesting beyond this is not read as a number (and bounds the recursion).
constexpr int kMaxDepth = 4;

// Words after a number that change its value or make it an expression, not a unit.
constexpr std::string_view kNotUnits[] = {
    "pi",       "sqrt",      "and",     "or",       "plus",    "minus",    "times",
    "over",     "to",        "squared", "cubed",    "dozen",   "hundred",  "hundreds",
    "thousand", "thousands", "million", "millions", "billion", "billions", "trillion"};

u128 gcd(u128 a, u128 b) {
  while (b != 0) {
    const u128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

std::string to_string(u128 v) {
  std::string s;
  do {
    s.push_back(char('0' + int(v % 10)));
    v /= 10;
  } while (v != 0);
  std::reverse(s.begin(), s.end());
  return s;
}

// A parsed value: exact num/den (reduced, den > 0) when it fits, else only `text`.
struct Number {
  bool negative = false;
  bool exact = false;
  u128 num = 0, den = 1;
  // Canonical unsigned digits: "12.5" for a decimal (set whether exact or not), "a/b" for an
  // inexact plain fraction, empty for an exact fraction.
  std::string text;
  bool plain = false;  // an integer or decimal, not a fraction

  bool is_zero() const { return exact && num == 0; }
};

std::optional<Number> divide(const Number& a, const Number& b) {
  if (b.is_zero()) return std::nullopt;
  Number r;
  r.negative = a.negative != b.negative;
  if (a.is_zero()) {
    r.exact = true;
    return r;
  }
  if (a.exact && b.exact) {
    const u128 g1 = gcd(a.num, b.num), g2 = gcd(a.den, b.den);
    u128 num, den;
    if (!__builtin_mul_overflow(a.num / g1, b.den / g2, &num) &&
        !__builtin_mul_overflow(a.den / g2, b.num / g1, &den)) {
      r.exact = true;
      r.num = num;
      r.den = den;
      return r;
    }
  }
  if (!a.plain || !b.plain) return std::nullopt;
  r.text = a.text + "/" + b.text;
  return r;
}

std::string render(const Number& n) {
  if (n.exact) {
    if (n.num == 0) return "0";
    std::string s = n.negative ? "-" : "";
    s += to_string(n.num);
    if (n.den != 1) (s += '/') += to_string(n.den);
    return s;
  }
  return (n.negative ? "-" : "") + n.text;
}

bool not_a_unit(std::string_view word) {
  return std::find(std::begin(kNotUnits), std::end(kNotUnits), word) != std::end(kNotUnits);
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::optional<std::string> key() {
    if (!prefix()) pos_ = 0;
    auto value = signed_number(0);
    if (!value) return std::nullopt;
    eat('%');
    if (pos_ < s_.size() && !units()) return std::nullopt;
    return render(*value);
  }

 private:
  char peek(size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // "x=", "answer:", "total cost=": identifiers before "=" or ":".
  bool prefix() {
    while (true) {
      eat('\\');
      if (!is_alpha(peek())) return false;
      while (is_alnum(peek()) || peek() == '_') ++pos_;
      if (eat('=') || eat(':')) return true;
      if (!eat(' ')) return false;
    }
  }

  // " apples", " km/h", "cm" after "%" or "}": words of letters, none that changes the value.
  bool units() {
    if (!eat(' ') && is_alnum(s_[pos_ - 1])) return false;
    while (true) {
      size_t letters = 0;
      while (true) {
        const size_t part = pos_;
        while (is_alpha(peek())) ++pos_;
        if (pos_ == part || not_a_unit(s_.substr(part, pos_ - part))) return false;
        letters += pos_ - part;
        if (!eat('/')) break;
      }
      if (letters < 2) return false;  // "5 x" is an expression
      if (pos_ == s_.size()) return true;
      if (!eat(' ')) return false;
    }
  }

  std::optional<Number> signed_number(int depth) {
    bool negative = false;
    if (eat('-')) {
      negative = true;
    } else {
      eat('+');
    }
    std::optional<Number> n;
    if (has_at(s_, pos_, "\\frac")) {
      n = frac(depth);
    } else {
      n = decimal();
      if (n && peek() == '/') {
        ++pos_;
        auto d = decimal();
        n = d ? divide(*n, *d) : std::nullopt;
      }
    }
    if (n) n->negative = n->negative != negative;
    return n;
  }

  std::optional<Number> frac(int depth) {
    if (depth >= kMaxDepth) return std::nullopt;
    pos_ += 5;
    auto num = frac_arg(depth);
    if (!num) return std::nullopt;
    auto den = frac_arg(depth);
    if (!den) return std::nullopt;
    return divide(*num, *den);
  }

  // "{-1.5}" or one digit ("\frac12").
  std::optional<Number> frac_arg(int depth) {
    eat(' ');
    if (is_digit(peek())) return decimal_of(s_.substr(pos_++, 1), "");
    if (!eat('{')) return std::nullopt;
    auto n = signed_number(depth + 1);
    if (!n || !eat('}')) return std::nullopt;
    return n;
  }

  std::optional<Number> decimal() {
    std::string int_digits, frac_digits;
    const size_t start = pos_;
    while (is_digit(peek())) int_digits += s_[pos_++];
    // "1,234,567": first group of 1-3 digits, not "0", then groups of exactly 3.
    if (!int_digits.empty() && int_digits.size() <= 3 && int_digits[0] != '0') {
      while (peek() == ',' && is_digit(peek(1)) && is_digit(peek(2)) && is_digit(peek(3)) &&
             !is_digit(peek(4))) {
        int_digits.append(s_.substr(pos_ + 1, 3));
        pos_ += 4;
      }
    }
    if (peek() == '.' && is_digit(peek(1))) {
      ++pos_;
      while (is_digit(peek())) frac_digits += s_[pos_++];
    }
    if (pos_ == start) return std::nullopt;
    return decimal_of(int_digits, frac_digits);
  }

  static Number decimal_of(std::string_view int_digits, std::string_view frac_digits) {
    while (!int_digits.empty() && int_digits.front() == '0') int_digits.remove_prefix(1);
    while (!frac_digits.empty() && frac_digits.back() == '0') frac_digits.remove_suffix(1);
    Number n;
    n.plain = true;
    n.text = int_digits.empty() ? "0" : std::string(int_digits);
    if (!frac_digits.empty()) (n.text += '.') += frac_digits;
    if (int_digits.size() + frac_digits.size() > kExactDigits) return n;
    n.exact = true;
    for (char c : int_digits) n.num = n.num * 10 + u128(c - '0');
    for (char c : frac_digits) {
      n.num = n.num * 10 + u128(c - '0');
      n.den *= 10;
    }
    const u128 g = n.num == 0 ? n.den : gcd(n.num, n.den);
    n.num /= g;
    n.den /= g;
    return n;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> number_key(std::string_view text) { return Parser(text).key(); }

}  // namespace ponder::answers
