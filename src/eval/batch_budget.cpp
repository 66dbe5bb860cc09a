// The batch budget: one token budget for a set of questions, spent round by round on the
// questions whose next sample promises the most per token.
//
// Each round is one pass of the runtime over the questions granted a wave, so the
// allocation depends only on the samples drawn (sample k of a question is drawn with
// seed + k in whichever round it falls), not on timing or on what runs beside it.

#include "eval/batch_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "strategies/strategies.h"
#include "strategies/voting.h"

namespace ponder {

void BatchBudgetOptions::validate() const {
  auto require = [](bool ok, const char* field, const std::string& range) {
    if (!ok) throw std::invalid_argument(std::string("batch.") + field + ": must be " + range);
  };
  require(std::isfinite(tokens_per_question) && tokens_per_question >= 0.0, "tokens_per_question",
          "a finite number >= 0 (0 = off)");
  require(max_samples >= 1 && max_samples <= kMaxBudget, "max_samples", "in [1, " + std::to_string(kMaxBudget) + "]");
  require(first_wave >= 1 && first_wave <= max_samples, "first_wave", "in [1, max_samples]");
  require(wave >= 1 && wave <= max_samples, "wave", "in [1, max_samples]");
  require(std::isfinite(round_share) && round_share > 0.0 && round_share <= 1.0, "round_share", "in (0, 1]");
}

namespace eval {

namespace {

std::vector<voting::Group> weighted_tally(const std::vector<SampleTrace>& samples) {
  return voting::tally(samples, [](const SampleTrace& s) { return s.scores.at("weight"); });
}

// Adds a wave's samples (renumbered after the question's earlier ones) and costs.
void absorb(StrategyResult& into, StrategyResult wave) {
  const int offset = int(into.samples.size());
  for (auto& s : wave.samples) {
    s.id += offset;
    if (s.parent >= 0) s.parent += offset;
    into.samples.push_back(std::move(s));
  }
  into.cost += wave.cost;
  for (auto& c : wave.costs) {
    auto same = std::find_if(into.costs.begin(), into.costs.end(),
                             [&](const ModelCost& m) { return m.role == c.role && m.model == c.model; });
    if (same == into.costs.end()) {
      into.costs.push_back(std::move(c));
    } else {
      same->cost += c.cost;
    }
  }
}

std::string format(const char* fmt, auto... args) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

}  // namespace

double batch_gain(const StrategyResult& votes) {
  const auto& samples = votes.samples;
  if (samples.empty()) return 1.0;
  const auto groups = weighted_tally(samples);
  double total = 0.0;
  for (const auto& g : groups) total += g.weight;
  double p_right = 0.0;
  if (!groups.empty() && total > 0.0) {
    double score = 0.0;
    for (const auto& s : samples) {
      if (s.answer && s.answer->key == groups[0].key) score += strategies::sample_score(s);
    }
    p_right = groups[0].weight / total * score / groups[0].count;
  }
  return (1.0 - std::clamp(p_right, 0.0, 1.0)) / double(samples.size());
}

std::vector<size_t> plan_batch_round(const std::vector<BatchQuestion>& questions, double spent, double total,
                                     const BatchBudgetOptions& options) {
  struct Candidate {
    size_t index;
    double per_token;
    double wave_cost;
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < questions.size(); ++i) {
    const BatchQuestion& q = questions[i];
    const int drawn = int(q.result.samples.size());
    if (q.failed || drawn == 0 || drawn + options.wave > options.max_samples) continue;
    const double per_sample = std::max(q.cost / drawn, 1.0);
    candidates.push_back({i, batch_gain(q.result) / per_sample, per_sample * options.wave});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.per_token > b.per_token; });
  const size_t most = std::max<size_t>(1, size_t(std::ceil(options.round_share * double(questions.size()))));
  std::vector<size_t> granted;
  for (const Candidate& c : candidates) {
    if (granted.size() >= most) break;
    if (spent + c.wave_cost > total) continue;
    spent += c.wave_cost;
    granted.push_back(c.index);
  }
  std::sort(granted.begin(), granted.end());
  return granted;
}

std::vector<StrategyResult> run_batch(Runtime& runtime, const std::vector<std::string>& texts, const std::string& name,
                                      const StrategyOptions& options, const BatchBudgetOptions& batch,
                                      const std::function<double(const StrategyResult&)>& cost) {
  batch.validate();
  std::vector<BatchQuestion> questions(texts.size());
  const double total = batch.tokens_per_question * double(texts.size());
  double spent = 0.0;

  // One round: a wave of `n` samples for each question in `which`, numbered after its own.
  auto run_round = [&](const std::vector<size_t>& which, int n, int round) {
    std::vector<Job> jobs;
    std::vector<double> gains;  // what each grant was made on
    for (size_t i : which) {
      gains.push_back(batch_gain(questions[i].result));
      StrategyOptions o = options;
      o.generation.sampling.seed += uint64_t(questions[i].result.samples.size());
      jobs.push_back({std::shared_ptr<const Strategy>(strategies::make_scored_wave(name, n, o)), texts[i], {}, {}, {}});
    }
    std::vector<StrategyResult> results = runtime.run(std::move(jobs));
    for (size_t k = 0; k < which.size(); ++k) {
      BatchQuestion& q = questions[which[k]];
      if (!results[k].error.empty()) {
        q.failed = true;
        q.result.error = results[k].error;
        continue;
      }
      const double wave_cost = cost(results[k]);
      q.cost += wave_cost;
      spent += wave_cost;
      q.result.decisions.push_back(round == 0 ? format("batch: first wave of %d", n)
                                              : format("round %d: +%d (estimated gain %.3f)", round, n, gains[k]));
      absorb(q.result, std::move(results[k]));
    }
  };

  std::vector<size_t> everyone(texts.size());
  for (size_t i = 0; i < everyone.size(); ++i) everyone[i] = i;
  run_round(everyone, batch.first_wave, 0);
  for (int round = 1;; ++round) {
    const std::vector<size_t> granted = plan_batch_round(questions, spent, total, batch);
    if (granted.empty()) break;
    run_round(granted, batch.wave, round);
  }

  std::vector<StrategyResult> out;
  for (BatchQuestion& q : questions) {
    StrategyResult& r = q.result;
    r.strategy = name;
    if (q.failed) {
      out.push_back({.strategy = name, .error = r.error});
      continue;
    }
    voting::decide(r, weighted_tally(r.samples));
    r.stop_reason = format("batch: %zu of %d samples", r.samples.size(), batch.max_samples);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace eval
}  // namespace ponder
