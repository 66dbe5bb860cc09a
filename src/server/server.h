#pragma once
// `ponder serve`: an OpenAI-compatible HTTP server over one runtime per model.
//
//   POST /v1/chat/completions, /v1/completions   (request fields: server/request.h)
//   GET  /v1/models, /health, /metrics
//   GET  /  (the live page; its files under /page/), /runs, /runs/file?run=NAME&file=FILE
//        (the evaluation runs it replays; docs/live-view.md)
//
// Each completion request becomes n questions on its model's runtime (n independent
// runs of its strategy; in raw mode one question of n samples), which the engine thread
// batches with every other request's. The handler waits on the questions (or streams
// their events), polling its client: a client that goes away has its questions
// cancelled, which frees their sequences at once. Admission is bounded: questions beyond
// the runtime's in-flight limit plus the queue get 429 with Retry-After.

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ponder/engine.h"
#include "ponder/remote.h"
#include "ponder/strategy.h"
#include "ponder/chat_template.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace ponder::server {

struct ServedModel {
  std::string name;           // what clients write in "model"
  std::string path;           // the GGUF file
  std::string verifier_path;  // a process reward model for prm-* strategies; empty: none
  std::string large_path;     // a large model for cascade and ead (this one is the small); empty: none
};

struct ServerOptions {
  std::vector<ServedModel> models;  // at least one; names unique, without ':'
  std::string host = "127.0.0.1";   // loopback unless asked otherwise
  int port = 8080;                  // 0: any free port (bind() says which)
  std::string api_key;              // non-empty: /v1/* and /metrics need "Authorization: Bearer KEY"
  std::string default_strategy = "adaptive-vote";  // for requests that name none
  ControllerOptions controller;     // adaptive's settings and presets (`--presets`), for every request
  int max_sequences = 64;                          // KV slots per model; 2..max_engine_sequences()
  int context = 0;                  // tokens per sequence; 0: the model's training context, at most 4096
  int threads = 0;                  // engine threads per model; 0: default_threads()
  int gpu_layers = 0;               // layers of each model on a GPU (-1: all); none without a GPU backend
  KvCacheTypes kv_cache;            // how every engine stores keys and values
  // Prompts each model's engine keeps after their requests end, so that a request sharing
  // a prefix with one (a system prompt, a repeated question) copies its KV instead of
  // decoding it; 0: off; at most max_sequences (kept prompts give their slots up to live work).
  int prompt_cache = 4;
  int max_queue = 64;               // questions waiting beyond those running, per model; more: 429; >= 0
  int max_n = 16;                   // choices per request at most; 1..1024
  int default_max_tokens = 256;     // when a request gives no max_tokens (less if the context is short)
  size_t max_body_bytes = 1 << 20;  // larger bodies: 413
  int read_timeout_seconds = 10;    // a request (headers and body) not read by then is dropped: 400
  // Per request; 0: none. A request may ask for less ("ponder": {"timeout": s}), not more.
  // Past it the request's questions are cancelled (their sequences freed): 504.
  double time_limit_seconds = 0;
  int http_threads = 0;             // connections served at once; 0: running + queued questions + 8
  // Chat requests that say nothing of thinking (ponder.thinking, ponder.thinking_budget):
  // the thinking mode and budget (-1: none). Other than the defaults, every model's chat
  // template must have a thinking block.
  ThinkingMode thinking = ThinkingMode::automatic;
  int thinking_budget = -1;
  // Evaluation run directories (or folders of them) the live page may replay; empty: none.
  std::vector<std::string> runs;
  // Endpoints drawing every model's samples (RuntimeOptions::remote); none: the local
  // engines. The models are then the servers' models, for their vocabularies and templates.
  RemoteOptions remote;

  void validate() const;  // throws std::invalid_argument naming the field and what is allowed
  std::vector<std::filesystem::path> run_roots() const { return {runs.begin(), runs.end()}; }
};

class Server {
 public:
  // Loads every model (and verifier) and sizes its engine; throws ModelError or
  // std::invalid_argument before anything listens.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and returns the port (the chosen one for port 0); throws
  // std::runtime_error when it cannot.
  int bind();
  // Serves until shutdown(); returns once every connection's handler has returned.
  void serve();
  // Stops accepting and lets requests in flight finish for `grace_seconds`; what is still
  // running then is cancelled (its clients get an error). Returns at once; thread-safe.
  void shutdown(double grace_seconds = 30);

  const Metrics& metrics() const { return metrics_; }
  const ServerOptions& options() const { return options_; }

 private:
  struct ServedEngine;
  struct Exchange;
  struct Plan;

  void add_routes();
  void add_page_routes();  // the live page and the runs it replays
  void handle_completion(int endpoint, const httplib::Request& req, httplib::Response& res);
  ServedEngine* find_model(const std::string& name);
  void cancel_all(ServedEngine& m, Exchange& x);
  void collect(ServedEngine& m, Exchange& x);
  void end_grace();  // wakes and joins the grace timer
  void stop_runtimes();

  ServerOptions options_;
  std::vector<std::unique_ptr<ServedEngine>> models_;
  std::unique_ptr<httplib::Server> http_;
  Metrics metrics_;
  std::atomic<uint64_t> next_id_{1};
  std::mutex shutdown_mutex_;
  bool shutting_down_ = false;
  // The grace period's timer: it stops the runtimes when the time is up or when serve()
  // has seen every handler return, whichever comes first.
  std::mutex grace_mutex_;
  std::condition_variable grace_wake_;
  bool grace_over_ = false;
  std::unique_ptr<std::thread> grace_timer_;  // guarded by shutdown_mutex_
  std::mutex runtimes_mutex_;
  bool runtimes_stopped_ = false;
};

}  // namespace ponder::server
