// ponder-bench-search: the verifier-guided searches two ways in one run:
//   reuse   ponder's way: a child forks its parent's KV, the verifier reads new steps only;
//   reread  the way a script drives a server: every step re-reads its whole prefix into
//           a fresh sequence, and the verifier re-reads whole solutions.
// Same questions, seeds and settings; the two alternate for --rounds rounds so a drift in
// the machine's speed hits both. Prints, per search, the tokens each way decoded (the
// generator's and the verifier's), the wall and CPU time, whether the answers agree, and
// the median of the rounds' speed ratios.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "ponder/eval.h"
#include "ponder/runtime.h"
#include "toy/models.h"

namespace {

using namespace ponder;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Outcome {
  double wall = 0, cpu = 0;
  int64_t decoded = 0, tree = 0, verifier = 0;
  std::vector<std::string> answers;
  int errors = 0;
};

Outcome run_once(const std::shared_ptr<const Model>& reasoner, const std::shared_ptr<const Model>& prm,
                 const Strategy& strategy, const std::vector<EvalItem>& items, bool reuse, int threads,
                 int sequences) {
  EngineOptions e;
  e.max_sequences = sequences;
  e.context_per_sequence = 512;
  e.threads = threads;
  Engine generator(reasoner, e), verifier(prm, e);
  Runtime runtime(generator, {.reuse_prefixes = reuse});
  runtime.set_verifier(verifier, ProcessRewardModel::load(prm));
  std::vector<Job> jobs;
  const std::shared_ptr<const Strategy> borrowed(&strategy, [](const Strategy*) {});
  for (const auto& item : items) jobs.push_back({borrowed, item.question, {}, {}});
  Outcome o;
  const auto wall0 = Clock::now();
  const double cpu0 = cpu_seconds();
  for (const StrategyResult& r : runtime.run(std::move(jobs))) {
    o.errors += !r.error.empty();
    o.decoded += r.cost.decoded_tokens;
    o.tree += r.cost.tree_tokens;
    o.verifier += r.cost.verifier_tokens;
    o.answers.push_back(r.answer ? r.answer->key : "");
  }
  o.wall = std::chrono::duration<double>(Clock::now() - wall0).count();
  o.cpu = cpu_seconds() - cpu0;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ponder-bench-search: searches with prefix reuse vs re-reading every prefix, in one run"};
  std::string data_path = "data/toy/test.jsonl";
  std::vector<std::string> specs{"beam@16", "pf@16"};
  int limit = 50, rounds = 2, threads = 1, sequences = 64;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "JSONL data set")->capture_default_str();
  app.add_option("-s,--strategies", specs, "Searches")->delimiter(',')->capture_default_str();
  app.add_option("--limit", limit, "Questions (from the data set's start)")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "Rounds of reuse then reread")->check(CLI::Range(1, 100));
  app.add_option("-t,--threads", threads, "CPU threads")->check(CLI::Range(1, 512))->capture_default_str();
  app.add_option("--sequences", sequences, "Engine sequence slots")->check(CLI::Range(2, 255))->capture_default_str();
  app.add_option("--seed", seed, "Sampling seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_memory_in_heap();
    Dataset data = load_dataset(data_path);
    if (!data.errors.empty()) throw std::runtime_error(data_path + ": " + data.errors.front().message);
    if (int(data.items.size()) > limit) data.items.resize(size_t(limit));
    auto reasoner = Model::load(toy::default_reasoner_path());
    auto prm = Model::load(toy::prm_path());
    StrategyOptions options;
    options.generation.sampling.seed = seed;
    options.generation.stop.max_tokens = 240;
    std::printf("%zu questions of %s, seed %llu, %d thread(s), %d slots; CPU: %s\n", data.items.size(),
                data_path.c_str(), (unsigned long long)seed, threads, sequences, cpu_features().c_str());
    std::printf("%-10s %5s %8s %10s %10s %10s %8s %8s %8s\n", "search", "round", "way", "decoded", "tree",
                "verifier", "wall s", "cpu s", "answers");
    bool failed = false;
    for (const std::string& spec : specs) {
      const auto strategy = make_strategy(spec, options);
      std::vector<double> ratios;
      for (int round = 1; round <= rounds; ++round) {
        const Outcome reuse = run_once(reasoner, prm, *strategy, data.items, true, threads, sequences);
        const Outcome reread = run_once(reasoner, prm, *strategy, data.items, false, threads, sequences);
        int same = 0;
        for (size_t i = 0; i < reuse.answers.size(); ++i) same += reuse.answers[i] == reread.answers[i];
        for (const auto* o : {&reuse, &reread}) {
          std::printf("%-10s %5d %8s %10lld %10lld %10lld %8.2f %8.2f %5d/%zu\n", spec.c_str(), round,
                      o == &reuse ? "reuse" : "reread", (long long)o->decoded, (long long)o->tree,
                      (long long)o->verifier, o->wall, o->cpu, same, reuse.answers.size());
        }
        failed |= reuse.errors + reread.errors > 0;
        ratios.push_back(reread.wall / reuse.wall);
        std::printf("%-10s %5d   reread/reuse: decoded %.2fx, verifier %.2fx, wall %.2fx, cpu %.2fx\n",
                    spec.c_str(), round, double(reread.decoded) / double(reuse.decoded),
                    double(reread.verifier) / double(reuse.verifier), reread.wall / reuse.wall,
                    reread.cpu / reuse.cpu);
      }
      std::sort(ratios.begin(), ratios.end());
      std::printf("%-10s median wall ratio reread/reuse over %d rounds: %.2fx\n", spec.c_str(), rounds,
                  ratios[ratios.size() / 2]);
    }
    if (failed) {
      std::fprintf(stderr, "ponder-bench-search: some questions failed\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder-bench-search: %s\n", e.what());
    return 1;
  }
}
