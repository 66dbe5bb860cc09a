#pragma once
// Evaluation: strategies x budgets over a data set on one engine, with accuracy, cost,
// coverage and reproducible reports.

#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ponder/answers.h"
#include "ponder/chat_template.h"
#include "ponder/engine.h"
#include "ponder/remote.h"
#include "ponder/strategy.h"
#include "ponder/verifier.h"

namespace ponder {

enum class DatasetFormat {
  automatic,  // by the fields of the first valid row
  ponder,     // {"id", "question", "answer", ...}: answer is the final answer itself
  gsm8k,      // {"question", "answer"}: answer is a solution ending in "#### N"
  math,       // {"problem", "solution"}: the reference is the solution's last \boxed{}
};
DatasetFormat parse_dataset_format(std::string_view name);

struct EvalItem {
  std::string id;        // "id" field, else the line number
  std::string question;
  Answer reference;
  int line = 0;
  std::string group;     // the row's value of Dataset::group_by ("" when absent)
};

struct DataError {
  int line;
  std::string message;
};

struct Dataset {
  DatasetFormat format = DatasetFormat::automatic;  // as detected
  std::string group_by;  // the field EvalItem::group was read from ("" = none)
  std::vector<EvalItem> items;
  std::vector<DataError> errors;  // malformed or incomplete rows, by line
  std::string content_hash;       // SHA-256 of the bytes read (hex); "" when built in memory
};

// Reads JSONL; bad rows are collected in `errors` (never thrown). Throws
// std::runtime_error only when the file cannot be read. `group_by` names a field,
// dotted for nested objects ("difficulty.steps", MATH's "level"), whose value (a string
// or a number) becomes each item's group, for summaries per group.
Dataset load_dataset(const std::string& path, DatasetFormat format = DatasetFormat::automatic,
                     const std::string& group_by = "");
// The same from a stream of JSONL text (never throws for its content).
Dataset read_dataset(std::istream& in, DatasetFormat format = DatasetFormat::automatic,
                     const std::string& group_by = "");

// A format's own answer rule (boxed for MATH, hash_mark otherwise): with the automatic
// rule, model outputs are read with it first, then with every other rule.
AnswerRule default_answer_rule(DatasetFormat format);

// SHA-256 (hex) of what an item's results depend on: its question and its reference.
std::string item_hash(const EvalItem& item);

// pass@k, unbiased: 1 - C(n-c, k) / C(n, k) for n samples of which c are correct.
double pass_at_k(int n, int c, int k);

// Percentile bootstrap of the mean of 0/1 outcomes; seeded, so reproducible.
std::pair<double, double> bootstrap_ci95(const std::vector<int>& outcomes, uint64_t seed, int resamples = 2000);

struct StrategySummary {
  std::string name;
  int questions = 0;
  double accuracy = 0.0;
  std::pair<double, double> ci95;
  double generated_tokens = 0.0;  // per question, mean
  double verifier_tokens = 0.0;   // per question, mean (tokens the verifier model read)
  // Per question, mean: the cost in large-model-equivalent tokens. Each model's tokens
  // (a generator's drawn and scored ones, a verifier model's read ones) x its parameters /
  // EvalReport::equivalent_parameters; rows without per-model costs count generated +
  // verifier tokens.
  double equivalent_tokens = 0.0;
  // Of the tokens the generators drew, the large model's share (0 without one).
  double large_share = 0.0;
  double forward_passes = 0.0;    // per question, mean
  double decoded_tokens = 0.0;    // per question, mean: tokens the generator decoded, re-reads included
  // All questions' decoded tokens / their sample trees' distinct tokens (1 = nothing
  // re-read; 0 where the rows do not record it).
  double reprocess_ratio = 0.0;
  double wall_s = 0.0;            // per question, mean (timing: not reproducible)
  double samples = 0.0;           // per question, mean
  std::map<int, double> coverage;  // k -> mean pass@k over questions
  int errors = 0;                  // questions whose run failed
  double no_answer_share = 0.0;    // samples in which the answer rule found no answer, of all samples
};

// Per strategy family (the name before '@'): accuracy gained per doubling of generated
// tokens between consecutive budgets, with drops counted twice (a budget whose extra
// compute lowers accuracy costs more than a gain earns). Families with one budget get 0.
std::map<std::string, double> scaling_efficiency(const std::vector<StrategySummary>& summaries);

// Indices of the points on the (cost, accuracy) Pareto frontier: no other point is at
// most as costly and strictly more accurate, or cheaper and at least as accurate.
std::vector<size_t> pareto_frontier(const std::vector<std::pair<double, double>>& cost_accuracy);

// One run of a strategy on an item: a line of traces.jsonl (its JSON form is in
// ponder/result_json.h).
struct TraceRow {
  std::string id;                     // the item's id
  std::string item_hash;              // item_hash(item): a resumed run checks it
  std::string reference;              // the reference answer's text
  bool correct = false;               // result.answer is equivalent to the reference
  std::vector<bool> samples_correct;  // the same for each of result.samples, in order
  StrategyResult result;
};
TraceRow make_trace_row(const EvalItem& item, StrategyResult result);

// One token budget for the whole data set (`ponder eval --batch-tokens`), spent where
// the estimated marginal gain is highest: every question gets a first wave; then, round
// by round, the questions whose next sample promises the most per token get one more,
// until the budget is spent. The row is named batch@MAX (docs/adaptive.md).
struct BatchBudgetOptions {
  // Equivalent tokens per question on average: the total is this x the questions.
  // 0 = no batch row. The first wave is spent even when it alone exceeds the total.
  double tokens_per_question = 0.0;
  int max_samples = 16;       // per question; [1, 1024]
  int first_wave = 1;         // samples every question gets first; [1, max_samples]
  int wave = 1;               // samples per grant; [1, max_samples]
  double round_share = 0.25;  // questions granted a wave per round, as a share of all; (0, 1]
  // Throws std::invalid_argument naming the field and its allowed range.
  void validate() const;
};

struct EvalOptions {
  std::vector<std::string> strategies;  // specs, e.g. "vote@16"
  StrategyOptions strategy_options;     // answers.rule automatic: every rule, the format's own first
  std::string out_dir;
  int limit = 0;             // first N items only; 0 = all
  uint64_t seed = 0;         // sampling seed (sample i of a question uses seed + i)
  bool stop_on_bad_data = false;  // else bad rows are reported and skipped
  int max_in_flight = 0;     // questions in flight; 0 = automatic
  bool trace_tokens = false;  // trace rows keep every sample's tokens and logprobs (for replay)
  bool reuse_prefixes = true;  // off: every step re-reads its prefix (RuntimeOptions::reuse_prefixes)
  ThinkingMode thinking = ThinkingMode::automatic;  // RuntimeOptions::thinking
  BatchBudgetOptions batch;  // tokens_per_question > 0: a batch@MAX row beside the strategies
  // Called on run_eval's thread after each finished run (item x strategy), with the runs
  // done so far and those to do in this call (resumed runs not counted); may be empty.
  std::function<void(size_t done, size_t total)> on_progress;
  // The verifier for strategies that need one (prm-vote, ...), at most one of: a PRM on
  // its own engine, an external command, self-evaluation by the generator's model.
  Engine* verifier_engine = nullptr;
  const ProcessRewardModel* verifier = nullptr;
  const CommandVerifier* command_verifier = nullptr;
  const SelfEvaluator* self_evaluator = nullptr;
  // The large model for strategies that need one (cascade, ead): the engine's model is
  // then the small one.
  Engine* large_engine = nullptr;
  // More engines of the generator's model that questions are spread over, decoding side
  // by side (Runtime::add_generator_replica; automatic_replicas says when they pay).
  std::vector<Engine*> generator_replicas;
  // Samples drawn by remote servers (RuntimeOptions::remote); the engine's model then only
  // formats and tokenizes. Its endpoints are recorded in run.json.
  std::shared_ptr<RemoteBackend> remote;
};

struct GroupSummary {
  std::string value;  // the group's field value; "" for items without one
  int items = 0;      // evaluated items in the group
  std::vector<StrategySummary> strategies;
};

struct EvalReport {
  std::vector<StrategySummary> strategies;
  std::string group_by;             // Dataset::group_by
  std::vector<GroupSummary> groups;  // per value of group_by, numbers in numeric order
  std::map<std::string, double> scaling_efficiency;
  // The model equivalent tokens are counted in: the largest generator (the large model's
  // or the generator's), and its parameters.
  std::string equivalent_model;
  int64_t equivalent_parameters = 0;
  int resumed = 0;  // items found done in out_dir and not rerun
  int ran = 0;
  int failed = 0;   // runs (item x strategy) that failed, all strategies together
  std::vector<std::string> warnings;  // for the user: e.g. most samples gave no answer
};

// The engine `ponder eval` runs on: `max_sequences` slots, each with the model's training
// context up to 1024 tokens, and a batch that holds a token of every slot.
EngineOptions eval_engine_options(const Model& model, int max_sequences, int threads, KvCacheTypes kv_cache = {});

// Runs every strategy on every item, appending to out_dir/traces.jsonl as results come
// (an interrupted run resumes from it), then writes summary.json and summary.md.
// out_dir/run.json records what the rows depend on (the data's and the model's content
// hashes, every setting); a run into a directory written with anything different is
// refused, and so is a second run while one holds out_dir/.lock. Throws
// std::runtime_error for unusable input, a refused directory, or a file it could not
// write (the message names the file).
EvalReport run_eval(Engine& engine, const Dataset& data, const EvalOptions& options);

}  // namespace ponder
