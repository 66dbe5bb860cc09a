// Strategy names -> strategies, and the option validators.

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "strategies/strategies.h"

namespace ponder {

namespace {

void require(bool ok, const std::string& field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument(field + ": must be " + allowed);
}

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
  require(search.max_steps >= 1, "search.max_steps", ">= 1");
  require(search.beam_width >= 2, "search.beam_width", ">= 2");
  require(search.lookahead >= 0, "search.lookahead", ">= 0");
  require(std::isfinite(search.pf_temperature) && search.pf_temperature > 0.0, "search.pf_temperature",
          "a finite number > 0");
  require(search.rollback_threshold > 0.0 && search.rollback_threshold < 1.0, "search.rollback_threshold",
          "in (0, 1)");
  require(search.rollback_tries >= 1, "search.rollback_tries", ">= 1");
  require(search.astar_expansions >= 1, "search.astar_expansions", ">= 1");
  require(std::isfinite(search.astar_step_cost) && search.astar_step_cost >= 0.0, "search.astar_step_cost",
          "a finite number >= 0");
  require(deepconf.window >= 1, "deepconf.window", ">= 1");
  require(deepconf.top_k >= 1 && deepconf.top_k <= 20, "deepconf.top_k", "in [1, 20]");
  require(deepconf.percentile >= 0.0 && deepconf.percentile <= 100.0, "deepconf.percentile", "in [0, 100]");
  require(deepconf.warmup >= 0, "deepconf.warmup", ">= 0 (0 = max(2, N/4))");
  require(deepconf.wave >= 1, "deepconf.wave", ">= 1");
  require(deepconf.consensus > 0.5 && deepconf.consensus <= 1.0, "deepconf.consensus", "in (0.5, 1]");
  require(deepconf.min_votes >= 1, "deepconf.min_votes", ">= 1");
  require(deepconf.keep > 0.0 && deepconf.keep <= 1.0, "deepconf.keep", "in (0, 1]");
  controller.validate();
  require(cascade.small_samples >= 1 && cascade.small_samples <= kMaxBudget, "cascade.small_samples",
          "in [1, " + std::to_string(kMaxBudget) + "]");
  require(cascade.agreement > 0.0 && cascade.agreement <= 1.0, "cascade.agreement", "in (0, 1]");
  require(!cascade.escalation.empty(), "cascade.escalation", "a strategy name");
  require(std::isfinite(ead.threshold) && ead.threshold > 0.0, "ead.threshold", "a finite number > 0 (nats)");
  require(ead.window >= 1, "ead.window", ">= 1");
  require(ead.dwell >= 1, "ead.dwell", ">= 1");
}

namespace {

// How a strategy's name carries its budget.
enum class Budget {
  none,      // greedy: one sample, no budget
  required,  // NAME@N or --budget N
  optional,  // NAME[@MAX]: kDefaultAdaptiveMax when neither gives one
};

struct Entry {
  const char* base;     // the name before '@'
  const char* pattern;  // as help texts show it
  const char* about;    // one line for help texts
  Budget budget;
  std::unique_ptr<Strategy> (*make)(std::string name, int n, const StrategyOptions& o);
};

using namespace strategies;

// Adding a strategy: its factory in strategies.h and one row here.
const Entry kStrategies[] = {
    {"greedy", "greedy", "one sample at temperature 0", Budget::none,
     [](std::string name, int, const StrategyOptions& o) { return make_greedy(std::move(name), o); }},
    {"sample", "sample@N", "N samples; the first one answers", Budget::required, make_sample},
    {"best-of-n", "best-of-n@N", "N samples; the highest mean token logprob answers", Budget::required,
     make_best_of_n},
    {"vote", "vote@N", "majority vote of N samples' answers", Budget::required,
     [](std::string name, int n, const StrategyOptions& o) { return make_vote(std::move(name), n, false, o); }},
    {"weighted-vote", "weighted-vote@N", "vote weighted by exp(mean logprob)", Budget::required,
     [](std::string name, int n, const StrategyOptions& o) { return make_vote(std::move(name), n, true, o); }},
    {"adaptive", "adaptive[@MAX]",
     "the controller: a first sample estimates difficulty; a preset (easy / normal / hard) says how much more to "
     "spend; an unsure preset escalates; MAX 16",
     Budget::optional, make_adaptive},
    {"adaptive-vote", "adaptive-vote[@MAX]", "vote in waves until confident (--threshold); MAX 16", Budget::optional,
     make_adaptive_vote},
    {"esc", "esc[@MAX]", "early-stopping self-consistency: stop when a window agrees; MAX 16", Budget::optional,
     make_esc},
    {"rpc", "rpc@N", "reasoning pruning + perplexity consistency", Budget::required, make_rpc},
    {"prune", "prune@N", "N samples; the least confident quarter stopped early", Budget::required, make_prune},
    {"prm-vote", "prm-vote@N", "vote weighted by the verifier's solution scores (--verifier)", Budget::required,
     make_prm_vote},
    {"prm-best-of-n", "prm-best-of-n@N", "N samples; the verifier's best-scored answers (--verifier)",
     Budget::required, make_prm_best_of_n},
    {"rollback", "rollback@N", "step by step; a step the verifier rejects is resampled (N samples in all)",
     Budget::required, make_rollback},
    {"beam", "beam@N", "step-level beam search: N beams, the best N/M grow M each (--beam-width)",
     Budget::required, make_beam},
    {"dvts", "dvts@N", "diverse verifier tree search: N/M subtrees, each greedy over M steps",
     Budget::required, make_dvts},
    {"pf", "pf@N", "particle filtering: N particles resampled by step score each step", Budget::required,
     make_particle_filter},
    {"epf", "epf@N", "entropic particle filtering: pf with annealed resampling", Budget::required,
     make_entropic_particle_filter},
    {"astar", "astar@N", "A*-decoding: best-first over steps by lowest step score", Budget::required, make_astar},
    {"deepconf", "deepconf@N", "DeepConf online: warm-up, stop unconfident traces, stop at a weighted consensus",
     Budget::required, make_deepconf},
    {"deepconf-offline", "deepconf-offline@N", "DeepConf offline: N traces, the most confident share votes",
     Budget::required, make_deepconf_offline},
    {"cascade", "cascade@N",
     "the small model (-m) votes first (--cascade-samples); the large one (--large-model) runs "
     "--cascade-escalation with budget N when it disagrees",
     Budget::required, make_cascade},
    {"ead", "ead@N", "entropy adaptive decoding: N samples, each written by the large model (--large-model) "
     "while its rolling entropy is high (--ead-threshold)",
     Budget::required, make_ead},
};

std::string budget_range() { return "[1, " + std::to_string(kMaxBudget) + "]"; }

// The N of "NAME@N": an integer in [1, kMaxBudget], or std::invalid_argument.
int budget_in_name(std::string_view spec, std::string_view digits) {
  int n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    throw std::invalid_argument("strategy '" + std::string(spec) + "': the budget after '@' must be an integer in " +
                                budget_range());
  }
  if (n < 1 || n > kMaxBudget) {
    throw std::invalid_argument("strategy '" + std::string(spec) + "': the budget must be in " + budget_range() +
                                ", not " + std::to_string(n));
  }
  return n;
}

}  // namespace

const std::vector<std::string>& strategy_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Entry& e : kStrategies) v.emplace_back(e.pattern);
    return v;
  }();
  return names;
}

const std::vector<StrategyHelp>& strategy_help() {
  static const std::vector<StrategyHelp> help = [] {
    std::vector<StrategyHelp> v;
    for (const Entry& e : kStrategies) v.push_back({e.pattern, e.about});
    return v;
  }();
  return help;
}

std::unique_ptr<Strategy> make_strategy(std::string_view spec, const StrategyOptions& options, int budget) {
  options.validate();
  const size_t at = spec.find('@');
  const std::string base(spec.substr(0, at));
  const std::string name(spec);
  const Entry* entry = nullptr;
  for (const Entry& e : kStrategies) {
    if (base == e.base) entry = &e;
  }
  if (entry == nullptr) {
    std::string known;
    for (const auto& s : strategy_names()) known += (known.empty() ? "" : ", ") + s;
    throw std::invalid_argument("unknown strategy '" + base + "' (known: " + known + ")");
  }
  if (budget < 0 || budget > kMaxBudget) {
    throw std::invalid_argument("budget: must be in " + budget_range() + " (0 = the strategy's own), not " +
                                std::to_string(budget));
  }
  const bool named = at != std::string_view::npos;
  const int from_name = named ? budget_in_name(spec, spec.substr(at + 1)) : 0;
  if (named && budget > 0 && budget != from_name) {
    throw std::invalid_argument("strategy '" + name + "': the budget is given twice (@" + std::to_string(from_name) +
                                " and --budget " + std::to_string(budget) + "); give it once");
  }
  const int n = named ? from_name : budget;
  switch (entry->budget) {
    case Budget::none:
      if (n > 1) throw std::invalid_argument("strategy '" + base + "' takes no budget");
      return entry->make(name, 1, options);
    case Budget::required:
      if (n == 0) throw std::invalid_argument("strategy '" + base + "' needs a budget: " + base + "@N or --budget N");
      return entry->make(name, n, options);
    case Budget::optional:
      return entry->make(name, n > 0 ? n : kDefaultAdaptiveMax, options);
  }
  throw std::logic_error("make_strategy: unhandled budget kind");
}

}  // namespace ponder
