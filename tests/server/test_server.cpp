// The server end to end: a real Server on a loopback port, a tiny random model and the
// bundled toy models, driven over HTTP. Responses, streaming, usage, errors, the bounded
// queue, a client that hangs up, and shutdown.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "server/server.h"
#include "support/test_models.h"
#include "toy/models.h"

namespace ponder::server {
namespace {

using nlohmann::json;

// A server running on its own thread for the life of the object.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions options) {
    std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the test
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(std::move(options));
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~RunningServer() { stop(0); }
  void stop(double grace) {
    if (!thread_.joinable()) return;
    server_->shutdown(grace);
    thread_.join();
  }
  int port() const { return port_; }
  Server& server() { return *server_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
};

ServerOptions tiny_options() {
  ServerOptions o;
  o.models.push_back({"tiny", test::random_model_path("tiny"), ""});
  o.max_sequences = 16;
  o.context = 128;
  o.threads = 1;
  o.max_queue = 16;
  return o;
}

// The bundled toy-reasoner-l with its verifier, the toy PRM.
ServerOptions toy_reasoner_options() {
  ServerOptions o;
  o.models.push_back({"toy-reasoner-l", toy::default_reasoner_path(), toy::prm_path()});
  o.max_sequences = 16;
  o.threads = 1;
  return o;
}

struct Reply {
  int status = 0;
  json body;
  std::string text;
  std::string retry_after;
};

Reply post(const RunningServer& s, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}) {
  auto res = s.client().Post(path.c_str(), headers, body, "application/json");
  Reply r;
  if (!res) {
    ADD_FAILURE() << "no response to " << path << ": " << httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.text = res->body;
  r.retry_after = res->get_header_value("Retry-After");
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// The reply's "error" object (empty when there is none), safe to index.
json error_of(const Reply& r) {
  return r.body.is_object() && r.body.contains("error") ? r.body.at("error") : json::object();
}

// The data lines of a server-sent event stream, parsed; "[DONE]" as a string.
std::vector<json> sse_events(const std::string& text) {
  std::vector<json> events;
  size_t at = 0;
  while ((at = text.find("data: ", at)) != std::string::npos) {
    const size_t end = text.find("\n\n", at);
    const std::string data = text.substr(at + 6, end - at - 6);
    events.push_back(data == "[DONE]" ? json("[DONE]") : json::parse(data));
    at = end;
  }
  return events;
}

std::string metrics_text(const RunningServer& s) {
  auto res = s.client().Get("/metrics");
  return res ? res->body : "";
}

// The value of the first metrics line starting with `prefix` (-1 if none).
double metric(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

const std::string kNoise = R"("ponder": {"ignore_eos": true, "answer": "last-number"})";

TEST(Server, ChatCompletionWithAStrategyCountsEveryToken) {
  RunningServer s(tiny_options());
  const Reply r = post(s, "/v1/chat/completions",
                       R"({"model": "tiny:vote@4", "max_tokens": 8, "seed": 3,
      "messages": [{"role": "user", "content": "1+1?"}], )" +
                           kNoise + "}");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["object"], "chat.completion");
  EXPECT_EQ(r.body["model"], "tiny:vote@4");
  ASSERT_EQ(r.body["choices"].size(), 1u);
  const json& choice = r.body["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  ASSERT_TRUE(choice["message"]["content"].is_string());
  EXPECT_EQ(choice["ponder"]["strategy"], "vote@4");
  EXPECT_EQ(choice["ponder"]["samples"], 4);
  EXPECT_TRUE(choice["ponder"]["votes"].is_array());
  // Four samples of 8 tokens each: the chosen one shown (none when no sample of the random
  // model had a number to vote for), the others hidden.
  const bool answered = !choice["ponder"]["answer"].is_null();
  EXPECT_EQ(choice["finish_reason"], answered ? "length" : "stop");
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 32);
  EXPECT_EQ(r.body["usage"]["completion_tokens_details"]["reasoning_tokens"], answered ? 24 : 32);
  EXPECT_GT(r.body["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(r.body["usage"]["total_tokens"].get<int>(),
            r.body["usage"]["prompt_tokens"].get<int>() + r.body["usage"]["completion_tokens"].get<int>());
}

TEST(Server, NChoicesAreIndependentRunsAndSeedsRepeat) {
  RunningServer s(tiny_options());
  const std::string body = R"({"model": "tiny", "max_tokens": 6, "n": 3, "seed": 5, "temperature": 1.0,
      "prompt": "abc", "ponder": {"strategy": "vote@2", "ignore_eos": true, "answer": "last-number"}})";
  const Reply a = post(s, "/v1/completions", body);
  ASSERT_EQ(a.status, 200) << a.text;
  ASSERT_EQ(a.body["choices"].size(), 3u);
  EXPECT_EQ(a.body["object"], "text_completion");
  EXPECT_EQ(a.body["usage"]["completion_tokens"], 3 * 2 * 6);
  const Reply b = post(s, "/v1/completions", body);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a.body["choices"][i]["text"], b.body["choices"][i]["text"]);
}

TEST(Server, RawSamplesWithLogprobs) {
  RunningServer s(tiny_options());
  const Reply r = post(s, "/v1/chat/completions", R"({"model": "tiny", "max_tokens": 5, "n": 3, "seed": 1,
      "logprobs": true, "top_logprobs": 2, "messages": [{"role": "user", "content": "hi"}],
      "ponder": {"strategy": "sample", "ignore_eos": true}})");
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["choices"].size(), 3u);
  for (const json& c : r.body["choices"]) {
    const json& content = c["logprobs"]["content"];
    ASSERT_EQ(content.size(), 5u);
    for (const json& t : content) {
      EXPECT_LE(t["logprob"].get<double>(), 0.0);
      EXPECT_EQ(t["top_logprobs"].size(), 2u);
    }
    EXPECT_FALSE(c.contains("ponder"));
  }
  // Every sample is shown: nothing hidden.
  EXPECT_EQ(r.body["usage"]["completion_tokens"], 15);
  EXPECT_EQ(r.body["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);

  const Reply legacy = post(s, "/v1/completions", R"({"model": "tiny", "max_tokens": 4, "logprobs": 1,
      "prompt": "hi", "ponder": {"strategy": "sample", "ignore_eos": true}})");
  ASSERT_EQ(legacy.status, 200) << legacy.text;
  const json& lp = legacy.body["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), 4u);
  EXPECT_EQ(lp["token_logprobs"].size(), 4u);
  EXPECT_EQ(lp["top_logprobs"][0].size(), 1u);
  // As vLLM with return_tokens_as_token_ids: the same tokens, named by id.
  const Reply ids = post(s, "/v1/completions", R"({"model": "tiny", "max_tokens": 4, "logprobs": 1, "seed": 0,
      "prompt": "hi", "return_tokens_as_token_ids": true, "ponder": {"strategy": "sample", "ignore_eos": true}})");
  ASSERT_EQ(ids.status, 200) << ids.text;
  const json& id_lp = ids.body["choices"][0]["logprobs"];
  ASSERT_EQ(id_lp["tokens"].size(), 4u);
  for (const json& t : id_lp["tokens"]) EXPECT_TRUE(t.get<std::string>().starts_with("token_id:")) << t;
  EXPECT_TRUE(id_lp["top_logprobs"][0].begin().key().starts_with("token_id:"));

  // A prompt of token ids is read as given: the text's own tokens give the same sample.
  const auto model = Model::load(test::random_model_path("tiny"));
  const std::vector<Token> prompt = model->tokenize("hi", true);
  const Reply by_ids = post(s, "/v1/completions", R"({"model": "tiny", "max_tokens": 4, "logprobs": 1, "seed": 0,
      "prompt": )" + json(prompt).dump() + R"(, "return_tokens_as_token_ids": true,
      "ponder": {"strategy": "sample", "ignore_eos": true}})");
  ASSERT_EQ(by_ids.status, 200) << by_ids.text;
  EXPECT_EQ(by_ids.body["choices"][0]["logprobs"]["tokens"], id_lp["tokens"]);
  const Reply outside = post(s, "/v1/completions", R"({"model": "tiny", "max_tokens": 4, "prompt": [1, 99999999]})");
  EXPECT_EQ(outside.status, 400) << outside.text;
  EXPECT_NE(outside.text.find("prompt[1] is token 99999999, outside this model's vocabulary"), std::string::npos)
      << outside.text;
}

TEST(Server, StreamsEventsThenTheAnswer) {
  RunningServer s(tiny_options());
  const std::string request = R"({"model": "tiny:vote@3", "max_tokens": 6, "seed": 2,
      "messages": [{"role": "user", "content": "1+1?"}], )" +
                              kNoise;
  const Reply plain = post(s, "/v1/chat/completions", request + "}");
  const Reply streamed = post(s, "/v1/chat/completions",
                              request + R"(, "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_EQ(streamed.status, 200) << streamed.text;
  const std::vector<json> events = sse_events(streamed.text);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events.back(), "[DONE]");
  int finished = 0;
  std::string content;
  std::string finish_reason;
  json usage;
  for (const json& e : events) {
    if (!e.is_object()) continue;
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("ponder") && e["ponder"].contains("event") && e["ponder"]["event"] == "finished")
      ++finished;
    if (e.contains("usage")) usage = e["usage"];
    if (e["choices"].empty()) continue;
    const json& c = e["choices"][0];
    if (c["delta"].contains("content")) content += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish_reason = c["finish_reason"];
  }
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(content, plain.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish_reason, plain.body["choices"][0]["finish_reason"]);
  EXPECT_EQ(usage["completion_tokens"], 18);
}

TEST(Server, RawStreamIsTokenByTokenAndMatchesTheWholeText) {
  RunningServer s(tiny_options());
  const std::string request = R"({"model": "tiny", "max_tokens": 12, "seed": 9, "prompt": "abc",
      "ponder": {"strategy": "sample", "ignore_eos": true})";
  const Reply plain = post(s, "/v1/completions", request + "}");
  ASSERT_EQ(plain.status, 200) << plain.text;
  const Reply streamed = post(s, "/v1/completions", request + R"(, "stream": true})");
  std::string text;
  int pieces = 0;
  for (const json& e : sse_events(streamed.text)) {
    if (!e.is_object() || e["choices"].empty()) continue;
    const std::string piece = e["choices"][0]["text"];
    pieces += piece.empty() ? 0 : 1;
    text += piece;
  }
  EXPECT_EQ(text, plain.body["choices"][0]["text"]);
  EXPECT_GT(pieces, 1) << "the text came in one piece, not as it was decoded";
}

TEST(Server, BadRequestsGetOpenAIErrors) {
  ServerOptions o = tiny_options();
  o.max_body_bytes = 4096;
  RunningServer s(o);
  struct Case {
    std::string path, body;
    int status;
    std::string code;
  };
  const std::string long_prompt(600, '7');
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "{oops", 400, "invalid_json"},
      {"/v1/chat/completions", R"({"model": "nope", "messages": [{"role": "user", "content": "q"}]})", 404,
       "model_not_found"},
      {"/v1/chat/completions",
       R"({"model": "tiny:telepathy@2", "messages": [{"role": "user", "content": "q"}]})", 400,
       "invalid_strategy"},
      {"/v1/chat/completions", R"({"model": "tiny:vote", "messages": [{"role": "user", "content": "q"}]})",
       400, "invalid_strategy"},
      {"/v1/chat/completions",
       R"({"model": "tiny:prm-vote@2", "messages": [{"role": "user", "content": "q"}]})", 400,
       "verifier_unavailable"},
      {"/v1/chat/completions",
       R"({"model": "tiny:cascade@2", "messages": [{"role": "user", "content": "q"}]})", 400,
       "large_model_unavailable"},
      {"/v1/chat/completions",
       R"({"model": "tiny", "temperature": -1, "messages": [{"role": "user", "content": "q"}]})", 400,
       "out_of_range"},
      {"/v1/completions", R"({"model": "tiny", "prompt": ")" + long_prompt + R"("})", 400,
       "context_length_exceeded"},
      {"/v1/completions", R"({"model": "tiny", "prompt": "q", "max_tokens": 500})", 400,
       "context_length_exceeded"},
      {"/v1/completions", R"({"model": "tiny", "prompt": ")" + std::string(5000, 'x') + R"("})", 413,
       "request_too_large"},
      {"/v1/nothing", "{}", 404, "unknown_url"},
  };
  for (const Case& c : cases) {
    const Reply r = post(s, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 120) << " -> " << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    EXPECT_EQ(error_of(r).value("code", ""), c.code) << r.text;
    for (const char* key : {"message", "type", "param", "code"})
      EXPECT_TRUE(error_of(r).contains(key)) << key;
  }
  auto wrong_method = s.client().Get("/v1/chat/completions");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(json::parse(wrong_method->body)["error"]["code"], "method_not_allowed");
  // The server is still fine.
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

TEST(Server, ApiKeyGuardsTheApi) {
  ServerOptions o = tiny_options();
  o.api_key = "sesame";
  RunningServer s(o);
  const std::string body = R"({"model": "tiny:greedy", "max_tokens": 2, "prompt": "q"})";
  const Reply none = post(s, "/v1/completions", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(error_of(none).value("code", ""), "invalid_api_key");
  EXPECT_EQ(post(s, "/v1/completions", body, {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(post(s, "/v1/completions", body, {{"Authorization", "Bearer sesame"}}).status, 200);
  EXPECT_EQ(s.client().Get("/metrics")->status, 401);
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

TEST(Server, ModelsHealthAndMetrics) {
  RunningServer s(tiny_options());
  auto models = s.client().Get("/v1/models");
  ASSERT_TRUE(models);
  const json list = json::parse(models->body);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "tiny");
  ASSERT_EQ(post(s, "/v1/completions", R"({"model": "tiny:prune@4", "max_tokens": 30, "prompt": "q",
      "ponder": {"ignore_eos": true, "warmup_tokens": 2, "min_survivors": 1}})")
                .status,
            200);
  const std::string m = metrics_text(s);
  EXPECT_EQ(metric(m,
                   "ponder_requests_total{endpoint=\"completions\",model=\"tiny\",strategy=\"prune@4\","
                   "status=\"200\"}"),
            1);
  EXPECT_GT(metric(m, "ponder_tokens_total{kind=\"generated\"}"), 0);
  EXPECT_GT(metric(m, "ponder_tokens_total{kind=\"hidden\"}"), 0);
  EXPECT_GE(metric(m, "ponder_samples_stopped_early_total"), 0);
  for (const char* h : {"ponder_request_seconds", "ponder_time_to_first_token_seconds",
                        "ponder_queue_seconds", "ponder_samples_per_request"}) {
    EXPECT_EQ(metric(m, std::string(h) + "_count"), 1) << h;
    EXPECT_EQ(metric(m, std::string(h) + "_bucket{le=\"+Inf\"}"), 1) << h;
  }
  EXPECT_GE(metric(m, "ponder_kv_sequences{model=\"tiny\",state=\"slots\"}"), 16);
}

// A long request, sent on a raw socket so the test can hang up on it.
int send_raw_request(int port, const std::string& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (write(fd, request.data(), request.size()) != ssize_t(request.size())) return -1;
  return fd;
}

bool wait_for(const std::function<bool()>& condition, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

const std::string kRefusedRequest = R"({"model": "tiny:vote@4", "max_tokens": 120,
    "messages": [{"role": "user", "content": "q"}], "ponder": {"ignore_eos": true}})";

// Long enough to be seen running on a fast machine (vote@4 of 120 tokens takes ~30 ms on
// the tiny model): 1024 samples queue for 16 slots, thousands of decode steps.
const std::string kLongRunning = R"({"model": "tiny:vote@1024", "max_tokens": 120,
    "messages": [{"role": "user", "content": "q"}], "ponder": {"ignore_eos": true}})";

TEST(Server, AClientThatHangsUpHasItsSequencesFreed) {
  RunningServer s(tiny_options());
  for (bool stream : {false, true}) {
    std::string body = kLongRunning;
    if (stream) body.insert(1, "\"stream\": true, ");
    const int fd = send_raw_request(s.port(), body);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(wait_for(
        [&] { return metric(metrics_text(s), "ponder_kv_sequences{model=\"tiny\",state=\"live\"}") > 0; },
        20))
        << "the request never started";
    close(fd);
    ASSERT_TRUE(wait_for(
        [&] {
          const std::string m = metrics_text(s);
          return metric(m, "ponder_kv_sequences{model=\"tiny\",state=\"live\"}") == 0 &&
                 metric(m, "ponder_questions_running{model=\"tiny\"}") == 0;
        },
        10))
        << "stream " << stream << ":\n"
        << metrics_text(s);
  }
  const std::string m = metrics_text(s);
  EXPECT_EQ(
      metric(m, "ponder_requests_total{endpoint=\"chat\",model=\"tiny\",strategy=\"vote@1024\",status=\"499\"}"),
      2);
  // Nothing ran to the end: far fewer tokens than two full runs (2 x 1024 x 120).
  EXPECT_LT(metric(m, "ponder_tokens_total{kind=\"generated\"}"), 2 * 1024 * 120);
}

TEST(Server, AFullQueueAnswers429WithRetryAfter) {
  ServerOptions o = tiny_options();
  o.max_sequences = 4;  // two questions run at once
  o.max_queue = 0;
  RunningServer s(o);
  // 64 samples on two slots: thousands of decode steps, seconds even on a fast machine.
  const std::string busy_body = R"({"model": "tiny:vote@64", "max_tokens": 120,
    "messages": [{"role": "user", "content": "q"}], "ponder": {"ignore_eos": true}})";
  auto first = std::async(std::launch::async, [&] { return post(s, "/v1/chat/completions", busy_body); });
  auto second = std::async(std::launch::async, [&] { return post(s, "/v1/chat/completions", busy_body); });
  ASSERT_TRUE(
      wait_for([&] { return metric(metrics_text(s), "ponder_questions_running{model=\"tiny\"}") == 2; }, 20));
  const Reply busy = post(s, "/v1/chat/completions", kRefusedRequest);
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(busy.retry_after, "1");
  EXPECT_EQ(error_of(busy).value("type", ""), "rate_limit_error");
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(second.get().status, 200);
  EXPECT_EQ(
      post(s, "/v1/chat/completions",
           R"({"model": "tiny:greedy", "max_tokens": 2, "messages": [{"role": "user", "content": "q"}]})")
          .status,
      200);
}

TEST(Server, ShutdownLetsRequestsInFlightFinishWithinTheGrace) {
  RunningServer s(tiny_options());
  auto running = std::async(std::launch::async, [&] {
    // A few seconds of decoding, so it is still running when the shutdown starts.
    return post(s, "/v1/completions", R"({"model": "tiny:vote@256", "max_tokens": 60, "prompt": "q",
        "ponder": {"ignore_eos": true}})");
  });
  ASSERT_TRUE(
      wait_for([&] { return metric(metrics_text(s), "ponder_questions_running{model=\"tiny\"}") == 1; }, 20));
  s.stop(600);  // returns once the request is answered, long before the grace is over
  const Reply r = running.get();
  EXPECT_EQ(r.status, 200) << r.text;
}

TEST(Server, ShutdownCancelsWhatOutlastsTheGrace) {
  ServerOptions o = tiny_options();
  o.context = 512;
  RunningServer s(o);
  // Thousands of decode steps: still running when the grace (none) is over.
  auto running = std::async(std::launch::async, [&] {
    return post(s, "/v1/completions", R"({"model": "tiny:vote@16", "max_tokens": 500, "prompt": "q",
        "ponder": {"ignore_eos": true}})");
  });
  ASSERT_TRUE(
      wait_for([&] { return metric(metrics_text(s), "ponder_questions_running{model=\"tiny\"}") == 1; }, 20));
  s.stop(0);
  const Reply r = running.get();
  EXPECT_EQ(r.status, 503) << r.text;
  EXPECT_EQ(error_of(r).value("code", ""), "shutting_down");
}

TEST(Server, SlowAndCutOffBodiesDoNotHoldTheServer) {
  ServerOptions o = tiny_options();
  o.read_timeout_seconds = 1;
  RunningServer s(o);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string partial =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\"";
  ASSERT_EQ(write(fd, partial.data(), partial.size()), ssize_t(partial.size()));
  // The server gives up on the body after its read timeout and answers or closes.
  char buffer[4096];
  const ssize_t got = read(fd, buffer, sizeof(buffer));
  EXPECT_GE(got, 0);
  if (got > 0) {
    EXPECT_NE(std::string(buffer, size_t(got)).find("HTTP/1.1 400"), std::string::npos);
  }
  close(fd);
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

// A request past its time limit is cancelled at once: 504 naming the limit, its
// sequences freed. kLongRunning needs ~120k decode steps' tokens, seconds even on a fast
// machine, so it cannot finish within the limit.
TEST(Server, ARequestPastItsTimeLimitIsCancelledWith504) {
  ServerOptions o = tiny_options();
  o.time_limit_seconds = 1000;
  RunningServer s(o);
  json own_body = json::parse(kLongRunning);
  own_body["ponder"]["timeout"] = 0.2;
  const std::string own = own_body.dump();
  const Reply r = post(s, "/v1/chat/completions", own);
  EXPECT_EQ(r.status, 504) << r.text;
  EXPECT_EQ(error_of(r).value("code", ""), "timeout");
  EXPECT_EQ(error_of(r).value("param", ""), "ponder.timeout");
  EXPECT_NE(error_of(r).value("message", "").find("'ponder.timeout' of 0.2 s"), std::string::npos) << r.text;

  // Streamed: the error is the stream's last event before [DONE].
  std::string streamed = own;
  streamed.insert(1, "\"stream\": true, ");
  const Reply st = post(s, "/v1/chat/completions", streamed);
  ASSERT_EQ(st.status, 200) << st.text;
  const std::vector<json> events = sse_events(st.text);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(events[events.size() - 2]["error"]["code"], "timeout") << st.text;

  ASSERT_TRUE(wait_for(
      [&] {
        const std::string m = metrics_text(s);
        return metric(m, "ponder_kv_sequences{model=\"tiny\",state=\"live\"}") == 0 &&
               metric(m, "ponder_questions_running{model=\"tiny\"}") == 0;
      },
      10))
      << metrics_text(s);
  EXPECT_EQ(metric(metrics_text(s),
                   "ponder_requests_total{endpoint=\"chat\",model=\"tiny\",strategy=\"vote@1024\",status=\"504\"}"),
            2);
  // Nothing ran to the end.
  EXPECT_LT(metric(metrics_text(s), "ponder_tokens_total{kind=\"generated\"}"), 2 * 1024 * 120);
}

TEST(Server, TheServersTimeLimitHoldsWhenARequestAsksForMore) {
  ServerOptions o = tiny_options();
  o.time_limit_seconds = 0.2;
  RunningServer s(o);
  json longer_body = json::parse(kLongRunning);
  longer_body["ponder"]["timeout"] = 1000;
  const std::string longer = longer_body.dump();
  for (const std::string& body : {kLongRunning, longer}) {
    const Reply r = post(s, "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 504) << r.text;
    EXPECT_EQ(error_of(r).value("code", ""), "timeout");
    EXPECT_TRUE(error_of(r)["param"].is_null()) << r.text;
    EXPECT_NE(error_of(r).value("message", "").find("the server's time limit of 0.2 s"), std::string::npos);
  }
  // Short requests are unaffected.
  EXPECT_EQ(post(s, "/v1/chat/completions",
                 R"({"model": "tiny:greedy", "max_tokens": 2, "messages": [{"role": "user", "content": "q"}]})")
                .status,
            200);
}

// Two servers, one with the prompt cache and one without, answer the same requests that
// share a long system prompt: the same answers (same seeds), the same prompt_tokens in
// usage, and with the cache most of the second request's prompt copied, not decoded.
TEST(Server, RequestsSharingASystemPromptCopyItsKvAndAnswerTheSame) {
  const std::string system = "You are a careful calculator: write each step on its own line, then the answer.";
  auto request = [&](const std::string& question) {
    return json{{"model", "tiny:vote@4"},
                {"max_tokens", 10},
                {"seed", 4},
                {"messages", {{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", question}}}},
                {"ponder", {{"ignore_eos", true}, {"answer", "last-number"}}}}
        .dump();
  };
  std::vector<Reply> replies[2];
  std::string metrics[2];
  for (int cached = 0; cached < 2; ++cached) {
    ServerOptions o = tiny_options();
    o.prompt_cache = cached ? 4 : 0;
    RunningServer s(o);
    for (const char* q : {"a=3; b=a*2; b?", "x=7; y=x+5; y?", "a=3; b=a*2; b?"}) {
      replies[cached].push_back(post(s, "/v1/chat/completions", request(q)));
      ASSERT_EQ(replies[cached].back().status, 200) << replies[cached].back().text;
    }
    metrics[cached] = metrics_text(s);
    auto models = json::parse(s.client().Get("/v1/models")->body);
    EXPECT_EQ(models["data"][0]["ponder"]["prompt_cache"], o.prompt_cache);
  }
  for (size_t i = 0; i < replies[0].size(); ++i) {
    const json &plain = replies[0][i].body, &cached = replies[1][i].body;
    EXPECT_EQ(cached["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]) << i;
    EXPECT_EQ(cached["choices"][0]["ponder"]["votes"], plain["choices"][0]["ponder"]["votes"]) << i;
    EXPECT_EQ(cached["usage"]["prompt_tokens"], plain["usage"]["prompt_tokens"]) << i;
    EXPECT_EQ(plain["usage"]["prompt_tokens_details"]["cached_tokens"], 0) << i;
  }
  const int system_tokens = int(system.size()) + 1;  // the toy vocabulary: a token per character, and BOS
  EXPECT_EQ(replies[1][0].body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_GE(replies[1][1].body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), system_tokens);
  // The same question again: all of its prompt but the last token, which each of the 4
  // samples decodes itself (and usage counts 4 times).
  EXPECT_EQ(replies[1][2].body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(),
            replies[1][2].body["usage"]["prompt_tokens"].get<int>() - 4);
  const double decoded_plain = metric(metrics[0], "ponder_tokens_total{kind=\"prompt\"}");
  const double decoded_cached = metric(metrics[1], "ponder_tokens_total{kind=\"prompt\"}");
  EXPECT_EQ(decoded_cached + metric(metrics[1], "ponder_tokens_total{kind=\"cached\"}"), decoded_plain);
  EXPECT_LT(decoded_cached, decoded_plain * 0.6);
  EXPECT_GE(metric(metrics[1], "ponder_kv_sequences{model=\"tiny\",state=\"cached\"}"), 1);
}

TEST(Server, OptionsForRealMachinesAreCheckedAndShown) {
  ServerOptions o = tiny_options();
  o.prompt_cache = o.max_sequences + 1;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.prompt_cache = 2;
  o.gpu_layers = -2;
  EXPECT_THROW(o.validate(), std::invalid_argument);
  o.gpu_layers = 12;
  o.kv_cache = {KvCacheType::f32, KvCacheType::bf16};
  RunningServer s(o);
  const json info = json::parse(s.client().Get("/v1/models")->body)["data"][0]["ponder"];
  EXPECT_EQ(info["gpu_layers"], 12);
  EXPECT_EQ(info["kv_cache"], json({{"k", "f32"}, {"v", "bf16"}}));
  EXPECT_EQ(info["prompt_cache"], 2);
  EXPECT_EQ(post(s, "/v1/chat/completions", kRefusedRequest).status, 200);
}

TEST(ServerToy, ServesTheBundledModelsWithTheirVerifier) {
  ServerOptions o = toy_reasoner_options();
  RunningServer s(o);
  std::ifstream data(toy::toy_data_dir() + "/test.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(data, line));
  const json item = json::parse(line);
  json request = {{"model", "toy-reasoner-l:prm-vote@4"},
                  {"seed", 1},
                  {"messages", {{{"role", "user"}, {"content", item["question"]}}}}};
  const Reply r = post(s, "/v1/chat/completions", request.dump());
  ASSERT_EQ(r.status, 200) << r.text;
  const json& decision = r.body["choices"][0]["ponder"];
  EXPECT_EQ(decision["samples"], 4);
  EXPECT_FALSE(decision["answer"].is_null());
  EXPECT_GT(r.body["usage"]["ponder"]["verifier_tokens"].get<int>(), 0);
  auto models = json::parse(s.client().Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["ponder"]["verifier"], "toy-prm");
}

// A strategy's logprobs are those of the sample its text came from, token by token: here
// a beam's, which was forked from other samples along the way.
TEST(ServerToy, StrategyLogprobsAreTheChosenSamples) {
  RunningServer s(toy_reasoner_options());
  const std::string request = R"({"model": "toy-reasoner-l:beam@4", "seed": 4, "logprobs": true,
      "top_logprobs": 3, "messages": [{"role": "user", "content": "a=47; b=a*6; c=b-58; c?"}])";
  const Reply r = post(s, "/v1/chat/completions", request + "}");
  ASSERT_EQ(r.status, 200) << r.text;
  const json& choice = r.body["choices"][0];
  ASSERT_TRUE(choice["logprobs"].is_object()) << r.text;
  const json& content = choice["logprobs"]["content"];
  ASSERT_GT(content.size(), 10u);
  std::string joined;
  for (const json& t : content) {
    joined += t["token"].get<std::string>();
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    // Alternatives best first; the drawn token no likelier than the best.
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["top_logprobs"][2]["logprob"].get<double>());
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>());
  }
  EXPECT_EQ(joined, choice["message"]["content"].get<std::string>());

  // Streamed, they come with the chosen text's chunk: the same values.
  const Reply streamed = post(s, "/v1/chat/completions", request + R"(, "stream": true})");
  ASSERT_EQ(streamed.status, 200) << streamed.text;
  json streamed_content;  // from the one chunk that carries them
  for (const json& e : sse_events(streamed.text)) {
    if (!e.contains("choices") || e["choices"].empty()) continue;
    const json& c = e["choices"][0];
    if (c.contains("logprobs") && !c["logprobs"].is_null()) streamed_content = c["logprobs"]["content"];
  }
  EXPECT_EQ(streamed_content, content);

  // Not asked for: none.
  const Reply plain = post(s, "/v1/chat/completions",
                           R"({"model": "toy-reasoner-l:beam@4", "seed": 4, "messages": [{"role": "user",
      "content": "a=47; b=a*6; c=b-58; c?"}]})");
  ASSERT_EQ(plain.status, 200) << plain.text;
  EXPECT_EQ(plain.body["choices"][0]["message"]["content"], choice["message"]["content"]);
  EXPECT_TRUE(plain.body["choices"][0]["logprobs"].is_null());
}

TEST(ServerToy, AdaptiveRunsWithTheServersPresets) {
  ServerOptions o = toy_reasoner_options();
  // Three samples first, then whatever the difficulty: accept (the defaults draw one first).
  o.controller.first_wave = 3;
  o.controller.normal = {"accept", 0};
  o.controller.hard = {"accept", 0};
  RunningServer s(o);
  json request = {{"model", "toy-reasoner-l:adaptive"},
                  {"seed", 1},
                  {"messages", {{{"role", "user"}, {"content", "a=47; b=a*6; c=b-58; d=c+19; d?"}}}}};
  const Reply r = post(s, "/v1/chat/completions", request.dump());
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["choices"][0]["ponder"]["samples"], 3);
  const json info = json::parse(s.client().Get("/v1/models")->body)["data"][0]["ponder"];
  EXPECT_EQ(info["controller"]["first_wave"], 3);
}

TEST(ServerToy, CascadesFromTheSmallModelToItsLargeModel) {
  ServerOptions o;
  ServedModel small{"toy-reasoner-s", toy::small_reasoner_path(), ""};
  small.large_path = toy::default_reasoner_path();
  o.models.push_back(small);
  o.max_sequences = 16;
  o.threads = 1;
  RunningServer s(o);
  // Sampled hot, the small model's four samples disagree and the large model answers.
  json request = {{"model", "toy-reasoner-s:cascade@2"},
                  {"seed", 1},
                  {"temperature", 2.0},
                  {"messages", {{{"role", "user"}, {"content", "a=61; b=a-35; c=b*4; c?"}}}}};
  const Reply r = post(s, "/v1/chat/completions", request.dump());
  ASSERT_EQ(r.status, 200) << r.text;
  const json& decision = r.body["choices"][0]["ponder"];
  EXPECT_NE(decision["stop_reason"].get<std::string>().find("escalated to the large model"), std::string::npos)
      << decision.dump();
  auto models = json::parse(s.client().Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["ponder"]["large_model"], "toy-reasoner-l");
}

// Thinking control on a model whose chat template has a thinking block (written for the
// tests): the prompt grows by the block as a request asks, and a budget closes it.
TEST(Server, ThinkingModeAndBudgetFollowTheRequest) {
  ServerOptions o = tiny_options();
  o.models = {{"thinker", test::tiny_model_with_template("qwen", test::kQwenStyleTemplate), ""}};
  RunningServer s(o);
  auto ask = [&](const std::string& thinking) {
    return post(s, "/v1/chat/completions",
                R"({"model": "thinker:greedy", "max_tokens": 24, "messages": [{"role": "user", "content": "1+1?"}],
                    "ponder": {"ignore_eos": true)" + thinking + "}}");
  };
  const Reply automatic = ask("");
  const Reply on = ask(R"(, "thinking": "on")");
  const Reply off = ask(R"(, "thinking": "off")");
  ASSERT_EQ(automatic.status, 200) << automatic.text;
  ASSERT_EQ(on.status, 200) << on.text;
  ASSERT_EQ(off.status, 200) << off.text;
  const int prompt = automatic.body["usage"]["prompt_tokens"].get<int>();
  // The toy vocabulary spells text a character a token: "<think>\n", "<think>\n\n</think>\n\n".
  EXPECT_EQ(on.body["usage"]["prompt_tokens"].get<int>(), prompt + 8);
  EXPECT_EQ(off.body["usage"]["prompt_tokens"].get<int>(), prompt + 19);

  // Four tokens of thinking, then the close (read token by token: the random model's
  // bytes are not all valid UTF-8 text).
  const Reply budget = post(s, "/v1/chat/completions",
                            R"({"model": "thinker:greedy", "max_tokens": 24, "logprobs": true,
                                "messages": [{"role": "user", "content": "1+1?"}],
                                "ponder": {"ignore_eos": true, "thinking": "on", "thinking_budget": 4}})");
  ASSERT_EQ(budget.status, 200) << budget.text;
  const json& tokens = budget.body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(tokens.size(), 24u);
  std::string close;
  for (size_t k = 4; k < 15; ++k) close += tokens[k]["token"].get<std::string>();
  EXPECT_EQ(close, "\n</think>\n\n");
}

TEST(Server, ThinkingControlNeedsATemplateWithABlock) {
  RunningServer s(tiny_options());
  const Reply chat = post(s, "/v1/chat/completions",
                          R"({"model": "tiny:greedy", "max_tokens": 4, "messages": [{"role": "user", "content": "q"}],
                              "ponder": {"thinking": "on"}})");
  EXPECT_EQ(chat.status, 400) << chat.text;
  EXPECT_EQ(error_of(chat)["param"], "ponder.thinking");
  EXPECT_EQ(error_of(chat)["code"], "unsupported_parameter");
  const Reply budget = post(s, "/v1/completions",
                            R"({"model": "tiny:greedy", "max_tokens": 4, "prompt": "q",
                                "ponder": {"thinking_budget": 8}})");
  EXPECT_EQ(budget.status, 400) << budget.text;
  EXPECT_EQ(error_of(budget)["param"], "ponder.thinking_budget");
  // A raw prompt says itself whether the model thinks.
  ServerOptions o = tiny_options();
  o.models = {{"thinker", test::tiny_model_with_template("qwen", test::kQwenStyleTemplate), ""}};
  RunningServer thinker(o);
  const Reply raw = post(thinker, "/v1/completions",
                         R"({"model": "thinker:greedy", "max_tokens": 4, "prompt": "q", "ponder": {"thinking": "on"}})");
  EXPECT_EQ(raw.status, 400) << raw.text;
  EXPECT_EQ(error_of(raw)["param"], "ponder.thinking");
  // Server-wide thinking control needs a block in every model's template.
  ServerOptions wide = tiny_options();
  wide.thinking = ThinkingMode::off;
  EXPECT_THROW(Server server(wide), std::invalid_argument);
}

// The live page's stream ("events": "all"): every sample's lines with [piece, logprob] per
// token, and a search's forks and verifier scores by sample; plain "events" unchanged.
TEST(ServerToy, AllEventsCarryLinesTokensAndTheSearchTree) {
  ServerOptions o = toy_reasoner_options();
  RunningServer s(o);
  auto stream = [&](const std::string& strategy, const json& events) {
    json request = {{"model", "toy-reasoner-l"},
                    {"seed", 1},
                    {"stream", true},
                    {"messages", {{{"role", "user"}, {"content", "a=4; b=a*3; c=b+5; c?"}}}},
                    {"ponder", {{"strategy", strategy}, {"events", events}}}};
    const Reply r = post(s, "/v1/chat/completions", request.dump());
    EXPECT_EQ(r.status, 200) << r.text;
    std::vector<json> out;
    for (const json& e : sse_events(r.text)) {
      if (e.is_object() && e.contains("ponder") && e["ponder"].contains("event")) out.push_back(e["ponder"]);
    }
    return out;
  };
  auto count = [](const std::vector<json>& events, const std::string& kind) {
    return std::count_if(events.begin(), events.end(), [&](const json& e) { return e["event"] == kind; });
  };

  const std::vector<json> vote = stream("vote@3", "all");
  EXPECT_EQ(count(vote, "launched"), 3);
  EXPECT_EQ(count(vote, "finished"), 3);
  ASSERT_GT(count(vote, "line"), 3);
  // A sample's lines put together are its text, each token a piece with its logprob.
  std::map<int, std::string> text;
  for (const json& e : vote) {
    if (e["event"] != "line") continue;
    std::string pieces;
    for (const json& t : e["tokens"]) {
      ASSERT_TRUE(t[0].is_string() && t[1].is_number()) << e;
      EXPECT_LE(t[1].get<double>(), 0.0);
      pieces += t[0].get<std::string>();
    }
    EXPECT_EQ(pieces, e["text"]);
    text[e["sample"].get<int>()] += pieces;
  }
  EXPECT_EQ(text.size(), 3u);
  EXPECT_NE(text[0].find("####"), std::string::npos) << text[0];
  // Without "all", the same kinds as before: no lines.
  const std::vector<json> plain = stream("vote@3", true);
  EXPECT_EQ(count(plain, "line"), 0);
  EXPECT_EQ(count(plain, "finished"), 3);
  EXPECT_EQ(count(plain, "vote"), count(vote, "vote"));

  const std::vector<json> beam = stream("beam@4", "all");
  EXPECT_GT(count(beam, "forked"), 0);
  int scored_samples = 0;
  for (const json& e : beam) {
    if (e["event"] == "forked") {
      EXPECT_GE(e["parent"].get<int>(), 0);
      EXPECT_GT(e["position"].get<int>(), 0);
    }
    if (e["event"] == "scored" && e.contains("sample")) {
      ++scored_samples;
      EXPECT_FALSE(e["steps"].empty());
    }
  }
  EXPECT_GT(scored_samples, 0);

  // A stop rule's vote says its threshold.
  const std::vector<json> adaptive = stream("adaptive-vote@8", true);
  ASSERT_GT(count(adaptive, "vote"), 0);
  for (const json& e : adaptive) {
    if (e["event"] == "vote") {
      EXPECT_EQ(e["threshold"], 0.95) << e;
    }
  }
}

TEST(Server, ServesTheLivePageAndItsFiles) {
  RunningServer s(tiny_options());
  auto page = s.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"/page/live.js\">"), std::string::npos);
  for (const char* file : {"/page/view.js", "/page/live.js", "/page/replay.js", "/page/style.css"}) {
    auto res = s.client().Get(file);
    ASSERT_TRUE(res) << file;
    EXPECT_EQ(res->status, 200) << file;
    EXPECT_GT(res->body.size(), 500u) << file;
  }
  EXPECT_EQ(s.client().Get("/page/style.css")->get_header_value("Content-Type"), "text/css; charset=utf-8");
  auto missing = s.client().Get("/page/secrets.txt");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "unknown_url");
  EXPECT_EQ(s.client().Get("/page/../server.cpp")->status, 404);
  // The API is where it was.
  EXPECT_EQ(s.client().Get("/v1/models")->status, 200);
  EXPECT_EQ(s.client().Get("/nowhere")->status, 404);
  // Without --runs there is nothing to replay.
  EXPECT_EQ(json::parse(s.client().Get("/runs")->body)["runs"], json::array());
}

TEST(Server, ServesRunFilesOnlyFromTheRunsGiven) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(testing::TempDir()) / "ponder-runs";
  fs::remove_all(root);
  const fs::path run = root / "vote-run";
  fs::create_directories(run);
  fs::create_directories(root / "not-a-run");
  const fs::path outside = fs::path(testing::TempDir()) / "ponder-outside-run";
  fs::create_directories(outside);
  auto write = [](const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    ASSERT_TRUE(out.good()) << path;
  };
  write(run / "run.json", "{}");
  write(run / "summary.json", R"({"strategies": []})");
  write(run / "traces.jsonl", "{\"id\": \"q1\"}\n");
  write(run / "secret.txt", "not for the page");
  write(outside / "run.json", "{}");
  write(outside / "traces.jsonl", "outside\n");
  fs::create_directory_symlink(outside, root / "linked-run");
  fs::create_symlink(outside / "traces.jsonl", root / "not-a-run" / "traces.jsonl");

  ServerOptions o = tiny_options();
  o.runs = {root.string()};
  RunningServer s(o);
  const json runs = json::parse(s.client().Get("/runs")->body)["runs"];
  ASSERT_EQ(runs.size(), 1u) << runs;
  EXPECT_EQ(runs[0]["name"], "ponder-runs/vote-run");
  EXPECT_EQ(runs[0]["files"], json({"summary.json", "traces.jsonl", "run.json"}));
  auto get = [&](const std::string& run_name, const std::string& file) {
    httplib::Params params{{"run", run_name}, {"file", file}};
    return s.client().Get("/runs/file", params, httplib::Headers{});
  };
  auto traces = get("ponder-runs/vote-run", "traces.jsonl");
  EXPECT_EQ(traces->status, 200);
  EXPECT_EQ(traces->body, "{\"id\": \"q1\"}\n");
  EXPECT_EQ(get("ponder-runs/vote-run", "summary.json")->get_header_value("Content-Type"), "application/json");
  // Only the listed runs, only the page's files, never through a link.
  EXPECT_EQ(get("ponder-runs/vote-run", "secret.txt")->status, 404);
  EXPECT_EQ(get("ponder-runs/vote-run", "../vote-run/traces.jsonl")->status, 404);
  EXPECT_EQ(get("ponder-runs/linked-run", "traces.jsonl")->status, 404);
  EXPECT_EQ(get("ponder-runs/../ponder-outside-run", "traces.jsonl")->status, 404);
  EXPECT_EQ(get("ponder-runs/not-a-run", "traces.jsonl")->status, 404);
  EXPECT_EQ(get("ponder-runs/vote-run", "accuracy_vs_tokens.tsv")->status, 404);
  const auto missing = s.client().Get("/runs/file?run=ponder-runs/vote-run");
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(json::parse(missing->body)["error"]["param"], "file");

  // A run directory given itself is listed by its own name; a file is refused at start.
  ServerOptions one = tiny_options();
  one.runs = {run.string()};
  EXPECT_NO_THROW(one.validate());
  one.runs = {(run / "run.json").string()};
  EXPECT_THROW(one.validate(), std::invalid_argument);
  fs::remove_all(root);
  fs::remove_all(outside);
}

TEST(Server, RunFilesNeedTheApiKeyWhenThereIsOne) {
  ServerOptions o = tiny_options();
  o.api_key = "sesame";
  RunningServer s(o);
  EXPECT_EQ(s.client().Get("/runs")->status, 401);
  EXPECT_EQ(s.client().Get("/")->status, 200);  // the page asks for the key itself
  EXPECT_EQ(s.client().Get("/runs", httplib::Headers{{"Authorization", "Bearer sesame"}})->status, 200);
}

}  // namespace
}  // namespace ponder::server
