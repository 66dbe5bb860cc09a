#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/plots.h"
#include "cli/process.h"
#include "support/test_models.h"

namespace ponder::cli {
namespace {

namespace fs = std::filesystem;

// A directory name that runs something wherever it is pasted into shell or gnuplot text.
const std::string kHostileName =
    "bob's run; touch PWNED \"x\" `touch PWNED2` $(touch PWNED3) ' ; system 'touch PWNED4";

// Every file under `dir`, relative.
std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Process, ArgumentsAreNeverReadByAShell) {
  const ProcessResult echo = run_process({"echo", kHostileName});
  EXPECT_EQ(echo.exit_code, 0);
  EXPECT_EQ(echo.output, kHostileName + "\n");
  const std::string dir = test::scratch_dir("process");
  EXPECT_EQ(run_process({"pwd"}, dir).output, fs::canonical(dir).string() + "\n");
  EXPECT_EQ(run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}).output, "out\n");
  const ProcessResult both = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}, "", true);
  EXPECT_EQ(both.output, "out\nerr\n");
  EXPECT_EQ(both.exit_code, 3);
  EXPECT_THROW(run_process({"/nonexistent/program"}), std::runtime_error);
  EXPECT_TRUE(program_in_path("sh"));
  EXPECT_FALSE(program_in_path("no-such-program-ponder"));
}

EvalReport two_strategies() {
  EvalReport report;
  StrategySummary a;
  a.name = "greedy";
  a.accuracy = 0.5;
  a.generated_tokens = 80;
  a.wall_s = 0.5;
  StrategySummary b = a;
  b.name = "vote@4";
  b.accuracy = 0.7;
  b.generated_tokens = 320;
  b.wall_s = 0.75;
  report.strategies = {a, b};
  return report;
}

TEST(Plots, AnyOutputPathWorksAndRunsNothing) {
  if (!program_in_path("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  const fs::path root = test::scratch_dir("plots");
  const fs::path out = root / kHostileName;
  fs::create_directories(out);
  EXPECT_EQ(write_plots(out, two_strategies()), "");
  EXPECT_EQ(
      files_under(root),
      (std::vector<std::string>{
          kHostileName, kHostileName + "/accuracy_vs_tokens.png", kHostileName + "/accuracy_vs_tokens.svg",
          kHostileName + "/accuracy_vs_tokens.tsv", kHostileName + "/accuracy_vs_wall.png",
          kHostileName + "/accuracy_vs_wall.svg", kHostileName + "/accuracy_vs_wall.tsv"}));
  for (const char* stray : {"PWNED", "PWNED2", "PWNED3", "PWNED4"}) EXPECT_FALSE(fs::exists(stray)) << stray;
  EXPECT_GT(fs::file_size(out / "accuracy_vs_tokens.png"), 1000u);
  std::ifstream svg(out / "accuracy_vs_wall.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("vote@4"), std::string::npos);
}

TEST(Plots, FailuresNameTheFile) {
  if (!program_in_path("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  const fs::path out = test::scratch_dir("plots-fail");
  // gnuplot cannot write its image where a directory stands.
  fs::create_directories(out / "accuracy_vs_tokens.png.tmp");
  try {
    write_plots(out, two_strategies());
    FAIL() << "a plot that could not be written was reported as drawn";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write " + (out / "accuracy_vs_tokens.png").string()),
              std::string::npos)
        << e.what();
  }
  EvalReport nothing;
  nothing.strategies.resize(1);
  EXPECT_EQ(write_plots(out, nothing), "no strategy has a cost to plot");
}

}  // namespace
}  // namespace ponder::cli
