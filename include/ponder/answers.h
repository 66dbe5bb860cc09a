#pragma once
// Final answers: extract them from generated text, normalise them, decide equivalence.
// Voting, RPC, verifiers and evaluation all go through this one module.

#include <optional>
#include <string>
#include <string_view>

namespace ponder {

enum class AnswerRule {
  automatic,      // the first rule that finds something: AnswerOptions::first, then hash_mark, boxed,
                  // answer_is, last_number
  hash_mark,      // "#### 42" (GSM8K, the toy world): what follows the last "####" on its line
  boxed,          // "\boxed{...}" (MATH): the last one, nested braces balanced
  answer_is,      // "the answer is X" (any case): X up to the end of its sentence or line
  last_number,    // the last number: integers, decimals, fractions, signs, 1,234 separators
  option_letter,  // a multiple-choice letter A-E ("(B)", "Answer: C", "B." on its own line)
  regex,          // AnswerOptions::pattern: the first capture group (else the whole match) of the last match
};

// Names as the command line spells them: auto, hash, boxed, answer-is, last-number,
// option, regex. Throws std::invalid_argument listing the names for anything else.
AnswerRule parse_answer_rule(std::string_view name);
const char* answer_rule_name(AnswerRule rule);

struct AnswerOptions {
  AnswerRule rule = AnswerRule::automatic;
  std::string pattern;  // ECMAScript regex, for AnswerRule::regex only
  // With the automatic rule only: the rule tried before the others (a data set's own,
  // e.g. boxed for MATH); automatic = the usual order. Not regex.
  AnswerRule first = AnswerRule::automatic;

  // Throws std::invalid_argument naming the field (a missing or malformed pattern, a
  // `first` rule with another rule than automatic).
  void validate() const;
};

struct Answer {
  std::string text;  // as it appears in the generated text, trimmed
  std::string key;   // normalise_answer(text): equal keys are equivalent answers
};

// The final answer of `text`, or nullopt when the rule finds none (such a sample casts
// no vote and counts as wrong).
std::optional<Answer> extract_answer(std::string_view text, const AnswerOptions& options = {});

// Canonical form. Numbers become reduced fractions or integers ("1,234" -> "1234",
// "+2.50" -> "5/2", "\frac{6}{8}" -> "3/4", "-0" -> "0"); other text is lower-cased
// with whitespace collapsed and surrounding punctuation, "$" and "\text{}" removed.
std::string normalize_answer(std::string_view answer);

bool answers_equivalent(std::string_view a, std::string_view b);

}  // namespace ponder
