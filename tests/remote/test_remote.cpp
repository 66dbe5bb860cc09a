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

TEST(RemoteProtocol, PonderRequestIsRawModeWithATextPrompt) {
  const auto model = test::toy_reasoner();
  RemoteRequest r = sample_request();
  r.prompt = model->tokenize("a=3; a?\n", true);
  const json body = json::parse(remote::request_body(parse_remote_endpoint("http://h:1,api=ponder"), r, *model));
  EXPECT_EQ(body["prompt"], "a=3; a?\n");  // ponder serve puts the BOS back itself
  EXPECT_EQ(body["ponder"]["strategy"], "sample");
  EXPECT_EQ(body["model"], "toy-reasoner-l");  // as ponder serve names the file
  EXPECT_EQ(body["logprobs"], 3);
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

// A STAND-IN for a vLLM server: /v1/completions streamed as vLLM's documentation shows.
// Each sample writes "a\n#### N\n" with N = 7 for even seeds and 8 for odd ones, token by
// token ("token_id:N" tokens, two alternatives each), then finish_reason "stop".
class StandInVllm {
 public:
  StandInVllm(std::shared_ptr<const Model> model, bool broken) : model_(std::move(model)), broken_(broken) {
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
      const uint64_t seed = body.at("seed").get<uint64_t>();
      const std::string text = seed % 2 == 0 ? "a\n#### 7\n" : "a\n#### 8\n";
      auto tokens = std::make_shared<std::vector<Token>>(model_->tokenize(text, false));
      res.set_chunked_content_provider("text/event-stream", [this, tokens](size_t, httplib::DataSink& sink) {
        for (Token t : *tokens) {
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
        }
        const json last = {{"choices", {{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}, {"stop_reason", nullptr}}}}};
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
  EXPECT_EQ(runtime.capabilities(), Capabilities(kSample | kLogprobs));

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
  const auto model = test::toy_reasoner();
  StandInVllm good(model, false);
  RemoteOptions o;
  o.endpoints.push_back(parse_remote_endpoint(good.url() + ",api=openai,concurrency=4"));
  auto backend = std::make_shared<RemoteBackend>(o, model);
  Engine engine(model, tokenizer_engine());
  Runtime runtime(engine, {.remote = backend});
  StrategyOptions so;
  so.generation.sampling.seed = 2;
  so.deepconf.top_k = 2;
  const StrategyResult r = runtime.wait(runtime.submit({make_strategy("deepconf@6", so), "a=3; a?", {}, {}}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_TRUE(r.answer);
  for (const json& body : good.requests()) EXPECT_EQ(body.at("logprobs"), 2);
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
    ADD_FAILURE() << "beam@2 was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("fork"), std::string::npos) << what;
    EXPECT_NE(what.find("remote backend samples with logprobs only"), std::string::npos) << what;
  }
  // Every endpoint failing is the question's error, naming each failure: never lost.
  const StrategyResult r = runtime.wait(runtime.submit({make_strategy("vote@2"), "a=3; a?", {}, {}}));
  EXPECT_NE(r.error.find("every backend failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("HTTP 503"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("connection"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace ponder
