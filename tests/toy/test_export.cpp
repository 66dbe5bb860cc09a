// The trainer's export round trip: a model trained by ponder-train and written as GGUF
// gives the same logits in stock llama.cpp as in the trainer, on the same input.
//
// Tolerances (max |difference| of any logit): f32 matrices 1e-3, f16 matrices 5e-2.
// With f32 matrices both sides compute the same float32 network and differ only in
// summation order (measured ~1e-5); with f16 matrices llama.cpp also rounds the
// activations to f16 before each matrix product while the trainer keeps them f32
// (measured ~1e-2 on a trained smoke model whose logits span ~20). A wrong RoPE pairing,
// a transposed matrix or a misnamed tensor gives differences of order 1 or more.

#include <gtest/gtest.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "support/test_models.h"
#include "toy/dataset.h"
#include "toy/llama_gguf.h"
#include "toy/models.h"
#include "toy/vocab.h"

#ifndef PONDER_TRAIN_BIN
#error "PONDER_TRAIN_BIN must name the ponder-train executable"
#endif

namespace ponder::toy {
namespace {

const char* kText = "a=61; b=a-35; c=b*4; c?\nb: 61-40=21, 21+5=26\nc: 26*4=104\n#### 104";

void run(const std::string& args) {
  const std::string cmd = std::string(PONDER_TRAIN_BIN) + " " + args + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

struct Logits {
  int n_tokens = 0, n_vocab = 0;
  std::vector<float> values;
};

Logits trainer_logits(const std::string& model, const std::string& out) {
  run("logits -m " + model + " --text '" + std::string(kText) + "' -o " + out);
  Logits l;
  std::ifstream f(out, std::ios::binary);
  int32_t header[2] = {0, 0};
  f.read(reinterpret_cast<char*>(header), sizeof(header));
  l.n_tokens = header[0];
  l.n_vocab = header[1];
  l.values.resize(size_t(l.n_tokens) * size_t(l.n_vocab));
  f.read(reinterpret_cast<char*>(l.values.data()), std::streamsize(l.values.size() * sizeof(float)));
  EXPECT_TRUE(f) << "short logits file " << out;
  return l;
}

Logits llama_logits(const std::string& model_path) {
  llama_model_params mp = llama_model_default_params();
  std::unique_ptr<llama_model, decltype(&llama_model_free)> model(llama_model_load_from_file(model_path.c_str(), mp),
                                                                   llama_model_free);
  EXPECT_TRUE(model) << "llama.cpp cannot load " << model_path;
  if (!model) return {};
  std::vector<llama_token> tokens(512);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  const int n = llama_tokenize(vocab, kText, int32_t(std::strlen(kText)), tokens.data(), int32_t(tokens.size()),
                               true, false);
  EXPECT_GT(n, 0);
  tokens.resize(size_t(n));
  auto expected = toy_tokenize(kText);
  expected.insert(expected.begin(), kBosToken);
  EXPECT_EQ(tokens, expected) << "llama.cpp tokenizes differently from toy_tokenize";

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 256;
  cp.n_ubatch = 256;
  cp.n_threads = cp.n_threads_batch = 2;
  std::unique_ptr<llama_context, decltype(&llama_free)> ctx(llama_init_from_model(model.get(), cp), llama_free);
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = tokens[size_t(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = n;
  EXPECT_EQ(llama_decode(ctx.get(), batch), 0);
  Logits l;
  l.n_tokens = n;
  l.n_vocab = llama_vocab_n_tokens(vocab);
  for (int i = 0; i < n; ++i) {
    const float* row = llama_get_logits_ith(ctx.get(), i);
    l.values.insert(l.values.end(), row, row + l.n_vocab);
  }
  llama_batch_free(batch);
  return l;
}

float max_abs_difference(const Logits& a, const Logits& b) {
  EXPECT_EQ(a.n_tokens, b.n_tokens);
  EXPECT_EQ(a.n_vocab, b.n_vocab);
  if (a.values.size() != b.values.size()) return INFINITY;
  float worst = 0.0f;
  for (size_t i = 0; i < a.values.size(); ++i) worst = std::max(worst, std::fabs(a.values[i] - b.values[i]));
  return worst;
}

float logit_span(const Logits& l) {
  auto [lo, hi] = std::minmax_element(l.values.begin(), l.values.end());
  return *hi - *lo;
}

class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::scratch_dir("toy_export");
    run("init --preset smoke --seed 3 -o " + dir_ + "/init.gguf");
    // A short smoke training, so the exported weights are trained ones, not the init.
    run("reasoner --init " + dir_ + "/init.gguf --steps 15 --warmup 5 --threads 1 --f32 -o " + dir_ +
        "/smoke-f32.gguf");
    run("export -m " + dir_ + "/smoke-f32.gguf --f16 -o " + dir_ + "/smoke-f16.gguf");
    llama_backend_init();
  }
  static std::string dir_;
};
std::string ExportTest::dir_;

TEST_F(ExportTest, F32LogitsMatchLlamaCpp) {
  const std::string model = dir_ + "/smoke-f32.gguf";
  const Logits ours = trainer_logits(model, dir_ + "/f32.bin");
  const Logits theirs = llama_logits(model);
  EXPECT_GT(logit_span(ours), 1.0f) << "the smoke model's logits are flat: the test would prove nothing";
  const float diff = max_abs_difference(ours, theirs);
  std::printf("f32: max |logit difference| %.2e (logit span %.1f)\n", diff, logit_span(ours));
  EXPECT_LT(diff, 1e-3f);
}

TEST_F(ExportTest, F16LogitsMatchLlamaCpp) {
  const std::string model = dir_ + "/smoke-f16.gguf";
  const Logits ours = trainer_logits(model, dir_ + "/f16.bin");
  const Logits theirs = llama_logits(model);
  const float diff = max_abs_difference(ours, theirs);
  std::printf("f16: max |logit difference| %.2e (logit span %.1f)\n", diff, logit_span(ours));
  EXPECT_LT(diff, 5e-2f);
}

// A PRM run with replaced-digit documents that trains only the top layer: the file it
// writes has the embeddings and lower layers unchanged and the top layer changed.
TEST_F(ExportTest, PrmTrainingLeavesFrozenLayersAlone) {
  const std::string out = dir_ + "/prm-top.gguf";
  run("prm --init " + dir_ + "/smoke-f32.gguf --steps 3 --warmup 1 --digit-docs 0.5 --train-from-layer 1 "
      "--threads 1 --f32 -o " + out);
  const LlamaFile before = read_llama_gguf(dir_ + "/smoke-f32.gguf");
  const LlamaFile after = read_llama_gguf(out);
  ASSERT_EQ(before.tensors.size(), after.tensors.size());
  ASSERT_GE(before.shape.n_layer, 2);
  for (size_t i = 0; i < before.tensors.size(); ++i) {
    const std::string& name = before.tensors[i].name;
    const bool frozen = name == "token_embd.weight" || name.rfind("blk.0.", 0) == 0;
    const bool trained_matrix = name.rfind("blk.1.", 0) == 0 && name.find("norm") == std::string::npos;
    if (frozen) {
      EXPECT_EQ(before.tensors[i].data, after.tensors[i].data) << name;
    } else if (trained_matrix) {
      EXPECT_NE(before.tensors[i].data, after.tensors[i].data) << name;
    }
  }
}

// Two solved training problems, in the file format of `ponder toy-steps --write-samples`.
std::string write_reasoner_samples(const std::string& dir) {
  const std::string path = dir + "/reasoner-samples.jsonl";
  write_jsonl(path, training_sample(2, 3));
  return path;
}

// A PRM run with per-character flags and a reasoner's samples (the committed toy-prm's
// recipe, in miniature), measured on the test split's problems: it trains and says all
// three in the recipe it writes.
TEST_F(ExportTest, PrmTrainingWithPrefixFlags) {
  const std::string out = dir_ + "/prm-flags.gguf";
  run("prm --init " + dir_ + "/smoke-f32.gguf --steps 3 --warmup 1 --prefix-flags --flag-weight 2 --heldout test --threads 1 "
      "--reasoner-samples " + write_reasoner_samples(dir_) + " --samples-share 0.5 --f32 -o " + out);
  const LlamaFile before = read_llama_gguf(dir_ + "/smoke-f32.gguf");
  const LlamaFile after = read_llama_gguf(out);
  ASSERT_EQ(before.tensors.size(), after.tensors.size());
  EXPECT_NE(before.tensors.back().data, after.tensors.back().data) << before.tensors.back().name;
  std::string recipe;
  for (const auto& [key, value] : after.metadata) {
    if (key == "ponder.toy.recipe") recipe = value;
  }
  EXPECT_NE(recipe.find("prefix_flags=2"), std::string::npos) << recipe;
  EXPECT_NE(recipe.find("heldout=test"), std::string::npos) << recipe;
  EXPECT_NE(recipe.find("reasoner_samples=2 samples_share=0.5"), std::string::npos) << recipe;
}

// Settings that would be silently ignored are refused: a flag weight without flags, a
// samples share without samples, and flags beside per-character labels (which replace
// the targets the flags sit beside); so is a held-out split other than dev or test, or
// samples of dev questions (train problems are what it trains on).
TEST_F(ExportTest, PrmFlagSettingsThatWouldDoNothingAreRefused) {
  const std::string base = std::string(PONDER_TRAIN_BIN) + " prm --init " + dir_ + "/smoke-f32.gguf --steps 1 -o " +
                           dir_ + "/unused.gguf ";
  const std::string dev_samples = "--reasoner-samples " + toy_data_dir() + "/dev.jsonl";
  for (const std::string& bad :
       {std::string("--flag-weight 2"), std::string("--samples-share 0.5"), std::string("--prefix-flags --prefix-labels"),
        std::string("--heldout train"), dev_samples}) {
    const std::string cmd = base + bad + " > /dev/null 2>&1";
    EXPECT_NE(std::system(cmd.c_str()), 0) << cmd;
  }
}

}  // namespace
}  // namespace ponder::toy
