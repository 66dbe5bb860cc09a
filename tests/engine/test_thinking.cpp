// Thinking-mode control: the block's tags as llama.cpp's Jinja engine reads them from a
// template, the prompt rendered with thinking forced on / off / left to the model, and the
// thinking budget that closes a block in the engine. No thinking model runs here: the
// templates are written for these tests and put on the tiny random model.

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine/thinking.h"
#include "ponder/chat_template.h"
#include "ponder/engine.h"
#include "ponder/runtime.h"
#include "support/test_models.h"

namespace ponder {
namespace {

using test::kChatmlTemplate;
using test::kQwenStyleTemplate;

std::shared_ptr<const Model> tiny_with_template(const std::string& name, const std::string& chat_template) {
  return Model::load(test::tiny_model_with_template(name, chat_template));
}

std::vector<Token> tokens_of(const Model& model, const std::string& text) { return model.tokenize(text, false, true); }

// --- the tracker (no model: token ids stand for themselves)

TEST(ThinkingTracker, CountsOnlyGeneratedTokensInsideABlockAndThenForcesTheClose) {
  ThinkingTracker t({10, 11}, {20}, {5, 20, 6}, 3);
  t.observe(1, false);
  t.observe(10, false);
  EXPECT_FALSE(t.inside());
  t.observe(11, false);  // the prompt opened the block
  EXPECT_TRUE(t.inside());
  t.observe(7, false);   // appended text does not count
  t.observe(7, true);
  t.observe(7, true);
  EXPECT_EQ(t.used(), 2);
  EXPECT_FALSE(t.forced());
  t.observe(7, true);  // the third: spent
  ASSERT_TRUE(t.forced());
  EXPECT_EQ(*t.forced(), 5);
  t.observe(5, true);
  EXPECT_EQ(*t.forced(), 20);
  t.observe(20, true);
  EXPECT_EQ(*t.forced(), 6);
  t.observe(6, true);
  EXPECT_FALSE(t.forced());
  EXPECT_FALSE(t.inside());
  for (int i = 0; i < 10; ++i) t.observe(7, true);  // after the block: no limit
  EXPECT_FALSE(t.forced());
}

TEST(ThinkingTracker, ABlockTheModelClosesItselfIsLeftAlone) {
  ThinkingTracker t({10}, {20}, {20}, 2);
  t.observe(10, true);
  t.observe(7, true);
  t.observe(20, true);
  EXPECT_FALSE(t.inside());
  t.observe(7, true);
  t.observe(7, true);
  EXPECT_FALSE(t.forced());
  t.observe(10, true);  // a second block gets a budget of its own
  t.observe(7, true);
  EXPECT_FALSE(t.forced());
  t.observe(7, true);
  EXPECT_TRUE(t.forced());
}

TEST(ThinkingTracker, ZeroBudgetClosesAtOnceAndOtherTextRestartsTheClose) {
  ThinkingTracker t({10}, {20}, {5, 20}, 0);
  t.observe(10, false);
  ASSERT_TRUE(t.forced());
  EXPECT_EQ(*t.forced(), 5);
  t.observe(5, true);
  t.observe(9, false);  // something else was appended mid-close: start it again
  EXPECT_EQ(*t.forced(), 5);
  t.observe(20, false);  // or a close appended by hand ends the block
  EXPECT_FALSE(t.forced());
}

TEST(ThinkingTracker, RefusesEmptyTags) {
  EXPECT_THROW(ThinkingTracker({}, {1}, {1}, 1), std::invalid_argument);
  EXPECT_THROW(ThinkingTracker({1}, {1}, {1}, -1), std::invalid_argument);
}

// --- templates

TEST(ChatTemplate, FindsTheThinkingTagsOfAQwenStyleTemplate) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  const ChatTemplate chat(*model);
  ASSERT_TRUE(chat.supports_thinking());
  EXPECT_EQ(chat.thinking_tags().start, "<think>");
  EXPECT_EQ(chat.thinking_tags().end, "</think>");
}

TEST(ChatTemplate, RendersThinkingOnOffAndAuto) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  const ChatTemplate chat(*model);
  const std::vector<ChatMessage> messages = {{"user", "a=3; b=a*2; b?"}};
  const std::string head = "<|im_start|>user\na=3; b=a*2; b?<|im_end|>\n<|im_start|>assistant\n";
  // Left to the model: the template's own prompt, no block.
  EXPECT_EQ(chat.apply(messages, ThinkingMode::automatic), head);
  // Forbidden: the template closes an empty block itself.
  EXPECT_EQ(chat.apply(messages, ThinkingMode::off), head + "<think>\n\n</think>\n\n");
  // Forced: the template does not open one, so the prompt does.
  EXPECT_EQ(chat.apply(messages, ThinkingMode::on), head + "<think>\n");
  // Without the assistant turn there is nothing to think in.
  EXPECT_EQ(chat.apply(messages, ThinkingMode::on, false), "<|im_start|>user\na=3; b=a*2; b?<|im_end|>\n");
}

TEST(ChatTemplate, ATemplateWithoutABlockRefusesOnAndOff) {
  auto model = tiny_with_template("chatml", kChatmlTemplate);
  const ChatTemplate chat(*model);
  EXPECT_FALSE(chat.supports_thinking());
  EXPECT_EQ(chat.apply({{"user", "hi"}}), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  try {
    chat.apply({{"user", "hi"}}, ThinkingMode::on);
    FAIL() << "thinking on was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("has no thinking block"), std::string::npos) << e.what();
  }
  EXPECT_THROW(chat.thinking_budget(8), std::invalid_argument);
}

TEST(ChatTemplate, AModelWithoutATemplateIsAClearError) {
  auto model = Model::load(test::random_model_path("tiny"));
  try {
    ChatTemplate chat(*model);
    FAIL() << "a model without a template was accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("has no chat template"), std::string::npos) << e.what();
  }
  // A template given in its place is read instead.
  const ChatTemplate chat(*model, kQwenStyleTemplate);
  EXPECT_TRUE(chat.supports_thinking());
}

TEST(ChatTemplate, ABrokenTemplateIsAClearError) {
  auto model = Model::load(test::random_model_path("tiny"));
  try {
    ChatTemplate chat(*model, "{% for %}");
    FAIL() << "a broken template was accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("Jinja"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplate, ParsesModeNames) {
  EXPECT_EQ(parse_thinking_mode("on"), ThinkingMode::on);
  EXPECT_EQ(parse_thinking_mode("off"), ThinkingMode::off);
  EXPECT_EQ(parse_thinking_mode("auto"), ThinkingMode::automatic);
  EXPECT_THROW(parse_thinking_mode("maybe"), std::invalid_argument);
}

// --- the budget in the engine

EngineOptions one_thread() {
  EngineOptions o;
  o.max_sequences = 4;
  o.threads = 1;
  return o;
}

TEST(ThinkingBudget, ValidatesItsTags) {
  StopParams stop;
  stop.thinking = {4, "<think>", "</think>", "\n</think>\n\n"};
  EXPECT_NO_THROW(stop.validate());
  stop.thinking.close = "done";
  EXPECT_THROW(stop.validate(), std::invalid_argument);
  stop.thinking = {4, "", "</think>", "</think>"};
  EXPECT_THROW(stop.validate(), std::invalid_argument);
  stop.thinking = {-2, "<think>", "</think>", "</think>"};
  EXPECT_THROW(stop.validate(), std::invalid_argument);
}

// Thinking forced on, a budget of 5: five sampled tokens, then the close, then the answer.
TEST(ThinkingBudget, ClosesTheBlockAfterTheBudgetAndLetsTheModelAnswer) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  const ChatTemplate chat(*model);
  Engine engine(model, one_thread());
  const RequestId request = engine.begin_request();
  const std::string prompt = chat.apply({{"user", "1+1?"}}, ThinkingMode::on);
  ASSERT_TRUE(prompt.ends_with("<think>\n"));
  const SeqId seq = engine.add_sequence(request, model->tokenize(prompt, true, true));
  SamplingParams sampling;
  sampling.seed = 3;
  StopParams stop;
  stop.max_tokens = 30;
  stop.ignore_eos = true;
  stop.thinking = chat.thinking_budget(5);
  engine.generate(seq, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{seq});
  const Sequence& s = engine.sequence(seq);
  const std::vector<Token> close = tokens_of(*model, "\n</think>\n\n");
  ASSERT_EQ(s.records.size(), 30u);
  for (size_t k = 0; k < close.size(); ++k) EXPECT_EQ(s.records[5 + k].token, close[k]) << k;
  // The first five are the model's own: the same as without a budget.
  Engine free_engine(model, one_thread());
  const SeqId other = free_engine.add_sequence(free_engine.begin_request(), model->tokenize(prompt, true, true));
  StopParams unlimited = stop;
  unlimited.thinking = {};
  free_engine.generate(other, sampling, unlimited);
  free_engine.run_until_done(std::vector<SeqId>{other});
  for (size_t k = 0; k < 5; ++k) EXPECT_EQ(free_engine.sequence(other).records[k].token, s.records[k].token) << k;
  EXPECT_NE(s.text.find("</think>"), std::string::npos);
  // Each forced token carries the model's own logprob of it.
  for (const auto& r : s.records) EXPECT_LE(r.logprob, 0.0f);
}

// A search grows samples a step at a time (stop at "\n"), and a fork carries on from its
// parent: the count is read from the tokens, so the budget holds across calls.
TEST(ThinkingBudget, HoldsAcrossGenerateCallsStopsAndForks) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  const ChatTemplate chat(*model);
  Engine engine(model, one_thread());
  const RequestId request = engine.begin_request();
  const std::vector<Token> prompt = model->tokenize(chat.apply({{"user", "1+1?"}}, ThinkingMode::on), true, true);
  const SeqId seq = engine.add_sequence(request, prompt);
  SamplingParams sampling;
  sampling.seed = 5;
  StopParams stop;
  stop.ignore_eos = true;
  stop.thinking = chat.thinking_budget(6);
  // Four tokens at a time: 4 thinking, then 2 more and the close begins.
  stop.max_tokens = 4;
  engine.generate(seq, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{seq});
  engine.generate(seq, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{seq});
  const SeqId child = engine.fork(seq, 1).front();
  stop.max_tokens = 20;
  engine.generate(child, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{child});
  const Sequence& c = engine.sequence(child);
  const std::vector<Token> close = tokens_of(*model, "\n</think>\n\n");
  std::vector<Token> after(c.tokens.begin() + long(prompt.size()), c.tokens.end());
  ASSERT_EQ(after.size(), 4 + 4 + 20u);
  // Tokens 6.. of the block are the close, written across the calls and the fork.
  for (size_t k = 0; k < close.size(); ++k) EXPECT_EQ(after[6 + k], close[k]) << k;
  EXPECT_EQ(model->detokenize(std::vector<Token>(after.begin() + 6, after.begin() + 6 + long(close.size()))),
            "\n</think>\n\n");
}

// Left to the model, the budget starts counting where the block opens.
TEST(ThinkingBudget, CountsFromWhereTheModelOpensTheBlock) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  const ChatTemplate chat(*model);
  Engine engine(model, one_thread());
  const RequestId request = engine.begin_request();
  const std::vector<Token> prompt = model->tokenize(chat.apply({{"user", "1+1?"}}), true, true);
  const SeqId seq = engine.add_sequence(request, prompt);
  SamplingParams sampling;
  sampling.seed = 9;
  StopParams stop;
  stop.ignore_eos = true;
  stop.max_tokens = 7;
  stop.thinking = chat.thinking_budget(3);
  // No block yet: seven free tokens.
  engine.generate(seq, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{seq});
  EXPECT_EQ(engine.sequence(seq).text.find("</think>"), std::string::npos);
  // The block opens (as the model would write it): three tokens, then the close.
  engine.score(seq, tokens_of(*model, "<think>\n"));
  engine.run_until_done(std::vector<SeqId>{seq});
  stop.max_tokens = 3 + 11;
  engine.generate(seq, sampling, stop);
  engine.run_until_done(std::vector<SeqId>{seq});
  const Sequence& s = engine.sequence(seq);
  EXPECT_EQ(s.text.substr(3), "\n</think>\n\n") << s.text;
}

// --- the runtime: questions put with thinking forced on or off

class EchoPrompt : public StrategyBase {
 public:
  EchoPrompt() : StrategyBase("echo", 1, {}) {}
  Task<StrategyResult> run(QuestionRun& q) const override {
    GenerationOptions g;
    g.stop.max_tokens = 1;
    const SampleId id = q.start();
    StrategyResult r;
    r.text = std::to_string(q.length(id));
    q.harvest(id, g.answers);
    co_return r;
  }
};

TEST(ThinkingRuntime, FormatsQuestionsThroughTheTemplate) {
  auto model = tiny_with_template("qwen", kQwenStyleTemplate);
  Engine engine(model, one_thread());
  const ChatTemplate chat(*model);
  const auto on = format_question(*model, chat, "1+1?", ThinkingMode::on);
  const auto off = format_question(*model, chat, "1+1?", ThinkingMode::off);
  EXPECT_EQ(model->detokenize(on, true), "<s>" + chat.apply({{"user", "1+1?"}}, ThinkingMode::on));
  EXPECT_EQ(model->detokenize(off, true), "<s>" + chat.apply({{"user", "1+1?"}}, ThinkingMode::off));
  Runtime runtime(engine, {.max_in_flight = 1, .thinking = ThinkingMode::off});
  const StrategyResult r = runtime.run({Job{std::make_shared<EchoPrompt>(), "1+1?", {}, {}}}).front();
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(ThinkingRuntime, RefusesThinkingForAModelWithoutIt) {
  auto model = Model::load(test::random_model_path("tiny"));
  Engine engine(model, one_thread());
  EXPECT_THROW(Runtime(engine, {.max_in_flight = 1, .thinking = ThinkingMode::on}), ModelError);
  auto chatml = tiny_with_template("chatml", kChatmlTemplate);
  Engine chatml_engine(chatml, one_thread());
  EXPECT_THROW(Runtime(chatml_engine, {.max_in_flight = 1, .thinking = ThinkingMode::off}), std::invalid_argument);
}

}  // namespace
}  // namespace ponder
