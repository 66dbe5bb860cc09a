#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "ponder/engine.h"
#include "ponder/generate.h"
#include "support/test_models.h"
#include "toy/llama_gguf.h"
#include "toy/vocab.h"

namespace ponder {
namespace {

// Logprobs computed in different batch compositions agree to this much. The CPU matmul
// kernels accumulate in a different order for different batch shapes, so results are
// equal only up to float rounding; 1e-3 nats is far below any difference that matters
// for sampling or scoring, and far above the ~1e-5 deviations measured here.
constexpr float kLogprobTolerance = 1e-3f;

std::shared_ptr<const Model> load(const std::string& preset) {
  static std::map<std::string, std::shared_ptr<const Model>> cache;
  auto& m = cache[preset];
  if (!m) m = Model::load(test::random_model_path(preset));
  return m;
}

// A model whose logits are all zero: every next token is equally likely.
std::shared_ptr<const Model> uniform_model() {
  static std::shared_ptr<const Model> model = [] {
    const std::string path = test::scratch_dir("uniform") + "/uniform.gguf";
    const toy::LlamaShape shape = {32, 1, 2, 2, 64, 512};
    auto weights = toy::random_llama_weights(shape, 7, 0.2f);
    for (auto& t : weights) {
      if (t.name == "output.weight") std::fill(t.data.begin(), t.data.end(), 0.0f);
    }
    toy::write_llama_gguf(path, shape, weights, {});
    return Model::load(path);
  }();
  return model;
}

std::vector<Token> prompt_of(const Model& model, const std::string& text) { return model.tokenize(text, true); }

EngineOptions options_for(KvLayout layout, int max_sequences = 8) {
  EngineOptions o;
  o.kv_layout = layout;
  o.max_sequences = max_sequences;
  o.context_per_sequence = 256;
  o.threads = 1;
  return o;
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

StopParams max_tokens(int n) {
  StopParams s;
  s.max_tokens = n;
  s.ignore_eos = true;
  return s;
}

// Full next-token distributions (log-softmax over the whole vocabulary) after each
// position of `continuation`, read with Engine::score.
std::vector<std::vector<float>> distributions(Engine& engine, SeqId seq, const std::vector<Token>& continuation) {
  std::vector<Token> all(size_t(engine.model().n_vocab()));
  std::iota(all.begin(), all.end(), 0);
  engine.score(seq, continuation, all);
  const SeqId ids[] = {seq};
  engine.run_until_done(ids);
  return engine.sequence(seq).score->candidate_logprobs;
}

void expect_close(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    for (size_t j = 0; j < a[i].size(); ++j) worst = std::max(worst, std::abs(a[i][j] - b[i][j]));
  }
  EXPECT_LE(worst, kLogprobTolerance);
}

class EngineEquivalence : public ::testing::TestWithParam<std::tuple<std::string, KvLayout>> {
 protected:
  std::shared_ptr<const Model> model_ = load(std::get<0>(GetParam()));
  KvLayout layout_ = std::get<1>(GetParam());
};

TEST_P(EngineEquivalence, BatchedEqualsAlone) {
  const std::vector<std::string> prompts = {"a=61; b=a-35;", "Hello there", "x", "12*34=", "The quick brown fox"};
  const std::vector<Token> continuation = prompt_of(*model_, "c=b*4;\n#### 104");
  std::vector<Token> cont(continuation.begin() + 1, continuation.end());

  Engine together(model_, options_for(layout_));
  const RequestId r = together.begin_request();
  std::vector<SeqId> seqs;
  std::vector<Token> all(size_t(model_->n_vocab()));
  std::iota(all.begin(), all.end(), 0);
  for (const auto& p : prompts) {
    seqs.push_back(together.add_sequence(r, prompt_of(*model_, p)));
    together.score(seqs.back(), cont, all);
  }
  together.run_until_done(seqs);
  EXPECT_EQ(together.stats().steps, 1) << "all five were scored in one llama_decode";

  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine alone(model_, options_for(layout_, 1));
    const SeqId s = alone.add_sequence(alone.begin_request(), prompt_of(*model_, prompts[i]));
    expect_close(together.sequence(seqs[i]).score->candidate_logprobs, distributions(alone, s, cont));
  }
}

TEST_P(EngineEquivalence, BatchedGreedyGenerationEqualsAlone) {
  const std::vector<std::string> prompts = {"one", "two two", "three three three", "4"};
  Engine together(model_, options_for(layout_));
  const RequestId r = together.begin_request();
  std::vector<SeqId> seqs;
  for (const auto& p : prompts) {
    seqs.push_back(together.add_sequence(r, prompt_of(*model_, p)));
    together.generate(seqs.back(), greedy(), max_tokens(24));
  }
  together.run_until_done(seqs);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Engine alone(model_, options_for(layout_, 1));
    auto set = generate_samples(alone, prompt_of(*model_, prompts[i]), 1, greedy(), max_tokens(24));
    const Sequence& s = together.sequence(seqs[i]);
    ASSERT_EQ(s.records.size(), 24u);
    EXPECT_EQ(s.text, set.samples[0].text);
    for (size_t k = 0; k < s.records.size(); ++k) {
      EXPECT_EQ(s.records[k].token, set.samples[0].records[k].token);
      EXPECT_NEAR(s.records[k].logprob, set.samples[0].records[k].logprob, kLogprobTolerance);
    }
  }
}

TEST_P(EngineEquivalence, ForkEqualsFreshPrefill) {
  const auto prompt = prompt_of(*model_, "a=12; b=a*3; c=b-7; c?\n");
  const auto tail = prompt_of(*model_, "b: 12*3=36\n");
  const std::vector<Token> cont(tail.begin() + 1, tail.end());

  Engine engine(model_, options_for(layout_));
  const RequestId r = engine.begin_request();
  const SeqId root = engine.add_sequence(r, prompt);
  const SeqId ids[] = {root};
  engine.run_until_done(ids);
  const auto forks = engine.fork(root, 3);
  engine.run_until_done(forks);
  std::vector<std::vector<std::vector<float>>> forked;
  for (SeqId f : forks) forked.push_back(distributions(engine, f, cont));

  Engine fresh_engine(model_, options_for(layout_, 1));
  const SeqId fresh = fresh_engine.add_sequence(fresh_engine.begin_request(), prompt);
  const auto expected = distributions(fresh_engine, fresh, cont);
  for (const auto& d : forked) expect_close(d, expected);
}

TEST_P(EngineEquivalence, TruncateEqualsNeverHavingDecodedTheTail) {
  const auto prompt = prompt_of(*model_, "Rollback: ");
  Engine engine(model_, options_for(layout_));
  const RequestId r = engine.begin_request();
  const SeqId seq = engine.add_sequence(r, prompt);
  engine.generate(seq, greedy(), max_tokens(30));
  const SeqId ids[] = {seq};
  engine.run_until_done(ids);
  const std::vector<Token> full = engine.sequence(seq).tokens;
  const size_t keep = prompt.size() + 6;
  engine.truncate(seq, keep);
  EXPECT_EQ(engine.sequence(seq).records.size(), 6u);
  const std::vector<Token> tail(full.begin() + long(keep), full.begin() + long(keep) + 10);
  const auto after_rollback = distributions(engine, seq, tail);

  Engine fresh_engine(model_, options_for(layout_, 1));
  const SeqId fresh =
      fresh_engine.add_sequence(fresh_engine.begin_request(), std::vector<Token>(full.begin(), full.begin() + long(keep)));
  expect_close(after_rollback, distributions(fresh_engine, fresh, tail));

  // And generation continues as if the tail had never been there.
  engine.truncate(seq, keep);
  engine.generate(seq, greedy(), max_tokens(12));
  engine.run_until_done(ids);
  const std::vector<Token> regenerated = engine.sequence(seq).tokens;
  EXPECT_EQ(std::vector<Token>(regenerated.begin(), regenerated.end()),
            std::vector<Token>(full.begin(), full.begin() + long(keep) + 12));
}

TEST_P(EngineEquivalence, ScoringAgreesWithGeneration) {
  const auto prompt = prompt_of(*model_, "Score me: ");
  SamplingParams sampling;
  sampling.temperature = 1.0f;
  sampling.seed = 5;
  Engine engine(model_, options_for(layout_));
  auto set = generate_samples(engine, prompt, 1, sampling, max_tokens(20));
  std::vector<Token> generated;
  for (const auto& rec : set.samples[0].records) generated.push_back(rec.token);

  const SeqId seq = engine.add_sequence(engine.begin_request(), prompt);
  engine.score(seq, generated);
  const SeqId ids[] = {seq};
  engine.run_until_done(ids);
  const ScoreResult& score = *engine.sequence(seq).score;
  ASSERT_EQ(score.logprobs.size(), generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    EXPECT_NEAR(score.logprobs[i], set.samples[0].records[i].logprob, kLogprobTolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, EngineEquivalence,
                         ::testing::Combine(::testing::Values("tiny", "tiny-gqa"),
                                            ::testing::Values(KvLayout::unified, KvLayout::split)),
                         [](const auto& info) {
                           return std::get<0>(info.param).substr(0, 4) + (std::get<0>(info.param).size() > 4 ? "Gqa" : "") +
                                  "_" + kv_layout_name(std::get<1>(info.param));
                         });

TEST(Engine, SameSeedSameSamples) {
  auto model = load("tiny");
  SamplingParams sampling;
  sampling.temperature = 0.9f;
  sampling.seed = 11;
  Engine a(model, options_for(KvLayout::automatic));
  Engine b(model, options_for(KvLayout::automatic));
  auto x = generate_samples(a, prompt_of(*model, "seeded"), 4, sampling, max_tokens(32));
  auto y = generate_samples(b, prompt_of(*model, "seeded"), 4, sampling, max_tokens(32));
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(x.samples[i].text, y.samples[i].text);
    EXPECT_EQ(x.samples[i].mean_logprob, y.samples[i].mean_logprob);
  }
  EXPECT_NE(x.samples[0].text, x.samples[1].text) << "sample i uses seed + i";
  sampling.seed = 12;
  auto z = generate_samples(a, prompt_of(*model, "seeded"), 4, sampling, max_tokens(32));
  EXPECT_EQ(z.samples[0].text, x.samples[1].text);
}

TEST(Engine, StopsAtMaxTokens) {
  auto model = load("tiny");
  Engine engine(model, options_for(KvLayout::automatic));
  auto set = generate_samples(engine, prompt_of(*model, "go"), 2, SamplingParams{}, max_tokens(17));
  for (const auto& s : set.samples) {
    EXPECT_EQ(s.records.size(), 17u);
    EXPECT_EQ(s.finish, FinishReason::max_tokens);
  }
}

TEST(Engine, StopsAtAStopStringAndLeavesItOut) {
  auto model = load("tiny");
  Engine engine(model, options_for(KvLayout::automatic));
  const auto prompt = prompt_of(*model, "stop");
  auto free_run = generate_samples(engine, prompt, 1, greedy(), max_tokens(40));
  const std::string text = free_run.samples[0].text;
  ASSERT_GE(text.size(), 12u);
  const std::string stop = text.substr(8, 3);
  StopParams s = max_tokens(40);
  s.stop = {"never-there", stop};
  auto stopped = generate_samples(engine, prompt, 1, greedy(), s);
  EXPECT_EQ(stopped.samples[0].finish, FinishReason::stop_string);
  EXPECT_EQ(stopped.samples[0].text, text.substr(0, text.find(stop)));
  EXPECT_LT(stopped.samples[0].records.size(), 40u);
}

TEST(Engine, StopsAtEndOfGenerationUnlessIgnored) {
  // Uniform logits: EOS has probability 1/354 per token; 64 sequences x 64 tokens draw it
  // several times for this seed.
  auto model = uniform_model();
  Engine engine(model, options_for(KvLayout::split, 64));
  SamplingParams sampling;
  sampling.seed = 3;
  StopParams stop;
  stop.max_tokens = 64;
  auto set = generate_samples(engine, prompt_of(*model, "e"), 64, sampling, stop);
  int eos = 0;
  for (const auto& s : set.samples) {
    if (s.finish != FinishReason::eos) {
      EXPECT_EQ(s.finish, FinishReason::max_tokens);
      continue;
    }
    ++eos;
    EXPECT_EQ(s.records.back().token, toy::kEosToken);
    for (size_t k = 0; k + 1 < s.records.size(); ++k) EXPECT_NE(s.records[k].token, toy::kEosToken);
  }
  EXPECT_GT(eos, 0);
  stop.ignore_eos = true;
  auto ignored = generate_samples(engine, prompt_of(*model, "e"), 64, sampling, stop);
  for (const auto& s : ignored.samples) EXPECT_EQ(s.finish, FinishReason::max_tokens);
}

TEST(Engine, RecordsModelEntropyAndTopLogprobs) {
  auto model = uniform_model();
  Engine engine(model, options_for(KvLayout::automatic));
  SamplingParams sampling;
  sampling.top_logprobs = 5;
  sampling.temperature = 0.3f;  // temperature must not change the recorded distribution
  auto set = generate_samples(engine, prompt_of(*model, "u"), 1, sampling, max_tokens(4));
  for (const auto& r : set.samples[0].records) {
    EXPECT_NEAR(r.entropy, std::log(double(toy::kVocabSize)), 1e-4);
    EXPECT_NEAR(r.logprob, -std::log(double(toy::kVocabSize)), 1e-4);
    ASSERT_EQ(r.top.size(), 5u);
  }
}

TEST(Engine, ContextFullStopsTheSequence) {
  auto model = load("tiny");
  EngineOptions o = options_for(KvLayout::split, 2);
  o.context_per_sequence = 32;
  Engine engine(model, o);
  const auto prompt = prompt_of(*model, "0123456789");
  auto set = generate_samples(engine, prompt, 2, SamplingParams{}, max_tokens(100));
  for (const auto& s : set.samples) {
    EXPECT_EQ(s.finish, FinishReason::context_full);
    EXPECT_EQ(prompt.size() + s.records.size(), 32u);
  }
  std::vector<Token> too_long(40, toy::toy_token_for_char('a'));
  EXPECT_THROW(engine.add_sequence(engine.begin_request(), too_long), std::invalid_argument);
}

TEST(Engine, MoreForksThanSlotsQueueAndMatch) {
  auto model = load("tiny");
  const auto prompt = prompt_of(*model, "queue");
  SamplingParams sampling;
  sampling.seed = 21;
  for (KvLayout layout : {KvLayout::unified, KvLayout::split}) {
    Engine wide(model, options_for(layout, 8));
    auto expected = generate_samples(wide, prompt, 8, sampling, max_tokens(20));
    Engine narrow(model, options_for(layout, 3));
    auto queued = generate_samples(narrow, prompt, 8, sampling, max_tokens(20));
    for (size_t i = 0; i < 8; ++i) EXPECT_EQ(queued.samples[i].text, expected.samples[i].text) << i;
    EXPECT_EQ(narrow.stats().live_sequences, 0);
  }
}

// Forks scored (or truncated) before they get a slot still take only the shared prefix
// from their source: each must score exactly as a fresh sequence would.
TEST(Engine, ForksGivenWorkBeforeTheyHaveASlotMatchFreshSequences) {
  auto model = load("tiny");
  const auto prompt = prompt_of(*model, "shared prefix ");
  const std::vector<std::vector<Token>> continuations = {
      model->tokenize("one", false), model->tokenize("two two", false), model->tokenize("three", false),
      model->tokenize("four four four", false)};
  for (KvLayout layout : {KvLayout::unified, KvLayout::split}) {
    Engine engine(model, options_for(layout, 3));
    const RequestId r = engine.begin_request();
    const SeqId root = engine.add_sequence(r, prompt);
    const std::vector<SeqId> forks = engine.fork(root, int(continuations.size()));
    engine.free(root);
    engine.truncate(forks[3], prompt.size() - 2);  // shorter than the shared prefix
    for (size_t i = 0; i < forks.size(); ++i) engine.score(forks[i], continuations[i]);
    std::vector<std::vector<float>> scored(forks.size());
    engine.run_until_done(forks, [&](SeqId id) {
      const size_t i = size_t(std::find(forks.begin(), forks.end(), id) - forks.begin());
      scored[i] = engine.sequence(id).score->logprobs;
      engine.free(id);
    });
    engine.end_request(r);
    for (size_t i = 0; i < forks.size(); ++i) {
      std::vector<Token> base = prompt;
      if (i == 3) base.resize(prompt.size() - 2);
      Engine fresh(model, options_for(layout, 1));
      const SeqId seq = fresh.add_sequence(fresh.begin_request(), base);
      fresh.score(seq, continuations[i]);
      const SeqId ids[] = {seq};
      fresh.run_until_done(ids);
      const auto& want = fresh.sequence(seq).score->logprobs;
      ASSERT_EQ(scored[i].size(), want.size()) << i;
      for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(scored[i][k], want[k], kLogprobTolerance) << i;
    }
    EXPECT_EQ(engine.stats().live_sequences, 0);
  }
}

// Split streams decode in one pass only over consecutive slots, so the engine moves
// sequences (a copy, or a swap through its spare stream when every slot is taken) to
// pack each batch. Every sequence must still generate exactly what it generates alone.
TEST(Engine, SequencesMovedToPackABatchDecodeAsAlone) {
  auto model = load("tiny");
  const std::vector<std::pair<std::string, int>> plan = {
      {"alpha", 3}, {"bravo bravo", 40}, {"charlie", 2}, {"delta delta delta", 40}, {"echo", 25}};
  Engine engine(model, options_for(KvLayout::split, 4));
  const RequestId r = engine.begin_request();
  std::vector<SeqId> seqs;
  auto start = [&](size_t i) {
    seqs.push_back(engine.add_sequence(r, prompt_of(*model, plan[i].first)));
    engine.generate(seqs.back(), greedy(), max_tokens(plan[i].second));
  };
  for (size_t i = 0; i < 4; ++i) start(i);
  // "charlie" finishes first and stays, idle, in slot 2: packing the other three swaps
  // it with "delta" through the spare. Then "alpha" finishes; freeing "charlie" leaves a
  // free slot for the next packing to move "alpha" into, and "echo" arrives after.
  std::vector<std::vector<TokenRecord>> got(plan.size());
  int phase = 0;
  while (std::any_of(seqs.begin(), seqs.end(), [&](SeqId s) { return engine.contains(s) && engine.busy(s); })) {
    engine.step();
    if (phase == 0 && !engine.busy(seqs[0])) {
      got[2] = engine.sequence(seqs[2]).records;
      engine.free(seqs[2]);
      phase = 1;
    } else if (phase == 1) {
      start(4);
      phase = 2;
    }
  }
  EXPECT_GE(engine.stats().slot_moves, 4);
  for (size_t i : {0, 1, 3, 4}) got[i] = engine.sequence(seqs[i]).records;
  for (size_t i = 0; i < plan.size(); ++i) {
    Engine alone(model, options_for(KvLayout::split, 1));
    const SeqId seq = alone.add_sequence(alone.begin_request(), prompt_of(*model, plan[i].first));
    alone.generate(seq, greedy(), max_tokens(plan[i].second));
    const SeqId ids[] = {seq};
    alone.run_until_done(ids);
    const auto& want = alone.sequence(seq).records;
    ASSERT_EQ(got[i].size(), want.size()) << plan[i].first;
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(got[i][k].token, want[k].token) << plan[i].first << " token " << k;
      EXPECT_NEAR(got[i][k].logprob, want[k].logprob, kLogprobTolerance) << plan[i].first << " token " << k;
    }
  }
}

TEST(Engine, StallIsAnErrorNotAHang) {
  auto model = load("tiny");
  Engine engine(model, options_for(KvLayout::automatic, 2));
  const RequestId r = engine.begin_request();
  engine.add_sequence(r, prompt_of(*model, "a"));
  engine.add_sequence(r, prompt_of(*model, "b"));
  const SeqId third = engine.add_sequence(r, prompt_of(*model, "c"));
  engine.generate(third, greedy(), max_tokens(4));
  const SeqId ids[] = {third};
  EXPECT_THROW(engine.run_until_done(ids), std::runtime_error);
}

TEST(Engine, CostsAddUp) {
  auto model = load("tiny");
  Engine engine(model, options_for(KvLayout::automatic));
  const auto prompt = prompt_of(*model, "cost accounting");
  auto set = generate_samples(engine, prompt, 4, SamplingParams{}, max_tokens(10));
  // The shared prompt is prefilled once; each fork decodes the shared last token itself.
  EXPECT_EQ(set.cost.prompt_tokens, int64_t(prompt.size() - 1 + 4));
  EXPECT_EQ(set.cost.generated_tokens, 40);
  EXPECT_EQ(set.cost.forward_passes, 1 + 10);
  EXPECT_GT(set.cost.wall_ms, 0.0);
  EXPECT_EQ(engine.stats().live_sequences, 0);
}

TEST(Engine, BadCallsAreClearErrors) {
  auto model = load("tiny");
  Engine engine(model, options_for(KvLayout::automatic));
  const RequestId r = engine.begin_request();
  EXPECT_THROW(engine.add_sequence(r, {}), std::invalid_argument);
  EXPECT_THROW(engine.add_sequence(r, {toy::kVocabSize}), std::invalid_argument);
  EXPECT_THROW(engine.add_sequence(999, {1}), std::invalid_argument);
  const SeqId s = engine.add_sequence(r, prompt_of(*model, "x"));
  EXPECT_THROW(engine.truncate(s, 0), std::invalid_argument);
  EXPECT_THROW(engine.score(s, {}), std::invalid_argument);
  engine.generate(s, greedy(), max_tokens(3));
  EXPECT_THROW(engine.fork(s, 2), std::logic_error);
  EXPECT_THROW(engine.generate(s, greedy(), max_tokens(3)), std::logic_error);
  engine.free(s);
  EXPECT_THROW(engine.sequence(s), std::invalid_argument);
  EngineOptions bad;
  bad.max_sequences = 257;
  EXPECT_THROW(Engine(model, bad), std::invalid_argument);
}

TEST(Engine, AutomaticLayoutIsSplit) {
  auto model = load("tiny");
  EXPECT_EQ(Engine(model, options_for(KvLayout::automatic, 16)).kv_layout(), KvLayout::split);
  EXPECT_EQ(Engine(model, options_for(KvLayout::unified, 16)).kv_layout(), KvLayout::unified);
}

}  // namespace
}  // namespace ponder
