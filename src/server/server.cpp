// The HTTP front end: routes, admission, one exchange per completion request between its
// handler thread and the engine thread, and shutdown.

#include "server/server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <sstream>
#include <filesystem>
#include <optional>

#include "ponder/engine_sizing.h"
#include "ponder/presets.h"
#include "ponder/result_json.h"
#include "ponder/runtime.h"
#include "ponder/verifier.h"
#include "server/connection.h"
#include "server/page_files.h"
#include "server/request.h"
#include "server/responses.h"
#include "server/runs.h"
#include "server/sample_stream.h"

namespace ponder::server {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// How often a waiting handler looks at its client and its time limit.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  res.set_content(dump(error_json(error)), "application/json");
}

ApiError bad_request(const std::string& param, const std::string& message, const std::string& code) {
  return {400, message, "invalid_request_error", param, code};
}

// A constant-time comparison, so the key cannot be guessed a byte at a time from timing.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

void ServerOptions::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  require(!models.empty(), "models: at least one model to serve");
  controller.validate();
  for (size_t i = 0; i < models.size(); ++i) {
    require(
        !models[i].name.empty() && models[i].name.find(':') == std::string::npos,
        "model name '" + models[i].name + "': must be non-empty and without ':' (it separates the strategy)");
    for (size_t k = 0; k < i; ++k)
      require(models[k].name != models[i].name, "model name '" + models[i].name + "': given twice");
  }
  require(port >= 0 && port <= 65535, "port: must be in [0, 65535]");
  require(max_sequences >= 2 && max_sequences <= max_engine_sequences(),
          "max-sequences: must be in [2, " + std::to_string(max_engine_sequences()) + "]");
  require(context >= 0, "context: must be >= 0 (0 = the model's)");
  require(threads >= 0 && threads <= max_engine_threads(),
          "threads: must be in [0, " + std::to_string(max_engine_threads()) + "]");
  require(max_queue >= 0, "max-queue: must be >= 0");
  require(max_n >= 1 && max_n <= 1024, "max-n: must be in [1, 1024]");
  require(default_max_tokens >= 1, "default max tokens: must be >= 1");
  require(max_body_bytes >= 1024, "max-body: must be >= 1024 bytes");
  require(read_timeout_seconds >= 1, "read-timeout: must be >= 1 second");
  require(time_limit_seconds >= 0 && std::isfinite(time_limit_seconds),
          "time-limit: must be >= 0 (0 = none)");
  require(gpu_layers >= -1, "n-gpu-layers: must be >= -1 (-1 = all)");
  require(prompt_cache >= 0 && prompt_cache <= max_sequences,
          "prompt-cache: must be in [0, max-sequences = " + std::to_string(max_sequences) + "] (0 = off)");
  require(http_threads >= 0, "http-threads: must be >= 0 (0 = automatic)");
  require(thinking_budget >= -1, "thinking-budget: must be >= 0 (-1 = none)");
  check_run_roots(run_roots());
}

// A model with its engine, optional verifier and runtime, and its admission count.
struct Server::ServedEngine {
  std::string name;
  std::shared_ptr<const Model> model;
  std::unique_ptr<Engine> engine;
  std::string verifier_name;
  std::unique_ptr<Engine> verifier_engine;
  std::string large_name;
  std::unique_ptr<Engine> large_engine;
  std::shared_ptr<RemoteBackend> remote;  // samples drawn remotely; none: on `engine`
  std::unique_ptr<Runtime> runtime;  // after the engines: it goes first
  std::unique_ptr<ChatTemplate> chat;  // its Jinja template when it has a thinking block

  std::mutex mutex;  // admission and shutdown
  bool accepting = true;
  int questions = 0;  // submitted and not yet collected
  int running_limit = 0;
  int capacity = 0;  // running_limit + the queue
};

// A completion request resolved against its model: the prompt and what to run.
struct Server::Plan {
  CompletionRequest request;
  std::vector<Token> prompt;
  std::string question;  // what answers and verifiers read: the prompt, or the last user message
  std::string spec;      // the strategy as named
  bool sampled = false;  // raw samples or greedy: StreamedSamples, reported token by token
  int jobs = 1;          // questions submitted
  int choices = 1;
  StrategyOptions options;
};

// What a request's handler and the engine thread share.
struct Server::Exchange {
  ResponseHeader header;
  CompletionRequest request;
  const Model* model = nullptr;
  bool sampled = false;
  Clock::time_point arrived;
  int fd = -1;

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<QuestionId> ids;
  std::vector<bool> done;  // per question
  int finished = 0;
  std::vector<std::vector<std::pair<std::string, double>>> tallies;  // per question: its last vote
  std::vector<ChoiceOutput> outputs;                                 // per choice
  std::vector<size_t> text_offsets;                                  // per choice, completions logprobs
  std::deque<std::string> chunks;                                    // stream: JSON texts not yet sent
  std::optional<Clock::time_point> first_launch;
  std::optional<Clock::time_point> first_text;
  std::string cancelled_because;        // "client", "time limit"
  std::vector<StrategyResult> results;  // per question, once collected
  bool concluded = false;               // results collected and the request recorded

  bool all_done() const { return finished == int(done.size()); }
  void push(const json& chunk) { chunks.push_back(dump(chunk)); }
  // The logprobs of the sample a strategy chose, when the request asked for them (its
  // text goes out whole, so they do too); null when not asked or not found.
  json chosen_logprobs(const SampleTrace* chosen) const {
    if (!request.logprobs || chosen == nullptr) return nullptr;
    return logprobs_json(header.endpoint, *model, chosen->records, request.top_logprobs, 0, request.tokens_as_ids);
  }
};

Server::Server(ServerOptions options) : options_(std::move(options)) {
  options_.validate();
  for (const ServedModel& s : options_.models) {
    auto m = std::make_unique<ServedEngine>();
    m->name = s.name;
    ModelOptions model_options;
    model_options.gpu_layers = options_.gpu_layers;
    m->model = Model::load(s.path, model_options);
    if (m->model->has_chat_template()) {
      try {
        auto chat = std::make_unique<ChatTemplate>(*m->model);
        if (chat->supports_thinking()) m->chat = std::move(chat);
      } catch (const ModelError&) {
        // Llama.cpp's Jinja engine cannot read it: no thinking control, the built-in path serves.
      }
    }
    if (!m->chat && (options_.thinking != ThinkingMode::automatic || options_.thinking_budget >= 0)) {
      throw std::invalid_argument(std::string(options_.thinking_budget >= 0 ? "thinking-budget" : "thinking") +
                                  ": the chat template of model '" + s.name + "' (" + s.path +
                                  ") has no thinking block");
    }
    Workload work;
    work.sequences = options_.max_sequences;
    const int context = options_.context > 0 ? options_.context : std::min(m->model->n_ctx_train(), 4096);
    work.prompt_tokens = 0;
    work.max_new_tokens = std::max(1, context - 1);
    work.threads = options_.threads;
    work.kv_cache = options_.kv_cache;
    EngineOptions engine_options = engine_options_for(*m->model, work);
    engine_options.prompt_cache = options_.prompt_cache;
    m->engine = std::make_unique<Engine>(m->model, engine_options);
    if (!options_.remote.endpoints.empty()) {
      m->remote = std::make_shared<RemoteBackend>(options_.remote, m->model);
      m->remote->set_notice([](const std::string& line) { std::fprintf(stderr, "backend: %s\n", line.c_str()); });
    }
    m->runtime = std::make_unique<Runtime>(*m->engine, RuntimeOptions{.remote = m->remote});
    if (!s.verifier_path.empty()) {
      auto verifier_model = Model::load(s.verifier_path, model_options);
      ProcessRewardModel prm = ProcessRewardModel::load(verifier_model);
      Workload v;
      v.sequences = options_.max_sequences;
      v.max_new_tokens = std::min(verifier_model->n_ctx_train(), 1024) - 1;
      v.threads = options_.threads;
      v.kv_cache = options_.kv_cache;
      m->verifier_engine = std::make_unique<Engine>(verifier_model, engine_options_for(*verifier_model, v));
      m->runtime->set_verifier(*m->verifier_engine, std::move(prm));
      m->verifier_name = std::filesystem::path(s.verifier_path).stem().string();
    }
    if (!s.large_path.empty()) {
      auto large_model = Model::load(s.large_path);
      m->large_engine = std::make_unique<Engine>(large_model, engine_options_for(*large_model, work));
      m->runtime->set_large_model(*m->large_engine);
      m->large_name = std::filesystem::path(s.large_path).stem().string();
    }
    m->running_limit = m->runtime->options().max_in_flight;
    m->capacity = m->running_limit + options_.max_queue;
    metrics_.set_queue(m->name, 0, 0);
    metrics_.set_kv(m->name, 0, 0, 0, m->engine->max_sequences());
    models_.push_back(std::move(m));
  }
  for (auto& m : models_) m->runtime->start();

  http_ = std::make_unique<httplib::Server>();
  const int threads =
      options_.http_threads > 0 ? options_.http_threads : int(models_.size()) * (models_[0]->capacity) + 8;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_read_timeout(options_.read_timeout_seconds, 0);
  http_->set_keep_alive_timeout(5);  // idle keep-alive connections close after this
  add_routes();
}

Server::~Server() {
  {
    std::lock_guard lock(shutdown_mutex_);
    shutting_down_ = true;
  }
  if (http_) http_->stop();
  end_grace();
  stop_runtimes();  // before the metrics its callbacks write to go
}

Server::ServedEngine* Server::find_model(const std::string& name) {
  for (auto& m : models_) {
    if (m->name == name) return m.get();
  }
  return nullptr;
}

int Server::bind() {
  const int port = options_.port == 0
                       ? http_->bind_to_any_port(options_.host)
                       : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port < 0) {
    throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                             " (in use, or not an address of this machine)");
  }
  return port;
}

void Server::serve() {
  http_->listen_after_bind();
  // Every handler has returned: nothing waits on the runtimes any more.
  end_grace();
  stop_runtimes();
}

void Server::shutdown(double grace_seconds) {
  std::lock_guard lock(shutdown_mutex_);
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& m : models_) {
    std::lock_guard model_lock(m->mutex);
    m->accepting = false;
  }
  grace_timer_ = std::make_unique<std::thread>([this, grace_seconds] {
    std::unique_lock wait_lock(grace_mutex_);
    grace_wake_.wait_for(wait_lock, std::chrono::duration<double>(grace_seconds),
                         [this] { return grace_over_; });
    wait_lock.unlock();
    stop_runtimes();
  });
  http_->stop();
}

void Server::end_grace() {
  {
    std::lock_guard lock(grace_mutex_);
    grace_over_ = true;
  }
  grace_wake_.notify_all();
  std::unique_ptr<std::thread> timer;
  {
    std::lock_guard lock(shutdown_mutex_);
    timer = std::move(grace_timer_);
  }
  if (timer && timer->joinable()) timer->join();
}

void Server::stop_runtimes() {
  // Called by the grace timer, serve() and the destructor, possibly at once.
  std::lock_guard lock(runtimes_mutex_);
  if (runtimes_stopped_) return;
  runtimes_stopped_ = true;
  for (auto& m : models_) {
    {
      std::lock_guard model_lock(m->mutex);
      m->accepting = false;
    }
    // Questions still running end as cancelled; their handlers answer 503.
    m->runtime->stop();
  }
}

void Server::add_routes() {
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool guarded = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics" || req.path.rfind("/runs", 0) == 0;
    if (options_.api_key.empty() || !guarded) return httplib::Server::HandlerResponse::Unhandled;
    const std::string header = req.get_header_value("Authorization");
    if (header.rfind("Bearer ", 0) == 0 && same_secret(header.substr(7), options_.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, {401,
                     header.empty() ? "no API key given: send the header 'Authorization: Bearer KEY'"
                                    : "incorrect API key provided",
                     "invalid_request_error", "", "invalid_api_key"});
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses cpp-httplib sets itself (unknown path, oversized or unreadable request) get
  // the same error shape as ponder's own.
  http_->set_error_handler(
      httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e{res.status, "", "invalid_request_error", "", ""};
        const bool known_path = req.path == "/v1/chat/completions" || req.path == "/v1/completions" ||
                                req.path == "/v1/models" || req.path == "/health" || req.path == "/metrics" ||
                                req.path == "/" || req.path == "/runs" || req.path == "/runs/file";
        if (res.status == 404 && known_path) {
          e.status = res.status = 405;
          e.message = "method " + req.method + " is not allowed on " + req.path +
                      " (completions take POST, the rest GET)";
          e.code = "method_not_allowed";
        } else if (res.status == 404) {
          e.message = "unknown path '" + req.path +
                      "' (served: /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics, "
                      "the live page at / and its files under /page/, /runs, /runs/file)";
          e.code = "unknown_url";
        } else if (res.status == 413) {
          e.message = "the request body is larger than " + std::to_string(options_.max_body_bytes) + " bytes";
          e.code = "request_too_large";
        } else if (res.status >= 500) {
          e.type = "server_error";
          e.message = "the server failed to answer the request";
          e.code = "internal_error";
        } else {
          e.message = "the request could not be read: malformed HTTP, or a body cut off or sent too slowly";
          e.code = "bad_request";
        }
        send_error(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }));

  // A handler that throws (not expected: each refusal is an ApiError) answers 500 with why.
  http_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr failure) {
        std::string why = "unknown error";
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          why = e.what();
        } catch (...) {
        }
        send_error(res, {500, "internal error: " + why, "server_error", "", "internal_error"});
      });

  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(int(Endpoint::chat), req, res);
  });
  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(int(Endpoint::completions), req, res);
  });
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& m : models_) {
      data.push_back({{"id", m->name},
                      {"object", "model"},
                      {"created", 0},
                      {"owned_by", "ponder"},
                      {"ponder",
                       {{"parameters", m->model->n_params()},
                        {"context_per_sequence", m->engine->context_per_sequence()},
                        {"sequences", m->engine->max_sequences()},
                        {"gpu_layers", m->model->options().gpu_layers},
                        {"gpu_offload", gpu_offload_supported()},
                        {"kv_cache",
                         {{"k", kv_cache_type_name(options_.kv_cache.k)},
                          {"v", kv_cache_type_name(options_.kv_cache.v)}}},
                        {"prompt_cache", options_.prompt_cache},
                        {"verifier", m->verifier_name.empty() ? json(nullptr) : json(m->verifier_name)},
                        {"large_model", m->large_name.empty() ? json(nullptr) : json(m->large_name)},
                        {"default_strategy", options_.default_strategy},
                        {"controller", controller_json(options_.controller)},
                        {"strategies", strategy_names()}}}});
    }
    res.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
  });
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    bool stopping = false;
    {
      std::lock_guard lock(shutdown_mutex_);
      stopping = shutting_down_;
    }
    res.status = stopping ? 503 : 200;
    res.set_content(dump({{"status", stopping ? "shutting_down" : "ok"}}), "application/json");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
  add_page_routes();
}

void Server::add_page_routes() {
  // The page's files are the binary's own: a name not among them is unknown (404).
  auto serve_page_file = [](std::string_view name, httplib::Response& res) {
    for (const PageFile& f : page_files()) {
      if (f.name != name) continue;
      res.set_header("Cache-Control", "no-cache");
      res.set_content(f.content.data(), f.content.size(), std::string(f.content_type));
      return true;
    }
    return false;
  };
  http_->Get("/", [serve_page_file](const httplib::Request&, httplib::Response& res) {
    serve_page_file("index.html", res);
  });
  http_->Get(R"(/page/([A-Za-z0-9_.-]+))", [serve_page_file](const httplib::Request& req, httplib::Response& res) {
    if (!serve_page_file(req.matches[1].str(), res)) {
      send_error(res, {404, "the live page has no file '" + req.matches[1].str() + "'", "invalid_request_error", "",
                       "unknown_url"});
    }
  });
  http_->Get("/runs", [this](const httplib::Request&, httplib::Response& res) {
    json runs = json::array();
    for (const RunDirectory& run : list_runs(options_.run_roots())) {
      json files = json::array();
      for (const char* file : kRunFiles) {
        std::error_code error;
        if (fs::is_regular_file(fs::symlink_status(run.path / file, error))) files.push_back(file);
      }
      runs.push_back({{"name", run.name}, {"files", files}});
    }
    res.set_content(dump({{"runs", runs}}), "application/json");
  });
  http_->Get("/runs/file", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string run = req.get_param_value("run");
    const std::string file = req.get_param_value("file");
    if (run.empty() || file.empty()) {
      return send_error(res, bad_request(run.empty() ? "run" : "file",
                                         "give the run (as /runs names it) and the file: /runs/file?run=NAME&file=FILE",
                                         "missing_parameter"));
    }
    const std::optional<fs::path> path = run_file(options_.run_roots(), run, file);
    if (!path) {
      std::string files;
      for (const char* f : kRunFiles) files += (files.empty() ? "" : ", ") + std::string(f);
      return send_error(res, {404, "no file '" + file + "' in a run named '" + run + "' (runs: GET /runs; files: " +
                                       files + ")",
                              "invalid_request_error", "", "not_found"});
    }
    std::ifstream in(*path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return send_error(res, {500, "cannot read " + file + " of run '" + run + "'", "server_error", "",
                              "internal_error"});
    }
    const bool is_json = file.size() > 5 && file.substr(file.size() - 5) == ".json";
    res.set_header("Cache-Control", "no-cache");
    res.set_content(content.str(), is_json ? "application/json" : "text/plain; charset=utf-8");
  });
}

void Server::cancel_all(ServedEngine& m, Exchange& x) {
  for (QuestionId id : x.ids) m.runtime->cancel(id);
}

void Server::collect(ServedEngine& m, Exchange& x) {
  x.results.clear();
  for (QuestionId id : x.ids) x.results.push_back(m.runtime->wait(id));
  std::lock_guard lock(m.mutex);
  m.questions -= int(x.ids.size());
  metrics_.set_queue(m.name, std::max(0, m.questions - m.running_limit),
                     std::min(m.questions, m.running_limit));
}

void Server::handle_completion(int endpoint_number, const httplib::Request& req, httplib::Response& res) {
  const Endpoint endpoint = Endpoint(endpoint_number);
  const Clock::time_point arrived = Clock::now();
  RequestRecord record;
  record.endpoint = endpoint == Endpoint::chat ? "chat" : "completions";
  auto refuse = [&](const ApiError& e) {
    send_error(res, e);
    record.status = e.status;
    metrics_.record(record);
    if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  };

  // --- read and check the request
  RequestLimits limits;
  for (const auto& m : models_) limits.models.push_back(m->name);
  limits.max_n = options_.max_n;
  auto parsed = parse_request(endpoint, req.body, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return refuse(*e);
  Plan plan;
  plan.request = std::move(std::get<CompletionRequest>(parsed));
  CompletionRequest& r = plan.request;
  ServedEngine& m = *find_model(r.model_name);
  record.model = m.name;
  if (r.strategy.empty()) {
    r.strategy = options_.default_strategy;
    r.strategy_param = "model";
  }
  plan.spec = r.strategy;
  plan.options = r.options;
  plan.options.controller = options_.controller;
  std::shared_ptr<const Strategy> probe;
  if (r.raw()) {
    if (r.budget != 0) {
      return refuse(bad_request("ponder.budget",
                                "'ponder.budget' does not apply to raw samples: 'n' is their count",
                                "invalid_value"));
    }
    plan.sampled = true;
    plan.jobs = 1;
    plan.choices = r.n;
  } else {
    try {
      probe = make_strategy(plan.spec, plan.options, r.budget);
    } catch (const std::invalid_argument& e) {
      return refuse(bad_request(r.strategy_param, e.what(), "invalid_strategy"));
    }
    plan.sampled = probe->name() == "greedy";
    plan.jobs = plan.choices = r.n;
    if ((probe->needs() & kVerify) && m.verifier_name.empty()) {
      return refuse(bad_request(r.strategy_param,
                                "strategy '" + probe->name() + "' needs a verifier; model '" + m.name +
                                    "' has none (start the server with --verifier)",
                                "verifier_unavailable"));
    }
    if (const Capabilities missing = probe->needs() & ~m.runtime->capabilities();
        missing && m.remote) {
      return refuse(bad_request(r.strategy_param,
                                "strategy '" + probe->name() + "' needs " + capability_names(missing) +
                                    ", which the remote backend of model '" + m.name +
                                    "' lacks (it samples, forks and truncates; scoring needs prompt logprobs)",
                                "strategy_unavailable"));
    }
    if ((probe->needs() & kLargeModel) && m.large_name.empty()) {
      return refuse(bad_request(r.strategy_param,
                                "strategy '" + probe->name() + "' needs a large model; model '" + m.name +
                                    "' has none (start the server with --large-model)",
                                "large_model_unavailable"));
    }
  }
  record.strategy = r.raw() ? std::string(kRawStrategy) : probe->name();
  if (!r.verifier.empty() && r.verifier != m.verifier_name) {
    return refuse(bad_request("ponder.verifier",
                              "'ponder.verifier': model '" + m.name + "' runs with verifier '" +
                                  (m.verifier_name.empty() ? std::string("(none)") : m.verifier_name) +
                                  "', not '" + r.verifier + "'",
                              "invalid_value"));
  }

  // --- the prompt, and room for the answer in the context
  const Model& model = *m.model;
  const int context = m.engine->context_per_sequence();
  // Thinking: the request's, else the server's; a raw prompt is the client's to write.
  const ThinkingMode thinking =
      endpoint == Endpoint::chat ? r.thinking.value_or(options_.thinking) : ThinkingMode::automatic;
  const int thinking_budget =
      thinking == ThinkingMode::off ? -1 : r.thinking_budget.value_or(options_.thinking_budget);
  if (endpoint == Endpoint::completions && r.thinking && *r.thinking != ThinkingMode::automatic) {
    return refuse(bad_request("ponder.thinking",
                              "'ponder.thinking' applies to chat completions: a raw prompt says itself whether "
                              "the model thinks",
                              "unsupported_parameter"));
  }
  if (!m.chat && (thinking != ThinkingMode::automatic || thinking_budget >= 0)) {
    return refuse(bad_request(thinking != ThinkingMode::automatic ? "ponder.thinking" : "ponder.thinking_budget",
                              "model '" + m.name + "' has no thinking block in its chat template",
                              "unsupported_parameter"));
  }
  if (thinking_budget >= 0) plan.options.generation.stop.thinking = m.chat->thinking_budget(thinking_budget);
  std::string prompt_text;
  try {
    if (endpoint == Endpoint::chat) {
      prompt_text = thinking == ThinkingMode::automatic ? model.apply_chat_template(r.messages, true)
                                                        : m.chat->apply(r.messages, thinking);
      for (const auto& message : r.messages) {
        if (message.role == "user") plan.question = message.content;
      }
      if (plan.question.empty()) plan.question = r.messages.back().content;
    } else if (!r.prompt_tokens.empty()) {
      // Token ids, read as given (a remote ponder continuing a sample's exact tokens).
      for (size_t i = 0; i < r.prompt_tokens.size(); ++i) {
        if (r.prompt_tokens[i] >= model.n_vocab()) {
          throw std::runtime_error("prompt[" + std::to_string(i) + "] is token " + std::to_string(r.prompt_tokens[i]) +
                                   ", outside this model's vocabulary of " + std::to_string(model.n_vocab()));
        }
      }
      std::span<const Token> text_tokens(r.prompt_tokens);
      if (text_tokens.front() == model.bos()) text_tokens = text_tokens.subspan(1);
      plan.question = model.detokenize(text_tokens);
      if (int(r.prompt_tokens.size()) > context - 1) {
        throw std::invalid_argument("the prompt's " + std::to_string(r.prompt_tokens.size()) +
                                    " tokens do not fit this model's context per sequence of " + std::to_string(context));
      }
    } else {
      prompt_text = r.prompt;
      plan.question = r.prompt;
    }
    if (r.prompt_tokens.empty()) {
      check_text_fits(model, prompt_text, context - 1, "the prompt");
      plan.prompt = model.tokenize(prompt_text, true, endpoint == Endpoint::chat && model.has_chat_template());
    } else {
      plan.prompt = r.prompt_tokens;
    }
  } catch (const std::invalid_argument& e) {
    return refuse(
        bad_request(endpoint == Endpoint::chat ? "messages" : "prompt", e.what(), "context_length_exceeded"));
  } catch (const std::exception& e) {
    return refuse(
        bad_request(endpoint == Endpoint::chat ? "messages" : "prompt", e.what(), "invalid_prompt"));
  }
  if (plan.prompt.empty()) {
    return refuse(bad_request(endpoint == Endpoint::chat ? "messages" : "prompt", "the prompt has no tokens",
                              "invalid_prompt"));
  }
  const int room = context - int(plan.prompt.size()) - 1;
  if (r.max_tokens && *r.max_tokens > room) {
    return refuse(bad_request("max_tokens",
                              "this model's context per sequence is " + std::to_string(context) +
                                  " tokens; the prompt takes " + std::to_string(plan.prompt.size()) +
                                  " and max_tokens asks for " + std::to_string(*r.max_tokens) +
                                  " more (at most " + std::to_string(std::max(0, room)) + ")",
                              "context_length_exceeded"));
  }
  if (room < 1) {
    return refuse(bad_request(endpoint == Endpoint::chat ? "messages" : "prompt",
                              "the prompt's " + std::to_string(plan.prompt.size()) +
                                  " tokens leave no room in this model's context per sequence of " +
                                  std::to_string(context),
                              "context_length_exceeded"));
  }
  plan.options.generation.stop.max_tokens =
      r.max_tokens.value_or(std::min(options_.default_max_tokens, room));

  // --- the exchange the engine thread reports into
  auto x = std::make_shared<Exchange>();
  x->request = r;
  x->model = &model;
  x->sampled = plan.sampled;
  x->arrived = arrived;
  x->header = {endpoint, (endpoint == Endpoint::chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++),
               int64_t(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()),
               r.model};
  x->done.assign(size_t(plan.jobs), false);
  x->tallies.resize(size_t(plan.jobs));
  x->outputs.resize(size_t(plan.choices));
  x->text_offsets.assign(size_t(plan.choices), 0);
  x->fd = find_client_socket(req.remote_addr, req.remote_port, req.local_port);
  if (r.stream && endpoint == Endpoint::chat) {
    for (int c = 0; c < plan.choices; ++c) x->push(chunk_json(x->header, c, "", true));
  }

  std::vector<Job> jobs;
  for (int j = 0; j < plan.jobs; ++j) {
    Job job;
    job.question = plan.question;
    job.prompt = plan.prompt;
    job.token_events = r.stream && r.all_events;
    job.sample_records = r.logprobs && !plan.sampled;  // for the chosen sample's logprobs
    const bool raw = r.raw();
    ServedEngine* mp = &m;
    Metrics* metrics = &metrics_;
    job.on_event = [x, j, raw, mp, metrics](const Event& e) {
      {
        std::lock_guard lock(x->mutex);
        if (e.kind == EventKind::launched && !x->first_launch) x->first_launch = Clock::now();
        if (e.kind == EventKind::vote) x->tallies[size_t(j)] = e.tally;
        if (x->request.stream && x->request.events) {
          const json ev = event_json(e, x->request.all_events ? x->model : nullptr);
          const int choice = raw ? std::max(0, e.sample) : j;
          if (!ev.is_null()) x->push(chunk_json(x->header, choice, "", false, nullptr, nullptr, ev));
          x->changed.notify_all();
        }
      }
      // The engine's gauges are read on its own thread, here.
      if (e.kind == EventKind::launched || e.kind == EventKind::result || e.kind == EventKind::error) {
        const EngineStats s = mp->engine->stats();
        metrics->set_kv(mp->name, s.live_sequences, s.waiting_sequences, s.cached_sequences,
                        mp->engine->max_sequences());
      }
    };
    job.on_result = [x, j, raw](const StrategyResult& result) {
      std::lock_guard lock(x->mutex);
      if (result.error.empty() && x->request.stream) {
        if (x->sampled) {
          for (size_t k = 0; k < result.samples.size(); ++k) {
            const int choice = raw ? int(k) : j;
            json decision = raw ? json(nullptr) : decision_json(result, x->tallies[size_t(j)]);
            x->push(chunk_json(x->header, choice, "", false, openai_finish_reason(result.samples[k].finish),
                               nullptr, decision));
          }
        } else {
          // The chosen text, whole, then the choice's end with the decision.
          const SampleTrace* chosen = chosen_sample(result);
          const FinishReason finish = chosen ? chosen->finish : FinishReason::eos;
          if (!x->first_text) x->first_text = Clock::now();
          if (!result.text.empty()) {
            x->push(chunk_json(x->header, j, result.text, false, nullptr, x->chosen_logprobs(chosen)));
          }
          x->push(chunk_json(x->header, j, "", false, openai_finish_reason(finish), nullptr,
                             decision_json(result, x->tallies[size_t(j)])));
        }
      }
      if (!result.error.empty() || !x->request.stream) {
        if (!x->first_text && result.error.empty()) x->first_text = Clock::now();
      }
      x->done[size_t(j)] = true;
      ++x->finished;
      x->changed.notify_all();
    };
    if (plan.sampled) {
      SampleListener listener;
      if (r.stream) {
        listener.on_delta = [x, j, raw](int k, std::string_view text, std::span<const TokenRecord> tokens) {
          std::lock_guard lock(x->mutex);
          const int choice = raw ? k : j;
          if (!text.empty() && !x->first_text) x->first_text = Clock::now();
          json logprobs = nullptr;
          if (x->request.logprobs) {
            logprobs = logprobs_json(x->header.endpoint, *x->model, tokens, x->request.top_logprobs,
                                     x->text_offsets[size_t(choice)], x->request.tokens_as_ids);
          }
          x->text_offsets[size_t(choice)] += text.size();
          x->push(chunk_json(x->header, choice, text, false, nullptr, logprobs));
          x->changed.notify_all();
        };
      }
      listener.on_finished = [x, j, raw](int k, const SampleTrace& trace, std::vector<TokenRecord> records) {
        std::lock_guard lock(x->mutex);
        ChoiceOutput& out = x->outputs[size_t(raw ? k : j)];
        out.text = trace.text;
        out.finish = trace.finish;
        if (x->request.logprobs && !x->request.stream) {
          out.logprobs = logprobs_json(x->header.endpoint, *x->model, records, x->request.top_logprobs, 0,
                                       x->request.tokens_as_ids);
        }
      };
      GenerationOptions g = plan.options.generation;
      if (!raw) g.sampling.temperature = 0.0f;
      job.strategy = std::make_shared<StreamedSamples>(raw ? std::string(kRawStrategy) : probe->name(),
                                                       raw ? r.n : 1, g, model, std::move(listener));
    } else {
      // Choice j draws its samples with seeds after those of the choices before it.
      StrategyOptions o = plan.options;
      o.generation.sampling.seed += uint64_t(j) * uint64_t(probe->budget());
      job.strategy = make_strategy(plan.spec, o, r.budget);
    }
    jobs.push_back(std::move(job));
  }

  // --- admission: bounded, so memory and waiting stay bounded
  {
    std::lock_guard lock(m.mutex);
    if (!m.accepting) {
      return refuse({503, "the server is shutting down", "server_error", "", "shutting_down"});
    }
    if (plan.jobs > m.capacity) {
      return refuse(bad_request("n",
                                "'n' asks for " + std::to_string(plan.jobs) +
                                    " runs; this server runs at most " + std::to_string(m.capacity) +
                                    " at once per model",
                                "out_of_range"));
    }
    if (m.questions + plan.jobs > m.capacity) {
      return refuse({429,
                     "the server is busy (" + std::to_string(m.questions) +
                         " questions running or queued): retry later",
                     "rate_limit_error", "", "queue_full"});
    }
    for (auto& job : jobs) x->ids.push_back(m.runtime->submit(std::move(job)));
    m.questions += plan.jobs;
    metrics_.set_queue(m.name, std::max(0, m.questions - m.running_limit),
                       std::min(m.questions, m.running_limit));
  }
  const Clock::time_point submitted = Clock::now();
  // The request's own time limit, or the server's when that is shorter (or the only one).
  double time_limit = options_.time_limit_seconds;
  bool own_time_limit = false;
  if (r.timeout_seconds && (time_limit == 0 || *r.timeout_seconds < time_limit)) {
    time_limit = *r.timeout_seconds;
    own_time_limit = true;
  }
  const std::optional<Clock::time_point> deadline =
      time_limit > 0 ? std::optional(arrived + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(time_limit)))
                     : std::nullopt;

  // Cancels the questions once the client has gone or the time is up; true when it did.
  auto check_client_and_clock = [this, mp = &m, x, deadline](std::unique_lock<std::mutex>& lock) {
    if (!x->cancelled_because.empty()) return true;
    std::string why;
    if (peer_closed(x->fd)) {
      why = "client";
    } else if (deadline && Clock::now() > *deadline) {
      why = "time limit";
    }
    if (why.empty()) return false;
    x->cancelled_because = why;
    lock.unlock();
    cancel_all(*mp, *x);
    lock.lock();
    return true;
  };

  // The response once every question is collected: status, body, usage and the metrics.
  struct Outcome {
    std::optional<ApiError> error;
    Usage usage;
  };
  auto conclude = [this, x, mp = &m, record, submitted, time_limit, own_time_limit]() mutable -> Outcome {
    Outcome out;
    if (x->concluded) return out;
    x->concluded = true;
    collect(*mp, *x);
    int visible_tokens = 0;
    for (size_t j = 0; j < x->results.size(); ++j) {
      const StrategyResult& result = x->results[j];
      out.usage.prompt_tokens += result.cost.prompt_tokens + result.cost.cached_tokens;
      out.usage.cached_tokens += result.cost.cached_tokens;
      out.usage.completion_tokens += result.cost.generated_tokens;
      out.usage.scored_tokens += result.cost.scored_tokens;
      out.usage.verifier_tokens += result.cost.verifier_tokens;
      record.samples += int(result.samples.size());
      for (const auto& s : result.samples) {
        record.stopped_early += s.pruned ? 1 : 0;
        if (x->sampled) visible_tokens += s.tokens;  // raw samples are all shown
      }
      // A strategy shows the one sample its text came from.
      const SampleTrace* chosen = chosen_sample(result);
      if (chosen && !x->sampled) visible_tokens += chosen->tokens;
      if (!result.error.empty() && !out.error) {
        if (x->cancelled_because == "client") {
          out.error =
              ApiError{499, "the client closed the connection", "invalid_request_error", "", "client_closed"};
        } else if (x->cancelled_because == "time limit") {
          char limit[32];
          std::snprintf(limit, sizeof(limit), "%g", time_limit);
          out.error = ApiError{504,
                               std::string("the request ran past ") +
                                   (own_time_limit ? "its 'ponder.timeout'" : "the server's time limit") + " of " +
                                   limit + " s and was cancelled",
                               "server_error", own_time_limit ? "ponder.timeout" : "", "timeout"};
        } else if (result.error == "cancelled") {
          out.error = ApiError{503, "the server is shutting down: the request was cancelled", "server_error",
                               "", "shutting_down"};
        } else {
          out.error =
              ApiError{500, "the strategy failed: " + result.error, "server_error", "", "strategy_failed"};
        }
      }
    }
    out.usage.hidden_tokens = std::max<int64_t>(0, out.usage.completion_tokens - visible_tokens);
    const Clock::time_point now = Clock::now();
    std::lock_guard lock(x->mutex);
    record.status = out.error ? out.error->status : 200;
    record.prompt_tokens = out.usage.prompt_tokens - out.usage.cached_tokens;
    record.cached_tokens = out.usage.cached_tokens;
    record.generated_tokens = out.usage.completion_tokens;
    record.hidden_tokens = out.usage.hidden_tokens;
    record.verifier_tokens = out.usage.verifier_tokens;
    record.scored_tokens = out.usage.scored_tokens;
    record.timed = !out.error;
    record.queue_seconds = seconds_between(submitted, x->first_launch.value_or(submitted));
    record.total_seconds = seconds_between(x->arrived, now);
    const Clock::time_point first = x->first_text.value_or(now);
    record.first_token_seconds = seconds_between(x->arrived, first);
    const int answer_tokens = x->sampled ? visible_tokens : 0;
    record.per_token_seconds = answer_tokens > 1 ? seconds_between(first, now) / (answer_tokens - 1) : 0.0;
    metrics_.record(record);
    return out;
  };

  if (!r.stream) {
    {
      std::unique_lock lock(x->mutex);
      while (!x->all_done()) {
        x->changed.wait_for(lock, kPollInterval);
        check_client_and_clock(lock);
      }
    }
    const Outcome out = conclude();
    if (out.error) return send_error(res, *out.error);
    std::vector<ChoiceOutput> choices;
    json ponder = {{"strategy", record.strategy}};
    Cost total;
    if (x->sampled) {
      choices = x->outputs;
      if (!r.raw()) {
        for (size_t j = 0; j < x->results.size(); ++j) choices[j].ponder = decision_json(x->results[j], {});
      }
    }
    for (size_t j = 0; j < x->results.size(); ++j) {
      const StrategyResult& result = x->results[j];
      total += result.cost;
      if (x->sampled) continue;
      ChoiceOutput c;
      c.text = result.text;
      const SampleTrace* chosen = chosen_sample(result);
      c.finish = chosen ? chosen->finish : FinishReason::eos;
      if (r.logprobs) c.logprobs = x->chosen_logprobs(chosen);
      c.ponder = decision_json(result, x->tallies[j]);
      choices.push_back(std::move(c));
    }
    ponder["cost"] = total;
    res.set_content(dump(response_json(x->header, choices, out.usage, ponder)), "application/json");
    return;
  }

  // --- streaming: the events and text as they come, on this connection's thread
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, x, mp = &m, conclude, check_client_and_clock](size_t, httplib::DataSink& sink) mutable {
        bool client_gone = false;
        auto send = [&](const std::string& data) {
          const std::string event = "data: " + data + "\n\n";
          if (!client_gone && !sink.write(event.data(), event.size())) client_gone = true;
        };
        std::unique_lock lock(x->mutex);
        while (true) {
          if (x->chunks.empty() && !x->all_done()) x->changed.wait_for(lock, kPollInterval);
          std::deque<std::string> ready;
          ready.swap(x->chunks);
          const bool finished = x->all_done();
          lock.unlock();
          for (const auto& chunk : ready) send(chunk);
          lock.lock();
          if (client_gone && x->cancelled_because.empty()) {
            x->cancelled_because = "client";
            lock.unlock();
            cancel_all(*mp, *x);
            lock.lock();
          }
          check_client_and_clock(lock);
          if (finished && x->chunks.empty()) break;
          if (!x->cancelled_because.empty() && x->all_done()) break;
        }
        lock.unlock();
        const Outcome out = conclude();
        if (out.error) {
          if (out.error->status == 499) return false;
          send(dump(error_json(*out.error)));
        } else if (x->request.include_usage) {
          send(dump(usage_chunk_json(x->header, out.usage)));
        }
        send("[DONE]");
        if (!client_gone) sink.done();
        return !client_gone;
      },
      // Runs when the response goes, also if the stream never started: nothing is left
      // running or counted for a connection that is gone.
      [this, x, mp = &m, conclude](bool) mutable {
        std::unique_lock lock(x->mutex);
        if (x->concluded) return;
        if (x->cancelled_because.empty()) x->cancelled_because = "client";
        lock.unlock();
        cancel_all(*mp, *x);
        lock.lock();
        x->changed.wait(lock, [&] { return x->all_done(); });
        lock.unlock();
        conclude();
      });
}

}  // namespace ponder::server
