#include "engine/thinking.h"

#include <algorithm>
#include <stdexcept>

namespace ponder {

ThinkingTracker::ThinkingTracker(std::vector<Token> start, std::vector<Token> end, std::vector<Token> close,
                                 int budget)
    : start_(std::move(start)), end_(std::move(end)), close_(std::move(close)), budget_(budget) {
  if (start_.empty() || end_.empty() || close_.empty()) {
    throw std::invalid_argument("thinking budget: the start tag, end tag and closing text need tokens");
  }
  if (budget_ < 0) throw std::invalid_argument("thinking budget: must be >= 0");
}

bool ThinkingTracker::tail_is(const std::vector<Token>& tag) const {
  return tail_.size() >= tag.size() && std::equal(tag.rbegin(), tag.rend(), tail_.rbegin());
}

void ThinkingTracker::observe(Token token, bool generated) {
  tail_.push_back(token);
  const size_t keep = std::max(start_.size(), end_.size());
  if (tail_.size() > keep) tail_.erase(tail_.begin(), tail_.end() - long(keep));
  switch (state_) {
    case State::outside:
      if (tail_is(start_)) {
        state_ = budget_ == 0 ? State::closing : State::inside;
        used_ = 0;
        closed_ = 0;
      }
      break;
    case State::inside:
      if (tail_is(end_)) {
        state_ = State::outside;
      } else if (generated && ++used_ >= budget_) {
        state_ = State::closing;
        closed_ = 0;
      }
      break;
    case State::closing:
      if (token == close_[closed_]) {
        if (++closed_ == close_.size()) state_ = State::outside;
      } else if (tail_is(end_)) {
        state_ = State::outside;  // something else closed the block (appended text)
      } else {
        closed_ = 0;  // something else was written in between: close from the start
      }
      break;
  }
}

std::optional<Token> ThinkingTracker::forced() const {
  if (state_ != State::closing) return std::nullopt;
  return close_[closed_];
}

}  // namespace ponder
