// The process reward model verifier: settings, the scoring input, and the step scores.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ponder/verifier.h"

namespace ponder {

void PrmSettings::validate() const {
  if (prompt.find("{question}") == std::string::npos) {
    throw std::invalid_argument("verifier prompt: must contain {question}");
  }
  if (step_delimiter.empty()) throw std::invalid_argument("verifier step_delimiter: must not be empty");
  if (tag.empty()) throw std::invalid_argument("verifier tag: must not be empty");
  if (good.empty() || bad.empty() || good == bad) {
    throw std::invalid_argument("verifier good/bad: two different, non-empty tokens");
  }
  if (!std::isfinite(surprise_weight) || surprise_weight < 0.0) {
    throw std::invalid_argument("verifier surprise_weight: must be finite and >= 0");
  }
}

PrmSettings load_prm_settings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read verifier settings " + path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) throw std::runtime_error(path + ": not a JSON object");
  PrmSettings s;
  auto text = [&](const char* key, std::string& field) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) throw std::runtime_error(path + ": " + key + " must be a string");
    field = j[key].get<std::string>();
  };
  for (const auto& [key, value] : j.items()) {
    static const char* known[] = {"prompt", "step_delimiter", "tag", "good", "bad", "aggregation", "surprise_weight"};
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return key == k; }) == std::end(known)) {
      throw std::runtime_error(path + ": unknown key '" + key + "'");
    }
  }
  text("prompt", s.prompt);
  text("step_delimiter", s.step_delimiter);
  text("tag", s.tag);
  text("good", s.good);
  text("bad", s.bad);
  std::string aggregation = step_aggregation_name(s.aggregation);
  text("aggregation", aggregation);
  if (j.contains("surprise_weight")) {
    if (!j["surprise_weight"].is_number()) throw std::runtime_error(path + ": surprise_weight must be a number");
    s.surprise_weight = j["surprise_weight"].get<double>();
  }
  try {
    s.aggregation = parse_step_aggregation(aggregation);
    s.validate();
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return s;
}

std::string prm_settings_path(const std::string& model_path) {
  std::filesystem::path p(model_path);
  if (p.extension() == ".gguf") p.replace_extension();
  return p.string() + ".verifier.json";
}

StepScores score_reading(const PrmReading& r, double surprise_weight, StepAggregation aggregation) {
  const size_t n = r.kinds.size();
  if (r.logprobs.size() != n || r.good.size() != n || r.bad.size() != n) {
    throw std::invalid_argument("PRM reading: logprobs, good, bad and kinds differ in length");
  }
  if (!std::isfinite(surprise_weight) || surprise_weight < 0.0) {
    throw std::invalid_argument("surprise_weight: must be finite and >= 0, not " + std::to_string(surprise_weight));
  }
  StepScores out;
  double step_lowest = 0.0, lowest = 0.0;
  for (size_t t = 0; t < n; ++t) {
    if (std::isnan(r.logprobs[t]) || std::isnan(r.good[t]) || std::isnan(r.bad[t])) {
      throw std::invalid_argument("PRM reading: NaN logprob at token " + std::to_string(t));
    }
    if (r.kinds[t] == PrmTokenKind::label) {
      lowest = std::min(lowest, step_lowest);
      step_lowest = 0.0;
      const double verdict = double(r.good[t]) - double(r.bad[t]);
      // An infinite verdict (a token the PRM never gives) saturates the sigmoid.
      const double x = verdict + surprise_weight * lowest;
      out.steps.push_back(std::isnan(x) ? 0.0 : 1.0 / (1.0 + std::exp(-x)));
    } else if (r.kinds[t] == PrmTokenKind::text) {
      step_lowest = std::min(step_lowest, double(r.logprobs[t]));
    }
  }
  out.solution = aggregate_steps(out.steps, aggregation);
  return out;
}

ProcessRewardModel ProcessRewardModel::load(std::shared_ptr<const Model> model) {
  const std::string path = prm_settings_path(model->path());
  PrmSettings settings = std::filesystem::exists(path) ? load_prm_settings(path) : PrmSettings{};
  return ProcessRewardModel(std::move(model), std::move(settings));
}

ProcessRewardModel::ProcessRewardModel(std::shared_ptr<const Model> model, PrmSettings settings)
    : model_(std::move(model)), settings_(std::move(settings)) {
  settings_.validate();
  auto one_token = [&](const std::string& text, const char* field) {
    const auto tokens = model_->tokenize(text, false);
    if (tokens.size() != 1) {
      throw std::invalid_argument(std::string("verifier ") + field + " '" + text + "': must be one token of " +
                                  model_->path() + " (it is " + std::to_string(tokens.size()) + ")");
    }
    return tokens[0];
  };
  good_ = one_token(settings_.good, "good");
  bad_ = one_token(settings_.bad, "bad");
  tag_ = model_->tokenize(settings_.tag, false);
}

std::vector<Token> ProcessRewardModel::prompt_tokens(const std::string& question) const {
  std::string text = settings_.prompt;
  text.replace(text.find("{question}"), 10, question);
  return model_->tokenize(text, true);
}

std::vector<std::string> ProcessRewardModel::steps(const std::string& solution) const {
  return split_steps(solution, settings_.step_delimiter);
}

ProcessRewardModel::Continuation ProcessRewardModel::continuation(const std::vector<std::string>& steps) const {
  Continuation c;
  bool after_tag = false;
  auto add = [&](Token t, PrmTokenKind kind) {
    c.tokens.push_back(t);
    c.kinds.push_back(after_tag ? PrmTokenKind::label : kind);
    after_tag = false;
  };
  for (const auto& step : steps) {
    for (Token t : model_->tokenize(step + settings_.step_delimiter, false)) add(t, PrmTokenKind::text);
    for (Token t : tag_) add(t, PrmTokenKind::tag);
    after_tag = true;
    c.step_ends.push_back(c.tokens.size());
  }
  if (after_tag) add(good_, PrmTokenKind::label);
  return c;
}

}  // namespace ponder
