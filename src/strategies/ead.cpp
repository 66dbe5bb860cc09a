// ead@N: Entropy Adaptive Decoding. Each sample is written by the small model (the
// generator) until the rolling mean entropy of its last w tokens rises above the
// threshold, then by the large model until it falls below again, at least d_min tokens
// between switches. Both models keep a sequence per sample; the one switched in reads
// only the tokens written since it last wrote (its KV already holds the prompt and the
// rest), then samples on. The N samples vote.
//
// A token's entropy is that of the distribution it was drawn from, so it is known here
// with the draw: the small model's token that tips the mean over is dropped and drawn
// again by the large model, as if the switch had come before the draw (the uncertain
// token is the one worth the large model; the small model's try costs one token).

#include <algorithm>
#include <cstdio>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

// Later stretches of a sample draw with seeds of their own, far from other samples'.
constexpr uint64_t kStretchSeedStride = 0x9E3779B97F4A7C15ull;

class EntropyAdaptiveDecoding : public StrategyBase {
 public:
  EntropyAdaptiveDecoding(std::string name, int n, EadOptions e, GenerationOptions g)
      : StrategyBase(std::move(name), n, std::move(g)), options_(e) {}

  uint32_t needs() const override {
    return StrategyBase::needs() | kLargeModel | kSwitchModels | kExtend | kTruncate;
  }
  // Every sample keeps a sequence on the model not writing it.
  int held_samples() const override { return budget(); }

  Task<StrategyResult> run(QuestionRun& q) const override {
    QuestionRun& large = q.large();
    std::vector<Written> samples(static_cast<size_t>(budget()));
    const std::vector<SampleId> ids = q.launch(budget(), generation(), true);
    for (size_t k = 0; k < samples.size(); ++k) samples[k].on_small = ids[k];
    StrategyResult r;
    size_t running = samples.size();
    while (running > 0) {
      co_await q.next_step();
      for (size_t k = 0; k < samples.size(); ++k) {
        Written& w = samples[k];
        if (w.ended || !advance(q, large, w, k)) continue;
        w.ended = true;
        --running;
      }
    }
    int64_t tokens = 0, by_large = 0, switches = 0;
    for (size_t k = 0; k < samples.size(); ++k) {
      r.samples.push_back(finish(q, large, samples[k]));
      tokens += int64_t(samples[k].records.size());
      by_large += samples[k].large_tokens();
      switches += samples[k].switches;
    }
    const auto groups = voting::tally(r.samples);
    voting::decide(r, groups);
    q.report_vote(voting::standings(groups, r.samples), r.confidence);
    r.stop_reason = "budget";
    char detail[128];
    std::snprintf(detail, sizeof(detail),
                  "budget; the large model wrote %lld of %lld tokens in %lld switches", (long long)by_large,
                  (long long)tokens, (long long)switches);
    q.emit({.kind = EventKind::stopped, .detail = detail});
    co_return r;
  }

 private:
  // One sample as both models write it.
  struct Written {
    SampleId on_small = -1;
    SampleId on_large = -1;  // made at the first switch
    bool large_writes = false;
    bool catching_up = false;  // the writing model is reading what the other wrote
    bool ended = false;
    std::vector<TokenRecord> records;  // the sample's tokens, each as the model that drew it saw it
    std::vector<bool> by_large;
    size_t small_has = 0, large_has = 0;  // tokens each model's sequence holds
    size_t last_switch = 0;               // position of the last switch
    int switches = 0;
    int stretches = 1;

    int64_t large_tokens() const { return std::count(by_large.begin(), by_large.end(), true); }
  };

  // The rolling mean says the other model should write from here on.
  bool should_switch(const Written& w) const {
    const size_t n = w.records.size();
    if (n < size_t(options_.window) || n - w.last_switch < size_t(options_.dwell)) return false;
    double sum = 0.0;
    for (size_t i = n - size_t(options_.window); i < n; ++i) sum += w.records[i].entropy;
    const double mean = sum / double(options_.window);
    return w.large_writes ? mean <= options_.threshold : mean > options_.threshold;
  }

  void start_stretch(QuestionRun& view, SampleId id, Written& w, size_t k) const {
    GenerationOptions g = generation();
    g.stop.max_tokens -= int(w.records.size());
    const uint64_t seed = g.sampling.seed + uint64_t(k) + uint64_t(w.stretches++) * kStretchSeedStride;
    view.generate(id, g, seed);
  }

  // Takes in the writing model's new tokens and switches where the rolling mean says so.
  // Returns true once the sample has ended.
  bool advance(QuestionRun& q, QuestionRun& large, Written& w, size_t k) const {
    QuestionRun& view = w.large_writes ? large : q;
    const SampleId id = w.large_writes ? w.on_large : w.on_small;
    if (w.catching_up) {
      if (view.busy(id)) return false;
      w.catching_up = false;
      start_stretch(view, id, w, k);
      return false;
    }
    const std::span<const TokenRecord> drawn = view.records(id);
    const bool generating = view.busy(id);
    for (size_t p = w.records.size(); p < drawn.size(); ++p) {
      w.records.push_back(drawn[p]);
      w.by_large.push_back(w.large_writes);
      const bool ended_here = !generating && p + 1 == drawn.size();
      if (ended_here || !should_switch(w)) continue;
      // Decided by position: tokens drawn past it (had the look come late) are dropped,
      // and going up, the token at it too, for the large model to draw.
      view.stop(id);
      const size_t keep = w.large_writes ? p + 1 : p;
      if (size_t(view.length(id)) > keep) view.truncate(id, int(keep));
      w.records.resize(keep);
      w.by_large.resize(keep);
      switch_model(q, large, w);
      return false;
    }
    return !generating;
  }

  void switch_model(QuestionRun& q, QuestionRun& large, Written& w) const {
    const size_t n = w.records.size();
    (w.large_writes ? w.large_has : w.small_has) = n;
    w.large_writes = !w.large_writes;
    w.last_switch = n;
    ++w.switches;
    if (w.large_writes && w.on_large < 0) w.on_large = large.start();
    QuestionRun& view = w.large_writes ? large : q;
    size_t& has = w.large_writes ? w.large_has : w.small_has;
    std::vector<Token> unseen;
    for (size_t i = has; i < n; ++i) unseen.push_back(w.records[i].token);
    has = n;
    view.extend(w.large_writes ? w.on_large : w.on_small, unseen);
    w.catching_up = true;
  }

  // The sample's trace from the model that wrote its end; the other model's copy is freed.
  SampleTrace finish(QuestionRun& q, QuestionRun& large, const Written& w) const {
    QuestionRun& view = w.large_writes ? large : q;
    SampleTrace t = view.harvest(w.large_writes ? w.on_large : w.on_small, generation().answers);
    const SampleId other = w.large_writes ? w.on_small : w.on_large;
    if (other >= 0) (w.large_writes ? q : large).prune(other, "the sample ended on the other model");
    t.id = w.on_small;
    t.large_model = false;
    double sum = 0.0;
    for (const auto& record : w.records) sum += record.logprob;
    t.mean_logprob = w.records.empty() ? 0.0 : sum / double(w.records.size());
    for (size_t i = 0; i < t.token_logprobs.size() && i < w.records.size(); ++i) {
      t.token_logprobs[i].logprob = w.records[i].logprob;
    }
    t.scores["large_share"] = w.records.empty() ? 0.0 : double(w.large_tokens()) / double(w.records.size());
    t.scores["switches"] = w.switches;
    return t;
  }

  EadOptions options_;
};

}  // namespace

std::unique_ptr<Strategy> make_ead(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<EntropyAdaptiveDecoding>(std::move(name), n, o.ead, o.generation);
}

}  // namespace ponder::strategies
