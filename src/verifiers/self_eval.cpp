// Self-evaluation: the generator's own P(yes) after a fixed question about its solution.

#include <cmath>
#include <stdexcept>

#include "ponder/verifier.h"

namespace ponder {

void SelfEvalSettings::validate() const {
  if (question.empty()) throw std::invalid_argument("self-eval question: must not be empty");
  if (yes.empty() || no.empty() || yes == no) {
    throw std::invalid_argument("self-eval yes/no: two different, non-empty tokens");
  }
  if (step_delimiter.empty()) throw std::invalid_argument("self-eval step_delimiter: must not be empty");
}

SelfEvaluator::SelfEvaluator(std::shared_ptr<const Model> model, SelfEvalSettings settings)
    : model_(std::move(model)), settings_(std::move(settings)) {
  if (!model_) throw std::invalid_argument("self-eval: no model");
  settings_.validate();
  auto one_token = [&](const std::string& text, const char* field) {
    const auto tokens = model_->tokenize(text, false);
    if (tokens.size() != 1) {
      throw std::invalid_argument(std::string("self-eval ") + field + " '" + text +
                                  "': must be one token of " + model_->path() + " (it is " +
                                  std::to_string(tokens.size()) + ")");
    }
    return tokens[0];
  };
  yes_ = one_token(settings_.yes, "yes");
  no_ = one_token(settings_.no, "no");
  judge_ = model_->tokenize(settings_.question, false);
  if (judge_.empty()) throw std::invalid_argument("self-eval question: has no tokens");
  judge_.push_back(yes_);
}

double SelfEvaluator::verdict(float yes_logprob, float no_logprob) {
  const double x = double(yes_logprob) - double(no_logprob);
  if (std::isnan(x)) return 0.0;
  return 1.0 / (1.0 + std::exp(-x));
}

double SelfEvaluator::aggregate(const std::vector<double>& steps) const {
  return aggregate_steps(steps, settings_.aggregation);
}

}  // namespace ponder
