// The remote backend: a queue of samples and worker threads that stream each one from the
// least loaded endpoint, retrying another when an endpoint fails.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ponder/remote.h"

namespace ponder {

const char* remote_api_name(RemoteApi api) {
  switch (api) {
    case RemoteApi::llama: return "llama";
    case RemoteApi::openai: return "openai";
    case RemoteApi::ponder: return "ponder";
  }
  return "?";
}

RemoteEndpoint parse_remote_endpoint(const std::string& spec) {
  RemoteEndpoint e;
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = spec.find(',', start)) != std::string::npos; start = comma + 1) {
    parts.push_back(spec.substr(start, comma - start));
  }
  parts.push_back(spec.substr(start));
  e.url = parts.front();
  while (!e.url.empty() && e.url.back() == '/') e.url.pop_back();
  const std::string where = "backend '" + spec + "': ";
  if (!e.url.starts_with("http://")) {
    throw std::invalid_argument(where + "the URL must start with http:// (https is not supported)");
  }
  const std::string host_port = e.url.substr(7);
  if (host_port.empty() || host_port.find('/') != std::string::npos) {
    throw std::invalid_argument(where + "the URL is http://HOST[:PORT], without a path");
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    const size_t eq = p.find('=');
    const std::string key = p.substr(0, eq), value = eq == std::string::npos ? "" : p.substr(eq + 1);
    if (eq == std::string::npos || value.empty()) {
      throw std::invalid_argument(where + "'" + p + "' is not KEY=VALUE (api, concurrency or model)");
    }
    if (key == "api") {
      if (value == "llama") e.api = RemoteApi::llama;
      else if (value == "openai" || value == "vllm" || value == "sglang") e.api = RemoteApi::openai;
      else if (value == "ponder") e.api = RemoteApi::ponder;
      else throw std::invalid_argument(where + "api must be llama, openai (vllm, sglang) or ponder, not '" + value + "'");
      e.prompt_logprobs = value == "openai" || value == "vllm";
    } else if (key == "concurrency") {
      size_t used = 0;
      int n = 0;
      try {
        n = std::stoi(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || n < 1 || n > 1024) {
        throw std::invalid_argument(where + "concurrency must be an integer in [1, 1024], not '" + value + "'");
      }
      e.concurrency = n;
    } else if (key == "model") {
      e.model = value;
    } else {
      throw std::invalid_argument(where + "unknown key '" + key + "' (api, concurrency or model)");
    }
  }
  return e;
}

std::string remote_endpoint_spec(const RemoteEndpoint& e) {
  const char* api = e.api == RemoteApi::openai && !e.prompt_logprobs ? "sglang" : remote_api_name(e.api);
  std::string s = e.url + ",api=" + api + ",concurrency=" + std::to_string(e.concurrency);
  if (!e.model.empty()) s += ",model=" + e.model;
  return s;
}

void RemoteOptions::validate() const {
  if (endpoints.empty()) throw std::invalid_argument("backend: give at least one endpoint");
  auto in_range = [](double v, double lo, bool lo_open) { return std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= 1e6; };
  if (!in_range(timeout_s, 0, true)) throw std::invalid_argument("backend-timeout: must be in (0, 1e6] seconds");
  if (!in_range(connect_timeout_s, 0, true)) throw std::invalid_argument("connect timeout: must be in (0, 1e6] seconds");
  if (!in_range(cooldown_s, 0, false)) throw std::invalid_argument("backend-cooldown: must be in [0, 1e6] seconds");
  for (const auto& e : endpoints) {
    if (e.concurrency < 1 || e.concurrency > 1024) {
      throw std::invalid_argument("backend " + e.url + ": concurrency must be in [1, 1024]");
    }
  }
}

RemoteSample::Update RemoteSample::read(size_t have, int& attempt_seen) const {
  std::lock_guard lock(mutex_);
  Update u;
  u.restarted = attempt_ != attempt_seen;
  attempt_seen = attempt_;
  const size_t from = u.restarted ? 0 : std::min(have, records_.size());
  u.records.assign(records_.begin() + long(from), records_.end());
  u.text = text_;
  u.done = done_;
  u.finish = finish_;
  u.error = error_;
  return u;
}

bool RemoteSample::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void RemoteSample::cancel() { cancelled_.store(true); }

int64_t RemoteSample::prompt_tokens() const {
  std::lock_guard lock(mutex_);
  return prompt_tokens_;
}

int64_t RemoteSample::generated_tokens() const {
  std::lock_guard lock(mutex_);
  return generated_tokens_;
}

RemoteBackend::RemoteBackend(RemoteOptions options, std::shared_ptr<const Model> model)
    : options_(std::move(options)), model_(std::move(model)) {
  options_.validate();
  if (!model_) throw std::invalid_argument("backend: a local model is needed for its vocabulary");
  for (Token t = model_->n_vocab() - 1; t >= 0; --t) piece_tokens_[model_->token_piece(t)] = t;  // lowest id wins
  for (const auto& spec : options_.endpoints) {
    endpoints_.push_back({spec, {}, {}});
    endpoints_.back().stats.url = spec.url;
  }
  for (int i = 0; i < total_concurrency(); ++i) workers_.emplace_back([this] { work(); });
}

RemoteBackend::~RemoteBackend() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (Job& job : queue_) job.sample->cancel();
  }
  changed_.notify_all();
  for (auto& w : workers_) w.join();
}

int RemoteBackend::total_concurrency() const {
  int n = 0;
  for (const auto& e : options_.endpoints) n += e.concurrency;
  return n;
}

bool RemoteBackend::can_score() const {
  return std::all_of(options_.endpoints.begin(), options_.endpoints.end(),
                     [](const RemoteEndpoint& e) { return e.api == RemoteApi::openai && e.prompt_logprobs; });
}

std::vector<RemoteEndpointStats> RemoteBackend::stats() const {
  std::lock_guard lock(mutex_);
  std::vector<RemoteEndpointStats> out;
  for (const auto& e : endpoints_) out.push_back(e.stats);
  return out;
}

std::optional<Token> RemoteBackend::token_of(const std::string& piece) const {
  if (piece.starts_with("token_id:")) {
    try {
      size_t used = 0;
      const long long id = std::stoll(piece.substr(9), &used);
      if (used == piece.size() - 9 && id >= 0 && id < model_->n_vocab()) return Token(id);
    } catch (const std::exception&) {
    }
    return std::nullopt;
  }
  // Where several tokens have this text, the one the local tokenizer makes of it.
  const auto it = piece_tokens_.find(piece);
  if (it == piece_tokens_.end()) return std::nullopt;
  const std::vector<Token> own = model_->tokenize(piece, false);
  if (own.size() == 1 && model_->token_piece(own[0]) == piece) return own[0];
  return it->second;
}

std::shared_ptr<RemoteSample> RemoteBackend::submit(RemoteRequest request, std::function<void()> wake) {
  auto sample = std::make_shared<RemoteSample>();
  sample->wake_ = std::move(wake);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw std::logic_error("backend: submit after shutdown");
    queue_.push_back({sample, std::move(request), std::vector<bool>(endpoints_.size(), false), {}});
  }
  changed_.notify_all();
  return sample;
}

int RemoteBackend::pick(const Job& job, std::chrono::steady_clock::time_point now) const {
  int best = -1;
  double best_load = 0.0;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Endpoint& e = endpoints_[i];
    if (job.tried[i] || e.stats.in_flight >= e.spec.concurrency || e.down_until > now) continue;
    const double load = double(e.stats.in_flight) / e.spec.concurrency;
    if (best < 0 || load < best_load) {
      best = int(i);
      best_load = load;
    }
  }
  return best;
}

void RemoteBackend::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (stopping_) return;
    // Samples already cancelled end without a request.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (!it->sample->cancelled()) {
        ++it;
        continue;
      }
      {
        std::lock_guard s(it->sample->mutex_);
        it->sample->done_ = true;
        it->sample->finish_ = FinishReason::cancelled;
      }
      if (it->sample->wake_) it->sample->wake_();
      it = queue_.erase(it);
    }
    // The first queued sample some endpoint can take now (in submission order).
    const auto now = std::chrono::steady_clock::now();
    size_t chosen = queue_.size();
    int endpoint = -1;
    for (size_t k = 0; k < queue_.size() && endpoint < 0; ++k) {
      endpoint = pick(queue_[k], now);
      if (endpoint >= 0) chosen = k;
    }
    if (endpoint < 0) {
      // Nothing to do, or every endpoint busy or cooling down: look again when woken, or
      // when a cool-down may have ended.
      changed_.wait_for(lock, std::chrono::milliseconds(queue_.empty() ? 1000 : 100));
      continue;
    }
    Job job = std::move(queue_[chosen]);
    queue_.erase(queue_.begin() + long(chosen));
    Endpoint& e = endpoints_[size_t(endpoint)];
    ++e.stats.in_flight;
    ++e.stats.requests;
    lock.unlock();

    bool refused = false;
    const int64_t before = job.sample->generated_tokens();
    const auto sent = std::chrono::steady_clock::now();
    std::string failure = attempt(e, job, refused);
    const double request_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count();
    const int64_t received = job.sample->generated_tokens() - before;

    lock.lock();
    --e.stats.in_flight;
    e.stats.tokens += received;
    auto& sample = *job.sample;
    if (failure.empty() || sample.cancelled()) {
      if (failure.empty()) {
        ++e.stats.completed;
        std::lock_guard s(sample.mutex_);
        if (sample.server_ms_ >= 0) {
          e.stats.request_ms += request_ms;
          e.stats.server_ms += sample.server_ms_;
          ++e.stats.timed;
        }
      }
      std::lock_guard s(sample.mutex_);
      sample.done_ = true;
      if (!failure.empty()) sample.finish_ = FinishReason::cancelled;
    } else {
      ++e.stats.failures;
      const std::string what = e.spec.url + " failed (" + failure + ")";
      job.failures.push_back(what);
      job.tried[size_t(endpoint)] = true;
      if (!refused) e.down_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(options_.cooldown_s * 1000));
      const bool untried = std::find(job.tried.begin(), job.tried.end(), false) != job.tried.end();
      if (!refused && untried) {
        ++e.stats.retried;
        if (notice_) notice_(what + "; the sample goes to another endpoint");
        {
          std::lock_guard s(sample.mutex_);
          ++sample.attempt_;  // the reader drops what it had
          sample.records_.clear();
          sample.text_.clear();
        }
        queue_.insert(queue_.begin(), std::move(job));  // first in line: it was waited for longest
      } else {
        if (notice_) notice_(what);
        std::string all;
        for (const auto& f : job.failures) all += (all.empty() ? "" : "; ") + f;
        std::lock_guard s(sample.mutex_);
        sample.done_ = true;
        sample.error_ = refused ? "backend " + what : "every backend failed: " + all;
      }
    }
    if (job.sample && job.sample->wake_) job.sample->wake_();
    changed_.notify_all();
  }
}

std::string RemoteBackend::attempt(const Endpoint& endpoint, Job& job, bool& refused) {
  RemoteSample& sample = *job.sample;
  const int top = job.request.sampling.top_logprobs;
  httplib::Client client(endpoint.spec.url);
  const auto seconds = [](double s) { return std::chrono::microseconds(int64_t(s * 1e6)); };
  client.set_connection_timeout(seconds(options_.connect_timeout_s));
  client.set_read_timeout(seconds(options_.timeout_s));
  client.set_write_timeout(seconds(options_.timeout_s));

  httplib::Request req;
  req.method = "POST";
  req.path = remote::request_path(endpoint.spec.api);
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  req.body = remote::request_body(endpoint.spec, job.request, *model_);
  int status = 0;
  std::string error_body;
  std::string failure;
  bool ended = false;
  remote::EventStream events;
  std::string scored;  // a scoring request's whole answer (not streamed)
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (sample.cancelled()) return false;
    if (status != 200) {
      if (error_body.size() < 4096) error_body.append(data, std::min(size, 4096 - error_body.size()));
      return true;
    }
    if (job.request.scoring()) {
      if (scored.size() + size > (size_t(64) << 20)) {
        failure = "the scoring answer is over 64 MiB";
        return false;
      }
      scored.append(data, size);
      return true;
    }
    bool news = false;
    try {
      for (const std::string& payload : events.feed(data, size)) {
        if (ended) continue;
        remote::Chunk c = remote::parse_chunk(endpoint.spec.api, payload, *this, top);
        std::lock_guard lock(sample.mutex_);
        sample.generated_tokens_ += int64_t(c.records.size());
        for (auto& r : c.records) sample.records_.push_back(std::move(r));
        sample.text_ += c.text;
        if (c.prompt_tokens >= 0) sample.prompt_tokens_ = c.prompt_tokens;
        if (c.server_ms >= 0) sample.server_ms_ = c.server_ms;
        if (c.end && c.finish != FinishReason::none) {
          // A server that does not say which stop ended a sample (ponder serve, OpenAI's
          // API) reports "stop" for both: the tokens tell.
          if ((c.finish == FinishReason::stop_string || c.finish == FinishReason::eos) && !job.request.stop.stop.empty() &&
              settle_stop(sample, job.request.stop, c.finish == FinishReason::stop_string, c.stop_word)) {
            c.finish = FinishReason::stop_string;
          }
          sample.finish_ = c.finish;
          ended = true;
        } else if (c.end) {
          ended = true;  // [DONE]
        }
        news = true;
      }
    } catch (const std::exception& e) {
      failure = e.what();
      return false;
    }
    if (news && sample.wake_) sample.wake_();
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, res, error);
  if (sample.cancelled()) return "cancelled";
  if (!failure.empty()) {
    // The server's own error message inside the stream: a refusal of the request.
    refused = failure.starts_with("the server reported an error");
    return failure;
  }
  if (status != 0 && status != 200) {
    std::string message = error_body;
    try {
      const auto j = nlohmann::json::parse(error_body);
      if (j.contains("error")) message = j["error"].is_object() ? j["error"].value("message", j.dump()) : j["error"].dump();
    } catch (const std::exception&) {
    }
    // A 4xx says the request is wrong, wherever it goes (429 and 408 excepted: busy).
    refused = status >= 400 && status < 500 && status != 429 && status != 408;
    return "HTTP " + std::to_string(status) + ": " + message;
  }
  if (!sent) return std::string("connection: ") + httplib::to_string(error);
  if (job.request.scoring()) {
    try {
      remote::Chunk c = remote::parse_scores(scored, job.request, *this, top);
      std::lock_guard lock(sample.mutex_);
      sample.records_ = std::move(c.records);
      sample.prompt_tokens_ = c.prompt_tokens >= 0 ? c.prompt_tokens : int64_t(job.request.prompt.size());
      sample.finish_ = FinishReason::none;
      return "";
    } catch (const std::exception& e) {
      refused = std::string(e.what()).starts_with("the server reported an error");
      return e.what();
    }
  }
  {
    std::lock_guard lock(sample.mutex_);
    if (sample.prompt_tokens_ == 0) sample.prompt_tokens_ = int64_t(job.request.prompt.size());
    if (sample.finish_ != FinishReason::none) return "";
  }
  return "the stream ended without a finish reason";
}

// The local engine keeps the token at which a stop string appears and cuts its text there
// (before the stop string, or after it with keep_stop). Servers differ in what they send:
// llama-server sends that token's id with its text withheld, vLLM and SGLang include the
// stop string when asked (include_stop_str_in_output, no_stop_trim). So the text is made
// from the tokens as the local engine makes it, and a server that said it stopped at a
// stop string but withheld its token gets the stop string's own tokens in its place
// (logprob unknown: 0).
bool RemoteBackend::settle_stop(RemoteSample& sample, const StopParams& stop, bool stopped_at_string,
                                const std::string& stop_word) const {
  std::string text;
  for (size_t k = 0; k < sample.records_.size(); ++k) {
    const std::string piece = model_->token_piece(sample.records_[k].token);
    text += piece;
    for (const std::string& word : stop.stop) {
      const size_t at = find_new_stop(text, piece.size(), word);
      if (at == std::string::npos) continue;
      if (!stop.keep_stop) text.resize(at);
      sample.records_.resize(k + 1);
      sample.text_ = std::move(text);
      return true;
    }
  }
  if (!stopped_at_string) return false;
  const std::string word = !stop_word.empty() ? stop_word : stop.stop.size() == 1 ? stop.stop.front() : "";
  if (!stop.keep_stop || word.empty() || sample.text_.ends_with(word)) return true;
  sample.text_ += word;
  for (Token t : model_->tokenize(word, false)) sample.records_.push_back({t, 0.0f, 0.0f, {}});
  return true;
}

}  // namespace ponder
