#include "ponder/sampling.h"

#include <algorithm>
#include <bit>
#include <cstdint>
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
  if (thinking.tokens != -1) {
    require(thinking.tokens >= 0, "thinking.tokens", ">= 0 (-1 = no budget)");
    require(!thinking.start.empty() && !thinking.end.empty(), "thinking.start and thinking.end",
            "non-empty with a budget (the template's thinking tags)");
    require(thinking.close.find(thinking.end) != std::string::npos, "thinking.close", "text holding thinking.end");
  }
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

namespace {

// e^x for x <= 0 (softmax weights relative to the top logit), in float with no library
// call, so that the loop over a vocabulary below vectorises: std::exp is one call per
// token, and was most of the cost of sampling from a small model. 2^k * e^f with
// k = round(x / ln 2) and |f| <= ln 2 / 2 (ln 2 split in two so f stays exact), e^f by
// its Taylor series to f^7. Relative error under 1e-7; 0 below -87, where float e^x
// would be denormal.
inline float exp_nonpositive(float x) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const bool underflow = x < -87.0f;
  x = underflow ? -87.0f : x;
  const float k = (x * 1.44269504f + kRound) - kRound;
  const float f = (x - k * 0.693145752f) - k * 1.42860677e-6f;
  float p = 1.0f + f * (1.0f / 7);
  p = 1.0f + f * (1.0f / 6) * p;
  p = 1.0f + f * (1.0f / 5) * p;
  p = 1.0f + f * (1.0f / 4) * p;
  p = 1.0f + f * (1.0f / 3) * p;
  p = 1.0f + f * (1.0f / 2) * p;
  p = 1.0f + f * p;
  return underflow ? 0.0f : p * std::bit_cast<float>((int32_t(k) + 127) << 23);
}

// out[i] = e^((x[i] - max) * scale): the softmax weights of a row, unnormalised.
__attribute__((target_clones("avx512f", "avx2", "default"))) void softmax_weights(const float* x, size_t n,
                                                                                  float max, float scale,
                                                                                  float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = exp_nonpositive((x[i] - max) * scale);
}

}  // namespace

LogitStats logit_stats(std::span<const float> logits) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (float x : logits) max_logit = std::max(max_logit, x);
  thread_local std::vector<float> weights;
  weights.resize(logits.size());
  softmax_weights(logits.data(), logits.size(), max_logit, 1.0f, weights.data());
  double sum = 0.0, weighted = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (weights[i] == 0.0f) continue;  // also a -inf logit, whose 0 * -inf would be NaN
    sum += weights[i];
    weighted += double(weights[i]) * double(logits[i] - max_logit);
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
    // Inverse CDF of softmax(logits / T).
    weights_.resize(size_t(n));
    softmax_weights(logits.data(), size_t(n), stats.max_logit, float(inv_t), weights_.data());
    double total = 0.0;
    for (float w : weights_) total += w;
    double target = uniform() * total;
    for (int i = 0; i < n; ++i) {
      target -= weights_[size_t(i)];
      if (target < 0.0) return Token(i);
    }
    return Token(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  const size_t keep = filtered_weights(logits, stats);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += weights_[i];
  double target = uniform() * total;
  for (size_t i = 0; i < keep; ++i) {
    target -= weights_[i];
    if (target < 0.0) return candidates_[i].second;
  }
  return candidates_[0].second;
}

size_t Sampler::filtered_weights(std::span<const float> logits, const LogitStats& stats) {
  // top-k, then top-p and min-p on the untempered probabilities, then temperature.
  const int n = int(logits.size());
  const double inv_t = 1.0 / params_.temperature;
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
  weights_.resize(keep);
  for (size_t i = 0; i < keep; ++i) {
    weights_[i] = exp_nonpositive((candidates_[i].first - stats.max_logit) * float(inv_t));
  }
  return keep;
}

void Sampler::distribution(std::span<const float> logits, const LogitStats& stats, std::vector<float>& probs) {
  const size_t n = logits.size();
  probs.assign(n, 0.0f);
  if (params_.temperature <= 0.0f) {
    probs[size_t(std::max_element(logits.begin(), logits.end()) - logits.begin())] = 1.0f;
    return;
  }
  const bool filtered = params_.top_k > 0 || params_.top_p < 1.0f || params_.min_p > 0.0f;
  double total = 0.0;
  if (!filtered) {
    softmax_weights(logits.data(), n, stats.max_logit, float(1.0 / params_.temperature), probs.data());
    for (float w : probs) total += w;
    for (float& w : probs) w = float(double(w) / total);
    return;
  }
  const size_t keep = filtered_weights(logits, stats);
  for (size_t i = 0; i < keep; ++i) total += weights_[i];
  for (size_t i = 0; i < keep; ++i) probs[size_t(candidates_[i].second)] = float(double(weights_[i]) / total);
}

Token Sampler::draw(std::span<const float> weights) {
  double total = 0.0;
  for (float w : weights) total += w;
  if (!(total > 0.0)) return Token(std::max_element(weights.begin(), weights.end()) - weights.begin());
  double target = uniform() * total;
  Token last_positive = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0.0f) continue;
    last_positive = Token(i);
    target -= weights[i];
    if (target < 0.0) return Token(i);
  }
  return last_positive;  // rounding left a sliver of mass past the end
}

}  // namespace ponder
