// The request and response shapes of the remote APIs: llama-server's /completion, the
// OpenAI /v1/completions of vLLM and SGLang, and `ponder serve`'s raw mode. Pure
// functions of their inputs, so the tests check them against each API's documented shapes.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ponder/remote.h"

namespace ponder::remote {

using json = nlohmann::json;

const char* request_path(RemoteApi api) { return api == RemoteApi::llama ? "/completion" : "/v1/completions"; }

std::string request_body(const RemoteEndpoint& endpoint, const RemoteRequest& request, const Model& model) {
  const SamplingParams& s = request.sampling;
  // The sampled token's own logprob comes with the alternatives: ask for at least one.
  const int top = std::max(1, s.top_logprobs);
  json body;
  if (!endpoint.model.empty()) body["model"] = endpoint.model;
  body["prompt"] = request.prompt;  // token ids: a continuation is exactly the tokens the sample has
  if (request.scoring()) {
    // Nothing to draw: one greedy token (vLLM wants max_tokens >= 1), the prompt's logprobs.
    if (!endpoint.prompt_logprobs) throw std::logic_error("scoring: " + endpoint.url + " gives no prompt logprobs");
    body["max_tokens"] = 1;
    body["temperature"] = 0.0;
    body["prompt_logprobs"] = top;
    body["return_tokens_as_token_ids"] = true;
    body["stream"] = false;
    return body.dump();
  }
  body["temperature"] = s.temperature;
  body["top_p"] = s.top_p;
  body["seed"] = s.seed;
  body["stream"] = true;
  if (!request.stop.stop.empty()) body["stop"] = request.stop.stop;
  switch (endpoint.api) {
    case RemoteApi::llama:
      body["n_predict"] = request.stop.max_tokens;
      // Every sampler stage ponder does not have is off (llama-server's defaults: top_k 40,
      // min_p 0.05), so that the server draws from the distribution ponder would.
      body["top_k"] = s.top_k;
      body["min_p"] = s.min_p;
      body["typical_p"] = 1.0;
      body["repeat_penalty"] = 1.0;
      body["n_probs"] = top;
      body["cache_prompt"] = true;  // reuse the slot's KV for a shared prefix
      body["return_tokens"] = true;
      if (request.stop.ignore_eos) body["ignore_eos"] = true;
      break;
    case RemoteApi::openai:
      body["max_tokens"] = request.stop.max_tokens;
      body["logprobs"] = top;
      // vLLM: each token as "token_id:N", so that no text has to be looked up.
      body["return_tokens_as_token_ids"] = true;
      // Extensions of vLLM and SGLang; sent only when on (OpenAI's own API has neither).
      if (s.top_k > 0) body["top_k"] = s.top_k;
      if (s.min_p > 0) body["min_p"] = s.min_p;
      if (request.stop.ignore_eos) body["ignore_eos"] = true;
      // A search's step keeps its delimiter (vLLM's and SGLang's names for it).
      if (request.stop.keep_stop) {
        body["include_stop_str_in_output"] = true;
        body["no_stop_trim"] = true;
      }
      break;
    case RemoteApi::ponder: {
      // ponder serve needs a model name; it serves a file under its name without ".gguf".
      if (endpoint.model.empty()) body["model"] = std::filesystem::path(model.path()).stem().string();
      body["max_tokens"] = request.stop.max_tokens;
      body["logprobs"] = top;
      body["return_tokens_as_token_ids"] = true;  // ponder serve answers as vLLM does
      json ponder = {{"strategy", "sample"}};
      if (s.top_k > 0) ponder["top_k"] = s.top_k;
      if (s.min_p > 0) ponder["min_p"] = s.min_p;
      if (request.stop.ignore_eos) ponder["ignore_eos"] = true;
      body["ponder"] = ponder;
      break;
    }
  }
  return body.dump();
}

std::vector<std::string> EventStream::feed(const char* data, size_t size) {
  pending_.append(data, size);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(pending_.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      out.emplace_back(line);
    } else if (line.starts_with("error:")) {
      // llama-server reports a failure inside a stream as an `error:` line.
      out.emplace_back(std::string(R"({"error":)") + std::string(line.substr(6)) + "}");
    }
  }
  pending_.erase(0, start);
  return out;
}

namespace {

[[noreturn]] void bad(const std::string& what) { throw std::runtime_error("unexpected response: " + what); }

float number(const json& v, const char* what) {
  if (!v.is_number()) bad(std::string(what) + " is not a number");
  return v.get<float>();
}

Token token_from(const RemoteBackend& backend, const json& id, const json& text) {
  if (id.is_number_integer()) {
    const int64_t t = id.get<int64_t>();
    if (t < 0 || t >= backend.model().n_vocab()) {
      bad("token id " + std::to_string(t) + " is outside the local model's vocabulary of " +
          std::to_string(backend.model().n_vocab()) + " (the server runs another model)");
    }
    return Token(t);
  }
  if (!text.is_string()) bad("a token is neither an id nor a string");
  if (auto t = backend.token_of(text.get<std::string>())) return *t;
  bad("the token '" + text.get<std::string>() +
      "' is not in the local model's vocabulary (the server runs another model)");
}

// Entropy is not sent by any of the APIs: the entropy of the alternatives sent
// (renormalised), a lower bound of the model's, is what a record can carry.
float top_entropy(const std::vector<TokenLogprob>& top) {
  double mass = 0.0, h = 0.0;
  for (const auto& t : top) mass += std::exp(double(t.logprob));
  if (mass <= 0.0) return 0.0f;
  for (const auto& t : top) {
    const double p = std::exp(double(t.logprob)) / mass;
    if (p > 0.0) h -= p * std::log(p);
  }
  return float(h);
}

TokenRecord finish_record(Token token, float logprob, std::vector<TokenLogprob> top, int wanted) {
  std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.logprob > b.logprob; });
  const float entropy = top_entropy(top);
  if (int(top.size()) > wanted) top.resize(size_t(wanted));
  return {token, logprob, entropy, std::move(top)};
}

Chunk parse_llama(const json& j, const RemoteBackend& backend, int top) {
  Chunk c;
  if (const auto it = j.find("content"); it != j.end() && it->is_string()) c.text = it->get<std::string>();
  if (const auto it = j.find("completion_probabilities"); it != j.end()) {
    if (!it->is_array()) bad("completion_probabilities is not an array");
    for (const json& p : *it) {
      std::vector<TokenLogprob> alternatives;
      if (const auto a = p.find("top_logprobs"); a != p.end() && a->is_array()) {
        for (const json& q : *a) {
          alternatives.push_back({token_from(backend, q.value("id", json()), q.value("token", json())),
                                  number(q.value("logprob", json()), "top_logprobs[].logprob")});
        }
      }
      c.records.push_back(finish_record(token_from(backend, p.value("id", json()), p.value("token", json())),
                                        number(p.value("logprob", json()), "completion_probabilities[].logprob"),
                                        std::move(alternatives), top));
    }
  }
  if (j.value("stop", false)) {
    c.end = true;
    const std::string type = j.value("stop_type", "");
    c.finish = type == "eos"     ? FinishReason::eos
               : type == "word"  ? FinishReason::stop_string
               : type == "limit" ? FinishReason::max_tokens
                                 : FinishReason::eos;
    if (type == "word" && j.contains("stopping_word") && j["stopping_word"].is_string()) {
      c.stop_word = j["stopping_word"].get<std::string>();
    }
    if (j.contains("tokens_evaluated") && j["tokens_evaluated"].is_number_integer()) {
      c.prompt_tokens = j["tokens_evaluated"].get<int64_t>();
    }
    if (const auto t = j.find("timings"); t != j.end() && t->is_object()) {
      c.server_ms = t->value("prompt_ms", 0.0) + t->value("predicted_ms", 0.0);
    }
  }
  return c;
}

// OpenAI's completions layout (vLLM, SGLang, ponder serve): parallel arrays of tokens and
// logprobs, the alternatives as an object from token to logprob.
Chunk parse_openai(const json& j, const RemoteBackend& backend, int top) {
  Chunk c;
  if (const auto u = j.find("usage"); u != j.end() && u->is_object() && u->contains("prompt_tokens")) {
    c.prompt_tokens = (*u)["prompt_tokens"].get<int64_t>();
  }
  const auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array()) bad("no 'choices' array");
  if (choices->empty()) return c;  // vLLM's closing usage chunk
  const json& choice = choices->front();
  if (const auto it = choice.find("text"); it != choice.end() && it->is_string()) c.text = it->get<std::string>();
  if (const auto lp = choice.find("logprobs"); lp != choice.end() && lp->is_object()) {
    const json& tokens = lp->value("tokens", json::array());
    const json& logprobs = lp->value("token_logprobs", json::array());
    const json& tops = lp->value("top_logprobs", json::array());
    if (!tokens.is_array() || !logprobs.is_array() || tokens.size() != logprobs.size()) {
      bad("logprobs.tokens and logprobs.token_logprobs differ in length");
    }
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::vector<TokenLogprob> alternatives;
      if (tops.is_array() && k < tops.size() && tops[k].is_object()) {
        for (const auto& [piece, value] : tops[k].items()) {
          alternatives.push_back({token_from(backend, json(), json(piece)), number(value, "top_logprobs value")});
        }
      }
      // A null logprob (OpenAI's for a prompt's first token) reads as certain.
      const float logprob = logprobs[k].is_null() ? 0.0f : number(logprobs[k], "token_logprobs[]");
      c.records.push_back(finish_record(token_from(backend, json(), tokens[k]), logprob, std::move(alternatives), top));
    }
  }
  if (const auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
    c.end = true;
    const std::string reason = f->get<std::string>();
    // vLLM and SGLang say which stop string ended it in stop_reason / matched_stop (an
    // integer there is a stop token, i.e. end of generation).
    json matched = choice.value("stop_reason", json());
    if (matched.is_null()) matched = choice.value("matched_stop", json());
    if (reason == "length") {
      c.finish = FinishReason::max_tokens;
    } else if (reason == "cancelled") {
      c.finish = FinishReason::cancelled;
    } else if (matched.is_string()) {
      c.finish = FinishReason::stop_string;
      c.stop_word = matched.get<std::string>();
    } else {
      c.finish = FinishReason::eos;
    }
  }
  return c;
}

}  // namespace

Chunk parse_scores(const std::string& payload, const RemoteRequest& request, const RemoteBackend& backend, int top) {
  const json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("the scoring answer is not a JSON object: " + payload.substr(0, 200));
  if (const auto e = j.find("error"); e != j.end()) {
    const std::string message = e->is_object() ? e->value("message", e->dump()) : e->dump();
    throw std::runtime_error("the server reported an error: " + message);
  }
  const auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty()) bad("no 'choices' in the scoring answer");
  const auto lp = choices->front().find("prompt_logprobs");
  if (lp == choices->front().end() || !lp->is_array()) {
    bad("no 'prompt_logprobs' array in the scoring answer (the server does not give prompt logprobs)");
  }
  if (lp->size() != request.prompt.size()) {
    bad("prompt_logprobs has " + std::to_string(lp->size()) + " entries for a prompt of " +
        std::to_string(request.prompt.size()) + " tokens");
  }
  Chunk c;
  for (size_t k = size_t(request.score_from); k < request.prompt.size(); ++k) {
    const json& at = (*lp)[k];
    if (!at.is_object()) bad("prompt_logprobs[" + std::to_string(k) + "] is not an object");
    const Token token = request.prompt[k];
    // Keyed by token id; each {logprob, rank, decoded_token}, the prompt's own token included.
    const auto own = at.find(std::to_string(token));
    if (own == at.end() || !own->is_object()) {
      bad("prompt_logprobs[" + std::to_string(k) + "] lacks the prompt's token " + std::to_string(token));
    }
    std::vector<TokenLogprob> alternatives;
    for (const auto& [key, value] : at.items()) {
      if (!value.is_object()) bad("prompt_logprobs[" + std::to_string(k) + "]['" + key + "'] is not an object");
      const auto t = backend.token_of("token_id:" + key);
      if (!t) bad("prompt_logprobs[" + std::to_string(k) + "] names the token '" + key + "', not a local token id");
      alternatives.push_back({*t, number(value.value("logprob", json()), "prompt_logprobs[].logprob")});
    }
    c.records.push_back(finish_record(token, number(own->value("logprob", json()), "prompt_logprobs[].logprob"),
                                      std::move(alternatives), top));
  }
  if (const auto u = j.find("usage"); u != j.end() && u->is_object() && u->contains("prompt_tokens") &&
                                      (*u)["prompt_tokens"].is_number_integer()) {
    c.prompt_tokens = (*u)["prompt_tokens"].get<int64_t>();
  }
  c.end = true;
  return c;
}

Chunk parse_chunk(RemoteApi api, const std::string& payload, const RemoteBackend& backend, int top) {
  if (payload == "[DONE]") return Chunk{.end = true};
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad("a stream chunk is not a JSON object: " + payload.substr(0, 200));
  if (const auto e = j.find("error"); e != j.end()) {
    const std::string message = e->is_object() ? e->value("message", e->dump()) : e->dump();
    throw std::runtime_error("the server reported an error: " + message);
  }
  return api == RemoteApi::llama ? parse_llama(j, backend, std::max(0, top)) : parse_openai(j, backend, std::max(0, top));
}

}  // namespace ponder::remote
