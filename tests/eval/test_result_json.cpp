#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cli/report.h"
#include "ponder/result_json.h"

namespace ponder {
namespace {

using nlohmann::json;

StrategyResult sample_result() {
  StrategyResult r;
  r.strategy = "weighted-vote@2";
  r.answer = Answer{"1,234", normalize_answer("1,234")};
  r.text = "so #### 1,234";
  r.confidence = 0.75;
  r.stop_reason = "budget";
  SampleTrace a;
  a.text = "so #### 1,234";
  a.answer = r.answer;
  a.mean_logprob = -0.25;
  a.tokens = 7;
  a.finish = FinishReason::eos;
  a.scores["weight"] = 0.5;
  SampleTrace b;
  b.text = "no answer";
  b.mean_logprob = -std::numeric_limits<double>::infinity();
  b.tokens = 3;
  b.finish = FinishReason::max_tokens;
  b.pruned = true;
  b.id = 1;
  b.parent = 0;
  b.fork_position = 4;
  b.token_logprobs = {{5, -0.5f}, {9, -1.25f}};
  b.token_pieces = {"12", "\n"};
  r.samples = {a, b};
  r.cost = {.prompt_tokens = 12,
            .generated_tokens = 10,
            .scored_tokens = 2,
            .forward_passes = 9,
            .wall_ms = 3.5,
            .verifier_tokens = 30};
  r.costs = {{"generator", "reasoner.gguf", 860000, r.cost}, {"verifier", "prm.gguf", 1000, {.verifier_tokens = 30}}};
  return r;
}

TraceRow sample_row() {
  EvalItem item{"q7", "1234?", Answer{"1234", "1234"}, 3, ""};
  return make_trace_row(item, sample_result());
}

TEST(ResultJson, OneShapeForTheCommandLineAndTheTraces) {
  const json result = sample_result();
  EXPECT_EQ(cli::to_json(sample_result()), result);
  for (const char* key : {"strategy", "answer", "text", "confidence", "stop_reason", "samples", "cost", "costs"}) {
    EXPECT_TRUE(result.contains(key)) << key;
  }
  EXPECT_FALSE(result.contains("error"));
  EXPECT_EQ(result["samples"][0]["scores"]["weight"], 0.5);
  EXPECT_FALSE(result["samples"][1].contains("scores"));
  EXPECT_TRUE(result["samples"][1]["answer"].is_null());
  EXPECT_EQ(result["samples"][1]["finish_reason"], "length");
  EXPECT_EQ(result["samples"][1]["parent"], 0);
  EXPECT_EQ(result["samples"][1]["token_logprobs"][1]["logprob"], -1.25);
  EXPECT_EQ(result["samples"][1]["token_logprobs"][1]["piece"], "\n");
  EXPECT_FALSE(result["samples"][0].contains("token_logprobs"));
  EXPECT_EQ(result["cost"]["verifier_tokens"], 30);
  EXPECT_EQ(result["costs"][1]["role"], "verifier");
  // A row is the result with what it was measured against.
  const json row = sample_row();
  for (const auto& [key, value] : result.items()) {
    if (key != "samples") {
      EXPECT_EQ(row[key], value) << key;
    }
  }
  EXPECT_EQ(row["id"], "q7");
  EXPECT_EQ(row["reference"], "1234");
  EXPECT_EQ(row["correct"], true);
  EXPECT_EQ(row["item_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(row["samples"][0]["correct"], true);
  EXPECT_EQ(row["samples"][1]["correct"], false);
}

TEST(ResultJson, RoundTrips) {
  const TraceRow row = sample_row();
  const TraceRow back = json::parse(dump_json(row)).get<TraceRow>();
  EXPECT_EQ(back.id, row.id);
  EXPECT_EQ(back.item_hash, row.item_hash);
  EXPECT_EQ(back.samples_correct, row.samples_correct);
  EXPECT_EQ(back.result.answer->key, normalize_answer("1234"));
  EXPECT_EQ(back.result.text, row.result.text);
  EXPECT_EQ(back.result.samples[0].scores, row.result.samples[0].scores);
  EXPECT_EQ(back.result.samples[1].finish, FinishReason::max_tokens);
  EXPECT_TRUE(back.result.samples[1].pruned);
  EXPECT_EQ(back.result.samples[1].id, 1);
  EXPECT_EQ(back.result.samples[1].parent, 0);
  EXPECT_EQ(back.result.samples[1].fork_position, 4);
  ASSERT_EQ(back.result.samples[1].token_logprobs.size(), 2u);
  EXPECT_EQ(back.result.samples[1].token_logprobs[1].token, 9);
  EXPECT_EQ(back.result.samples[1].token_pieces, (std::vector<std::string>{"12", "\n"}));
  EXPECT_EQ(back.result.samples[0].parent, -1);
  ASSERT_EQ(back.result.costs.size(), 2u);
  EXPECT_EQ(back.result.costs[0].model, "reasoner.gguf");
  EXPECT_EQ(back.result.costs[0].parameters, 860000);
  EXPECT_EQ(back.result.costs[1].cost.verifier_tokens, 30);
  // JSON has no infinity: written as null, read as NaN.
  EXPECT_TRUE(json(row)["samples"][1]["mean_logprob"].is_null());
  EXPECT_TRUE(std::isnan(back.result.samples[1].mean_logprob));
  EXPECT_EQ(back.result.cost.generated_tokens, 10);
  EXPECT_DOUBLE_EQ(back.result.cost.wall_ms, 3.5);
  StrategyResult failed;
  failed.strategy = "vote@4";
  failed.error = "scheduler stalled";
  EXPECT_EQ(json(failed).get<StrategyResult>().error, "scheduler stalled");
}

// The message from_json throws for `j` ("" when it reads).
std::string row_error(const json& j) {
  try {
    (void)j.get<TraceRow>();
  } catch (const ResultJsonError& e) {
    return e.what();
  }
  return "";
}

TEST(ResultJson, ReadingNamesTheFieldAndWhatIsAllowed) {
  const json good = sample_row();
  EXPECT_EQ(row_error(good), "");
  auto changed = [&](auto edit) {
    json j = good;
    edit(j);
    return row_error(j);
  };
  EXPECT_EQ(changed([](json& j) { j.erase("cost"); }), "cost: missing");
  EXPECT_EQ(changed([](json& j) { j.erase("samples"); }), "samples: missing");
  EXPECT_EQ(changed([](json& j) { j["samples"] = 3; }), "samples: expected an array, got 3");
  EXPECT_EQ(changed([](json& j) { j["samples"][1] = "x"; }), "samples[1]: expected an object, got \"x\"");
  EXPECT_EQ(changed([](json& j) { j["samples"][1].erase("correct"); }), "samples[1].correct: missing");
  EXPECT_EQ(changed([](json& j) { j["samples"][0]["tokens"] = -1; }),
            "samples[0].tokens: expected an integer from 0 to 2147483647, got -1");
  EXPECT_EQ(changed([](json& j) { j["samples"][0]["tokens"] = 1.5; }),
            "samples[0].tokens: expected an integer from 0 to 2147483647, got 1.5");
  EXPECT_EQ(changed([](json& j) { j["cost"]["generated_tokens"] = "10"; }),
            "cost.generated_tokens: expected an integer from 0 to 9223372036854775807, got \"10\"");
  EXPECT_EQ(
      changed([](json& j) { j["cost"]["prompt_tokens"] = 18446744073709551615ull; }),
      "cost.prompt_tokens: expected an integer from 0 to 9223372036854775807, got 18446744073709551615");
  EXPECT_EQ(changed([](json& j) { j["answer"] = 7; }), "answer: expected a string or null, got 7");
  EXPECT_EQ(changed([](json& j) { j["samples"][0]["parent"] = -2; }),
            "samples[0].parent: expected an integer from -1 to 2147483647, got -2");
  EXPECT_EQ(changed([](json& j) { j["costs"][1]["cost"].erase("wall_ms"); }), "costs[1].cost.wall_ms: missing");
  EXPECT_EQ(changed([](json& j) { j["samples"][1]["token_logprobs"][0].erase("piece"); }).rfind(
                "samples[1].token_logprobs: expected a piece in every token or in none, got [", 0),
            0u);
  EXPECT_EQ(changed([](json& j) { j["samples"][1]["token_logprobs"][0] = 5; }),
            "samples[1].token_logprobs[0]: expected an object, got 5");
  EXPECT_EQ(changed([](json& j) { j["correct"] = "yes"; }), "correct: expected true or false, got \"yes\"");
  EXPECT_EQ(changed([](json& j) { j["samples"][0]["scores"]["weight"] = "high"; }),
            "samples[0].scores.weight: expected a number or null, got \"high\"");
  EXPECT_EQ(changed([](json& j) { j["samples"][0]["finish_reason"] = "tired"; }),
            "samples[0].finish_reason: expected one of none, eos, stop, length, context_full, out_of_memory, "
            "cancelled, got \"tired\"");
  EXPECT_EQ(changed([](json& j) { j = json::array(); }), "the value: expected an object, got []");
  // Long values are shortened in the message.
  EXPECT_EQ(changed([](json& j) { j["text"] = std::vector<int>(50, 1); }),
            "text: expected a string, got [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,...");
}

}  // namespace
}  // namespace ponder
