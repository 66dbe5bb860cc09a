// KV cache types and GPU layers: names, validation, the sizes they imply, and decoding
// with quantized caches (a quantized V cache runs with flash attention).

#include <gtest/gtest.h>

#include "ponder/engine.h"
#include "ponder/engine_sizing.h"
#include "support/test_models.h"

namespace ponder {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

EngineOptions small_engine(KvCacheTypes types, KvLayout layout = KvLayout::automatic) {
  EngineOptions o;
  o.max_sequences = 2;
  o.context_per_sequence = 128;
  o.threads = 1;
  o.kv_layout = layout;
  o.kv_cache = types;
  return o;
}

// 16 greedy tokens after a fixed prompt, with their logprobs.
std::vector<TokenRecord> greedy_records(Engine& engine) {
  const RequestId r = engine.begin_request();
  const SeqId s = engine.add_sequence(r, engine.model().tokenize("a=12; b=a*3; b?\n", true));
  SamplingParams greedy;
  greedy.temperature = 0;
  StopParams stop;
  stop.max_tokens = 16;
  stop.ignore_eos = true;
  engine.generate(s, greedy, stop);
  const SeqId ids[] = {s};
  engine.run_until_done(ids);
  return engine.sequence(s).records;
}

std::vector<Token> greedy_tokens(Engine& engine) {
  std::vector<Token> out;
  for (const auto& rec : greedy_records(engine)) out.push_back(rec.token);
  return out;
}

TEST(KvCacheTypes, NamesRoundTripAndUnknownOnesAreRefusedWithTheList) {
  for (const char* name : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"}) {
    EXPECT_STREQ(kv_cache_type_name(parse_kv_cache_type(name)), name);
  }
  EXPECT_FALSE(is_quantized(KvCacheType::f16));
  EXPECT_TRUE(is_quantized(KvCacheType::q4_0));
  const std::string e = error_of([] { parse_kv_cache_type("q3_k"); });
  EXPECT_NE(e.find("unknown KV cache type 'q3_k'"), std::string::npos) << e;
  EXPECT_NE(e.find("f32, f16, bf16, q8_0"), std::string::npos) << e;
}

TEST(KvCacheTypes, AQuantizedVCacheNeedsTheSplitLayout) {
  const std::string e = error_of([] { small_engine({KvCacheType::f16, KvCacheType::q8_0}, KvLayout::unified).validate(); });
  EXPECT_NE(e.find("kv_cache.v"), std::string::npos) << e;
  EXPECT_NE(e.find("flash attention"), std::string::npos) << e;
  EXPECT_NO_THROW(small_engine({KvCacheType::q8_0, KvCacheType::f16}, KvLayout::unified).validate());
  EXPECT_NO_THROW(small_engine({KvCacheType::q8_0, KvCacheType::q8_0}, KvLayout::split).validate());
}

TEST(KvCacheTypes, AHeadSizeTheBlockDoesNotDivideIsRefusedNotAborted) {
  // The tiny model's heads are 16 wide; q8_0 and q4_0 store blocks of 32.
  auto tiny = Model::load(test::random_model_path("tiny"));
  const std::string e = error_of([&] { Engine(tiny, small_engine({KvCacheType::q8_0, KvCacheType::f16})); });
  EXPECT_NE(e.find("kv_cache.k"), std::string::npos) << e;
  EXPECT_NE(e.find("head size of 16"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { Engine(tiny, small_engine({KvCacheType::f16, KvCacheType::q4_0})); }).find("kv_cache.v"),
            std::string::npos);
  // The float types fit any head.
  for (KvCacheType t : {KvCacheType::f32, KvCacheType::bf16}) {
    Engine engine(tiny, small_engine({t, t}));
    EXPECT_EQ(greedy_tokens(engine).size(), 16u) << kv_cache_type_name(t);
  }
}

TEST(KvCacheTypes, QuantizedCachesDecodeAndF32MatchesF16Closely) {
  // bench-1m's heads are 32 wide.
  auto model = Model::load(test::random_model_path("bench-1m"));
  Engine f16(model, small_engine({}));
  const std::vector<TokenRecord> reference = greedy_records(f16);
  // The first token reads the prompt's keys and values only: f32 and f16 caches agree on
  // its distribution up to f16 rounding (later tokens could part at a near tie).
  Engine f32(model, small_engine({KvCacheType::f32, KvCacheType::f32}));
  const std::vector<TokenRecord> wide = greedy_records(f32);
  ASSERT_EQ(wide.size(), 16u);
  EXPECT_EQ(wide[0].token, reference[0].token);
  EXPECT_NEAR(wide[0].logprob, reference[0].logprob, 0.02);
  for (KvCacheTypes types : {KvCacheTypes{KvCacheType::q8_0, KvCacheType::q8_0}, KvCacheTypes{KvCacheType::q4_0, KvCacheType::q4_0},
                             KvCacheTypes{KvCacheType::q8_0, KvCacheType::f16}}) {
    Engine quantized(model, small_engine(types));
    EXPECT_EQ(greedy_tokens(quantized).size(), 16u) << kv_cache_type_name(types.k) << "/" << kv_cache_type_name(types.v);
  }
  // Unified keys may be quantized (no flash attention needed for K).
  Engine unified(model, small_engine({KvCacheType::q8_0, KvCacheType::f16}, KvLayout::unified));
  EXPECT_EQ(greedy_tokens(unified).size(), 16u);
}

TEST(KvCacheTypes, SizingCountsTheTypesBytes) {
  auto model = Model::load(test::random_model_path("bench-1m"));
  const int64_t f16 = kv_bytes_per_token(*model);
  EXPECT_EQ(kv_bytes_per_token(*model, {KvCacheType::f32, KvCacheType::f32}), 2 * f16);
  // q8_0: 34 bytes per block of 32 values.
  EXPECT_EQ(kv_bytes_per_token(*model, {KvCacheType::q8_0, KvCacheType::q8_0}), f16 * 34 / 64);
  Workload w;
  w.kv_cache = {KvCacheType::q4_0, KvCacheType::q8_0};
  const EngineOptions o = engine_options_for(*model, w);
  EXPECT_EQ(o.kv_cache.k, KvCacheType::q4_0);
  EXPECT_EQ(o.kv_cache.v, KvCacheType::q8_0);
}

TEST(GpuLayers, AreCheckedAndRecorded) {
  ModelOptions o;
  o.gpu_layers = -2;
  EXPECT_NE(error_of([&] { o.validate(); }).find("gpu_layers"), std::string::npos);
  EXPECT_THROW(Model::load(test::random_model_path("tiny"), o), std::invalid_argument);
  // Any count loads; without a GPU backend every layer stays on the CPU.
  o.gpu_layers = 99;
  auto model = Model::load(test::random_model_path("tiny"), o);
  EXPECT_EQ(model->options().gpu_layers, 99);
  Engine engine(model, small_engine({}));
  EXPECT_EQ(greedy_tokens(engine).size(), 16u);
}

}  // namespace
}  // namespace ponder
