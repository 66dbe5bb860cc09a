#pragma once
// Verifiers score a question's solutions step by step. Three kinds:
// - a process reward model run as a causal LM (Math-Shepherd style): the question in the
//   PRM's prompt format, then each step followed by a tag; after each tag the PRM's
//   P(good) vs P(bad) token is its verdict on the solution so far;
// - an external command (CommandVerifier): given the question and a solution as JSON on
//   stdin, it prints scores (e.g. by running the solution's unit tests);
// - self-evaluation (SelfEvaluator): the generator itself reads its solution followed by
//   a fixed question, and P(yes) vs P(no) is the score.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ponder/model.h"

namespace ponder {

// How a solution's step scores become one score.
enum class StepAggregation {
  min,      // the weakest step (Math-Shepherd)
  last,     // the last step: the PRM's verdict on the whole solution
  product,  // every step right
};
StepAggregation parse_step_aggregation(std::string_view name);  // throws std::invalid_argument
const char* step_aggregation_name(StepAggregation a);
// The steps' scores aggregated; 0 without steps.
double aggregate_steps(const std::vector<double>& steps, StepAggregation a);

struct PrmSettings {
  std::string prompt = "{question}\n";  // the PRM's input before the first step
  std::string step_delimiter = "\n\n";  // a solution's steps are cut here (empty steps dropped)
  std::string tag = "~";                // appended after each step and its delimiter
  std::string good = "+";               // one token: the step is right
  std::string bad = "-";                // one token: it is wrong
  StepAggregation aggregation = StepAggregation::min;
  // A step's score is sigmoid(log P(good) - log P(bad) + surprise_weight * lowest), where
  // `lowest` is the lowest logprob the PRM gave any text token of this step or an earlier
  // one: its own surprise at the text catches mistakes its verdict misses. Finite, >= 0.
  double surprise_weight = 0.0;

  void validate() const;  // throws std::invalid_argument naming the field
};

// Reads settings from a JSON file (keys as the field names; "aggregation": "min" etc.).
// Throws std::runtime_error naming the file and the bad key.
PrmSettings load_prm_settings(const std::string& path);
// The settings file that goes with a model: "<model without .gguf>.verifier.json".
std::string prm_settings_path(const std::string& model_path);

// Per step: its score in [0, 1], and the solution's score by the aggregation.
struct StepScores {
  std::vector<double> steps;
  double solution = 0.0;  // 0 for a solution without steps
};

// What the PRM gave one tokenized solution: per token its logprob, the good and bad
// tokens' logprobs in its place, and what the token is.
enum class PrmTokenKind : unsigned char { text, tag, label };
struct PrmReading {
  std::vector<float> logprobs, good, bad;
  std::vector<PrmTokenKind> kinds;  // `label`: the first token after a tag, where the verdict is read
  void resize(size_t entries);      // every vector at once
};
// The scores of a reading; throws std::invalid_argument when its vectors differ in
// length or a logprob is NaN.
StepScores score_reading(const PrmReading& reading, double surprise_weight, StepAggregation aggregation);

// A PRM model with its settings, its special tokens resolved.
class ProcessRewardModel {
 public:
  // Settings from prm_settings_path(model->path()) when that file exists, else defaults.
  static ProcessRewardModel load(std::shared_ptr<const Model> model);
  ProcessRewardModel(std::shared_ptr<const Model> model, PrmSettings settings);

  const Model& model() const { return *model_; }
  const PrmSettings& settings() const { return settings_; }
  Token good_token() const { return good_; }
  Token bad_token() const { return bad_; }

  std::vector<Token> prompt_tokens(const std::string& question) const;
  // The steps of a solution, the tokens to score after the prompt (each step, its
  // delimiter, the tag; then one more token so the last verdict is read), and their kinds.
  std::vector<std::string> steps(const std::string& solution) const;
  struct Continuation {
    std::vector<Token> tokens;
    std::vector<PrmTokenKind> kinds;
    std::vector<size_t> step_ends;  // per step: index of the token after its tag (where its verdict is read)
  };
  Continuation continuation(const std::vector<std::string>& steps) const;

 private:
  std::shared_ptr<const Model> model_;
  PrmSettings settings_;
  Token good_ = 0, bad_ = 0;
  std::vector<Token> tag_;
};

// Cuts a solution into its steps at `delimiter`, blank steps dropped. Throws
// std::invalid_argument for an empty delimiter.
std::vector<std::string> split_steps(const std::string& solution, const std::string& delimiter);
// The same from byte `from` on, with where each step ends: after its delimiter, or at the
// end of the text for an unfinished last step.
struct TextStep {
  std::string text;
  size_t end;
  bool complete;  // followed by the delimiter
};
std::vector<TextStep> split_steps_from(const std::string& text, size_t from, const std::string& delimiter);

// An external program that scores solutions. Per solution it is started afresh (by
// argument vector, never through a shell) and reads one JSON object on stdin:
//   {"question": "...", "solution": "...", "steps": ["...", ...]}
// It answers with one JSON object on stdout, exit status 0:
//   {"steps": [s1, ...]}  one score per step given, each in [0, 1]; or
//   {"score": s}          a score for the whole solution in [0, 1]; or both.
// The solution's score is "score" when given, else the steps' by `aggregation`; a
// "score" alone also stands as the score of the latest step (what a search ranks by).
// Anything else is an error naming the command: a nonzero exit, a signal, a timeout
// (the program and its process group are killed), output that is not such an object or
// is longer than `max_output_bytes`, a score that is not a number in [0, 1].
struct CommandVerifierOptions {
  std::vector<std::string> argv;      // the program (looked up in PATH when it has no '/') and its arguments
  double timeout_s = 30.0;            // per solution, (0, 86400]
  int parallel = 2;                   // programs running at once (all questions together), [1, 64]
  size_t max_output_bytes = 1 << 20;  // [16, 1 GiB]
  std::string step_delimiter = "\n\n";  // how a solution is cut into its "steps"; not empty
  StepAggregation aggregation = StepAggregation::min;  // "steps" -> the solution's score

  void validate() const;  // throws std::invalid_argument naming the field
};

class CommandVerifier {
 public:
  explicit CommandVerifier(CommandVerifierOptions options);  // validates
  const CommandVerifierOptions& options() const { return options_; }
  // The program and its arguments, quoted, for messages.
  std::string command_line() const;
  // The JSON object the program reads for one solution.
  std::string request(const std::string& question, const std::string& solution) const;
  // The scores in the program's output; `steps` is how many steps the request gave.
  // Throws std::runtime_error saying what is wrong (without the command's name).
  StepScores parse_output(const std::string& output, size_t steps) const;
  // Runs the program on one solution, blocking the calling thread (first until fewer than
  // `parallel` runs of this verifier and its copies are under way); stops early (with an
  // error) when `*cancel` turns true. Throws std::runtime_error naming the command and
  // what went wrong. Thread-safe.
  StepScores score(const std::string& question, const std::string& solution,
                   const std::atomic<bool>* cancel = nullptr) const;

 private:
  struct Slots;  // the runs under way, shared by copies
  CommandVerifierOptions options_;
  std::shared_ptr<Slots> slots_;
};

// Self-evaluation: the generator judges its own solution. After the solution (or, per
// step, after each step) it reads `question`; the score is P(yes) / (P(yes) + P(no)) of
// the next token, `yes` and `no` each one token of the model.
struct SelfEvalSettings {
  std::string question = "\nIs this solution correct? Answer yes or no:";  // not empty
  std::string yes = " yes";  // one token of the model
  std::string no = " no";    // one token of the model, not `yes`
  // Off: one verdict on the whole solution. On: a verdict after each step (a search
  // gets one after each step it takes), the solution's score by `aggregation`.
  bool per_step = false;
  std::string step_delimiter = "\n\n";  // where steps end; not empty
  StepAggregation aggregation = StepAggregation::min;

  void validate() const;  // throws std::invalid_argument naming the field
};

class SelfEvaluator {
 public:
  // Throws std::invalid_argument when a setting is wrong or yes / no is not one token.
  SelfEvaluator(std::shared_ptr<const Model> model, SelfEvalSettings settings);
  const Model& model() const { return *model_; }
  const SelfEvalSettings& settings() const { return settings_; }
  Token yes_token() const { return yes_; }
  Token no_token() const { return no_; }
  // The tokens read after a solution: the question, then one more token so that the
  // verdict (the candidates' logprobs in its place) follows the whole question.
  const std::vector<Token>& judge_tokens() const { return judge_; }
  // The score from the yes and no logprobs: sigmoid(yes - no), 0 when both are -inf.
  static double verdict(float yes_logprob, float no_logprob);
  // The solution's score from its step verdicts (0 without any).
  double aggregate(const std::vector<double>& steps) const;

 private:
  std::shared_ptr<const Model> model_;
  SelfEvalSettings settings_;
  Token yes_ = 0, no_ = 0;
  std::vector<Token> judge_;
};

}  // namespace ponder
