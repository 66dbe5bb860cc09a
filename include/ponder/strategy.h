#pragma once
// The strategy interface: one question in, a final answer, the chosen text, per-sample
// traces, the reason it stopped and what it cost out.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ponder/answers.h"
#include "ponder/cost.h"
#include "ponder/sampling.h"
#include "ponder/task.h"
#include "ponder/verifier.h"

namespace ponder {

class QuestionRun;

// How every sample of a strategy is drawn and read.
struct GenerationOptions {
  // Temperature 0.8 unless set; sample i of a question uses seed + i.
  SamplingParams sampling = [] {
    SamplingParams p;
    p.temperature = 0.8f;
    return p;
  }();
  StopParams stop;  // 256 tokens at most
  AnswerOptions answers;

  void validate() const;
};

struct SampleTrace {
  std::string text;
  std::optional<Answer> answer;  // none: no answer found, or stopped early
  double mean_logprob = 0.0;     // over its generated tokens
  int tokens = 0;
  FinishReason finish = FinishReason::none;
  bool pruned = false;                    // stopped by the strategy before it finished
  std::map<std::string, double> scores;   // strategy-specific (e.g. "weight", "rpc_p")
  // Where it sits in the question's tree of samples, so a search can be replayed.
  int id = -1;             // launch order within the question
  int parent = -1;         // the sample it was forked from; -1: the prompt
  int fork_position = 0;   // tokens it took over from its parent
  std::vector<TokenLogprob> token_logprobs;  // per token, when the runtime records them
  std::vector<std::string> token_pieces;     // with token_logprobs: each token's text (for replay)
  bool large_model = false;  // drawn on the runtime's large model (a cascade's escalation)
  std::vector<TokenRecord> records;  // with Job::sample_records: every token, with alternatives
};

struct StrategyResult {
  std::string strategy;          // its name, e.g. "vote@16"
  std::optional<Answer> answer;  // none when no sample produced one
  std::string text;              // the text of the sample the answer was taken from
  double confidence = 0.0;       // the winning share of the votes or weight, in [0, 1]
  std::string stop_reason;       // e.g. "budget", "beta>=0.95", "window agreed"
  std::vector<SampleTrace> samples;
  Cost cost;                    // the generators' (small and large added up), with verifier_tokens
  std::vector<ModelCost> costs;  // per model (generator, large generator, verifier)
  // What an adaptive strategy decided and why, in order: the difficulty it estimated,
  // the preset it chose, escalations, budgets that stopped it.
  std::vector<std::string> decisions;
  std::string error;  // set (and the rest empty) when the run failed
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  // The most samples it may draw for one question.
  virtual int budget() const = 0;
  // What it needs of the backend (Capability bits of ponder/runtime.h); the runtime
  // refuses a strategy whose needs it cannot meet.
  virtual uint32_t needs() const = 0;
  // What it uses when the backend has it (a superset of needs()): `adaptive` weighs votes
  // with a verifier when one is attached and by token probabilities otherwise.
  virtual uint32_t wants() const { return needs(); }
  // The most samples it keeps at once, each holding a KV slot while it waits for others
  // (a search's beams). The runtime admits a question only when these and its prompt fit
  // beside the questions in flight. Strategies that harvest each sample as it ends hold 1.
  virtual int held_samples() const { return 1; }
  // The algorithm; the runtime supplies the question's run and fills in the cost.
  virtual Task<StrategyResult> run(QuestionRun& question) const = 0;
};

// What most strategies share: the name they were made from, a budget, how samples are
// drawn, and a need for sampling with logprobs.
class StrategyBase : public Strategy {
 public:
  StrategyBase(std::string name, int budget, GenerationOptions generation)
      : name_(std::move(name)), budget_(budget), generation_(std::move(generation)) {}
  std::string name() const override { return name_; }
  int budget() const override { return budget_; }
  uint32_t needs() const override;  // sampling with logprobs

 protected:
  const GenerationOptions& generation() const { return generation_; }

 private:
  std::string name_;
  int budget_;
  GenerationOptions generation_;
};

// Per-strategy knobs beyond the budget; every field documents its default.
struct AdaptiveVoteOptions {
  enum class Criterion { beta, dirichlet, esc };
  Criterion criterion = Criterion::beta;
  double threshold = 0.95;  // stop once P(top answer is the majority) >= threshold; (0.5, 1)
  int wave = 4;             // samples launched at a time (beta, dirichlet); >= 1
  int esc_window = 5;       // ESC: stop when a whole window agrees; >= 2
  int dirichlet_top = 5;    // answers kept for the Dirichlet criterion; >= 3
  int dirichlet_draws = 4000;  // Monte Carlo draws; >= 100
};

struct PruneOptions {
  int warmup_tokens = 16;   // no sample is pruned before it has this many tokens; >= 1
  double quantile = 0.25;   // prune below this quantile of peers' running mean logprob; (0, 1)
  int min_survivors = 4;    // never prune below this many live or finished samples; >= 1
};

// The verifier-guided searches (beam, dvts, pf, epf, rollback, astar): they grow a
// question's samples step by step and score every step with the verifier.
struct SearchOptions {
  std::string step_delimiter;  // where a step ends; empty: the verifier's ("\n" for the toy PRM)
  int max_steps = 40;          // steps per solution at most; the last one runs to the end; >= 1
  int beam_width = 4;          // beam, dvts: M, the children of each kept node; >= 2
  StepAggregation aggregation = StepAggregation::last;  // beam: how partial solutions rank
  int lookahead = 0;           // dvts: greedy steps past each candidate, for its score only; >= 0
  double pf_temperature = 1.0;  // pf: weights are softmax(logit(step score) / T); > 0
  enum class Resampling { multinomial, systematic };
  Resampling resampling = Resampling::multinomial;  // pf (epf is always systematic)
  bool keep_finished = false;  // pf, epf: finished particles leave the pool instead of being resampled
  double rollback_threshold = 0.5;  // rollback: a step scoring below it is tried again; (0, 1)
  int rollback_tries = 3;           // rollback: tries per step, the best one kept; >= 1
  int astar_expansions = 4;         // astar: next steps sampled from each state taken; >= 1
  double astar_step_cost = 0.0;     // astar: subtracted per step from a state's log score; >= 0
};

// DeepConf (deepconf@N online, deepconf-offline@N): traces weighed and stopped by their
// sliding-window confidence over the top-k candidates of each token (strategies/deepconf.h).
struct DeepConfOptions {
  enum class Measure { lowest, bottom, tail, mean };  // a trace's confidence (offline)
  int window = 32;  // tokens per group; sized to the toy's ~80-token traces (paper: 2,048); >= 1
  int top_k = 20;   // candidates per token confidence (recorded as top logprobs); [1, 20]
  // Online threshold: this percentile of the warm-up traces' lowest group confidence.
  // 10 stops only traces below the warm-up's worst 10% (the authors' packaged code; far
  // more accurate on the toy dev split, docs/deepconf.md); 90 stops all but those as
  // confident as its best 10% (the paper's script). [0, 100]
  double percentile = 10.0;
  int warmup = 0;            // online warm-up traces; 0 = max(2, N/4); at most N
  int wave = 4;              // online: traces in flight after the warm-up; >= 1
  double consensus = 0.95;   // online: stop at this confidence-weighted share of the leader; (0.5, 1]
  int min_votes = 2;         // online: votes needed before the consensus can stop; >= 1
  double keep = 0.9;         // offline: share of traces kept, most confident first; (0, 1]
  Measure measure = Measure::lowest;  // offline: the confidence that ranks and weighs
};

// The most samples a strategy's budget may name.
inline constexpr int kMaxBudget = 1024;

// adaptive[@MAX]: the controller. A first wave estimates the question's difficulty; the
// preset for that difficulty says how much more to spend; a preset that ends unsure
// escalates to the next. Defaults fitted on the toy dev split (docs/adaptive.md).
struct Preset {
  // "accept": answer from the first wave; "vote": the controller's own weighted vote,
  // which keeps the first wave's samples, up to `budget` samples in all; any other
  // strategy name (e.g. "beam"): that strategy with `budget` samples, run afresh.
  std::string strategy;
  int budget = 0;  // samples; "vote" and other strategies: >= 1
};

struct ControllerOptions {
  int first_wave = 1;        // samples drawn before the difficulty is estimated; >= 1
  // Easy: every first-wave sample gives the same answer and each scores at least this
  // (the verifier's solution score, else its token probability exp(mean logprob)). [0, 1]
  double easy_score = 0.7;
  // Hard: the first wave's estimated P(right) (the leader's share x its mean score) is
  // below this. [0, 1]
  double hard_below = 0.0;
  int wave = 1;              // samples launched at a time by the vote; >= 1
  double consensus = 0.55;   // the vote stops once the leader's weighted share reaches this ... (0.5, 1]
  int min_votes = 2;         // ... and it has at least this many votes; >= 1
  double weight_power = 1.0;  // a vote weighs score^power; >= 0
  Preset easy{"accept", 0};
  Preset normal{"vote", 8};
  Preset hard{"vote", 16};
  // Per question: stop launching once this many tokens were spent (generated plus the
  // verifier's, in generator-equivalent units), or this much time has passed; 0 = none.
  int64_t max_tokens = 0;
  double max_seconds = 0.0;
  // Throws std::invalid_argument naming the field and its allowed range.
  void validate() const;
};

// cascade@N: a small vote on the generator (the small model); only when it is not agreed
// enough does the question go to the runtime's large model, which runs `escalation` with
// budget N (strategies/cascade.cpp).
struct CascadeOptions {
  int small_samples = 4;     // samples drawn on the small model; [1, 1024]
  // Accept the small model's answer when this share of its samples gave it (samples
  // without an answer count against it); 1 = all must agree. (0, 1]
  double agreement = 1.0;
  // The strategy the large model runs, named without a budget (cascade's N is its budget);
  // one that needs no large model itself.
  std::string escalation = "adaptive-vote";
};

// ead@N: Entropy Adaptive Decoding. Each of N samples is written by the small model (the
// generator) while the rolling mean entropy of its last `window` tokens stays at or below
// `threshold`, and by the large model while it stays above; the model switched in first
// reads the tokens it has not seen (never the prompt again). The N samples vote.
// Stop strings are matched within each model's stretch of a sample. The defaults are the
// best on the toy dev split (docs/cascades.md): an arithmetic slip is one token, which a
// window of 5 (the paper's w) notices too late and leaves too slowly.
struct EadOptions {
  double threshold = 0.1;  // nats of mean entropy per token; > 0
  int window = 1;          // tokens in the rolling mean (w); >= 1
  int dwell = 1;           // tokens at least between two switches (d_min), the first included; >= 1
};

struct StrategyOptions {
  GenerationOptions generation;
  ControllerOptions controller;
  AdaptiveVoteOptions adaptive;
  PruneOptions prune;
  SearchOptions search;
  DeepConfOptions deepconf;
  CascadeOptions cascade;
  EadOptions ead;
  // Throws std::invalid_argument naming the field and its allowed range.
  void validate() const;
};

// Builds a strategy from its name (strategy_names() lists them). `budget` > 0 sets N
// where the name gives none (a name's N and a different `budget` are an error). N is in
// [1, 1024]. Throws std::invalid_argument for unknown names or budgets.
std::unique_ptr<Strategy> make_strategy(std::string_view spec, const StrategyOptions& options = {},
                                        int budget = 0);
// The names make_strategy accepts, for help texts.
const std::vector<std::string>& strategy_names();
// The same with a line on what each does, in the registry's order.
struct StrategyHelp {
  std::string pattern;  // e.g. "vote@N"
  std::string about;
};
const std::vector<StrategyHelp>& strategy_help();

}  // namespace ponder
