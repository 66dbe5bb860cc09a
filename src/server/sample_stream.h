#pragma once
// Plain samples whose text is reported token by token as it is decoded: the server's raw
// mode ("strategy": "sample", n samples with logprobs) and greedy. The registry's
// strategies report a sample only when it finishes; these report every engine step, and
// keep each token's record (logprob and alternatives) for the response.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ponder/runtime.h"
#include "ponder/strategy.h"

namespace ponder::server {

// The longest prefix of `text` that ends on a whole UTF-8 character: a streamed piece
// never splits a character (an invalid byte counts as whole, to be replaced on output).
size_t utf8_complete_prefix(std::string_view text);

// How much of a sample's text so far may be sent: whole characters only, and nothing
// that could still turn out to begin a stop string (the engine drops stop strings).
size_t streamable_prefix(std::string_view text, const std::vector<std::string>& stop);

// What the samples report, on the engine thread. Sample k of the run is choice k.
struct SampleListener {
  // New text of a sample and the tokens decoded since its last report.
  std::function<void(int sample, std::string_view text, std::span<const TokenRecord> tokens)> on_delta;
  // A sample ended: its whole text (stop string excluded), its records and why it ended.
  std::function<void(int sample, const SampleTrace& trace, std::vector<TokenRecord> records)> on_finished;
};

// n samples from the prompt, all generating at once (sample k with seed + k). The result
// answers with sample 0; every sample's trace is in it.
class StreamedSamples : public StrategyBase {
 public:
  StreamedSamples(std::string name, int n, GenerationOptions generation, const Model& model,
                  SampleListener listener);
  Task<StrategyResult> run(QuestionRun& question) const override;

 private:
  const Model& model_;
  SampleListener listener_;
};

}  // namespace ponder::server
