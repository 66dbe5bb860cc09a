// Building the OpenAI-shaped responses and stream chunks.

#include "server/responses.h"

#include <map>

#include "ponder/result_json.h"

namespace ponder::server {

namespace {

const char* object_name(Endpoint endpoint, bool chunk) {
  if (endpoint == Endpoint::chat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

json header_json(const ResponseHeader& h, bool chunk) {
  return {{"id", h.id},
          {"object", object_name(h.endpoint, chunk)},
          {"created", h.created},
          {"model", h.model},
          {"system_fingerprint", "ponder"}};
}

json bytes_of(const std::string& piece) {
  json bytes = json::array();
  for (unsigned char c : piece) bytes.push_back(int(c));
  return bytes;
}

}  // namespace

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::max_tokens:
    case FinishReason::context_full:
    case FinishReason::out_of_memory:
      return "length";
    default:
      return "stop";
  }
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens + u.verifier_tokens + u.scored_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.hidden_tokens}}},
          {"ponder",
           {{"hidden_tokens", u.hidden_tokens},
            {"verifier_tokens", u.verifier_tokens},
            {"scored_tokens", u.scored_tokens}}}};
}

json response_json(const ResponseHeader& header, const std::vector<ChoiceOutput>& choices, const Usage& usage,
                   const json& ponder) {
  json r = header_json(header, false);
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceOutput& c = choices[i];
    json choice = {{"index", i}};
    if (header.endpoint == Endpoint::chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs ? *c.logprobs : json(nullptr);
    choice["finish_reason"] = openai_finish_reason(c.finish);
    if (!c.ponder.is_null()) choice["ponder"] = c.ponder;
    list.push_back(std::move(choice));
  }
  r["choices"] = std::move(list);
  r["usage"] = usage_json(usage);
  if (!ponder.is_null()) r["ponder"] = ponder;
  return r;
}

json chunk_json(const ResponseHeader& header, int index, std::string_view text, bool role,
                const char* finish_reason, const json& logprobs, const json& ponder) {
  json chunk = header_json(header, true);
  json choice = {{"index", index}};
  if (header.endpoint == Endpoint::chat) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (!text.empty() || role) delta["content"] = std::string(text);
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = std::string(text);
  }
  choice["logprobs"] = logprobs;
  choice["finish_reason"] = finish_reason ? json(finish_reason) : json(nullptr);
  chunk["choices"] = json::array({std::move(choice)});
  if (!ponder.is_null()) chunk["ponder"] = ponder;
  return chunk;
}

json usage_chunk_json(const ResponseHeader& header, const Usage& usage) {
  json chunk = header_json(header, true);
  chunk["choices"] = json::array();
  chunk["usage"] = usage_json(usage);
  return chunk;
}

json logprobs_json(Endpoint endpoint, const Model& model, std::span<const TokenRecord> tokens, int top,
                   size_t text_offset, bool token_ids) {
  const auto name = [&](Token t) { return token_ids ? "token_id:" + std::to_string(t) : model.token_piece(t); };
  if (endpoint == Endpoint::chat) {
    json content = json::array();
    for (const TokenRecord& t : tokens) {
      const std::string piece = name(t.token);
      json alternatives = json::array();
      for (int k = 0; k < top && k < int(t.top.size()); ++k) {
        const std::string alt = name(t.top[size_t(k)].token);
        alternatives.push_back(
            {{"token", alt},
             {"logprob", t.top[size_t(k)].logprob},
             {"bytes", bytes_of(model.token_piece(t.top[size_t(k)].token))}});
      }
      content.push_back({{"token", piece},
                         {"logprob", t.logprob},
                         {"bytes", bytes_of(model.token_piece(t.token))},
                         {"top_logprobs", alternatives}});
    }
    return {{"content", content}};
  }
  json pieces = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = text_offset;
  for (const TokenRecord& t : tokens) {
    pieces.push_back(name(t.token));
    logprobs.push_back(t.logprob);
    json alternatives = json::object();
    for (int k = 0; k < top && k < int(t.top.size()); ++k) {
      alternatives[name(t.top[size_t(k)].token)] = t.top[size_t(k)].logprob;
    }
    tops.push_back(alternatives);
    offsets.push_back(offset);
    offset += model.token_piece(t.token).size();
  }
  return {{"tokens", pieces}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

void append_logprobs(Endpoint endpoint, json& all, const json& more) {
  if (all.is_null()) {
    all = more;
    return;
  }
  const std::vector<const char*> keys =
      endpoint == Endpoint::chat
          ? std::vector<const char*>{"content"}
          : std::vector<const char*>{"tokens", "token_logprobs", "top_logprobs", "text_offset"};
  for (const char* key : keys) {
    for (const auto& item : more[key]) all[key].push_back(item);
  }
}

json event_json(const Event& e, const Model* model) {
  json j = {{"event", event_kind_name(e.kind)}};
  const bool all = model != nullptr;
  switch (e.kind) {
    case EventKind::launched:
      j["sample"] = e.sample;
      break;
    case EventKind::forked:
    case EventKind::resampled:
      if (!all) return nullptr;
      j["sample"] = e.sample;
      j["parent"] = e.parent;
      j["position"] = e.position;
      break;
    case EventKind::truncated:
      if (!all) return nullptr;
      j["sample"] = e.sample;
      j["position"] = e.position;
      break;
    case EventKind::extended:
      if (!all) return nullptr;
      j["sample"] = e.sample;
      j["text"] = e.text;
      break;
    case EventKind::line: {
      if (!all) return nullptr;
      j["sample"] = e.sample;
      j["position"] = e.position;
      j["text"] = e.text;
      // [piece, logprob] per token: what the page shades by probability.
      json tokens = json::array();
      for (const TokenRecord& t : e.tokens) tokens.push_back({model->token_piece(t.token), t.logprob});
      j["tokens"] = std::move(tokens);
      break;
    }
    case EventKind::tokens: {
      if (!all) return nullptr;
      j["sample"] = e.sample;
      j["position"] = e.position;
      json tokens = json::array();
      for (const TokenRecord& t : e.tokens) tokens.push_back({model->token_piece(t.token), t.logprob});
      j["tokens"] = std::move(tokens);
      break;
    }
    case EventKind::finished:
      j["sample"] = e.sample;
      j["answer"] = e.answer ? json(e.answer->text) : json(nullptr);
      j["finish_reason"] = e.detail;
      break;
    case EventKind::pruned:
      j["sample"] = e.sample;
      j["reason"] = e.detail;
      break;
    case EventKind::scored:
      if (e.sample >= 0) j["sample"] = e.sample;  // a search's sample; else `solution` numbers it
      j["solution"] = e.position;
      j["score"] = e.value;
      j["steps"] = e.scores;
      break;
    case EventKind::vote: {
      double total = 0.0;
      json tally = json::array();
      for (const auto& [answer, weight] : e.tally) {
        total += weight;
        tally.push_back({answer, weight});
      }
      j["leader"] = e.tally.empty() ? json(nullptr) : json(e.tally.front().first);
      j["share"] = e.tally.empty() || total <= 0 ? 0.0 : e.tally.front().second / total;
      j["tally"] = std::move(tally);
      j["criterion"] = e.value;
      if (e.threshold) j["threshold"] = *e.threshold;
      break;
    }
    case EventKind::stopped:
      j["reason"] = e.detail;
      break;
    case EventKind::decided:
      j["decision"] = e.detail;
      break;
    default:
      return nullptr;
  }
  // A cascade's samples on the large model are numbered apart from the small model's.
  if (e.large_model && j.contains("sample")) j["large_model"] = true;
  return j;
}

const SampleTrace* chosen_sample(const StrategyResult& result) {
  for (const SampleTrace& s : result.samples) {
    if (s.text == result.text) return &s;
  }
  return nullptr;
}

json decision_json(const StrategyResult& r, const std::vector<std::pair<std::string, double>>& tally) {
  json votes = json::array();
  if (!tally.empty()) {
    for (const auto& [answer, weight] : tally) votes.push_back({answer, weight});
  } else {
    // Answer counts, most first (ties in order of first appearance).
    std::vector<std::pair<std::string, double>> counts;
    std::map<std::string, size_t> where;
    for (const SampleTrace& s : r.samples) {
      if (!s.answer) continue;
      auto [it, fresh] = where.try_emplace(s.answer->key, counts.size());
      if (fresh) counts.push_back({s.answer->text, 0.0});
      counts[it->second].second += 1.0;
    }
    std::stable_sort(counts.begin(), counts.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [answer, count] : counts) votes.push_back({answer, count});
  }
  int pruned = 0;
  for (const SampleTrace& s : r.samples) pruned += s.pruned ? 1 : 0;
  return {{"strategy", r.strategy},      {"answer", r.answer ? json(r.answer->text) : json(nullptr)},
          {"confidence", r.confidence},  {"stop_reason", r.stop_reason},
          {"samples", r.samples.size()}, {"pruned", pruned},
          {"votes", std::move(votes)},   {"cost", r.cost},
          {"decisions", r.decisions}};
}

}  // namespace ponder::server
