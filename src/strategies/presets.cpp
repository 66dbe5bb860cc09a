#include "ponder/presets.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace ponder {

using nlohmann::json;

namespace {

json preset_json(const Preset& p) {
  json j = {{"strategy", p.strategy}};
  if (p.strategy != "accept") j["budget"] = p.budget;
  return j;
}

void require(bool ok, const std::string& field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument(field + ": must be " + allowed);
}

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw std::invalid_argument("presets: " + field + ": " + what);
}

double number(const json& j, const std::string& field) {
  if (!j.is_number()) fail(field, "must be a number, not " + j.dump());
  return j.get<double>();
}

int64_t integer(const json& j, const std::string& field) {
  if (!j.is_number_integer()) fail(field, "must be an integer, not " + j.dump());
  return j.get<int64_t>();
}

int small_integer(const json& j, const std::string& field) {
  const int64_t v = integer(j, field);
  if (v < 0 || v > std::numeric_limits<int>::max()) fail(field, "must be in [0, 2^31), not " + j.dump());
  return int(v);
}

Preset read_preset(const json& j, const std::string& field, Preset p) {
  if (!j.is_object()) fail(field, "must be an object {\"strategy\", \"budget\"}, not " + j.dump());
  for (const auto& [key, value] : j.items()) {
    if (key == "strategy") {
      if (!value.is_string()) fail(field + ".strategy", "must be a string, not " + value.dump());
      p.strategy = value.get<std::string>();
    } else if (key == "budget") {
      p.budget = small_integer(value, field + ".budget");
    } else {
      fail(field + "." + key, "unknown field (strategy, budget)");
    }
  }
  return p;
}

}  // namespace

void ControllerOptions::validate() const {
  require(first_wave >= 1, "controller.first_wave", ">= 1");
  require(easy_score >= 0.0 && easy_score <= 1.0, "controller.easy_score", "in [0, 1]");
  require(hard_below >= 0.0 && hard_below <= 1.0, "controller.hard_below", "in [0, 1]");
  require(wave >= 1, "controller.wave", ">= 1");
  require(consensus > 0.5 && consensus <= 1.0, "controller.consensus", "in (0.5, 1]");
  require(min_votes >= 1, "controller.min_votes", ">= 1");
  require(std::isfinite(weight_power) && weight_power >= 0.0, "controller.weight_power", "a finite number >= 0");
  require(max_tokens >= 0, "controller.max_tokens", ">= 0 (0 = no limit)");
  require(std::isfinite(max_seconds) && max_seconds >= 0.0, "controller.max_seconds", ">= 0 (0 = no limit)");
  for (const auto& [level, p] : {std::pair{"easy", &easy}, {"normal", &normal}, {"hard", &hard}}) {
    const std::string field = std::string("controller.") + level;
    require(!p->strategy.empty(), field + ".strategy", "accept, vote or a strategy name");
    // adaptive-vote may serve as a preset; the controller itself may not (it would recurse).
    const bool controller = p->strategy.rfind("adaptive", 0) == 0 && p->strategy.rfind("adaptive-vote", 0) != 0;
    require(!controller, field + ".strategy", "accept, vote or a strategy other than adaptive");
    if (p->strategy != "accept") {
      require(p->budget >= 1 && p->budget <= kMaxBudget, field + ".budget",
              "in [1, " + std::to_string(kMaxBudget) + "]");
    }
  }
}

json controller_json(const ControllerOptions& c) {
  return {{"first_wave", c.first_wave},   {"easy_score", c.easy_score},     {"hard_below", c.hard_below},
          {"wave", c.wave},               {"consensus", c.consensus},       {"min_votes", c.min_votes},
          {"weight_power", c.weight_power}, {"max_tokens", c.max_tokens},   {"max_seconds", c.max_seconds},
          {"easy", preset_json(c.easy)},  {"normal", preset_json(c.normal)}, {"hard", preset_json(c.hard)}};
}

ControllerOptions parse_presets(std::string_view text, ControllerOptions c) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw std::invalid_argument("presets: not valid JSON");
  if (!j.is_object()) throw std::invalid_argument("presets: must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key == "first_wave") c.first_wave = small_integer(value, key);
    else if (key == "easy_score") c.easy_score = number(value, key);
    else if (key == "hard_below") c.hard_below = number(value, key);
    else if (key == "wave") c.wave = small_integer(value, key);
    else if (key == "consensus") c.consensus = number(value, key);
    else if (key == "min_votes") c.min_votes = small_integer(value, key);
    else if (key == "weight_power") c.weight_power = number(value, key);
    else if (key == "max_tokens") c.max_tokens = integer(value, key);
    else if (key == "max_seconds") c.max_seconds = number(value, key);
    else if (key == "easy") c.easy = read_preset(value, key, c.easy);
    else if (key == "normal") c.normal = read_preset(value, key, c.normal);
    else if (key == "hard") c.hard = read_preset(value, key, c.hard);
    else fail(key, "unknown field");
  }
  c.validate();
  return c;
}

}  // namespace ponder
