// Fuzz target for the answers module: every extraction rule, normalize_answer and
// answers_equivalent on arbitrary bytes, aborting on the first broken invariant.
//
//   - extract never throws; an answer's text is a trimmed, non-empty substring of the input, and
//     its key is normalize_answer(text), non-empty; an option answer is one letter A-E
//   - auto returns what the first of hash, boxed, answer-is, last-number returns; with boxed as
//     its first rule, boxed's answer when there is one
//   - normalize_answer is idempotent, and a numeric key is canonical ("-?n" or "-?n/d", no
//     leading zeros, no "-0", d > 1, gcd 1); "n/0" stays text
//   - answers_equivalent is reflexive, symmetric and agrees with key equality
//   - integers, decimals, "1,234" separators, a/b and \frac{a}{b} built from the input's first
//     bytes normalise to the reduced fraction computed here with 64-bit arithmetic

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <string_view>

#include "ponder/answers.h"

namespace {

using ponder::AnswerOptions;
using ponder::AnswerRule;

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_answers: broken invariant: %s [%.*s]\n", what, int(detail.size()),
               detail.data());
  std::abort();
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A key made only of digits, "-" and "/" must be a canonical reduced fraction.
void check_numeric_key(std::string_view key) {
  if (key.find_first_not_of("-/0123456789") != std::string_view::npos) return;
  std::string_view k = key;
  if (k.starts_with('-')) k.remove_prefix(1);
  const size_t slash = k.find('/');
  const std::string_view num = k.substr(0, slash);
  if (!is_digits(num) || (slash != std::string_view::npos && !is_digits(k.substr(slash + 1))))
    return;  // text such as "1-2" or "3/-4"
  if (slash != std::string_view::npos && k.find_first_not_of('0', slash + 1) == std::string_view::npos)
    return;  // division by zero stays text: "0/0", "5/00"
  check(num.size() == 1 || num[0] != '0', "numeric key without leading zeros", key);
  check(key != "-0", "no negative zero", key);
  if (slash == std::string_view::npos) return;
  const std::string_view den = k.substr(slash + 1);
  check(den.size() == 1 || den[0] != '0', "denominator without leading zeros", key);
  check(den != "0" && den != "1", "denominator above 1", key);
  if (num.size() <= 18 && den.size() <= 18) {
    const int64_t n = std::stoll(std::string(num)), d = std::stoll(std::string(den));
    check(std::gcd(n, d) == 1, "fraction reduced", key);
  }
}

void check_answer(std::string_view input, const std::optional<ponder::Answer>& a, AnswerRule rule) {
  if (!a) return;
  const std::string& t = a->text;
  check(!t.empty(), "answer text non-empty", ponder::answer_rule_name(rule));
  check(!is_blank(t.front()) && !is_blank(t.back()), "answer text trimmed", t);
  check(input.find(t) != std::string_view::npos, "answer text is part of the input", t);
  check(!a->key.empty(), "answer key non-empty", t);
  check(a->key == ponder::normalize_answer(t), "answer key is normalize(text)", t);
  if (rule == AnswerRule::option_letter) {
    const char c = t.size() == 1 ? char(t[0] | 0x20) : '?';
    check(c >= 'a' && c <= 'e', "option answer is one letter A-E", t);
  }
}

std::optional<ponder::Answer> extract(std::string_view input, AnswerRule rule, std::string pattern = {}) {
  AnswerOptions options;
  options.rule = rule;
  options.pattern = std::move(pattern);
  auto a = ponder::extract_answer(input, options);
  check_answer(input, a, rule);
  return a;
}

void check_extraction(std::string_view input) {
  std::optional<ponder::Answer> first;
  for (AnswerRule rule :
       {AnswerRule::hash_mark, AnswerRule::boxed, AnswerRule::answer_is, AnswerRule::last_number}) {
    auto a = extract(input, rule);
    if (!first) first = a;
  }
  const auto automatic = extract(input, AnswerRule::automatic);
  check(automatic.has_value() == first.has_value() && (!first || automatic->text == first->text),
        "auto is the first rule that finds something");
  // A data set's own rule first (boxed for MATH): its answer when it finds one, else auto's.
  AnswerOptions boxed_first;
  boxed_first.first = AnswerRule::boxed;
  const auto boxed = extract(input, AnswerRule::boxed);
  const auto math = ponder::extract_answer(input, boxed_first);
  const auto& expected = boxed ? boxed : automatic;
  check(math.has_value() == expected.has_value() && (!math || math->text == expected->text),
        "auto with a first rule tries it before the others");
  extract(input, AnswerRule::option_letter);
  // Patterns whose matches are short: std::regex recurses once per matched character.
  extract(input, AnswerRule::regex, "answer: ?(-?[0-9]{1,12})");
  extract(input, AnswerRule::regex, "[A-E]\\)");
}

void check_normalization(std::string_view a, std::string_view b) {
  const std::string ka = ponder::normalize_answer(a), kb = ponder::normalize_answer(b);
  check(ponder::normalize_answer(ka) == ka, "normalize is idempotent", a);
  check_numeric_key(ka);
  check(ponder::answers_equivalent(a, a), "equivalent is reflexive", a);
  check(ponder::answers_equivalent(a, ka), "an answer is equivalent to its key", a);
  const bool ab = ponder::answers_equivalent(a, b);
  check(ab == ponder::answers_equivalent(b, a), "equivalent is symmetric", a);
  check(ab == (ka == kb), "equivalent is key equality", a);
}

std::string reduced(int64_t num, int64_t den) {
  if (den < 0) num = -num, den = -den;
  const int64_t g = std::gcd(num, den);
  num /= g;
  den /= g;
  return std::to_string(num) + (den == 1 ? "" : "/" + std::to_string(den));
}

std::string with_separators(std::string digits) {
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

void expect_key(const std::string& answer, const std::string& key) {
  check(ponder::normalize_answer(answer) == key, "number normalises to its reduced fraction", answer);
}

// Numbers whose value is known: the first 9 bytes give p, q and a number of decimal places.
void check_arithmetic(const uint8_t* data, size_t size) {
  if (size < 9) return;
  int32_t p, q;
  std::memcpy(&p, data, 4);
  std::memcpy(&q, data + 4, 4);
  const int places = data[8] % 10;
  const int64_t num = p;
  const std::string sign = num < 0 ? "-" : "";
  const std::string digits = std::to_string(num < 0 ? -num : num);

  expect_key(std::to_string(num), reduced(num, 1));
  expect_key(sign + with_separators(digits), reduced(num, 1));
  expect_key("$" + sign + with_separators(digits) + ".", reduced(num, 1));

  std::string padded = std::string(size_t(places) + 1, '0') + digits;
  padded.insert(padded.size() - size_t(places), ".");
  int64_t ten = 1;
  for (int i = 0; i < places; ++i) ten *= 10;
  expect_key(sign + padded, reduced(num, ten));

  if (q == 0) return;
  const int64_t den = q;
  const int64_t n2 = den < 0 ? -num : num, d2 = den < 0 ? -den : den;
  expect_key(std::to_string(n2) + "/" + std::to_string(d2), reduced(n2, d2));
  const std::string frac = "\\frac{" + std::to_string(num) + "}{" + std::to_string(den) + "}";
  expect_key(frac, reduced(num, den));
  const auto a =
      ponder::extract_answer("so it is " + frac + " cups.", AnswerOptions{AnswerRule::last_number, {}});
  check(a && a->key == reduced(num, den), "last number reads \\frac", frac);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_extraction(input);
  const size_t half = size / 2;
  check_normalization(input, input.substr(half));
  check_normalization(input.substr(0, half), input.substr(half));
  check_arithmetic(data, size);
  return 0;
}
