// The request parser and validator (a pure function) and the stream's text splitting:
// every malformed or out-of-range field is an OpenAI-shaped error naming the field.

#include <gtest/gtest.h>

#include "server/request.h"
#include "server/sample_stream.h"

namespace ponder::server {
namespace {

const RequestLimits kLimits{{"tiny", "toy-reasoner-l"}, 16, 1 << 20};

CompletionRequest parse_ok(const std::string& body, Endpoint endpoint = Endpoint::chat) {
  auto r = parse_request(endpoint, body, kLimits);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << "refused: " << e->message;
  return std::holds_alternative<CompletionRequest>(r) ? std::get<CompletionRequest>(r) : CompletionRequest{};
}

ApiError parse_error(const std::string& body, Endpoint endpoint = Endpoint::chat) {
  auto r = parse_request(endpoint, body, kLimits);
  if (std::holds_alternative<CompletionRequest>(r)) {
    ADD_FAILURE() << "accepted: " << body;
    return {};
  }
  return std::get<ApiError>(r);
}

TEST(Request, ReadsOpenAIFieldsAndThePonderObject) {
  const CompletionRequest r = parse_ok(R"({
    "model": "tiny", "messages": [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": [{"type": "text", "text": "a=3; "}, {"type": "text", "text": "a?"}]}],
    "max_tokens": 12, "temperature": 0.5, "top_p": 0.9, "n": 3, "seed": 7, "stop": ["\n\n", "END"],
    "stream": true, "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2, "user": "u1",
    "frequency_penalty": 0, "logit_bias": {},
    "ponder": {"strategy": "vote@8", "threshold": 0.9, "wave": 2, "answer": "last-number", "ignore_eos": true,
               "timeout": 2.5}})");
  EXPECT_EQ(r.model_name, "tiny");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "a=3; a?");
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_FLOAT_EQ(r.options.generation.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.options.generation.sampling.top_p, 0.9f);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.options.generation.sampling.seed, 7u);
  EXPECT_EQ(r.options.generation.stop.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.options.generation.sampling.top_logprobs, 2);
  EXPECT_EQ(r.strategy, "vote@8");
  EXPECT_DOUBLE_EQ(r.options.adaptive.threshold, 0.9);
  EXPECT_EQ(r.options.adaptive.wave, 2);
  EXPECT_EQ(r.options.generation.answers.rule, AnswerRule::last_number);
  EXPECT_TRUE(r.options.generation.stop.ignore_eos);
  EXPECT_EQ(r.timeout_seconds, 2.5);
  EXPECT_FALSE(parse_ok(R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}]})").timeout_seconds);
}

TEST(Request, EventsAreOnOffOrAll) {
  const std::string head = R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}], "ponder": {"events": )";
  const CompletionRequest plain = parse_ok(head + "true}}");
  EXPECT_TRUE(plain.events);
  EXPECT_FALSE(plain.all_events);
  const CompletionRequest all = parse_ok(head + "\"all\"}}");
  EXPECT_TRUE(all.events);
  EXPECT_TRUE(all.all_events);
  EXPECT_FALSE(parse_ok(head + "false}}").events);
  const ApiError e = parse_error(head + "\"some\"}}");
  EXPECT_EQ(e.param, "ponder.events");
  EXPECT_EQ(e.code, "invalid_value");
  EXPECT_EQ(parse_error(head + "1}}").code, "invalid_type");
}

TEST(Request, ReadsThinkingControl) {
  const CompletionRequest none = parse_ok(R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}]})");
  EXPECT_FALSE(none.thinking);
  EXPECT_FALSE(none.thinking_budget);
  const CompletionRequest r = parse_ok(R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}],
    "ponder": {"thinking": "off", "thinking_budget": 64}})");
  EXPECT_EQ(r.thinking, ThinkingMode::off);
  EXPECT_EQ(r.thinking_budget, 64);
  const ApiError mode = parse_error(R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}],
    "ponder": {"thinking": "sometimes"}})");
  EXPECT_EQ(mode.param, "ponder.thinking");
  EXPECT_NE(mode.message.find("auto, on or off"), std::string::npos) << mode.message;
  const ApiError budget = parse_error(R"({"model": "tiny", "messages": [{"role": "user", "content": "q"}],
    "ponder": {"thinking_budget": -5}})");
  EXPECT_EQ(budget.param, "ponder.thinking_budget");
}

TEST(Request, StrategyFromTheModelNameSuffix) {
  const CompletionRequest r =
      parse_ok(R"({"model": "toy-reasoner-l:vote@8", "prompt": "a=1; a?"})", Endpoint::completions);
  EXPECT_EQ(r.model_name, "toy-reasoner-l");
  EXPECT_EQ(r.model, "toy-reasoner-l:vote@8");
  EXPECT_EQ(r.strategy, "vote@8");
  EXPECT_EQ(r.prompt, "a=1; a?");
  // The same strategy twice is fine; two different ones are not.
  parse_ok(
      R"({"model": "tiny:vote@8", "messages": [{"role": "user", "content": "q"}], "ponder": {"strategy": "vote@8"}})");
  EXPECT_EQ(parse_error(R"({"model": "tiny:vote@8", "messages": [{"role": "user", "content": "q"}],
                            "ponder": {"strategy": "esc"}})")
                .code,
            "conflicting_strategy");
}

TEST(Request, RawSamplesDefaultToTemperatureOne) {
  const CompletionRequest raw = parse_ok(
      R"({"model": "tiny", "prompt": "x", "ponder": {"strategy": "sample"}})", Endpoint::completions);
  EXPECT_TRUE(raw.raw());
  EXPECT_FLOAT_EQ(raw.options.generation.sampling.temperature, 1.0f);
  const CompletionRequest vote =
      parse_ok(R"({"model": "tiny:vote@2", "prompt": "x"})", Endpoint::completions);
  EXPECT_FLOAT_EQ(vote.options.generation.sampling.temperature, 0.8f);
  // The completions API's logprobs is a count of alternatives.
  const CompletionRequest lp =
      parse_ok(R"({"model": "tiny", "prompt": "x", "logprobs": 3})", Endpoint::completions);
  EXPECT_TRUE(lp.logprobs);
  EXPECT_EQ(lp.top_logprobs, 3);
}

struct Refused {
  std::string body;
  int status;
  std::string param;
  std::string code;
};

class RequestRefusal : public testing::TestWithParam<Refused> {};

TEST_P(RequestRefusal, NamesTheFieldWithTheRightStatus) {
  const Refused& c = GetParam();
  const ApiError e = parse_error(c.body);
  EXPECT_EQ(e.status, c.status) << e.message;
  EXPECT_EQ(e.param, c.param) << e.message;
  EXPECT_EQ(e.code, c.code) << e.message;
  EXPECT_FALSE(e.message.empty());
  const nlohmann::json j = error_json(e);
  for (const char* key : {"message", "type", "param", "code"}) EXPECT_TRUE(j["error"].contains(key)) << key;
}

const std::string kMessages = R"("messages": [{"role": "user", "content": "q"}])";

INSTANTIATE_TEST_SUITE_P(
    BadInput, RequestRefusal,
    testing::Values(
        Refused{"{not json", 400, "", "invalid_json"}, Refused{"", 400, "", "invalid_json"},
        Refused{"[1, 2]", 400, "", "invalid_body"},
        Refused{"{" + kMessages + "}", 400, "model", "missing_field"},
        Refused{R"({"model": 5, )" + kMessages + "}", 400, "model", "invalid_type"},
        Refused{R"({"model": "gpt-9", )" + kMessages + "}", 404, "model", "model_not_found"},
        Refused{R"({"model": "tiny"})", 400, "messages", "missing_field"},
        Refused{R"({"model": "tiny", "messages": []})", 400, "messages", "empty_messages"},
        Refused{R"({"model": "tiny", "messages": "hi"})", 400, "messages", "invalid_type"},
        Refused{R"({"model": "tiny", "messages": [{"role": "wizard", "content": "q"}]})", 400,
                "messages[0].role", "invalid_role"},
        Refused{R"({"model": "tiny", "messages": [{"role": "user"}]})", 400, "messages[0].content",
                "missing_field"},
        Refused{R"({"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                400, "messages[0].content[0].type", "unsupported_content"},
        Refused{R"({"model": "tiny", "temperature": 3, )" + kMessages + "}", 400, "temperature",
                "out_of_range"},
        Refused{R"({"model": "tiny", "temperature": "hot", )" + kMessages + "}", 400, "temperature",
                "invalid_type"},
        Refused{R"({"model": "tiny", "top_p": 0, )" + kMessages + "}", 400, "top_p", "out_of_range"},
        Refused{R"({"model": "tiny", "n": 0, )" + kMessages + "}", 400, "n", "out_of_range"},
        Refused{R"({"model": "tiny", "n": 17, )" + kMessages + "}", 400, "n", "out_of_range"},
        Refused{R"({"model": "tiny", "n": 1.5, )" + kMessages + "}", 400, "n", "invalid_type"},
        Refused{R"({"model": "tiny", "max_tokens": 0, )" + kMessages + "}", 400, "max_tokens",
                "out_of_range"},
        Refused{R"({"model": "tiny", "max_tokens": 1e300, )" + kMessages + "}", 400, "max_tokens",
                "invalid_type"},
        Refused{R"({"model": "tiny", "seed": -1, )" + kMessages + "}", 400, "seed", "invalid_type"},
        Refused{R"({"model": "tiny", "stop": ["a", "b", "c", "d", "e"], )" + kMessages + "}", 400, "stop",
                "out_of_range"},
        Refused{R"({"model": "tiny", "stop": [""], )" + kMessages + "}", 400, "stop", "invalid_value"},
        Refused{R"({"model": "tiny", "stream": "yes", )" + kMessages + "}", 400, "stream", "invalid_type"},
        Refused{R"({"model": "tiny", "stream_options": {"include_usage": true}, )" + kMessages + "}", 400,
                "stream_options", "invalid_value"},
        Refused{R"({"model": "tiny", "top_logprobs": 2, )" + kMessages + "}", 400, "top_logprobs",
                "invalid_value"},
        Refused{R"({"model": "tiny", "logprobs": true, "top_logprobs": 21, )" + kMessages + "}", 400,
                "top_logprobs", "out_of_range"},
        Refused{R"({"model": "tiny", "presence_penalty": 1, )" + kMessages + "}", 400, "presence_penalty",
                "unsupported_parameter"},
        Refused{R"({"model": "tiny", "tools": [{"type": "function"}], )" + kMessages + "}", 400, "tools",
                "unsupported_parameter"},
        Refused{R"({"model": "tiny", "ponder": [], )" + kMessages + "}", 400, "ponder", "invalid_type"},
        Refused{R"({"model": "tiny", "ponder": {"strategee": "vote@2"}, )" + kMessages + "}", 400,
                "ponder.strategee", "unknown_parameter"},
        Refused{R"({"model": "tiny", "ponder": {"budget": 5000}, )" + kMessages + "}", 400, "ponder.budget",
                "out_of_range"},
        Refused{R"({"model": "tiny", "ponder": {"threshold": 0.3}, )" + kMessages + "}", 400,
                "ponder.threshold", "out_of_range"},
        Refused{R"({"model": "tiny", "ponder": {"answer": "telepathy"}, )" + kMessages + "}", 400,
                "ponder.answer", "invalid_value"},
        Refused{R"({"model": "tiny", "ponder": {"answer": "regex"}, )" + kMessages + "}", 400,
                "ponder.answer", "unsupported_parameter"},
        Refused{R"({"model": "tiny", "ponder": {"timeout": 0}, )" + kMessages + "}", 400, "ponder.timeout",
                "out_of_range"},
        Refused{R"({"model": "tiny", "ponder": {"timeout": -3}, )" + kMessages + "}", 400, "ponder.timeout",
                "out_of_range"},
        Refused{R"({"model": "tiny", "ponder": {"timeout": "1s"}, )" + kMessages + "}", 400, "ponder.timeout",
                "invalid_type"},
        Refused{R"({"model": "tiny:", )" + kMessages + "}", 400, "model", "invalid_value"}),
    [](const testing::TestParamInfo<Refused>& info) {
      return info.param.code + "_" + std::to_string(info.index);
    });

TEST(Request, CompletionsPromptIsOneStringOrOneArrayOfTokenIds) {
  EXPECT_EQ(parse_error(R"({"model": "tiny"})", Endpoint::completions).param, "prompt");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": ["a", "b"]})", Endpoint::completions).code,
            "unsupported_prompt");
  // Token ids, as vLLM takes them: flat or as the one prompt of a list.
  EXPECT_EQ(parse_ok(R"({"model": "tiny", "prompt": [1, 2, 3]})", Endpoint::completions).prompt_tokens,
            (std::vector<Token>{1, 2, 3}));
  EXPECT_EQ(parse_ok(R"({"model": "tiny", "prompt": [[4, 5]]})", Endpoint::completions).prompt_tokens,
            (std::vector<Token>{4, 5}));
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": [[1], [2]]})", Endpoint::completions).code,
            "unsupported_prompt");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": [1, "a"]})", Endpoint::completions).code,
            "unsupported_prompt");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": []})", Endpoint::completions).code, "unsupported_prompt");
  const ApiError negative = parse_error(R"({"model": "tiny", "prompt": [1, -2]})", Endpoint::completions);
  EXPECT_EQ(negative.param, "prompt[1]");
  EXPECT_EQ(negative.code, "out_of_range");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": [1.5]})", Endpoint::completions).param, "prompt[0]");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": "x", "echo": true})", Endpoint::completions).code,
            "unsupported_parameter");
  EXPECT_EQ(parse_error(R"({"model": "tiny", "prompt": "x", "logprobs": 6})", Endpoint::completions).param,
            "logprobs");
}

TEST(Request, NeverThrowsOnDeepOrHugeInput) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(parse_error(deep).code, "invalid_body");
  const std::string invalid_utf8 = "{\"model\": \"ti\xff\", " + kMessages + "}";
  EXPECT_EQ(parse_error(invalid_utf8).code, "invalid_json");
}

TEST(StreamText, NeverSplitsAUtf8Character) {
  // U+20AC is E2 82 AC; U+1F642 is F0 9F 99 82.
  EXPECT_EQ(utf8_complete_prefix("ab"), 2u);
  EXPECT_EQ(utf8_complete_prefix("a\xE2\x82\xAC"), 4u);
  EXPECT_EQ(utf8_complete_prefix("a\xE2"), 1u);
  EXPECT_EQ(utf8_complete_prefix("a\xE2\x82"), 1u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x99"), 0u);
  EXPECT_EQ(utf8_complete_prefix("\xF0\x9F\x99\x82"), 4u);
  EXPECT_EQ(utf8_complete_prefix("\x80\x80"), 2u);  // invalid bytes pass, to be replaced
}

TEST(StreamText, HoldsBackAPossibleStopString) {
  const std::vector<std::string> stop = {"END", "\n\n"};
  EXPECT_EQ(streamable_prefix("the answer E", stop), 11u);
  EXPECT_EQ(streamable_prefix("the answer EN", stop), 11u);
  EXPECT_EQ(streamable_prefix("the answer\n", stop), 10u);
  EXPECT_EQ(streamable_prefix("the answer X", stop), 12u);
  EXPECT_EQ(streamable_prefix("E", {}), 1u);
}

}  // namespace
}  // namespace ponder::server
