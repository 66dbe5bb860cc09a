#pragma once
// The model-free drafters and the bookkeeping that sizes drafts (ponder/speculative.h).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "ponder/model.h"

namespace ponder {

// Prompt lookup: the latest earlier occurrence of the sequence's last n tokens (n from
// max_ngram down to 1) and up to `max_tokens` tokens that followed it; empty without one.
std::vector<Token> lookup_draft(std::span<const Token> tokens, int max_ngram, int max_tokens);

// A frequency-weighted trie of the n-grams (up to depth tokens) of the texts it is fed:
// every position starts a path. A draft follows the last one or two tokens of a sequence
// into the trie and then the most frequent child, as far as it goes.
class NgramTrie {
 public:
  NgramTrie(int depth, int max_nodes);
  // Adds every n-gram of `tokens` that ends at a position >= `from` (0: all of them; the
  // first new position after appending to tokens whose earlier n-grams were added).
  void add(std::span<const Token> tokens, size_t from);
  std::vector<Token> draft(std::span<const Token> tokens, int max_tokens) const;
  // Several branches at once: up to `max_tokens` nodes below the same match as draft(),
  // taken best first by the product of their continuations' frequencies along the path,
  // with at most `max_leaves` leaves. Nodes come parent first; parent[i] is the index of
  // node i's parent, -1 for a child of the sequence's last token. The first branch (node
  // 0, its first child, and so on) is a prefix of draft()'s path.
  struct Tree {
    std::vector<Token> tokens;
    std::vector<int> parent;
  };
  Tree draft_tree(std::span<const Token> tokens, int max_tokens, int max_leaves) const;
  size_t nodes() const { return nodes_.size(); }

 private:
  struct Node {
    std::unordered_map<Token, uint32_t> children;  // token -> node index
    uint32_t count = 0;
  };
  uint32_t child(uint32_t node, Token token);
  // The node the last one or two tokens lead to (two preferred); nullopt without a match
  // that has a continuation.
  std::optional<uint32_t> match(std::span<const Token> tokens) const;
  // Children of `node`, the most frequent first (ties to the lower token), and the first
  // of them alone (draft() runs every step: no list, no sort).
  std::vector<std::pair<Token, uint32_t>> ranked_children(uint32_t node) const;
  std::pair<Token, uint32_t> best_child(uint32_t node) const;
  // Ranks two (token, node) children: the more frequent first, ties to the lower token.
  bool more_frequent(const std::pair<Token, uint32_t>& a, const std::pair<Token, uint32_t>& b) const;

  int depth_;
  size_t max_nodes_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
};

// A sequence's draft acceptance: decayed counts of accepted and rejected draft tokens;
// rate() is the chance that the next draft token is accepted.
struct AcceptanceStats {
  double accepted = 0.0;
  double rejected = 0.0;
  void record(int drafted, int accepted_tokens);
  double rate(double prior) const;
};

// Tokens a draft of length g yields on average when each is accepted with `rate`:
// 1 + rate + ... + rate^g (the target's own token always comes).
double expected_tokens(double rate, int g);

// Wall seconds of one decode as a + b * tokens, fitted by least squares over decayed
// observations; before two distinct sizes are seen, b = a / `prior_tokens_per_overhead`.
class DecodeCostModel {
 public:
  explicit DecodeCostModel(double prior_tokens_per_overhead) : prior_(prior_tokens_per_overhead) {}
  void observe(int tokens, double seconds);
  double predict(double tokens) const;
  bool calibrated() const { return weight_ > 0.0; }

 private:
  double prior_;
  double weight_ = 0.0, sx_ = 0.0, sy_ = 0.0, sxx_ = 0.0, sxy_ = 0.0;
};

// The cost model's choices checked against the clock: the tokens pure decoding steps
// emit per second, with drafts and without, per number of generating sequences (decayed).
// Where drafting has measured slower than plain steps at this batch size, it is vetoed,
// whatever the model predicts (a linear fit learned at other batch sizes can be wrong by
// more than drafting gains); one step in kExplorePeriod runs the other way, so that both
// rates stay current.
class DraftingCheck {
 public:
  static constexpr uint64_t kExplorePeriod = 32;
  // The cost model wants to draft in this step of `sequences` generating sequences:
  // true = decode plainly instead.
  bool veto(int sequences);
  void observe(int sequences, bool drafted, int tokens, double seconds);
  // After kRestAfter steps in a row without drafts at this batch size, drafts are planned
  // only every kRestAfter-th step: finding them (trie walks, lookups, the cost model) costs
  // every sequence time in every step even when none is drafted.
  static constexpr uint64_t kRestAfter = 8;
  bool resting(int sequences);
  void planned(int sequences, bool drafts);

 private:
  struct Rate {
    double tokens = 0.0, seconds = 0.0, weight = 0.0;
    void add(int t, double s);
    double per_second() const { return tokens / std::max(seconds, 1e-12); }
  };
  struct Arms {
    Rate plain, drafted;
    uint64_t turns = 0;
    uint64_t without_drafts = 0;  // plans in a row that drafted nothing
    uint64_t rested = 0;
  };
  std::unordered_map<int, Arms> arms_;
};

}  // namespace ponder
