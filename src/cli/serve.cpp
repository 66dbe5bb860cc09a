// `ponder serve`: the OpenAI-compatible server (src/server) on the command line: which
// models, where to listen, the limits; SIGTERM and SIGINT shut it down gracefully.

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/options.h"
#include "server/server.h"
#include "toy/models.h"

namespace ponder::cli {

namespace {

struct ServeArgs {
  std::vector<std::string> models;
  std::string verifier;
  std::string large_model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string strategy = "adaptive";
  ControllerOptions controller;
  EngineArgs engine;
  BackendArgs backend;
  int context = 0;
  int max_queue = 64;
  int prompt_cache = 4;
  int max_n = 16;
  int max_tokens = 256;
  int64_t max_body = 1 << 20;
  int read_timeout = 10;
  double time_limit = 0;
  int http_threads = 0;
  double grace = 30;
  ThinkingArgs thinking;
  std::vector<std::string> runs;
};

bool is_toy_reasoner(const std::string& path) {
  std::error_code ec;
  return std::filesystem::equivalent(path, toy::default_reasoner_path(), ec) ||
         std::filesystem::equivalent(path, toy::small_reasoner_path(), ec);
}

// "NAME=PATH", or a PATH served under its file name without ".gguf".
server::ServedModel served_model(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq != std::string::npos && arg.substr(0, eq).find('/') == std::string::npos) {
    if (eq == 0 || eq + 1 == arg.size()) throw UsageError("--model '" + arg + "': give NAME=PATH or PATH");
    return {arg.substr(0, eq), arg.substr(eq + 1), ""};
  }
  return {std::filesystem::path(arg).stem().string(), arg, ""};
}

server::ServerOptions server_options(const ServeArgs& a) {
  server::ServerOptions o;
  if (a.models.empty()) {
    o.models.push_back({"toy-reasoner-s", toy::small_reasoner_path(), ""});
    o.models.push_back({"toy-reasoner-l", toy::default_reasoner_path(), ""});
  }
  for (const auto& m : a.models) o.models.push_back(served_model(m));
  for (auto& m : o.models) {
    // The bundled reasoners come with the bundled PRM, as in `ponder run`.
    m.verifier_path = !a.verifier.empty() ? a.verifier : is_toy_reasoner(m.path) ? toy::prm_path() : "";
    // Every served model gets the large model (but itself); the bundled small reasoner the bundled large one.
    std::error_code ec;
    if (!a.large_model.empty()) {
      if (!std::filesystem::equivalent(m.path, a.large_model, ec)) m.large_path = a.large_model;
    } else if (std::filesystem::equivalent(m.path, toy::small_reasoner_path(), ec)) {
      m.large_path = toy::default_reasoner_path();
    }
  }
  o.host = a.host;
  o.port = a.port;
  o.api_key = a.api_key;
  o.default_strategy = a.strategy;
  o.controller = a.controller;
  o.max_sequences = a.engine.max_sequences;
  o.threads = a.engine.threads;
  o.gpu_layers = a.engine.gpu_layers;
  o.kv_cache = a.engine.kv_cache;
  o.prompt_cache = a.prompt_cache;
  o.context = a.context;
  o.max_queue = a.max_queue;
  o.max_n = a.max_n;
  o.default_max_tokens = a.max_tokens;
  o.max_body_bytes = size_t(a.max_body);
  o.read_timeout_seconds = a.read_timeout;
  o.time_limit_seconds = a.time_limit;
  o.http_threads = a.http_threads;
  o.remote = a.backend.options;
  o.thinking = parse_thinking_mode(a.thinking.mode);
  o.thinking_budget = a.thinking.budget;
  o.runs = a.runs;
  if (o.thinking == ThinkingMode::off && o.thinking_budget >= 0) {
    throw UsageError("--thinking-budget: with --thinking off there is no thinking to budget");
  }
  return o;
}

void serve(const ServeArgs& a) {
  // The default strategy is checked now rather than on the first request.
  make_strategy(a.strategy);
  a.engine.note_gpu_layers();
  // Signals go to one thread that waits for them; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that goes away mid-response must not end the process.
  signal(SIGPIPE, SIG_IGN);

  server::Server server(server_options(a));
  const int port = server.bind();
  std::string names;
  for (const auto& m : server.options().models) names += (names.empty() ? "" : ", ") + m.name;
  std::printf("ponder serve: listening on http://%s:%d (models: %s; the live page at /)\n", a.host.c_str(), port,
              names.c_str());
  if (std::fflush(stdout) != 0) throw std::runtime_error("cannot write to standard output");

  std::atomic<bool> served = false;
  std::thread signal_waiter([&] {
    const timespec poll_interval{0, 200'000'000};
    while (!served) {
      const int sig = sigtimedwait(&signals, nullptr, &poll_interval);
      if (sig == SIGTERM || sig == SIGINT) {
        std::fprintf(stderr, "ponder serve: %s: finishing requests in flight (at most %g s)\n",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", a.grace);
        server.shutdown(a.grace);
        return;
      }
    }
  });
  server.serve();
  served = true;
  signal_waiter.join();
  std::fprintf(stderr, "ponder serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve",
                                 "Serve the OpenAI API (chat and text completions) with ponder's strategies");
  cmd->add_option(
      "-m,--model", a->models,
      "A model to serve: PATH (named by its file name) or NAME=PATH; repeatable (default: the bundled "
      "toy-reasoner-s and toy-reasoner-l)");
  cmd->add_option("--verifier", a->verifier,
                  "Verifier GGUF for prm-vote, prm-best-of-n (default with the toy reasoners: the toy PRM)");
  cmd->add_option("--large-model", a->large_model,
                  "Large GGUF model for cascade and ead, beside every other served model (default for the bundled "
                  "toy-reasoner-s: toy-reasoner-l)");
  cmd->add_option("--host", a->host, "Address to listen on (loopback unless you widen it)")
      ->capture_default_str();
  cmd->add_option("--port", a->port, "Port (0 = any free port, printed)")
      ->check(integer_in(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' on /v1/* and /metrics")
      ->envname("PONDER_API_KEY");
  cmd->add_option("-s,--strategy", a->strategy, "Strategy of requests that name none")->capture_default_str();
  add_controller_options(cmd, a->controller);
  add_engine_options(cmd, a->engine, true);
  add_backend_options(cmd, a->backend);
  add_thinking_options(cmd, a->thinking);
  cmd->add_option("--ctx-size", a->context, "Tokens per sequence (0 = the model's, at most 4096)")
      ->check(integer_in(0, 1 << 20, "0 = the model's"))
      ->capture_default_str();
  cmd->add_option("--max-queue", a->max_queue,
                  "Questions waiting beyond those running, per model; more get 429")
      ->check(integer_in(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--max-n", a->max_n, "Choices per request at most")
      ->check(integer_in(1, 1024))
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens per sample when a request gives no max_tokens")
      ->check(integer_in(1, kMaxTokensOption))
      ->capture_default_str();
  cmd->add_option("--max-body", a->max_body, "Request body bytes at most (larger: 413)")
      ->check(integer_in(1024, int64_t(1) << 32))
      ->capture_default_str();
  cmd->add_option("--read-timeout", a->read_timeout, "Seconds to receive a request before it is dropped")
      ->check(integer_in(1, 3600))
      ->capture_default_str();
  cmd->add_option("--request-timeout,--time-limit", a->time_limit,
                  "Seconds a request may run (0 = no limit; a request may ask for less with "
                  "\"ponder\": {\"timeout\": s}); past it: cancelled, 504")
      ->check(number_in(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--prompt-cache", a->prompt_cache,
                  "Prompts kept per model after their requests, so that requests sharing a prefix copy its KV "
                  "instead of decoding it (0 = off; at most --max-sequences)")
      ->check(integer_in(0, max_engine_sequences(), "0 = off"))
      ->capture_default_str();
  cmd->add_option("--http-threads", a->http_threads, "Connections served at once (0 = running + queued + 8)")
      ->check(integer_in(0, 4096, "0 = automatic"))
      ->capture_default_str();
  cmd->add_option("--shutdown-grace", a->grace, "Seconds requests in flight get to finish after SIGTERM")
      ->check(number_in(0, 3600))
      ->capture_default_str();
  cmd->add_option("--runs", a->runs,
                  "An eval run directory, or a folder of them, that the live page (at /) may replay; "
                  "repeatable")
      ->type_name("DIR");
  cmd->footer(
      strategy_list_help() +
      "  sample                 raw mode (a request's \"ponder\": {\"strategy\": \"sample\"}): n plain "
      "samples with logprobs\n");
  cmd->callback([a] { serve(*a); });
}

}  // namespace ponder::cli
