// The difficulty probe: its logistic regression and AUC, its file, the hidden states it
// reads, and the runtime handing P(greedy right) to a strategy.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "eval/content_hash.h"
#include "ponder/hidden_state.h"
#include "ponder/probe.h"
#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

TEST(RocAuc, CountsOrderedPairsAndHalfTies) {
  const std::vector<int> labels = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.1, 0.2, 0.3, 0.4}, labels), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.4, 0.3, 0.2, 0.1}, labels), 0.0);
  // Pairs (neg, pos): (0.1,0.2) right, (0.1,0.3) right, (0.3,0.2) wrong, (0.3,0.3) tie.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.1, 0.3, 0.2, 0.3}, labels), 2.5 / 4.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{1, 1, 1, 1}, labels), 0.5);
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1})));
  EXPECT_THROW(roc_auc(std::vector<double>{0.1}, labels), std::invalid_argument);
}

// Two features, one informative (shifted by the label) and one noise, on very different
// scales: standardisation makes the penalty treat them alike.
void synthetic(size_t n, uint64_t seed, std::vector<std::vector<float>>& x, std::vector<int>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  x.clear();
  y.clear();
  for (size_t i = 0; i < n; ++i) {
    const int label = int(rng() % 2);
    x.push_back({float(1000.0 * (normal(rng) + 1.5 * label)), float(0.001 * normal(rng)), 7.0f});
    y.push_back(label);
  }
}

TEST(DifficultyProbe, FitsAnInformativeFeatureAndPredictsHeldOutData) {
  std::vector<std::vector<float>> x, test_x;
  std::vector<int> y, test_y;
  synthetic(400, 1, x, y);
  synthetic(400, 2, test_x, test_y);
  const DifficultyProbe probe = DifficultyProbe::fit(x, y);
  EXPECT_EQ(probe.features(), 3);
  EXPECT_EQ(probe.info.examples, 400);
  EXPECT_EQ(probe.info.folds, 5);
  // The Bayes AUC of two unit normals 1.5 apart is Phi(1.5 / sqrt 2) = 0.856.
  EXPECT_NEAR(probe.info.cross_validated.auc, 0.856, 0.05);
  EXPECT_NEAR(probe.info.training.auc, 0.856, 0.05);
  std::vector<double> scores;
  for (const auto& row : test_x) scores.push_back(probe.p_correct(row));
  EXPECT_NEAR(roc_auc(scores, test_y), 0.856, 0.05);
  // Calibrated: about half of the examples are right, and so is the mean prediction.
  double mean = 0.0;
  for (double s : scores) mean += s;
  EXPECT_NEAR(mean / double(scores.size()), 0.5, 0.07);
  EXPECT_THROW(probe.p_correct(std::vector<float>{1.0f}), std::invalid_argument);
}

TEST(DifficultyProbe, IsDeterministic) {
  std::vector<std::vector<float>> x;
  std::vector<int> y;
  synthetic(120, 3, x, y);
  const DifficultyProbe a = DifficultyProbe::fit(x, y);
  const DifficultyProbe b = DifficultyProbe::fit(x, y);
  EXPECT_EQ(a.info.l2, b.info.l2);
  for (const auto& row : x) EXPECT_EQ(a.p_correct(row), b.p_correct(row));
}

TEST(DifficultyProbe, ALargerPenaltyShrinksTowardTheBaseRate) {
  std::vector<std::vector<float>> x;
  std::vector<int> y;
  synthetic(200, 4, x, y);
  ProbeFitOptions strong;
  strong.l2 = {1e4};
  const DifficultyProbe flat = DifficultyProbe::fit(x, y, strong);
  double positives = 0;
  for (int label : y) positives += label;
  for (const auto& row : x) EXPECT_NEAR(flat.p_correct(row), positives / double(y.size()), 0.01);
}

TEST(DifficultyProbe, RefusesBadInput) {
  std::vector<std::vector<float>> x = {{1.0f}, {2.0f}, {3.0f}, {4.0f}};
  EXPECT_THROW(DifficultyProbe::fit({}, {}), std::invalid_argument);
  EXPECT_THROW(DifficultyProbe::fit(x, {1, 1, 1, 1}), std::invalid_argument);  // one class
  EXPECT_THROW(DifficultyProbe::fit(x, {0, 1, 2, 0}), std::invalid_argument);
  EXPECT_THROW(DifficultyProbe::fit(x, {0, 1}), std::invalid_argument);
  EXPECT_THROW(DifficultyProbe::fit({{1.0f}, {1.0f, 2.0f}}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(DifficultyProbe::fit({{1.0f}, {NAN}}, {0, 1}), std::invalid_argument);
  ProbeFitOptions options;
  options.folds = 5;
  EXPECT_THROW(DifficultyProbe::fit(x, {0, 1, 0, 1}, options), std::invalid_argument);  // more folds than examples
  options.folds = 2;
  options.l2 = {-1.0};
  EXPECT_THROW(DifficultyProbe::fit(x, {0, 1, 0, 1}, options), std::invalid_argument);
}

TEST(DifficultyProbe, SavesAndLoadsTheSameProbe) {
  std::vector<std::vector<float>> x;
  std::vector<int> y;
  synthetic(100, 5, x, y);
  DifficultyProbe probe = DifficultyProbe::fit(x, y);
  probe.info.model = "m.gguf";
  probe.info.model_sha256 = std::string(64, 'a');
  probe.info.data = "dev.jsonl";
  const std::string path = test::scratch_dir("probe-file") + "/m.probe.json";
  probe.save(path);
  const DifficultyProbe loaded = DifficultyProbe::load(path);
  EXPECT_EQ(loaded.features(), 3);
  EXPECT_EQ(loaded.info.model, "m.gguf");
  EXPECT_EQ(loaded.info.model_sha256, probe.info.model_sha256);
  EXPECT_EQ(loaded.info.examples, 100);
  EXPECT_DOUBLE_EQ(loaded.info.cross_validated.auc, probe.info.cross_validated.auc);
  // Weights are stored at float precision.
  for (const auto& row : x) EXPECT_NEAR(loaded.p_correct(row), probe.p_correct(row), 1e-5);
}

std::string load_error(const std::string& text) {
  const std::string path = test::scratch_dir("probe-bad") + "/bad.probe.json";
  std::ofstream(path) << text;
  try {
    DifficultyProbe::load(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(DifficultyProbe, BadFilesAreClearErrors) {
  EXPECT_NE(load_error("{").find("bad probe file"), std::string::npos);
  EXPECT_NE(load_error("[]").find("not a ponder difficulty probe"), std::string::npos);
  EXPECT_NE(load_error(R"({"format": "ponder-difficulty-probe", "version": 9})").find("version 9"), std::string::npos);
  EXPECT_NE(load_error(R"({"format": "ponder-difficulty-probe", "version": 1})").find("bad probe file"),
            std::string::npos);
  try {
    DifficultyProbe::load("/nonexistent/x.probe.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the probe"), std::string::npos) << e.what();
  }
}

TEST(DifficultyProbe, DefaultPathSitsBesideTheModel) {
  EXPECT_EQ(default_probe_path("models/toy-reasoner-l.gguf"), "models/toy-reasoner-l.probe.json");
}

// --- hidden states

TEST(HiddenStateReader, ReadsTheLastTokensStateDeterministically) {
  auto model = Model::load(test::random_model_path("tiny"));
  HiddenStateReader reader(model, 1, 64);
  EXPECT_EQ(reader.size(), model->n_embd());
  const auto a = reader.read(model->tokenize("a=3; b=a*2; b?\n", true));
  const auto b = reader.read(model->tokenize("a=3; b=a*2; b?\n", true));
  const auto c = reader.read(model->tokenize("a=9; b=a-2; b?\n", true));
  ASSERT_EQ(a.size(), size_t(model->n_embd()));
  EXPECT_EQ(a, b);  // the cache is cleared between reads
  EXPECT_NE(a, c);
  EXPECT_EQ(reader.tokens_read(), 3 * 16);
  EXPECT_EQ(reader.forward_passes(), 3);
  EXPECT_THROW(reader.read(model->tokenize(std::string(80, 'x'), true)), std::invalid_argument);
  EXPECT_THROW(reader.read(std::vector<Token>{}), std::invalid_argument);
}

// --- the runtime

// Reports the probe's reading as its confidence.
class ProbeReader : public StrategyBase {
 public:
  ProbeReader() : StrategyBase("probe-reader", 1, {}) {}
  Task<StrategyResult> run(QuestionRun& q) const override {
    StrategyResult r;
    const std::optional<double> p = q.probe_p_correct();
    r.confidence = p.value_or(-1.0);
    r.stop_reason = p ? "probed" : "no probe";
    co_return r;
  }
};

TEST(ProbeRuntime, GivesAStrategyTheProbesReadingOfItsPrompt) {
  auto model = Model::load(test::random_model_path("tiny"));
  EngineOptions options;
  options.max_sequences = 4;
  options.threads = 1;
  Engine engine(model, options);
  HiddenStateReader reader(model);
  const std::vector<std::string> questions = {"a=1; b?", "a=2; b=a+1; b?", "a=7; b?", "a=5; b=a*3; b?"};
  std::vector<std::vector<float>> x;
  for (const auto& q : questions) x.push_back(reader.read(format_question(*model, q)));
  auto probe = std::make_shared<DifficultyProbe>(DifficultyProbe::fit(x, {1, 0, 1, 0}, {.folds = 2}));
  const auto strategy = std::make_shared<ProbeReader>();

  Runtime without(engine, {.max_in_flight = 1});
  EXPECT_EQ(without.run({Job{strategy, questions[0], {}, {}}}).front().stop_reason, "no probe");

  Runtime runtime(engine, {.max_in_flight = 1});
  // Fitted for another model: refused.
  probe->info.model_sha256 = std::string(64, '0');
  EXPECT_THROW(runtime.set_probe(probe), std::invalid_argument);
  probe->info.model_sha256 = eval::cached_file_sha256(model->path());
  runtime.set_probe(probe);
  for (size_t i = 0; i < questions.size(); ++i) {
    const StrategyResult r = runtime.run({Job{strategy, questions[i], {}, {}}}).front();
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_DOUBLE_EQ(r.confidence, probe->p_correct(x[i]));
    // The probe's prefill is the question's cost.
    EXPECT_EQ(r.cost.prompt_tokens, int64_t(format_question(*model, questions[i]).size()));
  }
}

}  // namespace
}  // namespace ponder
