// Fuzz target for the server's request parser and validator (src/server/request.cpp) on
// arbitrary bodies, for both endpoints, aborting on the first broken invariant:
//
//   - parse_request never throws; a refusal is 400 or 404 (404 only for an unknown model),
//     with a message, and its error JSON dumps
//   - an accepted request names a served model, and every number is in its documented
//     range (n, max_tokens, temperature, top_p, top_logprobs, budget, adaptive knobs)
//   - a chat request has messages with known roles; stop strings are non-empty, at most 4

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "server/request.h"

namespace {

using namespace ponder::server;

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "broken invariant: %s\n", what);
  std::abort();
}

const RequestLimits kLimits{{"tiny", "toy-reasoner-l"}, 16, 1 << 20};

void check_request(Endpoint endpoint, const CompletionRequest& r) {
  check(r.model_name == "tiny" || r.model_name == "toy-reasoner-l", "an accepted model is a served one");
  check(r.n >= 1 && r.n <= kLimits.max_n, "n in [1, max_n]");
  check(!r.max_tokens || (*r.max_tokens >= 1 && *r.max_tokens <= kLimits.max_tokens), "max_tokens in range");
  const auto& s = r.options.generation.sampling;
  check(std::isfinite(s.temperature) && s.temperature >= 0 && s.temperature <= 2, "temperature in [0, 2]");
  check(s.top_p > 0 && s.top_p <= 1, "top_p in (0, 1]");
  check(s.min_p >= 0 && s.min_p < 1, "min_p in [0, 1)");
  check(s.top_logprobs >= 0 && s.top_logprobs <= 20, "top_logprobs in [0, 20]");
  check(r.budget >= 0 && r.budget <= 1024, "budget in [0, 1024]");
  check(r.options.adaptive.threshold > 0.5 && r.options.adaptive.threshold < 1, "threshold in (0.5, 1)");
  check(r.options.adaptive.wave >= 1 && r.options.adaptive.esc_window >= 2, "wave, esc_window in range");
  check(r.options.prune.quantile > 0 && r.options.prune.quantile < 1, "quantile in (0, 1)");
  check(r.options.generation.answers.rule != ponder::AnswerRule::regex, "no regex from requests");
  const auto& stop = r.options.generation.stop.stop;
  check(stop.size() <= 4, "at most 4 stop strings");
  for (const auto& x : stop) check(!x.empty(), "stop strings are non-empty");
  if (endpoint == Endpoint::chat) {
    check(!r.messages.empty(), "a chat request has messages");
    for (const auto& m : r.messages) {
      check(m.role == "system" || m.role == "user" || m.role == "assistant", "a known role");
    }
  }
  check(!r.include_usage || r.stream, "include_usage only with stream");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (Endpoint endpoint : {Endpoint::chat, Endpoint::completions}) {
    const auto result = parse_request(endpoint, body, kLimits);
    if (const auto* e = std::get_if<ApiError>(&result)) {
      check(e->status == 400 || e->status == 404, "a refusal is 400 or 404");
      check(e->status != 404 || e->code == "model_not_found", "404 only for an unknown model");
      check(!e->message.empty(), "a refusal says why");
      const std::string text = error_json(*e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      check(text.find("\"error\"") != std::string::npos, "the error JSON dumps");
    } else {
      check_request(endpoint, std::get<CompletionRequest>(result));
    }
  }
  return 0;
}
