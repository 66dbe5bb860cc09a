// Model cascades on the committed toy reasoners: cascade@N keeps the small model's agreed
// answers and escalates the rest to the large model; ead@N switches models mid-sample,
// the model switched in reading only the tokens it has not seen; both are refused
// without a large model.

#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

const char* kQuestion = "a=61; b=a-35; c=b*4; c?";

EngineOptions engine_options() { return test::engine_options(8, 256); }

StrategyOptions options() {
  StrategyOptions o;
  o.generation.sampling.seed = 5;
  o.generation.stop.max_tokens = 200;
  return o;
}

// The small model as the generator, the large one beside it.
struct Cascade {
  Engine small{test::toy_small_reasoner(), engine_options()};
  Engine large{test::toy_reasoner(), engine_options()};
  Runtime runtime{small};
  Cascade() { runtime.set_large_model(large); }
  StrategyResult run(const Strategy& s, const std::string& question = kQuestion) {
    return runtime.run({{std::shared_ptr<const Strategy>(&s, [](const Strategy*) {}), question, {}, {}}})
        .front();
  }
};

const ModelCost* cost_of(const StrategyResult& r, const std::string& role) {
  for (const auto& c : r.costs) {
    if (c.role == role) return &c;
  }
  return nullptr;
}

TEST(Cascade, KeepsTheSmallModelsAgreedAnswer) {
  StrategyOptions o = options();
  o.generation.sampling.top_k = 1;  // every small sample the same: they agree
  const auto strategy = make_strategy("cascade@8", o);
  EXPECT_EQ(strategy->budget(), 4 + 8);
  EXPECT_TRUE(strategy->needs() & kLargeModel);
  Cascade c;
  const StrategyResult r = c.run(*strategy);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.stop_reason, "small model agreed 4/4");
  ASSERT_EQ(r.samples.size(), 4u);
  for (const auto& s : r.samples) EXPECT_FALSE(s.large_model);
  ASSERT_TRUE(r.answer.has_value());
  EXPECT_EQ(r.answer->key, r.samples.front().answer->key);
  // The large model never ran.
  EXPECT_EQ(cost_of(r, "large generator"), nullptr);
  EXPECT_EQ(c.large.stats().decoded_tokens, 0);
  EXPECT_EQ(c.large.stats().live_sequences, 0);
}

TEST(Cascade, EscalatesWhenTheSmallModelDisagrees) {
  StrategyOptions o = options();
  o.generation.sampling.temperature = 2.5f;  // small samples scatter: the vote splits
  o.cascade.escalation = "vote";
  const auto strategy = make_strategy("cascade@3", o);
  Cascade c;
  const StrategyResult r = c.run(*strategy);
  ASSERT_EQ(r.error, "");
  EXPECT_NE(r.stop_reason.find("escalated to the large model"), std::string::npos) << r.stop_reason;
  EXPECT_NE(r.stop_reason.find("vote stopped: budget"), std::string::npos) << r.stop_reason;
  ASSERT_EQ(r.samples.size(), 4u + 3u);
  int64_t small_tokens = 0, large_tokens = 0;
  for (size_t i = 0; i < r.samples.size(); ++i) {
    EXPECT_EQ(r.samples[i].large_model, i >= 4) << i;
    (r.samples[i].large_model ? large_tokens : small_tokens) += r.samples[i].tokens;
  }
  // The large model's vote answers; each model's cost is its own, and the total adds up.
  const ModelCost* large = cost_of(r, "large generator");
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(large->model, "toy-reasoner-l.gguf");
  EXPECT_EQ(large->parameters, test::toy_reasoner()->n_params());
  EXPECT_EQ(large->cost.generated_tokens, large_tokens);
  EXPECT_EQ(cost_of(r, "generator")->cost.generated_tokens, small_tokens);
  EXPECT_EQ(r.cost.generated_tokens, small_tokens + large_tokens);
  ASSERT_TRUE(r.answer.has_value());
  bool from_large = false;
  for (const auto& s : r.samples) from_large |= s.large_model && s.answer && s.answer->key == r.answer->key;
  EXPECT_TRUE(from_large);
  EXPECT_EQ(c.small.stats().live_sequences, 0);
  EXPECT_EQ(c.large.stats().live_sequences, 0);

  // The same again on fresh engines.
  Cascade again;
  const StrategyResult r2 = again.run(*strategy);
  ASSERT_EQ(r2.samples.size(), r.samples.size());
  for (size_t i = 0; i < r.samples.size(); ++i) EXPECT_EQ(r2.samples[i].text, r.samples[i].text);
}

TEST(Cascade, EscalationMustBeAOneModelStrategy) {
  StrategyOptions o = options();
  o.cascade.escalation = "cascade";
  EXPECT_THROW(make_strategy("cascade@4", o), std::invalid_argument);
  o.cascade.escalation = "ead";
  EXPECT_THROW(make_strategy("cascade@4", o), std::invalid_argument);
  o.cascade.escalation = "vote@4";
  EXPECT_THROW(make_strategy("cascade@4", o), std::invalid_argument);
  o.cascade.escalation = "telepathy";
  EXPECT_THROW(make_strategy("cascade@4", o), std::invalid_argument);
  o.cascade.escalation = "adaptive-vote";
  o.cascade.agreement = 0.0;
  EXPECT_THROW(make_strategy("cascade@4", o), std::invalid_argument);
  o.cascade.agreement = 1.0;
  o.ead.threshold = -1.0;
  EXPECT_THROW(make_strategy("ead@1", o), std::invalid_argument);
}

TEST(Cascade, RefusedWithoutALargeModel) {
  Engine small(test::toy_small_reasoner(), engine_options());
  Runtime runtime(small);
  EXPECT_FALSE(runtime.capabilities() & kLargeModel);
  for (const char* spec : {"cascade@4", "ead@1"}) {
    std::shared_ptr<const Strategy> s = make_strategy(spec, options());
    try {
      runtime.submit({s, kQuestion, {}, {}});
      ADD_FAILURE() << spec << " was accepted without a large model";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("a large model"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--large-model"), std::string::npos) << e.what();
    }
  }
}

// The tiny random model with another end-of-text token: a vocabulary of its own.
std::string other_vocabulary_model() {
  ggml_context* data = nullptr;
  std::unique_ptr<gguf_context, decltype(&gguf_free)> in(
      gguf_init_from_file(test::random_model_path("tiny").c_str(), {false, &data}), gguf_free);
  std::unique_ptr<ggml_context, decltype(&ggml_free)> tensors(data, ggml_free);
  EXPECT_TRUE(in) << "cannot read the tiny model";
  std::unique_ptr<gguf_context, decltype(&gguf_free)> out(gguf_init_empty(), gguf_free);
  gguf_set_kv(out.get(), in.get());
  gguf_set_val_u32(out.get(), "tokenizer.ggml.eos_token_id", 5);
  for (int64_t i = 0; i < gguf_get_n_tensors(in.get()); ++i) {
    gguf_add_tensor(out.get(), ggml_get_tensor(data, gguf_get_tensor_name(in.get(), i)));
  }
  const std::string path = test::scratch_dir("cascade-other-vocabulary") + "/model.gguf";
  EXPECT_TRUE(gguf_write_to_file(out.get(), path.c_str(), false));
  return path;
}

TEST(Cascade, SwitchingNeedsTheSameVocabulary) {
  // A large model of other tokens serves a cascade (each model reads its own prompt) but
  // not ead, whose samples move between the models.
  Engine small(test::toy_small_reasoner(), engine_options());
  Engine other(Model::load(other_vocabulary_model()), engine_options());
  Runtime runtime(small);
  runtime.set_large_model(other);
  EXPECT_TRUE(runtime.capabilities() & kLargeModel);
  EXPECT_FALSE(runtime.capabilities() & kSwitchModels);
  try {
    runtime.submit({make_strategy("ead@1", options()), kQuestion, {}, {}});
    ADD_FAILURE() << "ead was accepted with a large model of other tokens";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the large model's tokens differ from the generator's"),
              std::string::npos)
        << e.what();
  }
  const StrategyResult r = runtime.run({{make_strategy("cascade@2", options()), kQuestion, {}, {}}}).front();
  EXPECT_EQ(r.error, "");

  Cascade c;
  EXPECT_TRUE(c.runtime.capabilities() & kSwitchModels);
}

TEST(Cascade, LargeEngineNeedsTheGeneratorsSlots) {
  Engine small(test::toy_small_reasoner(), engine_options());
  EngineOptions fewer = engine_options();
  fewer.max_sequences = 4;
  Engine large(test::toy_reasoner(), fewer);
  Runtime runtime(small);
  EXPECT_THROW(runtime.set_large_model(large), std::invalid_argument);
}

// Greedy ead: `threshold` decides where each model writes.
StrategyOptions greedy_ead(double threshold) {
  StrategyOptions o = options();
  o.generation.sampling.temperature = 0.0f;
  o.ead.threshold = threshold;
  o.ead.window = 4;
  o.ead.dwell = 4;
  return o;
}

TEST(Ead, NeverSwitchingIsTheSmallModelAlone) {
  Cascade c;
  const StrategyResult r = c.run(*make_strategy("ead@1", greedy_ead(1e6)));
  ASSERT_EQ(r.error, "");
  const StrategyResult greedy = c.run(*make_strategy("greedy", options()));
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].text, greedy.samples[0].text);
  EXPECT_EQ(r.samples[0].scores.at("large_share"), 0.0);
  EXPECT_EQ(r.samples[0].scores.at("switches"), 0.0);
  // The large model's view of the question was opened, and nothing read there.
  const ModelCost* large = cost_of(r, "large generator");
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(large->cost.decoded_tokens, 0);
}

TEST(Ead, TheLargeModelContinuesFromWhatTheSmallOneWroteWithoutRereadingThePrompt) {
  // A threshold below any entropy: the small model writes the first `dwell` tokens, the
  // last of which tips the mean over and is drawn again by the large model, which then
  // writes the rest.
  const StrategyOptions o = greedy_ead(1e-9);
  Cascade c;
  const StrategyResult r = c.run(*make_strategy("ead@1", o));
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.samples.size(), 1u);
  const SampleTrace& t = r.samples[0];
  EXPECT_EQ(t.scores.at("switches"), 1.0);
  const int dwell = o.ead.dwell;
  const int kept = dwell - 1;  // the small model's tokens kept
  EXPECT_DOUBLE_EQ(t.scores.at("large_share"), double(t.tokens - kept) / double(t.tokens));

  // What it must have written: the small model's first tokens, then the large model's
  // greedy continuation of the prompt and those tokens.
  const std::vector<Token> prompt = format_question(*test::toy_small_reasoner(), kQuestion);
  Engine small(test::toy_small_reasoner(), engine_options());
  const SeqId first = small.add_sequence(small.begin_request(), prompt);
  StopParams stop;
  stop.max_tokens = kept;
  small.generate(first, {.temperature = 0.0f}, stop);
  small.run_until_idle();
  std::vector<Token> prefix = prompt;
  for (const auto& record : small.sequence(first).records) prefix.push_back(record.token);
  Engine large(test::toy_reasoner(), engine_options());
  const SeqId rest = large.add_sequence(large.begin_request(), prefix);
  stop.max_tokens = o.generation.stop.max_tokens - kept;
  large.generate(rest, {.temperature = 0.0f}, stop);
  large.run_until_idle();
  EXPECT_EQ(t.text, small.sequence(first).text + large.sequence(rest).text);

  // Every token drawn once, by one model (and the one tipping the mean twice); the large
  // model read the prompt once (its prefill, and the shared last token in its sample's
  // fork) and the small model's kept tokens once, and decoded nothing else.
  const ModelCost* small_cost = cost_of(r, "generator");
  const ModelCost* large_cost = cost_of(r, "large generator");
  ASSERT_NE(large_cost, nullptr);
  EXPECT_EQ(small_cost->cost.generated_tokens, dwell);
  EXPECT_EQ(large_cost->cost.generated_tokens, t.tokens - kept);
  EXPECT_EQ(large_cost->cost.prompt_tokens, int64_t(prompt.size()));
  EXPECT_EQ(large_cost->cost.scored_tokens, kept);
  EXPECT_LE(large_cost->cost.decoded_tokens, large_cost->cost.prompt_tokens + large_cost->cost.scored_tokens +
                                                 large_cost->cost.generated_tokens);
  EXPECT_LT(large_cost->cost.decoded_tokens, int64_t(prompt.size()) + t.tokens);
}

TEST(Ead, SwitchesBackAndForthAndVotes) {
  // Sampled, with a threshold inside the toy models' range of entropies: both models
  // write, each reads back what the other wrote.
  StrategyOptions o = options();
  o.ead.threshold = 0.05;
  o.ead.window = 2;
  o.ead.dwell = 2;
  const auto strategy = make_strategy("ead@3", o);
  Cascade c;
  const StrategyResult r = c.run(*strategy);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.samples.size(), 3u);
  int64_t tokens = 0, redrawn = 0;
  double switches = 0;
  for (const auto& s : r.samples) {
    tokens += s.tokens;
    switches += s.scores.at("switches");
    redrawn += (int64_t(s.scores.at("switches")) + 1) / 2;  // a token per switch to the large model
    EXPECT_GE(s.scores.at("large_share"), 0.0);
    EXPECT_LE(s.scores.at("large_share"), 1.0);
  }
  EXPECT_GE(switches, 2.0) << "the threshold should send samples to the large model and back";
  const ModelCost* small_cost = cost_of(r, "generator");
  const ModelCost* large_cost = cost_of(r, "large generator");
  ASSERT_NE(large_cost, nullptr);
  EXPECT_EQ(small_cost->cost.generated_tokens + large_cost->cost.generated_tokens, tokens + redrawn);
  EXPECT_GT(small_cost->cost.scored_tokens, 0) << "the small model read back the large model's tokens";
  EXPECT_GT(large_cost->cost.scored_tokens, 0);
  // Each model read each token the other wrote at most once, and the prompt once.
  EXPECT_LE(small_cost->cost.scored_tokens, large_cost->cost.generated_tokens);
  EXPECT_LE(large_cost->cost.scored_tokens, small_cost->cost.generated_tokens);
  EXPECT_LE(large_cost->cost.prompt_tokens, int64_t(format_question(*test::toy_reasoner(), kQuestion).size()) + 2);
  EXPECT_EQ(c.small.stats().live_sequences, 0);
  EXPECT_EQ(c.large.stats().live_sequences, 0);

  Cascade again;
  const StrategyResult r2 = again.run(*strategy);
  ASSERT_EQ(r2.samples.size(), r.samples.size());
  for (size_t i = 0; i < r.samples.size(); ++i) EXPECT_EQ(r2.samples[i].text, r.samples[i].text);
  EXPECT_EQ(r2.answer->key, r.answer->key);
}

}  // namespace
}  // namespace ponder
