#include "cli/report.h"

namespace ponder::cli {

nlohmann::json to_json(const Cost& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"generated_tokens", c.generated_tokens},
          {"scored_tokens", c.scored_tokens},
          {"forward_passes", c.forward_passes},
          {"wall_ms", c.wall_ms}};
}

nlohmann::json to_json(const SampleTrace& s) {
  nlohmann::json j = {{"text", s.text},
                      {"answer", s.answer ? nlohmann::json(s.answer->text) : nlohmann::json(nullptr)},
                      {"mean_logprob", s.mean_logprob},
                      {"tokens", s.tokens},
                      {"finish_reason", finish_reason_name(s.finish)},
                      {"pruned", s.pruned}};
  if (!s.scores.empty()) j["scores"] = s.scores;
  return j;
}

nlohmann::json to_json(const StrategyResult& r) {
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& s : r.samples) samples.push_back(to_json(s));
  nlohmann::json j = {{"answer", r.answer ? nlohmann::json(r.answer->text) : nlohmann::json(nullptr)},
                      {"strategy", r.strategy},
                      {"confidence", r.confidence},
                      {"stop_reason", r.stop_reason},
                      {"samples", samples},
                      {"cost", to_json(r.cost)}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

std::string dump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ponder::cli
