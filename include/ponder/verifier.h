#pragma once
// Verifiers score a question's solutions step by step. The first is a process reward
// model run as a causal LM (Math-Shepherd style): the question in the PRM's prompt
// format, then each step followed by a tag; after each tag the PRM's P(good) vs P(bad)
// token is its verdict on the solution so far.

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

}  // namespace ponder
