#pragma once
// Per-sequence sampling: what to draw, how to record it, when to stop.

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ponder/model.h"

namespace ponder {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax); allowed 0..100
  int top_k = 0;             // keep the k most likely tokens; 0 = off
  float top_p = 1.0f;        // nucleus: smallest set with mass >= top_p; 1 = off; (0, 1]
  float min_p = 0.0f;        // drop tokens below min_p * p(top token); 0 = off; [0, 1)
  uint64_t seed = 0;         // the same seed and inputs give the same tokens
  int top_logprobs = 0;      // alternatives recorded per generated token; 0..20

  // Throws std::invalid_argument naming the field and its allowed range.
  void validate() const;
};

// A thinking-token budget: once the model has generated `tokens` tokens inside a thinking
// block (after `start`, before `end`), the engine writes `close` in their place, token by
// token as if sampled (each with the model's own logprob of it), and the model goes on to
// answer. The count is read from the sequence's tokens at each generate(), so it holds
// across the steps of a search and across forks. ChatTemplate::thinking_budget fills it in.
struct ThinkingBudget {
  int tokens = -1;    // generated tokens inside a block at most; -1 = no budget; 0 closes at once
  std::string start;  // the tag that opens a block, e.g. "<think>" (read with special tokens)
  std::string end;    // the tag that closes it, e.g. "</think>"
  std::string close;  // written when the budget is spent, e.g. "\n</think>\n\n"; holds `end`

  bool enabled() const { return tokens >= 0; }
};

struct StopParams {
  int max_tokens = 256;            // generated tokens at most; >= 1
  std::vector<std::string> stop;   // stop strings (not included in the returned text)
  bool keep_stop = false;          // keep the stop string in the text (a search's steps end with theirs)
  bool ignore_eos = false;         // keep going past end-of-generation tokens
  ThinkingBudget thinking;         // off unless thinking.tokens >= 0

  void validate() const;
};

// Where `stop` appears in `text`, which a token's piece of `piece_size` bytes has just
// extended (only matches reaching into that piece are new), or npos. The engine checks
// each generated token this way, and the remote backend reads a server's tokens the same
// way, so that both cut a text at the same place.
inline size_t find_new_stop(const std::string& text, size_t piece_size, const std::string& stop) {
  const size_t from = text.size() > piece_size + stop.size() ? text.size() - piece_size - stop.size() : 0;
  return text.find(stop, from);
}

enum class FinishReason {
  none,          // still running, or never generated
  eos,           // the model ended its turn
  stop_string,   // one of StopParams::stop appeared
  max_tokens,    // StopParams::max_tokens reached
  context_full,  // the sequence reached the context size per sequence
  out_of_memory, // no KV cell left even for this sequence alone
  cancelled,     // the caller stopped it
};
const char* finish_reason_name(FinishReason reason);

struct TokenLogprob {
  Token token;
  float logprob;
};

// One generated token. logprob and entropy are of the model's own distribution
// (before temperature, top-k/p, min-p), so they measure the model's confidence.
struct TokenRecord {
  Token token;
  float logprob;
  float entropy;  // nats
  std::vector<TokenLogprob> top;  // SamplingParams::top_logprobs most likely, best first
};

// log-sum-exp and entropy of softmax(logits) in one pass.
struct LogitStats {
  float max_logit;
  float log_sum_exp;
  float entropy;
};
LogitStats logit_stats(std::span<const float> logits);

// Draws tokens for one sequence; owns its random state.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Samples from `logits` (one row of the vocabulary); `stats` from logit_stats.
  Token sample(std::span<const float> logits, const LogitStats& stats);
  // The distribution sample() draws from (temperature, top-k, top-p and min-p applied),
  // one probability per vocabulary entry; greedy puts all the mass on the argmax.
  // Speculative decoding accepts drafts against exactly this distribution.
  void distribution(std::span<const float> logits, const LogitStats& stats, std::vector<float>& probs);
  // A token drawn from `weights` (non-negative, not necessarily normalised) with this
  // sampler's random state; the argmax when they sum to 0.
  Token draw(std::span<const float> weights);
  // A uniform draw in [0, 1) from this sampler's random state.
  double uniform();
  const SamplingParams& params() const { return params_; }

 private:
  // Filtered sampling: fills candidates_[0, keep) best first and their weights_.
  size_t filtered_weights(std::span<const float> logits, const LogitStats& stats);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, Token>> candidates_;  // scratch
  std::vector<float> weights_;                       // scratch
};

}  // namespace ponder
