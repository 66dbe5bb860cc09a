// Step aggregation: how a solution's step scores become one, and how a solution is cut
// into steps (no model needed, so the evaluation's settings and the fuzz targets use it
// without llama.cpp).

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ponder/verifier.h"

namespace ponder {

StepAggregation parse_step_aggregation(std::string_view name) {
  if (name == "min") return StepAggregation::min;
  if (name == "last") return StepAggregation::last;
  if (name == "product") return StepAggregation::product;
  throw std::invalid_argument("step aggregation '" + std::string(name) + "': must be min, last or product");
}

const char* step_aggregation_name(StepAggregation a) {
  switch (a) {
    case StepAggregation::min: return "min";
    case StepAggregation::last: return "last";
    case StepAggregation::product: return "product";
  }
  return "?";
}

double aggregate_steps(const std::vector<double>& steps, StepAggregation a) {
  if (steps.empty()) return 0.0;
  switch (a) {
    case StepAggregation::min: return *std::min_element(steps.begin(), steps.end());
    case StepAggregation::last: return steps.back();
    case StepAggregation::product: {
      double p = 1.0;
      for (double x : steps) p *= x;
      return p;
    }
  }
  return 0.0;
}

std::vector<TextStep> split_steps_from(const std::string& text, size_t from, const std::string& d) {
  if (d.empty()) throw std::invalid_argument("split_steps: the delimiter is empty");
  std::vector<TextStep> out;
  while (from < text.size()) {
    const size_t at = text.find(d, from);
    const bool complete = at != std::string::npos;
    const size_t end = complete ? at + d.size() : text.size();
    std::string step = text.substr(from, (complete ? at : text.size()) - from);
    if (step.find_first_not_of(" \t\r\n") != std::string::npos) out.push_back({std::move(step), end, complete});
    from = end;
  }
  return out;
}

std::vector<std::string> split_steps(const std::string& solution, const std::string& d) {
  std::vector<std::string> out;
  for (TextStep& step : split_steps_from(solution, 0, d)) out.push_back(std::move(step.text));
  return out;
}

void PrmReading::resize(size_t entries) {
  logprobs.resize(entries);
  good.resize(entries);
  bad.resize(entries);
  kinds.resize(entries);
}

}  // namespace ponder
