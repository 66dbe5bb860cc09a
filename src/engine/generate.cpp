#include "ponder/generate.h"

#include <algorithm>
#include <stdexcept>

namespace ponder {

SampleSet generate_samples(Engine& engine, std::vector<Token> prompt, int n,
                           const SamplingParams& sampling, const StopParams& stop) {
  if (n < 1) throw std::invalid_argument("n: must be >= 1");
  sampling.validate();
  stop.validate();
  const RequestId request = engine.begin_request();
  const SeqId root = engine.add_sequence(request, std::move(prompt));
  const std::vector<SeqId> seqs = engine.fork(root, n);
  engine.free(root);
  for (int i = 0; i < n; ++i) {
    SamplingParams p = sampling;
    p.seed = sampling.seed + uint64_t(i);
    engine.generate(seqs[size_t(i)], p, stop);
  }
  SampleSet result;
  result.samples.resize(size_t(n));
  auto harvest = [&](SeqId id) {
    const size_t i = size_t(std::find(seqs.begin(), seqs.end(), id) - seqs.begin());
    const Sequence& s = engine.sequence(id);
    result.samples[i] = {s.text, s.records, s.finish, s.mean_logprob()};
    engine.free(id);  // its slot goes to a sample still waiting
  };
  try {
    engine.run_until_done(seqs, harvest);
  } catch (...) {
    for (SeqId s : seqs) {
      if (engine.contains(s)) engine.free(s);
    }
    engine.end_request(request);
    throw;
  }
  result.cost = engine.end_request(request);
  return result;
}

}  // namespace ponder
