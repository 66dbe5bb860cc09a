#pragma once
// A remote backend: samples drawn by OpenAI-compatible servers (llama.cpp's llama-server,
// vLLM, SGLang, another `ponder serve`) instead of the local engine, so that the
// strategies run unchanged on an existing serving cluster (docs/remote.md).
//
//   RemoteBackend backend(options, model);        // model: the vocabulary and chat template
//   auto s = backend.submit(request, wake);       // queued, then streamed on a worker thread
//   s->read(...); s->cancel();                    // from the engine thread
//
// Every sample is one streaming HTTP request, sent on a worker thread (the runtime's engine
// thread never blocks on HTTP): its tokens and logprobs arrive as the server sends them,
// and the runtime is woken to read them. A sample carries its own seed (seed + k), so a
// sample retried on another endpoint draws the same tokens where the engines agree.
//
// Tokens are the local model's: the prompt is sent as token ids (every API takes them), so a
// sample continues from exactly the tokens it has: a search forks, truncates and steps
// samples here and each step is one request from its whole prefix, which the servers'
// prefix caches keep. A sampled token is the server's id where it gives one
// (llama-server's `id`, vLLM's `token_id:N` with return_tokens_as_token_ids), else its
// text looked up in the local vocabulary; a token the local model does not have is the
// sample's error (the server serves another model).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ponder/model.h"
#include "ponder/sampling.h"

namespace ponder {

// The request and response shapes an endpoint speaks.
enum class RemoteApi {
  llama,   // llama-server's /completion: token-id prompt, n_probs, cache_prompt, token ids back
  openai,  // /v1/completions as vLLM and SGLang serve it: token-id prompt, logprobs, top_k/min_p
  ponder,  // `ponder serve`'s raw mode ("strategy": "sample") on /v1/completions: token-id prompt
};
const char* remote_api_name(RemoteApi api);

struct RemoteEndpoint {
  std::string url;             // http://host:port (no path)
  RemoteApi api = RemoteApi::llama;
  int concurrency = 4;         // samples in flight on it at most; 1..1024
  std::string model;           // the "model" field of the request (vLLM wants the served name); "" = none
  // It gives prompt logprobs (vLLM's prompt_logprobs): api=openai or vllm; not sglang.
  bool prompt_logprobs = false;
};
// "URL[,api=llama|openai|ponder][,concurrency=N][,model=NAME]". Throws std::invalid_argument
// naming what was wrong.
RemoteEndpoint parse_remote_endpoint(const std::string& spec);
std::string remote_endpoint_spec(const RemoteEndpoint& endpoint);  // the same form, every field

struct RemoteOptions {
  std::vector<RemoteEndpoint> endpoints;  // at least one
  double timeout_s = 60.0;    // no byte from an endpoint for this long: it failed; (0, 1e6]
  double connect_timeout_s = 5.0;  // (0, 1e6]
  double cooldown_s = 5.0;    // an endpoint that failed gets no new sample for this long; [0, 1e6]
  void validate() const;      // throws std::invalid_argument
};

// What a sample asks for.
struct RemoteRequest {
  std::vector<Token> prompt;  // the prompt and any tokens the sample already has
  SamplingParams sampling;    // seed: the sample's own
  StopParams stop;
  // >= 0: nothing is drawn; the sample's records are the logprobs of prompt[score_from..]
  // as the server reads them (vLLM's prompt_logprobs), their alternatives as asked for.
  int score_from = -1;
  bool scoring() const { return score_from >= 0; }
};

// Where a remote sample stands; shared by its worker (writing) and the question (reading).
class RemoteSample {
 public:
  // Copies what arrived beyond the first `have` records (all of it when the sample was
  // restarted on another endpoint since: then `restarted` is set and `records` replaced).
  struct Update {
    std::vector<TokenRecord> records;  // new records (or all of them, when restarted)
    bool restarted = false;
    std::string text;  // the whole text so far
    bool done = false;
    FinishReason finish = FinishReason::none;
    std::string error;  // done without a result: why (every endpoint failed, or a refusal)
  };
  Update read(size_t have, int& attempt_seen) const;
  bool done() const;
  // Stops it: the stream is closed at its next chunk, or it never starts. Idempotent.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Tokens the server read as prompt and generated, for the question's cost.
  int64_t prompt_tokens() const;
  int64_t generated_tokens() const;

 private:
  friend class RemoteBackend;
  friend struct RemoteStream;
  mutable std::mutex mutex_;
  std::vector<TokenRecord> records_;
  std::string text_;
  bool done_ = false;
  FinishReason finish_ = FinishReason::none;
  std::string error_;
  int attempt_ = 0;
  int64_t prompt_tokens_ = 0;
  int64_t generated_tokens_ = 0;
  double server_ms_ = -1.0;  // the last attempt's, when its server reported it
  std::atomic<bool> cancelled_{false};
  std::function<void()> wake_;  // the runtime's: something new to read
};

// Requests, failures and retries per endpoint, for reports.
struct RemoteEndpointStats {
  std::string url;
  int64_t requests = 0;   // samples started there
  int64_t completed = 0;  // ... that ended with a result
  int64_t failures = 0;   // ... that failed there (connection, status, timeout, bad stream)
  int64_t retried = 0;    // samples that failed there and were sent elsewhere
  int64_t tokens = 0;     // tokens received
  // Of completed samples: wall time from sending the request to the stream's end, and the
  // time the server says it spent (llama-server's timings; 0 where not reported). Their
  // difference over `timed` samples is the HTTP path's overhead per sample.
  double request_ms = 0.0;
  double server_ms = 0.0;
  int64_t timed = 0;
  int in_flight = 0;
};

class RemoteBackend {
 public:
  // `model`: the local model whose vocabulary the samples' tokens are in (and whose
  // detokenizer writes the text prompt for the `ponder` API). Starts the worker threads.
  RemoteBackend(RemoteOptions options, std::shared_ptr<const Model> model);
  ~RemoteBackend();  // cancels what runs and joins the workers
  RemoteBackend(const RemoteBackend&) = delete;
  RemoteBackend& operator=(const RemoteBackend&) = delete;

  // Queues a sample; `wake` is called (on a worker thread) whenever it has news.
  std::shared_ptr<RemoteSample> submit(RemoteRequest request, std::function<void()> wake);

  // Called on a worker thread for each failure and retry ("http://a:1 failed (...);
  // sample retried on http://b:2"); may be empty. Set before submitting.
  void set_notice(std::function<void(const std::string&)> notice) { notice_ = std::move(notice); }

  const RemoteOptions& options() const { return options_; }
  int total_concurrency() const;
  // Every endpoint can read the logprobs of a given text (RemoteRequest::score_from): vLLM's
  // prompt_logprobs (api=openai or vllm). llama-server, SGLang and `ponder serve` have none.
  bool can_score() const;
  std::vector<RemoteEndpointStats> stats() const;
  const Model& model() const { return *model_; }

  // The local token with this text as a server sent it (its id when it is "token_id:N");
  // none when the local vocabulary has no such token.
  std::optional<Token> token_of(const std::string& piece) const;

 private:
  struct Job {
    std::shared_ptr<RemoteSample> sample;
    RemoteRequest request;
    std::vector<bool> tried;  // per endpoint: failed there already
    std::vector<std::string> failures;
  };
  struct Endpoint {
    RemoteEndpoint spec;
    RemoteEndpointStats stats;
    std::chrono::steady_clock::time_point down_until{};
  };
  void work();
  // The least loaded endpoint that may take `job` now, or -1.
  int pick(const Job& job, std::chrono::steady_clock::time_point now) const;
  // Runs one attempt; returns "" on a result, else why the endpoint failed. `refused`:
  // the server refused the request itself (no point in another endpoint).
  std::string attempt(const Endpoint& endpoint, Job& job, bool& refused);
  // The text and tokens at a stop string as the local engine leaves them (see backend.cpp);
  // false when the tokens hold no stop string and the server did not say it stopped at one.
  bool settle_stop(RemoteSample& sample, const StopParams& stop, bool stopped_at_string,
                   const std::string& stop_word) const;

  RemoteOptions options_;
  std::shared_ptr<const Model> model_;
  std::unordered_map<std::string, Token> piece_tokens_;
  std::function<void(const std::string&)> notice_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Endpoint> endpoints_;
  std::vector<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

namespace remote {
// The request body for one sample (streamed), and its path, for `api`.
std::string request_body(const RemoteEndpoint& endpoint, const RemoteRequest& request, const Model& model);
const char* request_path(RemoteApi api);

// Splits a server-sent-event stream into the JSON payloads of its `data:` lines
// ("[DONE]" included as is), across chunk boundaries.
class EventStream {
 public:
  std::vector<std::string> feed(const char* data, size_t size);

 private:
  std::string pending_;
};

// One streamed chunk read into a sample: new records and text, and the end when it says so.
struct Chunk {
  std::vector<TokenRecord> records;
  std::string text;
  bool end = false;
  FinishReason finish = FinishReason::none;
  std::string stop_word;      // the stop string that ended it, when the server says
  int64_t prompt_tokens = -1;  // when the server reports it
  double server_ms = -1.0;     // prompt + generation time, when the server reports it
};
// Throws std::runtime_error naming what is wrong with the payload. `top`: the alternatives
// asked for per token (the server may send more or fewer).
Chunk parse_chunk(RemoteApi api, const std::string& payload, const RemoteBackend& backend, int top);

// A scoring request's answer (vLLM's completions response with choices[0].prompt_logprobs):
// one record per token of request.prompt from request.score_from, each that token with its
// logprob and the alternatives sent (at most `top`). Throws std::runtime_error naming what
// is missing or wrong.
Chunk parse_scores(const std::string& body, const RemoteRequest& request, const RemoteBackend& backend, int top);
}  // namespace remote

}  // namespace ponder
