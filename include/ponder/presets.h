#pragma once
// The adaptive controller's settings as JSON: what a presets file holds (`--presets FILE`)
// and what run.json records.
//
//   {"first_wave": 1, "easy_score": 0.7, "hard_below": 0, "wave": 1, "consensus": 0.55,
//    "min_votes": 2, "weight_power": 1, "max_tokens": 0, "max_seconds": 0,
//    "easy": {"strategy": "accept"}, "normal": {"strategy": "vote", "budget": 8},
//    "hard": {"strategy": "beam", "budget": 16}}
//
// A file may give any of the fields; the rest keep their values.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "ponder/strategy.h"

namespace ponder {

nlohmann::json controller_json(const ControllerOptions& options);

// Reads `text` over `base`. Throws std::invalid_argument naming the field for malformed
// JSON, unknown fields, wrong types and values out of range.
ControllerOptions parse_presets(std::string_view text, ControllerOptions base = {});

}  // namespace ponder
