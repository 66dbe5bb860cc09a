// Speculative decoding in the engine: lossless for every method, through forks and
// truncations, and its building blocks.

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/drafting.h"
#include "ponder/engine.h"
#include "ponder/runtime.h"
#include "ponder/speculative.h"
#include "support/test_models.h"

namespace ponder {
namespace {

constexpr float kLogprobTolerance = 1e-3f;  // as in test_engine: batch shapes round differently

EngineOptions engine_options(SpeculativeMethod method, bool adaptive = false, int max_sequences = 16) {
  EngineOptions o = test::engine_options(max_sequences, 256);
  o.speculative.method = method;
  o.speculative.adaptive = adaptive;
  o.speculative.max_draft = 4;
  if (method == SpeculativeMethod::draft) o.speculative.draft_model = test::toy_small_reasoner();
  return o;
}

// Plain decoding in the layout a speculative engine chose: lookahead trees use the
// unified layout, whose attention rounds differently from the split layout's.
EngineOptions plain_options(const Engine& like) {
  EngineOptions o = engine_options(SpeculativeMethod::off);
  o.kv_layout = like.kv_layout();
  return o;
}

SamplingParams sampling(float temperature, uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.seed = seed;
  return p;
}

StopParams stop_after(int tokens) {
  StopParams s;
  s.max_tokens = tokens;
  return s;
}

struct Output {
  std::vector<Token> tokens;
  std::vector<float> logprobs;
  std::string text;
  FinishReason finish;
};

// Every question's prompt as one sequence, all generating together; one sample each.
std::vector<Output> generate_all(Engine& engine, const std::vector<std::string>& questions, float temperature,
                                 int max_tokens) {
  const RequestId request = engine.begin_request();
  std::vector<SeqId> seqs;
  for (size_t i = 0; i < questions.size(); ++i) {
    const SeqId s = engine.add_sequence(request, format_question(engine.model(), questions[i]));
    engine.generate(s, sampling(temperature, 100 + i), stop_after(max_tokens));
    seqs.push_back(s);
  }
  std::vector<Output> out(seqs.size());
  engine.run_until_done(seqs, [&](SeqId id) {
    const size_t i = size_t(std::find(seqs.begin(), seqs.end(), id) - seqs.begin());
    const Sequence& s = engine.sequence(id);
    for (const auto& r : s.records) {
      out[i].tokens.push_back(r.token);
      out[i].logprobs.push_back(r.logprob);
    }
    out[i].text = s.text;
    out[i].finish = s.finish;
    engine.free(id);
  });
  engine.end_request(request);
  return out;
}

// Lookahead trees keep flash attention on in the unified layout, where plain decoding
// turns it off: the logprobs round through f16 differently (the tokens may not differ).
constexpr float kTreeLogprobTolerance = 1e-2f;

void expect_same(const std::vector<Output>& plain, const std::vector<Output>& fast,
                 float tolerance = kLogprobTolerance) {
  ASSERT_EQ(plain.size(), fast.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].tokens, fast[i].tokens) << "sequence " << i;
    EXPECT_EQ(plain[i].text, fast[i].text) << "sequence " << i;
    EXPECT_EQ(plain[i].finish, fast[i].finish) << "sequence " << i;
    ASSERT_EQ(plain[i].logprobs.size(), fast[i].logprobs.size());
    for (size_t k = 0; k < plain[i].logprobs.size(); ++k) {
      EXPECT_NEAR(plain[i].logprobs[k], fast[i].logprobs[k], tolerance) << "sequence " << i << " token " << k;
    }
  }
}

// A method, and for lookahead how many branches its drafts may have (trees: > 1).
struct Variant {
  SpeculativeMethod method;
  int branches = 1;
  float tolerance() const { return branches > 1 ? kTreeLogprobTolerance : kLogprobTolerance; }
  EngineOptions options(bool adaptive = false) const {
    EngineOptions o = engine_options(method, adaptive);
    o.speculative.lookahead_branches = branches;
    return o;
  }
};

class SpeculativeMethods : public ::testing::TestWithParam<Variant> {};

// Greedy output of 24 questions (more than the 16 slots: sequences wait, join and leave)
// equals plain decoding's, token for token, and drafts were both accepted and rejected.
TEST_P(SpeculativeMethods, GreedyIsIdenticalToPlainDecoding) {
  const auto questions = test::toy_dev_questions(24, 2);
  Engine fast(test::toy_reasoner(), GetParam().options());
  Engine plain(test::toy_reasoner(), plain_options(fast));
  const auto expected = generate_all(plain, questions, 0.0f, 64);
  expect_same(expected, generate_all(fast, questions, 0.0f, 64), GetParam().tolerance());
  const EngineStats stats = fast.stats();
  EXPECT_GT(stats.accepted_tokens, 0);
  EXPECT_GT(stats.drafted_tokens, stats.accepted_tokens);  // rejections rolled back too
  EXPECT_LT(stats.steps, plain.stats().steps);
}

// With adaptive draft lengths too (the plan may change any step; the output may not).
TEST_P(SpeculativeMethods, AdaptiveGreedyIsIdenticalToPlainDecoding) {
  const auto questions = test::toy_dev_questions(12, 3);
  Engine fast(test::toy_reasoner(), GetParam().options(true));
  Engine plain(test::toy_reasoner(), plain_options(fast));
  expect_same(generate_all(plain, questions, 0.0f, 64), generate_all(fast, questions, 0.0f, 64),
              GetParam().tolerance());
}

// Forks and truncations with speculation on: a prefix generated, forked three ways, one
// fork cut back and all generating again, as a search would; every token equals plain
// decoding's.
TEST_P(SpeculativeMethods, ForksAndTruncationsStayLossless) {
  auto run = [](Engine& engine) {
    const RequestId request = engine.begin_request();
    const SeqId root = engine.add_sequence(request, format_question(engine.model(), test::toy_dev_questions(5, 3)[4]));
    engine.generate(root, sampling(0.0f, 0), stop_after(20));
    engine.run_until_idle();
    auto forks = engine.fork(root, 3);
    engine.free(root);
    engine.run_until_idle();  // the forks take their slots (and the draft cache's copy)
    engine.truncate(forks[1], engine.sequence(forks[1]).tokens.size() - 7);
    for (size_t i = 0; i < forks.size(); ++i) {
      engine.generate(forks[i], sampling(i == 2 ? 0.9f : 0.0f, 7), stop_after(40));
    }
    engine.run_until_idle();
    std::vector<std::vector<Token>> out;
    for (SeqId f : forks) out.push_back(engine.sequence(f).tokens);
    for (SeqId f : forks) engine.free(f);
    engine.end_request(request);
    return out;
  };
  Engine fast(test::toy_reasoner(), GetParam().options());
  Engine plain(test::toy_reasoner(), plain_options(fast));
  const auto expected = run(plain);
  const auto got = run(fast);
  EXPECT_EQ(expected[0], got[0]);
  EXPECT_EQ(expected[1], got[1]);
  // The sampled fork is token-identical only where the draft is a point mass.
  if (GetParam().method != SpeculativeMethod::draft) {
    EXPECT_EQ(expected[2], got[2]);
  }
  EXPECT_GT(fast.stats().accepted_tokens, 0);
}

INSTANTIATE_TEST_SUITE_P(Methods, SpeculativeMethods,
                         ::testing::Values(Variant{SpeculativeMethod::draft}, Variant{SpeculativeMethod::lookup},
                                           Variant{SpeculativeMethod::lookahead}, Variant{SpeculativeMethod::lookahead, 4}),
                         [](const auto& info) {
                           return std::string(speculative_method_name(info.param.method)) +
                                  (info.param.branches > 1 ? "_trees" : "");
                         });

// Lookup and lookahead drafts are point masses: the target draws each token as it would
// alone, so sampled output is the plain sampler's, token for token, with the same seeds.
TEST(Speculative, PointMassDraftsSampleTheSameTokens) {
  const auto questions = test::toy_dev_questions(16, 2);
  for (SpeculativeMethod method : {SpeculativeMethod::lookup, SpeculativeMethod::lookahead}) {
    Engine fast(test::toy_reasoner(), engine_options(method));
    Engine plain(test::toy_reasoner(), plain_options(fast));
    expect_same(generate_all(plain, questions, 0.8f, 48), generate_all(fast, questions, 0.8f, 48));
    EXPECT_GT(fast.stats().accepted_tokens, 0) << speculative_method_name(method);
  }
}

// Lookahead drafts verified as trees (the unified layout, branch seq ids lent per step)
// against single paths and plain decoding: the same tokens, greedy and sampled, and the
// trees were used, including kept paths off a sequence's own branch.
TEST(Speculative, LookaheadTreesAreLossless) {
  const auto questions = test::toy_dev_questions(24, 2);
  EngineOptions path_options = engine_options(SpeculativeMethod::lookahead);
  path_options.speculative.lookahead_branches = 1;
  Engine paths(test::toy_reasoner(), path_options);
  Engine trees(test::toy_reasoner(), Variant{SpeculativeMethod::lookahead, 4}.options());
  EXPECT_EQ(paths.kv_layout(), KvLayout::split);
  EXPECT_EQ(trees.kv_layout(), KvLayout::unified);
  Engine plain_split(test::toy_reasoner(), plain_options(paths));
  Engine plain_unified(test::toy_reasoner(), plain_options(trees));
  for (float temperature : {0.0f, 0.8f}) {
    expect_same(generate_all(plain_split, questions, temperature, 64), generate_all(paths, questions, temperature, 64));
    expect_same(generate_all(plain_unified, questions, temperature, 64),
                generate_all(trees, questions, temperature, 64), kTreeLogprobTolerance);
  }
  EXPECT_EQ(paths.stats().draft_trees, 0);
  EXPECT_GT(trees.stats().draft_trees, 0);
  EXPECT_GT(trees.stats().off_branch_accepts, 0);
  // Trees keep more of what they draft per step than paths of the same length.
  auto kept_per_step = [](const EngineStats& s) { return double(s.accepted_tokens) / double(s.steps); };
  EXPECT_GT(kept_per_step(trees.stats()), kept_per_step(paths.stats()));
}

// A fork's draft cache is copied from its parent's, not read again: 8 forks of a long
// prefix make the draft model decode about their new tokens only.
TEST(Speculative, DraftCacheFollowsForksWithoutRereading) {
  Engine engine(test::toy_reasoner(), engine_options(SpeculativeMethod::draft));
  const RequestId request = engine.begin_request();
  const SeqId root = engine.add_sequence(request, format_question(engine.model(), test::toy_dev_questions(8, 5)[7]));
  engine.generate(root, sampling(0.0f, 0), stop_after(60));
  engine.run_until_idle();
  const int prefix = int(engine.sequence(root).tokens.size());
  ASSERT_GT(prefix, 40);
  const int64_t before = engine.stats().draft_decoded_tokens;
  auto forks = engine.fork(root, 8);
  engine.free(root);
  for (size_t i = 0; i < forks.size(); ++i) engine.generate(forks[i], sampling(1.0f, i), stop_after(4));
  engine.run_until_idle();
  const int64_t read = engine.stats().draft_decoded_tokens - before;
  // At most a few tokens per fork and step (4 drafts, the shared last token, a catch-up).
  EXPECT_LT(read, 8 * 4 * 6);
  EXPECT_LT(read, 8 * prefix / 2);
  for (SeqId f : forks) engine.free(f);
  engine.end_request(request);
}

// The chi-square statistic of counts against expected probabilities, bins with an
// expected count under 5 pooled into one; `df` gets its degrees of freedom.
double chi_square(const std::map<Token, int>& counts, const std::map<Token, double>& probs, int n, int& df) {
  double stat = 0.0, pooled_expected = 0.0;
  int pooled_count = 0, bins = 0;
  double covered = 0.0;
  for (const auto& [token, p] : probs) {
    covered += p;
    const auto it = counts.find(token);
    const int c = it == counts.end() ? 0 : it->second;
    if (p * n < 5.0) {
      pooled_expected += p * n;
      pooled_count += c;
      continue;
    }
    stat += (c - p * n) * (c - p * n) / (p * n);
    ++bins;
  }
  int outside = 0;
  for (const auto& [token, c] : counts) {
    if (!probs.count(token)) outside += c;
  }
  pooled_expected += (1.0 - covered) * n;
  pooled_count += outside;
  if (pooled_expected > 0.0) {
    stat += (pooled_count - pooled_expected) * (pooled_count - pooled_expected) / pooled_expected;
    ++bins;
  }
  df = bins - 1;
  return stat;
}

// The 99.9% quantile of chi-square with df degrees of freedom (Wilson-Hilferty).
double chi_square_critical(int df) {
  const double z = 3.090, k = df;
  const double t = 1.0 - 2.0 / (9.0 * k) + z * std::sqrt(2.0 / (9.0 * k));
  return k * t * t * t;
}

// A model's next-token distribution after `prompt` (temperature 1: its own softmax),
// read from a plain greedy step's top-20 logprobs.
std::map<Token, double> next_token_distribution(std::shared_ptr<const Model> model, const std::vector<Token>& prompt) {
  Engine engine(model, engine_options(SpeculativeMethod::off));
  const RequestId request = engine.begin_request();
  const SeqId s = engine.add_sequence(request, prompt);
  SamplingParams p = sampling(0.0f, 0);
  p.top_logprobs = 20;
  engine.generate(s, p, stop_after(1));
  engine.run_until_idle();
  std::map<Token, double> probs;
  for (const auto& alt : engine.sequence(s).records.at(0).top) probs[alt.token] = std::exp(double(alt.logprob));
  engine.free(s);
  engine.end_request(request);
  return probs;
}

// Draft-model speculation with sampling keeps the target's distribution: the first token
// (drawn through min(1, p/q) acceptance or the residual max(0, p - q)) of 3072 samples
// against the target's exact next-token probabilities. The prompt is the one, of a few,
// where the draft model's distribution is about halfway from the target's (total
// variation nearest 0.5), so that the test has power (the draft model's own distribution
// is far outside the bound) and drafts are both accepted and rejected. Fixed seeds: the
// outcome is deterministic.
TEST(Speculative, DraftModelSamplingKeepsTheTargetsDistribution) {
  auto target = test::toy_reasoner();
  auto draft = test::toy_small_reasoner();
  std::vector<Token> prompt;
  std::map<Token, double> p, q;
  double best_distance = -1.0;  // total variation between p and q: 1 - the acceptance rate
  for (const std::string text : {"a=", "a=3; b=a", "a=7; b=a*", "x", "b: "}) {
    const std::vector<Token> candidate = target->tokenize(text, true);
    auto pc = next_token_distribution(target, candidate);
    auto qc = next_token_distribution(draft, candidate);
    double distance = 0.0;
    std::map<Token, bool> tokens;
    for (const auto& [t, v] : pc) tokens[t] = true;
    for (const auto& [t, v] : qc) tokens[t] = true;
    for (const auto& [t, unused] : tokens) distance += std::abs((pc.count(t) ? pc[t] : 0.0) - (qc.count(t) ? qc[t] : 0.0));
    distance /= 2.0;
    // Nearest to 0.5: as many drafts rejected as accepted.
    if (best_distance < 0.0 || std::abs(distance - 0.5) < std::abs(best_distance - 0.5)) {
      best_distance = distance;
      prompt = candidate;
      p = pc;
      q = qc;
    }
  }
  ASSERT_GT(best_distance, 0.15);
  ASSERT_LT(best_distance, 0.85);

  constexpr int kSamples = 3072, kBatch = 32;  // 96 batches
  Engine engine(target, engine_options(SpeculativeMethod::draft, false, kBatch));
  std::map<Token, int> counts;
  const RequestId request = engine.begin_request();
  const SeqId root = engine.add_sequence(request, prompt);
  for (int done = 0; done < kSamples; done += kBatch) {
    auto forks = engine.fork(root, kBatch);
    for (int i = 0; i < kBatch; ++i) engine.generate(forks[size_t(i)], sampling(1.0f, uint64_t(done + i)), stop_after(2));
    engine.run_until_done(forks, [&](SeqId id) {
      ++counts[engine.sequence(id).records.at(0).token];
      engine.free(id);
    });
  }
  engine.free(root);
  engine.end_request(request);
  const EngineStats stats = engine.stats();
  EXPECT_GT(stats.accepted_tokens, kSamples / 10);
  EXPECT_LT(stats.accepted_tokens, stats.drafted_tokens - kSamples / 10);

  int df = 0;
  const double stat = chi_square(counts, p, kSamples, df);
  ASSERT_GE(df, 2);
  EXPECT_LT(stat, chi_square_critical(df)) << "df " << df;
  // Power: had the draft tokens been kept as drawn, the counts would follow q.
  std::map<Token, int> as_drafted;
  for (const auto& [t, v] : q) as_drafted[t] = int(std::lround(v * kSamples));
  int df_q = 0;
  const double stat_q = chi_square(as_drafted, p, kSamples, df_q);
  EXPECT_GT(stat_q, 10 * chi_square_critical(df_q));
}

// The sampler's distribution() is the one sample() draws from (with the filters on).
TEST(Speculative, SamplerDistributionMatchesItsDraws) {
  std::vector<float> logits(40);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i) * 1.7) * 3.0);
  SamplingParams params = sampling(0.7f, 5);
  params.top_k = 12;
  params.top_p = 0.95f;
  params.min_p = 0.01f;
  Sampler sampler(params);
  const LogitStats stats = logit_stats(logits);
  std::vector<float> probs;
  sampler.distribution(logits, stats, probs);
  std::map<Token, double> expected;
  int nonzero = 0;
  for (size_t t = 0; t < probs.size(); ++t) {
    if (probs[t] > 0.0f) {
      expected[Token(t)] = probs[t];
      ++nonzero;
    }
  }
  ASSERT_GE(nonzero, 4);
  ASSERT_LE(nonzero, 12);
  std::map<Token, int> counts;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) ++counts[sampler.sample(logits, stats)];
  for (const auto& [t, c] : counts) EXPECT_TRUE(expected.count(t)) << "token " << t << " drawn outside the distribution";
  int df = 0;
  const double stat = chi_square(counts, expected, kDraws, df);
  EXPECT_LT(stat, chi_square_critical(df));
}

// Every model at hand shares the toy vocabulary, so only the agreeing case and the
// option checks are exercised here.
TEST(Speculative, ChecksTheDraftModelAndMethod) {
  EXPECT_NO_THROW(check_same_vocabulary(*test::toy_reasoner(), *test::toy_small_reasoner()));
  EngineOptions missing = engine_options(SpeculativeMethod::draft);
  missing.speculative.draft_model = nullptr;
  EXPECT_THROW(missing.validate(), std::invalid_argument);
  EngineOptions too_long = engine_options(SpeculativeMethod::lookup);
  too_long.speculative.max_draft = 33;
  EXPECT_THROW(too_long.validate(), std::invalid_argument);
  EXPECT_THROW(parse_speculative_method("telepathy"), std::invalid_argument);
  EXPECT_EQ(parse_speculative_method("lookahead"), SpeculativeMethod::lookahead);
}

TEST(Drafting, PromptLookupFollowsTheLatestMatch) {
  const std::vector<Token> tokens = {1, 2, 3, 4, 9, 2, 3, 5, 6, 7, 2, 3};
  EXPECT_EQ(lookup_draft(tokens, 3, 3), (std::vector<Token>{5, 6, 7}));  // "2 3" last seen before 5
  EXPECT_EQ(lookup_draft(tokens, 3, 1), (std::vector<Token>{5}));
  EXPECT_TRUE(lookup_draft(std::vector<Token>{1, 2, 3}, 3, 4).empty());
}

TEST(Drafting, TrieDraftsTheMostFrequentContinuation) {
  NgramTrie trie(6, 1 << 16);
  const std::vector<Token> a = {1, 2, 3, 4, 5}, b = {1, 2, 3, 4, 6}, c = {9, 2, 3, 4, 6};
  trie.add(a, 0);
  trie.add(b, 0);
  trie.add(c, 0);
  EXPECT_EQ(trie.draft(std::vector<Token>{7, 2, 3}, 4), (std::vector<Token>{4, 6}));
  // Appending: only the new n-grams are counted.
  std::vector<Token> d = {8, 8, 5};
  trie.add(d, 0);
  d.push_back(5);
  trie.add(d, 3);
  EXPECT_EQ(trie.draft(std::vector<Token>{8, 8}, 3), (std::vector<Token>{5, 5}));
}

TEST(Drafting, TrieDraftTreeTakesTheLikeliestContinuations) {
  NgramTrie trie(6, 1 << 16);
  for (const std::vector<Token>& t : {std::vector<Token>{1, 2, 3, 4, 5}, {1, 2, 3, 4, 6}, {9, 2, 3, 4, 6}, {8, 2, 3, 7}}) {
    trie.add(t, 0);
  }
  // After "2 3": 4 (3 of 4), then 7 (1 of 4) beside it; after "2 3 4": 6 (2 of 3), 5.
  NgramTrie::Tree tree = trie.draft_tree(std::vector<Token>{0, 2, 3}, 4, 4);
  EXPECT_EQ(tree.tokens, (std::vector<Token>{4, 6, 7, 5}));
  EXPECT_EQ(tree.parent, (std::vector<int>{-1, 0, -1, 0}));
  // The first branch is draft()'s path.
  EXPECT_EQ(trie.draft(std::vector<Token>{0, 2, 3}, 2), (std::vector<Token>{4, 6}));
  // Two leaves at most: 5 would be a third.
  tree = trie.draft_tree(std::vector<Token>{0, 2, 3}, 4, 2);
  EXPECT_EQ(tree.tokens, (std::vector<Token>{4, 6, 7}));
  // One leaf: a path.
  tree = trie.draft_tree(std::vector<Token>{0, 2, 3}, 4, 1);
  EXPECT_EQ(tree.tokens, (std::vector<Token>{4, 6}));
  EXPECT_EQ(tree.parent, (std::vector<int>{-1, 0}));
  EXPECT_TRUE(trie.draft_tree(std::vector<Token>{0, 5}, 4, 4).tokens.empty());
}

TEST(Drafting, ExpectedTokensAndCostModel) {
  EXPECT_DOUBLE_EQ(expected_tokens(0.5, 0), 1.0);
  EXPECT_DOUBLE_EQ(expected_tokens(0.5, 2), 1.75);
  DecodeCostModel cost(16.0);
  EXPECT_FALSE(cost.calibrated());
  for (int i = 0; i < 20; ++i) {
    cost.observe(1, 0.010 + 0.001);
    cost.observe(33, 0.010 + 0.033);
  }
  EXPECT_NEAR(cost.predict(17), 0.027, 1e-6);
}

TEST(Drafting, TheClockVetoesDraftingThatLoses) {
  DraftingCheck check;
  // Until both are measured, plain and drafted steps take turns.
  std::vector<bool> vetoes;
  for (int k = 0; k < 6; ++k) {
    const bool veto = check.veto(1);
    vetoes.push_back(veto);
    // Plain steps: 1 token in 1 ms; drafted ones: 3 tokens in 6 ms (slower per token).
    check.observe(1, !veto, veto ? 1 : 3, veto ? 0.001 : 0.006);
  }
  EXPECT_EQ(vetoes, (std::vector<bool>{false, true, false, true, false, true}));
  // Then drafting is vetoed, but for one step in kExplorePeriod that measures it again.
  int drafted = 0;
  for (uint64_t k = 0; k < 4 * DraftingCheck::kExplorePeriod; ++k) {
    const bool veto = check.veto(1);
    drafted += veto ? 0 : 1;
    check.observe(1, !veto, veto ? 1 : 3, veto ? 0.001 : 0.006);
  }
  EXPECT_EQ(drafted, 4);
  // Where drafting pays (another batch size, measured apart), it is vetoed only to explore.
  int vetoed = 0;
  for (uint64_t k = 0; k < 6 + 4 * DraftingCheck::kExplorePeriod; ++k) {
    const bool veto = check.veto(8);
    vetoed += veto ? 1 : 0;
    check.observe(8, !veto, veto ? 8 : 20, veto ? 0.004 : 0.006);
  }
  EXPECT_EQ(vetoed, 3 + 4);

  // Steps that plan nothing: after kRestAfter in a row, one step in kRestAfter plans.
  for (uint64_t k = 0; k < DraftingCheck::kRestAfter; ++k) {
    EXPECT_FALSE(check.resting(4));
    check.planned(4, false);
  }
  int planned = 0;
  for (uint64_t k = 0; k < 4 * DraftingCheck::kRestAfter; ++k) {
    if (check.resting(4)) continue;
    ++planned;
    check.planned(4, false);
  }
  EXPECT_EQ(planned, 4);
  check.planned(4, true);  // a plan that drafts wakes it
  EXPECT_FALSE(check.resting(4));
}

}  // namespace
}  // namespace ponder
