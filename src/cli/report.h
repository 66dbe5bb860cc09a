#pragma once
// JSON forms of results for the commands that print them: the library's one codec
// (ponder/result_json.h), as values.

#include <nlohmann/json.hpp>

#include "ponder/result_json.h"

namespace ponder::cli {

inline nlohmann::json to_json(const Cost& cost) { return cost; }
inline nlohmann::json to_json(const SampleTrace& sample) { return sample; }
inline nlohmann::json to_json(const StrategyResult& result) { return result; }

// Compact JSON; invalid UTF-8 from byte-level models is replaced, not an error.
inline std::string dump(const nlohmann::json& j, int indent = -1) { return dump_json(j, indent); }

}  // namespace ponder::cli
