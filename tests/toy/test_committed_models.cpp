// The committed toy models: their checksums match models/SHA256SUMS, stock llama.cpp
// (through ponder's engine) loads them, and the default reasoner does the task.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "ponder/engine.h"
#include "ponder/generate.h"
#include "toy/dataset.h"
#include "toy/models.h"
#include "toy/vocab.h"

namespace ponder::toy {
namespace {

TEST(ToyModels, ChecksumsMatch) {
  const std::string dir = models_dir();
  ASSERT_TRUE(std::filesystem::exists(dir + "/SHA256SUMS")) << dir;
  const std::string cmd = "cd '" + dir + "' && sha256sum --check --quiet SHA256SUMS";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "a committed model differs from models/SHA256SUMS";
}

TEST(ToyModels, AllLoadWithTheSharedVocabulary) {
  for (const std::string& path : {default_reasoner_path(), small_reasoner_path(), prm_path()}) {
    auto model = Model::load(path);
    EXPECT_EQ(model->n_vocab(), kVocabSize) << path;
    EXPECT_EQ(model->bos(), kBosToken) << path;
    EXPECT_EQ(model->eos(), kEosToken) << path;
    const auto tokens = model->tokenize("a=61; b=a-35; b?\n", false);
    const auto want = toy_tokenize("a=61; b=a-35; b?\n");
    EXPECT_EQ(std::vector<int32_t>(tokens.begin(), tokens.end()), want) << path;
  }
  EXPECT_LT(Model::load(small_reasoner_path())->n_params(), Model::load(default_reasoner_path())->n_params());
}

TEST(ToyModels, DefaultReasonerSolvesOneStepProblems) {
  auto model = Model::load(default_reasoner_path());
  EngineOptions options;
  options.max_sequences = 1;
  options.context_per_sequence = 256;
  Engine engine(model, options);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  StopParams stop;
  stop.max_tokens = 100;
  int solved = 0, asked = 0;
  for (const auto& e : read_jsonl(toy_data_dir() + "/dev.jsonl")) {
    if (e.difficulty.steps != 1) continue;
    const auto out = generate_samples(engine, model->tokenize(reasoner_prompt(e.question), true), 1, greedy, stop);
    solved += extract_answer(out.samples[0].text) == std::stoll(e.answer);
    ++asked;
  }
  ASSERT_GT(asked, 20);
  EXPECT_GT(double(solved) / asked, 0.7) << solved << " of " << asked;
}

}  // namespace
}  // namespace ponder::toy
