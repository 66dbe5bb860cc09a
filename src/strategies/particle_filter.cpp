// pf@N: particle filtering. N particles take a step each and are weighted by the
// verifier's score of their latest step, w = softmax(logit(score) / T); N particles are
// drawn again in proportion (a particle drawn k times continues as itself and k-1 forks
// at its end; one never drawn is pruned) and take the next step. Finished particles stay
// in the pool (or leave it, keep_finished). The particle with the highest final weight
// answers.
//
// epf@N: the same with systematic resampling and a temperature annealed to keep the
// effective sample size up early on: with p = softmax(logit(score)), ESS = 1 / sum p^2
// and progress = step / max_steps, T = max(1, (N / ESS)(1 - progress)) while
// ESS / N < 0.5 and progress < 0.5, else T = 1.

#include <algorithm>
#include <cmath>
#include <random>

#include "strategies/search.h"

namespace ponder::strategies {

namespace {

// softmax(x / t)
std::vector<double> softmax(const std::vector<double>& x, double t) {
  const double top = *std::max_element(x.begin(), x.end());
  std::vector<double> p;
  double sum = 0.0;
  for (double v : x) sum += p.emplace_back(std::exp((v - top) / t));
  for (double& v : p) v /= sum;
  return p;
}

// How many times each index is drawn in n draws from p.
std::vector<int> resample(const std::vector<double>& p, int n, SearchOptions::Resampling how, std::mt19937_64& rng) {
  std::vector<int> counts(p.size(), 0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  if (how == SearchOptions::Resampling::multinomial) {
    std::discrete_distribution<size_t> pick(p.begin(), p.end());
    for (int i = 0; i < n; ++i) ++counts[pick(rng)];
    return counts;
  }
  const double u = uniform(rng);
  double cumulative = p[0];
  size_t k = 0;
  for (int i = 0; i < n; ++i) {
    const double position = (double(i) + u) / double(n);
    while (position > cumulative && k + 1 < p.size()) cumulative += p[++k];
    ++counts[k];
  }
  return counts;
}

class ParticleFilter : public SearchBase {
 public:
  ParticleFilter(std::string name, int n, const StrategyOptions& o, bool entropic)
      : SearchBase(std::move(name), n, o), entropic_(entropic) {}

  Task<StrategyResult> run(QuestionRun& q) const override {
    const int n = budget();
    Stepper stepper(q, generation(), search());
    std::mt19937_64 rng(generation().sampling.seed ^ 0x70617274696331ULL);
    StrategyResult r;
    struct Particle {
      SampleId sample = -1;  // while it runs
      int trace = -1;        // once finished: its trace in r.samples
      double score = 0.0;    // the verifier's score of its latest step
    };
    std::vector<Particle> particles;
    for (SampleId s : stepper.launch(n)) particles.push_back({s});
    std::vector<Particle> kept;  // keep_finished: out of the pool
    for (int step = 0;; ++step) {
      std::vector<SampleId> live;
      for (const auto& p : particles) {
        if (p.sample >= 0) live.push_back(p.sample);
      }
      if (live.empty()) break;
      co_await q.all(live);
      const std::vector<StepScores> scores = co_await q.verify_samples(live);
      size_t at = 0;
      for (auto& p : particles) {
        if (p.sample < 0) continue;
        const StepScores& s = scores[at++];
        p.score = s.steps.empty() ? 0.0 : s.steps.back();
        if (stepper.ended(p.sample)) {
          SampleTrace t = q.harvest(p.sample, generation().answers);
          t.scores["verifier"] = s.solution;
          t.scores["weight"] = p.score;
          r.samples.push_back(std::move(t));
          p.trace = int(r.samples.size()) - 1;
          p.sample = -1;
        }
      }
      if (search().keep_finished) {
        for (const auto& p : particles) {
          if (p.sample < 0) kept.push_back(p);
        }
        std::erase_if(particles, [](const Particle& p) { return p.sample < 0; });
      }
      if (std::none_of(particles.begin(), particles.end(), [](const Particle& p) { return p.sample >= 0; })) break;

      std::vector<double> logw;
      for (const auto& p : particles) logw.push_back(logit(p.score));
      const double t = entropic_ ? annealed_temperature(logw, step) : search().pf_temperature;
      const auto how = entropic_ ? SearchOptions::Resampling::systematic : search().resampling;
      const std::vector<int> counts = resample(softmax(logw, t), int(particles.size()), how, rng);
      // Prune first, so the forks below find free slots.
      for (size_t i = 0; i < particles.size(); ++i) {
        if (particles[i].sample >= 0 && counts[i] == 0) {
          r.samples.push_back(q.prune(particles[i].sample, "not resampled"));
        }
      }
      std::vector<Particle> next;
      for (size_t i = 0; i < particles.size(); ++i) {
        const Particle& p = particles[i];
        if (counts[i] == 0) continue;
        if (p.sample < 0) {
          next.insert(next.end(), size_t(counts[i]), p);
          continue;
        }
        next.push_back(p);
        for (SampleId child : stepper.branch(p.sample, counts[i] - 1, step + 1)) next.push_back({child, -1, p.score});
        stepper.step(p.sample, step + 1);
      }
      particles = std::move(next);
      if (step + 1 >= search().max_steps) break;
    }
    particles.insert(particles.end(), kept.begin(), kept.end());
    // The highest final weight answers (the first of equals).
    int best = -1;
    for (const auto& p : particles) {
      if (p.trace >= 0 && (best < 0 || r.samples[size_t(p.trace)].scores["weight"] >
                                           r.samples[size_t(best)].scores["weight"])) {
        best = p.trace;
      }
    }
    if (best >= 0) {
      const SampleTrace& winner = r.samples[size_t(best)];
      r.answer = winner.answer;
      r.text = winner.text;
      r.confidence = winner.scores.at("weight");
    }
    sort_by_id(r.samples);
    r.stop_reason = "particles finished";
    co_return r;
  }

 private:
  double annealed_temperature(const std::vector<double>& logw, int step) const {
    const std::vector<double> p = softmax(logw, 1.0);
    double sum_sq = 0.0;
    for (double v : p) sum_sq += v * v;
    const double ess = 1.0 / sum_sq;
    const double n = double(logw.size());
    const double progress = double(step) / double(search().max_steps);
    if (ess / n < 0.5 && progress < 0.5) return std::max(1.0, (n / ess) * (1.0 - progress));
    return 1.0;
  }

  bool entropic_;
};

}  // namespace

std::unique_ptr<Strategy> make_particle_filter(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<ParticleFilter>(std::move(name), n, o, false);
}

std::unique_ptr<Strategy> make_entropic_particle_filter(std::string name, int n, const StrategyOptions& o) {
  return std::make_unique<ParticleFilter>(std::move(name), n, o, true);
}

}  // namespace ponder::strategies
