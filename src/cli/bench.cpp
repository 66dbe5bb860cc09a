// `ponder bench`: throughput ratios measured in one run, same model, same threads.
//
//   speedup_vs_sequential             16 sequential 1-sample generations / one 16-sample one
//   ratio_vs_llama_batched_bench      ponder's decode tokens/s at batch 16 (one prompt, 16
//                                     forks) / llama-batched-bench's S_TG at B=16 (-pps)
//   ratio_many_vs_llama_batched_bench 4 prompts x 16 samples (64 in flight) / the better
//                                     of llama-batched-bench's S_TG at B=64 with and
//                                     without -kvu
// Prompts are 32 tokens, each sample 64 new tokens. Every figure is the best of
// --repeats runs; both KV layouts are measured so the automatic choice can be checked.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/bench_speculative.h"
#include "cli/commands.h"
#include "cli/process.h"
#include "ponder/generate.h"
#include "toy/random_models.h"

namespace ponder::cli {

namespace {

constexpr int kPromptTokens = 32;
constexpr int kNewTokens = 64;
constexpr int kSamples = 16;
constexpr int kQuestions = 4;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct BenchArgs {
  std::vector<std::string> models;
  std::string batched_bench = PONDER_LLAMA_BATCHED_BENCH;
  std::string work_dir;
  int threads = 0;
  int repeats = 3;
  bool json = false;
  bool speculative = false;
  std::string draft;
  std::string data = "data/toy/dev.jsonl";
};

std::vector<Token> bench_prompt(const Model& model, int variant) {
  // A fixed 32-token prompt (BOS + 31 characters); variants differ in their first letter.
  std::string text = "Question " + std::string(1, char('A' + variant)) + ": a=61; b=a-35; c=b*4; ";
  std::vector<Token> tokens = model.tokenize(text, true);
  while (tokens.size() < size_t(kPromptTokens)) tokens.push_back(tokens[1 + tokens.size() % 5]);
  tokens.resize(kPromptTokens);
  return tokens;
}

SamplingParams bench_sampling() {
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 1;
  return p;
}

StopParams bench_stop() {
  StopParams s;
  s.max_tokens = kNewTokens;
  s.ignore_eos = true;
  return s;
}

EngineOptions engine_options(int max_sequences, KvLayout layout, int threads) {
  EngineOptions o;
  o.max_sequences = max_sequences;
  o.context_per_sequence = 128;
  o.kv_layout = layout;
  o.threads = threads;
  o.batch_tokens = std::max(512, max_sequences);
  return o;
}

// Decode throughput (generated tokens/s) of `questions` prompts x kSamples forks, timed
// from after the prompts' prefill to the last token, like llama-batched-bench's S_TG.
double ponder_decode_throughput(Engine& engine, int questions) {
  const RequestId request = engine.begin_request();
  std::vector<SeqId> roots;
  for (int q = 0; q < questions; ++q) roots.push_back(engine.add_sequence(request, bench_prompt(engine.model(), q)));
  engine.run_until_done(roots);

  const auto t0 = Clock::now();
  std::vector<SeqId> samples;
  for (SeqId root : roots) {
    const auto forks = engine.fork(root, kSamples);
    engine.free(root);
    for (int i = 0; i < kSamples; ++i) {
      SamplingParams p = bench_sampling();
      p.seed += uint64_t(samples.size());
      engine.generate(forks[size_t(i)], p, bench_stop());
      samples.push_back(forks[size_t(i)]);
    }
  }
  engine.run_until_done(samples);
  const double elapsed = seconds_since(t0);
  for (SeqId s : samples) engine.free(s);
  const Cost cost = engine.end_request(request);
  return double(cost.generated_tokens) / elapsed;
}

struct SequentialFigures {
  double sequential_s = 1e30;
  double batched_s = 1e30;
};

void measure_sequential(Engine& engine, SequentialFigures& f) {
  const std::vector<Token> prompt = bench_prompt(engine.model(), 0);
  auto t0 = Clock::now();
  for (int i = 0; i < kSamples; ++i) {
    SamplingParams p = bench_sampling();
    p.seed += uint64_t(i);
    generate_samples(engine, prompt, 1, p, bench_stop());
  }
  f.sequential_s = std::min(f.sequential_s, seconds_since(t0));
  t0 = Clock::now();
  generate_samples(engine, prompt, kSamples, bench_sampling(), bench_stop());
  f.batched_s = std::min(f.batched_s, seconds_since(t0));
}

// llama-batched-bench's S_TG (tokens/s) at batch `batch`, its context sized for that batch.
double llama_batched_bench_s_tg(const BenchArgs& a, const std::string& model, int batch, bool unified, int threads) {
  std::vector<std::string> argv = {a.batched_bench, "-m", model, "-c", std::to_string(batch * 128),
                                   "-b", "2048", "-ub", "512", "-npp", std::to_string(kPromptTokens),
                                   "-ntg", std::to_string(kNewTokens), "-npl", std::to_string(batch), "-pps",
                                   "-t", std::to_string(threads), "-tb", std::to_string(threads)};
  if (unified) argv.push_back("-kvu");
  argv.insert(argv.end(), {"--output-format", "jsonl"});
  std::string shown;
  for (const auto& arg : argv) shown += (shown.empty() ? "" : " ") + arg;
  // Its log is written by a background thread that sometimes loses the last line at
  // exit, so a run without a result row is retried.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const ProcessResult run = run_process(argv);
    if (run.exit_code != 0) {
      throw std::runtime_error("llama-batched-bench failed (exit " + std::to_string(run.exit_code) + "): " + shown);
    }
    double s_tg = -1.0;
    std::istringstream lines(run.output);
    for (std::string line; std::getline(lines, line);) {
      const auto row = nlohmann::json::parse(line, nullptr, false);
      if (row.is_object() && row.contains("speed_tg") && row["speed_tg"].is_number()) s_tg = row["speed_tg"].get<double>();
    }
    if (s_tg >= 0) return s_tg;
  }
  throw std::runtime_error("llama-batched-bench printed no result in 5 runs: " + shown);
}

nlohmann::json bench_model(const BenchArgs& a, const std::string& path, int threads) {
  auto model = Model::load(path);
  std::map<std::string, double> best;  // tokens/s, best of the repeats
  auto keep_max = [&](const std::string& key, double v) { best[key] = std::max(best[key], v); };

  Engine engine16_split(model, engine_options(kSamples, KvLayout::split, threads));
  Engine engine16_unified(model, engine_options(kSamples, KvLayout::unified, threads));
  Engine engine64_split(model, engine_options(kSamples * kQuestions, KvLayout::split, threads));
  Engine engine64_unified(model, engine_options(kSamples * kQuestions, KvLayout::unified, threads));
  Engine engine16_auto(model, engine_options(kSamples, KvLayout::automatic, threads));
  const KvLayout automatic = engine16_auto.kv_layout();

  ponder_decode_throughput(engine16_split, 1);  // warm-up
  SequentialFigures seq;
  for (int r = 0; r < a.repeats; ++r) {
    measure_sequential(engine16_auto, seq);
    keep_max("ponder_b16_split", ponder_decode_throughput(engine16_split, 1));
    keep_max("ponder_b16_unified", ponder_decode_throughput(engine16_unified, 1));
    keep_max("ponder_many_split", ponder_decode_throughput(engine64_split, kQuestions));
    keep_max("ponder_many_unified", ponder_decode_throughput(engine64_unified, kQuestions));
    for (bool unified : {false, true}) {
      const std::string mode = unified ? "unified" : "split";
      keep_max("llama_b16_" + mode, llama_batched_bench_s_tg(a, path, kSamples, unified, threads));
      keep_max("llama_b64_" + mode, llama_batched_bench_s_tg(a, path, kSamples * kQuestions, unified, threads));
    }
  }
  const std::string layout = kv_layout_name(automatic);
  const double ponder16 = best["ponder_b16_" + layout];
  const double ponder_many = best["ponder_many_" + layout];
  const double llama16 = std::max(best["llama_b16_split"], best["llama_b16_unified"]);
  const double llama64 = std::max(best["llama_b64_split"], best["llama_b64_unified"]);
  return {
      {"model", path},
      {"parameters", model->n_params()},
      {"threads", threads},
      {"automatic_layout", layout},
      {"speedup_vs_sequential", seq.sequential_s / seq.batched_s},
      {"ratio_vs_llama_batched_bench", ponder16 / llama16},
      {"ratio_many_vs_llama_batched_bench", ponder_many / llama64},
      {"seconds", {{"sequential_16x1", seq.sequential_s}, {"batched_1x16", seq.batched_s}}},
      {"decode_tokens_per_s",
       {{"ponder_b16", {{"split", best["ponder_b16_split"]}, {"unified", best["ponder_b16_unified"]}}},
        {"ponder_4x16", {{"split", best["ponder_many_split"]}, {"unified", best["ponder_many_unified"]}}},
        {"llama_batched_bench_b16", {{"split", best["llama_b16_split"]}, {"unified", best["llama_b16_unified"]}}},
        {"llama_batched_bench_b64", {{"split", best["llama_b64_split"]}, {"unified", best["llama_b64_unified"]}}}}},
  };
}

void print_table(const nlohmann::json& r) {
  const auto& t = r["decode_tokens_per_s"];
  std::printf("%s (%lld parameters, %d threads; automatic KV layout: %s)\n", r["model"].get<std::string>().c_str(),
              r["parameters"].get<long long>(), r["threads"].get<int>(), r["automatic_layout"].get<std::string>().c_str());
  std::printf("  decode tokens/s              split    unified\n");
  for (const char* key : {"ponder_b16", "llama_batched_bench_b16", "ponder_4x16", "llama_batched_bench_b64"}) {
    std::printf("  %-24s %9.0f  %9.0f\n", key, t[key]["split"].get<double>(), t[key]["unified"].get<double>());
  }
  std::printf("  16 x 1 sample: %.3f s, 1 x 16 samples: %.3f s\n", r["seconds"]["sequential_16x1"].get<double>(),
              r["seconds"]["batched_1x16"].get<double>());
  std::printf("  speedup_vs_sequential             %.2f\n", r["speedup_vs_sequential"].get<double>());
  std::printf("  ratio_vs_llama_batched_bench      %.2f\n", r["ratio_vs_llama_batched_bench"].get<double>());
  std::printf("  ratio_many_vs_llama_batched_bench %.2f\n", r["ratio_many_vs_llama_batched_bench"].get<double>());
}

void run_bench(BenchArgs a) {
  if (a.repeats < 1) throw UsageError("--repeats: must be >= 1");
  if (access(a.batched_bench.c_str(), X_OK) != 0) {
    throw UsageError("llama-batched-bench not found at " + a.batched_bench + " (--llama-batched-bench PATH)");
  }
  const int threads = a.threads > 0 ? a.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  if (a.models.empty()) {
    namespace fs = std::filesystem;
    const fs::path dir = a.work_dir.empty() ? fs::temp_directory_path() / "ponder-bench" : fs::path(a.work_dir);
    fs::create_directories(dir);
    for (const char* preset : {"bench-5m", "bench-1m"}) {
      const std::string path = (dir / (std::string(preset) + ".gguf")).string();
      toy::write_random_model(path, preset, 1);
      a.models.push_back(path);
    }
  }
  nlohmann::json results = nlohmann::json::array();
  for (const auto& m : a.models) {
    results.push_back(bench_model(a, m, threads));
    if (!a.json) print_table(results.back());
  }
  if (a.json) std::printf("%s\n", nlohmann::json{{"models", results}}.dump(2).c_str());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "Throughput vs. sequential generation and llama-batched-bench");
  cmd->add_option("-m,--model", a->models, "GGUF model(s) (default: random 5M and 1M models)");
  cmd->add_option("--llama-batched-bench", a->batched_bench, "Path of llama-batched-bench");
  cmd->add_option("--work-dir", a->work_dir, "Where the random models are written");
  cmd->add_option("-t,--threads", a->threads, "CPU threads for both engines (0 = all)");
  cmd->add_option("--repeats", a->repeats, "Runs per figure; the best is kept (--speculative: the median of each run's ratio)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("--speculative", a->speculative,
                "Speculative decoding (draft, lookup, lookahead) vs plain decoding at batch 1, 8, 16, greedy "
                "and temperature 0.8 (target -m, default toy-reasoner-l)");
  cmd->add_option("--draft", a->draft, "--speculative: the draft model (default: toy-reasoner-s)")->check(CLI::ExistingFile);
  cmd->add_option("--data", a->data, "--speculative: JSONL questions (the first 16 are used)")->capture_default_str();
  cmd->callback([a] {
    if (!a->speculative) {
      if (!a->draft.empty()) throw UsageError("--draft is for --speculative");
      run_bench(*a);
      return;
    }
    SpeculativeBenchArgs s;
    s.models = a->models;
    s.draft = a->draft;
    s.data = a->data;
    s.threads = a->threads > 0 ? a->threads : default_threads();
    s.repeats = a->repeats;
    s.json = a->json;
    run_speculative_bench(s);
  });
}

}  // namespace ponder::cli
