// Reading a completion request: each field's type, range and meaning checked once, with
// the field named in the error.

#include "server/request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ponder/answers.h"

namespace ponder::server {

nlohmann::json error_json(const ApiError& error) {
  nlohmann::json e = {
      {"message", error.message}, {"type", error.type}, {"param", nullptr}, {"code", nullptr}};
  if (!error.param.empty()) e["param"] = error.param;
  if (!error.code.empty()) e["code"] = error.code;
  return {{"error", e}};
}

namespace {

using nlohmann::json;

// Thrown inside the parser only; parse_request turns it into its result.
struct Refusal {
  ApiError error;
};

[[noreturn]] void refuse(const std::string& param, const std::string& message, const std::string& code = "") {
  throw Refusal{{400, message, "invalid_request_error", param, code}};
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

[[noreturn]] void wrong_type(const std::string& param, const std::string& wanted, const json& got) {
  refuse(param, "'" + param + "' must be " + wanted + ", not " + type_name(got), "invalid_type");
}

// A field of `obj`, or nullptr when absent or null (OpenAI treats null as not given).
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_field(const json& v, const std::string& param) {
  if (!v.is_string()) wrong_type(param, "a string", v);
  return v.get<std::string>();
}

bool bool_field(const json& v, const std::string& param) {
  if (!v.is_boolean()) wrong_type(param, "a boolean", v);
  return v.get<bool>();
}

std::string range_text(double lo, double hi, bool lo_open, bool hi_open) {
  auto num = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", x);
    return std::string(buf);
  };
  return std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
}

int64_t integer_field(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  const std::string range = "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max()))
      refuse(param, "'" + param + "' must be " + range, "out_of_range");
    x = int64_t(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
             v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());  // 4.0 is an integer to JSON's eyes
  } else {
    wrong_type(param, range, v);
  }
  if (x < lo || x > hi)
    refuse(param, "'" + param + "' must be " + range + ", not " + std::to_string(x), "out_of_range");
  return x;
}

double number_field(const json& v, const std::string& param, double lo, double hi, bool lo_open = false,
                    bool hi_open = false) {
  const std::string range = "a number in " + range_text(lo, hi, lo_open, hi_open);
  if (!v.is_number()) wrong_type(param, range, v);
  const double x = v.get<double>();
  const bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  if (!ok) refuse(param, "'" + param + "' must be " + range + ", not " + v.dump(), "out_of_range");
  return x;
}

// A message's content: a string, or an array of {"type": "text", "text"} parts.
std::string message_content(const json& v, const std::string& param) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) wrong_type(param, "a string or an array of text parts", v);
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string part = param + "[" + std::to_string(i) + "]";
    const json& p = v[i];
    if (!p.is_object()) wrong_type(part, "an object", p);
    const json* type = field(p, "type");
    if (!type || !type->is_string() || *type != "text") {
      refuse(part + ".type", "'" + part + ".type' must be \"text\": this server reads text only",
             "unsupported_content");
    }
    const json* t = field(p, "text");
    if (!t) refuse(part + ".text", "'" + part + ".text' is required", "missing_field");
    text += string_field(*t, part + ".text");
  }
  return text;
}

std::vector<ChatMessage> read_messages(const json& body) {
  const json* v = field(body, "messages");
  if (!v) refuse("messages", "'messages' is required: a non-empty array of {role, content}", "missing_field");
  if (!v->is_array()) wrong_type("messages", "an array", *v);
  if (v->empty()) refuse("messages", "'messages' must not be empty", "empty_messages");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < v->size(); ++i) {
    const std::string param = "messages[" + std::to_string(i) + "]";
    const json& m = (*v)[i];
    if (!m.is_object()) wrong_type(param, "an object", m);
    const json* role = field(m, "role");
    if (!role) refuse(param + ".role", "'" + param + ".role' is required", "missing_field");
    std::string r = string_field(*role, param + ".role");
    if (r == "developer") r = "system";  // OpenAI's newer name for the system role
    if (r != "system" && r != "user" && r != "assistant") {
      refuse(param + ".role",
             "'" + param + ".role' must be system, developer, user or assistant, not '" + r + "'",
             "invalid_role");
    }
    const json* content = field(m, "content");
    if (!content && r != "assistant") {
      refuse(param + ".content", "'" + param + ".content' is required", "missing_field");
    }
    messages.push_back({r, content ? message_content(*content, param + ".content") : ""});
  }
  return messages;
}

// One string, or one prompt of token ids (as vLLM takes it: [1, 2, 3] or [[1, 2, 3]]),
// which the model reads as given.
void read_prompt(const json& body, CompletionRequest& r) {
  const json* v = field(body, "prompt");
  if (!v) refuse("prompt", "'prompt' is required: a string or an array of token ids", "missing_field");
  if (v->is_string()) {
    r.prompt = v->get<std::string>();
    return;
  }
  if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) {
    r.prompt = (*v)[0].get<std::string>();
    return;
  }
  const json* ids = v->is_array() && v->size() == 1 && (*v)[0].is_array() ? &(*v)[0] : v;
  if (ids->is_array() && !ids->empty() && std::all_of(ids->begin(), ids->end(), [](const json& t) { return t.is_number(); })) {
    for (size_t i = 0; i < ids->size(); ++i) {
      r.prompt_tokens.push_back(Token(integer_field((*ids)[i], "prompt[" + std::to_string(i) + "]", 0, INT32_MAX)));
    }
    return;
  }
  if (v->is_array()) {
    refuse("prompt",
           "'prompt' must be one string or one array of token ids: several prompts are not supported",
           "unsupported_prompt");
  }
  wrong_type("prompt", "a string or an array of token ids", *v);
}

std::vector<std::string> read_stop(const json& v) {
  std::vector<std::string> stop;
  if (v.is_string()) {
    stop.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > 4) refuse("stop", "'stop' takes at most 4 strings", "out_of_range");
    for (size_t i = 0; i < v.size(); ++i)
      stop.push_back(string_field(v[i], "stop[" + std::to_string(i) + "]"));
  } else {
    wrong_type("stop", "a string or an array of strings", v);
  }
  for (const auto& s : stop) {
    if (s.empty()) refuse("stop", "'stop' strings must not be empty", "invalid_value");
  }
  return stop;
}

// Fields ponder does not implement, accepted at the value that means "off".
void refuse_unsupported(const json& body, Endpoint endpoint) {
  for (const char* name : {"frequency_penalty", "presence_penalty"}) {
    if (const json* v = field(body, name); v && number_field(*v, name, -2, 2) != 0.0) {
      refuse(name, std::string("'") + name + "' is not supported by this server (only 0)",
             "unsupported_parameter");
    }
  }
  if (const json* v = field(body, "logit_bias")) {
    if (!v->is_object()) wrong_type("logit_bias", "an object", *v);
    if (!v->empty())
      refuse("logit_bias", "'logit_bias' is not supported by this server", "unsupported_parameter");
  }
  if (const json* v = field(body, "tools")) {
    if (!v->is_array()) wrong_type("tools", "an array", *v);
    if (!v->empty())
      refuse("tools", "'tools' (function calling) is not supported by this server", "unsupported_parameter");
  }
  if (const json* v = field(body, "response_format")) {
    const json* type = v->is_object() ? field(*v, "type") : nullptr;
    if (!type || !type->is_string() || *type != "text") {
      refuse("response_format",
             "'response_format' must be {\"type\": \"text\"}: structured output is not supported",
             "unsupported_parameter");
    }
  }
  if (endpoint == Endpoint::completions) {
    if (const json* v = field(body, "echo"); v && bool_field(*v, "echo")) {
      refuse("echo", "'echo' is not supported by this server", "unsupported_parameter");
    }
    if (const json* v = field(body, "suffix"); v && !string_field(*v, "suffix").empty()) {
      refuse("suffix", "'suffix' (insertion) is not supported by this server", "unsupported_parameter");
    }
    if (const json* v = field(body, "best_of"); v && integer_field(*v, "best_of", 1, 1) != 1) {
      refuse("best_of", "'best_of' must be 1: ask for best-of-n@N in the ponder object instead",
             "unsupported_parameter");
    }
  }
}

void read_ponder(const json& p, CompletionRequest& r) {
  if (!p.is_object()) wrong_type("ponder", "an object", p);
  StrategyOptions& o = r.options;
  for (const auto& [key, value] : p.items()) {
    const std::string param = "ponder." + key;
    if (value.is_null()) continue;
    if (key == "strategy") {
      r.strategy = string_field(value, param);
      if (r.strategy.empty()) refuse(param, "'ponder.strategy' must not be empty", "invalid_value");
      r.strategy_param = param;
    } else if (key == "budget") {
      r.budget = int(integer_field(value, param, 0, 1024));
    } else if (key == "verifier") {
      r.verifier = string_field(value, param);
    } else if (key == "events") {
      // true / false, or "all": also every sample's lines with token logprobs and the
      // search tree's forks, truncations and resamples (what the live page draws).
      if (value.is_string()) {
        if (value.get<std::string>() != "all") {
          refuse(param, "'ponder.events' must be true, false or \"all\"", "invalid_value");
        }
        r.events = r.all_events = true;
      } else {
        r.events = bool_field(value, param);
      }
    } else if (key == "answer") {
      const std::string rule = string_field(value, param);
      try {
        o.generation.answers.rule = parse_answer_rule(rule);
      } catch (const std::invalid_argument& e) {
        refuse(param, std::string("'ponder.answer': ") + e.what(), "invalid_value");
      }
      // A request's pattern could take exponential time on the engine's thread.
      if (o.generation.answers.rule == AnswerRule::regex) {
        refuse(
            param,
            "'ponder.answer': regex is not accepted from requests (a pattern could run for exponential time)",
            "unsupported_parameter");
      }
    } else if (key == "top_k") {
      o.generation.sampling.top_k = int(integer_field(value, param, 0, 1 << 20));
    } else if (key == "min_p") {
      o.generation.sampling.min_p = float(number_field(value, param, 0, 1, false, true));
    } else if (key == "ignore_eos") {
      o.generation.stop.ignore_eos = bool_field(value, param);
    } else if (key == "timeout") {
      r.timeout_seconds = number_field(value, param, 0, 1e6, true, false);
    } else if (key == "threshold") {
      o.adaptive.threshold = number_field(value, param, 0.5, 1, true, true);
    } else if (key == "criterion") {
      const std::string c = string_field(value, param);
      if (c == "beta") {
        o.adaptive.criterion = AdaptiveVoteOptions::Criterion::beta;
      } else if (c == "dirichlet") {
        o.adaptive.criterion = AdaptiveVoteOptions::Criterion::dirichlet;
      } else {
        refuse(param, "'ponder.criterion' must be beta or dirichlet, not '" + c + "'", "invalid_value");
      }
    } else if (key == "wave") {
      o.adaptive.wave = int(integer_field(value, param, 1, 1024));
    } else if (key == "esc_window") {
      o.adaptive.esc_window = int(integer_field(value, param, 2, 1024));
    } else if (key == "warmup_tokens") {
      o.prune.warmup_tokens = int(integer_field(value, param, 1, 1 << 20));
    } else if (key == "quantile") {
      o.prune.quantile = number_field(value, param, 0, 1, true, true);
    } else if (key == "min_survivors") {
      o.prune.min_survivors = int(integer_field(value, param, 1, 1024));
    } else if (key == "thinking") {
      const std::string mode = string_field(value, param);
      try {
        r.thinking = parse_thinking_mode(mode);
      } catch (const std::invalid_argument&) {
        refuse(param, "'ponder.thinking' must be auto, on or off, not '" + mode + "'", "invalid_value");
      }
    } else if (key == "thinking_budget") {
      r.thinking_budget = int(integer_field(value, param, -1, 1 << 20));
    } else {
      refuse(param,
             "unknown field '" + param +
                 "' (known: strategy, budget, verifier, events, answer, top_k, min_p, ignore_eos, timeout, threshold, "
                 "criterion, wave, esc_window, warmup_tokens, quantile, min_survivors, thinking, thinking_budget)",
             "unknown_parameter");
    }
  }
}

CompletionRequest read_request(Endpoint endpoint, const json& body, const RequestLimits& limits) {
  if (!body.is_object())
    refuse("", "the request body must be a JSON object, not " + type_name(body), "invalid_body");
  CompletionRequest r;
  r.endpoint = endpoint;

  const json* model = field(body, "model");
  if (!model) refuse("model", "'model' is required", "missing_field");
  r.model = string_field(*model, "model");
  const size_t colon = r.model.find(':');
  r.model_name = r.model.substr(0, colon);
  if (colon != std::string::npos) {
    r.strategy = r.model.substr(colon + 1);
    r.strategy_param = "model";
    if (r.strategy.empty())
      refuse("model", "'model': no strategy after ':' (e.g. NAME:vote@8)", "invalid_value");
  }
  bool known = false;
  for (const auto& m : limits.models) known = known || m == r.model_name;
  if (!known) {
    std::string list;
    for (const auto& m : limits.models) list += (list.empty() ? "" : ", ") + m;
    throw Refusal{{404, "The model '" + r.model_name + "' does not exist (served: " + list + ")",
                   "invalid_request_error", "model", "model_not_found"}};
  }

  if (endpoint == Endpoint::chat) {
    r.messages = read_messages(body);
  } else {
    read_prompt(body, r);
  }
  refuse_unsupported(body, endpoint);

  if (const json* p = field(body, "ponder")) {
    const std::string from_name = r.strategy;
    read_ponder(*p, r);
    if (!from_name.empty() && r.strategy_param == "ponder.strategy" && r.strategy != from_name) {
      refuse("ponder.strategy",
             "the strategy is given twice: '" + from_name + "' in 'model' and '" + r.strategy +
                 "' in 'ponder.strategy'; give it once",
             "conflicting_strategy");
    }
  }

  SamplingParams& sampling = r.options.generation.sampling;
  StopParams& stop = r.options.generation.stop;
  // Raw samples default to OpenAI's temperature 1; strategies to their own 0.8.
  if (r.raw()) sampling.temperature = 1.0f;
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const json* v = field(body, name)) r.max_tokens = int(integer_field(*v, name, 1, limits.max_tokens));
  }
  if (const json* v = field(body, "temperature")) {
    sampling.temperature = float(number_field(*v, "temperature", 0, 2));
  }
  if (const json* v = field(body, "top_p"))
    sampling.top_p = float(number_field(*v, "top_p", 0, 1, true, false));
  if (const json* v = field(body, "n")) r.n = int(integer_field(*v, "n", 1, limits.max_n));
  if (const json* v = field(body, "seed")) {
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
      wrong_type("seed", "an integer in [0, 2^64-1]", *v);
    }
    sampling.seed = v->get<uint64_t>();
  }
  if (const json* v = field(body, "stop")) stop.stop = read_stop(*v);
  if (const json* v = field(body, "stream")) r.stream = bool_field(*v, "stream");
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) wrong_type("stream_options", "an object", *v);
    if (!r.stream) refuse("stream_options", "'stream_options' needs 'stream': true", "invalid_value");
    if (const json* u = field(*v, "include_usage"))
      r.include_usage = bool_field(*u, "stream_options.include_usage");
  }
  if (const json* v = field(body, "user")) r.user = string_field(*v, "user");

  if (endpoint == Endpoint::chat) {
    if (const json* v = field(body, "logprobs")) r.logprobs = bool_field(*v, "logprobs");
    if (const json* v = field(body, "top_logprobs")) {
      r.top_logprobs = int(integer_field(*v, "top_logprobs", 0, 20));
      if (!r.logprobs) refuse("top_logprobs", "'top_logprobs' needs 'logprobs': true", "invalid_value");
    }
  } else if (const json* v = field(body, "logprobs")) {
    // The completions API's logprobs is the number of alternatives (0 = the chosen token's only).
    r.top_logprobs = int(integer_field(*v, "logprobs", 0, 5));
    r.logprobs = true;
  }
  if (const json* v = field(body, "return_tokens_as_token_ids")) {
    r.tokens_as_ids = bool_field(*v, "return_tokens_as_token_ids");
  }
  sampling.top_logprobs = r.top_logprobs;
  return r;
}

}  // namespace

std::variant<CompletionRequest, ApiError> parse_request(Endpoint endpoint, std::string_view body,
                                                        const RequestLimits& limits) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return ApiError{400, std::string("the request body is not valid JSON: ") + e.what(),
                    "invalid_request_error", "", "invalid_json"};
  }
  try {
    return read_request(endpoint, j, limits);
  } catch (const Refusal& r) {
    return r.error;
  } catch (const json::exception& e) {
    // A value nlohmann-json could not convert (checked above, so not expected).
    return ApiError{400, std::string("the request could not be read: ") + e.what(), "invalid_request_error",
                    "", "invalid_body"};
  }
}

}  // namespace ponder::server
