#include <gtest/gtest.h>

#include <set>

#include "toy/prm.h"
#include "toy/task.h"
#include "toy/vocab.h"

namespace ponder::toy {
namespace {

TEST(ToyTask, SameSeedSameProblems) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 20; ++i) {
    const Difficulty d{1 + i % 5, 1 + i % 3};
    const Problem pa = generate_problem(a, d), pb = generate_problem(b, d), pc = generate_problem(c, d);
    EXPECT_EQ(pa.question(), pb.question());
    EXPECT_EQ(solve(pa, a).text(), solve(pb, b).text());
    (void)pc;
  }
  Rng x(42), y(43);
  EXPECT_NE(generate_problem(x, {5, 2}).question(), generate_problem(y, {5, 2}).question());
}

TEST(ToyTask, KnownQuestionAndSolutionFormat) {
  Problem p;
  p.start = 61;
  p.difficulty = {3, 2};
  p.steps = {{Op::sub, 35, 26}, {Op::mul, 4, 104}, {Op::add, 41, 145}};
  EXPECT_EQ(p.question(), "a=61; b=a-35; c=b*4; d=c+41; d?");
  EXPECT_EQ(solve_direct(p).text(), "b: 61-35=26\nc: 26*4=104\nd: 104+41=145\n#### 145");
  EXPECT_EQ(work_step('b', 61, Op::sub, 35, Method::split_operand).text(), "b: 61-30=31, 31-5=26");
  EXPECT_EQ(work_step('b', 61, Op::sub, 35, Method::round_operand).text(), "b: 61-40=21, 21+5=26");
  EXPECT_EQ(work_step('c', 26, Op::mul, 4, Method::split_input).text(), "c: 20*4=80, 6*4=24, 80+24=104");
  EXPECT_EQ(work_step('c', 26, Op::mul, 4, Method::round_input).text(), "c: 30*4=120, 4*4=16, 120-16=104");
  EXPECT_EQ(work_step('d', 104, Op::add, 41, Method::split_operand).text(), "d: 104+40=144, 144+1=145");
  EXPECT_EQ(work_step('d', 104, Op::add, 41, Method::split_input).text(), "d: 100+41=141, 141+4=145");
}

TEST(ToyTask, EveryMethodGivesTheRightValue) {
  for (int x = 1; x <= 300; x += 7) {
    for (Op op : {Op::add, Op::sub, Op::mul}) {
      for (int n : {2, 5, 9, 10, 13, 47, 99}) {
        if (op == Op::sub && n >= x) continue;
        const int64_t want = op == Op::add ? x + n : op == Op::sub ? x - n : int64_t(x) * n;
        for (Method m : methods_for(x, op, n)) {
          EXPECT_EQ(work_step('b', x, op, n, m).value(), want) << x << char(op) << n << " by " << method_name(m);
        }
      }
    }
  }
}

TEST(ToyTask, ProblemsRespectTheirDifficulty) {
  Rng rng(7);
  for (int steps = 1; steps <= 5; ++steps) {
    for (int digits = 1; digits <= 3; ++digits) {
      for (int i = 0; i < 50; ++i) {
        const Problem p = generate_problem(rng, {steps, digits});
        ASSERT_EQ(int(p.steps.size()), steps);
        const int64_t cap = digits == 1 ? 99 : digits == 2 ? 999 : 9999;
        for (const auto& s : p.steps) {
          EXPECT_GE(s.value, 1);
          EXPECT_LE(s.value, cap);
          if (s.op == Op::mul) {
            EXPECT_TRUE(s.operand >= 2 && s.operand <= 9);
          }
        }
        EXPECT_EQ(std::to_string(p.start).size(), size_t(digits));
      }
    }
  }
  EXPECT_THROW(generate_problem(rng, {6, 2}), std::invalid_argument);
  EXPECT_THROW(generate_problem(rng, {3, 0}), std::invalid_argument);
}

TEST(ToyTask, SolutionsAreCorrectStepByStep) {
  Rng rng(11);
  for (int i = 0; i < 300; ++i) {
    const Problem p = generate_problem(rng, {1 + i % 5, 1 + i % 2});
    const Solution s = solve(p, rng);
    EXPECT_EQ(s.answer, p.answer());
    const auto lines = solution_lines(s.text());
    ASSERT_EQ(lines.size(), p.steps.size() + 1);
    for (bool ok : label_steps(p, lines)) EXPECT_TRUE(ok) << p.question() << "\n" << s.text();
    EXPECT_EQ(extract_answer(s.text()), p.answer());
  }
}

TEST(ToyTask, SampledSolutionsTakeDifferentPaths) {
  Rng rng(5);
  Problem p = generate_problem(rng, {4, 2});
  std::set<std::string> texts;
  for (int i = 0; i < 50; ++i) texts.insert(solve(p, rng).text());
  EXPECT_GT(texts.size(), 3u) << "voting needs diverse solution paths";
}

TEST(ToyTask, QuestionsParseBack) {
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    const Problem p = generate_problem(rng, {1 + i % 5, 1 + i % 3});
    auto q = parse_question(p.question());
    ASSERT_TRUE(q.has_value()) << p.question();
    EXPECT_EQ(q->question(), p.question());
    EXPECT_EQ(q->answer(), p.answer());
    EXPECT_EQ(q->difficulty, p.difficulty);
  }
  EXPECT_FALSE(parse_question("a=61; b=a/35; b?"));
  EXPECT_FALSE(parse_question("a=61; c=a-35; c?"));
  EXPECT_FALSE(parse_question("What is 2+2?"));
}

TEST(ToyTask, ReasonerOutputEndsLinesAsTheReasonerDoes) {
  const ReasonerOutput out = reasoner_output({"b: 1+1=2", "#### 2"});
  std::vector<int32_t> expected = toy_tokenize("b: 1+1=2\n#### 2");
  expected.push_back(kEosToken);
  EXPECT_EQ(out.tokens, expected);
  EXPECT_EQ(out.line_ends, std::vector<size_t>({9, 16}));  // after the "\n", after the EOS
  EXPECT_TRUE(reasoner_output({}).tokens.empty());
}

TEST(ToyTask, ExtractAnswer) {
  EXPECT_EQ(extract_answer("b: 1+1=2\n#### 2"), 2);
  EXPECT_EQ(extract_answer("#### 3\n#### 145"), 145);
  EXPECT_EQ(extract_answer("#### -7"), -7);
  EXPECT_FALSE(extract_answer("b: 1+1=2\n"));
  EXPECT_FALSE(extract_answer("#### x"));
}

}  // namespace
}  // namespace ponder::toy
