#pragma once
// What a question reports while it runs. The runtime emits these on its engine thread as
// they happen; `ponder run -v` prints them, the server streams them, the live page draws
// them. Samples are numbered in launch order within their question.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ponder/answers.h"
#include "ponder/cost.h"
#include "ponder/sampling.h"

namespace ponder {

using QuestionId = uint64_t;
using SampleId = int;  // a question's samples in launch order: 0, 1, 2, ...

enum class EventKind {
  launched,   // a sample started from the prompt (parent -1)
  forked,     // a sample started from `parent` after its first `position` tokens
  extended,   // `text` was appended to a sample as given, not sampled
  truncated,  // a sample was rolled back to its first `position` tokens
  resampled,  // a sample was dropped and `parent`'s copy took its place (searches)
  line,       // a sample finished a line or step: `text`, `tokens` with logprobs, from `position`
  tokens,     // a sample's newest tokens within its unfinished line, from `position` (Job::token_events)
  finished,   // a sample ended: `text`, `answer`, `detail` = finish reason
  pruned,     // a sample was stopped by its strategy; `detail` says why
  scored,     // a verifier scored a sample: `scores` per step, `value` the solution's score
  vote,       // the vote so far: `tally` (answer, weight) best first, `value` the criterion
  stopped,    // the strategy stopped drawing; `detail` says why
  decided,    // an adaptive strategy chose: `detail` (difficulty, preset, escalation)
  result,     // the question's answer: `answer`, `value` = confidence, `cost`
  error,      // the question failed or was cancelled; `detail` says why
};
const char* event_kind_name(EventKind kind);

struct Event {
  EventKind kind = EventKind::error;
  QuestionId question = 0;
  SampleId sample = -1;   // -1 for events of the whole question
  SampleId parent = -1;   // forked, resampled
  int position = 0;       // forked, truncated: tokens kept; line: index of its first token
  std::string text;       // line, finished, extended
  std::string detail;     // finished, pruned, stopped, error
  std::vector<TokenRecord> tokens;  // line
  std::optional<Answer> answer;     // finished, vote (the leader), result
  std::vector<double> scores;       // scored: per step
  std::vector<std::pair<std::string, double>> tally;  // vote
  double value = 0.0;     // scored, vote, result
  Cost cost;              // result, error
  bool large_model = false;  // about a sample on the runtime's large model (cascades)
  std::optional<double> threshold;  // vote: the value `value` must reach to stop, when it is a stop rule
};

using EventSink = std::function<void(const Event&)>;

}  // namespace ponder
