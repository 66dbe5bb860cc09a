#pragma once
// The server's requests: an OpenAI chat or text completion body, read and checked in one
// pure function (no model, no engine), so every refusal is decided in one place and the
// parser can be fuzzed on its own. What needs a model (the strategy's name, the prompt's
// length in tokens) is checked by the server afterwards, with the same error type.
//
// Accepted fields (anything else at the top level is ignored, as OpenAI clients send
// extras; anything unknown inside `ponder` is an error, being ponder's own):
//   model                      "NAME" or "NAME:STRATEGY" (e.g. "toy-reasoner-l:vote@8")
//   messages | prompt          chat: [{role, content}]; completions: a string (or [string])
//   max_tokens, max_completion_tokens, temperature, top_p, n, seed, stop, stream,
//   stream_options.include_usage, logprobs, top_logprobs, user,
//   return_tokens_as_token_ids (vLLM's: logprobs name tokens "token_id:N")
//   frequency_penalty, presence_penalty, logit_bias, echo, suffix, best_of, tools,
//   response_format            accepted only at their neutral values
//   ponder: {strategy, budget, verifier, events (true | false | "all"), answer, top_k, min_p, ignore_eos, timeout,
//            threshold, criterion, wave, esc_window, warmup_tokens, quantile, min_survivors,
//            thinking ("auto" | "on" | "off"), thinking_budget (tokens; -1 = none)}

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ponder/chat_template.h"
#include "ponder/model.h"
#include "ponder/strategy.h"

namespace ponder::server {

enum class Endpoint { chat, completions };

// An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}} with its status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("messages[2].role"); empty: null
  std::string code;   // a stable machine-readable name; empty: null
};
nlohmann::json error_json(const ApiError& error);

// The raw mode's strategy name: n plain samples with logprobs, no aggregation.
inline constexpr std::string_view kRawStrategy = "sample";

struct CompletionRequest {
  Endpoint endpoint = Endpoint::chat;
  std::string model;                  // as the client wrote it (echoed in responses)
  std::string model_name;             // the served model it names (the part before ':')
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions
  std::vector<Token> prompt_tokens;   // ... given as token ids instead (prompt is then empty)
  std::string strategy;               // a registry name, or kRawStrategy; empty: the server's default
  std::string strategy_param;         // where the strategy came from: "model" or "ponder.strategy"
  int budget = 0;                     // ponder.budget; 0 = the strategy name's own
  int n = 1;                          // choices: independent runs (raw mode: samples)
  std::optional<int> max_tokens;      // none: as many as fit, at most the default
  StrategyOptions options;            // sampling, stop strings, answers, adaptive and prune knobs
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;
  // return_tokens_as_token_ids (vLLM's field): logprobs name each token "token_id:N", so
  // that a client with the model's vocabulary (ponder's remote backend) reads ids, not text.
  bool tokens_as_ids = false;
  bool events = true;    // ponder.events: stream the strategy's progress
  bool all_events = false;  // ponder.events = "all": also lines with tokens, forks, truncations
  std::string verifier;  // ponder.verifier: must name the model's verifier
  // ponder.timeout: seconds the request may run, in (0, 1e6]; past it, its questions are
  // cancelled and it gets 504 (the server's own limit, if shorter, still holds).
  std::optional<double> timeout_seconds;
  std::string user;      // checked, not used: ponder keeps no per-user state
  // ponder.thinking, ponder.thinking_budget: none = the server's (--thinking, --thinking-budget).
  std::optional<ThinkingMode> thinking;
  std::optional<int> thinking_budget;

  bool raw() const { return strategy == kRawStrategy; }
};

struct RequestLimits {
  std::vector<std::string> models;  // the served model names
  int max_n = 16;                   // choices per request at most
  int max_tokens = 1 << 20;         // max_tokens at most (the context may allow fewer)
};

// Reads and checks a request body. Never throws: every malformed, mistyped, missing,
// out-of-range or unsupported field is an ApiError naming the field (404 for an unknown
// model, 400 otherwise).
std::variant<CompletionRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                        const RequestLimits& limits);

}  // namespace ponder::server
