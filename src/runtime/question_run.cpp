// QuestionRun: the strategy's API over the runtime's engines. Samples are numbered in
// launch order; each maps to an engine sequence until it is harvested, pruned or freed.

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "ponder/runtime.h"

namespace ponder {

namespace {

// The prompt followed by a sample's tokens: what a fresh sequence or a request reads.
std::vector<Token> with_prompt(const std::vector<Token>& prompt, std::span<const TokenRecord> records) {
  std::vector<Token> tokens;
  tokens.reserve(prompt.size() + records.size());
  tokens.insert(tokens.end(), prompt.begin(), prompt.end());
  for (const auto& r : records) tokens.push_back(r.token);
  return tokens;
}

}  // namespace

QuestionRun::QuestionRun(Runtime& runtime, QuestionId id, std::string question, std::vector<Token> prompt,
                         EventSink sink)
    : QuestionRun(runtime, runtime.generator(), false, id, std::move(question), std::move(prompt), std::move(sink)) {}

QuestionRun::QuestionRun(Runtime& runtime, Engine& engine, bool is_large, QuestionId id, std::string question,
                         std::vector<Token> prompt, EventSink sink)
    : runtime_(runtime),
      engine_(engine),
      id_(id),
      question_(std::move(question)),
      prompt_(std::move(prompt)),
      sink_(std::move(sink)),
      request_(engine_.begin_request()),
      tree_tokens_(int64_t(prompt_.size())),
      is_large_(is_large) {}

QuestionRun::~QuestionRun() { finish_run(); }

QuestionRun::Sample& QuestionRun::sample(SampleId id) {
  if (id < 0 || id >= int(samples_.size())) throw std::invalid_argument("unknown sample " + std::to_string(id));
  Sample& s = samples_[size_t(id)];
  if (s.freed) throw std::logic_error("sample " + std::to_string(id) + " was already harvested or pruned");
  return s;
}

const QuestionRun::Sample& QuestionRun::sample(SampleId id) const { return const_cast<QuestionRun*>(this)->sample(id); }

Capabilities QuestionRun::capabilities() const { return runtime_.capabilities(); }

bool QuestionRun::remote() const { return runtime_.remote() != nullptr && !is_large_; }

int64_t QuestionRun::verifier_tokens() const {
  const Engine* verifier = runtime_.verifier_engine();
  if (!verifier || verifier_request_ == 0) return 0;
  const Cost c = verifier->request_cost(verifier_request_);
  return c.prompt_tokens + c.scored_tokens;
}

SeqId QuestionRun::root() {
  if (root_ == 0) root_ = engine_.add_sequence(request_, prompt_);
  return root_;
}

void QuestionRun::require_idle(SampleId id, const char* what) {
  // Waiting for a KV slot is fine: the engine queues the new work behind it.
  const Sample& s = sample(id);
  const bool running = s.remote ? !s.remote->done() : !remote() && engine_.sequence(s.seq).state != SeqState::ready;
  if (running) {
    throw std::logic_error(std::string(what) + ": sample " + std::to_string(id) + " is still generating or scoring");
  }
  sync(id);
}

void QuestionRun::emit(Event event) {
  if (!sink_) return;
  event.question = id_;
  event.large_model = is_large_;
  sink_(event);
}

std::vector<SampleId> QuestionRun::launch(int n, const GenerationOptions& generation, bool last) {
  if (n < 1) throw std::invalid_argument("launch: n must be >= 1");
  std::vector<SampleId> ids;
  if (remote()) {
    for (int i = 0; i < n; ++i) {
      ids.push_back(start());
      generate(ids.back(), generation);
    }
    return ids;
  }
  for (SeqId seq : prompt_sequences(n)) {
    const SampleId id = SampleId(samples_.size());
    samples_.push_back({});
    samples_.back().seq = seq;
    samples_.back().fresh = true;
    ids.push_back(id);
    generate(id, generation);
    emit({.kind = EventKind::launched, .sample = id});
  }
  if (last && root_ != 0) {
    engine_.free(root_);
    root_ = 0;
  }
  return ids;
}

SampleId QuestionRun::start() {
  const SampleId id = SampleId(samples_.size());
  samples_.push_back({});
  // A remote sample has no sequence here: its request carries the prompt.
  if (!remote()) samples_.back().seq = prompt_sequences(1).front();
  samples_.back().fresh = true;
  emit({.kind = EventKind::launched, .sample = id});
  return id;
}

std::vector<SeqId> QuestionRun::prompt_sequences(int n) {
  if (runtime_.options().reuse_prefixes) return engine_.fork(root(), n);
  std::vector<SeqId> seqs;
  for (int i = 0; i < n; ++i) seqs.push_back(engine_.add_sequence(request_, prompt_));
  return seqs;
}

std::vector<SampleId> QuestionRun::fork(SampleId parent, int position, int n) {
  require_idle(parent, "fork");
  if (n < 1) throw std::invalid_argument("fork: n must be >= 1");
  const Sample& p = sample(parent);
  if (position < 0 || position > int(p.records.size())) {
    throw std::invalid_argument("fork: position must be in [0, " + std::to_string(p.records.size()) + "]");
  }
  const bool reuse = runtime_.options().reuse_prefixes;
  // A remote sample has no sequence here: its next request carries its tokens.
  std::vector<SeqId> seqs(size_t(n), 0);
  if (!remote() && reuse) {
    seqs = engine_.fork(p.seq, n);
  } else if (!remote()) {
    const std::vector<Token> prefix = with_prompt(prompt_, std::span(p.records).first(size_t(position)));
    for (int i = 0; i < n; ++i) seqs[size_t(i)] = engine_.add_sequence(request_, prefix);
  }
  std::vector<SampleId> ids;
  for (SeqId seq : seqs) {
    if (reuse && seq != 0) engine_.truncate(seq, prompt_.size() + size_t(position));
    const SampleId id = SampleId(samples_.size());
    Sample child;
    child.seq = seq;
    child.fresh = !reuse;
    child.parent = parent;
    child.fork_position = position;
    const Sample& source = samples_[size_t(parent)];  // re-read: push_back may move it
    child.records.assign(source.records.begin(), source.records.begin() + position);
    child.text = position == int(source.records.size()) ? source.text : engine_.model().detokenize(tokens_of(child.records));
    child.reported_lines_end = child.records.size();
    // The verifier's reading of the shared steps comes along (its KV forked, not re-read).
    if (source.verifier_seq != 0) {
      Engine* verifier = runtime_.verifier_engine();
      child.verifier_seq = verifier->fork(source.verifier_seq, 1).front();
      child.verified = source.verified;
      child.reading = source.reading;
      cut_verifier_view(child, child.text.size());
    }
    child.judged = source.judged;
    std::erase_if(child.judged, [&](const auto& j) { return j.first > child.text.size(); });
    samples_.push_back(std::move(child));
    ids.push_back(id);
    emit({.kind = EventKind::forked, .sample = id, .parent = parent, .position = position});
  }
  return ids;
}

void QuestionRun::generate(SampleId id, const GenerationOptions& generation, std::optional<uint64_t> seed) {
  require_idle(id, "generate");
  if (remote()) {
    generate_remote(id, generation, seed);
    return;
  }
  if (!runtime_.options().reuse_prefixes && !sample(id).fresh) reread_prefix(id);
  Sample& s = sample(id);
  s.fresh = false;
  SamplingParams params = generation.sampling;
  params.seed = seed.value_or(generation.sampling.seed + uint64_t(id));
  s.base_records = s.records.size();
  s.base_text = s.text;
  s.mode = Sample::Mode::generating;
  engine_.generate(s.seq, params, generation.stop);
}

void QuestionRun::extend(SampleId id, const std::string& text) {
  require_idle(id, "extend");
  extend_with(id, engine_.model().tokenize(text, false), text);
}

void QuestionRun::extend(SampleId id, const std::vector<Token>& tokens) {
  require_idle(id, "extend");
  extend_with(id, tokens, engine_.model().detokenize(tokens));
}

void QuestionRun::extend_with(SampleId id, const std::vector<Token>& tokens, const std::string& text) {
  Sample& s = sample(id);
  if (tokens.empty()) return;
  if (remote()) {
    // The server reads the tokens' logprobs; the sample keeps them as its own.
    submit_remote(s, remote_scoring(s, tokens));
  } else {
    // Scoring appends the tokens to the sequence (checking them); their logprobs arrive with it.
    engine_.score(s.seq, tokens);
  }
  for (Token t : tokens) s.records.push_back({t, 0.0f, 0.0f, {}});
  s.text += text;
  tree_tokens_ += int64_t(tokens.size());
  s.reported_lines_end = s.records.size();
  s.mode = Sample::Mode::extending;
  emit({.kind = EventKind::extended, .sample = id, .text = text});
}

void QuestionRun::stop(SampleId id) {
  Sample& s = sample(id);
  if (s.mode != Sample::Mode::generating) return;
  if (s.remote) {
    s.remote->cancel();
    read_remote(id, false);
    report_lines(id, true);
    s.mode = Sample::Mode::idle;
    s.finish = FinishReason::cancelled;
    return;
  }
  engine_.cancel(s.seq);
  report_lines(id, true);
  sync(id);
}

QuestionRun& QuestionRun::large() {
  if (is_large_) throw std::logic_error("large: this is already the large model's view of the question");
  if (!large_) {
    Engine* engine = runtime_.large_engine();
    if (!engine) throw std::logic_error("large: no large model is attached (--large-model PATH)");
    // The same tokens when the vocabularies match (a sample can then move between the
    // models); else the question as the large model reads it.
    std::vector<Token> prompt =
        (runtime_.capabilities() & kSwitchModels) ? prompt_ : format_question(engine->model(), question_);
    if (prompt.size() >= size_t(engine->context_per_sequence())) {
      throw std::invalid_argument("the prompt's " + std::to_string(prompt.size()) +
                                  " tokens leave no room in the large model's " +
                                  std::to_string(engine->context_per_sequence()) + "-token context per sequence");
    }
    large_.reset(new QuestionRun(runtime_, *engine, true, id_, question_, std::move(prompt), sink_));
    large_->generator_ = generator_;
    large_->token_events_ = token_events_;
    large_->sample_records_ = sample_records_;
  }
  return *large_;
}

void QuestionRun::truncate(SampleId id, int position) {
  require_idle(id, "truncate");
  Sample& s = sample(id);
  if (position < 0 || position > int(s.records.size())) {
    throw std::invalid_argument("truncate: position must be in [0, " + std::to_string(s.records.size()) + "]");
  }
  if (position == int(s.records.size())) return;
  if (!remote()) engine_.truncate(s.seq, prompt_.size() + size_t(position));
  s.records.resize(size_t(position));
  s.text = engine_.model().detokenize(tokens_of(s.records));
  cut_verifier_view(s, s.text.size());
  std::erase_if(s.judged, [&](const auto& j) { return j.first > s.text.size(); });
  s.reported_lines_end = std::min(s.reported_lines_end, s.records.size());
  s.finish = FinishReason::none;
  emit({.kind = EventKind::truncated, .sample = id, .position = position});
}

void QuestionRun::score(SampleId id, const std::string& continuation, std::vector<Token> candidates) {
  score(id, engine_.model().tokenize(continuation, false), std::move(candidates));
}

void QuestionRun::score(SampleId id, std::vector<Token> tokens, std::vector<Token> candidates) {
  require_idle(id, "score");
  Sample& s = sample(id);
  if (tokens.empty()) throw std::invalid_argument("score: the continuation has no tokens");
  s.score.reset();
  if (remote()) {
    if (!candidates.empty()) {
      throw std::invalid_argument("score: a remote server gives the logprobs of the scored tokens and its top "
                                  "alternatives, not of chosen candidates: run it without --backend");
    }
    submit_remote(s, remote_scoring(s, tokens));
  } else {
    engine_.score(s.seq, std::move(tokens), std::move(candidates));
  }
  s.mode = Sample::Mode::scoring;
}

const ScoreResult& QuestionRun::score_result(SampleId id) const {
  const Sample& s = sample(id);
  if (!s.score) throw std::logic_error("score_result: sample " + std::to_string(id) + " has no finished score");
  return *s.score;
}

bool QuestionRun::busy(SampleId id) const {
  const Sample& s = sample(id);
  // Until after_step has read its finished request: what a strategy reads once the sample
  // is not busy (its text, finish, score) is then the request's end, not a stale state.
  if (s.remote) return s.mode != Sample::Mode::idle;
  if (remote()) return false;  // started, never generated
  return engine_.busy(s.seq);
}

int QuestionRun::length(SampleId id) const { return int(sample(id).records.size()); }

std::span<const TokenRecord> QuestionRun::records(SampleId id) const { return sample(id).records; }

const std::string& QuestionRun::text(SampleId id) const { return sample(id).text; }

FinishReason QuestionRun::finish(SampleId id) const { return sample(id).finish; }

double QuestionRun::mean_logprob(SampleId id) const { return mean_logprob(id, length(id)); }

double QuestionRun::mean_logprob(SampleId id, int tokens) const {
  const Sample& s = sample(id);
  const size_t n = std::min(s.records.size(), size_t(std::max(0, tokens)));
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += s.records[i].logprob;
  return sum / double(n);
}

std::vector<Token> QuestionRun::tokens_of(std::span<const TokenRecord> records) {
  std::vector<Token> tokens;
  tokens.reserve(records.size());
  for (const auto& r : records) tokens.push_back(r.token);
  return tokens;
}

void QuestionRun::sync(SampleId id) {
  Sample& s = samples_[size_t(id)];
  if (s.remote && !s.freed && s.mode != Sample::Mode::idle) {
    const bool done = s.remote->done();  // before reading: what is read is then all of it
    read_remote(id, false);
    report_lines(id, done);
    if (done) read_remote(id);
    return;
  }
  if (s.freed || s.mode == Sample::Mode::idle || engine_.busy(s.seq)) return;
  const Sequence& seq = engine_.sequence(s.seq);
  switch (s.mode) {
    case Sample::Mode::generating:
      s.records.resize(s.base_records);
      s.records.insert(s.records.end(), seq.records.begin(), seq.records.end());
      s.text = s.base_text + seq.text;
      tree_tokens_ += int64_t(seq.records.size());
      s.finish = seq.finish;
      break;
    case Sample::Mode::extending: {
      // The extension's tokens are the last ones scored: copy their logprobs in.
      const auto& lp = seq.score->logprobs;
      const size_t first = s.records.size() - lp.size();
      for (size_t k = 0; k < lp.size(); ++k) s.records[first + k].logprob = lp[k];
      break;
    }
    case Sample::Mode::scoring:
      s.score = *seq.score;
      engine_.truncate(s.seq, prompt_.size() + s.records.size());
      break;
    case Sample::Mode::idle:
      break;
  }
  s.mode = Sample::Mode::idle;
}

// Reads the sample's own records, which after_step keeps current while it generates.
void QuestionRun::report_lines(SampleId id, bool final) {
  Sample& s = samples_[size_t(id)];
  if (!sink_ || s.mode != Sample::Mode::generating) return;
  const size_t have = s.records.size();
  size_t start = s.reported_lines_end;
  for (size_t k = start; k < have; ++k) {
    const bool ends_line = engine_.model().token_piece(s.records[k].token).find('\n') != std::string::npos;
    if (!ends_line && !(final && k + 1 == have)) continue;
    Event e{.kind = EventKind::line, .sample = id, .position = int(start)};
    e.tokens.assign(s.records.begin() + long(start), s.records.begin() + long(k) + 1);
    e.text = engine_.model().detokenize(tokens_of(e.tokens));
    emit(std::move(e));
    start = k + 1;
  }
  s.reported_lines_end = start;
  // The unfinished line's tokens not yet shown (after a truncation, from the line's start).
  if (s.reported_tokens_end > have || s.reported_tokens_end < start) s.reported_tokens_end = start;
  if (token_events_ && s.reported_tokens_end < have) {
    Event e{.kind = EventKind::tokens, .sample = id, .position = int(s.reported_tokens_end)};
    e.tokens.assign(s.records.begin() + long(s.reported_tokens_end), s.records.end());
    emit(std::move(e));
  }
  s.reported_tokens_end = have;
}

void QuestionRun::after_step() {
  for (size_t i = 0; i < samples_.size(); ++i) {
    Sample& s = samples_[i];
    if (s.freed || s.mode == Sample::Mode::idle) continue;
    if (s.remote) {
      sync(SampleId(i));
      continue;
    }
    if (s.mode == Sample::Mode::generating) {
      // Keep the sampled tokens readable while the sample runs (appending the new ones).
      const Sequence& seq = engine_.sequence(s.seq);
      for (size_t k = s.records.size() - s.base_records; k < seq.records.size(); ++k) s.records.push_back(seq.records[k]);
      if (s.reported_lines_end < s.base_records) s.reported_lines_end = s.base_records;
    }
    const bool done = !engine_.busy(s.seq);
    report_lines(SampleId(i), done);
    if (done) sync(SampleId(i));
  }
}

SampleTrace QuestionRun::read(SampleId id) const {
  const Sample& s = sample(id);
  SampleTrace t;
  t.text = s.text;
  t.tokens = int(s.records.size());
  t.mean_logprob = mean_logprob(id);
  t.finish = s.finish;
  t.id = id;
  t.parent = s.parent;
  t.fork_position = s.fork_position;
  t.large_model = is_large_;
  if (runtime_.options().record_tokens) {
    for (const auto& r : s.records) {
      t.token_logprobs.push_back({r.token, r.logprob});
      t.token_pieces.push_back(engine_.model().token_piece(r.token));
    }
  }
  if (sample_records_) t.records = s.records;
  return t;
}

void QuestionRun::release(SampleId id) {
  Sample& s = samples_[size_t(id)];
  if (s.freed) return;
  if (s.remote) {
    s.remote->cancel();
    count_remote(s);
    s.remote.reset();
  } else if (s.seq != 0 && engine_.contains(s.seq)) {
    engine_.free(s.seq);
  }
  release_verifier_view(s);
  s.freed = true;
  s.records.clear();
  s.records.shrink_to_fit();
}

SampleTrace QuestionRun::harvest(SampleId id, const AnswerOptions& answers) {
  require_idle(id, "harvest");
  sync(id);
  SampleTrace t = read(id);
  t.answer = extract_answer(t.text, answers);
  emit({.kind = EventKind::finished, .sample = id, .text = t.text, .detail = finish_reason_name(t.finish),
        .answer = t.answer});
  release(id);
  return t;
}

SampleTrace QuestionRun::prune(SampleId id, const std::string& why) {
  Sample& s = sample(id);
  if (s.remote) {
    stop(id);
  } else if (!remote()) {
    engine_.cancel(s.seq);
  }
  if (s.mode == Sample::Mode::generating) {
    report_lines(id, true);
    sync(id);
  }
  SampleTrace t = read(id);
  t.pruned = true;
  emit({.kind = EventKind::pruned, .sample = id, .text = t.text, .detail = why});
  release(id);
  return t;
}

void QuestionRun::report_vote(std::vector<std::pair<std::string, double>> tally, double criterion,
                              std::optional<double> threshold) {
  if (!sink_) return;
  Event e{.kind = EventKind::vote, .tally = std::move(tally), .value = criterion, .threshold = threshold};
  if (!e.tally.empty()) e.answer = Answer{e.tally.front().first, e.tally.front().first};
  emit(std::move(e));
}

Task<std::vector<StepScores>> QuestionRun::verify(std::vector<std::string> solutions) {
  switch (runtime_.verifier_kind()) {
    case VerifierKind::command: return verify_command(std::move(solutions));
    case VerifierKind::self: return verify_self(std::move(solutions));
    case VerifierKind::prm:
    case VerifierKind::none: break;
  }
  return verify_prm(std::move(solutions));
}

Task<std::vector<StepScores>> QuestionRun::verify_samples(std::vector<SampleId> ids) {
  switch (runtime_.verifier_kind()) {
    case VerifierKind::command: {
      // A command reads whole solutions; it keeps nothing between calls.
      std::vector<std::string> texts;
      for (SampleId id : ids) {
        require_idle(id, "verify_samples");
        texts.push_back(text(id));
      }
      return verify_command(std::move(texts), std::move(ids));
    }
    case VerifierKind::self: return verify_samples_self(std::move(ids));
    case VerifierKind::prm:
    case VerifierKind::none: break;
  }
  return verify_samples_prm(std::move(ids));
}

Task<std::vector<StepScores>> QuestionRun::verify_prm(std::vector<std::string> solutions) {
  const ProcessRewardModel* prm = runtime_.verifier();
  Engine* engine = runtime_.verifier_engine();
  if (!prm || !engine) throw std::logic_error("verify: no verifier is attached (--verifier MODEL)");
  if (verifier_request_ == 0) verifier_request_ = engine->begin_request();
  if (verifier_root_ == 0) verifier_root_ = engine->add_sequence(verifier_request_, prm->prompt_tokens(question_));
  const size_t room = size_t(engine->context_per_sequence()) - engine->sequence(verifier_root_).tokens.size();

  std::vector<StepScores> out(solutions.size());
  std::vector<ProcessRewardModel::Continuation> continuations(solutions.size());
  std::vector<size_t> scored;  // solutions with steps that fit the verifier's context
  for (size_t i = 0; i < solutions.size(); ++i) {
    continuations[i] = prm->continuation(prm->steps(solutions[i]));
    if (!continuations[i].tokens.empty() && continuations[i].tokens.size() <= room) scored.push_back(i);
  }
  if (scored.empty()) co_return out;
  const std::vector<SeqId> seqs = engine->fork(verifier_root_, int(scored.size()));
  scratch_.insert(scratch_.end(), seqs.begin(), seqs.end());
  for (size_t k = 0; k < scored.size(); ++k) {
    engine->score(seqs[k], continuations[scored[k]].tokens, {prm->good_token(), prm->bad_token()});
  }
  co_await Wait{this, [engine, &seqs] {
                  return std::none_of(seqs.begin(), seqs.end(), [&](SeqId s) { return engine->busy(s); });
                }};
  for (size_t k = 0; k < scored.size(); ++k) {
    const size_t i = scored[k];
    const ScoreResult& result = *engine->sequence(seqs[k]).score;
    PrmReading reading;
    reading.logprobs = result.logprobs;
    for (const auto& c : result.candidate_logprobs) {
      reading.good.push_back(c[0]);
      reading.bad.push_back(c[1]);
    }
    reading.kinds = continuations[i].kinds;
    out[i] = score_reading(reading, prm->settings().surprise_weight, prm->settings().aggregation);
    engine->free(seqs[k]);
    std::erase(scratch_, seqs[k]);
  }
  for (size_t i = 0; i < solutions.size(); ++i) {
    emit({.kind = EventKind::scored, .sample = -1, .position = int(i), .scores = out[i].steps, .value = out[i].solution});
  }
  co_return out;
}

const std::string& QuestionRun::verifier_step_delimiter() const {
  if (const CommandVerifier* command = runtime_.command_verifier()) return command->options().step_delimiter;
  if (const SelfEvaluator* self = runtime_.self_evaluator()) return self->settings().step_delimiter;
  const ProcessRewardModel* prm = runtime_.verifier();
  if (!prm) throw std::logic_error("verifier_step_delimiter: no verifier is attached (--verifier MODEL)");
  return prm->settings().step_delimiter;
}

Task<std::vector<StepScores>> QuestionRun::verify_samples_prm(std::vector<SampleId> ids) {
  const ProcessRewardModel* prm = runtime_.verifier();
  Engine* engine = runtime_.verifier_engine();
  if (!prm || !engine) throw std::logic_error("verify_samples: no verifier is attached (--verifier MODEL)");
  if (!runtime_.options().reuse_prefixes) {
    std::vector<std::string> texts;
    for (SampleId id : ids) texts.push_back(text(id));
    co_return co_await verify(std::move(texts));
  }
  if (verifier_request_ == 0) verifier_request_ = engine->begin_request();
  if (verifier_root_ == 0) verifier_root_ = engine->add_sequence(verifier_request_, prm->prompt_tokens(question_));
  const size_t prompt_tokens = engine->sequence(verifier_root_).tokens.size();
  const double surprise = prm->settings().surprise_weight;
  const StepAggregation aggregation = prm->settings().aggregation;

  std::vector<StepScores> out(ids.size());
  struct Reading {
    size_t index;  // in ids
    std::vector<TextStep> steps;
    ProcessRewardModel::Continuation continuation;
    size_t base_tokens, base_entries;
  };
  std::vector<Reading> reads;
  std::vector<SeqId> busy;
  for (size_t i = 0; i < ids.size(); ++i) {
    require_idle(ids[i], "verify_samples");
    Sample& s = sample(ids[i]);
    const size_t from = s.verified.empty() ? 0 : s.verified.back().text_end;
    std::vector<TextStep> steps = split_steps_from(s.text, from, prm->settings().step_delimiter);
    if (steps.empty()) {
      if (!s.verified.empty()) out[i] = score_reading(s.reading, surprise, aggregation);
      continue;
    }
    std::vector<std::string> texts;
    for (const auto& step : steps) texts.push_back(step.text);
    Reading r{i, std::move(steps), prm->continuation(texts), 0, 0};
    // The new steps' first token is where the verdict on the last step read was.
    if (!s.verified.empty()) r.continuation.kinds.front() = PrmTokenKind::label;
    r.base_tokens = s.verified.empty() ? prompt_tokens : s.verified.back().tokens;
    r.base_entries = s.verified.empty() ? 0 : s.verified.back().entries;
    if (r.base_tokens + r.continuation.tokens.size() >= size_t(engine->context_per_sequence())) {
      if (!s.verified.empty()) out[i] = score_reading(s.reading, surprise, aggregation);
      continue;  // too long for the verifier's context: its score stays that of what fit
    }
    if (s.verifier_seq == 0) {
      s.verifier_seq = engine->fork(verifier_root_, 1).front();
    } else {
      engine->truncate(s.verifier_seq, r.base_tokens);
    }
    engine->score(s.verifier_seq, r.continuation.tokens, {prm->good_token(), prm->bad_token()});
    busy.push_back(s.verifier_seq);
    reads.push_back(std::move(r));
  }
  if (!reads.empty()) {
    co_await Wait{this, [engine, &busy] {
                    return std::none_of(busy.begin(), busy.end(), [&](SeqId s) { return engine->busy(s); });
                  }};
  }
  for (Reading& r : reads) {
    Sample& s = sample(ids[r.index]);
    const ScoreResult& result = *engine->sequence(s.verifier_seq).score;
    PrmReading& reading = s.reading;
    reading.resize(r.base_entries);
    reading.logprobs.insert(reading.logprobs.end(), result.logprobs.begin(), result.logprobs.end());
    for (const auto& c : result.candidate_logprobs) {
      reading.good.push_back(c[0]);
      reading.bad.push_back(c[1]);
    }
    reading.kinds.insert(reading.kinds.end(), r.continuation.kinds.begin(), r.continuation.kinds.end());
    out[r.index] = score_reading(reading, surprise, aggregation);
    for (size_t k = 0; k < r.steps.size() && r.steps[k].complete; ++k) {
      const size_t end = r.continuation.step_ends[k];
      s.verified.push_back({r.steps[k].end, r.base_tokens + end, r.base_entries + end});
    }
    // Keep the steps read for good, and the verdict on the last one.
    const size_t keep = s.verified.empty() ? 0 : s.verified.back().entries + 1;
    reading.resize(keep);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    emit({.kind = EventKind::scored, .sample = ids[i], .scores = out[i].steps, .value = out[i].solution});
  }
  co_return out;
}

namespace {

// One verify_command call's solutions, scored by worker threads that take them in turn.
// Shared with the workers, so it outlives a question cancelled while they run.
struct CommandBatch {
  const CommandVerifier* verifier = nullptr;
  std::string question;
  std::vector<std::string> solutions;
  std::vector<StepScores> scores;
  std::vector<std::string> errors;  // per solution: why it failed ("" = scored)
  std::unique_ptr<std::atomic<bool>[]> done;
  std::atomic<size_t> next{0}, finished{0};
  std::atomic<bool> failed{false}, cancel{false};
  Runtime* runtime = nullptr;

  void work() {
    for (size_t i; (i = next.fetch_add(1)) < solutions.size() && !cancel.load();) {
      try {
        scores[i] = verifier->score(question, solutions[i], &cancel);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        failed.store(true);
      }
      done[i].store(true);
      finished.fetch_add(1);
      runtime->wake();
    }
  }
};

// The workers of a batch: stopped (their programs killed) and joined when the waiting
// coroutine ends, however it ends.
struct CommandWorkers {
  std::shared_ptr<CommandBatch> batch;
  std::vector<std::thread> threads;
  ~CommandWorkers() {
    batch->cancel.store(true);
    for (auto& t : threads) t.join();
  }
};

}  // namespace

Task<std::vector<StepScores>> QuestionRun::verify_command(std::vector<std::string> solutions,
                                                          std::vector<SampleId> samples) {
  const CommandVerifier* verifier = runtime_.command_verifier();
  if (!verifier) throw std::logic_error("verify: no verifier command is attached");
  std::vector<StepScores> out(solutions.size());
  if (!solutions.empty()) {
    auto batch = std::make_shared<CommandBatch>();
    batch->verifier = verifier;
    batch->question = question_;
    batch->solutions = std::move(solutions);
    batch->scores.resize(batch->solutions.size());
    batch->errors.resize(batch->solutions.size());
    batch->done = std::make_unique<std::atomic<bool>[]>(batch->solutions.size());
    batch->runtime = &runtime_;
    CommandWorkers workers{batch, {}};
    const size_t n = std::min(batch->solutions.size(), size_t(verifier->options().parallel));
    for (size_t k = 0; k < n; ++k) workers.threads.emplace_back([batch] { batch->work(); });
    // A named awaiter: GCC 12 destroys a temporary one twice (its std::function with it).
    Wait ended{this,
               [&batch = *batch] { return batch.failed.load() || batch.finished.load() == batch.solutions.size(); },
               true};
    co_await ended;
    if (batch->failed.load()) {
      // The first failure in solution order among those that ended (a run that failed
      // is the question's error whichever failure is named).
      for (size_t i = 0; i < batch->solutions.size(); ++i) {
        if (batch->done[i].load() && !batch->errors[i].empty()) throw std::runtime_error(batch->errors[i]);
      }
    }
    out = std::move(batch->scores);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const SampleId sample = i < samples.size() ? samples[i] : -1;
    emit({.kind = EventKind::scored, .sample = sample, .position = sample < 0 ? int(i) : 0, .scores = out[i].steps,
          .value = out[i].solution});
  }
  co_return out;
}

Task<std::vector<StepScores>> QuestionRun::verify_self(std::vector<std::string> solutions) {
  const SelfEvaluator* judge = runtime_.self_evaluator();
  if (!judge) throw std::logic_error("verify: self-evaluation is not attached");
  const SelfEvalSettings& settings = judge->settings();
  const std::vector<Token>& question_tokens = judge->judge_tokens();
  const std::vector<Token> candidates = {judge->yes_token(), judge->no_token()};
  // Each solution on a sequence of its own holding the prompt: a chunk of it (a step, or
  // all of it) and the judging question are read, the question dropped again, the next
  // chunk read, and so on; each sequence goes at its own pace and is freed once done.
  struct Job {
    std::vector<std::vector<Token>> chunks;
    size_t next = 0;
    SeqId seq = 0;
    size_t length = 0;  // the sequence's tokens without the question
    std::vector<double> verdicts;
    bool done = true;
  };
  std::vector<Job> jobs(solutions.size());
  for (size_t i = 0; i < solutions.size(); ++i) {
    Job& job = jobs[i];
    const std::string& text = solutions[i];
    size_t total = 0;
    auto add_chunk = [&](const std::string& chunk_text) {
      std::vector<Token> chunk = engine_.model().tokenize(chunk_text, false);
      total += chunk.size();
      if (!chunk.empty()) job.chunks.push_back(std::move(chunk));
    };
    if (settings.per_step) {
      size_t from = 0;
      for (const TextStep& step : split_steps_from(text, 0, settings.step_delimiter)) {
        add_chunk(text.substr(from, step.end - from));
        from = step.end;
      }
    } else if (text.find_first_not_of(" \t\r\n") != std::string::npos) {
      add_chunk(text);
    }
    // Too long for the context: no verdict, as the PRM gives none to what does not fit.
    if (job.chunks.empty() || prompt_.size() + total + question_tokens.size() > size_t(engine_.context_per_sequence())) {
      job.chunks.clear();
      continue;
    }
    job.done = false;
  }
  auto read_next = [&](Job& job) {
    std::vector<Token> tokens = job.chunks[job.next];
    tokens.insert(tokens.end(), question_tokens.begin(), question_tokens.end());
    engine_.score(job.seq, std::move(tokens), candidates);
  };
  for (Job& job : jobs) {
    if (job.done) continue;
    job.seq = prompt_sequences(1).front();
    judge_scratch_.push_back(job.seq);
    job.length = prompt_.size();
    read_next(job);
  }
  Wait judged{this, [&] {
                  bool all_done = true;
                  for (Job& job : jobs) {
                    if (job.done) continue;
                    if (engine_.busy(job.seq)) {
                      all_done = false;
                      continue;
                    }
                    const auto& c = engine_.sequence(job.seq).score->candidate_logprobs.back();
                    job.verdicts.push_back(SelfEvaluator::verdict(c[0], c[1]));
                    job.length += job.chunks[job.next].size();
                    engine_.truncate(job.seq, job.length);
                    if (++job.next < job.chunks.size()) {
                      read_next(job);
                      all_done = false;
                      continue;
                    }
                    engine_.free(job.seq);
                    std::erase(judge_scratch_, job.seq);
                    job.done = true;
                  }
                  return all_done;
                }};
  co_await judged;
  std::vector<StepScores> out(solutions.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    out[i].steps = std::move(jobs[i].verdicts);
    out[i].solution = judge->aggregate(out[i].steps);
    emit({.kind = EventKind::scored, .sample = -1, .position = int(i), .scores = out[i].steps, .value = out[i].solution});
  }
  co_return out;
}

StepScores QuestionRun::self_scores(const Sample& s) const {
  StepScores out;
  for (const auto& j : s.judged) out.steps.push_back(j.second);
  out.solution = runtime_.self_evaluator()->aggregate(out.steps);
  return out;
}

Task<std::vector<StepScores>> QuestionRun::verify_samples_self(std::vector<SampleId> ids) {
  const SelfEvaluator* judge = runtime_.self_evaluator();
  if (!judge) throw std::logic_error("verify_samples: self-evaluation is not attached");
  if (!runtime_.options().reuse_prefixes) {
    std::vector<std::string> texts;
    for (SampleId id : ids) texts.push_back(text(id));
    co_return co_await verify_self(std::move(texts));
  }
  const std::vector<Token>& question_tokens = judge->judge_tokens();
  const std::vector<Token> candidates = {judge->yes_token(), judge->no_token()};
  // The question is read right after the sample's own tokens and dropped again. After an
  // end-of-generation token it would read as a new text: that token is dropped first and
  // read again afterwards, so the sample ends as it was.
  struct Job {
    size_t index;
    SeqId seq;
    size_t length;  // the prompt and the sample's tokens
    bool after_end;
    int phase = 0;  // 0: judging, 1: re-reading its last token, 2: done
    double verdict = 0.0;
  };
  std::vector<Job> jobs;
  for (size_t i = 0; i < ids.size(); ++i) {
    require_idle(ids[i], "verify_samples");
    const Sample& s = sample(ids[i]);
    const bool judged = !s.judged.empty() && s.judged.back().first == s.text.size();
    const bool blank = s.text.find_first_not_of(" \t\r\n") == std::string::npos;
    const size_t length = prompt_.size() + s.records.size();
    if (judged || blank || length + question_tokens.size() > size_t(engine_.context_per_sequence())) continue;
    const bool after_end = !s.records.empty() && engine_.model().is_end_of_generation(s.records.back().token);
    if (after_end) engine_.truncate(s.seq, length - 1);
    engine_.score(s.seq, question_tokens, candidates);
    jobs.push_back({i, s.seq, length, after_end});
  }
  if (!jobs.empty()) {
    Wait judged{this, [&] {
                    bool all_done = true;
                    for (Job& job : jobs) {
                      if (job.phase == 2) continue;
                      if (engine_.busy(job.seq)) {
                        all_done = false;
                        continue;
                      }
                      if (job.phase == 0) {
                        const auto& c = engine_.sequence(job.seq).score->candidate_logprobs.back();
                        job.verdict = SelfEvaluator::verdict(c[0], c[1]);
                        engine_.truncate(job.seq, job.after_end ? job.length - 1 : job.length);
                        if (job.after_end) {
                          const Sample& s = sample(ids[job.index]);
                          engine_.score(job.seq, {s.records.back().token});
                          job.phase = 1;
                          all_done = false;
                          continue;
                        }
                      }
                      job.phase = 2;
                    }
                    return all_done;
                  }};
    co_await judged;
  }
  for (const Job& job : jobs) {
    Sample& s = sample(ids[job.index]);
    if (!judge->settings().per_step) s.judged.clear();
    s.judged.emplace_back(s.text.size(), job.verdict);
  }
  std::vector<StepScores> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    out.push_back(self_scores(sample(ids[i])));
    emit({.kind = EventKind::scored, .sample = ids[i], .scores = out[i].steps, .value = out[i].solution});
  }
  co_return out;
}

void QuestionRun::cut_verifier_view(Sample& s, size_t bytes) {
  if (s.verifier_seq == 0) return;
  while (!s.verified.empty() && s.verified.back().text_end > bytes) s.verified.pop_back();
  if (s.verified.empty()) {
    release_verifier_view(s);
    return;
  }
  runtime_.verifier_engine()->truncate(s.verifier_seq, s.verified.back().tokens);
  const size_t keep = s.verified.back().entries + 1;
  s.reading.resize(keep);
}

void QuestionRun::release_verifier_view(Sample& s) {
  Engine* verifier = runtime_.verifier_engine();
  if (s.verifier_seq != 0 && verifier && verifier->contains(s.verifier_seq)) verifier->free(s.verifier_seq);
  s.verifier_seq = 0;
  s.verified.clear();
  s.reading = {};
}

void QuestionRun::reread_prefix(SampleId id) {
  Sample& s = sample(id);
  const SeqId fresh = engine_.add_sequence(request_, with_prompt(prompt_, s.records));
  engine_.free(s.seq);
  s.seq = fresh;
  s.fresh = true;
}

void QuestionRun::generate_remote(SampleId id, const GenerationOptions& generation, std::optional<uint64_t> seed) {
  Sample& s = sample(id);
  RemoteRequest request;
  request.prompt = with_prompt(prompt_, s.records);
  request.sampling = generation.sampling;
  request.sampling.seed = seed.value_or(generation.sampling.seed + uint64_t(id));
  request.stop = generation.stop;
  // Within the model's context, as the local engine would stop (vLLM and ponder serve
  // refuse a request asking past it).
  const int room = engine_.model().n_ctx_train() - int(request.prompt.size()) - 1;
  if (room < 1) {
    throw std::invalid_argument("the prompt's " + std::to_string(request.prompt.size()) + " tokens fill the model's " +
                                std::to_string(engine_.model().n_ctx_train()) + "-token context");
  }
  request.stop.max_tokens = std::min(request.stop.max_tokens, room);
  if (generation.stop.thinking.enabled()) {
    throw std::invalid_argument("a thinking budget needs the local engine: the remote backend cannot close a thinking block");
  }
  s.base_records = s.records.size();
  s.base_text = s.text;
  s.mode = Sample::Mode::generating;
  s.finish = FinishReason::none;
  submit_remote(s, std::move(request));
}

RemoteRequest QuestionRun::remote_scoring(const Sample& s, const std::vector<Token>& tokens) const {
  RemoteRequest request;
  request.prompt = with_prompt(prompt_, s.records);
  request.score_from = int(request.prompt.size());
  request.prompt.insert(request.prompt.end(), tokens.begin(), tokens.end());
  if (int(request.prompt.size()) > engine_.model().n_ctx_train()) {
    throw std::invalid_argument("score: " + std::to_string(request.prompt.size()) + " tokens are past the model's " +
                                std::to_string(engine_.model().n_ctx_train()) + "-token context");
  }
  return request;
}

void QuestionRun::submit_remote(Sample& s, RemoteRequest request) {
  if (s.remote) count_remote(s);
  s.remote = runtime_.remote()->submit(std::move(request), [news = remote_news_, waker = runtime_.waker_] {
    news->fetch_add(1);
    waker->wake();
  });
  s.remote_attempt = 0;
}

void QuestionRun::read_remote(SampleId id, bool finish) {
  Sample& s = samples_[size_t(id)];
  if (!s.remote || s.mode == Sample::Mode::idle) return;
  if (s.mode != Sample::Mode::generating) {
    // Scoring or extending: the logprobs come all at once.
    if (!finish || !s.remote->done()) return;
    RemoteSample::Update u = s.remote->read(0, s.remote_attempt);
    if (!u.error.empty()) throw std::runtime_error(u.error);
    ScoreResult scored;
    for (const auto& r : u.records) scored.logprobs.push_back(r.logprob);
    if (s.mode == Sample::Mode::scoring) {
      s.score = std::move(scored);
    } else {
      const size_t first = s.records.size() - std::min(s.records.size(), scored.logprobs.size());
      for (size_t k = 0; k < scored.logprobs.size() && first + k < s.records.size(); ++k) {
        s.records[first + k].logprob = scored.logprobs[k];
      }
    }
    s.mode = Sample::Mode::idle;
    return;
  }
  const size_t have = s.records.size() - s.base_records;
  RemoteSample::Update u = s.remote->read(have, s.remote_attempt);
  if (u.restarted) {
    // Retried on another endpoint: it starts again (same seed), as if it had just begun.
    s.records.resize(s.base_records);
    s.reported_lines_end = std::min(s.reported_lines_end, s.base_records);
  }
  for (auto& r : u.records) s.records.push_back(std::move(r));
  s.text = s.base_text + u.text;
  if (s.reported_lines_end < s.base_records) s.reported_lines_end = s.base_records;
  if (!finish || !u.done) return;
  if (!u.error.empty()) throw std::runtime_error(u.error);
  tree_tokens_ += int64_t(s.records.size() - s.base_records);
  s.finish = u.finish;
  s.mode = Sample::Mode::idle;
}

void QuestionRun::count_remote(Sample& s) {
  if (!s.remote) return;
  remote_cost_.prompt_tokens += s.remote->prompt_tokens();
  remote_cost_.generated_tokens += s.remote->generated_tokens();
  remote_cost_.decoded_tokens += s.remote->prompt_tokens() + s.remote->generated_tokens();
}

void QuestionRun::Wait::await_suspend(std::coroutine_handle<> h) {
  run->waiting_for_ = std::move(ready);
  run->external_wait_ = external;
  run->waiter_ = h;
}

QuestionRun::Wait QuestionRun::all(std::vector<SampleId> ids) {
  return {this, [this, ids = std::move(ids)] {
            return std::none_of(ids.begin(), ids.end(), [&](SampleId s) { return busy(s); });
          }};
}

QuestionRun::Wait QuestionRun::any(std::vector<SampleId> ids) {
  return {this, [this, ids = std::move(ids)] {
            for (SampleId s : ids) {
              if (!busy(s)) {
                woken_by_ = s;
                return true;
              }
            }
            return false;
          }};
}

QuestionRun::Wait QuestionRun::next_step() {
  // A remote backend has no steps: the next news from the servers is the next step, or
  // now when none of the question's samples is streaming (no news would come).
  if (remote()) {
    return {this, [this, news = remote_news_->load()]() {
              return remote_news_->load() != news ||
                     std::none_of(samples_.begin(), samples_.end(), [](const Sample& s) {
                       return !s.freed && s.remote && s.mode != Sample::Mode::idle;
                     });
            }};
  }
  const int64_t& rounds = runtime_.rounds_[generator_];
  return {this, [&rounds, round = rounds]() { return rounds > round; }};
}

bool QuestionRun::try_resume() {
  after_step();
  if (large_) large_->after_step();
  // The strategy waits on one view at a time: this one, or the large model's.
  QuestionRun* waiting = waiter_ ? this : large_ && large_->waiter_ ? large_.get() : nullptr;
  if (!waiting || !waiting->waiting_for_()) return false;
  waiting->waiting_for_ = nullptr;
  std::exchange(waiting->waiter_, {}).resume();
  return true;
}

bool QuestionRun::waiting_externally() const {
  // Remote samples stream on the backend's threads, which wake the runtime.
  const bool streaming = remote() && std::any_of(samples_.begin(), samples_.end(), [](const Sample& s) {
                           return !s.freed && s.remote && s.mode != Sample::Mode::idle;
                         });
  return (waiter_ && (external_wait_ || streaming)) || (large_ && large_->waiting_externally());
}

Cost QuestionRun::finish_run() {
  Cost large_verifier;
  if (large_) {
    // Its verifier tokens are counted with this view's, once.
    Cost large = large_->finish_run();
    large_verifier = large_->verifier_cost();
    large.verifier_tokens = 0;
    large_cost_ = large;
    large_.reset();
  }
  for (size_t i = 0; i < samples_.size(); ++i) release(SampleId(i));
  for (SeqId s : judge_scratch_) {
    if (engine_.contains(s)) engine_.free(s);
  }
  judge_scratch_.clear();
  if (root_ != 0 && engine_.contains(root_)) engine_.free(root_);
  root_ = 0;
  Cost cost;
  if (request_ != 0) {
    cost = engine_.end_request(request_);
    if (remote()) {
      cost += remote_cost_;
      cost.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - created_).count();
    }
    cost.tree_tokens = tree_tokens_;
    cost += probe_cost_;
    request_ = 0;
  }
  if (Engine* verifier = runtime_.verifier_engine(); verifier && verifier_request_ != 0) {
    for (SeqId s : scratch_) {
      if (verifier->contains(s)) verifier->free(s);
    }
    scratch_.clear();
    if (verifier_root_ != 0 && verifier->contains(verifier_root_)) verifier->free(verifier_root_);
    verifier_root_ = 0;
    const Cost v = verifier->end_request(verifier_request_);
    verifier_request_ = 0;
    cost.verifier_tokens += v.prompt_tokens + v.scored_tokens;
    verifier_cost_ += v;
  }
  cost.verifier_tokens += large_verifier.prompt_tokens + large_verifier.scored_tokens;
  verifier_cost_ += large_verifier;
  return cost;
}

}  // namespace ponder
