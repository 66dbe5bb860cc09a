#pragma once
// Follows a sequence's tokens in and out of thinking blocks and says which token a
// thinking budget forces next (StopParams::thinking). Pure bookkeeping, no model: the
// engine feeds it every token of a sequence and asks before each sample.

#include <optional>
#include <vector>

#include "ponder/model.h"

namespace ponder {

class ThinkingTracker {
 public:
  // The tags and the closing text as tokens (none empty); `budget` >= 0.
  ThinkingTracker(std::vector<Token> start, std::vector<Token> end, std::vector<Token> close, int budget);

  // The sequence's next token; `generated`: the model's own (it counts toward the
  // budget), not the prompt's or appended text.
  void observe(Token token, bool generated);
  // The token the budget writes next, if the budget is spent inside an open block.
  std::optional<Token> forced() const;
  bool inside() const { return state_ != State::outside; }
  int used() const { return used_; }  // generated tokens in the current block

 private:
  enum class State { outside, inside, closing };
  bool tail_is(const std::vector<Token>& tag) const;

  std::vector<Token> start_, end_, close_;
  int budget_;
  State state_ = State::outside;
  int used_ = 0;
  size_t closed_ = 0;         // closing: tokens of close_ written so far
  std::vector<Token> tail_;   // the last tokens seen, as many as the longer tag
};

}  // namespace ponder
