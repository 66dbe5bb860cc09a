#pragma once
// The toy process reward model's input format, its training data (solutions with
// injected mistakes) and the labelling of any solution's steps against its problem.
//
// Format (Math-Shepherd style): BOS, the question and a newline, then each step's line
// followed by a newline and the step tag '~'. The token after each tag is where the PRM
// answers: '+' if every step up to and including this one is correct, '-' if not.
//
//   <s>a=61; b=a-35; c=b*4; c?\n
//   b: 61-35=26\n~
//   c: 26*4=105\n~
//   #### 105\n~
//
// To score a step, append its line (with exactly one trailing newline), the tag and any
// token (e.g. '+'), and read P('+') and P('-') at the last position: with
// Engine::score(seq, tokens(line + "\n~+"), {'+', '-'}) they are the candidate logprobs
// of the last scored token. A whole solution scores in one pass the same way: the
// candidates at the token after each tag. The answer line "#### N" is a step too.

#include <optional>
#include <string>
#include <vector>

#include "toy/task.h"

namespace ponder::toy {

inline constexpr char kPrmTag = '~';
inline constexpr char kPrmGood = '+';
inline constexpr char kPrmBad = '-';

// The question and its newline (BOS is added by the tokenizer).
std::string prm_prefix(const std::string& question);
// One step as the PRM sees it: the line without its trailing newlines, "\n", the tag.
std::string prm_step(const std::string& line);
// prm_prefix + every prm_step.
std::string prm_text(const std::string& question, const std::vector<std::string>& lines);

// What a PRM gave the text after prm_prefix (prm_step lines, then one more token, e.g.
// '+'): tokens[t] is its t-th token, logprobs[t] that token's logprob, good[t] and bad[t]
// the logprobs '+' and '-' would have had in its place (read them after a tag).
struct PrmReading {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs, good, bad;
};

// toy-prm's step score weighs its surprise at the text with this (see prm_step_probabilities).
// Chosen on the dev split's held-out steps (`ponder-train surprise -m models/toy-prm.gguf
// --prm` prints the step AUC at several weights).
inline constexpr double kPrmSurpriseWeight = 0.5;

// Per step (one per tag), the lowest logprob of its text's tokens, 0 when it has none:
// the tags and the token after each, where the PRM answers a label, are not text.
// Throws std::invalid_argument when the reading's vectors differ in length.
std::vector<double> prm_step_surprise(const PrmReading& reading);

// Per step, the probability that it and every step before it are correct:
//   sigmoid(log P('+') - log P('-') after the step's tag + surprise_weight * lowest),
// where `lowest` is the lowest prm_step_surprise of this step and the ones before it. The
// verdict after the tag and the PRM's own surprise at the text catch different mistakes
// (a wrong digit it would not have written, a plan it would not have chosen); weight 0 is
// the verdict alone. Throws as prm_step_surprise, and std::invalid_argument for a weight
// that is NaN or infinite.
std::vector<double> prm_step_probabilities(const PrmReading& reading, double surprise_weight = kPrmSurpriseWeight);

// The lines of a solution text (split at "\n", empty lines dropped).
std::vector<std::string> solution_lines(const std::string& solution);

// Per line of a candidate solution: true when that line and all before it are correct.
// A step line is correct when it names the right variable, each of its equations
// "A op B=C" holds and its last result is the variable's true value; the answer line is
// correct when every step came before it and its number is the answer. Anything after
// the answer line is incorrect.
std::vector<bool> label_steps(const Problem& problem, const std::vector<std::string>& lines);

// What went wrong first in a solution: nothing; an equation that does not hold (an
// arithmetic slip); a step whose equations all hold but whose value is wrong (a wrong
// plan: a blend of methods, a wrong operand or operation, the wrong variable); or
// anything else (a malformed line, a wrong or early answer line, a line too many).
enum class FirstMistake { none, arithmetic, plan, other };
FirstMistake first_mistake(const Problem& problem, const std::vector<std::string>& lines);

// Per line, one label per character of the line and its newline: true while the text
// so far is the start of a correct solution, i.e. every earlier line is exactly one of
// the solution's ways to work that step (work_step with any method of methods_for) or
// the answer line, and this line so far begins one. The first false marks the first
// wrong character; everything after it is false. On the lines of make_prm_example, a
// line's last label equals its label_steps label.
std::vector<std::vector<bool>> label_prefixes(const Problem& problem, const std::vector<std::string>& lines);

// Replaced-digit labels: per line, one per character of the line and its newline.
// Each equation's result (and the answer line's number) is checked against what its
// written left side gives (for the answer, the last written result): its characters are
// `good` up to the first that departs from it, that one is `bad` (the comma or newline
// when the written number stops short), and the rest of a departed number and every
// other character get `none`. Only the written text counts, so after a slip, later
// equations computed from the slipped value are good again: the labels are local,
// unlike label_steps and label_prefixes.
enum class CharLabel : signed char { none, good, bad };
std::vector<std::vector<CharLabel>> label_result_digits(const std::vector<std::string>& lines);

// A step `x op n` worked by a blend of its two two-part methods, every equation of it
// right but its result wrong: each part (the first equation's round number, the
// remainder, the sign that adds it back) taken from either method, e.g. 69*3 as
// "60*3=180, 1*3=3, 180+3=183" (split_input's tens, round_input's remainder) or 96-73
// as "96-70=26, 26+7=33". Most of toy-reasoner-l's wrong steps are such blends.
// nullopt when `x op n` has no two such methods (only products of x >= 10 with a units
// digit, and differences whose operand can be split and rounded up, do).
std::optional<WorkedStep> blend_methods(char variable, int64_t x, Op op, int64_t n, Rng& rng);

struct PrmDataOptions {
  double mistake_rate = 0.5;    // fraction of solutions with one injected mistake
  // How a mistake is made (relative weights), in about the proportions of toy-reasoner-l's
  // own first wrong steps (3 in 4 blends, most of the rest arithmetic slips):
  double result_slip = 0.3;     // one equation's result has a wrong digit or carry
  double method_slip = 0.55;    // a step worked by blend_methods (else a result slip)
  double operand_slip = 0.05;   // the step uses a wrong operand (computed consistently)
  double operator_slip = 0.05;  // the step uses the wrong operation
  double answer_slip = 0.05;    // the answer line copies a wrong number

  void validate() const;  // throws std::invalid_argument
};

struct LabelledSolution {
  std::vector<std::string> lines;  // step lines and the answer line
  std::vector<bool> labels;        // one per line, as label_steps defines them
};

// A solution of `problem` (methods drawn at random), with a mistake injected at a random
// step at rate options.mistake_rate; steps after a mistake are computed correctly from
// the wrong value, as a model that slipped would continue.
LabelledSolution make_prm_example(const Problem& problem, Rng& rng, const PrmDataOptions& options = {});

// A solution of `problem` (methods drawn at random) whose equation results each slip
// with probability `rate` (a wrong digit or carry); later equations and steps compute
// from the slipped values. Labels as label_steps.
LabelledSolution make_slipped_example(const Problem& problem, Rng& rng, double rate);

// One of a reasoner's sampled solutions, labelled against its problem.
struct LabelledSample {
  std::string id;
  Problem problem;
  LabelledSolution solution;  // labels from label_steps
};

// The samples `ponder toy-steps --write-samples` writes (toy-task JSONL, the sample as
// "solution"), labelled; empty samples are left out. Training data for a PRM that is to
// judge that reasoner, so every question must be from the training split: throws
// std::runtime_error naming the file and sample otherwise, or on a line that is not a
// toy-task example.
std::vector<LabelledSample> read_labelled_samples(const std::string& path);

}  // namespace ponder::toy
