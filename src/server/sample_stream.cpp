// Samples reported as they are decoded, for streaming and for per-token logprobs.

#include "server/sample_stream.h"

#include <algorithm>
#include <cmath>

namespace ponder::server {

size_t utf8_complete_prefix(std::string_view text) {
  // Look back over at most 3 continuation bytes for the lead byte of the last character.
  const size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: keep looking
    size_t length = 1;
    if ((c & 0xE0) == 0xC0) {
      length = 2;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
    }
    return back < length ? n - back : n;
  }
  return n;  // only continuation bytes: invalid, passed on whole
}

size_t streamable_prefix(std::string_view text, const std::vector<std::string>& stop) {
  size_t keep = utf8_complete_prefix(text);
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    // The longest proper prefix of the stop string that the text ends with.
    for (size_t k = std::min(s.size() - 1, text.size()); k >= 1; --k) {
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        keep = std::min(keep, text.size() - k);
        break;
      }
    }
  }
  return keep;
}

StreamedSamples::StreamedSamples(std::string name, int n, GenerationOptions generation, const Model& model,
                                 SampleListener listener)
    : StrategyBase(std::move(name), n, std::move(generation)),
      model_(model),
      listener_(std::move(listener)) {}

Task<StrategyResult> StreamedSamples::run(QuestionRun& q) const {
  const GenerationOptions& g = generation();
  const std::vector<SampleId> ids = q.launch(budget(), g, true);
  const size_t count = ids.size();
  std::vector<std::string> sent(count);       // text reported so far
  std::vector<size_t> tokens_sent(count, 0);  // records reported so far
  std::vector<SampleTrace> traces(count);
  std::vector<SampleId> running = ids;

  // Reports what a sample has that was not reported yet: `text` when it extends what was sent.
  auto report = [&](size_t k, const std::string& text, size_t streamable,
                    std::span<const TokenRecord> records) {
    std::string_view delta;
    if (streamable > sent[k].size() && text.compare(0, sent[k].size(), sent[k]) == 0) {
      delta = std::string_view(text).substr(sent[k].size(), streamable - sent[k].size());
    }
    if (delta.empty() && records.size() == tokens_sent[k]) return;
    listener_.on_delta(int(k), delta, records.subspan(tokens_sent[k]));
    sent[k] += delta;
    tokens_sent[k] = records.size();
  };

  while (!running.empty()) {
    co_await q.next_step();
    for (auto it = running.begin(); it != running.end();) {
      const size_t k = size_t(*it - ids.front());
      const std::span<const TokenRecord> records = q.records(*it);
      if (q.busy(*it)) {
        if (listener_.on_delta && records.size() > tokens_sent[k]) {
          std::vector<Token> tokens;
          for (const auto& r : records) tokens.push_back(r.token);
          const std::string text = model_.detokenize(tokens);
          report(k, text, streamable_prefix(text, g.stop.stop), records);
        }
        ++it;
        continue;
      }
      std::vector<TokenRecord> kept(records.begin(), records.end());
      traces[k] = q.harvest(*it, g.answers);
      if (listener_.on_delta) report(k, traces[k].text, traces[k].text.size(), kept);
      if (listener_.on_finished) listener_.on_finished(int(k), traces[k], std::move(kept));
      it = running.erase(it);
    }
  }

  StrategyResult r;
  r.samples = std::move(traces);
  r.answer = r.samples.front().answer;
  r.text = r.samples.front().text;
  r.confidence = std::exp(r.samples.front().mean_logprob);
  r.stop_reason = "budget";
  co_return r;
}

}  // namespace ponder::server
