#include "strategies/search.h"

#include <algorithm>
#include <cmath>

#include "strategies/voting.h"

namespace ponder::strategies {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Stepper::Stepper(QuestionRun& q, const GenerationOptions& g, const SearchOptions& o)
    : q_(q),
      generation_(g),
      max_steps_(o.max_steps),
      delimiter_(o.step_delimiter.empty() ? q.verifier_step_delimiter() : o.step_delimiter) {}

GenerationOptions Stepper::options(SampleId s, int steps_done, bool greedy) const {
  GenerationOptions g = generation_;
  g.stop.max_tokens = s < 0 ? generation_.stop.max_tokens : std::max(1, generation_.stop.max_tokens - q_.length(s));
  if (steps_done + 1 < max_steps_) {
    g.stop.stop.push_back(delimiter_);
    g.stop.keep_stop = true;
  }
  if (greedy) g.sampling.temperature = 0.0f;
  return g;
}

std::vector<SampleId> Stepper::launch(int n) { return q_.launch(n, options(-1, 0, false), true); }

std::vector<SampleId> Stepper::branch(SampleId parent, int n, int steps_done) {
  if (n < 1) return {};
  std::vector<SampleId> children = q_.fork(parent, q_.length(parent), n);
  for (SampleId c : children) step(c, steps_done);
  return children;
}

void Stepper::step(SampleId s, int steps_done, bool greedy) {
  const GenerationOptions g = options(s, steps_done, greedy);
  const uint64_t seed = splitmix64(generation_.sampling.seed ^ splitmix64(uint64_t(s) << 20 | uint64_t(steps_done)));
  q_.generate(s, g, seed);
}

bool Stepper::ended(SampleId s) const {
  if (q_.finish(s) != FinishReason::stop_string) return true;
  if (q_.length(s) >= generation_.stop.max_tokens) return true;
  // Stopped by another stop string (the caller's), not at a step's end: over.
  const std::string& text = q_.text(s);
  if (!text.ends_with(delimiter_)) return true;
  // A blank step (the delimiter alone) would repeat forever: the solution is over.
  const std::string body = text.substr(0, text.size() - delimiter_.size());
  const size_t previous = body.rfind(delimiter_);
  const std::string last = body.substr(previous == std::string::npos ? 0 : previous + delimiter_.size());
  return last.find_first_not_of(" \t\r\n") == std::string::npos;
}

double logit(double p) {
  const double q = std::clamp(p, 1e-6, 1.0 - 1e-6);
  return std::log(q / (1.0 - q));
}

void vote_by_verifier(QuestionRun& q, StrategyResult& r) {
  auto weight = [](const SampleTrace& s) {
    const auto it = s.scores.find("verifier");
    return it == s.scores.end() ? 0.0 : it->second;
  };
  const auto groups = voting::tally(r.samples, weight);
  voting::decide(r, groups);
  if (!groups.empty()) q.report_vote(voting::standings(groups, r.samples), r.confidence);
}

void sort_by_id(std::vector<SampleTrace>& traces) {
  std::sort(traces.begin(), traces.end(), [](const SampleTrace& a, const SampleTrace& b) { return a.id < b.id; });
}

}  // namespace ponder::strategies
