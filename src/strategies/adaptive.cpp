// adaptive[@MAX]: the controller that decides per question how much to spend.
//
// A first wave of samples (one by default) estimates the question's difficulty: how
// many of its answers agree and how well they score (the verifier's solution score when
// one is attached, else the sample's token probability). The estimate picks a preset
// (easy / normal / hard, each a strategy and a budget). The controller's own preset
// strategy, "vote", keeps the first wave's samples and draws more a wave at a time until
// the leading answer's weighted share settles; a preset that ends unsure escalates to
// the next one. Every choice is written to the result's `decisions`.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

std::string format(const char* fmt, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

bool is_builtin(const std::string& strategy) { return strategy == "accept" || strategy == "vote"; }

class Controller : public StrategyBase {
 public:
  Controller(std::string name, int max_samples, const StrategyOptions& o)
      : StrategyBase(std::move(name), max_samples, o.generation), c_(o.controller) {
    const Preset* presets[] = {&c_.easy, &c_.normal, &c_.hard};
    for (int level = 0; level < 3; ++level) {
      const Preset& p = *presets[level];
      if (is_builtin(p.strategy)) continue;
      // A name with its own budget ("beam@8") keeps it; otherwise the preset's, within MAX.
      const bool named_budget = p.strategy.find('@') != std::string::npos;
      const int n = std::min(p.budget, max_samples);
      nested_[level] = make_strategy(p.strategy, o, named_budget ? 0 : n);
      nested_labels_[level] = named_budget ? p.strategy : p.strategy + "@" + std::to_string(n);
    }
  }

  uint32_t needs() const override {
    uint32_t n = StrategyBase::needs();
    for (const auto& s : nested_) {
      if (s) n |= s->needs();
    }
    return n;
  }
  uint32_t wants() const override { return needs() | kVerify; }
  int held_samples() const override {
    int held = 1;
    for (const auto& s : nested_) {
      if (s) held = std::max(held, s->held_samples());
    }
    return held;
  }

  Task<StrategyResult> run(QuestionRun& q) const override {
    const auto started = std::chrono::steady_clock::now();
    State st{q, started, (q.capabilities() & kVerify) != 0};
    StrategyResult& r = st.result;

    const int first = std::min(c_.first_wave, budget());
    co_await draw_wave(st, first);
    const Estimate e = estimate(st);
    int level = e.all_agree && e.lowest_score >= c_.easy_score ? 0 : e.p_right < c_.hard_below ? 2 : 1;
    r.decisions.push_back(format("difficulty: P(right) %.2f from %d sample%s (%d answer%s, %s %.2f..%.2f) -> %s",
                                 e.p_right, first, first == 1 ? "" : "s", e.answers, e.answers == 1 ? "" : "s",
                                 st.verifier ? "verifier" : "probability", e.lowest_score, e.highest_score,
                                 kLevelNames[level]));
    emit_decision(st);

    for (;; ++level) {
      const Preset& p = preset(level);
      const bool settled = co_await run_preset(st, level, p);
      if (settled || level == 2 || st.out_of_budget) break;
      r.decisions.push_back(format("escalated to %s: %s", kLevelNames[level + 1], st.why_unsettled.c_str()));
      emit_decision(st);
    }
    if (r.stop_reason.empty()) r.stop_reason = st.stop_reason;
    q.emit({.kind = EventKind::stopped, .detail = r.stop_reason});
    co_return std::move(r);
  }

 private:
  static constexpr const char* kLevelNames[] = {"easy", "normal", "hard"};

  struct State {
    QuestionRun& q;
    std::chrono::steady_clock::time_point started;
    bool verifier;
    StrategyResult result;
    int64_t tokens = 0;  // generated, plus the verifier's
    bool out_of_budget = false;
    std::string stop_reason;
    std::string why_unsettled;
  };

  struct Estimate {
    int answers = 0;  // distinct answers
    bool all_agree = false;
    double lowest_score = 0.0;
    double highest_score = 0.0;
    double p_right = 0.0;  // the leader's share x its samples' mean score
  };

  const Preset& preset(int level) const { return level == 0 ? c_.easy : level == 1 ? c_.normal : c_.hard; }

  double weight_of(const SampleTrace& s) const { return std::pow(std::max(sample_score(s), 0.0), c_.weight_power); }

  void emit_decision(State& st) const {
    st.q.emit({.kind = EventKind::decided, .detail = st.result.decisions.back()});
  }

  // Draws n more samples, scores them with the verifier when there is one, adds them to
  // the vote. The prompt's slot is kept unless no later launch can follow.
  Task<bool> draw_wave(State& st, int n) const {
    const bool last = st.q.launched() + n >= budget();
    std::vector<SampleTrace> wave = co_await draw_all(st.q, n, generation(), last);
    if (st.verifier) {
      std::vector<std::string> texts;
      for (const auto& s : wave) texts.push_back(s.text);
      const int64_t before = st.q.verifier_tokens();
      const std::vector<StepScores> scores = co_await st.q.verify(std::move(texts));
      for (size_t i = 0; i < wave.size(); ++i) wave[i].scores["verifier"] = scores[i].solution;
      st.tokens += st.q.verifier_tokens() - before;
    }
    for (auto& s : wave) {
      st.tokens += s.tokens;
      s.scores["weight"] = weight_of(s);
      st.result.samples.push_back(std::move(s));
    }
    decide(st);
    co_return true;
  }

  // Settles the answer on the weighted vote of every sample so far.
  std::vector<voting::Group> decide(State& st) const {
    const auto groups = voting::tally(st.result.samples, [&](const SampleTrace& s) { return s.scores.at("weight"); });
    voting::decide(st.result, groups);
    st.q.report_vote(voting::standings(groups, st.result.samples), st.result.confidence);
    return groups;
  }

  Estimate estimate(const State& st) const {
    Estimate e;
    const auto& samples = st.result.samples;
    const auto groups = voting::tally(samples);
    e.answers = int(groups.size());
    e.all_agree = groups.size() == 1 && groups[0].count == int(samples.size());
    e.lowest_score = 1.0;
    for (const auto& s : samples) {
      e.lowest_score = std::min(e.lowest_score, sample_score(s));
      e.highest_score = std::max(e.highest_score, sample_score(s));
    }
    if (!groups.empty()) {
      double leader_score = 0.0;
      for (const auto& s : samples) {
        if (s.answer && s.answer->key == groups[0].key) leader_score += sample_score(s);
      }
      e.p_right = leader_score / double(samples.size());
    }
    return e;
  }

  // Why no more samples may be drawn, or empty.
  std::string budget_spent(const State& st) const {
    if (st.q.launched() >= budget()) return format("max samples %d", budget());
    if (c_.max_tokens > 0 && st.tokens >= c_.max_tokens)
      return format("token budget %lld", (long long)c_.max_tokens);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.started).count();
    if (c_.max_seconds > 0.0 && elapsed >= c_.max_seconds) return format("time budget %gs", c_.max_seconds);
    return "";
  }

  // Runs a preset; true when its answer settled the question.
  Task<bool> run_preset(State& st, int level, const Preset& p) const {
    StrategyResult& r = st.result;
    if (p.strategy == "accept") {
      r.decisions.push_back(format("%s: accepted the first wave's answer", kLevelNames[level]));
      emit_decision(st);
      st.stop_reason = "accepted";
      co_return true;
    }
    if (p.strategy == "vote") {
      const int limit = std::min(p.budget, budget());
      r.decisions.push_back(format("%s: weighted vote up to %d samples", kLevelNames[level], limit));
      emit_decision(st);
      for (;;) {
        const auto groups = voting::tally(r.samples, [&](const SampleTrace& s) { return s.scores.at("weight"); });
        const int votes = groups.empty() ? 0 : groups[0].count;
        if (votes >= c_.min_votes && r.confidence >= c_.consensus) {
          st.stop_reason = format("consensus %.2f>=%g", r.confidence, c_.consensus);
          co_return true;
        }
        const std::string spent = budget_spent(st);
        if (!spent.empty()) st.out_of_budget = true;
        if (!spent.empty() || int(r.samples.size()) >= limit) {
          st.stop_reason = spent.empty() ? format("preset budget %d", limit) : spent;
          st.why_unsettled = format("leader's share %.2f < %g after %zu samples", r.confidence, c_.consensus,
                                    r.samples.size());
          if (!spent.empty()) {
            r.decisions.push_back("stopped: " + spent);
            emit_decision(st);
          }
          co_return false;
        }
        co_await draw_wave(st, std::min(c_.wave, limit - int(r.samples.size())));
      }
    }
    const std::string spent = budget_spent(st);
    if (!spent.empty()) {
      st.out_of_budget = true;
      st.stop_reason = spent;
      r.decisions.push_back("stopped: " + spent);
      emit_decision(st);
      co_return false;
    }
    const Strategy& inner = *nested_[size_t(level)];
    const std::string& label = nested_labels_[size_t(level)];
    r.decisions.push_back(format("%s: %s", kLevelNames[level], label.c_str()));
    emit_decision(st);
    StrategyResult nested = co_await inner.run(st.q);
    for (auto& s : nested.samples) r.samples.push_back(std::move(s));
    r.answer = std::move(nested.answer);
    r.text = std::move(nested.text);
    r.confidence = nested.confidence;
    st.stop_reason = label + ": " + nested.stop_reason;
    co_return true;
  }

  ControllerOptions c_;
  std::unique_ptr<Strategy> nested_[3];
  std::string nested_labels_[3];  // e.g. "beam@16"
};

}  // namespace

std::unique_ptr<Strategy> make_adaptive(std::string name, int max_samples, const StrategyOptions& o) {
  return std::make_unique<Controller>(std::move(name), max_samples, o);
}

}  // namespace ponder::strategies
