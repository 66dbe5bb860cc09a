#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <tuple>

#include "support/test_models.h"
#include "toy/dataset.h"
#include "toy/metrics.h"
#include "toy/prm.h"
#include "toy/vocab.h"

namespace ponder::toy {
namespace {

Problem example_problem() { return *parse_question("a=61; b=a-35; c=b*4; d=c+41; d?"); }

TEST(ToyPrm, TextFormat) {
  EXPECT_EQ(prm_text("a=2; b=a+8; b?", {"b: 2+8=10", "#### 10\n"}), "a=2; b=a+8; b?\nb: 2+8=10\n~#### 10\n~");
  EXPECT_EQ(prm_step("c: 26*4=104\n"), "c: 26*4=104\n~");
}

TEST(ToyPrm, StepProbabilitiesWeighTheVerdictWithTheLowestLogprobSoFar) {
  PrmReading r;
  r.tokens = toy_tokenize(prm_step("b: 2+8=11") + prm_step("#### 11") + kPrmGood);
  const size_t n = r.tokens.size();
  r.logprobs.assign(n, -0.1f);
  r.good.assign(n, -0.7f);
  r.bad.assign(n, -0.7f);
  const int32_t tag = toy_token_for_char(kPrmTag);
  std::vector<size_t> after_tags;
  for (size_t t = 1; t < n; ++t) {
    if (r.tokens[t - 1] == tag) after_tags.push_back(t);
  }
  ASSERT_EQ(after_tags.size(), 2u);
  // Neither the tags nor the label position after them are text the PRM reads.
  for (size_t t : after_tags) r.logprobs[t - 1] = r.logprobs[t] = -50.0f;
  r.logprobs[8] = -3.0f;  // the second '1' of "11"
  r.good[after_tags[0]] = std::log(0.8f);
  r.bad[after_tags[0]] = std::log(0.2f);
  r.good[after_tags[1]] = std::log(0.5f);
  r.bad[after_tags[1]] = std::log(0.5f);
  auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };

  const auto verdicts = prm_step_probabilities(r, 0.0);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_NEAR(verdicts[0], 0.8, 1e-6);
  EXPECT_NEAR(verdicts[1], 0.5, 1e-6);
  const auto scores = prm_step_probabilities(r, 0.5);
  EXPECT_NEAR(scores[0], sigmoid(std::log(4.0) - 1.5), 1e-6);
  EXPECT_NEAR(scores[1], sigmoid(-1.5), 1e-6);  // the first step's surprise stays with the second

  const auto surprise = prm_step_surprise(r);  // each step's own lowest logprob
  ASSERT_EQ(surprise.size(), 2u);
  EXPECT_NEAR(surprise[0], -3.0, 1e-6);
  EXPECT_NEAR(surprise[1], -0.1, 1e-6);

  r.bad.pop_back();
  EXPECT_THROW(prm_step_probabilities(r), std::invalid_argument);
  EXPECT_THROW(prm_step_surprise(r), std::invalid_argument);
}

TEST(ToyPrm, LabelsAreCorrectPrefixes) {
  const Problem p = example_problem();
  using V = std::vector<bool>;
  EXPECT_EQ(label_steps(p, {"b: 61-40=21, 21+5=26", "c: 26*4=104", "d: 104+41=145", "#### 145"}), V({1, 1, 1, 1}));
  // A slip in the middle of a step, then correct arithmetic from the wrong value.
  EXPECT_EQ(label_steps(p, {"b: 61-40=21, 21+5=26", "c: 20*4=80, 6*4=34, 80+34=114", "d: 114+41=155", "#### 155"}),
            V({1, 0, 0, 0}));
  // Right arithmetic on a wrong operand.
  EXPECT_EQ(label_steps(p, {"b: 61-36=25", "c: 25*4=100", "d: 100+41=141", "#### 141"}), V({0, 0, 0, 0}));
  // An equation that is false even though the step's value is right.
  EXPECT_EQ(label_steps(p, {"b: 61-35=26", "c: 20*4=80, 6*4=25, 80+24=104", "d: 104+41=145", "#### 145"}),
            V({1, 0, 0, 0}));
  // Wrong variable, missing step, wrong answer line, text after the answer.
  EXPECT_EQ(label_steps(p, {"c: 61-35=26"}), V({0}));
  EXPECT_EQ(label_steps(p, {"b: 61-35=26", "#### 145"}), V({1, 0}));
  EXPECT_EQ(label_steps(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 146"}), V({1, 1, 1, 0}));
  EXPECT_EQ(label_steps(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 145", "#### 145"}),
            V({1, 1, 1, 1, 0}));
  EXPECT_EQ(label_steps(p, {"b: 61-35=26 ", "c: 26*4=104"}), V({0, 0}));
}

TEST(ToyPrm, InjectedMistakesAreLabelledFromTheMistakeOn) {
  Rng rng(9);
  int with_mistake = 0, total = 0;
  for (int i = 0; i < 400; ++i) {
    const Problem p = generate_problem(rng, {1 + i % 5, 1 + i % 2});
    const LabelledSolution s = make_prm_example(p, rng);
    ASSERT_EQ(s.lines.size(), p.steps.size() + 1);
    ASSERT_EQ(s.labels.size(), s.lines.size());
    EXPECT_EQ(s.labels, label_steps(p, s.lines));
    // Once wrong, always wrong.
    for (size_t k = 1; k < s.labels.size(); ++k) EXPECT_TRUE(s.labels[k - 1] || !s.labels[k]);
    with_mistake += !s.labels.back();
    ++total;
  }
  EXPECT_NEAR(double(with_mistake) / total, 0.5, 0.1);
  // Each kind of mistake on its own makes every solution wrong.
  for (double PrmDataOptions::*kind : {&PrmDataOptions::result_slip, &PrmDataOptions::method_slip,
                                       &PrmDataOptions::operand_slip, &PrmDataOptions::operator_slip,
                                       &PrmDataOptions::answer_slip}) {
    PrmDataOptions only{.mistake_rate = 1.0, .result_slip = 0, .method_slip = 0, .operand_slip = 0,
                        .operator_slip = 0, .answer_slip = 0};
    only.*kind = 1.0;
    for (int i = 0; i < 100; ++i) {
      const Problem p = generate_problem(rng, {1 + i % 5, 2});
      const LabelledSolution s = make_prm_example(p, rng, only);
      EXPECT_FALSE(s.labels.back()) << p.question();
    }
  }
  PrmDataOptions clean;
  clean.mistake_rate = 0.0;
  const Problem p = example_problem();
  for (bool ok : make_prm_example(p, rng, clean).labels) EXPECT_TRUE(ok);
  PrmDataOptions bad;
  bad.mistake_rate = 1.5;
  EXPECT_THROW(make_prm_example(p, rng, bad), std::invalid_argument);
}

// The first false label sits on the first character no correct solution has there.
TEST(ToyPrm, PrefixLabelsMarkTheFirstWrongCharacter) {
  const Problem p = example_problem();
  auto first_wrong = [](const std::vector<std::vector<bool>>& labels) {
    for (size_t line = 0; line < labels.size(); ++line) {
      for (size_t k = 0; k < labels[line].size(); ++k) {
        if (!labels[line][k]) return std::pair<size_t, size_t>{line, k};
      }
    }
    return std::pair<size_t, size_t>{labels.size(), 0};
  };
  using At = std::pair<size_t, size_t>;
  // Either way of working c is right; its newline is labelled too.
  auto right = label_prefixes(p, {"b: 61-35=26", "c: 20*4=80, 6*4=24, 80+24=104", "d: 104+41=145", "#### 145"});
  EXPECT_EQ(first_wrong(right), At(4, 0));
  EXPECT_EQ(right[1].size(), std::string("c: 20*4=80, 6*4=24, 80+24=104\n").size());
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 145"})), At(4, 0));
  // A wrong last digit, a wrong operand, an early newline, a wrong answer, a line too many.
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-35=26", "c: 26*4=105", "d: 105+41=146"})), At(1, 10));
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-36=25", "c: 25*4=100"})), At(0, 7));
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-35=2"})), At(0, 10));
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 154"})), At(3, 6));
  EXPECT_EQ(first_wrong(label_prefixes(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 145", "b"})),
            At(4, 0));
  // On generated examples the last label of each line is the step label.
  Rng rng(4);
  for (int i = 0; i < 300; ++i) {
    const Problem q = generate_problem(rng, {1 + i % 5, 1 + i % 2});
    const LabelledSolution s = make_prm_example(q, rng);
    const auto prefixes = label_prefixes(q, s.lines);
    ASSERT_EQ(prefixes.size(), s.lines.size());
    for (size_t k = 0; k < s.lines.size(); ++k) EXPECT_EQ(prefixes[k].back(), s.labels[k]) << s.lines[k];
  }
}

// Every equation of a blend holds; only its plan is wrong, and so its result.
TEST(ToyPrm, MethodBlendsAreRightArithmeticOnAWrongPlan) {
  Rng rng(6);
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    for (auto [x, op, n] : {std::tuple<int64_t, Op, int64_t>{69, Op::mul, 3}, {96, Op::sub, 73}}) {
      const auto w = blend_methods('b', x, op, n, rng);
      ASSERT_TRUE(w.has_value());
      for (const Equation& e : w->equations) {
        EXPECT_EQ(e.result, e.op == '+' ? e.lhs + e.rhs : e.op == '-' ? e.lhs - e.rhs : e.lhs * e.rhs);
      }
      EXPECT_NE(w->value(), op == Op::mul ? x * n : x - n) << w->text();
      const Problem p{.start = int(x), .difficulty = {1, 2}, .steps = {{op, int(n), int(op == Op::mul ? x * n : x - n)}}};
      EXPECT_FALSE(label_steps(p, {w->text()})[0]) << w->text();
      seen.insert(w->text());
    }
  }
  // Every wrong choice of round number, remainder and sign turns up, e.g. toy-reasoner-l's own.
  EXPECT_EQ(seen.size(), 12u);
  EXPECT_TRUE(seen.count("b: 60*3=180, 1*3=3, 180+3=183"));
  EXPECT_TRUE(seen.count("b: 96-70=26, 26+7=33"));
  // Steps with a single two-part method have no blend.
  EXPECT_FALSE(blend_methods('b', 7, Op::mul, 3, rng));
  EXPECT_FALSE(blend_methods('b', 61, Op::add, 35, rng));
  EXPECT_FALSE(blend_methods('b', 96, Op::sub, 70, rng));
}

TEST(ToyPrm, FirstMistakeKinds) {
  const Problem p = example_problem();  // a=61; b=a-35; c=b*4; d=c+41; d?
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "c: 20*4=80, 6*4=24, 80+24=104", "d: 104+41=145", "#### 145"}),
            FirstMistake::none);
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "c: 20*4=80, 6*4=25, 80+25=105"}), FirstMistake::arithmetic);
  // Every equation holds: a blend of methods, a wrong operand, the wrong variable.
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "c: 20*4=80, 4*4=16, 80+16=96", "d: 96+41=137"}), FirstMistake::plan);
  EXPECT_EQ(first_mistake(p, {"b: 61-36=25", "c: 25*4=101"}), FirstMistake::plan);
  EXPECT_EQ(first_mistake(p, {"c: 61-35=26"}), FirstMistake::plan);
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "c: 26*4=104", "d: 104+41=145", "#### 154"}), FirstMistake::other);
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "#### 26"}), FirstMistake::other);
  EXPECT_EQ(first_mistake(p, {"b: 61-35=26", "c: 26*4="}), FirstMistake::other);
}

TEST(ToyPrm, ResultDigitLabelsAreLocal) {
  // g: good, b: bad, .: none; one per character of the line and its newline.
  auto render = [](const std::vector<CharLabel>& labels) {
    std::string out;
    for (CharLabel l : labels) out += l == CharLabel::good ? 'g' : l == CharLabel::bad ? 'b' : '.';
    return out;
  };
  const auto labels = label_result_digits({"b: 61-35=26", "c: 20*4=80, 6*4=25, 80+25=105", "#### 105", "#### 15"});
  ASSERT_EQ(labels.size(), 4u);
  EXPECT_EQ(render(labels[0]), ".........gg.");
  // 6*4=25 departs at its last digit; 80+25=105 is right for what is written.
  EXPECT_EQ(render(labels[1]), "........gg......gb........ggg.");
  EXPECT_EQ(render(labels[2]), ".....ggg.");
  EXPECT_EQ(render(labels[3]), ".....gb.");
  // A number that stops short is wrong at its terminator; one too long at its extra digit.
  EXPECT_EQ(render(label_result_digits({"b: 61-35=2"})[0]), ".........gb");
  EXPECT_EQ(render(label_result_digits({"b: 61-35=260, 1+1=2"})[0]), ".........ggb......g.");
  // On slipped examples, a line with no bad digit has a good step label unless an earlier
  // line was wrong; a line with one is wrong.
  Rng rng(5);
  for (int i = 0; i < 300; ++i) {
    const Problem q = generate_problem(rng, {1 + i % 5, 1 + i % 2});
    const LabelledSolution s = make_slipped_example(q, rng, 0.2);
    ASSERT_EQ(s.labels, label_steps(q, s.lines));
    const auto digits = label_result_digits(s.lines);
    bool ok = true;
    for (size_t k = 0; k < s.lines.size(); ++k) {
      ok = ok && std::count(digits[k].begin(), digits[k].end(), CharLabel::bad) == 0;
      EXPECT_EQ(ok, bool(s.labels[k])) << s.lines[k];
    }
  }
  EXPECT_THROW(make_slipped_example(example_problem(), rng, 1.5), std::invalid_argument);
}

TEST(ToyMetrics, RocAuc) {
  EXPECT_DOUBLE_EQ(*roc_auc({{0.9, true}, {0.8, true}, {0.1, false}}), 1.0);
  EXPECT_DOUBLE_EQ(*roc_auc({{0.1, true}, {0.8, false}}), 0.0);
  EXPECT_DOUBLE_EQ(*roc_auc({{0.5, true}, {0.5, false}}), 0.5);
  EXPECT_DOUBLE_EQ(*roc_auc({{0.9, true}, {0.3, true}, {0.5, false}, {0.1, false}}), 0.75);
  EXPECT_FALSE(roc_auc({{0.9, true}}));
}

TEST(ToyMetrics, Votes) {
  using A = std::vector<std::optional<int64_t>>;
  EXPECT_EQ(majority_vote(A{1, 2, 2, std::nullopt, 1, 2}), 2);
  EXPECT_EQ(majority_vote(A{3, 1, 1, 3}), 3) << "ties go to the answer seen first";
  EXPECT_FALSE(majority_vote(A{std::nullopt}));
  EXPECT_EQ(weighted_vote(A{1, 2, 2}, {0.9, 0.2, 0.3}), 1);
  EXPECT_THROW(weighted_vote(A{1}, {}), std::invalid_argument);
}

// The sample files toy-steps writes come back labelled by the checker: a right sample all
// '+', a wrong one '-' from its first wrong step on, an empty one left out. A question
// from the dev or test split, or a line that is no example, is refused with its place.
TEST(ToyPrm, ReadLabelledSamplesLabelsEachSampleAndRefusesHeldOutQuestions) {
  const std::string dir = test::scratch_dir("toy_prm_samples");
  ProblemStream stream(train_mix(), 5);
  Problem problem = stream.next();
  while (problem.difficulty.steps < 2) problem = stream.next();
  Rng rng(1);
  const Solution right = solve(problem, rng);
  std::vector<std::string> wrong_lines = solution_lines(right.text());
  wrong_lines[0] += "0";  // the first step's result times ten
  std::string wrong;
  for (const auto& line : wrong_lines) wrong += line + "\n";
  Example e{"train-0", problem.question(), "", std::to_string(problem.answer()), problem.difficulty};
  std::vector<Example> samples;
  for (const std::string& text : {right.text(), wrong, std::string()}) {
    samples.push_back(e);
    samples.back().id += "/" + std::to_string(samples.size() - 1);
    samples.back().solution = text;
  }
  write_jsonl(dir + "/samples.jsonl", samples);

  const auto read = read_labelled_samples(dir + "/samples.jsonl");
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].id, "train-0/0");
  EXPECT_EQ(read[0].problem.question(), problem.question());
  EXPECT_EQ(read[0].solution.labels, std::vector<bool>(wrong_lines.size(), true));
  EXPECT_EQ(read[1].solution.lines, wrong_lines);
  EXPECT_EQ(read[1].solution.labels, std::vector<bool>(wrong_lines.size(), false));

  Example held_out = committed_split(Split::dev).front();
  write_jsonl(dir + "/dev.jsonl", {held_out});
  try {
    read_labelled_samples(dir + "/dev.jsonl");
    FAIL() << "a dev-split question was accepted";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("sample " + held_out.id + ": a dev-split question"), std::string::npos)
        << err.what();
  }
  std::ofstream(dir + "/broken.jsonl") << example_to_json(samples[0]) << "\n{\"id\": \"x\"}\n";
  try {
    read_labelled_samples(dir + "/broken.jsonl");
    FAIL() << "a line without a question was accepted";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("broken.jsonl:2: missing field"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace ponder::toy
