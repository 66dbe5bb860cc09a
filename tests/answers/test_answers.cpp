#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "ponder/answers.h"

namespace ponder {
namespace {

// The text extracted by `rule`, or "<none>".
std::string extract(std::string_view text, AnswerRule rule, std::string pattern = {}) {
  AnswerOptions options;
  options.rule = rule;
  options.pattern = std::move(pattern);
  const auto a = extract_answer(text, options);
  return a ? a->text : "<none>";
}

std::string key_of(std::string_view text, AnswerRule rule = AnswerRule::automatic) {
  AnswerOptions options;
  options.rule = rule;
  const auto a = extract_answer(text, options);
  return a ? a->key : "<none>";
}

std::string error_of(const AnswerOptions& options) {
  try {
    options.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// Rule names ------------------------------------------------------------------------------------

TEST(AnswerRules, NamesRoundTrip) {
  for (auto rule : {AnswerRule::automatic, AnswerRule::hash_mark, AnswerRule::boxed, AnswerRule::answer_is,
                    AnswerRule::last_number, AnswerRule::option_letter, AnswerRule::regex})
    EXPECT_EQ(parse_answer_rule(answer_rule_name(rule)), rule);
  EXPECT_EQ(parse_answer_rule("answer-is"), AnswerRule::answer_is);
  EXPECT_EQ(parse_answer_rule("last-number"), AnswerRule::last_number);
}

TEST(AnswerRules, UnknownNameListsTheValidOnes) {
  for (std::string_view bad : {"", "Auto", "answer_is", "hash_mark", "boxed "}) {
    try {
      parse_answer_rule(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      for (const char* name : {"auto", "hash", "boxed", "answer-is", "last-number", "option", "regex"})
        EXPECT_NE(what.find(name), std::string::npos) << what;
    }
  }
}

TEST(AnswerRules, ValidateNamesThePattern) {
  AnswerOptions options;
  EXPECT_EQ(error_of(options), "");
  options.rule = AnswerRule::regex;
  EXPECT_NE(error_of(options).find("pattern"), std::string::npos);  // missing
  options.pattern = "answer: (\\d+";
  EXPECT_NE(error_of(options).find("pattern"), std::string::npos);  // malformed
  options.pattern = "[z-a]";
  EXPECT_NE(error_of(options).find("pattern"), std::string::npos);
  options.pattern = "answer: (\\d+)";
  EXPECT_EQ(error_of(options), "");
  options.rule = AnswerRule::boxed;  // a pattern the rule would ignore is a mistake
  EXPECT_NE(error_of(options).find("pattern"), std::string::npos);
}

TEST(AnswerRules, AutomaticTriesTheFirstRuleThenEveryOther) {
  // A MATH run reads boxed answers first, but a model that ends with "#### N" still answers.
  AnswerOptions math;
  math.first = AnswerRule::boxed;
  EXPECT_EQ(extract_answer("so 100 + 2\n#### 102", math)->text, "102");
  EXPECT_EQ(extract_answer("The answer is 7.", math)->text, "7");
  EXPECT_EQ(extract_answer("we get 3 then 5", math)->text, "5");
  // Where several rules find something, the first rule wins; without it, the usual order.
  const std::string both = "\\boxed{3}\n#### 102";
  EXPECT_EQ(extract_answer(both, math)->text, "3");
  EXPECT_EQ(extract_answer(both, {})->text, "102");
  // A rule outside the usual order joins it in front.
  AnswerOptions letters;
  letters.first = AnswerRule::option_letter;
  EXPECT_EQ(extract_answer("I pick (C), 42 votes", letters)->text, "C");
  EXPECT_EQ(extract_answer("no letters, 42", letters)->text, "42");
  EXPECT_EQ(extract_answer("nothing here", math), std::nullopt);
}

TEST(AnswerRules, ValidateNamesTheFirstRule) {
  AnswerOptions options;
  options.first = AnswerRule::boxed;
  EXPECT_EQ(error_of(options), "");
  options.rule = AnswerRule::hash_mark;
  EXPECT_EQ(error_of(options), "first: only used with the auto rule (rule is hash)");
  options.rule = AnswerRule::automatic;
  options.first = AnswerRule::regex;
  EXPECT_NE(error_of(options).find("first: any rule but regex"), std::string::npos);
}

TEST(AnswerRules, ExtractRejectsAnInvalidRegex) {
  AnswerOptions options{AnswerRule::regex, "(("};
  try {
    extract_answer("42", options);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with("pattern")) << e.what();
  }
}

// Hash mark ---------------------------------------------------------------------------------------

TEST(HashMark, TakesTheRestOfTheLastMarkedLine) {
  EXPECT_EQ(extract("She sold 48 + 24 = 72 clips.\n#### 72", AnswerRule::hash_mark), "72");
  EXPECT_EQ(extract("#### 5\nthen\n#### 1,234 \nbye", AnswerRule::hash_mark), "1,234");
  EXPECT_EQ(key_of("#### 1,234 \nbye", AnswerRule::hash_mark), "1234");
  EXPECT_EQ(extract("####-3.50", AnswerRule::hash_mark), "-3.50");
  EXPECT_EQ(key_of("####-3.50", AnswerRule::hash_mark), "-7/2");
  EXPECT_EQ(extract("#### 42 ####", AnswerRule::hash_mark), "42");
}

TEST(HashMark, SkipsEmptyMarksAndShortRuns) {
  EXPECT_EQ(extract("#### 8\n#### \n####", AnswerRule::hash_mark), "8");
  EXPECT_EQ(extract("### 8", AnswerRule::hash_mark), "<none>");
  EXPECT_EQ(extract("# Title\n## 7", AnswerRule::hash_mark), "<none>");
  EXPECT_EQ(extract("######## 9", AnswerRule::hash_mark), "9");
  EXPECT_EQ(extract("#### $ \n", AnswerRule::hash_mark), "<none>");  // normalises to nothing
}

// Boxed -------------------------------------------------------------------------------------------

TEST(Boxed, BalancesNestedBraces) {
  EXPECT_EQ(extract("so $\\boxed{\\frac{3}{4}}$.", AnswerRule::boxed), "\\frac{3}{4}");
  EXPECT_EQ(key_of("so $\\boxed{\\frac{3}{4}}$.", AnswerRule::boxed), "3/4");
  EXPECT_EQ(extract("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", AnswerRule::boxed),
            "\\left( 3, \\frac{\\pi}{2} \\right)");
  EXPECT_EQ(key_of("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", AnswerRule::boxed),
            "(3, \\frac{\\pi}{2})");
  EXPECT_EQ(extract("\\boxed{\\{1,2\\}}", AnswerRule::boxed), "\\{1,2\\}");  // escaped braces
}

TEST(Boxed, LastCompleteOneWins) {
  EXPECT_EQ(extract("\\boxed{1} or \\boxed{2}", AnswerRule::boxed), "2");
  EXPECT_EQ(extract("\\boxed{1} then \\boxed{2", AnswerRule::boxed), "1");  // cut off
  EXPECT_EQ(extract("\\boxed{5} \\boxed{}", AnswerRule::boxed), "5");
  EXPECT_EQ(extract("\\boxed{7}}}}", AnswerRule::boxed), "7");
  EXPECT_EQ(extract("\\fbox{6}", AnswerRule::boxed), "6");
  EXPECT_EQ(extract("\\boxed {6}", AnswerRule::boxed), "6");
  EXPECT_EQ(extract("\\boxed{\\boxed{8}}", AnswerRule::boxed), "8");
}

TEST(Boxed, UnbalancedFindsNothing) {
  EXPECT_EQ(extract("\\boxed{1 \\boxed{2", AnswerRule::boxed), "<none>");
  EXPECT_EQ(extract("\\boxed{", AnswerRule::boxed), "<none>");
  EXPECT_EQ(extract("\\boxed", AnswerRule::boxed), "<none>");
  EXPECT_EQ(extract("\\boxed{\\}", AnswerRule::boxed), "<none>");
  EXPECT_EQ(extract("boxed{3}", AnswerRule::boxed), "<none>");
}

// Answer is -------------------------------------------------------------------------------------

TEST(AnswerIs, EndsAtTheSentenceOrLine) {
  EXPECT_EQ(extract("Thus the answer is: -7.", AnswerRule::answer_is), "-7");
  EXPECT_EQ(key_of("Thus the answer is: -7.", AnswerRule::answer_is), "-7");
  EXPECT_EQ(extract("The answer is 3.14. Next", AnswerRule::answer_is), "3.14");
  EXPECT_EQ(extract("THE ANSWER IS 12\nsince", AnswerRule::answer_is), "12");
  EXPECT_EQ(extract("The final answer is $\\boxed{5}$.", AnswerRule::answer_is), "$\\boxed{5}$");
  EXPECT_EQ(key_of("The final answer is $\\boxed{5}$.", AnswerRule::answer_is), "5");
  EXPECT_EQ(extract("the answer is \\frac{1}{2}. So", AnswerRule::answer_is), "\\frac{1}{2}");
  EXPECT_EQ(extract("the answer is 42 apples!", AnswerRule::answer_is), "42 apples");
  EXPECT_EQ(key_of("the answer is 42 apples!", AnswerRule::answer_is), "42");
  EXPECT_EQ(extract("**The answer is:** 9", AnswerRule::answer_is), "9");
  EXPECT_EQ(extract("The answer is 5 :-( . Sorry", AnswerRule::answer_is), "5 :-(");
  EXPECT_EQ(extract("The answer is:\n\n  Paris.", AnswerRule::answer_is), "Paris");
  EXPECT_EQ(key_of("The answer is:\n\n  Paris.", AnswerRule::answer_is), "paris");
}

TEST(AnswerIs, EndsAtAClauseButKeepsLists) {
  EXPECT_EQ(extract("The answer is 42, since 6 x 7 = 42.", AnswerRule::answer_is), "42");
  EXPECT_EQ(extract("The answer is 1,234, which is a lot", AnswerRule::answer_is), "1,234");
  EXPECT_EQ(extract("the answer is 1, 2, 3.", AnswerRule::answer_is), "1, 2, 3");
  EXPECT_EQ(extract("the answer is $(1, 2)$, as shown", AnswerRule::answer_is), "$(1, 2)$");
  EXPECT_EQ(extract("the answer is (a, b), as shown", AnswerRule::answer_is), "(a, b)");
  EXPECT_EQ(extract("the answer is $x, y$ here", AnswerRule::answer_is), "$x, y$ here");
  EXPECT_EQ(extract("the answer is \\boxed{a, b}, so", AnswerRule::answer_is), "\\boxed{a, b}");
}

TEST(AnswerIs, LastWinsAndWordsMustStandAlone) {
  EXPECT_EQ(extract("The answer is 3. Wait, no: the answer is 4.", AnswerRule::answer_is), "4");
  EXPECT_EQ(extract("The answer is 3. the answer is .", AnswerRule::answer_is), "3");
  EXPECT_EQ(extract("the answers is 5", AnswerRule::answer_is), "<none>");
  EXPECT_EQ(extract("the answer island 5", AnswerRule::answer_is), "<none>");
  EXPECT_EQ(extract("reanswer is 5", AnswerRule::answer_is), "<none>");
  EXPECT_EQ(extract("the answer is", AnswerRule::answer_is), "<none>");
}

// Last number -----------------------------------------------------------------------------------

TEST(LastNumber, ReadsEachForm) {
  EXPECT_EQ(extract("I have 3 apples and 12 pears.", AnswerRule::last_number), "12");
  EXPECT_EQ(extract("It costs $1,234,567.", AnswerRule::last_number), "1,234,567");
  EXPECT_EQ(extract("half is 0.5 or .5", AnswerRule::last_number), ".5");
  EXPECT_EQ(extract("the ratio is 3/4.", AnswerRule::last_number), "3/4");
  EXPECT_EQ(extract("so x = -2.50", AnswerRule::last_number), "-2.50");
  EXPECT_EQ(key_of("so x = -2.50", AnswerRule::last_number), "-5/2");
  EXPECT_EQ(extract("total: +8", AnswerRule::last_number), "+8");
  EXPECT_EQ(extract("get $-\\frac{3}{4}$ cups", AnswerRule::last_number), "-\\frac{3}{4}");
  EXPECT_EQ(extract("\\dfrac{10}{4}", AnswerRule::last_number), "\\dfrac{10}{4}");
  EXPECT_EQ(key_of("\\dfrac{10}{4}", AnswerRule::last_number), "5/2");
  EXPECT_EQ(extract("\\frac12", AnswerRule::last_number), "\\frac12");
  EXPECT_EQ(extract("50% of them", AnswerRule::last_number), "50");
  EXPECT_EQ(extract("2\\times5", AnswerRule::last_number), "5");
}

TEST(LastNumber, SignsOnlyWhereTheyAreSigns) {
  EXPECT_EQ(extract("pages 3-5", AnswerRule::last_number), "5");
  EXPECT_EQ(extract("10 - 4", AnswerRule::last_number), "4");
  EXPECT_EQ(extract("(-4)", AnswerRule::last_number), "-4");
  EXPECT_EQ(extract("x-5", AnswerRule::last_number), "5");
}

TEST(LastNumber, SeparatorsMustGroupThousands) {
  EXPECT_EQ(extract("1,234,567", AnswerRule::last_number), "1,234,567");
  EXPECT_EQ(key_of("1,234,567", AnswerRule::last_number), "1234567");
  EXPECT_EQ(extract("1,23", AnswerRule::last_number), "23");  // a list, not 1.23 or 123
  EXPECT_EQ(extract("1,2345", AnswerRule::last_number), "2345");
  EXPECT_EQ(extract("12,345.5", AnswerRule::last_number), "12,345.5");
  EXPECT_EQ(extract("1234,567", AnswerRule::last_number), "567");
  EXPECT_EQ(extract("0,123", AnswerRule::last_number), "123");
  EXPECT_EQ(extract("values 1, 2, 3", AnswerRule::last_number), "3");
}

TEST(LastNumber, DottedRunsAndDatesAreNotNumbers) {
  EXPECT_EQ(extract("3.14.15", AnswerRule::last_number), "<none>");
  EXPECT_EQ(extract("7 then 3.14.15", AnswerRule::last_number), "7");
  EXPECT_EQ(extract("7 at 192.168.1.1", AnswerRule::last_number), "7");
  EXPECT_EQ(extract("7 on 12/25/2024", AnswerRule::last_number), "7");
  EXPECT_EQ(extract("it is 5.", AnswerRule::last_number), "5");
}

TEST(LastNumber, DigitsGluedToWordsAreNotNumbers) {
  EXPECT_EQ(extract("7 molecules of H2O", AnswerRule::last_number), "7");
  EXPECT_EQ(extract("x2 + y_1", AnswerRule::last_number), "<none>");
  EXPECT_EQ(extract("x2 + 3x", AnswerRule::last_number), "3");
  EXPECT_EQ(extract("1e5", AnswerRule::last_number), "1");
  EXPECT_EQ(extract("the 18th", AnswerRule::last_number), "18");
}

TEST(LastNumber, HugeNumbersKeepTheirDigits) {
  const std::string huge = "123456789012345678901234567890123456789012345678901234567890";
  EXPECT_EQ(extract("it is " + huge + ".", AnswerRule::last_number), huge);
  EXPECT_EQ(key_of("it is " + huge + ".", AnswerRule::last_number), huge);
  EXPECT_EQ(normalize_answer("-000" + huge + ".5000"), "-" + huge + ".5");
  EXPECT_EQ(normalize_answer("1/" + huge), "1/" + huge);
  EXPECT_EQ(normalize_answer("\\frac{2.50}{" + huge + "}"), "2.5/" + huge);
  EXPECT_EQ(normalize_answer("0/" + huge), "0");
  EXPECT_EQ(normalize_answer(huge + "/0"), huge + "/0");  // not a number: kept as text
  // Up to 38 digits a decimal is exact (10^38 < 2^128); one more keeps the digits.
  const std::string e37 = "1" + std::string(37, '0'), e38 = e37 + "0";
  EXPECT_EQ(normalize_answer(e37 + "/" + e37), "1");
  EXPECT_EQ(normalize_answer(e38 + "/" + e38), e38 + "/" + e38);
  EXPECT_EQ(normalize_answer("0." + std::string(37, '0') + "1"), "1/" + e38);
  EXPECT_EQ(normalize_answer("0." + std::string(38, '0') + "1"), "0." + std::string(38, '0') + "1");
  // Exact operands whose quotient overflows keep the canonical digits of each.
  EXPECT_EQ(normalize_answer("\\frac{" + e37 + "}{0.0" + std::string(36, '0') + "3}"),
            e37 + "/0.0" + std::string(36, '0') + "3");
  EXPECT_EQ(normalize_answer("\\frac{" + e38 + "}{3}/7"), "\\frac{" + e38 + "}{3}/7");
}

// Option letter ---------------------------------------------------------------------------------

TEST(OptionLetter, FindsStatedLetters) {
  EXPECT_EQ(extract("Answer: C", AnswerRule::option_letter), "C");
  EXPECT_EQ(extract("The correct answer is (B).", AnswerRule::option_letter), "B");
  EXPECT_EQ(extract("**Answer:** D", AnswerRule::option_letter), "D");
  EXPECT_EQ(extract("the answer is option E", AnswerRule::option_letter), "E");
  EXPECT_EQ(extract("I pick\n\nB.\n", AnswerRule::option_letter), "B");
  EXPECT_EQ(extract("so \\boxed{\\text{(D)}}", AnswerRule::option_letter), "D");
  EXPECT_EQ(extract("it must be (A)", AnswerRule::option_letter), "A");
  EXPECT_EQ(key_of("Answer: C", AnswerRule::option_letter), "c");
}

TEST(OptionLetter, StatedBeatsMentioned) {
  EXPECT_EQ(extract("The answer is (B) because (A) is wrong.", AnswerRule::option_letter), "B");
  EXPECT_EQ(extract("(A) 3\n(B) 4\n(C) 5\nAnswer: A", AnswerRule::option_letter), "A");
  EXPECT_EQ(extract("Answer: A. Wait, Answer: D", AnswerRule::option_letter), "D");
  EXPECT_EQ(extract("(A) 3\n(B) 4\nC\n", AnswerRule::option_letter), "C");
}

TEST(OptionLetter, LettersInsideWordsAreNotOptions) {
  EXPECT_EQ(extract("A man walks into a bar.", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("The answer is A man.", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("Answer: Because it rains", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("Vitamin C and DNA", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("f(A) = g(B)", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("Answer: F", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("answer: c", AnswerRule::option_letter), "<none>");
  EXPECT_EQ(extract("A.\nB. Paris is big", AnswerRule::option_letter), "A");
}

// Regex -----------------------------------------------------------------------------------------

TEST(Regex, FirstGroupOfTheLastMatch) {
  EXPECT_EQ(extract("final: 42 then final: 43", AnswerRule::regex, "final: (\\d+)"), "43");
  EXPECT_EQ(extract("final: 42 then final: 43", AnswerRule::regex, "final: \\d+"), "final: 43");
  EXPECT_EQ(extract("x=1 y=2", AnswerRule::regex, "(x|y)=(\\d)"), "y");
  EXPECT_EQ(extract("nothing here", AnswerRule::regex, "final: (\\d+)"), "<none>");
  EXPECT_EQ(extract("a1 b", AnswerRule::regex, "[ab](\\d)?"), "1");  // unmatched group skipped
  EXPECT_EQ(extract("abc", AnswerRule::regex, "x*"), "<none>");      // empty matches
  EXPECT_EQ(extract("", AnswerRule::regex, "x*"), "<none>");
  EXPECT_EQ(key_of("final:  $1,000$ ", AnswerRule::last_number), "1000");
}

// Automatic -------------------------------------------------------------------------------------

TEST(Automatic, FirstRuleThatFindsSomething) {
  EXPECT_EQ(extract("\\boxed{3}\n#### 4", AnswerRule::automatic), "4");
  EXPECT_EQ(extract("the answer is 5 so \\boxed{3}", AnswerRule::automatic), "3");
  EXPECT_EQ(extract("the answer is five, 7 or 8", AnswerRule::automatic), "five, 7 or 8");
  EXPECT_EQ(extract("2 and 9", AnswerRule::automatic), "9");
  EXPECT_EQ(extract("#### \n 6", AnswerRule::automatic), "6");
  EXPECT_EQ(extract("no digits at all", AnswerRule::automatic), "<none>");
  EXPECT_EQ(extract("Answer: C", AnswerRule::automatic), "<none>");  // letters need "option"
}

TEST(Automatic, EmptyAndBlankInputFindNothing) {
  for (auto rule : {AnswerRule::automatic, AnswerRule::hash_mark, AnswerRule::boxed, AnswerRule::answer_is,
                    AnswerRule::last_number, AnswerRule::option_letter}) {
    EXPECT_EQ(extract("", rule), "<none>");
    EXPECT_EQ(extract(" \n\t ", rule), "<none>");
  }
}

TEST(Automatic, SurvivesUnicodeAndBinary) {
  EXPECT_EQ(extract("答案是42", AnswerRule::automatic), "42");
  EXPECT_EQ(extract("Ответ: \u221212", AnswerRule::last_number), "\u221212");
  EXPECT_EQ(key_of("Ответ: \u221212", AnswerRule::last_number), "-12");
  EXPECT_EQ(key_of("the answer is 12.5\u00b0.", AnswerRule::answer_is), "25/2");
  EXPECT_EQ(extract("caf\xc3\xa9 \xff\xfe 7 \xe2\x82", AnswerRule::automatic), "7");
  const std::string with_nul("#### 3\0 4", 9);
  EXPECT_EQ(extract(with_nul, AnswerRule::hash_mark), std::string("3\0 4", 4));
  EXPECT_EQ(extract("\xf0\x9f\x98\x80 (B) \xf0\x9f\x98\x80", AnswerRule::option_letter), "B");
}

// Normalisation ---------------------------------------------------------------------------------

TEST(Normalize, HeaderExamples) {
  EXPECT_EQ(normalize_answer("1,234"), "1234");
  EXPECT_EQ(normalize_answer("+2.50"), "5/2");
  EXPECT_EQ(normalize_answer("\\frac{6}{8}"), "3/4");
  EXPECT_EQ(normalize_answer("-0"), "0");
}

TEST(Normalize, Numbers) {
  EXPECT_EQ(normalize_answer("007"), "7");
  EXPECT_EQ(normalize_answer("-0.000"), "0");
  EXPECT_EQ(normalize_answer("-0/5"), "0");
  EXPECT_EQ(normalize_answer("+0"), "0");
  EXPECT_EQ(normalize_answer(".5"), "1/2");
  EXPECT_EQ(normalize_answer("0.5"), "1/2");
  EXPECT_EQ(normalize_answer("2/4"), "1/2");
  EXPECT_EQ(normalize_answer("1.5/3"), "1/2");
  EXPECT_EQ(normalize_answer("-6/8"), "-3/4");
  EXPECT_EQ(normalize_answer("\\frac{-6}{8}"), "-3/4");
  EXPECT_EQ(normalize_answer("\\frac{6}{-8}"), "-3/4");
  EXPECT_EQ(normalize_answer("-\\frac{-6}{8}"), "3/4");
  EXPECT_EQ(normalize_answer("\\dfrac{1}{3}"), "1/3");
  EXPECT_EQ(normalize_answer("\\tfrac 1 3"), "1/3");
  EXPECT_EQ(normalize_answer("\\frac12"), "1/2");
  EXPECT_EQ(normalize_answer("\\frac{\\frac{1}{2}}{3}"), "1/6");
  EXPECT_EQ(normalize_answer("\\frac{1}{0}"), "\\frac{1}{0}");
  EXPECT_EQ(normalize_answer("10/2"), "5");
  EXPECT_EQ(normalize_answer("1,234,567.890"), "123456789/100");
  EXPECT_EQ(normalize_answer("\u221212"), "-12");
}

TEST(Normalize, NotNumbers) {
  EXPECT_EQ(normalize_answer("1,23"), "1, 23");
  EXPECT_EQ(normalize_answer("1, 23"), "1, 23");
  EXPECT_EQ(normalize_answer("1,234,56"), "1, 234, 56");
  EXPECT_EQ(normalize_answer("3.14.15"), "3.14.15");
  EXPECT_EQ(normalize_answer("1e5"), "1e5");
  EXPECT_EQ(normalize_answer("1 1/2"), "1 1/2");
  EXPECT_EQ(normalize_answer("--5"), "--5");
  EXPECT_EQ(normalize_answer("5x"), "5x");
  EXPECT_EQ(normalize_answer("5 x"), "5 x");
  EXPECT_EQ(normalize_answer("2 pi"), "2 pi");
  EXPECT_EQ(normalize_answer("3 million"), "3 million");
  EXPECT_EQ(normalize_answer("\\sqrt{2}"), "\\sqrt{2}");
  EXPECT_EQ(normalize_answer("2\\pi"), "2\\pi");
  EXPECT_EQ(normalize_answer("x^2"), "x^2");
}

TEST(Normalize, Markup) {
  EXPECT_EQ(normalize_answer("$42$"), "42");
  EXPECT_EQ(normalize_answer("\\$1,000.00"), "1000");
  EXPECT_EQ(normalize_answer("\\text{ 5 }"), "5");
  EXPECT_EQ(normalize_answer("5\\text{ cm}"), "5");
  EXPECT_EQ(normalize_answer("5\\,\\mathrm{kg}"), "5");
  EXPECT_EQ(normalize_answer("\\boxed{\\dfrac{2}{4}}"), "1/2");
  EXPECT_EQ(normalize_answer("\\left( 1, 2 \\right)"), "(1, 2)");
  EXPECT_EQ(normalize_answer("\\left[1,2\\right)"), "[1, 2)");
  EXPECT_EQ(normalize_answer("\\left\\{ 1 \\right."), "\\{1");
  EXPECT_EQ(normalize_answer("\\leftarrow"), "\\leftarrow");
  EXPECT_EQ(normalize_answer("90^\\circ"), "90");
  EXPECT_EQ(normalize_answer("90^{\\circ}"), "90");
  EXPECT_EQ(normalize_answer("90\u00b0"), "90");
  EXPECT_EQ(normalize_answer("50\\%"), "50");
  EXPECT_EQ(normalize_answer("50 %"), "50");
  EXPECT_EQ(normalize_answer("\\(x+1\\)"), "x+1");
  EXPECT_EQ(normalize_answer("\\displaystyle\\frac{1}{4}"), "1/4");
  // Removing markup never joins its neighbours into a new command.
  EXPECT_EQ(normalize_answer("\\bo\\left.xed{5}"), "\\bo xed{5}");
  EXPECT_EQ(normalize_answer("\\te$$xt{5}"), "\\te xt{5}");
  // Lower-casing or dropping a blank can make markup: tidying repeats until nothing changes.
  EXPECT_EQ(normalize_answer("\\TEXT{5}"), "5");
  EXPECT_EQ(normalize_answer("\\boxed {\\text {7}}"), "7");
  EXPECT_EQ(normalize_answer("'\\text{6}'"), "6");
}

TEST(Normalize, SurroundingTextAndSpaces) {
  EXPECT_EQ(normalize_answer("  42.  "), "42");
  EXPECT_EQ(normalize_answer("**42**"), "42");
  EXPECT_EQ(normalize_answer("\"42\""), "42");
  EXPECT_EQ(normalize_answer("'42'"), "42");
  EXPECT_EQ(normalize_answer("42 apples"), "42");
  EXPECT_EQ(normalize_answer("42 km/h"), "42");
  EXPECT_EQ(normalize_answer("x = 5"), "5");
  EXPECT_EQ(normalize_answer("Answer: -3"), "-3");
  EXPECT_EQ(normalize_answer("total cost = $12"), "12");
  EXPECT_EQ(normalize_answer("New   York"), "new york");
  EXPECT_EQ(normalize_answer("x + 1"), "x+1");
  EXPECT_EQ(normalize_answer("(1,2)"), normalize_answer("( 1 , 2 )"));
  EXPECT_EQ(normalize_answer("Paris."), "paris");
  EXPECT_EQ(normalize_answer("...?!"), "");
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_EQ(normalize_answer("$"), "");
  EXPECT_EQ(normalize_answer("\\text{}"), "");
}

TEST(Normalize, IsIdempotent) {
  for (std::string_view s :
       {"1,234", "+2.50", "\\frac{6}{8}", "1,23", "3.14.15", "\\left( 1, 2 \\right)", "Paris.", "x = 5",
        "\\te\\!xt{5}", "\\bo\\left.xed{\\te\\right.xt{7}}", "a,,b", "1 , 234", "\\\\,",
        "12345678901234567890123456789012345678901.5",
        "\\frac{1}{100000000000000000000000000000000000000000}", "5 \\text{apples}", "''''", "~"}) {
    const std::string k = normalize_answer(s);
    EXPECT_EQ(normalize_answer(k), k) << s;
  }
}

TEST(Equivalent, ComparesKeys) {
  EXPECT_TRUE(answers_equivalent("1,234", "1234"));
  EXPECT_TRUE(answers_equivalent("0.5", "\\frac{1}{2}"));
  EXPECT_TRUE(answers_equivalent("$\\boxed{50\\%}$", "50"));
  EXPECT_TRUE(answers_equivalent("-0", "0.0"));
  EXPECT_TRUE(answers_equivalent("PARIS", "paris."));
  EXPECT_TRUE(answers_equivalent("1,23", "1, 23"));
  EXPECT_FALSE(answers_equivalent("1,23", "123"));
  EXPECT_FALSE(answers_equivalent("1,23", "1.23"));
  EXPECT_FALSE(answers_equivalent("3.14.15", "3.14"));
  EXPECT_FALSE(answers_equivalent("1/2", "2"));
  EXPECT_FALSE(answers_equivalent("-1", "1"));
  EXPECT_TRUE(answers_equivalent("", "$"));  // both empty: extraction never yields these
}

TEST(Equivalent, ExtractedAnswersVote) {
  const auto a = extract_answer("... so she pays $1,200.00.\n#### 1200");
  const auto b = extract_answer("The answer is \\boxed{1200}");
  const auto c = extract_answer("She pays 1,200 dollars in total. The answer is 1,200 dollars.");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->key, "1200");
  EXPECT_EQ(b->key, "1200");
  EXPECT_EQ(c->key, "1200");
}

}  // namespace
}  // namespace ponder
