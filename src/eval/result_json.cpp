// The JSON codec of results and trace rows (ponder/result_json.h).

#include "ponder/result_json.h"

#include <cmath>
#include <limits>

namespace ponder {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json answer_json(const std::optional<Answer>& a) { return a ? json(a->text) : json(nullptr); }

// Reads the fields of one JSON object; every error names the field by its path from the
// top ("samples[2].tokens").
class Fields {
 public:
  Fields(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_.empty() ? "the value" : path_, "an object", j_);
  }

  std::string path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  bool has(const char* key) const { return j_.contains(key); }

  const json& at(const char* key) const {
    const auto it = j_.find(key);
    if (it == j_.end()) throw ResultJsonError(path(key) + ": missing");
    return *it;
  }
  std::string text(const char* key) const {
    const json& v = at(key);
    if (!v.is_string()) fail(path(key), "a string", v);
    return v.get<std::string>();
  }
  std::optional<Answer> answer(const char* key) const {
    const json& v = at(key);
    if (v.is_null()) return std::nullopt;
    if (!v.is_string()) fail(path(key), "a string or null", v);
    std::string text = v.get<std::string>();
    std::string key_text = normalize_answer(text);
    return Answer{std::move(text), std::move(key_text)};
  }
  int64_t integer(const char* key, int64_t min, int64_t max) const {
    const json& v = at(key);
    const bool ok = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(max)
                                           : v.is_number_integer() && v.get<int64_t>() >= min && v.get<int64_t>() <= max;
    if (!ok) fail(path(key), "an integer from " + std::to_string(min) + " to " + std::to_string(max), v);
    return v.get<int64_t>();
  }
  int64_t count(const char* key, int64_t max = std::numeric_limits<int64_t>::max()) const {
    return integer(key, 0, max);
  }
  double real(const char* key) const {
    const json& v = at(key);
    if (v.is_null()) return std::nan("");
    if (!v.is_number()) fail(path(key), "a number or null", v);
    return v.get<double>();
  }
  bool flag(const char* key) const {
    const json& v = at(key);
    if (!v.is_boolean()) fail(path(key), "true or false", v);
    return v.get<bool>();
  }
  const json& array(const char* key) const {
    const json& v = at(key);
    if (!v.is_array()) fail(path(key), "an array", v);
    return v;
  }

  [[noreturn]] static void fail(const std::string& where, const std::string& allowed, const json& got) {
    std::string shown = got.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
    throw ResultJsonError(where + ": expected " + allowed + ", got " + shown);
  }

 private:
  const json& j_;
  std::string path_;
};

FinishReason parse_finish_reason(const Fields& f, const char* key) {
  const std::string name = f.text(key);
  // FinishReason's values are consecutive from `none`; finish_reason_name answers
  // "unknown" past the last, so new reasons are read without a second list here.
  std::string names;
  for (int r = 0;; ++r) {
    const std::string candidate = finish_reason_name(FinishReason(r));
    if (candidate == "unknown") break;
    if (candidate == name) return FinishReason(r);
    names += (names.empty() ? "" : ", ") + candidate;
  }
  Fields::fail(f.path(key), "one of " + names, json(name));
}

Cost read_cost(const json& j, const std::string& path) {
  const Fields f(j, path);
  Cost c;
  c.prompt_tokens = f.count("prompt_tokens");
  c.generated_tokens = f.count("generated_tokens");
  c.scored_tokens = f.count("scored_tokens");
  c.forward_passes = f.count("forward_passes");
  c.wall_ms = f.real("wall_ms");
  c.verifier_tokens = f.count("verifier_tokens");
  // Added later: rows written before have neither.
  if (f.has("decoded_tokens")) c.decoded_tokens = f.count("decoded_tokens");
  if (f.has("tree_tokens")) c.tree_tokens = f.count("tree_tokens");
  if (f.has("cached_tokens")) c.cached_tokens = f.count("cached_tokens");
  return c;
}

std::string element(const std::string& array_path, size_t i) { return array_path + "[" + std::to_string(i) + "]"; }

SampleTrace read_sample(const json& j, const std::string& path) {
  const Fields f(j, path);
  SampleTrace s;
  s.text = f.text("text");
  s.answer = f.answer("answer");
  s.mean_logprob = f.real("mean_logprob");
  s.tokens = int(f.count("tokens", std::numeric_limits<int>::max()));
  s.finish = parse_finish_reason(f, "finish_reason");
  s.pruned = f.flag("pruned");
  constexpr int kMaxInt = std::numeric_limits<int>::max();
  s.id = int(f.integer("id", -1, kMaxInt));
  s.parent = int(f.integer("parent", -1, kMaxInt));
  s.fork_position = int(f.count("fork_position", kMaxInt));
  // Written only when set (cascades' escalations).
  if (f.has("large_model")) s.large_model = f.flag("large_model");
  if (f.has("token_logprobs")) {
    const json& tokens = f.array("token_logprobs");
    for (size_t i = 0; i < tokens.size(); ++i) {
      const Fields t(tokens[i], element(f.path("token_logprobs"), i));
      s.token_logprobs.push_back({Token(t.count("token", kMaxInt)), float(t.real("logprob"))});
      // Written since the live page's replay; rows from before have no pieces.
      if (t.has("piece")) s.token_pieces.push_back(t.text("piece"));
    }
    if (!s.token_pieces.empty() && s.token_pieces.size() != s.token_logprobs.size()) {
      Fields::fail(f.path("token_logprobs"), "a piece in every token or in none", tokens);
    }
  }
  if (f.has("scores")) {
    const json& scores = f.at("scores");
    if (!scores.is_object()) Fields::fail(f.path("scores"), "an object of numbers", scores);
    const Fields named(scores, f.path("scores"));
    for (const auto& [name, value] : scores.items()) s.scores[name] = named.real(name.c_str());
  }
  return s;
}

StrategyResult read_result(const json& j, const std::string& path) {
  const Fields f(j, path);
  StrategyResult r;
  r.strategy = f.text("strategy");
  r.answer = f.answer("answer");
  r.text = f.text("text");
  r.confidence = f.real("confidence");
  r.stop_reason = f.text("stop_reason");
  const json& samples = f.array("samples");
  for (size_t i = 0; i < samples.size(); ++i) r.samples.push_back(read_sample(samples[i], element(f.path("samples"), i)));
  r.cost = read_cost(f.at("cost"), f.path("cost"));
  const json& costs = f.array("costs");
  for (size_t i = 0; i < costs.size(); ++i) {
    const Fields c(costs[i], element(f.path("costs"), i));
    r.costs.push_back(
        {c.text("role"), c.text("model"), c.count("parameters"), read_cost(c.at("cost"), c.path("cost"))});
  }
  if (f.has("decisions")) {
    const json& decisions = f.array("decisions");
    const std::string where = f.path("decisions");
    for (size_t i = 0; i < decisions.size(); ++i) {
      if (!decisions[i].is_string()) Fields::fail(element(where, i), "a string", decisions[i]);
      r.decisions.push_back(decisions[i].get<std::string>());
    }
  }
  if (f.has("error")) r.error = f.text("error");
  return r;
}

}  // namespace

void to_json(json& j, const Cost& c) {
  j = {{"prompt_tokens", c.prompt_tokens},
       {"generated_tokens", c.generated_tokens},
       {"scored_tokens", c.scored_tokens},
       {"forward_passes", c.forward_passes},
       {"wall_ms", number(c.wall_ms)},
       {"verifier_tokens", c.verifier_tokens},
       {"decoded_tokens", c.decoded_tokens},
       {"tree_tokens", c.tree_tokens},
       {"cached_tokens", c.cached_tokens}};
}

void from_json(const json& j, Cost& c) { c = read_cost(j, ""); }

void to_json(json& j, const SampleTrace& s) {
  j = {{"text", s.text},
       {"answer", answer_json(s.answer)},
       {"mean_logprob", number(s.mean_logprob)},
       {"tokens", s.tokens},
       {"finish_reason", finish_reason_name(s.finish)},
       {"pruned", s.pruned},
       {"id", s.id},
       {"parent", s.parent},
       {"fork_position", s.fork_position}};
  if (s.large_model) j["large_model"] = true;
  if (!s.token_logprobs.empty()) {
    json tokens = json::array();
    for (size_t i = 0; i < s.token_logprobs.size(); ++i) {
      const TokenLogprob& t = s.token_logprobs[i];
      json token = {{"token", t.token}, {"logprob", number(t.logprob)}};
      if (i < s.token_pieces.size()) token["piece"] = s.token_pieces[i];
      tokens.push_back(std::move(token));
    }
    j["token_logprobs"] = tokens;
  }
  if (!s.scores.empty()) {
    json scores = json::object();
    for (const auto& [name, value] : s.scores) scores[name] = number(value);
    j["scores"] = scores;
  }
}

void from_json(const json& j, SampleTrace& s) { s = read_sample(j, ""); }

void to_json(json& j, const StrategyResult& r) {
  j = {{"strategy", r.strategy},
       {"answer", answer_json(r.answer)},
       {"text", r.text},
       {"confidence", number(r.confidence)},
       {"stop_reason", r.stop_reason},
       {"samples", r.samples},
       {"cost", r.cost},
       {"costs", json::array()}};
  for (const auto& c : r.costs) {
    j["costs"].push_back({{"role", c.role}, {"model", c.model}, {"parameters", c.parameters}, {"cost", c.cost}});
  }
  if (!r.decisions.empty()) j["decisions"] = r.decisions;
  if (!r.error.empty()) j["error"] = r.error;
}

void from_json(const json& j, StrategyResult& r) { r = read_result(j, ""); }

void to_json(json& j, const TraceRow& row) {
  to_json(j, row.result);
  j["id"] = row.id;
  j["item_hash"] = row.item_hash;
  j["reference"] = row.reference;
  j["correct"] = row.correct;
  json& samples = j["samples"];
  for (size_t i = 0; i < samples.size() && i < row.samples_correct.size(); ++i) {
    samples[i]["correct"] = bool(row.samples_correct[i]);
  }
}

void from_json(const json& j, TraceRow& row) {
  const Fields f(j, "");
  TraceRow r;
  r.id = f.text("id");
  r.item_hash = f.text("item_hash");
  r.reference = f.text("reference");
  r.correct = f.flag("correct");
  r.result = read_result(j, "");
  const json& samples = f.array("samples");
  for (size_t i = 0; i < samples.size(); ++i) {
    r.samples_correct.push_back(Fields(samples[i], element("samples", i)).flag("correct"));
  }
  row = std::move(r);
}

std::string dump_json(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace ponder
