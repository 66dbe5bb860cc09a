// `ponder eval` as a user runs it: exit codes, files left in --out, nothing run from a path.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/process.h"
#include "support/test_models.h"

namespace ponder::cli {
namespace {

namespace fs = std::filesystem;

class EvalCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::scratch_dir("eval-command");
    setenv("PONDER_CACHE", (root_ / "cache").c_str(), 1);
    std::ofstream(root_ / "data.jsonl") << R"({"id":"a","question":"1+1?","answer":"2"})"
                                           "\n"
                                        << R"({"id":"b","question":"2+2?","answer":"4"})"
                                           "\n";
  }

  ProcessResult eval(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {PONDER_CLI,
                                     "eval",
                                     "-m",
                                     test::random_model_path("tiny"),
                                     "--data",
                                     (root_ / "data.jsonl").string(),
                                     "--out",
                                     out,
                                     "--strategies",
                                     "greedy,vote@2",
                                     "--max-tokens",
                                     "4",
                                     "-t",
                                     "2",
                                     "--max-sequences",
                                     "8",
                                     "--no-progress"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, root_.string(), true);
  }

  fs::path root_;
};

TEST_F(EvalCommand, AnOutPathWithQuotesAndSemicolonsIsJustAPath) {
  const std::string name = "bob's run; touch PWNED \"x\" $(touch PWNED2)";
  const ProcessResult run = eval(name);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* file : {"run.json", "traces.jsonl", "summary.json", "summary.md", "accuracy_vs_tokens.png",
                           "accuracy_vs_tokens.svg", "accuracy_vs_wall.png", "accuracy_vs_wall.svg"}) {
    EXPECT_TRUE(fs::exists(root_ / name / file)) << file << "\n" << run.output;
  }
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(root_)) top.push_back(e.path().filename().string());
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{name, "cache", "data.jsonl"}));
}

TEST_F(EvalCommand, FailedRunsExitNonZero) {
  std::ofstream(root_ / "data.jsonl", std::ios::app)
      << R"({"id":"long","question":")" << std::string(3000, 'x')
      << R"(","answer":"1"})"
         "\n";
  const ProcessResult run = eval("failed");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("ponder: 2 of 6 runs failed"), std::string::npos) << run.output;
}

TEST_F(EvalCommand, UnwritableResultsExitNonZeroNamingTheFile) {
  fs::create_directories(root_ / "full");
  fs::create_symlink("/dev/full", root_ / "full" / "traces.jsonl");
  const ProcessResult run = eval("full");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("traces.jsonl"), std::string::npos) << run.output;
}

TEST_F(EvalCommand, ReplicasGiveTheSameRowsAsOneEngine) {
  {
    std::ofstream data(root_ / "data.jsonl", std::ios::app);
    for (int i = 0; i < 6; ++i) data << R"({"id":"q)" << i << R"(","question":")" << i << "*" << i + 3 << R"(?","answer":"1"})" << "\n";
  }
  // Each row without its timings: the answer, the texts and the tokens of every sample,
  // and apart, the samples' mean logprobs (other batches may round their last bits).
  struct Rows {
    std::map<std::string, std::string> exact;
    std::map<std::string, std::vector<double>> mean_logprobs;
  };
  auto rows = [&](const std::string& out) {
    Rows r;
    std::ifstream in(root_ / out / "traces.jsonl");
    for (std::string line; std::getline(in, line);) {
      nlohmann::json row = nlohmann::json::parse(line);
      const std::string key = row["id"].get<std::string>() + " " + row["strategy"].get<std::string>();
      for (auto& sample : row["samples"]) {
        r.mean_logprobs[key].push_back(sample["mean_logprob"].get<double>());
        sample.erase("mean_logprob");
      }
      r.exact[key] = nlohmann::json{{"answer", row["answer"]}, {"samples", row["samples"]},
                                    {"generated", row["cost"]["generated_tokens"]}}
                         .dump();
    }
    return r;
  };
  const ProcessResult a = eval("one", {"--replicas", "1"}), b = eval("three", {"--replicas", "3"});
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const Rows ra = rows("one"), rb = rows("three");
  EXPECT_EQ(ra.exact.size(), 16u);
  EXPECT_EQ(ra.exact, rb.exact);
  for (const auto& [key, values] : ra.mean_logprobs) {
    ASSERT_EQ(rb.mean_logprobs.at(key).size(), values.size()) << key;
    for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(rb.mean_logprobs.at(key)[i], values[i], 1e-4) << key;
  }
}

}  // namespace
}  // namespace ponder::cli
