#pragma once
// The runtime: questions are submitted (from any thread) and run concurrently on a set of
// engines stepped by one engine thread, so every llama_decode carries the work of every
// question in flight. Each question runs its strategy through a QuestionRun, the
// strategy's whole view of the engines, and reports Events as it goes.
//
//   Runtime runtime(generator);           // + set_verifier(...) for verifier strategies,
//                                         //   set_large_model(...) for cascades
//   QuestionId q = runtime.submit({strategy, "a=3; b=a*2; b?", on_event});
//   runtime.cancel(q);                    // frees its sequences at once
//   StrategyResult r = runtime.wait(q);   // drives the engines itself unless start()ed
//
// A result depends only on (model, question, strategy, options, seed): strategies decide
// by launch order and token position, never by what finished first.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ponder/chat_template.h"
#include "ponder/engine.h"
#include "ponder/events.h"
#include "ponder/hidden_state.h"
#include "ponder/probe.h"
#include "ponder/remote.h"
#include "ponder/strategy.h"
#include "ponder/verifier.h"

namespace ponder {

class Runtime;

// What a backend can do for a strategy. The local engine does everything; remote
// OpenAI-compatible servers (RuntimeOptions::remote) sample, fork and truncate (the
// samples' tokens are kept here), and extend and score only where they give prompt logprobs.
enum Capability : uint32_t {
  kSample = 1u << 0,    // draw samples from the prompt
  kLogprobs = 1u << 1,  // per-token logprobs of what was drawn
  kFork = 1u << 2,      // continue a sample from any of its positions
  kExtend = 1u << 3,    // append given text to a sample
  kScore = 1u << 4,     // logprobs of a given continuation
  kTruncate = 1u << 5,  // roll a sample back
  kVerify = 1u << 6,    // a verifier is attached (a PRM model, a command or self-evaluation)
  kLargeModel = 1u << 7,    // a large model beside the generator (the small one): cascades
  kSwitchModels = 1u << 8,  // ... sharing the generator's vocabulary: switching models mid-sample
};
using Capabilities = uint32_t;
// "fork, score" for the bits of `caps`.
std::string capability_names(Capabilities caps);

// Which verifier a runtime has: a process reward model on its own engine, an external
// command run off the engine thread, or the generator judging itself.
enum class VerifierKind { none, prm, command, self };
const char* verifier_kind_name(VerifierKind kind);

// One question as its strategy sees it: the prompt (prefilled once on first use), the
// samples grown from it, the verifier, and the conditions a strategy can wait for.
// Samples are numbered in launch order; sample k drawn with launch() uses seed + k.
class QuestionRun {
 public:
  // The question on the runtime's generator.
  QuestionRun(Runtime& runtime, QuestionId id, std::string question, std::vector<Token> prompt, EventSink sink);
  ~QuestionRun();
  QuestionRun(const QuestionRun&) = delete;
  QuestionRun& operator=(const QuestionRun&) = delete;

  QuestionId id() const { return id_; }
  const std::string& question() const { return question_; }
  // What the runtime can do for this question (a strategy may use a verifier if there is one).
  Capabilities capabilities() const;

  // --- growing samples
  // n new samples from the prompt, generating at once; sample k uses generation's seed + k.
  // `last`: no later launch follows, so the prompt's KV slot goes to the last sample.
  std::vector<SampleId> launch(int n, const GenerationOptions& generation, bool last = false);
  // A new idle sample holding just the prompt (to generate, extend or score from).
  SampleId start();
  // n new samples continuing `parent`'s first `position` tokens (its KV is shared, not
  // re-read). They are idle until generate() or extend(); the parent must be idle.
  std::vector<SampleId> fork(SampleId parent, int position, int n);
  // Samples an idle sample onward; `seed` overrides generation's (searches give each
  // expansion its own).
  void generate(SampleId sample, const GenerationOptions& generation, std::optional<uint64_t> seed = {});
  // Appends text to an idle sample as if it had been written there; its tokens' logprobs
  // are read on the way (await all({sample}) before reading them).
  void extend(SampleId sample, const std::string& text);
  // The same with the tokens given (not re-tokenized): what another model of the same
  // vocabulary wrote, caught up on without re-reading the prefix.
  void extend(SampleId sample, const std::vector<Token>& tokens);
  // Ends a sample's generation where it is (finish reason `cancelled`), keeping its
  // tokens: it is idle again, to generate on, extend, truncate or harvest. A no-op on an
  // idle sample.
  void stop(SampleId sample);
  // Rolls an idle sample back to its first `position` tokens (>= 0).
  void truncate(SampleId sample, int position);
  // Reads the logprobs of `continuation` after an idle sample without sampling (and, per
  // token, of `candidates` in its place); the sample is left unchanged. Await all({sample}), then read score_result().
  void score(SampleId sample, const std::string& continuation, std::vector<Token> candidates = {});
  void score(SampleId sample, std::vector<Token> continuation, std::vector<Token> candidates = {});
  const ScoreResult& score_result(SampleId sample) const;

  // --- reading
  bool busy(SampleId sample) const;  // generating, scoring or waiting for a KV slot
  int length(SampleId sample) const;  // tokens after the prompt
  std::span<const TokenRecord> records(SampleId sample) const;  // one per token after the prompt
  const std::string& text(SampleId sample) const;
  double mean_logprob(SampleId sample) const;  // over its sampled tokens
  // Mean logprob over its first `tokens` sampled tokens (all it has if fewer).
  double mean_logprob(SampleId sample, int tokens) const;
  FinishReason finish(SampleId sample) const;
  int launched() const { return int(samples_.size()); }

  // --- difficulty
  // P(the greedy answer is right) by the runtime's difficulty probe (Runtime::set_probe),
  // or none without one. The first call reads the prompt once on the probe's own context,
  // there and then (one prefill, on the engine thread), counted in the question's prompt
  // and decoded tokens; later calls return the same value.
  std::optional<double> probe_p_correct();

  // --- ending samples
  // Reads a finished sample, extracts its answer and frees it (event `finished`).
  SampleTrace harvest(SampleId sample, const AnswerOptions& answers);
  // Stops a sample, reads what it had, frees it, marked pruned (event `pruned`).
  SampleTrace prune(SampleId sample, const std::string& why = "");

  // --- the verifier (needs kVerify)
  // Step scores of each solution text for this question. A PRM reads all solutions in
  // one batch on forks of its prompt (prefilled once per question); a command runs on
  // each solution off the engine thread (options().parallel programs at once) while the engines
  // go on with other questions; self-evaluation reads each solution after a fork of the
  // prompt, then the judging question. A command's failure is thrown as the question's
  // error.
  Task<std::vector<StepScores>> verify(std::vector<std::string> solutions);
  // Step scores of each idle sample's text so far. The PRM keeps a sequence per sample
  // holding what it has read of it, which follows the sample's forks and truncations, so
  // each call reads only the steps that are new (a search's way). Self-evaluation reads
  // the judging question after the sample's own tokens (then drops it: the sample is
  // left as it was), one verdict per call. A command scores each sample's text as verify().
  Task<std::vector<StepScores>> verify_samples(std::vector<SampleId> samples);
  // Where the verifier cuts steps (what a search should stop its steps at).
  const std::string& verifier_step_delimiter() const;
  // Tokens the verifier model has read for this question so far (0 for commands).
  int64_t verifier_tokens() const;

  // --- the large model (needs kLargeModel)
  // The same question on the runtime's large model, made on first use: its own prompt
  // there (the generator's prompt tokens when the vocabularies match, else the question
  // formatted for the large model), prefilled once; its own samples, numbered from 0
  // (sample k drawn with seed + k); the same verifier and events (marked large_model).
  // Its cost is reported apart ("large generator"); it ends with this run.
  QuestionRun& large();
  bool is_large() const { return is_large_; }

  // --- reporting
  void emit(Event event);  // fills in the question id
  // Reports the vote: (answer text, weight) best first and the stopping criterion's value.
  void report_vote(std::vector<std::pair<std::string, double>> tally, double criterion,
                   std::optional<double> threshold = std::nullopt);

  // --- waiting: each resumes the strategy once its condition holds
  struct Wait {
    QuestionRun* run;
    std::function<bool()> ready;
    // Waits on work outside the engines (a verifier command): the runtime sleeps until
    // woken instead of taking the idle engines for a stall.
    bool external = false;
    bool await_ready() { return ready(); }
    void await_suspend(std::coroutine_handle<> h);
    SampleId await_resume() const { return run->woken_by_; }
  };
  Wait all(std::vector<SampleId> samples);  // none of them busy
  Wait any(std::vector<SampleId> samples);  // one of them not busy; returns the first such
  Wait next_step();                         // after the next engine step

  // For the runtime.
  bool try_resume();
  bool waiting_externally() const;
  // Frees everything; the generator's cost, with the verifier's tokens in verifier_tokens
  // (the large model's view's included).
  Cost finish_run();
  const Cost& verifier_cost() const { return verifier_cost_; }
  // The large model's cost, once finish_run() ended its view; none when it was not used.
  const std::optional<Cost>& large_cost() const { return large_cost_; }

 private:
  struct Sample {
    enum class Mode { idle, generating, extending, scoring };
    SeqId seq = 0;
    SampleId parent = -1;
    int fork_position = 0;
    Mode mode = Mode::idle;
    std::vector<TokenRecord> records;  // tokens after the prompt
    std::string text;
    size_t base_records = 0;  // records before the current generation
    std::string base_text;    // text before the current generation
    FinishReason finish = FinishReason::none;
    std::optional<ScoreResult> score;
    size_t reported_lines_end = 0;  // records already reported in `line` events
    size_t reported_tokens_end = 0;  // records already reported in `line` or `tokens` events
    bool freed = false;
    bool fresh = false;  // reuse_prefixes off: its sequence was just made from its whole prefix
    // On a remote backend: the request drawing it, and which of its attempts was read.
    std::shared_ptr<RemoteSample> remote;
    int remote_attempt = 0;
    // The verifier's reading (verify_samples): a verifier sequence holding its prompt and
    // the steps read so far, one checkpoint per step read, and the reading's entries
    // (the last being the verdict on the last step read).
    struct VerifiedStep {
      size_t text_end;   // the step and its delimiter end here in `text`
      size_t tokens;     // verifier sequence length after the step's tag
      size_t entries;    // reading entries before the step's verdict
    };
    SeqId verifier_seq = 0;
    std::vector<VerifiedStep> verified;
    PrmReading reading;
    // Self-evaluation's verdicts (verify_samples): where the text ended when judged, P(yes).
    std::vector<std::pair<size_t, double>> judged;
  };
  friend class Runtime;
  QuestionRun(Runtime& runtime, Engine& engine, bool is_large, QuestionId id, std::string question,
              std::vector<Token> prompt, EventSink sink);
  static std::vector<Token> tokens_of(std::span<const TokenRecord> records);
  Sample& sample(SampleId id);
  const Sample& sample(SampleId id) const;
  SeqId root();
  std::vector<SeqId> prompt_sequences(int n);  // n sequences holding the prompt
  void require_idle(SampleId id, const char* what);
  void extend_with(SampleId id, const std::vector<Token>& tokens, const std::string& text);
  void sync(SampleId id);  // takes over what the engine finished for the sample
  bool remote() const;  // its samples are drawn by the runtime's remote backend
  // Reads what a remote sample's stream brought; throws its error once it failed.
  // `finish`: once the stream ended, the sample is idle with its finish reason.
  void read_remote(SampleId id, bool finish = true);
  void generate_remote(SampleId id, const GenerationOptions& generation, std::optional<uint64_t> seed);
  // A request for the logprobs of `tokens` after the sample's own.
  RemoteRequest remote_scoring(const Sample& s, const std::vector<Token>& tokens) const;
  void submit_remote(Sample& s, RemoteRequest request);  // the sample's request from now on
  void count_remote(Sample& s);  // its request's tokens into the question's cost
  void report_lines(SampleId id, bool final);
  void after_step();       // reports new lines, syncs samples whose work finished
  SampleTrace read(SampleId id) const;
  void release(SampleId id);
  void release_verifier_view(Sample& s);
  // Cuts a sample's verifier view back to the steps that end within its first `bytes` of text.
  void cut_verifier_view(Sample& s, size_t bytes);
  // reuse_prefixes off: a fresh sequence holding the prompt and the sample's tokens.
  void reread_prefix(SampleId id);
  // The verifiers, by kind.
  Task<std::vector<StepScores>> verify_prm(std::vector<std::string> solutions);
  Task<std::vector<StepScores>> verify_samples_prm(std::vector<SampleId> samples);
  // `samples`: the samples the solutions are (for the events), or empty.
  Task<std::vector<StepScores>> verify_command(std::vector<std::string> solutions, std::vector<SampleId> samples = {});
  Task<std::vector<StepScores>> verify_self(std::vector<std::string> solutions);
  Task<std::vector<StepScores>> verify_samples_self(std::vector<SampleId> samples);
  StepScores self_scores(const Sample& s) const;

  Runtime& runtime_;
  Engine& engine_;
  QuestionId id_;
  std::string question_;
  std::vector<Token> prompt_;
  EventSink sink_;
  bool token_events_ = false;  // Job::token_events
  bool sample_records_ = false;  // Job::sample_records
  RequestId request_;
  RequestId verifier_request_ = 0;
  SeqId root_ = 0;
  SeqId verifier_root_ = 0;
  std::vector<Sample> samples_;
  std::vector<SeqId> scratch_;  // verifier sequences in use
  std::vector<SeqId> judge_scratch_;  // generator sequences self-evaluation reads solutions on
  std::function<bool()> waiting_for_;
  bool external_wait_ = false;
  std::coroutine_handle<> waiter_;
  SampleId woken_by_ = -1;
  Cost verifier_cost_;
  int64_t tree_tokens_ = 0;  // the prompt and every token added to a sample after its fork
  bool is_large_ = false;               // this is the large model's view of the question
  size_t generator_ = 0;                // which of the runtime's generators it runs on
  std::unique_ptr<QuestionRun> large_;  // the large model's view, once asked for
  std::optional<Cost> large_cost_;
  std::optional<double> probe_p_correct_;
  Cost probe_cost_;  // the probe's prefill of the prompt
  // Bumped by the remote backend's workers whenever one of this question's samples has
  // news: next_step() waits for it on a remote backend (there are no engine steps).
  std::shared_ptr<std::atomic<uint64_t>> remote_news_ = std::make_shared<std::atomic<uint64_t>>(0);
  Cost remote_cost_;  // the requests of samples already released
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
};

struct Job {
  std::shared_ptr<const Strategy> strategy;
  std::string question;  // what answers and verifiers read
  EventSink on_event;  // called on the engine thread; may be empty
  std::function<void(const StrategyResult&)> on_result;  // ditto
  // The tokens the model reads; empty: format_question(question). A server sets them for
  // raw completions and multi-message chats, whose prompt is more than the question.
  std::vector<Token> prompt;
  // Also emit `tokens` events: after each decode step, every sample's tokens not yet
  // reported, before its line ends (a live display; one event per sample per step).
  bool token_events = false;
  // Keep every sample's token records (logprob, and the alternatives the sampling asks
  // for) in its trace: a server's logprobs for the text a strategy chose.
  bool sample_records = false;
};

struct RuntimeOptions {
  // Questions running at once; 0 = automatic (half the generator's sequence slots, since
  // each may keep its prompt in a slot while its samples need others).
  int max_in_flight = 0;
  // Keep every sample's tokens and logprobs in its trace (for replay); off: summaries only.
  bool record_tokens = false;
  // Off: the way a script drives a server, for comparison: every launch, fork and next
  // step re-reads its whole prefix into a fresh sequence, and the verifier re-reads whole
  // solutions. Same samples (same seeds), more decoding.
  bool reuse_prefixes = true;
  // How questions are put to a model whose chat template has a thinking block: `on` or
  // `off` renders them through its Jinja template (ponder/chat_template.h), which the
  // model must have (else the runtime is refused); `automatic` keeps format_question's
  // prompt. A job's own prompt is used as given. A thinking budget is a generation
  // option (StopParams::thinking).
  ThinkingMode thinking = ThinkingMode::automatic;
  // Samples are drawn by these servers instead of the generator, whose model then only
  // formats and tokenizes (docs/remote.md). Strategies get kSample | kLogprobs | kFork |
  // kTruncate, kExtend | kScore where every server gives prompt logprobs, and the
  // verifier; in flight: 0 = twice the servers' total concurrency.
  std::shared_ptr<RemoteBackend> remote;
  void validate(const Engine& generator) const;  // throws std::invalid_argument
};

class Runtime {
 public:
  explicit Runtime(Engine& generator, RuntimeOptions options = {});
  ~Runtime();  // stops the engine thread; unfinished questions end as cancelled
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Attaches the verifier for strategies that need kVerify (replacing any other): a
  // process reward model on its own engine, an external command, or self-evaluation by
  // the generator's model (its tokens are the generator's scored tokens).
  void set_verifier(Engine& engine, ProcessRewardModel verifier);
  void set_verifier(CommandVerifier verifier);
  void set_verifier(SelfEvaluator verifier);
  // Attaches a large model for strategies that need kLargeModel (cascades): the generator
  // is then the small model. Its engine is stepped with the others and needs at least the
  // generator's sequence slots (the questions admitted may use both). Models sharing the
  // generator's vocabulary also give kSwitchModels (switching models mid-sample).
  void set_large_model(Engine& engine);
  // Adds a replica of the generator: another engine of its model, with its own context,
  // slots and threads (ponder/engine_sizing.h says when replicas pay). Each question runs
  // wholly on one engine, the one with the fewest samples to draw when it is admitted,
  // and the engines decode side by side, each on a thread of its own. Before the first
  // submit; not with remote servers.
  void add_generator_replica(Engine& engine);
  // The generator and its replicas.
  std::span<Engine* const> generators() const { return generators_; }
  VerifierKind verifier_kind() const;
  Capabilities capabilities() const;

  // Attaches a difficulty probe for QuestionRun::probe_p_correct (replacing any other),
  // read on a hidden-state context of its own on `threads` threads; before start() or
  // while no question runs (the engine thread reads it). Throws std::invalid_argument
  // when it was fitted on another model (DifficultyProbe::check_model).
  void set_probe(std::shared_ptr<const DifficultyProbe> probe, int threads = 1);
  const DifficultyProbe* probe() const { return probe_.get(); }
  HiddenStateReader* probe_reader() { return probe_reader_.get(); }

  // Queues a question; thread-safe. Throws std::invalid_argument when the strategy needs
  // a capability the runtime lacks.
  QuestionId submit(Job job);
  // Ends a queued or running question at once, freeing its sequences; its result has
  // error "cancelled". Thread-safe; unknown or finished ids are ignored.
  void cancel(QuestionId id);
  // Blocks until the question's result is ready and returns it (once). Without start(),
  // the calling thread drives the engines meanwhile.
  StrategyResult wait(QuestionId id);

  // Runs the engine thread in the background (for servers); stop() ends it.
  void start();
  void stop();

  // Convenience: runs every job to completion; results in job order.
  std::vector<StrategyResult> run(std::vector<Job> jobs);

  Engine& generator() { return generator_; }
  Engine* verifier_engine() { return verifier_engine_; }
  Engine* large_engine() { return large_engine_; }
  const ProcessRewardModel* verifier() const { return verifier_ ? &*verifier_ : nullptr; }
  const CommandVerifier* command_verifier() const { return command_ ? &*command_ : nullptr; }
  const SelfEvaluator* self_evaluator() const { return self_ ? &*self_ : nullptr; }
  // Something a question waits for outside the engines has happened (a verifier command
  // ended): the loop looks again. Thread-safe, never blocks.
  void wake();
  int in_flight() const;
  const RuntimeOptions& options() const { return options_; }
  RemoteBackend* remote() const { return options_.remote.get(); }

 private:
  friend class QuestionRun;
  struct Active;
  class StepThreads;
  // Wakes the runtime from the remote backend's threads, which may outlive it.
  struct Waker {
    std::mutex mutex;
    Runtime* runtime = nullptr;
    void wake() {
      std::lock_guard lock(mutex);
      if (runtime) runtime->wake();
    }
  };
  std::shared_ptr<Waker> waker_ = std::make_shared<Waker>();
  // One round: take queued commands, admit questions, step every engine with work,
  // resume strategies. Returns false when there is nothing to do.
  bool pump();
  std::string missing_hint(Capabilities missing) const;  // how to get what a strategy lacks
  void admit();
  // Steps the engines with work: a generator with replicas on its own thread, launched
  // when its questions have been resumed, and waits for at least one generator's step
  // to end. Returns the progress collected (sequences finished, tokens decoded).
  int64_t step_engines();
  // Threads for each generator's next step: a generator with no question while none
  // waits lends its own to those that have some, so a run's last questions finish on all.
  std::vector<int> step_thread_counts();
  bool stepping(size_t generator) const;  // its step is out: nothing else may touch it
  void complete(Active& active, std::string error);
  void loop();

  Engine& generator_;
  std::vector<Engine*> generators_;  // generator_ first, then its replicas
  std::unique_ptr<StepThreads> step_threads_;  // with replicas: a thread per generator
  std::vector<int64_t> rounds_{0};  // per generator: pump rounds it was not stepping in (next_step)
  bool automatic_in_flight_ = false;
  Engine* verifier_engine_ = nullptr;
  Engine* large_engine_ = nullptr;
  bool same_vocabulary_ = false;  // the large model's tokens are the generator's
  std::optional<ProcessRewardModel> verifier_;
  std::optional<CommandVerifier> command_;
  std::optional<SelfEvaluator> self_;
  std::shared_ptr<const DifficultyProbe> probe_;
  std::unique_ptr<HiddenStateReader> probe_reader_;
  std::unique_ptr<ChatTemplate> chat_;  // thinking on or off: the generator's Jinja template
  RuntimeOptions options_;
  std::atomic<uint64_t> wakes_{0};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  QuestionId next_id_ = 1;
  std::deque<std::pair<QuestionId, Job>> queue_;  // submitted, not admitted
  std::vector<QuestionId> cancels_;
  std::map<QuestionId, StrategyResult> results_;  // done, not yet waited for
  bool stopping_ = false;
  // start() to the end of stop(): waiters sleep until results come, rather than pump (which
  // would race the engine thread, or stop() completing what was left).
  bool background_ = false;
  std::thread thread_;

  std::vector<std::unique_ptr<Active>> active_;  // the pumping thread only
};

// The question as the model reads it: its chat template (or the plain format
// "question\n"), tokenized with BOS.
std::vector<Token> format_question(const Model& model, const std::string& question);
// The same through the model's Jinja template with thinking forced on, off, or left to
// the model (ChatTemplate::apply), tokenized with BOS and special tokens.
std::vector<Token> format_question(const Model& model, const ChatTemplate& chat, const std::string& question,
                                   ThinkingMode thinking);

// One question, one strategy, blocking.
StrategyResult run_strategy(Engine& engine, const Strategy& strategy, const std::string& question);

}  // namespace ponder
