#pragma once
// Lossless speculative decoding inside the engine (docs/speculative.md).
//
// Every generating sequence of a step may carry a draft: up to a few tokens guessed
// cheaply, appended behind its last token in the step's one target decode, which then
// yields the target's distribution at every draft position. Each sequence keeps the
// longest prefix of its draft that the target's own sampler accepts, plus one token of
// the target's (the correction, or the bonus after a fully accepted draft); the rejected
// positions leave the KV cache again. Strategies never see it: tokens, logprobs and
// events are the target's, only fewer decodes produced them.
//
// Acceptance keeps the output distribution the target's (its sampler's, after
// temperature, top-k/p and min-p):
//   greedy                argmax match: output identical to plain decoding (a draft tree:
//                         the child whose token the target chose is followed)
//   lookup, lookahead     a draft token is a point mass: the target's sampler draws its
//                         token x as it would without speculation and the draft token is
//                         accepted when x equals it (probability p(token); on rejection x
//                         is a draw from p without the token, renormalised), so the tokens
//                         are those of plain decoding with the same seed
//   draft model, sampled  accept d with probability min(1, p(d) / q(d)), on rejection draw
//                         from normalise(max(0, p - q)), where q is the draft model's
//                         distribution under the same sampling parameters
//
// How many tokens to draft is decided per step: each sequence's acceptance rate (decayed
// counts) gives the tokens a draft of length g is expected to yield, and a cost model of
// the target's and the draft model's decodes (fitted online from their wall times against
// their batch sizes) gives what a longer batch costs; the step drafts the length that
// maximises expected tokens per second, 0 when drafting does not pay (large batches).

#include <memory>
#include <string>
#include <string_view>

#include "ponder/model.h"

namespace ponder {

enum class SpeculativeMethod {
  off,
  draft,      // a small model with the target's vocabulary drafts autoregressively
  lookup,     // prompt lookup: the tokens that followed the latest n-gram match in the sequence
  lookahead,  // a frequency-weighted trie of n-grams of a request's prompts and outputs
};
const char* speculative_method_name(SpeculativeMethod method);
// "draft", "lookup", "lookahead" or "off"; throws std::invalid_argument naming them.
SpeculativeMethod parse_speculative_method(std::string_view name);

struct SpeculativeOptions {
  SpeculativeMethod method = SpeculativeMethod::off;
  // The draft model (method draft): its vocabulary must be the target's, token by token.
  std::shared_ptr<const Model> draft_model;
  int max_draft = 8;     // draft tokens per sequence and step at most; 1..32
  // false: always draft max_draft tokens where a draft exists (tests, measurements).
  bool adaptive = true;
  int lookup_max_ngram = 4;   // lookup: the longest suffix matched; 1..16
  int trie_max_nodes = 1 << 20;  // lookahead: a request's trie is cleared when it grows past this
  // lookahead: branches of a draft tree verified in one decode (1 = a single path). Trees
  // need the unified KV layout (a branch's tokens share cells with the sequence under
  // extra llama seq ids), which the automatic layout then takes, with flash attention; an
  // engine given the split layout drafts single paths. Off by default: on the toy models
  // on a CPU the unified layout alone costs more than trees gain (docs/speculative.md).
  // 1..8
  int lookahead_branches = 1;

  // Throws std::invalid_argument naming the field and what is allowed.
  void validate() const;
  bool enabled() const { return method != SpeculativeMethod::off; }
};

// Throws std::invalid_argument when `draft` cannot draft for `target`: another vocabulary
// size, or a token whose text differs (the first one is named).
void check_same_vocabulary(const Model& target, const Model& draft);

}  // namespace ponder
