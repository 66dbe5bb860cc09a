#pragma once
// JSON forms of results, shared by the commands that print them.

#include <nlohmann/json.hpp>

#include "ponder/cost.h"
#include "ponder/strategy.h"

namespace ponder::cli {

nlohmann::json to_json(const Cost& cost);
nlohmann::json to_json(const SampleTrace& sample);
nlohmann::json to_json(const StrategyResult& result);

// Compact JSON; invalid UTF-8 from byte-level models is replaced, not an error.
std::string dump(const nlohmann::json& j, int indent = -1);

}  // namespace ponder::cli
