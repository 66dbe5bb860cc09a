#include "cli/options.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>

#include "cli/commands.h"
#include "ponder/engine.h"
#include "ponder/engine_sizing.h"
#include "ponder/presets.h"

namespace ponder::cli {

namespace {

std::string format_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

// "must be an integer in [0, 8] (0 = all), not '100000'"
std::string refusal(const std::string& kind, const std::string& range, const std::string& note,
                    const std::string& value) {
  return "must be " + kind + " in " + range + (note.empty() ? "" : " (" + note + ")") + ", not '" + value +
         "'";
}

// std::from_chars over the whole string: no leading space or '+', no trailing text.
template <typename T>
bool parse_all(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

CLI::Validator integer_in(int64_t lo, int64_t hi, const std::string& note) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range, note](std::string& text) -> std::string {
        int64_t value = 0;
        if (!parse_all(text, value) || value < lo || value > hi)
          return refusal("an integer", range, note, text);
        return "";
      },
      "in " + range);
}

CLI::Validator number_in(double lo, double hi, bool lo_open, bool hi_open, const std::string& note) {
  const std::string range =
      std::string(lo_open ? "(" : "[") + format_number(lo) + ", " + format_number(hi) + (hi_open ? ")" : "]");
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        const bool ok = parse_all(text, value) && std::isfinite(value) &&
                        (lo_open ? value > lo : value >= lo) && (hi_open ? value < hi : value <= hi);
        return ok ? "" : refusal("a number", range, note, text);
      },
      "in " + range);
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        return parse_all(text, value) ? "" : refusal("an integer", "[0, 18446744073709551615]", "", text);
      },
      "in [0, 2^64-1]");
}

void add_sampling_options(CLI::App* cmd, SamplingParams& sampling, StopParams& stop) {
  cmd->add_option("--seed", sampling.seed, "Seed of sample 0 (sample i uses seed + i)")
      ->check(seed_value())
      ->capture_default_str();
  cmd->add_option("--temp", sampling.temperature, "Sampling temperature (0 = greedy)")
      ->check(number_in(0, 100, false, false, "0 = greedy"))
      ->capture_default_str();
  cmd->add_option("--top-p", sampling.top_p, "Nucleus sampling mass (1 = off)")
      ->check(number_in(0, 1, true, false, "1 = off"))
      ->capture_default_str();
  cmd->add_option("--top-k", sampling.top_k, "Keep the k most likely tokens (0 = off)")
      ->check(integer_in(0, 1 << 20, "0 = off"))
      ->capture_default_str();
  cmd->add_option("--min-p", sampling.min_p,
                  "Drop tokens below min-p x the top token's probability (0 = off)")
      ->check(number_in(0, 1, false, true, "0 = off"))
      ->capture_default_str();
  cmd->add_option("--max-tokens", stop.max_tokens, "Generated tokens per sample at most")
      ->check(integer_in(1, kMaxTokensOption, "and within the model's context"))
      ->capture_default_str();
}

ModelOptions EngineArgs::model_options() const {
  ModelOptions o;
  o.gpu_layers = gpu_layers;
  return o;
}

void EngineArgs::note_gpu_layers() const {
  if (gpu_layers != 0 && !gpu_offload_supported()) {
    std::fprintf(stderr,
                 "ponder: --n-gpu-layers %d: this llama.cpp has no GPU backend; every layer runs on the CPU\n",
                 gpu_layers);
  }
}

void add_thinking_options(CLI::App* cmd, ThinkingArgs& args) {
  cmd->add_option("--thinking", args.mode,
                  "Thinking block of the model's chat template: on (think first), off (answer at once), auto (the "
                  "model decides)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--thinking-budget", args.budget,
                  "Tokens the model may think before its thinking block is closed for it (-1 = no budget)")
      ->check(integer_in(-1, kMaxTokensOption, "-1 = no budget"))
      ->capture_default_str();
}

ThinkingMode resolve_thinking(const ThinkingArgs& args, const Model& model, StopParams& stop) {
  const ThinkingMode mode = parse_thinking_mode(args.mode);
  if (mode == ThinkingMode::automatic && args.budget < 0) return mode;
  if (mode == ThinkingMode::off && args.budget >= 0) {
    throw UsageError("--thinking-budget: with --thinking off there is no thinking to budget");
  }
  try {
    const ChatTemplate chat(model);
    if (!chat.supports_thinking()) {
      throw UsageError(std::string(args.budget >= 0 ? "--thinking-budget" : "--thinking") + ": the chat template of " +
                       model.path() + " has no thinking block");
    }
    if (args.budget >= 0) stop.thinking = chat.thinking_budget(args.budget);
  } catch (const ModelError& e) {
    throw UsageError(std::string(args.budget >= 0 ? "--thinking-budget" : "--thinking") + ": " + e.what());
  }
  return mode;
}

void add_engine_options(CLI::App* cmd, EngineArgs& args, bool with_max_sequences) {
  cmd->add_option("-t,--threads", args.threads, "CPU threads (0 = all)")
      ->check(integer_in(0, max_engine_threads(), "0 = all; at most 4 per hardware thread"));
  cmd->add_option("--n-gpu-layers", args.gpu_layers,
                  "Layers to put on a GPU (-1 = all; a build without a GPU backend keeps them on the CPU)")
      ->check(integer_in(-1, 1 << 20, "-1 = all"))
      ->capture_default_str();
  const std::string types = kv_cache_type_names();
  for (const auto& [name, what, field] :
       {std::tuple{"--cache-type-k", "keys", &args.kv_cache.k}, std::tuple{"--cache-type-v", "values", &args.kv_cache.v}}) {
    const std::string option = name;
    cmd->add_option_function<std::string>(
        option,
        [option, types, field](const std::string& type) {
          try {
            *field = parse_kv_cache_type(type);
          } catch (const std::invalid_argument&) {
            throw CLI::ValidationError(option, "must be one of " + types + ", not '" + type + "'");
          }
        },
        std::string("KV cache type of the ") + what + ": " + types +
            " (default: f16; a quantized V cache turns on flash attention)");
  }
  if (with_max_sequences) {
    cmd->add_option("--max-sequences", args.max_sequences, "Engine sequence slots")
        ->check(integer_in(1, max_engine_sequences()))
        ->capture_default_str();
  }
}

void add_replicas_option(CLI::App* cmd, EngineArgs& args) {
  cmd->add_option("--replicas", args.replicas,
                  "Generator engines decoding side by side, sharing the threads, each with --max-sequences "
                  "slots (0 = automatic: one per thread, at most 8, for a model of at most 256 MiB on the CPU, else 1)")
      ->check(integer_in(0, 64, "0 = automatic"))
      ->capture_default_str();
}

std::vector<std::unique_ptr<Engine>> make_generator_engines(std::shared_ptr<const Model> model,
                                                            const EngineOptions& options, const EngineArgs& args,
                                                            bool remote) {
  if (remote && args.replicas > 1) {
    throw UsageError("--replicas " + std::to_string(args.replicas) +
                     ": with --backend the servers draw the samples; the local engine only tokenizes");
  }
  // On a GPU the batch is the parallelism: one engine.
  const int replicas = remote                ? 1
                       : args.replicas > 0   ? args.replicas
                       : args.gpu_layers != 0 ? 1
                                             : automatic_replicas(*model, options);
  std::vector<std::unique_ptr<Engine>> engines;
  for (const EngineOptions& o : replica_options(options, replicas)) engines.push_back(std::make_unique<Engine>(model, o));
  return engines;
}

void add_speculative_options(CLI::App* cmd, SpeculativeArgs& args) {
  cmd->add_option("--speculative", args.method,
                  "Speculative decoding of every sample, lossless: draft (a small model, --draft), lookup "
                  "(n-grams of the prompt and the text so far), lookahead (a trie of the question's n-grams) "
                  "or off (default: draft with --draft, else off)")
      ->check(CLI::IsMember({"draft", "lookup", "lookahead", "off"}));
  cmd->add_option("--draft", args.draft_model, "Draft model for --speculative draft (the target's vocabulary)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--draft-max", args.max_draft, "Draft tokens per sample and step at most (adapted below it)")
      ->check(integer_in(1, 32))
      ->capture_default_str();
  cmd->add_option("--draft-branches", args.branches,
                  "--speculative lookahead: branches of a draft tree verified in one decode (1 = a single path; "
                  "trees need the unified KV layout, which the engine then uses)")
      ->check(integer_in(1, 8))
      ->capture_default_str();
}

SpeculativeOptions speculative_options(const SpeculativeArgs& args, const EngineArgs& engine) {
  SpeculativeOptions o;
  const std::string method = args.method.empty() ? (args.draft_model.empty() ? "off" : "draft") : args.method;
  o.method = parse_speculative_method(method);
  o.max_draft = args.max_draft;
  o.lookahead_branches = args.branches;
  if (o.method == SpeculativeMethod::draft && args.draft_model.empty()) {
    throw UsageError("--speculative draft needs a draft model (--draft MODEL, e.g. models/toy-reasoner-s.gguf)");
  }
  if (o.method != SpeculativeMethod::draft && !args.draft_model.empty()) {
    throw UsageError("--draft is for --speculative draft, not --speculative " + method);
  }
  if (o.method == SpeculativeMethod::draft) o.draft_model = Model::load(args.draft_model, engine.model_options());
  o.validate();
  return o;
}

void add_backend_options(CLI::App* cmd, BackendArgs& args) {
  cmd->add_option_function<std::vector<std::string>>(
         "--backend",
         [&args](const std::vector<std::string>& specs) {
           for (const auto& spec : specs) {
             try {
               args.options.endpoints.push_back(parse_remote_endpoint(spec));
             } catch (const std::invalid_argument& e) {
               throw CLI::ValidationError("--backend", e.what());
             }
           }
         },
         "Draw samples on this OpenAI-compatible server instead of the local engine: "
         "URL[,api=llama|openai|ponder][,concurrency=N][,model=NAME] (api: llama = llama-server, "
         "openai = vLLM/SGLang, ponder = ponder serve; default llama, concurrency 4). Repeat for several; "
         "-m names the model they serve (its vocabulary and template)")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd->add_option("--backend-timeout", args.options.timeout_s,
                  "Seconds without a byte from a backend before it counts as failed (the sample goes elsewhere)")
      ->check(number_in(0, 1e6, true))
      ->capture_default_str();
  cmd->add_option("--backend-cooldown", args.options.cooldown_s,
                  "Seconds a failed backend gets no new samples")
      ->check(number_in(0, 1e6))
      ->capture_default_str();
}

std::shared_ptr<RemoteBackend> BackendArgs::make(std::shared_ptr<const Model> model) const {
  if (!enabled()) return nullptr;
  auto backend = std::make_shared<RemoteBackend>(options, std::move(model));
  backend->set_notice([](const std::string& line) { std::fprintf(stderr, "backend: %s\n", line.c_str()); });
  return backend;
}

void print_backend_stats(const RemoteBackend& backend) {
  for (const auto& s : backend.stats()) {
    std::fprintf(stderr, "backend %s: %lld samples, %lld completed, %lld failed, %lld retried elsewhere, %lld tokens\n",
                 s.url.c_str(), (long long)s.requests, (long long)s.completed, (long long)s.failures,
                 (long long)s.retried, (long long)s.tokens);
    if (s.timed > 0) {
      std::fprintf(stderr, "backend %s: %.2f ms per sample beyond the server's own time (%lld samples timed)\n",
                   s.url.c_str(), (s.request_ms - s.server_ms) / double(s.timed), (long long)s.timed);
    }
  }
}

void add_adaptive_options(CLI::App* cmd, AdaptiveVoteOptions& options) {
  cmd->add_option("--threshold", options.threshold, "adaptive-vote: stop at this confidence")
      ->check(number_in(0.5, 1, true, true))
      ->capture_default_str();
  cmd->add_flag(
      "--dirichlet", [&options](int64_t) { options.criterion = AdaptiveVoteOptions::Criterion::dirichlet; },
      "adaptive-vote: the Dirichlet criterion instead of Beta");
  cmd->add_option("--wave", options.wave, "adaptive-vote: samples in flight at a time")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--esc-window", options.esc_window, "esc: samples per window")
      ->check(integer_in(2, 1024))
      ->capture_default_str();
}

std::string unescaped(const std::string& option, const std::string& text) {
  std::string d;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      d += text[i];
      continue;
    }
    const char c = text[++i];
    if (c == 'n') d += '\n';
    else if (c == 't') d += '\t';
    else if (c == '\\') d += '\\';
    else throw CLI::ValidationError(option, "unknown escape \\" + std::string(1, c) + " (\\n, \\t, \\\\)");
  }
  return d;
}

void add_search_options(CLI::App* cmd, SearchOptions& o) {
  cmd->add_option_function<std::string>(
      "--step-delimiter",
      [&o](const std::string& text) {
        const std::string d = unescaped("--step-delimiter", text);
        if (d.empty()) throw CLI::ValidationError("--step-delimiter", "must not be empty");
        o.step_delimiter = d;
      },
      "Searches: where a step ends, e.g. '\\n\\n' (default: the verifier's)");
  cmd->add_option("--max-steps", o.max_steps, "Searches: steps per solution at most")
      ->check(integer_in(1, 4096))
      ->capture_default_str();
  cmd->add_option("--beam-width", o.beam_width, "beam, dvts: children of each kept node (M)")
      ->check(integer_in(2, 1024))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--step-aggregation", [&o](const std::string& name) { o.aggregation = parse_step_aggregation(name); },
      "beam, dvts: how a partial solution's step scores rank it: last, min, product (default: last)");
  cmd->add_option("--lookahead", o.lookahead, "dvts: greedy steps past each candidate, for its score")
      ->check(integer_in(0, 64))
      ->capture_default_str();
  cmd->add_option("--pf-temperature", o.pf_temperature, "pf: particle weights softmax(logit(score) / T)")
      ->check(number_in(0, 1e6, true))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--resampling",
      [&o](const std::string& name) {
        if (name == "multinomial") o.resampling = SearchOptions::Resampling::multinomial;
        else if (name == "systematic") o.resampling = SearchOptions::Resampling::systematic;
        else throw CLI::ValidationError("--resampling", "'" + name + "' is not multinomial or systematic");
      },
      "pf: multinomial or systematic (default: multinomial)");
  cmd->add_flag("--keep-finished", o.keep_finished, "pf, epf: finished particles leave the pool instead of being resampled");
  cmd->add_option("--rollback-threshold", o.rollback_threshold, "rollback: a step scoring below is tried again")
      ->check(number_in(0, 1, true, true))
      ->capture_default_str();
  cmd->add_option("--rollback-tries", o.rollback_tries, "rollback: tries per step, the best kept")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--astar-expansions", o.astar_expansions, "astar: next steps sampled from each state taken")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--astar-step-cost", o.astar_step_cost, "astar: subtracted per step from a state's log score")
      ->check(number_in(0, 1e6))
      ->capture_default_str();
}

void add_deepconf_options(CLI::App* cmd, DeepConfOptions& options) {
  cmd->add_option("--deepconf-window", options.window, "deepconf: tokens per sliding window of group confidence")
      ->check(integer_in(1, kMaxTokensOption))
      ->capture_default_str();
  cmd->add_option("--deepconf-top-k", options.top_k, "deepconf: candidates per token confidence")
      ->check(integer_in(1, 20))
      ->capture_default_str();
  cmd->add_option("--deepconf-percentile", options.percentile,
                  "deepconf: threshold = this percentile of the warm-up's lowest group confidences")
      ->check(number_in(0, 100, false, false, "90 = paper, 10 = the authors' packaged code"))
      ->capture_default_str();
  cmd->add_option("--deepconf-warmup", options.warmup, "deepconf: warm-up traces (0 = max(2, N/4))")
      ->check(integer_in(0, 1024, "0 = max(2, N/4); at most N"))
      ->capture_default_str();
  cmd->add_option("--deepconf-wave", options.wave, "deepconf: traces in flight after the warm-up")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--deepconf-consensus", options.consensus,
                  "deepconf: stop at this confidence-weighted share of the leading answer")
      ->check(number_in(0.5, 1, true, false))
      ->capture_default_str();
  cmd->add_option("--deepconf-min-votes", options.min_votes, "deepconf: votes needed before the consensus stops")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--deepconf-keep", options.keep, "deepconf-offline: share of traces kept, most confident first")
      ->check(number_in(0, 1, true, false))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--deepconf-measure",
      [&options](const std::string& name) {
        if (name == "lowest") {
          options.measure = DeepConfOptions::Measure::lowest;
        } else if (name == "bottom") {
          options.measure = DeepConfOptions::Measure::bottom;
        } else if (name == "tail") {
          options.measure = DeepConfOptions::Measure::tail;
        } else if (name == "mean") {
          options.measure = DeepConfOptions::Measure::mean;
        } else {
          throw CLI::ValidationError("--deepconf-measure", "must be lowest, bottom, tail or mean, not '" + name + "'");
        }
      },
      "deepconf-offline: trace confidence: lowest (group), bottom (10% of groups), tail, mean (default: lowest)");
}

void add_controller_options(CLI::App* cmd, ControllerOptions& o) {
  // Defined first, so CLI11 applies the file before the flags that override its values.
  cmd->add_option_function<std::string>(
      "--presets",
      [&o](const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw CLI::ValidationError("--presets", "cannot read " + path);
        std::ostringstream text;
        text << in.rdbuf();
        if (in.bad()) throw CLI::ValidationError("--presets", "cannot read " + path);
        try {
          o = parse_presets(text.str(), o);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError("--presets", path + ": " + e.what());
        }
      },
      "adaptive: a JSON file of its settings and presets (see docs/adaptive.md)");
  cmd->add_option("--first-wave", o.first_wave, "adaptive: samples drawn before the difficulty is estimated")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--easy-score", o.easy_score,
                  "adaptive: an agreeing first wave scoring at least this each is easy (verifier score, else "
                  "token probability)")
      ->check(number_in(0, 1))
      ->capture_default_str();
  cmd->add_option("--hard-below", o.hard_below, "adaptive: an estimated P(right) below this is hard")
      ->check(number_in(0, 1))
      ->capture_default_str();
  cmd->add_option("--vote-wave", o.wave, "adaptive: samples its vote launches at a time")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--consensus", o.consensus, "adaptive: the vote stops at this weighted share of the leader")
      ->check(number_in(0.5, 1, true, false))
      ->capture_default_str();
  cmd->add_option("--min-votes", o.min_votes, "adaptive: votes the leader needs before the vote stops")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--weight-power", o.weight_power, "adaptive: a vote weighs score^power")
      ->check(number_in(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--question-tokens", o.max_tokens,
                  "adaptive: stop drawing once a question has spent this many tokens, generated plus verifier "
                  "(0 = no limit)")
      ->check(integer_in(0, 1 << 30, "0 = no limit"))
      ->capture_default_str();
  cmd->add_option("--question-seconds", o.max_seconds,
                  "adaptive: stop drawing once a question has run this long (0 = no limit)")
      ->check(number_in(0, 86400))
      ->capture_default_str();
}

void add_cascade_options(CLI::App* cmd, CascadeOptions& cascade, EadOptions& ead) {
  cmd->add_option("--cascade-samples", cascade.small_samples, "cascade: samples the small model draws first")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--cascade-agreement", cascade.agreement,
                  "cascade: keep the small model's answer when this share of its samples gave it (1 = all)")
      ->check(number_in(0, 1, true, false))
      ->capture_default_str();
  cmd->add_option_function<std::string>(
      "--cascade-escalation",
      [&cascade](const std::string& name) {
        if (name.empty()) throw CLI::ValidationError("--cascade-escalation", "must name a strategy");
        cascade.escalation = name;
      },
      "cascade: the strategy the large model runs, without '@N' (N is cascade's) (default: " + cascade.escalation +
          ")");
  cmd->add_option("--ead-threshold", ead.threshold,
                  "ead: the large model writes while the rolling mean token entropy (nats) is above this")
      ->check(number_in(0, 1e6, true))
      ->capture_default_str();
  cmd->add_option("--ead-window", ead.window, "ead: tokens in the rolling mean of entropy")
      ->check(integer_in(1, kMaxTokensOption))
      ->capture_default_str();
  cmd->add_option("--ead-dwell", ead.dwell, "ead: tokens at least between two switches of model")
      ->check(integer_in(1, kMaxTokensOption))
      ->capture_default_str();
}

void add_answer_options(CLI::App* cmd, AnswerOptions& answers, const std::string& default_help) {
  cmd->add_option_function<std::string>(
      "--answer", [&answers](const std::string& name) { answers.rule = parse_answer_rule(name); },
      "Answer rule: auto, hash, boxed, answer-is, last-number, option, regex (default: " + default_help +
          ")");
  cmd->add_option("--answer-regex", answers.pattern, "Pattern for --answer regex (ECMAScript; first group)");
}

std::string strategy_list_help() {
  std::string text = "Strategies:\n";
  for (const auto& s : strategy_help()) {
    char line[256];
    std::snprintf(line, sizeof(line), "  %-22s %s\n", s.pattern.c_str(), s.about.c_str());
    text += line;
  }
  return text;
}

}  // namespace ponder::cli
