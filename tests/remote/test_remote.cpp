// The remote backend: endpoint specs, the request and response shapes of each API, and a
// runtime drawing its samples from a STAND-IN server on a loopback port that answers
// /v1/completions as vLLM's documentation specifies (streamed chunks, logprobs with
// "token_id:N" tokens and top_logprobs objects). The stand-in checks ponder's side of the
// protocol; it is not a real engine (tests/remote/llama_server.sh runs real ones).

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "ponder/eval.h"
#include "ponder/remote.h"
#include "ponder/runtime.h"
#include "ponder/strategy.h"
#include "support/test_models.h"

namespace ponder {
namespace {

using json = nlohmann::json;

TEST(RemoteEndpoint, ParsesSpecs) {
  const RemoteEndpoint e = parse_remote_endpoint("http://127.0.0.1:8080/,api=openai,concurrency=3,model=qwen");
  EXPECT_EQ(e.url, "http://127.0.0.1:8080");
  EXPECT_EQ(e.api, RemoteApi::openai);
  EXPECT_EQ(e.concurrency, 3);
  EXPECT_EQ(e.model, "qwen");
  EXPECT_EQ(parse_remote_endpoint("http://h:1").api, RemoteApi::llama);
  EXPECT_EQ(parse_remote_endpoint("http://h:1,api=vllm").api, RemoteApi::openai);
  EXPECT_EQ(parse_remote_endpoint("http://h:1,api=ponder").api, RemoteApi::ponder);
  EXPECT_EQ(remote_endpoint_spec(e), "http://127.0.0.1:8080,api=openai,concurrency=3,model=qwen");
}

TEST(RemoteEndpoint, RefusesBadSpecs) {
  for (const char* spec : {"127.0.0.1:8080", "https://h:1", "http://h:1/v1", "http://h:1,concurrency=0",
                           "http://h:1,concurrency=2x", "http://h:1,api=tgi", "http://h:1,colour=red", "http://h:1,api"}) {
    EXPECT_THROW(parse_remote_endpoint(spec), std::invalid_argument) << spec;
  }
  try {
    parse_remote_endpoint("http://h:1,api=tgi");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("llama, openai (vllm, sglang) or ponder"), std::string::npos) << e.what();
  }
  RemoteOptions o;
  EXPECT_THROW(o.validate(), std::invalid_argument);  // no endpoint
  o.endpoints.push_back(parse_remote_endpoint("http://h:1"));
  o.timeout_s = 0;
  EXPECT_THROW(o.validate(), std::invalid_argument);
}

RemoteRequest sample_request() {
  RemoteRequest r;
  r.prompt = {1, 5, 6};
  r.sampling.temperature = 0.8f;
  r.sampling.seed = 42;
  r.sampling.top_logprobs = 3;
  r.stop.max_tokens = 17;
  r.stop.stop = {"\n\n"};
  return r;
}

TEST(RemoteProtocol, LlamaServerRequest) {
  const auto model = test::toy_reasoner();
  const json body = json::parse(remote::request_body(parse_remote_endpoint("http://h:1"), sample_request(), *model));
  EXPECT_EQ(std::string(remote::request_path(RemoteApi::llama)), "/completion");
  EXPECT_EQ(body["prompt"], json::array({1, 5, 6}));
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["n_predict"], 17);
  EXPECT_EQ(body["n_probs"], 3);
  EXPECT_EQ(body["cache_prompt"], true);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stop"], json::array({"\n\n"}));
  // llama-server's own defaults (top_k 40, min_p 0.05) would change the distribution.
  EXPECT_EQ(body["top_k"], 0);
  EXPECT_EQ(body["min_p"], 0.0);
}

TEST(RemoteProtocol, OpenAiRequestAsVllmDocumentsIt) {
  const auto model = test::toy_reasoner();
  RemoteRequest r = sample_request();
  r.sampling.top_k = 5;
  const json body =
      json::parse(remote::request_body(parse_remote_endpoint("http://h:1,api=openai,model=m"), r, *model));
  EXPECT_EQ(std::string(remote::request_path(RemoteApi::openai)), "/v1/completions");
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["prompt"], json::array({1, 5, 6}));
  EXPECT_EQ(body["max_tokens"], 17);
  EXPECT_EQ(body["logprobs"], 3);
  EXPECT_EQ(body["return_tokens_as_token_ids"], true);
  EXPECT_EQ(body["top_k"], 5);
  EXPECT_FALSE(body.contains("min_p"));  // off: not sent
  EXPECT_FALSE(body.contains("n_probs"));
}

TEST(RemoteProtocol, PonderRequestIsRawModeWithTokenIds) {
  const auto model = test::toy_reasoner();
  RemoteRequest r = sample_request();
  r.prompt = model->tokenize("a=3; a?\n", true);
  const json body = json::parse(remote::request_body(parse_remote_endpoint("http://h:1,api=ponder"), r, *model));
  EXPECT_EQ(body["prompt"], json(r.prompt));  // the tokens as they are, BOS included
  EXPECT_EQ(body["ponder"]["strategy"], "sample");
  EXPECT_EQ(body["model"], "toy-reasoner-l");  // as ponder serve names the file
  EXPECT_EQ(body["logprobs"], 3);
}

TEST(RemoteProtocol, AStepKeepsItsStopStringOnVllmAndSglang) {
  const auto model = test::toy_reasoner();
  RemoteRequest r = sample_request();
  r.stop.keep_stop = true;
  const json body = json::parse(remote::request_body(parse_remote_endpoint("http://h:1,api=vllm"), r, *model));
  EXPECT_EQ(body["include_stop_str_in_output"], true);
  EXPECT_EQ(body["no_stop_trim"], true);
  r.stop.keep_stop = false;
  const json plain = json::parse(remote::request_body(parse_remote_endpoint("http://h:1,api=vllm"), r, *model));
  EXPECT_FALSE(plain.contains("include_stop_str_in_output"));
}

TEST(RemoteProtocol, ScoringAsksVllmForPromptLogprobsOnly) {
  const auto model = test::toy_reasoner();
  RemoteRequest r = sample_request();
  r.score_from = 2;
  const RemoteEndpoint vllm = parse_remote_endpoint("http://h:1,api=vllm");
  EXPECT_TRUE(vllm.prompt_logprobs);
  const json body = json::parse(remote::request_body(vllm, r, *model));
  EXPECT_EQ(body["prompt"], json::array({1, 5, 6}));
  EXPECT_EQ(body["prompt_logprobs"], 3);
  EXPECT_EQ(body["max_tokens"], 1);
  EXPECT_EQ(body["stream"], false);
  EXPECT_FALSE(body.contains("seed"));
  // llama-server, SGLang and ponder serve have no prompt logprobs.
  for (const char* spec : {"http://h:1", "http://h:1,api=sglang", "http://h:1,api=ponder"}) {
    const RemoteEndpoint e = parse_remote_endpoint(spec);
    EXPECT_FALSE(e.prompt_logprobs) << spec;
    EXPECT_THROW(remote::request_body(e, r, *model), std::logic_error) << spec;
  }
  EXPECT_EQ(remote_endpoint_spec(parse_remote_endpoint("http://h:1,api=sglang")), "http://h:1,api=sglang,concurrency=4");
}

TEST(RemoteProtocol, EventStreamSplitsPayloadsAcrossChunks) {
  remote::EventStream s;
  EXPECT_TRUE(s.feed("data: {\"a\"", 10).empty());
  const std::string rest = ":1}\r\n\r\n: comment\n\ndata: [DONE]\n\n";
  const auto out = s.feed(rest.data(), rest.size());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "{\"a\":1}");
  EXPECT_EQ(out[1], "[DONE]");
}

class RemoteChunks : public ::testing::Test {
 protected:
  RemoteChunks() : backend_(options(), test::toy_reasoner()) {}
  static RemoteOptions options() {
    RemoteOptions o;
    o.endpoints.push_back(parse_remote_endpoint("http://127.0.0.1:9,concurrency=1"));
    return o;
  }
  RemoteBackend backend_;
};

TEST_F(RemoteChunks, LlamaServerChunk) {
  // llama-server's /completion stream chunk (tools/server, to_json_non_oaicompat).
  const json chunk = {{"index", 0},
                      {"content", "7"},
                      {"tokens", {12}},
                      {"stop", false},
                      {"completion_probabilities",
                       {{{"id", 12},
                         {"token", "7"},
                         {"bytes", {55}},
                         {"logprob", -0.25},
                         {"top_logprobs",
                          {{{"id", 12}, {"token", "7"}, {"logprob", -0.25}},
                           {{"id", 13}, {"token", "8"}, {"logprob", -1.5}}}}}}}};
  remote::Chunk c = remote::parse_chunk(RemoteApi::llama, chunk.dump(), backend_, 1);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].token, 12);
  EXPECT_FLOAT_EQ(c.records[0].logprob, -0.25f);
  ASSERT_EQ(c.records[0].top.size(), 1u);  // one asked for
  EXPECT_GT(c.records[0].entropy, 0.0f);   // of the two sent
  EXPECT_EQ(c.text, "7");
  EXPECT_FALSE(c.end);
  const json last = {{"content", ""}, {"stop", true}, {"stop_type", "word"}, {"stopping_word", "\n\n"},
                     {"tokens_evaluated", 9}};
  c = remote::parse_chunk(RemoteApi::llama, last.dump(), backend_, 1);
  EXPECT_TRUE(c.end);
  EXPECT_EQ(c.finish, FinishReason::stop_string);
  EXPECT_EQ(c.stop_word, "\n\n");
  EXPECT_EQ(c.prompt_tokens, 9);
  EXPECT_THROW(remote::parse_chunk(RemoteApi::llama, R"({"completion_probabilities":[{"id":99999999,"logprob":0}]})",
                                   backend_, 1),
               std::runtime_error);
}

TEST_F(RemoteChunks, VllmAndSglangChunks) {
  const auto& model = backend_.model();
  const Token seven = model.tokenize("7", false).at(0), eight = model.tokenize("8", false).at(0);
  const std::string id7 = "token_id:" + std::to_string(seven), id8 = "token_id:" + std::to_string(eight);
  // vLLM's completions stream with return_tokens_as_token_ids: the alternatives an object.
  const json chunk = {{"choices",
                       {{{"index", 0},
                         {"text", "7"},
                         {"logprobs",
                          {{"tokens", {id7}},
                           {"token_logprobs", {-0.5}},
                           {"top_logprobs", {{{id8, -1.0}, {id7, -0.5}}}},
                           {"text_offset", {0}}}},
                         {"finish_reason", nullptr},
                         {"stop_reason", nullptr}}}}};
  remote::Chunk c = remote::parse_chunk(RemoteApi::openai, chunk.dump(), backend_, 2);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].token, seven);
  ASSERT_EQ(c.records[0].top.size(), 2u);
  EXPECT_EQ(c.records[0].top[0].token, seven);  // best first, whatever the object's order
  EXPECT_EQ(c.records[0].top[1].token, eight);
  // SGLang / OpenAI send token text: looked up in the local vocabulary.
  const json text_chunk = {{"choices", {{{"text", "8"}, {"logprobs", {{"tokens", {"8"}}, {"token_logprobs", {-0.1}}}}}}}};
  EXPECT_EQ(remote::parse_chunk(RemoteApi::openai, text_chunk.dump(), backend_, 0).records.at(0).token, eight);
  // vLLM: stop_reason is the stop string; SGLang: matched_stop; null / a token id: end of generation.
  const json vllm_stop = {{"choices", {{{"text", ""}, {"finish_reason", "stop"}, {"stop_reason", "\n\n"}}}}};
  EXPECT_EQ(remote::parse_chunk(RemoteApi::openai, vllm_stop.dump(), backend_, 0).finish, FinishReason::stop_string);
  const json sglang_eos = {{"choices", {{{"text", ""}, {"finish_reason", "stop"}, {"matched_stop", 2}}}}};
  EXPECT_EQ(remote::parse_chunk(RemoteApi::openai, sglang_eos.dump(), backend_, 0).finish, FinishReason::eos);
  const json length = {{"choices", {{{"text", ""}, {"finish_reason", "length"}}}}};
  EXPECT_EQ(remote::parse_chunk(RemoteApi::openai, length.dump(), backend_, 0).finish, FinishReason::max_tokens);
  EXPECT_TRUE(remote::parse_chunk(RemoteApi::openai, "[DONE]", backend_, 0).end);
  // A token the local model does not have: the server runs another model.
  const json alien = {{"choices", {{{"text", "x"}, {"logprobs", {{"tokens", {"\xe2\x98\x83snowman"}}, {"token_logprobs", {-0.1}}}}}}}};
  EXPECT_THROW(remote::parse_chunk(RemoteApi::openai, alien.dump(), backend_, 0), std::runtime_error);
  EXPECT_THROW(remote::parse_chunk(RemoteApi::openai, R"({"error":{"message":"too many logprobs"}})", backend_, 0),
               std::runtime_error);
}

TEST_F(RemoteChunks, VllmPromptLogprobs) {
  RemoteRequest r;
  r.prompt = {1, 40, 41, 42};
  r.score_from = 2;
  // vLLM: null for the first token, then per token an object keyed by token id holding the
  // prompt's token and the top alternatives.
  const json answer = {
      {"choices",
       {{{"text", "x"},
         {"prompt_logprobs",
          {nullptr,
           {{"40", {{"logprob", -1.0}, {"rank", 1}, {"decoded_token", "token_id:40"}}}},
           {{"41", {{"logprob", -2.5}, {"rank", 3}}}, {"7", {{"logprob", -0.5}, {"rank", 1}}}},
           {{"42", {{"logprob", -0.25}, {"rank", 1}}}}}}}}},
      {"usage", {{"prompt_tokens", 4}}}};
  const remote::Chunk c = remote::parse_scores(answer.dump(), r, backend_, 2);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].token, 41);
  EXPECT_FLOAT_EQ(c.records[0].logprob, -2.5f);
  ASSERT_EQ(c.records[0].top.size(), 2u);
  EXPECT_EQ(c.records[0].top[0].token, 7);  // best first
  EXPECT_EQ(c.records[1].token, 42);
  EXPECT_FLOAT_EQ(c.records[1].logprob, -0.25f);
  EXPECT_EQ(c.prompt_tokens, 4);

  // What a server without prompt logprobs answers, or a wrong answer: errors naming it.
  auto error_of = [&](const json& bad) {
    try {
      remote::parse_scores(bad.dump(), r, backend_, 2);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error_of({{"choices", {{{"text", "x"}}}}}).find("no 'prompt_logprobs'"), std::string::npos);
  json short_answer = answer;
  short_answer["choices"][0]["prompt_logprobs"].erase(3);
  EXPECT_NE(error_of(short_answer).find("3 entries for a prompt of 4"), std::string::npos);
  json without_own = answer;
  without_own["choices"][0]["prompt_logprobs"][3] = {{"9", {{"logprob", -0.1}}}};
  EXPECT_NE(error_of(without_own).find("lacks the prompt's token 42"), std::string::npos);
  EXPECT_NE(error_of({{"error", {{"message", "prompt_logprobs is too large"}}}}).find("too large"), std::string::npos);
}

// A STAND-IN for a vLLM server: /v1/completions streamed as vLLM's documentation shows.
// Each sample writes "a\n#### N\n" with N = 7 for even seeds and 8 for odd ones, token by
// token ("token_id:N" tokens, two alternatives each), then finish_reason "stop". A stop
// string ends it at the token that completes it, stop_reason naming it; that token comes
// with include_stop_str_in_output, else its text and token are withheld (`withhold_stop`:
// always). A request with prompt_logprobs is answered whole: prompt token k has logprob
// -0.1 * (k % 5 + 1).
class StandInVllm {
 public:
  StandInVllm(std::shared_ptr<const Model> model, bool broken, bool withhold_stop = false)
      : model_(std::move(model)), broken_(broken), withhold_stop_(withhold_stop) {
    server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(body);
      }
      if (broken_) {
        res.status = 503;
        res.set_content(R"({"error":{"message":"stand-in: overloaded"}})", "application/json");
        return;
      }
      if (body.contains("prompt_logprobs")) {
        const auto prompt = body.at("prompt").get<std::vector<Token>>();
        json logprobs = json::array({nullptr});
        for (size_t k = 1; k < prompt.size(); ++k) {
          logprobs.push_back({{std::to_string(prompt[k]), {{"logprob", -0.1 * double(k % 5 + 1)}, {"rank", 1}}}});
        }
        const json answer = {{"choices", {{{"index", 0}, {"text", "x"}, {"prompt_logprobs", logprobs}}}},
                             {"usage", {{"prompt_tokens", prompt.size()}}}};
        res.set_content(answer.dump(), "application/json");
        return;
      }
      const uint64_t seed = body.at("seed").get<uint64_t>();
      const std::string text = seed % 2 == 0 ? "a\n#### 7\n" : "a\n#### 8\n";
      auto tokens = std::make_shared<std::vector<Token>>(model_->tokenize(text, false));
      const auto stops = std::make_shared<std::vector<std::string>>(
          body.contains("stop") ? body["stop"].get<std::vector<std::string>>() : std::vector<std::string>{});
      const bool include_stop = body.value("include_stop_str_in_output", false) && !withhold_stop_;
      res.set_chunked_content_provider("text/event-stream", [this, tokens, stops, include_stop](size_t,
                                                                                                httplib::DataSink& sink) {
        std::string written;
        json stop_reason = nullptr;
        for (Token t : *tokens) {
          written += model_->token_piece(t);
          for (const auto& stop : *stops) {
            if (written.find(stop) != std::string::npos) stop_reason = stop;
          }
          if (!stop_reason.is_null() && !include_stop) break;
          const std::string id = "token_id:" + std::to_string(t);
          const std::string other = "token_id:" + std::to_string((t + 1) % model_->n_vocab());
          const json chunk = {{"object", "text_completion"},
                              {"choices",
                               {{{"index", 0},
                                 {"text", model_->token_piece(t)},
                                 {"logprobs",
                                  {{"tokens", {id}},
                                   {"token_logprobs", {-0.1}},
                                   {"top_logprobs", {{{id, -0.1}, {other, -2.4}}}},
                                   {"text_offset", {0}}}},
                                 {"finish_reason", nullptr},
                                 {"stop_reason", nullptr}}}}};
          const std::string event = "data: " + chunk.dump() + "\n\n";
          sink.write(event.data(), event.size());
          if (!stop_reason.is_null()) break;
        }
        const json last = {{"choices", {{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}, {"stop_reason", stop_reason}}}}};
        const std::string end = "data: " + last.dump() + "\n\ndata: [DONE]\n\n";
        sink.write(end.data(), end.size());
        sink.done();
        return true;
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The port is bound: connections wait in the backlog until it listens.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~StandInVllm() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  std::shared_ptr<const Model> model_;
  bool broken_;
  bool withhold_stop_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<json> requests_;
};

EngineOptions tokenizer_engine() {
  EngineOptions o;
  o.max_sequences = 2;
  o.context_per_sequence = 512;
  o.threads = 1;
  return o;
}

// A runtime whose samples come from one stand-in server ("api=...,concurrency=..." after
// its URL). Members are destroyed in reverse: the runtime before the server it calls.
struct OnStandIn {
  OnStandIn(std::shared_ptr<const Model> model, const std::string& endpoint, bool withhold_stop = false)
      : server(model, false, withhold_stop),
        backend(std::make_shared<RemoteBackend>(options(server.url() + "," + endpoint), model)),
        engine(model, tokenizer_engine()),
        runtime(engine, {.remote = backend}) {}
  static RemoteOptions options(const std::string& spec) {
    RemoteOptions o;
    o.endpoints.push_back(parse_remote_endpoint(spec));
    return o;
  }
  StandInVllm server;
  std::shared_ptr<RemoteBackend> backend;
  Engine engine;
  Runtime runtime;
};

TEST(RemoteRuntime, VoteOnAStandInVllmWithAFailingEndpointBeside) {
  const auto model = test::toy_reasoner();
  StandInVllm good(model, false), broken(model, true);
  RemoteOptions o;
  o.endpoints.push_back(parse_remote_endpoint(broken.url() + ",api=openai,concurrency=1"));
  o.endpoints.push_back(parse_remote_endpoint(good.url() + ",api=openai,concurrency=2"));
  o.cooldown_s = 1000;  // the broken one is tried once
  auto backend = std::make_shared<RemoteBackend>(o, model);
  std::vector<std::string> notices;
  std::mutex notices_mutex;
  backend->set_notice([&](const std::string& line) {
    std::lock_guard lock(notices_mutex);
    notices.push_back(line);
  });
  Engine engine(model, tokenizer_engine());
  Runtime runtime(engine, {.remote = backend});
  EXPECT_EQ(runtime.capabilities(), Capabilities(kSample | kLogprobs | kFork | kTruncate | kExtend | kScore));

  StrategyOptions so;
  so.generation.sampling.seed = 10;
  so.generation.sampling.temperature = 0.8f;
  std::shared_ptr<const Strategy> vote = make_strategy("vote@5", so);
  const std::string question = "a=3; a?";
  std::vector<Event> events;
  const StrategyResult r =
      runtime.wait(runtime.submit({vote, question, [&](const Event& e) { events.push_back(e); }, {}}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  // Seeds 10..14: 7 three times, 8 twice.
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->text, "7");
  ASSERT_EQ(r.samples.size(), 5u);
  for (size_t k = 0; k < 5; ++k) EXPECT_EQ(r.samples[k].answer->text, k % 2 == 0 ? "7" : "8") << k;
  EXPECT_LT(r.samples[0].mean_logprob, 0.0);
  EXPECT_EQ(r.cost.generated_tokens, int64_t(5 * model->tokenize("a\n#### 7\n", false).size()));

  // Every seed was sent, to the good server in the end; the prompt as the model's tokens.
  std::multiset<uint64_t> seeds;
  for (const json& body : good.requests()) {
    seeds.insert(body.at("seed").get<uint64_t>());
    EXPECT_EQ(body.at("prompt").get<std::vector<Token>>(), format_question(*model, question));
  }
  EXPECT_EQ(seeds, (std::multiset<uint64_t>{10, 11, 12, 13, 14}));
  // The broken one failed once (then cooled down), and its sample went elsewhere, reported.
  const auto stats = backend->stats();
  EXPECT_EQ(stats[0].failures, 1);
  EXPECT_EQ(stats[0].retried, 1);
  EXPECT_EQ(stats[1].completed, 5);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("HTTP 503: stand-in: overloaded"), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("goes to another endpoint"), std::string::npos) << notices[0];
  // Lines came as the tokens streamed.
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const Event& e) { return e.kind == EventKind::line; }));
}

TEST(RemoteRuntime, DeepConfReadsStreamedTopLogprobs) {
  OnStandIn on(test::toy_reasoner(), "api=openai,concurrency=4");
  StrategyOptions so;
  so.generation.sampling.seed = 2;
  so.deepconf.top_k = 2;
  const StrategyResult r = on.runtime.wait(on.runtime.submit({make_strategy("deepconf@6", so), "a=3; a?", {}, {}}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_TRUE(r.answer);
  for (const json& body : on.server.requests()) EXPECT_EQ(body.at("logprobs"), 2);
  for (const auto& s : r.samples) {
    // -mean of the two alternatives' logprobs, -0.1 and -2.4.
    EXPECT_NEAR(s.scores.at("confidence"), 1.25, 1e-4);
  }
}

TEST(RemoteRuntime, EvalRunsOnTheBackendAndRecordsIt) {
  const auto model = test::toy_reasoner();
  StandInVllm good(model, false);
  RemoteOptions o;
  o.endpoints.push_back(parse_remote_endpoint(good.url() + ",api=openai,concurrency=2,model=m"));
  EvalOptions options;
  options.strategies = {"vote@3"};
  options.out_dir = test::scratch_dir("remote_eval");
  options.seed = 4;
  options.remote = std::make_shared<RemoteBackend>(o, model);
  std::istringstream rows(R"({"id":"q1","question":"a=3; a?","answer":"7"}
{"id":"q2","question":"a=4; a?","answer":"8"}
)");
  const Dataset data = read_dataset(rows);
  Engine engine(model, tokenizer_engine());
  const EvalReport report = run_eval(engine, data, options);
  ASSERT_EQ(report.failed, 0);
  // Seeds 4, 5, 6: "7" twice, the first question's reference.
  EXPECT_DOUBLE_EQ(report.strategies.at(0).accuracy, 0.5);
  std::ifstream in(options.out_dir + "/run.json");
  const json run = json::parse(in);
  const json& settings = run.contains("settings") ? run["settings"] : run;
  ASSERT_TRUE(settings.contains("backend")) << run.dump();
  EXPECT_EQ(settings["backend"], json::array({{{"url", good.url()}, {"api", "openai"}, {"model", "m"}}}));
  EXPECT_EQ(good.requests().size(), 6u);
}

TEST(RemoteRuntime, RefusesWhatAServerCannotDoAndReportsEveryFailure) {
  const auto model = test::toy_reasoner();
  StandInVllm broken(model, true);
  RemoteOptions o;
  o.endpoints.push_back(parse_remote_endpoint(broken.url() + ",api=openai,concurrency=1"));
  o.endpoints.push_back(parse_remote_endpoint("http://127.0.0.1:9,api=openai,concurrency=1"));  // nothing listens
  o.cooldown_s = 0;
  auto backend = std::make_shared<RemoteBackend>(o, model);
  Engine engine(model, tokenizer_engine());
  Runtime runtime(engine, {.remote = backend});
  try {
    runtime.submit({make_strategy("beam@2"), "a=3; a?", {}, {}});
    ADD_FAILURE() << "beam@2 was accepted without a verifier";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("needs a verifier"), std::string::npos) << e.what();
  }
  // Every endpoint failing is the question's error, naming each failure: never lost.
  const StrategyResult r = runtime.wait(runtime.submit({make_strategy("vote@2"), "a=3; a?", {}, {}}));
  EXPECT_NE(r.error.find("every backend failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("HTTP 503"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("connection"), std::string::npos) << r.error;
}

// Runs the runtime calls of a search on whatever backend: a sample stepped to a stop
// string, forked mid-way, its children stepped, one rolled back and extended, the other
// scored. What each call left is written to `seen`.
struct ForkSeen {
  std::string first_text;
  std::vector<Token> first_tokens;
  std::vector<std::string> child_texts;
  std::string extended_text;
  std::vector<float> extended_logprobs;
  int scored_length = 0;
  std::vector<float> scores;
};

class ForkTruncateExtendScore : public StrategyBase {
 public:
  explicit ForkTruncateExtendScore(ForkSeen& seen) : StrategyBase("fork-test", 0, {}), seen_(seen) {}
  uint32_t needs() const override { return kSample | kFork | kTruncate | kExtend | kScore; }
  Task<StrategyResult> run(QuestionRun& q) const override {
    GenerationOptions g;
    g.sampling.seed = 2;
    g.stop.stop = {"\n"};
    g.stop.keep_stop = true;
    g.stop.max_tokens = 40;
    const SampleId first = q.launch(1, g).front();
    const std::vector<SampleId> just_first(1, first);
    co_await q.all(just_first);
    seen_.first_text = q.text(first);
    for (const auto& r : q.records(first)) seen_.first_tokens.push_back(r.token);
    const std::vector<SampleId> children = q.fork(first, 1, 2);
    q.generate(children[0], g, 7);
    q.generate(children[1], g, 8);
    co_await q.all(children);
    for (SampleId c : children) seen_.child_texts.push_back(q.text(c));
    q.truncate(children[0], 1);
    q.extend(children[0], "b=");
    const std::vector<SampleId> extended(1, children[0]);
    co_await q.all(extended);
    seen_.extended_text = q.text(children[0]);
    for (const auto& r : q.records(children[0])) seen_.extended_logprobs.push_back(r.logprob);
    q.score(children[1], "#### 9");
    const std::vector<SampleId> scored(1, children[1]);
    co_await q.all(scored);
    seen_.scored_length = q.length(children[1]);
    seen_.scores = q.score_result(children[1]).logprobs;
    for (SampleId s : {first, children[0], children[1]}) q.prune(s);
    co_return StrategyResult{};
  }

 private:
  ForkSeen& seen_;
};

TEST(RemoteRuntime, ForksTruncatesExtendsAndScoresOnAStandInVllm) {
  const auto model = test::toy_reasoner();
  OnStandIn on(model, "api=vllm,concurrency=2");
  const StandInVllm& server = on.server;
  ForkSeen seen;
  const std::string question = "a=3; a?";
  const StrategyResult r =
      on.runtime.wait(on.runtime.submit({std::make_shared<ForkTruncateExtendScore>(seen), question, {}, {}}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  const std::vector<Token> prompt = format_question(*model, question);
  const Token a = model->tokenize("a", false).front();

  // The first step stopped at "\n", which it keeps, token and text.
  EXPECT_EQ(seen.first_text, "a\n");
  EXPECT_EQ(seen.first_tokens, model->tokenize("a\n", false));
  // The children continue from the fork point: their requests carry the prompt and "a".
  std::vector<Token> forked = prompt;
  forked.push_back(a);
  std::set<uint64_t> child_seeds;
  for (const json& body : server.requests()) {
    if (body.contains("seed") && body["seed"] != 2) {
      EXPECT_EQ(body.at("prompt").get<std::vector<Token>>(), forked);
      EXPECT_EQ(body.at("include_stop_str_in_output"), true);
      child_seeds.insert(body["seed"].get<uint64_t>());
    }
  }
  EXPECT_EQ(child_seeds, (std::set<uint64_t>{7, 8}));
  EXPECT_EQ(seen.child_texts, (std::vector<std::string>{"aa\n", "aa\n"}));

  // Rolled back to "a", then "b=" appended: its logprobs are the server's prompt logprobs.
  EXPECT_EQ(seen.extended_text, "ab=");
  const std::vector<Token> extension = model->tokenize("b=", false);
  ASSERT_EQ(seen.extended_logprobs.size(), 1 + extension.size());
  for (size_t k = 0; k < extension.size(); ++k) {
    const size_t at = prompt.size() + 1 + k;  // its position in the scored prompt
    EXPECT_NEAR(seen.extended_logprobs[1 + k], -0.1 * double(at % 5 + 1), 1e-6) << k;
  }
  // Scored "#### 9" after "aa\n": logprobs per token, the sample left as it was.
  const std::vector<Token> continuation = model->tokenize("#### 9", false);
  ASSERT_EQ(seen.scores.size(), continuation.size());
  const size_t before = prompt.size() + model->tokenize("aa\n", false).size();
  for (size_t k = 0; k < continuation.size(); ++k) EXPECT_NEAR(seen.scores[k], -0.1 * double((before + k) % 5 + 1), 1e-6);
  EXPECT_EQ(seen.scored_length, int(model->tokenize("aa\n", false).size()));
  int scoring_requests = 0;
  for (const json& body : server.requests()) {
    if (!body.contains("prompt_logprobs")) continue;
    ++scoring_requests;
    EXPECT_EQ(body["stream"], false);
  }
  EXPECT_EQ(scoring_requests, 2);
}

TEST(RemoteRuntime, AStopTokenTheServerWithheldIsPutBack) {
  // A server that cuts the stop string and its token (vLLM without
  // include_stop_str_in_output): the step's text and tokens end with it all the same, so
  // the next step continues after it.
  const auto model = test::toy_reasoner();
  OnStandIn on(model, "api=vllm,concurrency=2", /*withhold_stop=*/true);
  ForkSeen seen;
  const StrategyResult r =
      on.runtime.wait(on.runtime.submit({std::make_shared<ForkTruncateExtendScore>(seen), "a=3; a?", {}, {}}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(seen.first_text, "a\n");
  EXPECT_EQ(seen.first_tokens, model->tokenize("a\n", false));
}

TEST(RemoteRuntime, ScoringIsRefusedWhereAServerHasNoPromptLogprobs) {
  const auto model = test::toy_reasoner();
  RemoteOptions o;
  o.endpoints.push_back(parse_remote_endpoint("http://127.0.0.1:9,api=vllm"));
  o.endpoints.push_back(parse_remote_endpoint("http://127.0.0.1:9,api=llama"));  // nothing is sent
  auto backend = std::make_shared<RemoteBackend>(o, model);
  EXPECT_FALSE(backend->can_score());
  Engine engine(model, tokenizer_engine());
  Runtime runtime(engine, {.remote = backend});
  EXPECT_EQ(runtime.capabilities(), Capabilities(kSample | kLogprobs | kFork | kTruncate));
  ForkSeen seen;
  try {
    runtime.submit({std::make_shared<ForkTruncateExtendScore>(seen), "a=3; a?", {}, {}});
    ADD_FAILURE() << "a strategy that scores was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("needs extend, score"), std::string::npos) << what;
    EXPECT_NE(what.find("prompt logprobs"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ponder
