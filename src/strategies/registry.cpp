// Strategy names -> strategies, and the option validators.

#include <charconv>
#include <stdexcept>

#include "strategies/strategies.h"

namespace ponder {

namespace {

void require(bool ok, const std::string& field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument(field + ": must be " + allowed);
}

constexpr int kMaxBudget = 1024;
constexpr int kDefaultAdaptiveMax = 16;

}  // namespace

void GenerationOptions::validate() const {
  sampling.validate();
  stop.validate();
  answers.validate();
}

void StrategyOptions::validate() const {
  generation.validate();
  require(adaptive.threshold > 0.5 && adaptive.threshold < 1.0, "adaptive.threshold", "in (0.5, 1)");
  require(adaptive.wave >= 1, "adaptive.wave", ">= 1");
  require(adaptive.esc_window >= 2, "adaptive.esc_window", ">= 2");
  require(adaptive.dirichlet_top >= 3, "adaptive.dirichlet_top", ">= 3");
  require(adaptive.dirichlet_draws >= 100, "adaptive.dirichlet_draws", ">= 100");
  require(prune.warmup_tokens >= 1, "prune.warmup_tokens", ">= 1");
  require(prune.quantile > 0.0 && prune.quantile < 1.0, "prune.quantile", "in (0, 1)");
  require(prune.min_survivors >= 1, "prune.min_survivors", ">= 1");
}

const std::vector<std::string>& strategy_names() {
  static const std::vector<std::string> names = {"greedy", "sample@N",      "best-of-n@N", "vote@N", "weighted-vote@N",
                                                 "adaptive-vote[@MAX]", "esc[@MAX]", "rpc@N", "prune@N",
                                                 "prm-vote@N", "prm-best-of-n@N"};
  return names;
}

std::unique_ptr<Strategy> make_strategy(std::string_view spec, const StrategyOptions& options, int budget) {
  options.validate();
  const size_t at = spec.find('@');
  const std::string base(spec.substr(0, at));
  int n = budget;
  if (at != std::string_view::npos) {
    const std::string_view digits = spec.substr(at + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      throw std::invalid_argument("strategy '" + std::string(spec) + "': the budget after '@' must be a number");
    }
  }
  auto budget_for = [&](int fallback) {
    const int value = n > 0 ? n : fallback;
    if (value < 1 || value > kMaxBudget) {
      throw std::invalid_argument("strategy '" + std::string(spec) + "': the budget must be in [1, " +
                                  std::to_string(kMaxBudget) + "]");
    }
    return value;
  };
  auto needs_budget = [&] {
    if (n <= 0 && at == std::string_view::npos) {
      throw std::invalid_argument("strategy '" + base + "' needs a budget: " + base + "@N or --budget N");
    }
    return budget_for(0);
  };
  const std::string name(spec);
  using namespace strategies;
  if (base == "greedy") {
    if (at != std::string_view::npos && n != 1) throw std::invalid_argument("strategy 'greedy' takes no budget");
    return make_greedy(name, options);
  }
  if (base == "sample") return make_sample(name, needs_budget(), options);
  if (base == "best-of-n") return make_best_of_n(name, needs_budget(), options);
  if (base == "vote") return make_vote(name, needs_budget(), false, options);
  if (base == "weighted-vote") return make_vote(name, needs_budget(), true, options);
  if (base == "adaptive-vote") return make_adaptive_vote(name, budget_for(kDefaultAdaptiveMax), options);
  if (base == "esc") return make_esc(name, budget_for(kDefaultAdaptiveMax), options);
  if (base == "rpc") return make_rpc(name, needs_budget(), options);
  if (base == "prune") return make_prune(name, needs_budget(), options);
  if (base == "prm-vote") return make_prm_vote(name, needs_budget(), options);
  if (base == "prm-best-of-n") return make_prm_best_of_n(name, needs_budget(), options);
  std::string known;
  for (const auto& s : strategy_names()) known += (known.empty() ? "" : ", ") + s;
  throw std::invalid_argument("unknown strategy '" + base + "' (known: " + known + ")");
}

}  // namespace ponder
