// Sizing an engine for a workload: the options it picks, and what it refuses before
// anything is allocated.

#include <gtest/gtest.h>

#include <stdexcept>

#include "ponder/engine_sizing.h"
#include "support/test_models.h"

namespace ponder {
namespace {

std::string error_of(const Model& model, const Workload& w) {
  try {
    engine_options_for(model, w);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Sizing, FitsTheWorkloadAndTheModel) {
  auto model = Model::load(test::random_model_path("tiny"));  // context 512
  Workload w;
  w.sequences = 5;
  w.prompt_tokens = 10;
  w.max_new_tokens = 100;
  const EngineOptions o = engine_options_for(*model, w);
  EXPECT_EQ(o.max_sequences, 5);
  EXPECT_EQ(o.context_per_sequence, 111);
  EXPECT_EQ(o.batch_tokens, 512);
  EXPECT_EQ(o.threads, 0);
  Engine engine(model, o);
  EXPECT_EQ(engine.context_per_sequence(), 111);

  w.max_new_tokens = 1 << 20;  // more than the model's context: capped, samples stop at its end
  EXPECT_EQ(engine_options_for(*model, w).context_per_sequence, 512);
  w.sequences = 100000;  // more than the engine's slots: the rest queue
  EXPECT_EQ(engine_options_for(*model, w).max_sequences, max_engine_sequences());
  EXPECT_EQ(engine_options_for(*model, w).batch_tokens, std::max(512, max_engine_sequences()));
}

TEST(Sizing, RefusesAPromptLongerThanTheContext) {
  auto model = Model::load(test::random_model_path("tiny"));
  Workload w;
  w.prompt_tokens = 510;
  EXPECT_NO_THROW(engine_options_for(*model, w));
  w.prompt_tokens = 511;
  EXPECT_NE(
      error_of(*model, w).find("the prompt has 511 tokens; the model's context is 512 tokens (at most 510"),
      std::string::npos)
      << error_of(*model, w);
}

TEST(Sizing, RefusesACacheLargerThanTheMemoryLimit) {
  auto model = Model::load(test::random_model_path("tiny"));
  const int64_t per_token = kv_bytes_per_token(*model);
  EXPECT_EQ(per_token, 2 * 2 * 64 * 2) << "K and V, 2 layers, 64 wide, f16";
  Workload w;
  w.sequences = 16;  // 17 streams with the split layout's spare
  w.prompt_tokens = 10;
  w.max_new_tokens = 100;
  w.memory_limit = per_token * 17 * 111;
  EXPECT_NO_THROW(engine_options_for(*model, w));
  w.memory_limit = per_token * 1000;  // 58 cells a stream
  const std::string error = error_of(*model, w);
  EXPECT_NE(error.find("the KV cache for 16 sequences of 111 tokens"), std::string::npos) << error;
  EXPECT_NE(error.find("at most 47 new tokens per sequence fit"), std::string::npos) << error;
  w.prompt_tokens = 60;
  EXPECT_NE(error_of(*model, w).find("not even this prompt of 60 tokens fits"), std::string::npos);
  EXPECT_GT(default_kv_memory_limit(), 0);
}

TEST(Sizing, RefusesBadWorkloads) {
  auto model = Model::load(test::random_model_path("tiny"));
  for (auto edit : {+[](Workload& w) { w.sequences = 0; }, +[](Workload& w) { w.prompt_tokens = -1; },
                    +[](Workload& w) { w.max_new_tokens = 0; }, +[](Workload& w) { w.threads = -1; },
                    +[](Workload& w) { w.threads = max_engine_threads() + 1; },
                    +[](Workload& w) { w.memory_limit = -5; }}) {
    Workload w;
    edit(w);
    EXPECT_THROW(engine_options_for(*model, w), std::invalid_argument);
  }
  Workload w;
  w.threads = max_engine_threads();
  EXPECT_NO_THROW(engine_options_for(*model, w));
}

TEST(Sizing, RefusesTextByItsSizeAlone) {
  auto model = Model::load(test::random_model_path("tiny"));
  const int64_t most = 10 * model->max_token_bytes();
  EXPECT_NO_THROW(check_text_fits(*model, std::string(size_t(most), 'a'), 10, "the question"));
  try {
    check_text_fits(*model, std::string(size_t(most) + 1, 'a'), 10, "the question");
    FAIL() << "a text too long for 10 tokens was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the question has " + std::to_string(most + 1) + " bytes; at most " +
                                         std::to_string(most) + " can fit in 10 tokens"),
              std::string::npos)
        << e.what();
  }
}

TEST(Sizing, ReplicasForSmallModelsShareTheThreads) {
  auto tiny = Model::load(test::random_model_path("tiny"));  // 0.5 MB of weights
  EngineOptions one;
  one.max_sequences = 4;
  one.context_per_sequence = 64;
  for (const auto& [threads, replicas] : {std::pair{1, 1}, {3, 3}, {64, 8}}) {
    one.threads = threads;
    EXPECT_EQ(automatic_replicas(*tiny, one), replicas) << threads << " threads";
  }
  one.threads = 0;
  EXPECT_EQ(automatic_replicas(*tiny, one), std::min(default_threads(), 8));
  // Replicas whose KV caches would not fit in memory together: as many as fit.
  one.threads = 8;
  one.max_sequences = 255;
  one.context_per_sequence = int(default_kv_memory_limit() / (2 * 256 * kv_bytes_per_token(*tiny)));
  EXPECT_EQ(automatic_replicas(*tiny, one), 2);

  EngineOptions o;
  o.threads = 5;
  o.max_sequences = 12;
  const auto three = replica_options(o, 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].threads + three[1].threads + three[2].threads, 5);
  for (const auto& r : three) {
    EXPECT_GE(r.threads, 1);
    EXPECT_EQ(r.max_sequences, 12);
  }
  EXPECT_EQ(replica_options(o, 8).back().threads, 1) << "more replicas than threads: one each";
  EXPECT_THROW(replica_options(o, 0), std::invalid_argument);
  EXPECT_THROW(replica_options(o, 65), std::invalid_argument);
}

}  // namespace
}  // namespace ponder
