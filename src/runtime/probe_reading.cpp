// The difficulty probe as a question's strategy reads it: one prefill of the prompt on the
// runtime's hidden-state context, then the probe's P(greedy answer right).

#include "ponder/runtime.h"

namespace ponder {

void Runtime::set_probe(std::shared_ptr<const DifficultyProbe> probe, int threads) {
  if (!probe) throw std::invalid_argument("set_probe: no probe");
  probe->check_model(generator_.model());
  probe_reader_ = std::make_unique<HiddenStateReader>(generator_.shared_model(), threads,
                                                      generator_.context_per_sequence());
  probe_ = std::move(probe);
}

std::optional<double> QuestionRun::probe_p_correct() {
  const DifficultyProbe* probe = runtime_.probe();
  if (!probe) return std::nullopt;
  if (!probe_p_correct_) {
    HiddenStateReader& reader = *runtime_.probe_reader();
    const int64_t tokens = reader.tokens_read(), passes = reader.forward_passes();
    probe_p_correct_ = probe->p_correct(reader.read(prompt_));
    probe_cost_.prompt_tokens += reader.tokens_read() - tokens;
    probe_cost_.decoded_tokens += reader.tokens_read() - tokens;
    probe_cost_.forward_passes += reader.forward_passes() - passes;
  }
  return probe_p_correct_;
}

}  // namespace ponder
