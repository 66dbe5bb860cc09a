#include "engine/drafting.h"

#include <algorithm>
#include <cmath>

namespace ponder {

std::vector<Token> lookup_draft(std::span<const Token> tokens, int max_ngram, int max_tokens) {
  const size_t n = tokens.size();
  for (int len = std::min<int>(max_ngram, int(n) - 1); len >= 1; --len) {
    const auto suffix = tokens.subspan(n - size_t(len));
    // The latest earlier occurrence with at least one token after it.
    for (size_t start = n - size_t(len); start-- > 0;) {
      if (!std::equal(suffix.begin(), suffix.end(), tokens.begin() + long(start))) continue;
      const size_t from = start + size_t(len);
      const size_t to = std::min(n, from + size_t(max_tokens));
      return {tokens.begin() + long(from), tokens.begin() + long(to)};
    }
  }
  return {};
}

NgramTrie::NgramTrie(int depth, int max_nodes) : depth_(depth), max_nodes_(size_t(max_nodes)) { nodes_.emplace_back(); }

uint32_t NgramTrie::child(uint32_t node, Token token) {
  auto it = nodes_[node].children.find(token);
  if (it != nodes_[node].children.end()) return it->second;
  const auto index = uint32_t(nodes_.size());
  nodes_[node].children.emplace(token, index);
  nodes_.emplace_back();
  return index;
}

void NgramTrie::add(std::span<const Token> tokens, size_t from) {
  const size_t n = tokens.size();
  if (from >= n) return;
  // Pruning: a trie past its size starts again from what comes next.
  if (nodes_.size() > max_nodes_) {
    nodes_.clear();
    nodes_.emplace_back();
  }
  const size_t first_start = from >= size_t(depth_) ? from - size_t(depth_) + 1 : 0;
  for (size_t start = first_start; start < n; ++start) {
    uint32_t node = 0;
    const size_t end = std::min(n, start + size_t(depth_));
    for (size_t pos = start; pos < end; ++pos) {
      node = child(node, tokens[pos]);
      if (pos >= from) ++nodes_[node].count;
    }
  }
}

std::optional<uint32_t> NgramTrie::match(std::span<const Token> tokens) const {
  for (int context = std::min<int>(2, int(tokens.size())); context >= 1; --context) {
    uint32_t node = 0;
    bool found = true;
    for (size_t pos = tokens.size() - size_t(context); pos < tokens.size() && found; ++pos) {
      auto it = nodes_[node].children.find(tokens[pos]);
      found = it != nodes_[node].children.end();
      if (found) node = it->second;
    }
    if (found && !nodes_[node].children.empty()) return node;
  }
  return std::nullopt;
}

bool NgramTrie::more_frequent(const std::pair<Token, uint32_t>& a, const std::pair<Token, uint32_t>& b) const {
  // Ties to the lower token, so drafts are reproducible.
  const uint32_t ca = nodes_[a.second].count, cb = nodes_[b.second].count;
  return ca > cb || (ca == cb && a.first < b.first);
}

std::vector<std::pair<Token, uint32_t>> NgramTrie::ranked_children(uint32_t node) const {
  std::vector<std::pair<Token, uint32_t>> out(nodes_[node].children.begin(), nodes_[node].children.end());
  std::sort(out.begin(), out.end(), [this](const auto& a, const auto& b) { return more_frequent(a, b); });
  return out;
}

std::pair<Token, uint32_t> NgramTrie::best_child(uint32_t node) const {
  const auto& children = nodes_[node].children;
  return *std::min_element(children.begin(), children.end(),
                           [this](const auto& a, const auto& b) { return more_frequent(a, b); });
}

std::vector<Token> NgramTrie::draft(std::span<const Token> tokens, int max_tokens) const {
  std::vector<Token> out;
  const std::optional<uint32_t> start = match(tokens);
  if (!start) return out;
  uint32_t node = *start;
  while (int(out.size()) < max_tokens && !nodes_[node].children.empty()) {
    const auto best = best_child(node);
    out.push_back(best.first);
    node = best.second;
  }
  return out;
}

NgramTrie::Tree NgramTrie::draft_tree(std::span<const Token> tokens, int max_tokens, int max_leaves) const {
  Tree tree;
  const std::optional<uint32_t> start = match(tokens);
  if (!start || max_tokens <= 0) return tree;
  struct Open {
    double weight;     // product of the frequencies of the continuations on its path
    Token token;
    uint32_t node;     // trie node
    int parent;        // tree index of its parent, -1 below the last token
    uint64_t order;    // ties: the earlier found first (draft()'s path before its rivals)
  };
  auto later = [](const Open& a, const Open& b) { return a.weight < b.weight || (a.weight == b.weight && a.order > b.order); };
  std::vector<Open> open;
  uint64_t found = 0;
  auto push_children = [&](uint32_t node, int parent, double weight) {
    uint32_t total = 0;
    for (const auto& [token, index] : nodes_[node].children) total += nodes_[index].count;
    for (const auto& [token, index] : ranked_children(node)) {
      const double share = total > 0 ? double(nodes_[index].count) / double(total) : 0.0;
      open.push_back({weight * share, token, index, parent, found++});
      std::push_heap(open.begin(), open.end(), later);
    }
  };
  std::vector<bool> has_child;
  int leaves = 0;
  push_children(*start, -1, 1.0);
  while (!open.empty() && int(tree.tokens.size()) < max_tokens) {
    std::pop_heap(open.begin(), open.end(), later);
    const Open next = open.back();
    open.pop_back();
    // A child of a leaf keeps the number of leaves; any other node adds one.
    const bool extends_leaf = next.parent >= 0 && !has_child[size_t(next.parent)];
    if (!extends_leaf && leaves >= max_leaves) continue;
    if (!extends_leaf) ++leaves;
    if (next.parent >= 0) has_child[size_t(next.parent)] = true;
    const int index = int(tree.tokens.size());
    tree.tokens.push_back(next.token);
    tree.parent.push_back(next.parent);
    has_child.push_back(false);
    push_children(next.node, index, next.weight);
  }
  return tree;
}

void AcceptanceStats::record(int drafted, int accepted_tokens) {
  // Recent steps count most: a sequence's text changes its predictability as it goes.
  constexpr double kDecay = 0.8;
  accepted = accepted * kDecay + accepted_tokens;
  rejected = rejected * kDecay + (accepted_tokens < drafted ? 1.0 : 0.0);
}

double AcceptanceStats::rate(double prior) const {
  // Two pseudo-observations at the prior.
  return (accepted + 2.0 * prior) / (accepted + rejected + 2.0);
}

double expected_tokens(double rate, int g) {
  double sum = 1.0, term = 1.0;
  for (int i = 0; i < g; ++i) {
    term *= rate;
    sum += term;
  }
  return sum;
}

void DecodeCostModel::observe(int tokens, double seconds) {
  // Decay keeps the fit current on a machine whose load changes.
  constexpr double kDecay = 0.98;
  const double x = tokens;
  weight_ = weight_ * kDecay + 1.0;
  sx_ = sx_ * kDecay + x;
  sy_ = sy_ * kDecay + seconds;
  sxx_ = sxx_ * kDecay + x * x;
  sxy_ = sxy_ * kDecay + x * seconds;
}

double DecodeCostModel::predict(double tokens) const {
  if (weight_ <= 0.0) return 0.0;
  const double mx = sx_ / weight_, my = sy_ / weight_;
  const double var = sxx_ / weight_ - mx * mx;
  double b = 0.0;
  if (var > 1e-6 * std::max(1.0, mx * mx)) b = (sxy_ / weight_ - mx * my) / var;
  double a = my - b * mx;
  if (var <= 1e-6 * std::max(1.0, mx * mx) || b <= 0.0 || a <= 0.0) {
    // One size seen (or a fit without meaning): split the mean time by the prior ratio.
    a = my / (1.0 + mx / prior_);
    b = a / prior_;
  }
  return a + b * tokens;
}

void DraftingCheck::Rate::add(int t, double s) {
  // About the last ten steps of this kind: the machine's load changes.
  constexpr double kDecay = 0.9;
  tokens = tokens * kDecay + t;
  seconds = seconds * kDecay + s;
  weight = weight * kDecay + 1.0;
}

bool DraftingCheck::veto(int sequences) {
  constexpr double kMeasured = 2.0;  // steps (decayed) before a rate is trusted
  Arms& a = arms_[sequences];
  const uint64_t turn = a.turns++;
  // Until both are measured, the one measured less.
  if (a.plain.weight < kMeasured || a.drafted.weight < kMeasured) return a.plain.weight < a.drafted.weight;
  const bool loses = a.drafted.per_second() < a.plain.per_second();
  const bool explore = turn % kExplorePeriod == kExplorePeriod - 1;
  return loses != explore;
}

bool DraftingCheck::resting(int sequences) {
  Arms& a = arms_[sequences];
  return a.without_drafts >= kRestAfter && ++a.rested % kRestAfter != 0;
}

void DraftingCheck::planned(int sequences, bool drafts) {
  Arms& a = arms_[sequences];
  a.without_drafts = drafts ? 0 : a.without_drafts + 1;
}

void DraftingCheck::observe(int sequences, bool drafted, int tokens, double seconds) {
  Arms& a = arms_[sequences];
  (drafted ? a.drafted : a.plain).add(tokens, seconds);
}

}  // namespace ponder
