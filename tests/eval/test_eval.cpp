#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ponder/eval.h"
#include "support/test_models.h"

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
    options_.progress = false;
  }

  EvalReport run(const std::string& out, int limit = 0) {
    EngineOptions e;
    e.max_sequences = 16;
    e.context_per_sequence = 64;
    e.threads = 2;
    Engine engine(model_, e);
    EvalOptions o = options_;
    o.out_dir = dir_ + "/" + out;
    o.limit = limit;
    return run_eval(engine, data_, o);
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
  run("settings", 2);
  options_.seed = 6;
  EXPECT_THROW(run("settings", 2), std::runtime_error);
  options_.seed = 5;
  options_.strategy_options.adaptive.wave = 1;
  EXPECT_THROW(run("settings", 2), std::runtime_error);
  // A directory written before the adaptive settings were recorded ran with the defaults.
  options_.strategy_options.adaptive.wave = AdaptiveVoteOptions{}.wave;
  const std::string settings = dir_ + "/settings/run.json";
  nlohmann::json j = nlohmann::json::parse(std::ifstream(settings));
  j.erase("adaptive");
  std::ofstream(settings) << j.dump();
  EXPECT_NO_THROW(run("settings", 2));
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
