#include "ponder/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ponder {

namespace {
void require(bool ok, const char* field, const char* allowed) {
  if (!ok) throw std::invalid_argument(std::string(field) + ": must be " + allowed);
}
}  // namespace

void SamplingParams::validate() const {
  require(std::isfinite(temperature) && temperature >= 0.0f && temperature <= 100.0f, "temperature",
          "in [0, 100] (0 = greedy)");
  require(top_k >= 0, "top_k", ">= 0 (0 = off)");
  require(top_p > 0.0f && top_p <= 1.0f, "top_p", "in (0, 1] (1 = off)");
  require(min_p >= 0.0f && min_p < 1.0f, "min_p", "in [0, 1) (0 = off)");
  require(top_logprobs >= 0 && top_logprobs <= 20, "top_logprobs", "in [0, 20]");
}

void StopParams::validate() const {
  require(max_tokens >= 1, "max_tokens", ">= 1");
  for (const auto& s : stop) require(!s.empty(), "stop", "non-empty strings");
}

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::none: return "none";
    case FinishReason::eos: return "eos";
    case FinishReason::stop_string: return "stop";
    case FinishReason::max_tokens: return "length";
    case FinishReason::context_full: return "context_full";
    case FinishReason::out_of_memory: return "out_of_memory";
    case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

LogitStats logit_stats(std::span<const float> logits) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float x : logits) max_logit = std::max(max_logit, x);
  double sum = 0.0, weighted = 0.0;
  for (float x : logits) {
    const double e = std::exp(double(x - max_logit));
    sum += e;
    weighted += e * double(x - max_logit);
  }
  const double lse = double(max_logit) + std::log(sum);
  // H = lse - E[logit]
  const double entropy = std::log(sum) - weighted / sum;
  return {max_logit, float(lse), float(std::max(0.0, entropy))};
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  params_.validate();
}

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }  // [0, 1)

Token Sampler::sample(std::span<const float> logits, const LogitStats& stats) {
  const int n = int(logits.size());
  if (params_.temperature <= 0.0f) {
    return Token(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const bool filtered = params_.top_k > 0 || params_.top_p < 1.0f || params_.min_p > 0.0f;
  const double inv_t = 1.0 / params_.temperature;

  if (!filtered) {
    // One pass over the vocabulary, no sort: inverse CDF of softmax(logits / T).
    double total = 0.0;
    for (float x : logits) total += std::exp((double(x) - stats.max_logit) * inv_t);
    double target = uniform() * total;
    for (int i = 0; i < n; ++i) {
      target -= std::exp((double(logits[i]) - stats.max_logit) * inv_t);
      if (target < 0.0) return Token(i);
    }
    return Token(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // top-k, then top-p and min-p on the untempered probabilities, then temperature.
  candidates_.resize(n);
  for (int i = 0; i < n; ++i) candidates_[i] = {logits[i], Token(i)};
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = size_t(n);
  if (params_.top_k > 0 && params_.top_k < n) {
    keep = size_t(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  if (params_.min_p > 0.0f) {
    const float floor = stats.max_logit + std::log(params_.min_p);
    size_t k = 1;
    while (k < keep && candidates_[k].first >= floor) ++k;
    keep = k;
  }
  if (params_.top_p < 1.0f) {
    double mass = 0.0;
    size_t k = 0;
    while (k < keep) {
      mass += std::exp(double(candidates_[k].first) - stats.log_sum_exp);
      ++k;
      if (mass >= params_.top_p) break;
    }
    keep = k;
  }
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += std::exp((double(candidates_[i].first) - stats.max_logit) * inv_t);
  double target = uniform() * total;
  for (size_t i = 0; i < keep; ++i) {
    target -= std::exp((double(candidates_[i].first) - stats.max_logit) * inv_t);
    if (target < 0.0) return candidates_[i].second;
  }
  return candidates_[0].second;
}

}  // namespace ponder
