#pragma once
// The option groups the commands share, declared once: sampling, engine, adaptive
// strategies, answers. Every numeric option is checked while parsing, with its allowed
// range in the message; a value outside it (or NaN, infinity, a non-number, a wrapped
// negative) is a usage error before anything runs.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ponder/answers.h"
#include "ponder/engine.h"
#include "ponder/model.h"
#include "ponder/remote.h"
#include "ponder/chat_template.h"
#include "ponder/sampling.h"
#include "ponder/strategy.h"

namespace ponder::cli {

// An integer in [lo, hi], written in decimal (no wrap-around, no "1e9", no empty
// string). `note` says what special values mean, e.g. "0 = all".
CLI::Validator integer_in(int64_t lo, int64_t hi, const std::string& note = "");
// A finite number in the interval (brackets as written: "[0, 100]", "(0, 1]").
CLI::Validator number_in(double lo, double hi, bool lo_open = false, bool hi_open = false,
                         const std::string& note = "");

// A seed: an unsigned 64-bit integer in decimal ("-1" would wrap to 2^64 - 1, and an
// overlong one saturate, if left to the parser).
CLI::Validator seed_value();

// --seed, --temp, --top-p, --top-k, --min-p, --max-tokens.
void add_sampling_options(CLI::App* cmd, SamplingParams& sampling, StopParams& stop);

// The most tokens --max-tokens accepts (the model's context may allow fewer).
inline constexpr int kMaxTokensOption = 1 << 20;

struct EngineArgs {
  int threads = 0;         // 0 = all hardware threads
  int max_sequences = 64;  // engine sequence slots (commands that take --max-sequences)
  int replicas = 0;        // generator engines (commands that take --replicas); 0 = automatic
  int gpu_layers = 0;      // --n-gpu-layers; -1 = all
  KvCacheTypes kv_cache;   // --cache-type-k, --cache-type-v

  ModelOptions model_options() const;
  // Says on stderr that --n-gpu-layers has no effect when this llama.cpp has no GPU backend.
  void note_gpu_layers() const;
};
// -t/--threads, --n-gpu-layers, --cache-type-k, --cache-type-v, and --max-sequences
// when `with_max_sequences`.
void add_engine_options(CLI::App* cmd, EngineArgs& args, bool with_max_sequences);
// --replicas: commands that run many questions at once through make_generator_engines.
void add_replicas_option(CLI::App* cmd, EngineArgs& args);
// The generator's engines for many questions at once: --replicas engines (0: as
// automatic_replicas decides for the model and threads) sharing `options`' threads; the
// first is the generator, the others its replicas. `remote`: one engine (it only
// tokenizes).
std::vector<std::unique_ptr<Engine>> make_generator_engines(std::shared_ptr<const Model> model,
                                                            const EngineOptions& options, const EngineArgs& args,
                                                            bool remote = false);

// --speculative draft|lookup|lookahead|off, --draft MODEL, --draft-max N: speculative
// decoding of every generated sequence (ponder/speculative.h).
struct SpeculativeArgs {
  std::string method;  // empty: draft with --draft, else off
  std::string draft_model;
  int max_draft = SpeculativeOptions{}.max_draft;
  int branches = SpeculativeOptions{}.lookahead_branches;
};
void add_speculative_options(CLI::App* cmd, SpeculativeArgs& args);
// The engine's speculative options; loads the draft model (with the engine's model
// options). Throws UsageError for --speculative draft without --draft, or --draft with
// another method.
SpeculativeOptions speculative_options(const SpeculativeArgs& args, const EngineArgs& engine);
// --backend URL[,api=...][,concurrency=N][,model=NAME] (repeatable), --backend-timeout,
// --backend-cooldown: samples drawn by remote OpenAI-compatible servers (docs/remote.md).
struct BackendArgs {
  RemoteOptions options;  // endpoints empty: the local engine
  bool enabled() const { return !options.endpoints.empty(); }
  // The backend for `model`'s vocabulary, reporting failures and retries on stderr; none
  // without --backend.
  std::shared_ptr<RemoteBackend> make(std::shared_ptr<const Model> model) const;
};
void add_backend_options(CLI::App* cmd, BackendArgs& args);
// One line per endpoint on stderr: samples, failures, retries, tokens, the HTTP overhead.
void print_backend_stats(const RemoteBackend& backend);

// --threshold, --dirichlet, --wave, --esc-window.
void add_adaptive_options(CLI::App* cmd, AdaptiveVoteOptions& options);

// An option's text as the shell passes it: "\n" stands for a newline, "\t" for a tab,
// "\\" for a backslash; another escape is a CLI::ValidationError naming `option`.
std::string unescaped(const std::string& option, const std::string& text);

// --step-delimiter, --max-steps, --beam-width, --step-aggregation, --lookahead,
// --pf-temperature, --resampling, --keep-finished, --rollback-threshold, --rollback-tries,
// --astar-expansions, --astar-step-cost.
void add_search_options(CLI::App* cmd, SearchOptions& options);

// --deepconf-window, -top-k, -percentile, -warmup, -wave, -consensus, -min-votes, -keep,
// -measure: deepconf@N and deepconf-offline@N.
void add_deepconf_options(CLI::App* cmd, DeepConfOptions& options);

// --presets FILE, then --first-wave, --easy-score, --hard-below, --vote-wave, --consensus,
// --min-votes, --weight-power, --question-tokens, --question-seconds (which override the
// file's values): the adaptive controller.
void add_controller_options(CLI::App* cmd, ControllerOptions& options);
// --cascade-samples, --cascade-agreement, --cascade-escalation: cascade@N;
// --ead-threshold, --ead-window, --ead-dwell: ead@N.
void add_cascade_options(CLI::App* cmd, CascadeOptions& cascade, EadOptions& ead);

// --answer (a rule name, parsed as it is read) and --answer-regex. An absent --answer
// leaves `answers.rule` as the command set it.
void add_answer_options(CLI::App* cmd, AnswerOptions& answers, const std::string& default_help);

// --thinking auto|on|off and --thinking-budget N: thinking-mode control for models whose
// chat template has a thinking block (ponder/chat_template.h).
struct ThinkingArgs {
  std::string mode = "auto";
  int budget = -1;  // thinking tokens at most; -1 = no budget
};
void add_thinking_options(CLI::App* cmd, ThinkingArgs& args);
// The mode for RuntimeOptions::thinking; a budget goes into `stop` with the template's
// tags. Throws UsageError when they ask for thinking control and the model's template has
// no thinking block (or the model has no template), or for a budget with --thinking off.
ThinkingMode resolve_thinking(const ThinkingArgs& args, const Model& model, StopParams& stop);

// -s/--strategy or --strategies help: every registered strategy, one per line.
std::string strategy_list_help();

}  // namespace ponder::cli
