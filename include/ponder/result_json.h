#pragma once
// The one JSON form of each result type, shared by the command line, the evaluation's
// traces and (next) the server. Writing never fails; reading checks every field and
// throws ResultJsonError naming the field, what it held and what is allowed, so a damaged
// file is reported instead of read out of bounds.
//
//   Cost            {"prompt_tokens", "generated_tokens", "scored_tokens", "forward_passes", "wall_ms",
//                    "verifier_tokens", "decoded_tokens", "tree_tokens", "cached_tokens"} (the last three
//                    optional on read)
//   SampleTrace     {"text", "answer", "mean_logprob", "tokens", "finish_reason", "pruned", "id", "parent",
//                    "fork_position", ["token_logprobs": [{"token", "logprob", ["piece"]}]], ["scores"],
//                    ["large_model"]}
//   StrategyResult  {"strategy", "answer", "text", "confidence", "stop_reason", "samples": [SampleTrace],
//                    "cost": Cost, "costs": [{"role", "model", "parameters", "cost": Cost}], ["decisions"],
//                    ["error"]}
//   TraceRow        StrategyResult's fields and {"id", "item_hash", "reference", "correct"},
//                   with "correct" in every sample too
//
// An answer is written as its text (null for none); reading recomputes its key with
// normalize_answer. Non-finite numbers, which JSON lacks, are written as null and read back
// as NaN. Bracketed fields are left out when empty (large_model: when false).

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "ponder/cost.h"
#include "ponder/eval.h"
#include "ponder/strategy.h"

namespace ponder {

class ResultJsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// nlohmann-json's conventions, so `nlohmann::json j = result;` and `j.get<TraceRow>()`
// work; from_json throws ResultJsonError.
void to_json(nlohmann::json& j, const Cost& cost);
void from_json(const nlohmann::json& j, Cost& cost);
void to_json(nlohmann::json& j, const SampleTrace& sample);
void from_json(const nlohmann::json& j, SampleTrace& sample);
void to_json(nlohmann::json& j, const StrategyResult& result);
void from_json(const nlohmann::json& j, StrategyResult& result);
void to_json(nlohmann::json& j, const TraceRow& row);
void from_json(const nlohmann::json& j, TraceRow& row);

// Text of `j`; invalid UTF-8 from byte-level models is replaced, not an error.
std::string dump_json(const nlohmann::json& j, int indent = -1);

}  // namespace ponder
