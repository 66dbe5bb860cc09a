#pragma once
// The toy world's task: multi-step integer arithmetic with worked solutions.
//
//   question   a=61; b=a-35; c=b*4; d=c+41; d?
//   solution   b: 61-40=21, 21+5=26
//              c: 20*4=80, 6*4=24, 80+24=104
//              d: 104+41=145
//              #### 145
//
// A reasoner sees BOS + question + "\n" and writes the solution, one step per line, the
// last line "#### <answer>", then EOS. Each step can be worked by several equivalent
// methods (direct, splitting an operand into tens and units, rounding to the next ten);
// training solutions pick one at random, so sampled solutions take different paths and
// their mistakes are not all the same (which is what lets voting help).
//
// Difficulty is the number of steps (1 to 5) and the digits of the start value and of the
// added or subtracted operands (1 to 3); multipliers are always 2..9. Every value stays
// in [1, 10^(digits+1) - 1]. Everything is deterministic given a seed.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "toy/rng.h"

namespace ponder::toy {

enum class Op : char { add = '+', sub = '-', mul = '*' };

struct Difficulty {
  int steps = 3;   // 1..5
  int digits = 2;  // 1..3

  void validate() const;  // throws std::invalid_argument naming the field
  bool operator==(const Difficulty&) const = default;
};

struct ProblemStep {
  Op op;
  int operand;
  int value;  // the variable's value after this step
};

struct Problem {
  int start = 0;  // value of `a`
  Difficulty difficulty;
  std::vector<ProblemStep> steps;

  std::string question() const;
  int64_t answer() const { return steps.back().value; }
};

// Variable name of step i (0-based): b, c, d, ...; `a` holds the start value.
char step_variable(size_t step);

// Parses a question written by Problem::question(); nullopt if it is not one.
std::optional<Problem> parse_question(const std::string& question);

Problem generate_problem(Rng& rng, const Difficulty& difficulty);

// How one step is worked out.
enum class Method {
  direct,         // 61-35=26
  split_operand,  // 61-30=31, 31-5=26        (add, sub: operand = tens + units)
  round_operand,  // 61-40=21, 21+5=26        (sub: operand rounded up to tens)
  split_input,    // 20*4=80, 6*4=24, 80+24=104 (add, mul: input = tens + units)
  round_input,    // 30*4=120, 4*4=16, 120-16=104 (mul: input rounded up to tens)
};
const char* method_name(Method method);

// The methods that apply to `x op n` (direct always does).
std::vector<Method> methods_for(int x, Op op, int n);

struct Equation {
  int64_t lhs;
  char op;
  int64_t rhs;
  int64_t result;  // lhs op rhs, unless a slip changed it
};

struct WorkedStep {
  char variable;
  std::vector<Equation> equations;

  int64_t value() const { return equations.back().result; }
  std::string text() const;  // "c: 20*4=80, 6*4=24, 80+24=104" (no newline)
};

// Changes the result of equation `index` of a step (for injected mistakes); later
// equations of the step, and later steps, compute correctly from the changed value.
using ResultSlip = std::function<int64_t(size_t index, int64_t result)>;

// Works `x op n` by `method` (which must be in methods_for(x, op, n)).
WorkedStep work_step(char variable, int64_t x, Op op, int64_t n, Method method,
                     const ResultSlip& slip = {});

struct Solution {
  std::vector<WorkedStep> steps;
  int64_t answer = 0;  // the value written after "####"

  std::vector<std::string> lines() const;  // step texts, then "#### <answer>"
  std::string text() const;                // lines joined by "\n", no trailing newline
};

// A solution whose methods are drawn uniformly from those that apply.
Solution solve(const Problem& problem, Rng& rng);
// The solution with every step worked directly.
Solution solve_direct(const Problem& problem);

// The prompt a reasoner continues: the question and a newline (BOS is added by the tokenizer).
std::string reasoner_prompt(const std::string& question);

// The toy tokens a reasoner writes for a solution's lines: the lines joined by "\n", then
// EOS. line_ends[i] is one past line i's last token (its "\n", or the EOS after the last),
// so scoring a line's span scores what the reasoner chose there, the line break included.
struct ReasonerOutput {
  std::vector<int32_t> tokens;
  std::vector<size_t> line_ends;
};
ReasonerOutput reasoner_output(const std::vector<std::string>& lines);

// The integer after the last "#### " in text; nullopt when there is none.
std::optional<int64_t> extract_answer(const std::string& text);

}  // namespace ponder::toy
