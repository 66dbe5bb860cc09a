// ponder-bench-eval: greedy + vote@16 over a data set, timed two ways in one run:
//   naive   a plain loop on libllama, one question at a time: greedy alone, then its 16
//           samples in one batch over a shared prompt (prefill once, llama_memory_seq_cp);
//   ponder  the same work through ponder's scheduler, several questions in flight.
// The two paths alternate for --rounds rounds, so a drift in the machine's speed hits
// both; prints the CPU features ggml runs with, each round's wall times and accuracies,
// and the median of the rounds' speed ratios. --ignore-eos makes every sample exactly
// --max-tokens long, for random-weight models whose answers mean nothing.

#include <ggml-cpu.h>
#include <llama.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "ponder/engine_sizing.h"
#include "ponder/eval.h"
#include "ponder/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;
using ponder::Token;

// Process CPU seconds (all threads): on a machine shared with other work, wall time
// shows the share this process got as much as its own cost; CPU time shows the cost.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Wall and CPU time since construction.
struct Stopwatch {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = cpu_seconds();
  double wall() const { return std::chrono::duration<double>(Clock::now() - wall0).count(); }
  double cpu() const { return cpu_seconds() - cpu0; }
};

// What a path asked of llama_decode.
struct DecodeCount {
  int64_t calls = 0;
  int64_t tokens = 0;
};

struct Settings {
  int samples = 16;
  int max_tokens = 256;
  float temperature = 0.8f;
  int threads = 0;
  int sequences = 64;  // ponder's engine slots
  int in_flight = 0;   // ponder's questions in flight (0 = automatic)
  int replicas = 0;    // ponder's generator engines (0 = automatic_replicas, decided once in main)
  bool ignore_eos = false;
  std::string path = "both";  // naive, ponder or both (one path alone: for a profiler)
};

// One timed pass of a path over the data set.
struct PathRun {
  double seconds = 0;
  double cpu_seconds = 0;
  int greedy_right = 0, vote_right = 0;
  DecodeCount decodes;
};

// n samples of one prompt (n = 1 and temperature 0: greedy); returns their texts.
std::vector<std::string> naive_samples(llama_context* ctx, const ponder::Model& model, const std::vector<Token>& prompt,
                                       int n, float temperature, const Settings& s, uint32_t seed, DecodeCount& count) {
  llama_memory_t mem = llama_get_memory(ctx);
  // The cells only: zeroing the whole cache's bytes for every question is a cost no
  // careful loop would pay (302 MB a call on bench-100m).
  llama_memory_clear(mem, false);
  llama_batch batch = llama_batch_init(std::max<int>(int(prompt.size()), n), 0, 1);
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.token[i] = prompt[i];
    batch.pos[i] = int(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = i + 1 == prompt.size();
  }
  batch.n_tokens = int(prompt.size());
  if (llama_decode(ctx, batch) != 0) throw std::runtime_error("decode failed");
  ++count.calls;
  count.tokens += batch.n_tokens;
  for (int s = 1; s < n; ++s) llama_memory_seq_cp(mem, 0, s, -1, -1);

  std::vector<llama_sampler*> samplers;
  for (int s = 0; s < n; ++s) {
    llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (temperature <= 0) {
      llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    } else {
      llama_sampler_chain_add(chain, llama_sampler_init_temp(temperature));
      llama_sampler_chain_add(chain, llama_sampler_init_dist(seed + uint32_t(s)));
    }
    samplers.push_back(chain);
  }
  std::vector<std::vector<Token>> out(static_cast<size_t>(n));
  std::vector<int> logits_row(static_cast<size_t>(n), batch.n_tokens - 1);  // every sample starts from the prompt's logits
  std::vector<bool> live(static_cast<size_t>(n), true);
  int pos = int(prompt.size());
  for (int step = 0; step < s.max_tokens; ++step) {
    batch.n_tokens = 0;
    for (int i = 0; i < n; ++i) {
      if (!live[size_t(i)]) continue;
      const Token t = llama_sampler_sample(samplers[size_t(i)], ctx, logits_row[size_t(i)]);
      if (model.is_end_of_generation(t) && !s.ignore_eos) {
        live[size_t(i)] = false;
        continue;
      }
      out[size_t(i)].push_back(t);
      const int k = batch.n_tokens++;
      batch.token[k] = t;
      batch.pos[k] = pos;
      batch.n_seq_id[k] = 1;
      batch.seq_id[k][0] = i;
      batch.logits[k] = true;
      logits_row[size_t(i)] = k;
    }
    if (batch.n_tokens == 0) break;
    if (llama_decode(ctx, batch) != 0) throw std::runtime_error("decode failed");
    ++count.calls;
    count.tokens += batch.n_tokens;
    ++pos;
  }
  for (auto* s : samplers) llama_sampler_free(s);
  llama_batch_free(batch);
  std::vector<std::string> texts;
  for (const auto& tokens : out) texts.push_back(model.detokenize(tokens));
  return texts;
}

std::string majority(const std::vector<std::string>& texts, const ponder::AnswerOptions& rule) {
  std::map<std::string, int> votes;
  std::string best;
  for (const auto& t : texts) {
    auto a = ponder::extract_answer(t, rule);
    if (a && ++votes[a->key] > votes[best]) best = a->key;
  }
  return best;
}

PathRun run_naive(const std::shared_ptr<const ponder::Model>& model, const ponder::Dataset& data,
                  const ponder::AnswerOptions& rule, const Settings& s, int threads) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = uint32_t(s.samples) * 512;
  cp.n_batch = 512;
  cp.n_seq_max = uint32_t(s.samples);
  cp.n_threads = cp.n_threads_batch = threads;
  cp.kv_unified = true;  // one prompt, many forks: the layout that shares its cells
  llama_context* ctx = llama_init_from_model(model->raw(), cp);
  if (ctx == nullptr) throw std::runtime_error("llama_init_from_model failed");
  // The same kind of thread pool as ponder's engine, so the paths differ only in batching.
  ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
  ggml_threadpool* pool = ggml_threadpool_new(&pool_params);
  if (pool == nullptr) throw std::runtime_error("ggml_threadpool_new failed");
  llama_attach_threadpool(ctx, pool, pool);
  PathRun r;
  const Stopwatch watch;
  for (const auto& item : data.items) {
    const auto prompt = ponder::format_question(*model, item.question);
    const auto g = naive_samples(ctx, *model, prompt, 1, 0.0f, s, 0, r.decodes);
    auto a = ponder::extract_answer(g[0], rule);
    r.greedy_right += a && a->key == item.reference.key;
    r.vote_right +=
        majority(naive_samples(ctx, *model, prompt, s.samples, s.temperature, s, 1, r.decodes), rule) ==
        item.reference.key;
  }
  r.seconds = watch.wall();
  r.cpu_seconds = watch.cpu();
  llama_free(ctx);
  ggml_threadpool_free(pool);
  return r;
}

PathRun run_ponder(const std::shared_ptr<const ponder::Model>& model, const ponder::Dataset& data,
                   const ponder::AnswerOptions& rule, const Settings& s, int threads) {
  std::vector<std::unique_ptr<ponder::Engine>> engines;
  for (const auto& o : ponder::replica_options(ponder::eval_engine_options(*model, s.sequences, threads), s.replicas)) {
    engines.push_back(std::make_unique<ponder::Engine>(model, o));
  }
  ponder::StrategyOptions so;
  so.generation.sampling.temperature = s.temperature;
  so.generation.stop.max_tokens = s.max_tokens;
  so.generation.stop.ignore_eos = s.ignore_eos;
  so.generation.answers = rule;
  std::shared_ptr<const ponder::Strategy> greedy = ponder::make_strategy("greedy", so);
  std::shared_ptr<const ponder::Strategy> vote = ponder::make_strategy("vote@" + std::to_string(s.samples), so);
  std::vector<ponder::Job> jobs;
  for (const auto& item : data.items) {
    jobs.push_back({greedy, item.question, {}, {}});
    jobs.push_back({vote, item.question, {}, {}});
  }
  PathRun r;
  const Stopwatch watch;
  ponder::Runtime runtime(*engines.front(), {.max_in_flight = s.in_flight});
  for (size_t i = 1; i < engines.size(); ++i) runtime.add_generator_replica(*engines[i]);
  const auto results = runtime.run(std::move(jobs));
  r.seconds = watch.wall();
  r.cpu_seconds = watch.cpu();
  for (size_t i = 0; i < results.size(); ++i) {
    const bool ok = results[i].answer && results[i].answer->key == data.items[i / 2].reference.key;
    (i % 2 == 0 ? r.greedy_right : r.vote_right) += ok;
  }
  for (const auto& engine : engines) {
    r.decodes.calls += engine->stats().steps;
    r.decodes.tokens += engine->stats().decoded_tokens;
  }
  return r;
}

void report(const char* name, const PathRun& r, double n) {
  std::printf("  %s %.2f s, cpu %.2f s (greedy %.1f%%, vote %.1f%%), %lld decode calls of %.1f tokens, %.0f tokens/s\n",
              name, r.seconds, r.cpu_seconds, 100 * r.greedy_right / n, 100 * r.vote_right / n, (long long)r.decodes.calls,
              double(r.decodes.tokens) / double(std::max<int64_t>(1, r.decodes.calls)),
              double(r.decodes.tokens) / r.seconds);
}

// Other work on the machine changes wall times: say how much there was.
void print_load(const char* when) {
  double load[3];
  if (getloadavg(load, 3) == 3) {
    std::printf("load average %s: %.2f %.2f %.2f (%u hardware threads)\n", when, load[0], load[1], load[2],
                std::thread::hardware_concurrency());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"greedy + vote@16 over a data set: a naive libllama loop vs ponder"};
  std::string model_path = ponder::default_model_path();
  std::string data_path;
  int limit = 200;
  int rounds = 3;
  Settings s;
  app.add_option("-m,--model", model_path, "GGUF model");
  app.add_option("--data", data_path, "JSONL data set")->required();
  app.add_option("--limit", limit, "Questions")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "Rounds of naive then ponder (the ratio is their median)")
      ->check(CLI::Range(1, 100));
  app.add_option("--temp", s.temperature, "Sampling temperature");
  app.add_option("--max-tokens", s.max_tokens, "Tokens per sample")->check(CLI::PositiveNumber);
  app.add_flag("--ignore-eos", s.ignore_eos, "Generate exactly --max-tokens per sample (random-weight models)");
  app.add_option("-t,--threads", s.threads, "CPU threads (0 = all)");
  app.add_option("--sequences", s.sequences, "ponder: engine sequence slots (64)");
  app.add_option("--in-flight", s.in_flight, "ponder: questions in flight (0 = half the slots)");
  app.add_option("--replicas", s.replicas, "ponder: generator engines sharing the threads (0 = automatic)")
      ->check(CLI::Range(0, 64));
  app.add_option("--path", s.path, "Run both paths, or one alone (for a profiler; no ratio)")
      ->check(CLI::IsMember({"both", "naive", "ponder"}));
  CLI11_PARSE(app, argc, argv);

  try {
    ponder::keep_freed_memory_in_heap();  // before either path, so both run with it
    const int threads = s.threads > 0 ? s.threads : ponder::default_threads();
    auto model = ponder::Model::load(model_path);
    ponder::Dataset data = ponder::load_dataset(data_path);
    if (int(data.items.size()) > limit) data.items.resize(size_t(limit));
    const ponder::AnswerOptions rule{ponder::default_answer_rule(data.format), ""};
    const double n = double(data.items.size());
    std::printf("CPU features: %s\n", ponder::cpu_features().c_str());
    std::printf("%zu questions, greedy + vote@%d, T %.2f, %d threads, %d rounds%s\n", data.items.size(), s.samples,
                s.temperature, threads, rounds, s.ignore_eos ? ", EOS ignored" : "");
    const int asked = s.replicas;
    if (s.replicas == 0) s.replicas = ponder::automatic_replicas(*model, ponder::eval_engine_options(*model, s.sequences, threads));
    std::printf("ponder: %d generator engine(s) (--replicas %d)\n", s.replicas, asked);
    print_load("at start");
    std::vector<double> ratios, cpu_ratios;
    if (s.path != "both") {
      for (int round = 1; round <= rounds; ++round) {
        const PathRun r = s.path == "naive" ? run_naive(model, data, rule, s, threads)
                                            : run_ponder(model, data, rule, s, threads);
        std::printf("round %d:\n", round);
        report(s.path == "naive" ? "naive loop:" : "ponder:    ", r, n);
      }
      return 0;
    }
    for (int round = 1; round <= rounds; ++round) {
      const PathRun naive = run_naive(model, data, rule, s, threads);
      const PathRun pondered = run_ponder(model, data, rule, s, threads);
      ratios.push_back(naive.seconds / pondered.seconds);
      cpu_ratios.push_back(naive.cpu_seconds / pondered.cpu_seconds);
      std::printf("round %d: ratio %.2f (cpu %.2f)\n", round, ratios.back(), cpu_ratios.back());
      report("naive loop:", naive, n);
      report("ponder:    ", pondered, n);
      std::fflush(stdout);
    }
    print_load("at end");
    std::sort(ratios.begin(), ratios.end());
    std::sort(cpu_ratios.begin(), cpu_ratios.end());
    std::printf("cpu_time_ratio %.2f (median; range %.2f-%.2f)\n", cpu_ratios[cpu_ratios.size() / 2],
                cpu_ratios.front(), cpu_ratios.back());
    std::printf("speedup_vs_naive_loop %.2f (median of %d rounds; range %.2f-%.2f)\n",
                ratios[ratios.size() / 2], rounds, ratios.front(), ratios.back());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder-bench-eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
