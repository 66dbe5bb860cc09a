// The engine's prompt cache: freed prompts kept with their KV, copied into later
// prompts that share a prefix, evicted least recently used first and whenever live work
// needs a slot; decoding is the same with or without it.

#include <gtest/gtest.h>

#include "ponder/engine.h"
#include "support/test_models.h"

namespace ponder {
namespace {

std::shared_ptr<const Model> tiny() {
  static std::shared_ptr<const Model> model = Model::load(test::random_model_path("tiny"));
  return model;
}

std::vector<Token> tokens(const std::string& text) { return tiny()->tokenize(text, true); }

EngineOptions cached_engine(int prompt_cache, int max_sequences = 8) {
  EngineOptions o;
  o.max_sequences = max_sequences;
  o.context_per_sequence = 256;
  o.threads = 1;
  o.prompt_cache = prompt_cache;
  return o;
}

const std::string kSystem = "You are a careful calculator. Show each step.\n";

// Prefills `prompt` as a request of its own, then frees it (into the cache, if on).
void prefill_and_free(Engine& engine, const std::string& prompt) {
  const RequestId r = engine.begin_request();
  const SeqId s = engine.add_sequence(r, tokens(prompt));
  engine.run_until_idle();
  engine.free(s);
  engine.end_request(r);
}

struct Generated {
  std::vector<TokenRecord> records;
  Cost cost;
};

// Samples 24 tokens after `prompt` (seeded, temperature 1) as a request of its own.
Generated generate(Engine& engine, const std::string& prompt) {
  const RequestId r = engine.begin_request();
  const SeqId s = engine.add_sequence(r, tokens(prompt));
  SamplingParams sampling;
  sampling.seed = 11;
  StopParams stop;
  stop.max_tokens = 24;
  stop.ignore_eos = true;
  engine.generate(s, sampling, stop);
  const SeqId ids[] = {s};
  engine.run_until_done(ids);
  Generated g{engine.sequence(s).records, {}};
  engine.free(s);
  g.cost = engine.end_request(r);
  return g;
}

TEST(PromptCache, ASharedPrefixIsCopiedNotDecodedAndDecodesTheSame) {
  const std::string first = kSystem + "a=3; b=a*2; b?\n";
  const std::string second = kSystem + "x=7; y=x+5; y?\n";
  Engine with_cache(tiny(), cached_engine(2));
  prefill_and_free(with_cache, first);
  EXPECT_EQ(with_cache.stats().cached_sequences, 1);
  EXPECT_EQ(with_cache.stats().live_sequences, 0);
  const Generated cached = generate(with_cache, second);

  Engine without(tiny(), cached_engine(0));
  prefill_and_free(without, first);
  EXPECT_EQ(without.stats().cached_sequences, 0);
  const Generated plain = generate(without, second);

  // The shared prefix: the system prompt's tokens and the BOS before them.
  const std::vector<Token> a = tokens(first), b = tokens(second);
  size_t shared = 0;
  while (a[shared] == b[shared]) ++shared;
  EXPECT_EQ(cached.cost.cached_tokens, int64_t(shared));
  EXPECT_EQ(cached.cost.prompt_tokens + cached.cost.cached_tokens, plain.cost.prompt_tokens);
  EXPECT_EQ(plain.cost.cached_tokens, 0);
  EXPECT_EQ(with_cache.stats().prompt_cache_hits, 1);
  EXPECT_EQ(with_cache.stats().prompt_cache_tokens, int64_t(shared));

  ASSERT_EQ(cached.records.size(), plain.records.size());
  for (size_t k = 0; k < plain.records.size(); ++k) {
    EXPECT_EQ(cached.records[k].token, plain.records[k].token) << "token " << k;
    EXPECT_NEAR(cached.records[k].logprob, plain.records[k].logprob, 1e-3f) << "token " << k;
  }
}

TEST(PromptCache, TheSamePromptAgainDecodesOnlyItsLastToken) {
  Engine engine(tiny(), cached_engine(2));
  const std::string prompt = kSystem + "a=3; b=a*2; b?\n";
  const Generated first = generate(engine, prompt);
  prefill_and_free(engine, prompt);
  const Generated again = generate(engine, prompt);
  EXPECT_EQ(again.cost.cached_tokens, int64_t(tokens(prompt).size()) - 1);
  EXPECT_EQ(again.cost.prompt_tokens, 1) << "only the last token, decoded as the first generation step";
  for (size_t k = 0; k < first.records.size(); ++k) EXPECT_EQ(again.records[k].token, first.records[k].token);
}

TEST(PromptCache, ShortOrGeneratedPrefixesAreNotKept) {
  Engine engine(tiny(), cached_engine(4));
  prefill_and_free(engine, "abc");  // fewer than kMinPromptCacheMatch tokens
  EXPECT_EQ(engine.stats().cached_sequences, 0);
  generate(engine, kSystem);  // its KV holds generated tokens
  EXPECT_EQ(engine.stats().cached_sequences, 0);
  // A prompt that shares fewer than kMinPromptCacheMatch tokens with a kept one decodes whole.
  prefill_and_free(engine, kSystem);
  const Generated other = generate(engine, "Be brief.\n");
  EXPECT_EQ(other.cost.cached_tokens, 0);
}

TEST(PromptCache, KeepsAtMostItsSizeLeastRecentlyUsedOut) {
  Engine engine(tiny(), cached_engine(2));
  const std::string a = "first prompt, long enough\n", b = "second prompt, long enough\n",
                    c = "third prompt, long enough\n";
  prefill_and_free(engine, a);
  prefill_and_free(engine, b);
  // A kept prompt's last token is not in its KV (the engine keeps every sequence's last token out).
  EXPECT_EQ(generate(engine, a + "more").cost.cached_tokens, int64_t(tokens(a).size()) - 1);  // a: most recent now
  prefill_and_free(engine, c);  // evicts b
  EXPECT_EQ(engine.stats().cached_sequences, 2);
  EXPECT_EQ(engine.stats().prompt_cache_evictions, 1);
  EXPECT_EQ(generate(engine, b + "more").cost.cached_tokens, 0);
  EXPECT_GT(generate(engine, a + "more").cost.cached_tokens, 0);
  EXPECT_GT(generate(engine, c + "more").cost.cached_tokens, 0);
}

TEST(PromptCache, OnePromptHeldOnce) {
  Engine engine(tiny(), cached_engine(4));
  prefill_and_free(engine, kSystem);
  prefill_and_free(engine, kSystem);
  prefill_and_free(engine, kSystem + "and more\n");  // holds the first: replaces it
  EXPECT_EQ(engine.stats().cached_sequences, 1);
  prefill_and_free(engine, kSystem);  // held by the kept one
  EXPECT_EQ(engine.stats().cached_sequences, 1);
}

TEST(PromptCache, KeptPromptsGiveTheirSlotsToLiveWork) {
  // Two slots, both holding kept prompts: two new unrelated sequences still run.
  Engine engine(tiny(), cached_engine(2, 2));
  prefill_and_free(engine, "first prompt, long enough\n");
  prefill_and_free(engine, "second prompt, long enough\n");
  ASSERT_EQ(engine.stats().cached_sequences, 2);
  const RequestId r = engine.begin_request();
  std::vector<SeqId> seqs;
  StopParams stop;
  stop.max_tokens = 4;
  for (const char* p : {"x=1; x?", "y=2; y?"}) {
    seqs.push_back(engine.add_sequence(r, tokens(p)));
    engine.generate(seqs.back(), SamplingParams{}, stop);
  }
  engine.run_until_done(seqs);
  for (SeqId s : seqs) EXPECT_EQ(engine.sequence(s).records.size(), 4u);
  EXPECT_EQ(engine.stats().cached_sequences, 0);
  EXPECT_EQ(engine.stats().prompt_cache_evictions, 2);
}

TEST(PromptCache, ForksOfAFreedPromptCopyFromItAndKeepIt) {
  // A question's way: a prompt, forks of it, the prompt freed before they have a slot.
  Engine engine(tiny(), cached_engine(2, 4));
  const RequestId r = engine.begin_request();
  const SeqId root = engine.add_sequence(r, tokens(kSystem));
  const std::vector<SeqId> forks = engine.fork(root, 2);
  engine.free(root);
  StopParams stop;
  stop.max_tokens = 6;
  for (SeqId f : forks) engine.generate(f, SamplingParams{}, stop);
  engine.run_until_done(forks);
  for (SeqId f : forks) {
    EXPECT_EQ(engine.sequence(f).records.size(), 6u);
    engine.free(f);
  }
  engine.end_request(r);
  EXPECT_EQ(engine.stats().cached_sequences, 1);
  EXPECT_EQ(generate(engine, kSystem + "next").cost.cached_tokens, int64_t(tokens(kSystem).size()) - 1);
}

// Questions one after another, each a prompt with forks drawing from it (a strategy's
// way), the prompt freed before or after its forks run: each question's prompt is kept,
// and a question asked again finds its own whole prompt.
class PromptCacheQuestions : public ::testing::TestWithParam<bool> {};

TEST_P(PromptCacheQuestions, KeepTheirPromptsForLaterOnes) {
  const bool free_early = GetParam();
  Engine engine(tiny(), cached_engine(4, 16));
  auto question = [&](const std::string& prompt) {
    const RequestId r = engine.begin_request();
    const SeqId root = engine.add_sequence(r, tokens(prompt));
    const std::vector<SeqId> forks = engine.fork(root, 4);
    // Freed before its prefill, as QuestionRun::launch does with its last launch.
    if (free_early) engine.free(root);
    StopParams stop;
    stop.max_tokens = 5;
    stop.ignore_eos = true;
    for (SeqId f : forks) engine.generate(f, SamplingParams{}, stop);
    engine.run_until_done(forks);
    for (SeqId f : forks) engine.free(f);
    if (!free_early) engine.free(root);
    return engine.end_request(r);
  };
  const std::string first = kSystem + "a=3; b=a*2; b?\n", second = kSystem + "x=7; y=x+5; y?\n";
  EXPECT_EQ(question(first).cached_tokens, 0);
  EXPECT_GT(question(second).cached_tokens, int64_t(kSystem.size()));
  EXPECT_EQ(engine.stats().cached_sequences, 2);
  EXPECT_EQ(question(first).cached_tokens, int64_t(tokens(first).size()) - 1);
}

INSTANTIATE_TEST_SUITE_P(PromptCache, PromptCacheQuestions, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "FreedBeforePrefill" : "FreedAtTheEnd"; });

TEST(PromptCache, SizeIsChecked) {
  EngineOptions o = cached_engine(9, 8);
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.prompt_cache = -1;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.prompt_cache = 8;
  EXPECT_NO_THROW(o.validate());
}

}  // namespace
}  // namespace ponder
