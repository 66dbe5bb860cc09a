// The runtime: a queue of submitted questions, the questions in flight, and the loop that
// steps every engine once per round and resumes the strategies whose waits are over.

#include "ponder/runtime.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "ponder/engine_sizing.h"

namespace ponder {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::launched: return "launched";
    case EventKind::forked: return "forked";
    case EventKind::extended: return "extended";
    case EventKind::truncated: return "truncated";
    case EventKind::resampled: return "resampled";
    case EventKind::line: return "line";
    case EventKind::tokens: return "tokens";
    case EventKind::finished: return "finished";
    case EventKind::pruned: return "pruned";
    case EventKind::scored: return "scored";
    case EventKind::vote: return "vote";
    case EventKind::stopped: return "stopped";
    case EventKind::decided: return "decided";
    case EventKind::result: return "result";
    case EventKind::error: return "error";
  }
  return "?";
}

std::string capability_names(Capabilities caps) {
  static const std::pair<Capability, const char*> names[] = {
      {kSample, "sample"}, {kLogprobs, "logprobs"}, {kFork, "fork"},         {kExtend, "extend"},
      {kScore, "score"},   {kTruncate, "truncate"}, {kVerify, "a verifier"},
      {kLargeModel, "a large model"}, {kSwitchModels, "a large model with the generator's vocabulary"}};
  std::string out;
  for (const auto& [bit, name] : names) {
    if (caps & bit) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

const char* verifier_kind_name(VerifierKind kind) {
  switch (kind) {
    case VerifierKind::none: return "none";
    case VerifierKind::prm: return "prm";
    case VerifierKind::command: return "command";
    case VerifierKind::self: return "self";
  }
  return "?";
}

struct Runtime::Active {
  QuestionId id;
  Job job;
  std::unique_ptr<QuestionRun> run;
  std::optional<Task<StrategyResult>> task;
  size_t generator = 0;  // in generators_: the engine it runs on
};

// A thread per generator that steps it while the pumping thread goes on: each generator
// steps again as soon as its own questions have been resumed, not when the slowest of
// them is done. Engines share nothing but the model's weights, which llama.cpp reads from
// any thread; nothing else touches a generator while its step is out.
class Runtime::StepThreads {
 public:
  explicit StepThreads(size_t generators) {
    for (size_t i = 0; i < generators; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      Worker& w = *workers_.back();
      w.thread = std::thread([this, &w] { serve(w); });
    }
  }
  ~StepThreads() {
    {
      std::unique_lock lock(mutex_);
      ended_.wait(lock, [&] { return std::none_of(workers_.begin(), workers_.end(), [](const auto& w) { return bool(w->task); }); });
      stopping_ = true;
    }
    work_.notify_all();
    for (auto& w : workers_) w->thread.join();
  }
  // Starts generator i's step (its progress is what `step` returns).
  void launch(size_t i, std::function<int64_t()> step) {
    {
      std::lock_guard lock(mutex_);
      workers_[i]->task = std::move(step);
      workers_[i]->out = true;
    }
    work_.notify_all();
  }
  // Launched and not yet collected.
  bool out(size_t i) const { return workers_[i]->out; }
  bool any_out() const {
    return std::any_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->out; });
  }
  // Waits until a step that is out has ended (none out: returns at once), then collects
  // every ended step: their progress summed, the first error rethrown.
  int64_t collect() {
    std::unique_lock lock(mutex_);
    auto ended = [&] { return std::any_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->out && !w->task; }); };
    if (any_out()) ended_.wait(lock, ended);
    int64_t progress = 0;
    std::exception_ptr error;
    for (auto& w : workers_) {
      if (!w->out || w->task) continue;
      w->out = false;
      progress += w->progress;
      if (!error) error = w->error;
      w->error = nullptr;
    }
    if (error) std::rethrow_exception(error);
    return progress;
  }
  // Waits for every step that is out (before the engines are touched from outside).
  void settle() {
    while (any_out()) {
      try {
        collect();
      } catch (...) {
        // The step's error reached no one: the questions it concerned are being ended.
      }
    }
  }

 private:
  struct Worker {
    std::thread thread;
    std::function<int64_t()> task;  // set while its step runs
    bool out = false;               // launched and not collected (the pumping thread's)
    int64_t progress = 0;
    std::exception_ptr error;
  };
  void serve(Worker& w) {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return stopping_ || w.task; });
      if (stopping_) return;
      lock.unlock();
      int64_t progress = 0;
      std::exception_ptr error;
      try {
        progress = w.task();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      w.progress = progress;
      w.error = error;
      w.task = nullptr;
      ended_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_, ended_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

namespace {
// KV slots a question may hold at once: its prompt and the samples its strategy keeps.
int slots_held(const Strategy& s) { return s.held_samples() + 1; }

// The same tokens with the same texts: a sample can move from one model to the other.
bool same_vocabulary(const Model& a, const Model& b) {
  if (a.n_vocab() != b.n_vocab() || a.bos() != b.bos() || a.eos() != b.eos()) return false;
  for (Token t = 0; t < a.n_vocab(); ++t) {
    if (a.token_piece(t) != b.token_piece(t) || a.is_end_of_generation(t) != b.is_end_of_generation(t)) return false;
  }
  return true;
}

std::string file_name(const Model& m) { return std::filesystem::path(m.path()).filename().string(); }
}  // namespace

void RuntimeOptions::validate(const Engine& generator) const {
  if (max_in_flight < 0) throw std::invalid_argument("in-flight: must be >= 0 (0 = automatic)");
  // Remote samples hold no slot of the local engine.
  if (remote) return;
  // A question may keep its prompt in a slot while its samples wait for another: with
  // fewer than two slots per question in flight, every question could wait on the others.
  const int slots = generator.max_sequences();
  if (slots < 2) {
    throw std::invalid_argument("max-sequences: must be >= 2 (a question's prompt and one sample need a slot each)");
  }
  if (max_in_flight > slots / 2) {
    throw std::invalid_argument("in-flight " + std::to_string(max_in_flight) + " needs max-sequences >= " +
                                std::to_string(2 * max_in_flight) + " (it is " + std::to_string(slots) +
                                "): each question in flight may hold its prompt's slot and needs one for a sample");
  }
}

Runtime::Runtime(Engine& generator, RuntimeOptions options)
    : generator_(generator), generators_{&generator}, options_(options) {
  options_.validate(generator);
  automatic_in_flight_ = options_.max_in_flight == 0;
  if (options_.max_in_flight == 0) {
    options_.max_in_flight = options_.remote ? 2 * options_.remote->total_concurrency()
                                             : std::max(1, generator.max_sequences() / 2);
  }
  waker_->runtime = this;
  if (options_.thinking != ThinkingMode::automatic) {
    chat_ = std::make_unique<ChatTemplate>(generator.model());
    if (!chat_->supports_thinking()) {
      throw std::invalid_argument(std::string("thinking ") + thinking_mode_name(options_.thinking) +
                                  ": the chat template of " + generator.model().path() + " has no thinking block");
    }
  }
}

Runtime::~Runtime() {
  {
    std::lock_guard lock(waker_->mutex);
    waker_->runtime = nullptr;
  }
  stop();
  if (step_threads_) step_threads_->settle();  // before the questions free their sequences
  std::lock_guard lock(mutex_);
  for (auto& a : active_) {
    a->task.reset();
    a->run.reset();
  }
}

void Runtime::set_verifier(Engine& engine, ProcessRewardModel verifier) {
  if (&engine.model() != &verifier.model()) {
    throw std::invalid_argument("set_verifier: the engine does not run the verifier's model");
  }
  if (engine.max_sequences() < 2) throw std::invalid_argument("verifier engine: needs >= 2 sequence slots");
  command_.reset();
  self_.reset();
  verifier_engine_ = &engine;
  verifier_.emplace(std::move(verifier));
}

void Runtime::set_verifier(CommandVerifier verifier) {
  verifier_.reset();
  verifier_engine_ = nullptr;
  self_.reset();
  command_.emplace(std::move(verifier));
}

void Runtime::set_verifier(SelfEvaluator verifier) {
  if (&verifier.model() != &generator_.model()) {
    throw std::invalid_argument("set_verifier: self-evaluation must use the generator's model");
  }
  verifier_.reset();
  verifier_engine_ = nullptr;
  command_.reset();
  self_.emplace(std::move(verifier));
}

namespace {
// The questions admitted on the generators may all use the large model at once.
void check_large_slots(const Engine& large, std::span<Engine* const> generators) {
  int slots = 0;
  for (const Engine* g : generators) slots += g->max_sequences();
  if (large.max_sequences() < slots) {
    throw std::invalid_argument("large model engine: needs >= " + std::to_string(slots) +
                                " sequence slots (the generator's" + (generators.size() > 1 ? " and its replicas'" : "") +
                                ": the questions it admits may use both), not " +
                                std::to_string(large.max_sequences()));
  }
}
}  // namespace

void Runtime::set_large_model(Engine& engine) {
  if (std::find(generators_.begin(), generators_.end(), &engine) != generators_.end()) {
    throw std::invalid_argument("set_large_model: the large model needs its own engine");
  }
  check_large_slots(engine, generators_);
  large_engine_ = &engine;
  same_vocabulary_ = same_vocabulary(generator_.model(), engine.model());
}

void Runtime::add_generator_replica(Engine& engine) {
  auto refuse = [](const std::string& why) { throw std::invalid_argument("add_generator_replica: " + why); };
  if (options_.remote) refuse("remote servers draw the samples, not the local engine");
  if (&engine.model() != &generator_.model()) refuse("a replica runs the generator's model (the same Model)");
  if (std::find(generators_.begin(), generators_.end(), &engine) != generators_.end() || &engine == large_engine_ ||
      &engine == verifier_engine_) {
    refuse("the replica needs an engine of its own");
  }
  // A question must fit wherever it lands.
  if (engine.max_sequences() != generator_.max_sequences() ||
      engine.context_per_sequence() != generator_.context_per_sequence()) {
    refuse("a replica needs the generator's sequence slots (" + std::to_string(generator_.max_sequences()) +
           ") and context per sequence (" + std::to_string(generator_.context_per_sequence()) + ")");
  }
  {
    std::lock_guard lock(mutex_);
    if (next_id_ != 1 || thread_.joinable()) refuse("add replicas before the first submit");
  }
  std::vector<Engine*> generators = generators_;
  generators.push_back(&engine);
  if (large_engine_) check_large_slots(*large_engine_, generators);
  generators_ = std::move(generators);
  rounds_.assign(generators_.size(), 0);
  step_threads_ = std::make_unique<StepThreads>(generators_.size());
  if (automatic_in_flight_) options_.max_in_flight = int(generators_.size()) * std::max(1, generator_.max_sequences() / 2);
}

VerifierKind Runtime::verifier_kind() const {
  if (verifier_) return VerifierKind::prm;
  if (command_) return VerifierKind::command;
  if (self_) return VerifierKind::self;
  return VerifierKind::none;
}

void Runtime::wake() {
  wakes_.fetch_add(1);
  changed_.notify_all();
}

Capabilities Runtime::capabilities() const {
  if (options_.remote) {
    // The servers sample with logprobs from any token prefix, so forks and truncations are
    // kept here as tokens; scoring (and extending, which reads the text's logprobs) needs
    // prompt logprobs. A PRM or a command verifies texts wherever they came from, while
    // self-evaluation would need the generator's KV.
    const VerifierKind v = verifier_kind();
    return kSample | kLogprobs | kFork | kTruncate | (options_.remote->can_score() ? kExtend | kScore : 0u) |
           (v == VerifierKind::prm || v == VerifierKind::command ? kVerify : 0u);
  }
  Capabilities caps = kSample | kLogprobs | kFork | kExtend | kScore;
  if (generator_.model().supports_rollback()) caps |= kTruncate;
  if (verifier_kind() != VerifierKind::none) caps |= kVerify;
  if (large_engine_) caps |= kLargeModel;
  if (large_engine_ && same_vocabulary_) caps |= kSwitchModels;
  return caps;
}

std::string Runtime::missing_hint(Capabilities missing) const {
  if (options_.remote) {
    if (missing & (kLargeModel | kSwitchModels)) {
      return " (cascades and model switching run on local engines: run it without --backend)";
    }
    if (missing & (kExtend | kScore)) {
      return " (reading the logprobs of a given text needs prompt logprobs, which only vLLM gives "
             "(api=openai or vllm): llama-server, SGLang and ponder serve have none)";
    }
    if (self_) {
      return " (self-evaluation reads the generator's KV, which a remote backend does not give: "
             "use --verifier MODEL or --verifier-command PROGRAM)";
    }
  }
  if (missing & kVerify) return " (give a verifier: --verifier MODEL, --verifier self or --verifier-command PROGRAM)";
  if (missing & kLargeModel) return " (give a large model: --large-model PATH; the generator is the small one)";
  if (missing & kSwitchModels) return " (the large model's tokens differ from the generator's)";
  if (missing & kTruncate) return " (this model cannot roll its state back)";
  return "";
}

QuestionId Runtime::submit(Job job) {
  if (!job.strategy) throw std::invalid_argument("submit: the job has no strategy");
  const Capabilities missing = job.strategy->needs() & ~capabilities();
  if (missing) {
    throw std::invalid_argument("strategy '" + job.strategy->name() + "' needs " + capability_names(missing) +
                                ", which this backend lacks" + missing_hint(missing));
  }
  // Admitted only when its slots are free, it would wait forever for more than exist.
  const int held = slots_held(*job.strategy);
  for (const Engine* engine : {static_cast<const Engine*>(&generator_), static_cast<const Engine*>(verifier_engine_),
                               static_cast<const Engine*>(large_engine_)}) {
    const bool used = engine == &generator_ || (engine == verifier_engine_ && (job.strategy->needs() & kVerify)) ||
                      (engine == large_engine_ && (job.strategy->needs() & kLargeModel));
    if (engine && held > engine->max_sequences() && used && !(engine == &generator_ && options_.remote)) {
      throw std::invalid_argument("strategy '" + job.strategy->name() + "' keeps " +
                                  std::to_string(held - 1) + " samples and its prompt at once: it needs " +
                                  (engine == &generator_        ? "max-sequences"
                                   : engine == verifier_engine_ ? "the verifier's sequence slots"
                                                                : "the large model's sequence slots") +
                                  " >= " + std::to_string(held) + " (there are " +
                                  std::to_string(engine->max_sequences()) + ")");
    }
  }
  std::lock_guard lock(mutex_);
  const QuestionId id = next_id_++;
  queue_.emplace_back(id, std::move(job));
  changed_.notify_all();
  return id;
}

void Runtime::cancel(QuestionId id) {
  std::lock_guard lock(mutex_);
  cancels_.push_back(id);
  changed_.notify_all();
}

int Runtime::in_flight() const { return int(active_.size()); }

void Runtime::complete(Active& a, std::string error) {
  StrategyResult r;
  if (error.empty()) {
    try {
      r = a.task->take();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  a.task.reset();  // the coroutine goes before the run it refers to
  Cost cost;
  Cost verifier_cost;
  std::optional<Cost> large_cost;
  if (a.run) {
    cost = a.run->finish_run();
    verifier_cost = a.run->verifier_cost();
    large_cost = a.run->large_cost();
  }
  if (!error.empty()) r = StrategyResult{};
  r.strategy = a.job.strategy->name();
  r.cost = cost;
  r.error = error;
  r.costs.push_back({"generator", file_name(generator_.model()), generator_.model().n_params(), cost});
  if (large_cost) {
    // The two generators ran side by side: their work adds up, their times overlap.
    r.cost += *large_cost;
    r.cost.wall_ms = std::max(cost.wall_ms, large_cost->wall_ms);
    r.costs.push_back({"large generator", file_name(large_engine_->model()), large_engine_->model().n_params(),
                       *large_cost});
  }
  if (verifier_cost.prompt_tokens + verifier_cost.scored_tokens > 0) {
    r.costs.push_back({"verifier", file_name(verifier_->model()), verifier_->model().n_params(), verifier_cost});
  }
  if (a.job.on_event) {
    Event e{.kind = error.empty() ? EventKind::result : EventKind::error, .question = a.id};
    e.detail = error.empty() ? r.stop_reason : error;
    e.text = r.text;
    e.answer = r.answer;
    e.value = r.confidence;
    e.cost = r.cost;
    a.job.on_event(e);
  }
  if (a.job.on_result) a.job.on_result(r);
  std::lock_guard lock(mutex_);
  results_[a.id] = std::move(r);
  changed_.notify_all();
}

void Runtime::admit() {
  std::vector<std::pair<size_t, std::pair<QuestionId, Job>>> admitted;
  std::vector<std::unique_ptr<Active>> cancelled;
  {
    std::lock_guard lock(mutex_);
    std::vector<QuestionId> deferred;  // running on a generator that is stepping
    for (QuestionId id : cancels_) {
      auto queued = std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q.first == id; });
      if (queued != queue_.end()) {
        cancelled.push_back(std::make_unique<Active>(Active{id, std::move(queued->second), nullptr, std::nullopt}));
        queue_.erase(queued);
      }
      auto running = std::find_if(active_.begin(), active_.end(), [&](const auto& a) { return a->id == id; });
      if (running != active_.end() && stepping((*running)->generator)) {
        deferred.push_back(id);
      } else if (running != active_.end()) {
        cancelled.push_back(std::move(*running));
        active_.erase(running);
      }
    }
    cancels_ = std::move(deferred);
    // FIFO: a question whose slots are not free yet waits, and so do those behind it. It
    // goes to the generator with the fewest samples to draw (budgets of its questions),
    // once that one is not stepping.
    std::vector<int> held(generators_.size(), 0), questions(generators_.size(), 0);
    std::vector<int64_t> load(generators_.size(), 0);
    for (const auto& a : active_) {
      held[a->generator] += slots_held(*a->job.strategy);
      load[a->generator] += a->job.strategy->budget();
      ++questions[a->generator];
    }
    while (!queue_.empty() && int(active_.size() + admitted.size()) < options_.max_in_flight) {
      const Strategy& strategy = *queue_.front().second.strategy;
      const int wanted = slots_held(strategy);
      size_t g = 0;
      for (size_t i = 1; i < generators_.size(); ++i) {
        if (load[i] < load[g] || (load[i] == load[g] && stepping(g) && !stepping(i))) g = i;
      }
      if (stepping(g)) break;
      if (!options_.remote && held[g] + wanted > generators_[g]->max_sequences() && questions[g] > 0) break;
      held[g] += wanted;
      load[g] += strategy.budget();
      ++questions[g];
      admitted.emplace_back(g, std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (auto& a : cancelled) complete(*a, "cancelled");
  for (auto& [generator, queued] : admitted) {
    auto& [id, job] = queued;
    auto a = std::make_unique<Active>(Active{id, std::move(job), nullptr, std::nullopt, generator});
    try {
      std::vector<Token> prompt = std::move(a->job.prompt);
      if (prompt.empty()) {
        // A huge question is refused by its size before it is tokenized.
        check_text_fits(generator_.model(), a->job.question, generator_.context_per_sequence(), "the question");
        prompt = chat_ ? format_question(generator_.model(), *chat_, a->job.question, options_.thinking)
                       : format_question(generator_.model(), a->job.question);
      } else if (prompt.size() >= size_t(generator_.context_per_sequence())) {
        throw std::invalid_argument("the prompt's " + std::to_string(prompt.size()) + " tokens leave no room in the " +
                                    std::to_string(generator_.context_per_sequence()) + "-token context per sequence");
      }
      a->run.reset(new QuestionRun(*this, *generators_[generator], false, id, a->job.question, std::move(prompt),
                                   a->job.on_event));
      a->run->generator_ = generator;
      a->run->token_events_ = a->job.token_events;
      a->run->sample_records_ = a->job.sample_records;
      a->task.emplace(a->job.strategy->run(*a->run));
      a->task->handle().resume();
    } catch (const std::exception& e) {
      complete(*a, e.what());
      continue;
    }
    if (a->task->done()) {
      complete(*a, "");
    } else {
      active_.push_back(std::move(a));
    }
  }
}

namespace {
// Steps an engine; its progress: sequences finished and tokens decoded.
int64_t step_engine(Engine& engine) {
  const int64_t before = engine.stats().decoded_tokens;
  const int64_t finished = int64_t(engine.step().size());
  return finished + engine.stats().decoded_tokens - before;
}
}  // namespace

std::vector<int> Runtime::step_thread_counts() {
  std::vector<int> threads;
  for (const Engine* engine : generators_) threads.push_back(engine->own_threads());
  {
    std::lock_guard lock(mutex_);
    if (!queue_.empty()) return threads;
  }
  std::vector<bool> busy(generators_.size(), false);
  for (const auto& a : active_) busy[a->generator] = true;
  const int n_busy = int(std::count(busy.begin(), busy.end(), true));
  if (n_busy == 0) return threads;
  int spare = 0;
  for (size_t g = 0; g < generators_.size(); ++g) spare += busy[g] ? 0 : threads[g];
  for (size_t g = 0, k = 0; g < generators_.size(); ++g) {
    if (busy[g]) threads[g] += spare / n_busy + (int(k++) < spare % n_busy ? 1 : 0);
  }
  return threads;
}

bool Runtime::stepping(size_t generator) const { return step_threads_ && step_threads_->out(generator); }

int64_t Runtime::step_engines() {
  int64_t progress = 0;
  if (!step_threads_) {
    if (!generator_.idle()) progress += step_engine(generator_);
  } else {
    const std::vector<int> threads = step_thread_counts();
    for (size_t g = 0; g < generators_.size(); ++g) {
      Engine* engine = generators_[g];
      if (stepping(g) || engine->idle()) continue;
      engine->set_step_threads(threads[g]);
      step_threads_->launch(g, [engine] { return step_engine(*engine); });
    }
  }
  for (Engine* engine : {large_engine_, verifier_engine_}) {
    if (engine && !engine->idle()) progress += step_engine(*engine);
  }
  if (step_threads_) {
    progress += step_threads_->collect();
    // A round without progress waits for every generator, so that a stall is seen.
    while (progress == 0 && step_threads_->any_out()) progress += step_threads_->collect();
  }
  for (size_t g = 0; g < rounds_.size(); ++g) rounds_[g] += !stepping(g);
  return progress;
}

bool Runtime::pump() {
  const uint64_t wakes = wakes_.load();
  admit();
  if (active_.empty()) return false;
  int64_t progress = step_engines();
  for (size_t k = 0; k < active_.size();) {
    Active& a = *active_[k];
    if (stepping(a.generator)) {
      ++k;
      continue;
    }
    std::string error;
    try {
      // A strategy may launch, wait and be resumed again within one round.
      while (a.run->try_resume() && !a.task->done()) ++progress;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty() || a.task->done()) {
      ++progress;
      std::unique_ptr<Active> done = std::move(active_[k]);
      active_.erase(active_.begin() + long(k));
      complete(*done, error);
      continue;
    }
    ++k;
  }
  if (progress == 0 &&
      std::any_of(active_.begin(), active_.end(), [](const auto& a) { return a->run->waiting_externally(); })) {
    // Idle engines while a verifier command runs: sleep until it (or a submit) wakes us.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(50), [&] {
      return wakes_.load() != wakes || !queue_.empty() || !cancels_.empty() || stopping_;
    });
    return true;
  }
  if (progress == 0 && !active_.empty()) {
    // Nothing decoded and nobody moved: the waits can never be met (e.g. every slot is
    // held by prompts whose samples wait for a slot). Fail rather than hang.
    std::vector<std::unique_ptr<Active>> stalled = std::move(active_);
    active_.clear();
    for (auto& a : stalled) complete(*a, "runtime stalled: waiting for sequences that cannot get a KV slot");
  }
  return true;
}

StrategyResult Runtime::wait(QuestionId id) {
  std::unique_lock lock(mutex_);
  while (!results_.count(id)) {
    if (background_) {
      changed_.wait(lock);
    } else {
      lock.unlock();
      const bool worked = pump();
      lock.lock();
      if (!worked && !results_.count(id) && queue_.empty()) {
        throw std::invalid_argument("wait: unknown question " + std::to_string(id));
      }
    }
  }
  StrategyResult r = std::move(results_[id]);
  results_.erase(id);
  return r;
}

void Runtime::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (queue_.empty() && cancels_.empty() && active_.empty()) {
      changed_.wait(lock);
      continue;
    }
    lock.unlock();
    pump();
    lock.lock();
  }
}

void Runtime::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  background_ = true;
  thread_ = std::thread([this] { loop(); });
}

void Runtime::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    changed_.notify_all();
  }
  thread_.join();
  if (step_threads_) step_threads_->settle();
  // Whatever had not finished ends as cancelled, so no waiter hangs.
  std::vector<std::unique_ptr<Active>> left = std::move(active_);
  active_.clear();
  for (auto& a : left) complete(*a, "cancelled");
  std::deque<std::pair<QuestionId, Job>> queued;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queue_);
  }
  for (auto& [id, job] : queued) {
    Active a{id, std::move(job), nullptr, std::nullopt};
    complete(a, "cancelled");
  }
  std::lock_guard lock(mutex_);
  background_ = false;
  changed_.notify_all();
}

std::vector<StrategyResult> Runtime::run(std::vector<Job> jobs) {
  std::vector<QuestionId> ids;
  for (auto& job : jobs) ids.push_back(submit(std::move(job)));
  std::vector<StrategyResult> results;
  for (QuestionId id : ids) results.push_back(wait(id));
  return results;
}

std::vector<Token> format_question(const Model& model, const std::string& question) {
  const std::string text = model.apply_chat_template({{"user", question}});
  return model.tokenize(text, true, model.has_chat_template());
}

std::vector<Token> format_question(const Model& model, const ChatTemplate& chat, const std::string& question,
                                   ThinkingMode thinking) {
  return model.tokenize(chat.apply({{"user", question}}, thinking), true, true);
}

StrategyResult run_strategy(Engine& engine, const Strategy& strategy, const std::string& question) {
  Runtime runtime(engine, {.max_in_flight = 1});
  // The runtime only borrows the strategy for the call.
  return runtime.run({Job{std::shared_ptr<const Strategy>(&strategy, [](const Strategy*) {}), question, {}, {}}})
      .front();
}

}  // namespace ponder
