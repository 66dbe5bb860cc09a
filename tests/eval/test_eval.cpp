#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/resource.h>

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ponder/eval.h"
#include "support/test_models.h"
#include "toy/random_models.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string write_file(const std::string& dir, const std::string& name, const std::string& content) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(Dataset, ReadsPonderGsm8kAndMathFormats) {
  const std::string dir = test::scratch_dir("dataset-formats");
  auto ponder = load_dataset(write_file(dir, "p.jsonl",
                                        R"({"id":"a","question":"1+1?","answer":"2","difficulty":1})"
                                        "\n"
                                        R"({"id":"b","question":"2+2?","answer":4})"
                                        "\n"));
  EXPECT_EQ(ponder.format, DatasetFormat::ponder);
  ASSERT_EQ(ponder.items.size(), 2u);
  EXPECT_EQ(ponder.items[1].reference.key, normalize_answer("4"));

  auto gsm = load_dataset(write_file(dir, "g.jsonl", R"({"question":"q","answer":"3 + 4 = 7\n#### 1,007"})" "\n"));
  EXPECT_EQ(gsm.format, DatasetFormat::gsm8k);
  ASSERT_EQ(gsm.items.size(), 1u);
  EXPECT_EQ(gsm.items[0].reference.key, normalize_answer("1007"));
  EXPECT_EQ(gsm.items[0].id, "line-1");

  auto math = load_dataset(write_file(dir, "m.jsonl", R"({"problem":"p","solution":"so $\\boxed{\\frac{1}{2}}$"})" "\n"));
  EXPECT_EQ(math.format, DatasetFormat::math);
  ASSERT_EQ(math.items.size(), 1u);
  EXPECT_EQ(math.items[0].reference.key, normalize_answer("0.5"));
  EXPECT_EQ(default_answer_rule(math.format), AnswerRule::boxed);
}

TEST(Dataset, BadRowsAreReportedWithLineNumbers) {
  const std::string dir = test::scratch_dir("dataset-bad");
  auto data = load_dataset(write_file(dir, "bad.jsonl",
                                      R"({"id":"1","question":"ok","answer":"1"})"
                                      "\n{not json\n"
                                      R"({"id":"3","question":"no answer"})"
                                      "\n\n[1,2]\n"
                                      R"({"id":"1","question":"again","answer":"2"})"
                                      "\n"
                                      R"({"id":"7","question":"","answer":"2"})"
                                      "\n"
                                      R"({"id":"8","question":"fine","answer":"3"})"
                                      "\n"
                                      R"({"id":"9","question":"blank","answer":" \t"})"
                                      "\n"
                                      R"({"id":"","question":"no id","answer":"1"})"
                                      "\n"));
  ASSERT_EQ(data.items.size(), 2u);
  std::vector<int> lines;
  for (const auto& e : data.errors) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 5, 6, 7, 9, 10}));
  EXPECT_NE(data.errors[3].message.find("duplicate id"), std::string::npos);
  EXPECT_NE(data.errors[5].message.find("blank"), std::string::npos);
  EXPECT_THROW(load_dataset(dir + "/missing.jsonl"), std::runtime_error);
  EXPECT_THROW(parse_dataset_format("csv"), std::invalid_argument);
}

TEST(Metrics, PassAtKIsUnbiased) {
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 1), 0.25);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 4), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(16, 0, 8), 0.0);
  // 1 - C(3,2)/C(5,2) = 1 - 3/10
  EXPECT_NEAR(pass_at_k(5, 2, 2), 0.7, 1e-12);
  EXPECT_TRUE(std::isnan(pass_at_k(2, 1, 3)));
}

TEST(Metrics, BootstrapIntervalIsSeededAndCoversTheMean) {
  std::vector<int> outcomes(200, 0);
  for (size_t i = 0; i < 80; ++i) outcomes[i] = 1;
  const auto ci = bootstrap_ci95(outcomes, 1);
  EXPECT_LT(ci.first, 0.4);
  EXPECT_GT(ci.second, 0.4);
  EXPECT_GT(ci.first, 0.3);
  EXPECT_LT(ci.second, 0.5);
  EXPECT_EQ(ci, bootstrap_ci95(outcomes, 1));
}

TEST(Metrics, ParetoFrontier) {
  // (cost, accuracy)
  const std::vector<std::pair<double, double>> points = {{1, 0.3}, {2, 0.5}, {4, 0.45}, {8, 0.6}, {8, 0.55}, {3, 0.5}};
  EXPECT_EQ(pareto_frontier(points), (std::vector<size_t>{0, 1, 3}));
}

TEST(Metrics, ScalingEfficiencyRewardsGainsAndPenalisesDrops) {
  auto summary = [](std::string name, double tokens, double acc) {
    StrategySummary s;
    s.name = std::move(name);
    s.generated_tokens = tokens;
    s.accuracy = acc;
    return s;
  };
  const auto score = scaling_efficiency({summary("vote@1", 100, 0.4), summary("vote@2", 200, 0.5),
                                         summary("vote@4", 400, 0.6), summary("bad@1", 100, 0.5),
                                         summary("bad@4", 400, 0.4), summary("greedy", 100, 0.4)});
  EXPECT_NEAR(score.at("vote"), 0.1, 1e-12);
  EXPECT_NEAR(score.at("bad"), -0.1, 1e-12);  // -0.1 over 2 doublings, counted twice
  EXPECT_EQ(score.at("greedy"), 0.0);
}

class EvalRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("eval-run");
    std::string rows;
    for (int i = 0; i < 6; ++i) {
      rows += R"({"id":"q)" + std::to_string(i) + R"(","question":"item )" + std::to_string(i) +
              R"(","answer":")" + std::string(1, char('a' + i % 3)) + "\"}\n";
    }
    data_ = load_dataset(write_file(dir_, "data.jsonl", rows));
    options_.strategies = {"greedy", "vote@3", "adaptive-vote@6"};
    options_.strategy_options.generation.stop.max_tokens = 16;
    options_.strategy_options.generation.stop.ignore_eos = true;
    options_.strategy_options.generation.answers.rule = AnswerRule::regex;
    options_.strategy_options.generation.answers.pattern = "[a-c]";
    options_.seed = 5;
    // The model hash cache of these tests, apart from the user's.
    setenv("PONDER_CACHE", (dir_ + "/cache").c_str(), 1);
  }

  EvalReport run(const std::string& out, int limit = 0, std::shared_ptr<const Model> model = nullptr) {
    EngineOptions e;
    e.max_sequences = 16;
    e.context_per_sequence = 64;
    e.threads = 1;
    Engine engine(model ? model : model_, e);
    EvalOptions o = options_;
    o.out_dir = dir_ + "/" + out;
    o.limit = limit;
    return run_eval(engine, data_, o);
  }

  // The message of the std::runtime_error run() throws ("" when it does not).
  std::string refusal(const std::string& out, int limit = 0, std::shared_ptr<const Model> model = nullptr) {
    try {
      run(out, limit, std::move(model));
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  // Wall time, and with it forward passes when the schedule differs (a resumed run
  // shares its batches with other questions than an uninterrupted one), are not
  // reproducible; everything else is.
  static json summary_without_timings(const std::string& dir, bool keep_forward_passes = true) {
    std::ifstream in(dir + "/summary.json");
    json j = json::parse(in);
    for (auto& s : j["strategies"]) {
      s.erase("wall_s");
      if (!keep_forward_passes) s.erase("forward_passes");
    }
    return j;
  }

  std::shared_ptr<const Model> model_ = Model::load(test::random_model_path("tiny"));
  std::string dir_;
  Dataset data_;
  EvalOptions options_;
};

// The batch budget as an eval row: one row per item beside the strategies, recorded in
// run.json, and resumed whole.
TEST_F(EvalRun, BatchBudgetAddsARowThatResumes) {
  options_.strategies = {"vote@2"};
  options_.batch.tokens_per_question = 40;  // 16 tokens a sample: between two and three each
  options_.batch.max_samples = 4;
  const EvalReport first = run("batch");
  ASSERT_EQ(first.strategies.size(), 2u);
  const StrategySummary& batch = first.strategies[1];
  EXPECT_EQ(batch.name, "batch@4");
  EXPECT_EQ(batch.questions, 6);
  EXPECT_EQ(batch.errors, 0);
  // Every sample is 16 tokens, so the estimates are exact: 240 tokens are 15 samples.
  EXPECT_DOUBLE_EQ(batch.samples, 2.5);
  EXPECT_DOUBLE_EQ(batch.equivalent_tokens, 40.0);
  const json settings = json::parse(std::ifstream(dir_ + "/batch/run.json"));
  EXPECT_EQ(settings["batch"]["tokens_per_question"], 40.0);

  const EvalReport again = run("batch");
  EXPECT_EQ(again.resumed, 12);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.strategies[1].accuracy, batch.accuracy);
}

TEST_F(EvalRun, WritesTracesSummaryAndTable) {
  const EvalReport report = run("full");
  EXPECT_EQ(report.ran, 18);
  ASSERT_EQ(report.strategies.size(), 3u);
  for (const auto& s : report.strategies) {
    EXPECT_EQ(s.questions, 6);
    EXPECT_EQ(s.errors, 0);
    EXPECT_GE(s.ci95.second, s.accuracy);
    EXPECT_LE(s.ci95.first, s.accuracy);
  }
  EXPECT_EQ(report.strategies[1].coverage.size(), 2u);  // k = 1, 2 of 3 samples
  EXPECT_DOUBLE_EQ(report.strategies[1].samples, 3.0);

  std::ifstream traces(dir_ + "/full/traces.jsonl");
  int lines = 0;
  for (std::string line; std::getline(traces, line); ++lines) {
    const json row = json::parse(line);
    EXPECT_TRUE(row.contains("correct"));
    EXPECT_TRUE(row["samples"].is_array());
  }
  EXPECT_EQ(lines, 18);
  EXPECT_TRUE(fs::exists(dir_ + "/full/summary.md"));
  EXPECT_TRUE(summary_without_timings(dir_ + "/full")["strategies"][0].contains("accuracy"));
}

TEST_F(EvalRun, CountsEachModelsTokensInTheLargestModelsUnits) {
  // tiny as the small model, tiny-gqa (more parameters, the same tokens) as the large one.
  auto large_model = Model::load(test::random_model_path("tiny-gqa"));
  ASSERT_GT(large_model->n_params(), model_->n_params());
  EngineOptions e;
  e.max_sequences = 16;
  e.context_per_sequence = 64;
  e.threads = 1;
  Engine engine(model_, e);
  Engine large(large_model, e);
  EvalOptions o = options_;
  o.strategies = {"vote@2", "cascade@2"};
  o.strategy_options.cascade.escalation = "vote";
  o.strategy_options.cascade.small_samples = 2;
  o.out_dir = dir_ + "/cascade";
  o.large_engine = &large;
  const EvalReport report = run_eval(engine, data_, o);
  EXPECT_EQ(report.equivalent_model, "tiny-gqa.gguf");
  EXPECT_EQ(report.equivalent_parameters, large_model->n_params());
  ASSERT_EQ(report.strategies.size(), 2u);
  const double ratio = double(model_->n_params()) / double(large_model->n_params());
  const StrategySummary& vote = report.strategies[0];
  EXPECT_NEAR(vote.equivalent_tokens, vote.generated_tokens * ratio, 1e-9);
  EXPECT_EQ(vote.large_share, 0.0);

  // The cascade's tokens, model by model, from its trace rows.
  double small_tokens = 0, large_tokens = 0;
  std::ifstream traces(o.out_dir + "/traces.jsonl");
  for (std::string line; std::getline(traces, line);) {
    const json row = json::parse(line);
    if (row["strategy"] != "cascade@2") continue;
    for (const auto& c : row["costs"]) {
      (c["role"] == "large generator" ? large_tokens : small_tokens) += c["cost"]["generated_tokens"].get<double>();
    }
  }
  const StrategySummary& cascade = report.strategies[1];
  ASSERT_GT(large_tokens, 0.0) << "the noise model's votes should split and escalate";
  EXPECT_NEAR(cascade.large_share, large_tokens / (small_tokens + large_tokens), 1e-12);
  EXPECT_NEAR(cascade.equivalent_tokens, (small_tokens * ratio + large_tokens) / 6.0, 1e-9);
  EXPECT_NEAR(cascade.generated_tokens, (small_tokens + large_tokens) / 6.0, 1e-9);

  const json summary = json::parse(std::ifstream(o.out_dir + "/summary.json"));
  EXPECT_EQ(summary["equivalent_to"]["model"], "tiny-gqa.gguf");
  EXPECT_TRUE(summary["strategies"][1].contains("equivalent_tokens"));
  std::ifstream md(o.out_dir + "/summary.md");
  const std::string table((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(table.find("equivalent tokens / q | large-model share |"), std::string::npos) << table;

  // A cascade without a large model is refused.
  o.large_engine = nullptr;
  o.out_dir = dir_ + "/no-large";
  EXPECT_THROW(run_eval(engine, data_, o), std::invalid_argument);
}

TEST_F(EvalRun, SameSeedSameSummaryBitForBit) {
  run("one");
  run("two");
  EXPECT_EQ(summary_without_timings(dir_ + "/one").dump(), summary_without_timings(dir_ + "/two").dump());
}

TEST_F(EvalRun, SummarisesPerGroup) {
  // Groups from a nested field: numbers in numeric order, items without one last.
  std::string rows;
  const char* levels[] = {"10", "2", "2", "", "10", "2"};
  for (int i = 0; i < 6; ++i) {
    const std::string meta = *levels[i] ? R"(,"meta":{"level":)" + std::string(levels[i]) + "}" : "";
    rows += R"({"id":"q)" + std::to_string(i) + R"(","question":"item )" + std::to_string(i) + R"(","answer":"a")" +
            meta + "}\n";
  }
  data_ = load_dataset(write_file(dir_, "grouped.jsonl", rows), DatasetFormat::automatic, "meta.level");
  ASSERT_EQ(data_.items.size(), 6u);
  EXPECT_EQ(data_.items[0].group, "10");
  EXPECT_EQ(data_.items[3].group, "");
  const EvalReport report = run("grouped");
  EXPECT_EQ(report.group_by, "meta.level");
  ASSERT_EQ(report.groups.size(), 3u);
  EXPECT_EQ(report.groups[0].value, "2");
  EXPECT_EQ(report.groups[1].value, "10");
  EXPECT_EQ(report.groups[2].value, "");
  EXPECT_EQ(report.groups[0].items, 3);
  for (size_t k = 0; k < report.strategies.size(); ++k) {
    int questions = 0;
    double correct = 0;
    for (const auto& g : report.groups) {
      ASSERT_EQ(g.strategies.size(), report.strategies.size());
      questions += g.strategies[k].questions;
      correct += g.strategies[k].accuracy * g.strategies[k].questions;
    }
    EXPECT_EQ(questions, report.strategies[k].questions);
    EXPECT_NEAR(correct, report.strategies[k].accuracy * report.strategies[k].questions, 1e-9);
  }
  std::ifstream in(dir_ + "/grouped/summary.json");
  EXPECT_EQ(json::parse(in)["groups"].size(), 3u);
}

TEST_F(EvalRun, ResumesWithoutRedoingFinishedItems) {
  run("resume", 3);
  // Interrupted mid-write: the last line is cut short.
  const std::string traces = dir_ + "/resume/traces.jsonl";
  fs::resize_file(traces, fs::file_size(traces) - 10);
  const EvalReport report = run("resume");
  EXPECT_EQ(report.resumed, 8);
  EXPECT_EQ(report.ran, 10);
  run("straight");
  EXPECT_EQ(summary_without_timings(dir_ + "/resume", false).dump(),
            summary_without_timings(dir_ + "/straight", false).dump());
}

TEST_F(EvalRun, RefusesADirectoryWithOtherSettings) {
  const StrategyOptions original = options_.strategy_options;
  run("settings", 2);
  options_.seed = 6;
  EXPECT_NE(refusal("settings", 2).find("seed: 5 there, 6 now"), std::string::npos);
  options_.seed = 5;
  options_.strategy_options.adaptive.wave = 1;
  EXPECT_NE(refusal("settings", 2).find("adaptive.wave: 4 there, 1 now"), std::string::npos);
  options_.strategy_options.adaptive.wave = AdaptiveVoteOptions{}.wave;
  // Every setting is recorded, each difference named.
  options_.strategy_options.generation.sampling.top_k = 40;
  options_.strategy_options.generation.sampling.min_p = 0.05f;
  options_.strategy_options.prune.quantile = 0.5;
  options_.strategy_options.adaptive.dirichlet_draws = 500;
  const std::string message = refusal("settings", 2);
  for (const char* key : {"sampling.top_k", "sampling.min_p", "prune.quantile", "adaptive.dirichlet_draws"}) {
    EXPECT_NE(message.find(key), std::string::npos) << key << " in " << message;
  }
  EXPECT_NE(message.find("use another --out"), std::string::npos);
  options_.strategy_options = original;
  EXPECT_EQ(run("settings", 2).resumed, 6);
}

TEST_F(EvalRun, RefusesOtherDataWithTheSameIds) {
  run("data", 2);
  // Same ids, other references: resuming would report the old rows' accuracy.
  const Dataset original = data_;
  std::string rows;
  for (int i = 0; i < 6; ++i) {
    rows += R"({"id":"q)" + std::to_string(i) + R"(","question":"item )" + std::to_string(i) + R"(","answer":"z"})" "\n";
  }
  data_ = load_dataset(write_file(dir_, "other.jsonl", rows));
  EXPECT_NE(refusal("data", 2).find("data.sha256"), std::string::npos);
  // A data set built in memory has no file hash: the rows' item hashes catch the change.
  data_ = original;
  data_.items[1].reference = {"z", "z"};
  EXPECT_NE(refusal("data", 2).find("item \"q1\" was run with another question or reference"), std::string::npos);
  data_ = original;
  data_.items[0].question = "another question";
  EXPECT_NE(refusal("data", 2).find("item \"q0\""), std::string::npos);
}

TEST_F(EvalRun, RefusesAnotherModelWithTheSameFileName) {
  run("model", 2);
  const std::string other_dir = dir_ + "/other-model";
  fs::create_directories(other_dir);
  const std::string other = other_dir + "/" + fs::path(model_->path()).filename().string();
  toy::write_random_model(other, "tiny", 2);
  EXPECT_NE(refusal("model", 2, Model::load(other)).find("model.sha256"), std::string::npos);
}

TEST_F(EvalRun, RefusesDirectoriesOfOlderVersions) {
  // run.json as ponder wrote it before it recorded hashes.
  fs::create_directories(dir_ + "/old");
  write_file(dir_ + "/old", "run.json", R"({"answer_pattern":"","answer_rule":"hash","max_tokens":16,"model":"tiny.gguf","seed":5})");
  const std::string message = refusal("old");
  EXPECT_NE(message.find("run.json has layout version 1"), std::string::npos) << message;
  EXPECT_NE(message.find("use another --out"), std::string::npos);
}

TEST_F(EvalRun, ASecondRunIntoTheSameDirectoryIsRefusedAtOnce) {
  fs::create_directories(dir_ + "/locked");
  const int fd = open((dir_ + "/locked/.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_NE(refusal("locked").find("in use by another run"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/locked/run.json"));
  close(fd);  // released, as it is when a run ends or dies
  EXPECT_EQ(run("locked", 1).ran, 3);
}

// A small disk: writes past `bytes` fail (EFBIG) as they would on a full one.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

TEST_F(EvalRun, WriteErrorsNameTheFileAndLoseNothing) {
  run("disk", 2);
  const std::string traces = dir_ + "/disk/traces.jsonl";
  const std::string summary = dir_ + "/disk/summary.json";
  const std::string summary_before = summary_without_timings(dir_ + "/disk").dump();
  {
    // Room for part of one more row: the run stops with an error naming the file.
    FileSizeLimit limit(fs::file_size(traces) + 100);
    const std::string message = refusal("disk");
    EXPECT_NE(message.find("cannot write " + traces), std::string::npos) << message;
  }
  // No row was cut, and the summary of the earlier run is still whole.
  std::ifstream in(traces);
  int rows = 0;
  for (std::string line; std::getline(in, line); ++rows) EXPECT_NO_THROW(json::parse(line));
  EXPECT_EQ(rows, 6);
  EXPECT_EQ(summary_without_timings(dir_ + "/disk").dump(), summary_before);

  const EvalReport resumed = run("disk");
  EXPECT_EQ(resumed.resumed, 6);
  EXPECT_EQ(resumed.ran, 12);
  {
    // Everything done: only the summaries are written, and they fail whole.
    const std::string before = summary_without_timings(dir_ + "/disk").dump();
    FileSizeLimit limit(64);
    const std::string message = refusal("disk");
    EXPECT_NE(message.find("cannot write " + summary), std::string::npos) << message;
    EXPECT_EQ(summary_without_timings(dir_ + "/disk").dump(), before);
  }
  for (const auto& entry : fs::directory_iterator(dir_ + "/disk")) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  run("straight");
  EXPECT_EQ(summary_without_timings(dir_ + "/disk", false).dump(),
            summary_without_timings(dir_ + "/straight", false).dump());
}

TEST_F(EvalRun, DamagedTraceRowsAreDoneAgainNotReadOutOfBounds) {
  run("damaged", 2);
  const std::string traces = dir_ + "/damaged/traces.jsonl";
  std::vector<json> rows;
  {
    std::ifstream in(traces);
    for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  }
  ASSERT_EQ(rows.size(), 6u);
  rows[0].erase("cost");
  rows[1]["samples"] = 5;
  rows[2]["samples"][0].erase("tokens");
  rows[3]["cost"]["generated_tokens"] = "many";
  {
    std::ofstream out(traces);
    for (const auto& row : rows) out << row.dump() << "\n";
    out << "{not json\n";
  }
  const EvalReport repaired = run("damaged", 2);
  EXPECT_EQ(repaired.ran, 4);
  EXPECT_EQ(repaired.resumed, 2);
  std::vector<std::string> skipped;
  for (const auto& w : repaired.warnings) {
    if (w.starts_with("traces.jsonl")) skipped.push_back(w);
  }
  ASSERT_EQ(skipped.size(), 5u);
  EXPECT_NE(skipped[0].find("line 1 skipped (cost: missing)"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find("line 2 skipped (samples: expected an array"), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[2].find("samples[0].tokens: missing"), std::string::npos) << skipped[2];
  EXPECT_NE(skipped[3].find("cost.generated_tokens: expected an integer"), std::string::npos) << skipped[3];
  EXPECT_NE(skipped[4].find("line 7 skipped (not valid JSON)"), std::string::npos) << skipped[4];
  // The damaged lines stay, but never again cost a run.
  const EvalReport again = run("damaged", 2);
  EXPECT_EQ(again.ran, 0);
  EXPECT_EQ(again.resumed, 6);
  run("undamaged", 2);
  EXPECT_EQ(summary_without_timings(dir_ + "/damaged", false)["strategies"].dump(),
            summary_without_timings(dir_ + "/undamaged", false)["strategies"].dump());
}

TEST_F(EvalRun, FailedRunsAreCountedAndRunAgain) {
  // Longer than a sequence's context (64 tokens): each run of it fails.
  data_.items[1].question = std::string(400, 'x');
  const EvalReport report = run("failed", 2);
  EXPECT_EQ(report.failed, 3);
  EXPECT_EQ(report.strategies[0].errors, 1);
  EXPECT_EQ(report.strategies[0].questions, 1);
  const EvalReport again = run("failed", 2);
  EXPECT_EQ(again.ran, 3);
  EXPECT_EQ(again.failed, 3);
}

TEST_F(EvalRun, ReportsProgressThroughItsCallback) {
  std::vector<std::pair<size_t, size_t>> calls;
  options_.on_progress = [&](size_t done, size_t total) { calls.emplace_back(done, total); };
  run("progress", 2);
  ASSERT_EQ(calls.size(), 6u);
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i], std::make_pair(i + 1, size_t(6)));
}

TEST_F(EvalRun, AutomaticAnswersTryTheDataSetsRuleFirstThenEveryRule) {
  data_ = load_dataset(write_file(dir_, "math.jsonl", R"({"problem":"p","solution":"so $\\boxed{102}$"})" "\n"));
  ASSERT_EQ(data_.format, DatasetFormat::math);
  options_.strategy_options.generation.answers = {};
  run("math");
  const json settings = json::parse(std::ifstream(dir_ + "/math/run.json"));
  EXPECT_EQ(settings["answers"]["rule"], "auto");
  EXPECT_EQ(settings["answers"]["first"], "boxed");
}

TEST_F(EvalRun, SaysWhenMostSamplesGiveNoAnswer) {
  options_.strategy_options.generation.answers.pattern = "no such answer [0-9]{40}";
  const EvalReport report = run("silent", 2);
  for (const auto& s : report.strategies) EXPECT_DOUBLE_EQ(s.no_answer_share, 1.0);
  ASSERT_EQ(report.warnings.size(), 3u);
  EXPECT_NE(report.warnings[0].find("greedy: 100% of samples gave no answer under the answer rule regex"),
            std::string::npos)
      << report.warnings[0];
  const json summary = json::parse(std::ifstream(dir_ + "/silent/summary.json"));
  EXPECT_EQ(summary["strategies"][0]["no_answer_share"], 1.0);
  EXPECT_EQ(summary["warnings"].size(), 3u);
  // Any character answers (the random model's text has some).
  options_.strategy_options.generation.answers.pattern = "[\\s\\S]";
  EXPECT_TRUE(run("answered", 2).warnings.empty());
}

TEST_F(EvalRun, BadDataCanStopTheRun) {
  data_.errors.push_back({9, "not valid JSON"});
  options_.stop_on_bad_data = true;
  try {
    run("bad");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 9"), std::string::npos);
  }
  options_.stop_on_bad_data = false;
  EXPECT_EQ(run("bad").ran, 18);
}

}  // namespace
}  // namespace ponder
