// deepconf@N (online) and deepconf-offline@N: DeepConf, traces weighed by the confidence
// of their token distributions (strategies/deepconf.h).
//
// Online: a warm-up wave runs to the end; the threshold is a percentile of its traces'
// lowest group confidence. Later traces run in waves and each stops at the first token
// whose window's group confidence falls below the threshold. Traces at or above it vote,
// weighted by their lowest group confidence, counted in launch order; sampling stops
// once the leader's share of the weight reaches the consensus, else at N traces.
//
// Offline: N traces run to the end; the most confident share of them votes, weighted by
// its confidence.

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "strategies/deepconf.h"
#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

using deepconf::TraceConfidence;

GenerationOptions with_top_logprobs(GenerationOptions g, int k) {
  g.sampling.top_logprobs = std::max(g.sampling.top_logprobs, k);
  return g;
}

std::string share_text(const char* name, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s>=%g", name, value);
  return buf;
}

// The traces of one question, by sample id: their confidences as their tokens arrive,
// and what became of them.
struct Traces {
  std::vector<TraceConfidence> confidence;
  std::vector<std::optional<SampleTrace>> done;
  std::vector<int> stopped_at;  // the token whose window fell below the threshold; -1: none
  std::vector<SampleId> running;
};

// The vote of `samples` whose "vote" score is 1, weighted by their "confidence".
std::vector<voting::Group> weighted_tally(const std::vector<SampleTrace>& samples) {
  std::vector<SampleTrace> voters = samples;  // same indices, so groups point into `samples`
  for (SampleTrace& s : voters) {
    if (s.scores["vote"] == 0.0) s.answer.reset();
  }
  return voting::tally(voters, [](const SampleTrace& s) { return s.scores.at("confidence"); });
}

double leader_share(const std::vector<voting::Group>& groups) {
  double total = 0.0;
  for (const auto& g : groups) total += g.weight;
  return groups.empty() || total <= 0.0 ? 0.0 : groups.front().weight / total;
}

class DeepConfBase : public StrategyBase {
 public:
  DeepConfBase(std::string name, int n, DeepConfOptions d, GenerationOptions g)
      : StrategyBase(std::move(name), n, with_top_logprobs(std::move(g), d.top_k)), options_(d) {}

 protected:

  void launch(QuestionRun& q, Traces& t, int n, bool last) const {
    for (SampleId id : q.launch(n, generation(), last)) t.running.push_back(id);
    t.confidence.resize(size_t(q.launched()), TraceConfidence(options_.window));
    t.done.resize(size_t(q.launched()));
    t.stopped_at.resize(size_t(q.launched()), -1);
  }

  // After an engine step: reads every running trace's new tokens. One whose group
  // confidence falls below `threshold` is stopped there (pruned, whether or not it has
  // finished since: the decision goes by its tokens, not by timing); a finished one is
  // harvested.
  void advance(QuestionRun& q, Traces& t, std::optional<double> threshold) const {
    for (auto it = t.running.begin(); it != t.running.end();) {
      const SampleId s = *it;
      TraceConfidence& c = t.confidence[size_t(s)];
      const auto records = q.records(s);
      bool below = false;
      while (!below && c.tokens() < int(records.size())) {
        c.add(deepconf::token_confidence(records[size_t(c.tokens())], options_.top_k));
        below = threshold && c.last_group() && *c.last_group() < *threshold;
      }
      if (!below && q.busy(s)) {
        ++it;
        continue;
      }
      SampleTrace trace;
      if (below) {
        t.stopped_at[size_t(s)] = c.tokens();
        trace = q.busy(s) ? q.prune(s, "group confidence below the warm-up's threshold")
                          : q.harvest(s, generation().answers);
        trace.answer.reset();
        trace.pruned = true;
      } else {
        trace = q.harvest(s, generation().answers);
      }
      t.done[size_t(s)] = std::move(trace);
      it = t.running.erase(it);
    }
  }

  DeepConfOptions options_;
};

class DeepConfOnline : public DeepConfBase {
 public:
  DeepConfOnline(std::string name, int n, DeepConfOptions d, GenerationOptions g)
      : DeepConfBase(std::move(name), n, d, std::move(g)),
        warmup_(d.warmup > 0 ? d.warmup : std::min(n, std::max(2, n / 4))) {}

  Task<StrategyResult> run(QuestionRun& q) const override {
    Traces t;
    launch(q, t, warmup_, warmup_ >= budget());
    while (!t.running.empty()) {
      co_await q.next_step();
      advance(q, t, std::nullopt);
    }
    std::vector<double> lowest;
    for (int s = 0; s < warmup_; ++s) lowest.push_back(t.confidence[size_t(s)].lowest());
    const double threshold = deepconf::percentile(lowest, options_.percentile);

    // Traces vote in launch order, so when the consensus first holds depends only on
    // their tokens. Launches keep `wave` traces beyond the counted ones.
    StrategyResult r;
    int votes = 0;
    auto count = [&](SampleId s) {
      SampleTrace trace = std::move(*t.done[size_t(s)]);
      const TraceConfidence& c = t.confidence[size_t(s)];
      const bool vote = !trace.pruned && trace.answer && c.lowest() >= threshold;
      trace.scores["confidence"] = c.lowest();
      trace.scores["threshold"] = threshold;
      trace.scores["warmup"] = s < warmup_ ? 1.0 : 0.0;
      trace.scores["vote"] = vote ? 1.0 : 0.0;
      if (t.stopped_at[size_t(s)] >= 0) trace.scores["stopped_at"] = t.stopped_at[size_t(s)];
      r.samples.push_back(std::move(trace));
      votes += vote ? 1 : 0;
    };
    auto settle = [&] {
      const auto groups = weighted_tally(r.samples);
      const double share = leader_share(groups);
      q.report_vote(voting::standings(groups, r.samples), share, options_.consensus);
      if (votes >= options_.min_votes && share >= options_.consensus && int(r.samples.size()) < budget()) {
        r.stop_reason = share_text("consensus", options_.consensus);
      }
    };
    auto top_up = [&] {
      const int want = std::min(budget(), int(r.samples.size()) + options_.wave);
      if (want > q.launched()) launch(q, t, want - q.launched(), want >= budget());
    };
    for (int s = 0; s < warmup_; ++s) count(s);
    settle();
    if (r.stop_reason.empty()) top_up();
    while (r.stop_reason.empty() && int(r.samples.size()) < q.launched()) {
      co_await q.next_step();
      advance(q, t, threshold);
      while (r.stop_reason.empty() && r.samples.size() < t.done.size() && t.done[r.samples.size()]) {
        count(SampleId(r.samples.size()));
        settle();
      }
      if (r.stop_reason.empty()) top_up();
    }
    // Traces launched but not counted when the consensus held do not vote.
    for (size_t k = r.samples.size(); k < t.done.size(); ++k) {
      SampleTrace trace = t.done[k] ? std::move(*t.done[k]) : q.prune(SampleId(k), "the consensus held");
      trace.answer.reset();
      trace.pruned = true;
      trace.scores["confidence"] = t.confidence[k].lowest();
      trace.scores["threshold"] = threshold;
      trace.scores["warmup"] = 0.0;
      trace.scores["vote"] = 0.0;
      r.samples.push_back(std::move(trace));
    }
    if (r.stop_reason.empty()) r.stop_reason = "budget";
    q.emit({.kind = EventKind::stopped, .detail = r.stop_reason});
    voting::decide(r, weighted_tally(r.samples));
    co_return r;
  }

 private:
  int warmup_;
};

class DeepConfOffline : public DeepConfBase {
 public:
  using DeepConfBase::DeepConfBase;

  Task<StrategyResult> run(QuestionRun& q) const override {
    Traces t;
    launch(q, t, budget(), /*last=*/true);
    while (!t.running.empty()) {
      co_await q.next_step();
      advance(q, t, std::nullopt);
    }
    StrategyResult r;
    std::vector<std::pair<double, int>> ranked;  // (-confidence, launch order): most confident first
    for (size_t s = 0; s < t.done.size(); ++s) {
      SampleTrace trace = std::move(*t.done[s]);
      trace.scores["confidence"] = t.confidence[s].measure(options_.measure);
      ranked.emplace_back(-trace.scores["confidence"], int(s));
      r.samples.push_back(std::move(trace));
    }
    std::sort(ranked.begin(), ranked.end());
    const int kept = deepconf::kept_count(int(ranked.size()), options_.keep);
    for (size_t k = 0; k < ranked.size(); ++k) {
      r.samples[size_t(ranked[k].second)].scores["vote"] = int(k) < kept ? 1.0 : 0.0;
    }
    const auto groups = weighted_tally(r.samples);
    voting::decide(r, groups);
    q.report_vote(voting::standings(groups, r.samples), r.confidence);
    r.stop_reason = "budget";
    co_return r;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_deepconf(std::string name, int n, const StrategyOptions& o) {
  if (o.deepconf.warmup > n) {
    throw std::invalid_argument("deepconf.warmup: must be at most the budget N = " + std::to_string(n) + ", not " +
                                std::to_string(o.deepconf.warmup));
  }
  return std::make_unique<DeepConfOnline>(std::move(name), n, o.deepconf, o.generation);
}

std::unique_ptr<Strategy> make_deepconf_offline(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<DeepConfOffline>(std::move(name), n, o.deepconf, o.generation);
}

}  // namespace ponder::strategies
