// Fuzz target for reading an evaluation's traces.jsonl (src/eval/run_dir.cpp's
// parse_traces, through the JSON codec of src/eval/result_json.cpp) on arbitrary bytes,
// aborting on the first broken invariant.
//
//   - parse_traces never throws: a row it cannot use becomes a warning (its run is done
//     again), so one damaged row cannot make every later run fail
//   - every row it keeps is a successful run with one correctness flag per sample, and
//     writing it and reading it back gives the same row

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "eval/run_dir.h"
#include "ponder/result_json.h"

namespace {

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_traces: broken invariant: %s [%.*s]\n", what, int(detail.size()), detail.data());
  std::abort();
}

bool same_number(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

bool same_sample(const ponder::SampleTrace& a, const ponder::SampleTrace& b) {
  if (a.scores.size() != b.scores.size()) return false;
  for (auto i = a.scores.begin(), j = b.scores.begin(); i != a.scores.end(); ++i, ++j) {
    if (i->first != j->first || !same_number(i->second, j->second)) return false;
  }
  if (a.token_logprobs.size() != b.token_logprobs.size()) return false;
  for (size_t i = 0; i < a.token_logprobs.size(); ++i) {
    if (a.token_logprobs[i].token != b.token_logprobs[i].token ||
        !same_number(a.token_logprobs[i].logprob, b.token_logprobs[i].logprob))
      return false;
  }
  return a.text == b.text && a.answer.has_value() == b.answer.has_value() &&
         a.id == b.id && a.parent == b.parent && a.fork_position == b.fork_position &&
         (!a.answer || (a.answer->text == b.answer->text && a.answer->key == b.answer->key)) &&
         same_number(a.mean_logprob, b.mean_logprob) && a.tokens == b.tokens && a.finish == b.finish &&
         a.pruned == b.pruned;
}

bool same_cost(const ponder::Cost& a, const ponder::Cost& b) {
  return a.prompt_tokens == b.prompt_tokens && a.generated_tokens == b.generated_tokens &&
         a.scored_tokens == b.scored_tokens && a.forward_passes == b.forward_passes &&
         same_number(a.wall_ms, b.wall_ms) && a.verifier_tokens == b.verifier_tokens;
}

bool same_row(const ponder::TraceRow& a, const ponder::TraceRow& b) {
  const auto &r = a.result, &s = b.result;
  if (r.samples.size() != s.samples.size() || r.costs.size() != s.costs.size()) return false;
  for (size_t i = 0; i < r.costs.size(); ++i) {
    if (r.costs[i].role != s.costs[i].role || r.costs[i].model != s.costs[i].model ||
        r.costs[i].parameters != s.costs[i].parameters || !same_cost(r.costs[i].cost, s.costs[i].cost))
      return false;
  }
  for (size_t i = 0; i < r.samples.size(); ++i)
    if (!same_sample(r.samples[i], s.samples[i])) return false;
  return a.id == b.id && a.item_hash == b.item_hash && a.reference == b.reference && a.correct == b.correct &&
         a.samples_correct == b.samples_correct && r.strategy == s.strategy &&
         r.answer.has_value() == s.answer.has_value() && (!r.answer || r.answer->key == s.answer->key) &&
         r.text == s.text && same_number(r.confidence, s.confidence) && r.stop_reason == s.stop_reason &&
         same_cost(r.cost, s.cost) && r.error == s.error;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ponder::eval::LoadedTraces traces;
  try {
    traces = ponder::eval::parse_traces(text);
  } catch (const std::exception& e) {
    check(false, "parse_traces threw", e.what());
  }
  for (const auto& [key, row] : traces.done) {
    check(key.first == row.id && key.second == row.result.strategy, "row filed under another key", row.id);
    check(row.result.error.empty(), "a failed run counted as done", row.result.error);
    check(row.samples_correct.size() == row.result.samples.size(), "a correctness flag per sample", row.id);
    ponder::TraceRow again;
    try {
      // Through text, as the next run reads it (invalid UTF-8 is replaced, so compare
      // the row read back from its own output with that output read once more).
      const ponder::TraceRow once = nlohmann::json::parse(ponder::dump_json(row)).get<ponder::TraceRow>();
      again = nlohmann::json::parse(ponder::dump_json(once)).get<ponder::TraceRow>();
      check(same_row(once, again), "a written row reads back differently", row.id);
    } catch (const std::exception& e) {
      check(false, "a written row cannot be read back", e.what());
    }
  }
  return 0;
}
