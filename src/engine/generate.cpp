#include "ponder/generate.h"

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
  try {
    engine.run_until_done(seqs);
  } catch (...) {
    for (SeqId s : seqs) engine.free(s);
    engine.end_request(request);
    throw;
  }
  for (SeqId id : seqs) {
    const Sequence& s = engine.sequence(id);
    result.samples.push_back({s.text, s.records, s.finish, s.mean_logprob()});
    engine.free(id);
  }
  result.cost = engine.end_request(request);
  return result;
}

}  // namespace ponder
