// `ponder bench --speculative`: speculative decoding against plain decoding, measured in
// one run on the same engine settings (docs/speculative.md).
//
// Per temperature (greedy, 0.8) and batch (1, 8, 16) the same 16 sequences are generated
// by plain decoding and by each method: greedy runs `batch` different questions at once,
// sampling runs `batch` samples of one question at once (a strategy's parallel samples).
// Within each repeat, plain decoding runs before and after the methods; a method's ratio
// in that repeat is the mean of the two plain times over its own. The speedup is the
// median of those ratios over --repeats, so a load on the machine that comes and goes
// moves single repeats, not the figure.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/bench_speculative.h"
#include "cli/commands.h"
#include "ponder/engine.h"
#include "ponder/eval.h"
#include "ponder/runtime.h"

namespace ponder::cli {

namespace {

constexpr int kSequences = 16;  // per configuration
constexpr int kMaxTokens = 128;
constexpr int kBatches[] = {1, 8, 16};
constexpr float kTemperatures[] = {0.0f, 0.8f};
// Lookahead twice: single paths (the default; split KV layout, as plain decoding) and
// draft trees of four branches (--draft-branches 4; unified KV layout).
struct Method {
  SpeculativeMethod method;
  int branches;
};
constexpr Method kMethods[] = {{SpeculativeMethod::draft, 1},
                               {SpeculativeMethod::lookup, 1},
                               {SpeculativeMethod::lookahead, 1},
                               {SpeculativeMethod::lookahead, 4}};

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

struct Timed {
  double wall = 0.0;
  double cpu = 0.0;
  int64_t tokens = 0;
  int64_t drafted = 0;
  int64_t accepted = 0;
  std::vector<std::vector<Token>> outputs;
};

// Generates one configuration's sequences on `engine`, in groups of `batch`.
Timed run_config(Engine& engine, const std::vector<std::vector<Token>>& prompts, int batch, float temperature) {
  Timed t;
  const EngineStats before = engine.stats();
  const double cpu0 = cpu_seconds();
  const auto wall0 = Clock::now();
  StopParams stop;
  stop.max_tokens = kMaxTokens;
  for (int group = 0; group * batch < kSequences; ++group) {
    const RequestId request = engine.begin_request();
    std::vector<SeqId> seqs;
    if (temperature == 0.0f) {
      for (int i = 0; i < batch; ++i) {
        seqs.push_back(engine.add_sequence(request, prompts[size_t(group * batch + i) % prompts.size()]));
      }
    } else {
      const SeqId root = engine.add_sequence(request, prompts[size_t(group) % prompts.size()]);
      seqs = engine.fork(root, batch);
      engine.free(root);
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      SamplingParams p;
      p.temperature = temperature;
      p.seed = uint64_t(group * batch) + i;
      engine.generate(seqs[i], p, stop);
    }
    const size_t first = t.outputs.size();
    t.outputs.resize(first + seqs.size());
    engine.run_until_done(seqs, [&](SeqId id) {
      std::vector<Token>& out = t.outputs[first + size_t(std::find(seqs.begin(), seqs.end(), id) - seqs.begin())];
      for (const auto& r : engine.sequence(id).records) out.push_back(r.token);
      t.tokens += int64_t(out.size());
      engine.free(id);
    });
    engine.end_request(request);
  }
  t.wall = std::chrono::duration<double>(Clock::now() - wall0).count();
  t.cpu = cpu_seconds() - cpu0;
  const EngineStats after = engine.stats();
  t.drafted = after.drafted_tokens - before.drafted_tokens;
  t.accepted = after.accepted_tokens - before.accepted_tokens;
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

EngineOptions bench_engine_options(int threads, Method method, std::shared_ptr<const Model> draft) {
  EngineOptions o;
  o.max_sequences = kSequences + 1;  // the samples and their question's prompt
  o.context_per_sequence = 384;
  o.threads = threads;
  o.speculative.method = method.method;
  o.speculative.lookahead_branches = method.branches;
  if (method.method == SpeculativeMethod::draft) o.speculative.draft_model = std::move(draft);
  return o;
}

void print_rows(const std::string& target_path, const std::string& draft_path, const SpeculativeBenchArgs& a,
                const nlohmann::json& out);

}  // namespace

void run_speculative_bench(const SpeculativeBenchArgs& a) {
  if (a.repeats < 1) throw UsageError("--repeats: must be >= 1");
  const std::string target_path = a.models.empty() ? default_model_path("toy-reasoner-l") : a.models.front();
  if (a.models.size() > 1) throw UsageError("--speculative: one target model (-m) at most");
  const std::string draft_path = a.draft.empty() ? default_model_path("toy-reasoner-s") : a.draft;
  auto target = Model::load(target_path);
  auto draft = Model::load(draft_path);
  const Dataset data = load_dataset(a.data);
  if (data.items.size() < size_t(kSequences)) {
    throw UsageError("--data " + a.data + ": needs at least " + std::to_string(kSequences) + " questions");
  }
  std::vector<std::vector<Token>> prompts;
  for (int i = 0; i < kSequences; ++i) prompts.push_back(format_question(*target, data.items[size_t(i)].question));

  Engine plain(target, bench_engine_options(a.threads, {SpeculativeMethod::off, 1}, nullptr));
  std::vector<std::unique_ptr<Engine>> engines;
  for (Method m : kMethods) engines.push_back(std::make_unique<Engine>(target, bench_engine_options(a.threads, m, draft)));

  struct Row {
    size_t method;  // index in kMethods
    int batch;
    float temperature;
    std::vector<double> wall_ratios, cpu_ratios;
    int64_t plain_tokens = 0, fast_tokens = 0;
    double plain_wall = 0.0, fast_wall = 0.0;  // summed over the repeats
    bool identical = true;
    int64_t drafted = 0, accepted = 0;
  };
  std::vector<Row> rows;
  for (float temperature : kTemperatures) {
    for (int batch : kBatches) {
      for (size_t m = 0; m < std::size(kMethods); ++m) rows.push_back({m, batch, temperature, {}, {}});
    }
  }
  // A first pass teaches each engine its decode costs; it is not counted.
  for (size_t e = 0; e < engines.size(); ++e) run_config(*engines[e], prompts, 8, 0.0f);
  run_config(plain, prompts, 8, 0.0f);

  for (int r = 0; r < a.repeats; ++r) {
    for (float temperature : kTemperatures) {
      for (int batch : kBatches) {
        const Timed before = run_config(plain, prompts, batch, temperature);
        std::vector<Timed> fast;
        for (auto& engine : engines) fast.push_back(run_config(*engine, prompts, batch, temperature));
        const Timed after = run_config(plain, prompts, batch, temperature);
        const double plain_wall = (before.wall + after.wall) / 2, plain_cpu = (before.cpu + after.cpu) / 2;
        for (Row& row : rows) {
          if (row.batch != batch || row.temperature != temperature) continue;
          const Timed& f = fast[row.method];
          row.wall_ratios.push_back(plain_wall / f.wall);
          row.cpu_ratios.push_back(plain_cpu / f.cpu);
          row.plain_tokens += before.tokens;
          row.fast_tokens += f.tokens;
          row.plain_wall += plain_wall;
          row.fast_wall += f.wall;
          row.drafted += f.drafted;
          row.accepted += f.accepted;
          row.identical = row.identical && f.outputs == before.outputs && after.outputs == before.outputs;
        }
      }
    }
    if (a.progress) std::fprintf(stderr, "bench --speculative: repeat %d of %d done\n", r + 1, a.repeats);
  }

  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    nlohmann::json j = {
        {"method", speculative_method_name(kMethods[row.method].method)},
        {"branches", kMethods[row.method].branches},
        {"batch", row.batch},
        {"temperature", row.temperature},
        {"speedup", median(row.wall_ratios)},
        {"speedup_range", {*std::min_element(row.wall_ratios.begin(), row.wall_ratios.end()),
                           *std::max_element(row.wall_ratios.begin(), row.wall_ratios.end())}},
        {"cpu_speedup", median(row.cpu_ratios)},
        {"acceptance", row.drafted > 0 ? double(row.accepted) / double(row.drafted) : 0.0},
        {"drafted_per_token", double(row.drafted) / double(std::max<int64_t>(1, row.fast_tokens))},
        {"plain_tokens_per_s", double(row.plain_tokens) / row.plain_wall},
        {"tokens_per_s", double(row.fast_tokens) / row.fast_wall},
    };
    // Greedy output must equal plain decoding's; sampled output is compared by
    // distribution, not token by token (the draft model's acceptance draws differ).
    j["identical_greedy"] = row.temperature == 0.0f ? nlohmann::json(row.identical) : nlohmann::json(nullptr);
    out.push_back(j);
  }
  if (a.json) {
    std::printf("%s\n", nlohmann::json{{"target", target_path},
                                       {"draft", draft_path},
                                       {"threads", a.threads},
                                       {"repeats", a.repeats},
                                       {"sequences_per_row", kSequences},
                                       {"max_tokens", kMaxTokens},
                                       {"rows", out}}
                              .dump(2)
                              .c_str());
  } else {
    print_rows(target_path, draft_path, a, out);
  }
  for (const auto& j : out) {
    if (j["identical_greedy"].is_boolean() && !j["identical_greedy"].get<bool>()) {
      throw std::runtime_error(std::string("speculative greedy output differs from plain decoding (") +
                               j["method"].get<std::string>() + ", batch " + std::to_string(j["batch"].get<int>()) + ")");
    }
  }
}

namespace {

void print_rows(const std::string& target_path, const std::string& draft_path, const SpeculativeBenchArgs& a,
                const nlohmann::json& out) {
  std::printf("target %s, draft %s, %d threads; speedup: median (range) of %d repeats, each against plain runs "
              "before and after\n",
              target_path.c_str(), draft_path.c_str(), a.threads, a.repeats);
  std::printf("%-10s %8s %5s %5s %8s %13s %8s %10s %9s %10s %10s\n", "method", "branches", "batch", "temp", "speedup",
              "range", "cpu", "acceptance", "identical", "plain t/s", "spec t/s");
  for (const auto& j : out) {
    std::printf("%-10s %8d %5d %5.1f %7.2fx %6.2f-%-6.2f %7.2fx %10.2f %9s %10.0f %10.0f\n",
                j["method"].get<std::string>().c_str(), j["branches"].get<int>(), j["batch"].get<int>(),
                j["temperature"].get<double>(), j["speedup"].get<double>(), j["speedup_range"][0].get<double>(),
                j["speedup_range"][1].get<double>(), j["cpu_speedup"].get<double>(), j["acceptance"].get<double>(),
                j["identical_greedy"].is_null() ? "-" : (j["identical_greedy"].get<bool>() ? "yes" : "NO"),
                j["plain_tokens_per_s"].get<double>(), j["tokens_per_s"].get<double>());
  }
}

}  // namespace

}  // namespace ponder::cli
