#include "ponder/engine.h"

#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <llama.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

#include <algorithm>
#include <chrono>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "engine/draft_model.h"
#include "engine/drafting.h"
#include "engine/llama_glue.h"
#include "engine/thinking.h"

namespace ponder {

namespace {

using Clock = std::chrono::steady_clock;

enum class TokenKind : uint8_t { context, generated, scored };

void require(bool ok, const char* field, const std::string& allowed) {
  if (!ok) throw std::invalid_argument(std::string("EngineOptions.") + field + ": must be " + allowed);
}

struct KvCacheTypeInfo {
  KvCacheType type;
  const char* name;
  ggml_type ggml;
};
constexpr KvCacheTypeInfo kKvCacheTypes[] = {
    {KvCacheType::f32, "f32", GGML_TYPE_F32},       {KvCacheType::f16, "f16", GGML_TYPE_F16},
    {KvCacheType::bf16, "bf16", GGML_TYPE_BF16},    {KvCacheType::q8_0, "q8_0", GGML_TYPE_Q8_0},
    {KvCacheType::q4_0, "q4_0", GGML_TYPE_Q4_0},    {KvCacheType::q4_1, "q4_1", GGML_TYPE_Q4_1},
    {KvCacheType::iq4_nl, "iq4_nl", GGML_TYPE_IQ4_NL}, {KvCacheType::q5_0, "q5_0", GGML_TYPE_Q5_0},
    {KvCacheType::q5_1, "q5_1", GGML_TYPE_Q5_1},
};

const KvCacheTypeInfo& info(KvCacheType type) {
  for (const auto& t : kKvCacheTypes) {
    if (t.type == type) return t;
  }
  throw std::invalid_argument("unknown KV cache type " + std::to_string(int(type)));
}

// The model's key or value width per attention head: GGUF's <arch>.attention.key_length
// (value_length), else the embedding width over the heads, as llama.cpp reads it.
int64_t head_size(const Model& model, const char* which) {
  char arch[64] = {};
  char value[32] = {};
  if (llama_model_meta_val_str(model.raw(), "general.architecture", arch, sizeof(arch)) > 0) {
    const std::string key = std::string(arch) + ".attention." + which;
    if (llama_model_meta_val_str(model.raw(), key.c_str(), value, sizeof(value)) > 0) {
      char* end = nullptr;
      const long long n = std::strtoll(value, &end, 10);
      if (end != value && *end == '\0' && n > 0) return n;
    }
  }
  return std::max(1, llama_model_n_embd(model.raw())) / std::max(1, llama_model_n_head(model.raw()));
}

// A quantized cache type stores a head's keys or values in blocks: its width must be a
// multiple of the block (llama.cpp would refuse the context, or abort building its graph).
void check_head_fits(const Model& model, KvCacheType type, const char* which, const char* field) {
  if (!is_quantized(type)) return;
  const int64_t block = ggml_blck_size(info(type).ggml);
  const int64_t width = head_size(model, which);
  if (width % block != 0) {
    throw std::invalid_argument(std::string("EngineOptions.") + field + ": " + kv_cache_type_name(type) +
                                " stores blocks of " + std::to_string(block) + " values, which do not divide " +
                                model.path() + "'s head size of " + std::to_string(width) +
                                "; use f32, f16 or bf16");
  }
}

}  // namespace

ggml_type kv_cache_ggml_type(KvCacheType type) { return info(type).ggml; }

ggml_threadpool* attach_threadpool(llama_context* ctx, int threads) {
  ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
  ggml_threadpool* pool = ggml_threadpool_new(&pool_params);
  if (pool == nullptr) {
    llama_free(ctx);
    throw std::runtime_error("cannot start a ggml threadpool of " + std::to_string(threads) + " threads");
  }
  llama_attach_threadpool(ctx, pool, pool);
  return pool;
}

const char* kv_cache_type_name(KvCacheType type) { return info(type).name; }

std::string kv_cache_type_names() {
  std::string names;
  for (const auto& t : kKvCacheTypes) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

KvCacheType parse_kv_cache_type(std::string_view name) {
  for (const auto& t : kKvCacheTypes) {
    if (name == t.name) return t.type;
  }
  throw std::invalid_argument("unknown KV cache type '" + std::string(name) + "' (known: " + kv_cache_type_names() +
                              ")");
}

bool is_quantized(KvCacheType type) { return ggml_is_quantized(info(type).ggml); }

struct Engine::BatchItem {
  Live* seq;
  int first;        // index in seq->tokens of the first token decoded
  int count;        // tokens decoded
  int logits_from;  // tokens at index >= this get logits
  int batch_pos;    // index in the llama_batch of the first token
};

struct Engine::Live : Sequence {
  int slot = -1;              // llama seq id, -1 while waiting
  SeqId fork_source = 0;      // waiting fork: the sequence whose cache it will copy
  int fork_prefix = 0;        // waiting fork: how many of the source's tokens it shares
  int pending_forks = 0;      // waiting forks that will copy this sequence's cache
  bool free_requested = false;
  bool cached = false;      // freed, kept by the prompt cache
  bool from_cache = false;  // waiting to copy a cached prompt's KV (a fork of it)
  std::vector<TokenKind> kinds;  // parallel to tokens
  std::optional<Sampler> sampler;
  StopParams stop;
  std::optional<ThinkingTracker> thinking;  // with a thinking budget: where its blocks are
  size_t score_start = 0;  // index of the first scored token
  std::vector<Token> candidates;
  ScoreResult partial;
  // Speculation.
  std::vector<Token> draft;                    // this step's draft, decoded behind the last token
  std::vector<std::vector<float>> draft_q;     // the draft model's q at each draft position, when sampling
  std::optional<Sampler> draft_sampler;        // the draft model's draws when sampling
  int draft_slot = -1;                         // the draft model's slot, -1 without one
  int draft_n_in_kv = 0;                       // tokens of this sequence in the draft model's cache
  size_t trie_added = 0;                       // lookahead: tokens whose n-grams are in the request's trie
  // A lookahead tree (empty for a path, where draft token i follows i - 1): per draft
  // token, its parent (-1: the last token), its depth below the last token, and its llama
  // seq ids (the sequence's slot first when the token is on the slot's own branch).
  std::vector<int> draft_parent, draft_depth;
  std::vector<std::vector<int>> draft_seq_ids;
  std::vector<int> branch_slots;  // seq ids lent to the tree's other branches for this step
  AcceptanceStats acceptance;

  int pending() const { return int(tokens.size()) - n_in_kv; }
};

// One llama_batch, allocated once for the engine's lifetime.
struct Engine::Batch {
  llama_batch batch;
  Batch(int capacity, int seq_ids_per_token) : batch(llama_batch_init(capacity, 0, seq_ids_per_token)) {}
  ~Batch() { llama_batch_free(batch); }
};

struct Engine::Request {
  Cost cost;
  Clock::time_point start = Clock::now();
  Clock::time_point last = start;
  int64_t last_step = -1;
};

Cost& Cost::operator+=(const Cost& o) {
  prompt_tokens += o.prompt_tokens;
  cached_tokens += o.cached_tokens;
  generated_tokens += o.generated_tokens;
  scored_tokens += o.scored_tokens;
  forward_passes += o.forward_passes;
  decoded_tokens += o.decoded_tokens;
  tree_tokens += o.tree_tokens;
  wall_ms += o.wall_ms;
  verifier_tokens += o.verifier_tokens;
  return *this;
}

double ScoreResult::sum() const {
  double s = 0.0;
  for (float x : logprobs) s += x;
  return s;
}

double Sequence::mean_logprob() const {
  if (records.empty()) return 0.0;
  double s = 0.0;
  for (const auto& r : records) s += r.logprob;
  return s / double(records.size());
}

const char* kv_layout_name(KvLayout layout) {
  switch (layout) {
    case KvLayout::automatic: return "auto";
    case KvLayout::unified: return "unified";
    case KvLayout::split: return "split";
  }
  return "unknown";
}

std::string cpu_features() {
  std::string out;
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  auto get = cpu == nullptr ? nullptr
                            : reinterpret_cast<ggml_backend_get_features_t>(
                                  ggml_backend_reg_get_proc_address(cpu, "ggml_backend_get_features"));
  if (get == nullptr) return "unknown";
  for (const ggml_backend_feature* f = get(cpu); f->name != nullptr; ++f) {
    if (!out.empty()) out += ' ';
    out += f->name;
    if (std::string(f->value) != "1") out += std::string("=") + f->value;
  }
  return out;
}

int default_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

// One llama sequence is kept back as the spare for slot swaps.
int max_engine_sequences() { return int(llama_max_parallel_sequences()) - 1; }

void keep_freed_memory_in_heap() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
#endif
}

int max_engine_threads() {
  const int hardware = int(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(512, 4 * hardware);
}

void EngineOptions::validate() const {
  const int most = max_engine_sequences();
  require(max_sequences >= 1 && max_sequences <= most, "max_sequences", "in [1, " + std::to_string(most) + "]");
  require(context_per_sequence >= 0, "context_per_sequence", ">= 0 (0 = model default)");
  require(batch_tokens >= max_sequences, "batch_tokens", ">= max_sequences (one token per sequence per step)");
  require(threads >= 0 && threads <= max_engine_threads(), "threads",
          "in [0, " + std::to_string(max_engine_threads()) + "] (0 = default_threads())");
  info(kv_cache.k);
  info(kv_cache.v);
  require(!(is_quantized(kv_cache.v) && kv_layout == KvLayout::unified), "kv_cache.v",
          std::string("f32, f16 or bf16 with the unified layout, not ") + kv_cache_type_name(kv_cache.v) +
              " (a quantized V cache needs flash attention, which the unified layout keeps off; "
              "the split layout turns it on)");
  require(prompt_cache >= 0 && prompt_cache <= max_sequences, "prompt_cache",
          "in [0, max_sequences = " + std::to_string(max_sequences) + "] (0 = off)");
  speculative.validate();
}

Engine::Engine(std::shared_ptr<const Model> model, const EngineOptions& options)
    : model_(std::move(model)), options_(options) {
  options_.validate();
  check_head_fits(*model_, options_.kv_cache.k, "key_length", "kv_cache.k");
  check_head_fits(*model_, options_.kv_cache.v, "value_length", "kv_cache.v");
  const SpeculativeOptions& spec = options_.speculative;
  const bool draft_trees = spec.method == SpeculativeMethod::lookahead && spec.lookahead_branches > 1 &&
                           int(llama_max_parallel_sequences()) > options_.max_sequences;
  // Draft trees need the unified layout; otherwise split streams decode faster.
  if (options_.kv_layout == KvLayout::automatic) {
    layout_ = draft_trees ? KvLayout::unified : KvLayout::split;
  } else {
    layout_ = options_.kv_layout;
  }
  int per_seq = options_.context_per_sequence;
  if (per_seq == 0) per_seq = std::min(model_->n_ctx_train(), 4096);

  llama_context_params params = llama_context_default_params();
  // Split streams get one more, never assigned: the spare that lets pack_slots swap two.
  if (layout_ == KvLayout::split) spare_slot_ = options_.max_sequences;
  const int n_streams = options_.max_sequences + (layout_ == KvLayout::split ? 1 : 0);
  params.n_ctx = uint32_t(per_seq) * uint32_t(n_streams);
  params.n_batch = uint32_t(options_.batch_tokens);
  params.n_ubatch = uint32_t(options_.batch_tokens);
  // Draft trees borrow seq ids past the sequences' for their extra branches.
  int branch_ids = 0;
  if (draft_trees && layout_ == KvLayout::unified) {
    branch_ids = std::min(int(llama_max_parallel_sequences()) - n_streams,
                          options_.max_sequences * (spec.lookahead_branches - 1));
  }
  for (int id = n_streams; id < n_streams + branch_ids; ++id) free_branch_slots_.push_back(id);
  params.n_seq_max = uint32_t(n_streams + branch_ids);
  const int threads = options_.threads > 0 ? options_.threads : default_threads();
  params.n_threads = threads;
  params.n_threads_batch = threads;
  params.kv_unified = layout_ == KvLayout::unified;
  // Flash attention over a unified buffer rounds through f16 across all masked cells
  // (1e-2 logprob drift vs. decoding alone) and is not faster there; split keeps llama.cpp's
  // choice, and so do draft trees: without it a step of one sequence took 1.7x as long.
  if (layout_ == KvLayout::unified && !draft_trees) params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  params.type_k = kv_cache_ggml_type(options_.kv_cache.k);
  params.type_v = kv_cache_ggml_type(options_.kv_cache.v);
  // llama.cpp reads a quantized V cache only inside flash attention (validate() keeps the
  // unified layout, which turns it off, away from one).
  if (is_quantized(options_.kv_cache.v)) params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
  params.no_perf = true;
  take_llama_errors();
  ctx_ = llama_init_from_model(model_->raw(), params);
  if (ctx_ == nullptr) {
    const std::string why = take_llama_errors();
    throw std::runtime_error("cannot create a llama context for " + model_->path() + " with " +
                             std::to_string(params.n_ctx) + " KV cells (" + kv_cache_type_name(options_.kv_cache.k) +
                             " keys, " + kv_cache_type_name(options_.kv_cache.v) + " values): " +
                             (why.empty() ? "out of memory?" : why));
  }
  // The engine's own pool (with OpenMP, ggml runs the graph on OpenMP's threads instead).
  threadpool_ = attach_threadpool(ctx_, threads);
  own_threads_ = step_threads_ = threads;
  n_ctx_seq_ = std::min(per_seq, int(llama_n_ctx_seq(ctx_)));
  batch_ = std::make_unique<Batch>(options_.batch_tokens, branch_ids > 0 ? spec.lookahead_branches : 1);
  slot_owner_.assign(size_t(options_.max_sequences), nullptr);
  // A decode's fixed cost is taken as that of 16 tokens until the times of two batch sizes are seen.
  decode_cost_ = std::make_unique<DecodeCostModel>(16.0);
  drafting_check_ = std::make_unique<DraftingCheck>();
  if (options_.speculative.method == SpeculativeMethod::draft) {
    check_same_vocabulary(*model_, *options_.speculative.draft_model);
    draft_ = std::make_unique<DraftModel>(options_.speculative.draft_model, options_.max_sequences, n_ctx_seq_,
                                          options_.batch_tokens, threads);
  }
}

Engine::~Engine() {
  draft_.reset();
  llama_free(ctx_);
  ggml_threadpool_free(threadpool_);
  for (auto& [threads, pool] : lent_pools_) ggml_threadpool_free(pool);
}

void Engine::set_step_threads(int threads) {
  threads = std::clamp(threads, 1, max_engine_threads());
  if (threads == step_threads_) return;
  ggml_threadpool* pool = threadpool_;
  if (threads != own_threads_) {
    auto kept = std::find_if(lent_pools_.begin(), lent_pools_.end(), [&](const auto& p) { return p.first == threads; });
    if (kept != lent_pools_.end()) {
      pool = kept->second;
    } else {
      ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
      pool = ggml_threadpool_new(&pool_params);
      // Lent threads only speed it up: without them it goes on as it was.
      if (pool == nullptr) return;
      lent_pools_.emplace_back(threads, pool);
    }
  }
  llama_attach_threadpool(ctx_, pool, pool);
  llama_set_n_threads(ctx_, threads, threads);
  step_threads_ = threads;
}

RequestId Engine::begin_request() {
  RequestId id = next_request_id_++;
  requests_[id] = std::make_unique<Request>();
  return id;
}

Cost Engine::request_cost(RequestId request) const {
  auto it = requests_.find(request);
  if (it == requests_.end()) throw std::invalid_argument("unknown request " + std::to_string(request));
  Cost cost = it->second->cost;
  cost.wall_ms = std::chrono::duration<double, std::milli>(it->second->last - it->second->start).count();
  return cost;
}

Cost Engine::end_request(RequestId request) {
  Cost cost = request_cost(request);
  requests_.erase(request);
  tries_.erase(request);
  return cost;
}

void Engine::touch(RequestId request) {
  auto it = requests_.find(request);
  if (it == requests_.end()) return;
  Request& r = *it->second;
  if (r.last_step != stats_.steps) {
    r.last_step = stats_.steps;
    ++r.cost.forward_passes;
  }
  r.last = Clock::now();
}

Engine::Live& Engine::live(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || it->second->free_requested) {
    throw std::invalid_argument("unknown or freed sequence " + std::to_string(seq));
  }
  return *it->second;
}

const Engine::Live& Engine::live(SeqId seq) const { return const_cast<Engine*>(this)->live(seq); }

const Sequence& Engine::sequence(SeqId seq) const { return live(seq); }

bool Engine::busy(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it != seqs_.end() && !it->second->free_requested &&
         (it->second->slot < 0 || it->second->state != SeqState::ready);
}

bool Engine::contains(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it != seqs_.end() && !it->second->free_requested;
}

SeqId Engine::add_sequence(RequestId request, std::vector<Token> prompt) {
  if (!requests_.count(request)) throw std::invalid_argument("unknown request " + std::to_string(request));
  if (prompt.empty()) throw std::invalid_argument("add_sequence: the prompt is empty");
  if (int(prompt.size()) >= n_ctx_seq_) {
    throw std::invalid_argument("add_sequence: the prompt has " + std::to_string(prompt.size()) +
                                " tokens; the context per sequence is " + std::to_string(n_ctx_seq_));
  }
  const int32_t n_vocab = model_->n_vocab();
  for (Token t : prompt) {
    if (t < 0 || t >= n_vocab) throw std::invalid_argument("add_sequence: token " + std::to_string(t) + " is not in the vocabulary");
  }
  auto s = std::make_unique<Live>();
  s->id = next_seq_id_++;
  s->request = request;
  s->kinds.assign(prompt.size(), TokenKind::context);
  s->tokens = std::move(prompt);
  s->generation_start = s->tokens.size();
  int match = 0;
  if (Live* source = cached_prefix(s->tokens, match)) {
    // Waits like a fork of the kept prompt, taking its first `match` tokens' KV.
    s->fork_source = source->id;
    s->fork_prefix = match;
    s->from_cache = true;
    ++source->pending_forks;
    cached_.remove(source->id);
    cached_.push_back(source->id);
  }
  SeqId id = s->id;
  seqs_[id] = std::move(s);
  waiting_.push_back(id);
  return id;
}

Engine::Live* Engine::cached_prefix(const std::vector<Token>& prompt, int& match) {
  Live* best = nullptr;
  match = 0;
  // The prompt's last token stays out of the cache, so at most the rest is copied.
  const size_t most = prompt.size() - 1;
  for (SeqId id : cached_) {
    Live& c = *seqs_.at(id);
    const size_t n = std::min(most, size_t(c.n_in_kv));
    size_t k = 0;
    while (k < n && c.tokens[k] == prompt[k]) ++k;
    if (int(k) > match) {
      match = int(k);
      best = &c;
    }
  }
  return match >= kMinPromptCacheMatch ? best : nullptr;
}

bool Engine::keep_in_cache(Live& s) {
  if (options_.prompt_cache == 0 || s.slot < 0 || s.state != SeqState::ready || s.n_in_kv < kMinPromptCacheMatch) {
    return false;
  }
  for (int i = 0; i < s.n_in_kv; ++i) {
    if (s.kinds[size_t(i)] != TokenKind::context) return false;
  }
  auto holds_prefix_of = [](const Live& longer, const Live& shorter) {
    return shorter.n_in_kv <= longer.n_in_kv &&
           std::equal(shorter.tokens.begin(), shorter.tokens.begin() + shorter.n_in_kv, longer.tokens.begin());
  };
  // One entry per prefix: a kept prompt that already holds this one is enough, and one
  // that this one holds is no longer needed.
  for (SeqId id : cached_) {
    Live& c = *seqs_.at(id);
    if (holds_prefix_of(c, s)) {
      cached_.remove(id);
      cached_.push_back(id);
      return false;
    }
  }
  for (auto it = cached_.begin(); it != cached_.end();) {
    Live& c = *seqs_.at(*it);
    ++it;
    if (c.pending_forks == 0 && holds_prefix_of(s, c)) drop_cached(c);
  }
  if (int(cached_.size()) >= options_.prompt_cache) {
    auto lru = std::find_if(cached_.begin(), cached_.end(), [&](SeqId id) { return seqs_.at(id)->pending_forks == 0; });
    if (lru == cached_.end()) return false;
    ++stats_.prompt_cache_evictions;
    drop_cached(*seqs_.at(*lru));
  }
  s.free_requested = true;
  s.cached = true;
  s.request = 0;
  // The kept tokens: those in the cache, and one more as every sequence has (no prefill left).
  s.tokens.resize(size_t(s.n_in_kv) + 1);
  s.kinds.resize(s.tokens.size());
  trim_draft_cache(s);
  s.trie_added = 0;  // another request's trie
  s.records.clear();
  s.text.clear();
  cached_.push_back(s.id);
  return true;
}

void Engine::drop_cached(Live& c) {
  cached_.remove(c.id);
  c.cached = false;
  release(c);
}

int Engine::claim_slot() {
  const int slot = lowest_free_slot();
  if (slot >= 0) return slot;
  for (SeqId id : cached_) {
    Live& c = *seqs_.at(id);
    if (c.pending_forks > 0) continue;
    const int freed = c.slot;
    ++stats_.prompt_cache_evictions;
    drop_cached(c);
    return freed;
  }
  return -1;
}

std::vector<SeqId> Engine::fork(SeqId parent_id, int n) {
  Live& parent = live(parent_id);
  if (n < 1) throw std::invalid_argument("fork: n must be >= 1");
  if (parent.state != SeqState::ready) throw std::logic_error("fork: the sequence is still generating or scoring");
  std::vector<SeqId> children;
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<Live>();
    c->id = next_seq_id_++;
    c->request = parent.request;
    c->tokens = parent.tokens;
    c->kinds = parent.kinds;
    c->generation_start = c->tokens.size();
    c->fork_source = parent_id;
    c->fork_prefix = int(parent.tokens.size()) - 1;
    children.push_back(c->id);
    waiting_.push_back(c->id);
    seqs_[c->id] = std::move(c);
  }
  parent.pending_forks += n;
  return children;
}

void Engine::generate(SeqId id, const SamplingParams& sampling, const StopParams& stop) {
  Live& s = live(id);
  if (s.state != SeqState::ready) throw std::logic_error("generate: the sequence is already generating or scoring");
  stop.validate();
  s.sampler.emplace(sampling);
  s.draft_sampler.reset();
  s.stop = stop;
  s.thinking.reset();
  if (stop.thinking.enabled()) {
    // The tokens so far say whether the sequence is inside a block and how far in.
    const auto tokens = [&](const std::string& text) { return model_->tokenize(text, false, true); };
    s.thinking.emplace(tokens(stop.thinking.start), tokens(stop.thinking.end), tokens(stop.thinking.close),
                       stop.thinking.tokens);
    for (size_t i = 0; i < s.tokens.size(); ++i) s.thinking->observe(s.tokens[i], s.kinds[i] == TokenKind::generated);
  }
  s.generation_start = s.tokens.size();
  s.records.clear();
  s.text.clear();
  s.finish = FinishReason::none;
  if (int(s.tokens.size()) >= n_ctx_seq_) {
    s.finish = FinishReason::context_full;
    return;
  }
  s.state = SeqState::generating;
}

void Engine::score(SeqId id, std::vector<Token> continuation, std::vector<Token> candidates) {
  Live& s = live(id);
  if (s.state != SeqState::ready) throw std::logic_error("score: the sequence is generating or scoring");
  if (continuation.empty()) throw std::invalid_argument("score: nothing to score");
  if (s.tokens.size() + continuation.size() > size_t(n_ctx_seq_)) {
    throw std::invalid_argument("score: the sequence would exceed the context per sequence (" +
                                std::to_string(n_ctx_seq_) + " tokens)");
  }
  const int32_t n_vocab = model_->n_vocab();
  for (Token t : continuation) {
    if (t < 0 || t >= n_vocab) throw std::invalid_argument("score: token " + std::to_string(t) + " is not in the vocabulary");
  }
  for (Token t : candidates) {
    if (t < 0 || t >= n_vocab) throw std::invalid_argument("score: candidate " + std::to_string(t) + " is not in the vocabulary");
  }
  s.score_start = s.tokens.size();
  s.tokens.insert(s.tokens.end(), continuation.begin(), continuation.end());
  s.kinds.insert(s.kinds.end(), continuation.size(), TokenKind::scored);
  s.candidates = std::move(candidates);
  s.partial = ScoreResult{};
  s.score.reset();
  s.state = SeqState::scoring;
}

void Engine::truncate(SeqId id, size_t n_tokens) {
  Live& s = live(id);
  if (s.state != SeqState::ready) throw std::logic_error("truncate: the sequence is generating or scoring");
  if (n_tokens < 1 || n_tokens > s.tokens.size()) {
    throw std::invalid_argument("truncate: n_tokens must be in [1, " + std::to_string(s.tokens.size()) + "]");
  }
  if (s.pending_forks > 0) throw std::logic_error("truncate: forks of this sequence are still waiting for its cache");
  if (n_tokens == s.tokens.size()) return;
  if (!model_->supports_rollback()) {
    throw std::logic_error("truncate: " + model_->path() + " is recurrent or hybrid and cannot roll back");
  }
  const int keep_in_kv = std::min(s.n_in_kv, int(n_tokens) - 1);
  if (s.slot >= 0 && keep_in_kv < s.n_in_kv) {
    if (!llama_memory_seq_rm(llama_get_memory(ctx_), s.slot, keep_in_kv, -1)) {
      throw std::runtime_error("truncate: llama.cpp could not remove the tail of the sequence");
    }
  }
  s.n_in_kv = keep_in_kv;
  s.fork_prefix = std::min(s.fork_prefix, int(n_tokens) - 1);  // a waiting fork takes less
  s.tokens.resize(n_tokens);
  s.kinds.resize(n_tokens);
  trim_draft_cache(s);
  s.trie_added = std::min(s.trie_added, n_tokens);
  if (n_tokens < s.generation_start) {
    s.generation_start = n_tokens;
    s.records.clear();
    s.text.clear();
  } else if (s.records.size() > n_tokens - s.generation_start) {
    s.records.resize(n_tokens - s.generation_start);
    std::vector<Token> kept(s.tokens.begin() + long(s.generation_start), s.tokens.end());
    s.text = model_->detokenize(kept);
  }
}

void Engine::cancel(SeqId id) {
  Live& s = live(id);
  if (s.state == SeqState::generating) finish_generation(s, FinishReason::cancelled);
}

void Engine::free(SeqId id) {
  Live& s = live(id);
  if (keep_in_cache(s)) return;
  release(s);
}

void Engine::release(Live& s) {
  if (s.pending_forks > 0) {
    s.free_requested = true;  // its waiting forks still need its cache
    s.state = SeqState::ready;
    return;
  }
  if (s.draft_slot >= 0) draft_->release(s.draft_slot);
  if (s.slot >= 0) {
    llama_memory_seq_rm(llama_get_memory(ctx_), s.slot, -1, -1);
    slot_owner_[size_t(s.slot)] = nullptr;
  } else {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), s.id), waiting_.end());
  }
  const SeqId source = s.fork_source;
  seqs_.erase(s.id);
  if (source != 0) {
    auto it = seqs_.find(source);
    if (it != seqs_.end()) {
      Live& src = *it->second;
      if (--src.pending_forks == 0 && src.free_requested && !src.cached && !keep_in_cache(src)) release(src);
    }
  }
}

void Engine::admit_waiting() {
  llama_memory_t mem = llama_get_memory(ctx_);
  for (size_t i = 0; i < waiting_.size();) {
    Live& s = *seqs_.at(waiting_[i]);
    if (s.fork_source == 0) {
      const int slot = claim_slot();
      if (slot < 0) break;
      assign_slot(s, slot);
    } else {
      Live& src = *seqs_.at(s.fork_source);
      // Work queued on the fork before it got a slot (a score, a truncate) changed its
      // tokens, not what it takes from the source.
      if (src.slot < 0 || src.n_in_kv < s.fork_prefix) {
        ++i;  // its source is not prefilled yet
        continue;
      }
      const int prefix = s.fork_prefix;
      const bool last_fork_of_freed = src.free_requested && src.pending_forks == 1;
      // A prompt freed before it had its slot is kept now, if the cache takes it.
      if (last_fork_of_freed && !src.cached) keep_in_cache(src);
      // A kept prompt stays kept unless its slot is the only one left.
      const int slot = last_fork_of_freed && !src.cached ? -1 : claim_slot();
      if (slot < 0 && !last_fork_of_freed) {
        ++i;
        continue;
      }
      if (slot < 0) {
        // The last fork of a freed sequence takes over its slot: no copy.
        if (src.cached) {
          cached_.remove(src.id);
          src.cached = false;
        }
        assign_slot(s, src.slot);
        src.slot = -1;
        if (src.n_in_kv > prefix) llama_memory_seq_rm(mem, s.slot, prefix, -1);
        s.draft_slot = src.draft_slot;
        src.draft_slot = -1;
        s.draft_n_in_kv = src.draft_n_in_kv;
      } else {
        assign_slot(s, slot);
        // A full copy (split streams only copy whole), then drop what the fork lacks.
        llama_memory_seq_cp(mem, src.slot, s.slot, -1, -1);
        if (src.n_in_kv > prefix) llama_memory_seq_rm(mem, s.slot, prefix, -1);
        // The draft model's cache follows: the fork shares its source's draft prefix.
        if (src.draft_slot >= 0 && src.draft_n_in_kv > 0 && (s.draft_slot = draft_->acquire()) >= 0) {
          s.draft_n_in_kv = std::min(src.draft_n_in_kv, prefix);
          draft_->copy(src.draft_slot, s.draft_slot, s.draft_n_in_kv);
        }
      }
      if (s.draft_slot >= 0 && s.draft_n_in_kv > prefix) {
        draft_->truncate(s.draft_slot, prefix);
        s.draft_n_in_kv = prefix;
      }
      s.acceptance = src.acceptance;
      s.trie_added = s.from_cache ? 0 : std::min(src.trie_added, size_t(prefix));
      s.n_in_kv = prefix;
      s.fork_source = 0;
      if (s.from_cache) {
        s.from_cache = false;
        ++stats_.prompt_cache_hits;
        stats_.prompt_cache_tokens += prefix;
        if (auto r = requests_.find(s.request); r != requests_.end()) r->second->cost.cached_tokens += prefix;
      }
      if (--src.pending_forks == 0 && src.free_requested && !src.cached) release(src);
    }
    s.waiting = false;
    waiting_.erase(waiting_.begin() + long(i));
  }
}

int Engine::lowest_free_slot() const {
  for (size_t i = 0; i < slot_owner_.size(); ++i) {
    if (slot_owner_[i] == nullptr) return int(i);
  }
  return -1;
}

void Engine::assign_slot(Live& s, int slot) {
  slot_owner_[size_t(slot)] = &s;
  s.slot = slot;
}

void Engine::move_stream(int from, int to) {
  // Split streams copy whole; llama.cpp runs queued copies in order before the next
  // decode, so a move after a fork's copy from the same slot still hands it the data.
  llama_memory_t mem = llama_get_memory(ctx_);
  llama_memory_seq_cp(mem, from, to, -1, -1);
  llama_memory_seq_rm(mem, from, -1, -1);
}

void Engine::move_to_slot(Live& s, int slot) {
  if (s.n_in_kv > 0) move_stream(s.slot, slot);
  slot_owner_[size_t(s.slot)] = nullptr;
  assign_slot(s, slot);
  ++stats_.slot_moves;
}

void Engine::swap_slots(Live& a, Live& b) {
  const int slot_a = a.slot, slot_b = b.slot;
  if (a.n_in_kv > 0) move_stream(slot_a, spare_slot_);
  if (b.n_in_kv > 0) move_stream(slot_b, slot_a);
  if (a.n_in_kv > 0) move_stream(spare_slot_, slot_b);
  assign_slot(a, slot_b);
  assign_slot(b, slot_a);
  stats_.slot_moves += 2;
}

// llama.cpp decodes split streams in one pass only over consecutive slots: a batch whose
// sequences are scattered becomes one pass per run of slots, and each pass reads all the
// weights again. Moving a sequence copies its stream, far cheaper than a pass, so the
// batch's sequences are packed into slots [0, k) first.
void Engine::pack_slots(const std::vector<BatchItem>& items) {
  if (layout_ != KvLayout::split) return;
  const int k = int(items.size());
  std::vector<bool> in_batch(slot_owner_.size(), false);
  for (const BatchItem& item : items) in_batch[size_t(item.seq->slot)] = true;
  int target = 0;
  for (const BatchItem& item : items) {
    Live& s = *item.seq;
    if (s.slot < k) continue;
    while (in_batch[size_t(target)]) ++target;
    in_batch[size_t(s.slot)] = false;
    in_batch[size_t(target)] = true;
    Live* idle = slot_owner_[size_t(target)];
    if (idle == nullptr) {
      move_to_slot(s, target);
      continue;
    }
    int free_above = -1;  // where the idle sequence can go
    for (int i = int(slot_owner_.size()) - 1; i >= k && free_above < 0; --i) {
      if (slot_owner_[size_t(i)] == nullptr) free_above = i;
    }
    if (free_above >= 0) {
      move_to_slot(*idle, free_above);
      move_to_slot(s, target);
    } else {
      swap_slots(s, *idle);
    }
  }
}

std::vector<SeqId> Engine::step() {
  admit_waiting();

  // Decode latency first: generating sequences, then scoring, then prefill chunks.
  std::vector<BatchItem> items;
  int budget = options_.batch_tokens;
  int batch_pos = 0;
  auto add = [&](Live& s, int count, int logits_from) {
    items.push_back({&s, s.n_in_kv, count, logits_from, batch_pos});
    batch_pos += count;
    budget -= count;
  };
  std::vector<Live*> by_slot;
  for (auto& [id, s] : seqs_) {
    if (s->slot >= 0) by_slot.push_back(s.get());
  }
  std::sort(by_slot.begin(), by_slot.end(), [](const Live* a, const Live* b) { return a->slot < b->slot; });
  std::vector<Live*> generating;
  for (Live* s : by_slot) {
    if (s->state != SeqState::generating || budget <= 0) continue;
    const int count = std::min(s->pending(), budget);
    add(*s, count, int(s->tokens.size()) - 1);
    generating.push_back(s);
  }
  for (Live* s : by_slot) {
    if (s->state != SeqState::scoring || budget <= 0) continue;
    const int count = std::min(s->pending() - 1, budget);
    if (count > 0) add(*s, count, int(s->score_start) - 1);
  }
  for (Live* s : by_slot) {
    if (s->state != SeqState::ready || budget <= 0) continue;
    const int count = std::min(s->pending() - 1, budget);
    if (count > 0) add(*s, count, INT_MAX);
  }

  std::vector<SeqId> finished;
  if (items.empty()) return finished;
  // A step that only decodes one token of each generating sequence (no prompt being read):
  // what it yields per second is what DraftingCheck compares, drafts or not.
  const bool pure_decode = options_.speculative.enabled() && items.size() == generating.size() &&
                           std::all_of(items.begin(), items.end(), [](const BatchItem& i) { return i.count == 1; });
  const auto started = Clock::now();
  size_t records_before = 0;
  bool drafted = false;
  if (options_.speculative.enabled() && !generating.empty()) {
    for (const Live* s : generating) records_before += s->records.size();
    plan_drafts(generating, batch_pos, budget);
    for (BatchItem& item : items) {
      item.count += int(item.seq->draft.size());
      drafted = drafted || !item.seq->draft.empty();
    }
  }
  pack_slots(items);
  std::sort(items.begin(), items.end(), [](const BatchItem& a, const BatchItem& b) { return a.seq->slot < b.seq->slot; });
  run_batch(items, finished);
  if (pure_decode) {
    size_t records_after = 0;
    for (const Live* s : generating) records_after += s->records.size();
    drafting_check_->observe(int(generating.size()), drafted, int(records_after - records_before),
                             std::chrono::duration<double>(Clock::now() - started).count());
  }
  return finished;
}

void Engine::run_batch(std::vector<BatchItem>& items, std::vector<SeqId>& finished) {
  llama_batch& batch = batch_->batch;
  int n = 0;
  for (BatchItem& item : items) {
    item.batch_pos = n;
    const Live& s = *item.seq;
    const int n_tokens = int(s.tokens.size());
    for (int k = 0; k < item.count; ++k) {
      const int index = item.first + k;
      batch.logits[n] = index >= item.logits_from;
      batch.n_seq_id[n] = 1;
      batch.seq_id[n][0] = s.slot;
      if (index < n_tokens) {
        batch.token[n] = s.tokens[size_t(index)];
        batch.pos[n] = index;
        // A draft tree's branches all read the last token.
        if (index == n_tokens - 1) {
          for (int id : s.branch_slots) batch.seq_id[n][batch.n_seq_id[n]++] = id;
        }
      } else {
        const size_t j = size_t(index - n_tokens);
        batch.token[n] = s.draft[j];
        if (s.draft_parent.empty()) {
          batch.pos[n] = index;
        } else {
          batch.pos[n] = n_tokens - 1 + s.draft_depth[j];
          batch.n_seq_id[n] = int32_t(s.draft_seq_ids[j].size());
          for (size_t i = 0; i < s.draft_seq_ids[j].size(); ++i) batch.seq_id[n][i] = s.draft_seq_ids[j][i];
        }
      }
      ++n;
    }
  }
  batch.n_tokens = n;
  const auto t0 = Clock::now();
  const int32_t rc = llama_decode(ctx_, batch);

  if (rc == 0) {
    decode_cost_->observe(n, std::chrono::duration<double>(Clock::now() - t0).count());
    ++stats_.steps;
    stats_.decoded_tokens += n;
    after_decode(items, finished);
    return;
  }
  if (rc != 1) {
    throw std::runtime_error("llama_decode failed with status " + std::to_string(rc));
  }
  // No KV cell free for the whole batch (the cache state is unchanged): decode less,
  // drafts first.
  ++stats_.retried_batches;
  bool had_drafts = false;
  for (BatchItem& item : items) {
    const int drafted = int(item.seq->draft.size());
    if (drafted == 0) continue;
    had_drafts = true;
    item.count -= drafted;
    drop_draft(*item.seq);
  }
  if (had_drafts) {
    run_batch(items, finished);
    return;
  }
  if (items.size() > 1) {
    std::vector<BatchItem> first(items.begin(), items.begin() + long(items.size() / 2));
    std::vector<BatchItem> second(items.begin() + long(items.size() / 2), items.end());
    run_batch(first, finished);
    run_batch(second, finished);
    return;
  }
  BatchItem& item = items.front();
  if (item.count > 1) {
    std::vector<BatchItem> half{item};
    half.front().count = item.count / 2;
    run_batch(half, finished);
    return;
  }
  if (item.seq->state == SeqState::generating) {
    finish_generation(*item.seq, FinishReason::out_of_memory);
    finished.push_back(item.seq->id);
  } else {
    throw std::runtime_error("the KV cache is full: no cell left for a single token");
  }
}

void Engine::after_decode(const std::vector<BatchItem>& items, std::vector<SeqId>& finished) {
  for (const BatchItem& item : items) {
    Live& s = *item.seq;
    auto it = requests_.find(s.request);
    Cost* cost = it == requests_.end() ? nullptr : &it->second->cost;
    touch(s.request);
    if (cost) cost->decoded_tokens += item.count;
    const int drafted = int(s.draft.size());
    const int own = item.count - drafted;  // the sequence's tokens, drafts excluded
    for (int k = 0; k < own; ++k) {
      if (cost && s.kinds[size_t(item.first + k)] == TokenKind::context) ++cost->prompt_tokens;
    }
    s.n_in_kv = item.first + own;
    const int last = item.first + own - 1;

    if (s.state == SeqState::generating) {
      if (drafted > 0) {
        accept_draft(s, item.batch_pos + own - 1, finished);
      } else if (last == int(s.tokens.size()) - 1) {
        sample_next(s, item.batch_pos + own - 1, finished);
      }
    } else if (s.state == SeqState::scoring) {
      const int32_t n_vocab = model_->n_vocab();
      for (int index = std::max(item.first, item.logits_from); index <= last; ++index) {
        const float* logits = llama_get_logits_ith(ctx_, item.batch_pos + index - item.first);
        const LogitStats st = logit_stats({logits, size_t(n_vocab)});
        s.partial.logprobs.push_back(logits[s.tokens[size_t(index) + 1]] - st.log_sum_exp);
        std::vector<float> cand;
        for (Token c : s.candidates) cand.push_back(logits[c] - st.log_sum_exp);
        s.partial.candidate_logprobs.push_back(std::move(cand));
        if (cost) ++cost->scored_tokens;
      }
      if (s.n_in_kv == int(s.tokens.size()) - 1) {
        s.score = std::move(s.partial);
        s.partial = ScoreResult{};
        s.state = SeqState::ready;
        finished.push_back(s.id);
      }
    }
  }
}

void Engine::sample_next(Live& s, int batch_index, std::vector<SeqId>& finished) {
  const int32_t n_vocab = model_->n_vocab();
  const float* logits = llama_get_logits_ith(ctx_, batch_index);
  std::span<const float> row(logits, size_t(n_vocab));
  const LogitStats st = logit_stats(row);
  // A spent thinking budget writes the block's closing text instead of sampling.
  const std::optional<Token> forced = s.thinking ? s.thinking->forced() : std::nullopt;
  const Token token = forced ? *forced : s.sampler->sample(row, st);
  emit(s, token, row, st, finished);
}

void Engine::emit(Live& s, Token token, std::span<const float> row, const LogitStats& st,
                  std::vector<SeqId>& finished) {
  const int32_t n_vocab = model_->n_vocab();
  const float* logits = row.data();
  if (s.thinking) s.thinking->observe(token, true);

  TokenRecord record{token, logits[token] - st.log_sum_exp, st.entropy, {}};
  if (const int k = s.sampler->params().top_logprobs; k > 0) {
    std::vector<Token> idx(static_cast<size_t>(n_vocab));
    for (Token t = 0; t < n_vocab; ++t) idx[size_t(t)] = t;
    const int kk = std::min(k, n_vocab);
    std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(),
                      [&](Token a, Token b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (int j = 0; j < kk; ++j) record.top.push_back({idx[size_t(j)], logits[idx[size_t(j)]] - st.log_sum_exp});
  }
  s.records.push_back(std::move(record));
  s.tokens.push_back(token);
  s.kinds.push_back(TokenKind::generated);
  if (auto it = requests_.find(s.request); it != requests_.end()) ++it->second->cost.generated_tokens;

  const bool end = model_->is_end_of_generation(token) && !s.stop.ignore_eos;
  if (end) {
    finish_generation(s, FinishReason::eos);
  } else {
    const std::string piece = model_->token_piece(token);
    s.text += piece;
    for (const std::string& stop : s.stop.stop) {
      const size_t at = find_new_stop(s.text, piece.size(), stop);
      if (at != std::string::npos) {
        if (!s.stop.keep_stop) s.text.resize(at);
        finish_generation(s, FinishReason::stop_string);
        break;
      }
    }
  }
  if (s.state == SeqState::generating) {
    if (int(s.records.size()) >= s.stop.max_tokens) {
      finish_generation(s, FinishReason::max_tokens);
    } else if (int(s.tokens.size()) >= n_ctx_seq_) {
      finish_generation(s, FinishReason::context_full);
    }
  }
  if (s.state != SeqState::generating) finished.push_back(s.id);
}

void Engine::plan_drafts(const std::vector<Live*>& generating, int base_tokens, int budget) {
  const SpeculativeOptions& o = options_.speculative;
  struct Candidate {
    Live* seq;
    int most;                   // draft tokens it may take
    std::vector<Token> proposal;  // lookup, lookahead: the draft
    double rate;                // expected acceptance of each draft token
    int length = 0;
  };
  // Before a sequence has a record: the draft model agrees with the target more often
  // than a text repeats itself.
  const double prior = o.method == SpeculativeMethod::draft ? 0.6 : 0.4;
  std::vector<Candidate> candidates;
  for (Live* s : generating) drop_draft(*s);
  // Every lent seq id is back now: an engine with ids to lend drafts trees.
  const bool trees = !free_branch_slots_.empty();
  const int sequences = int(generating.size());
  if (o.adaptive && drafting_check_->resting(sequences)) return;
  for (Live* s : generating) {
    // Drafts go behind a sequence's last token only (no prefill left), and not where a
    // thinking budget may write its own tokens.
    if (s->pending() != 1 || s->thinking) continue;
    const int room = std::min({o.max_draft, s->stop.max_tokens - int(s->records.size()) - 1,
                               n_ctx_seq_ - int(s->tokens.size()) - 1});
    if (room <= 0) continue;
    Candidate c{s, room, {}, s->acceptance.rate(prior)};
    if (o.method == SpeculativeMethod::lookup) {
      c.proposal = lookup_draft(s->tokens, o.lookup_max_ngram, room);
    } else if (o.method == SpeculativeMethod::lookahead) {
      auto& trie = tries_[s->request];
      if (!trie) trie = std::make_unique<NgramTrie>(o.max_draft + 2, o.trie_max_nodes);
      trie->add(s->tokens, s->trie_added);
      s->trie_added = s->tokens.size();
      c.proposal = trie->draft(s->tokens, room);
    }
    if (o.method != SpeculativeMethod::draft) {
      if (c.proposal.empty()) continue;
      c.most = int(c.proposal.size());
    }
    candidates.push_back(std::move(c));
  }
  if (candidates.empty()) {
    drafting_check_->planned(sequences, false);
    return;
  }

  // Lengths for a cap of g tokens per sequence, within the batch's budget.
  auto assign = [&](int g) {
    int left = budget, total = 0;
    for (Candidate& c : candidates) {
      c.length = std::min({g, c.most, left});
      left -= c.length;
      total += c.length;
    }
    return total;
  };
  int best_cap = o.max_draft;
  if (o.adaptive) {
    const double plain = decode_cost_->predict(base_tokens);
    const double per_extra_token = decode_cost_->predict(base_tokens + 1) - plain;
    const bool with_model = draft_ != nullptr;
    // A sequence drafts its i-th token only when that token's chance of being kept pays
    // for the target time it adds (and the draft model's, per sequence and round).
    const double plain_per_token = plain / double(generating.size());
    const double draft_per_token = with_model ? draft_->cost().predict(2) - draft_->cost().predict(1) : 0.0;
    for (Candidate& c : candidates) {
      int worth = 0;
      double p = c.rate;
      while (worth < c.most && p * plain_per_token > per_extra_token + draft_per_token) {
        ++worth;
        p *= c.rate;
      }
      c.most = worth;
    }
    // Then the cap that maximises expected tokens per second for the whole batch; 0 (no
    // drafting) when nothing beats the plain step.
    double best_rate = double(generating.size()) / std::max(plain, 1e-12);
    best_cap = 0;
    for (int g = 1; g <= o.max_draft; ++g) {
      const int total = assign(g);
      if (total == 0) break;
      double tokens = double(generating.size() - candidates.size());
      double seconds = decode_cost_->predict(base_tokens + total);
      for (const Candidate& c : candidates) tokens += expected_tokens(c.rate, c.length);
      if (with_model) {
        for (int round = 0; round < g; ++round) {
          int drafting = 0;
          for (const Candidate& c : candidates) drafting += c.length > round ? 1 : 0;
          if (drafting > 0) seconds += draft_->cost().predict(drafting);
        }
      }
      if (tokens / std::max(seconds, 1e-12) > best_rate) {
        best_rate = tokens / std::max(seconds, 1e-12);
        best_cap = g;
      }
    }
    // Until the target's decode times are known, draft half the most to learn them.
    if (!decode_cost_->calibrated()) best_cap = std::max(1, o.max_draft / 2);
    // The model's estimate against what drafting has yielded by the clock.
    if (best_cap > 0 && drafting_check_->veto(sequences)) best_cap = 0;
  }
  const int total = assign(best_cap);
  drafting_check_->planned(sequences, total > 0);
  if (total == 0) return;

  if (!draft_) {
    for (Candidate& c : candidates) {
      if (trees && c.length > 0) {
        plant_draft_tree(*c.seq, *tries_[c.seq->request], c.length);
      } else {
        c.seq->draft.assign(c.proposal.begin(), c.proposal.begin() + c.length);
      }
      stats_.drafted_tokens += int64_t(c.seq->draft.size());
    }
    return;
  }
  std::vector<DraftModel::Job> jobs;
  for (Candidate& c : candidates) {
    Live& s = *c.seq;
    if (c.length == 0) continue;
    if (s.draft_slot < 0) {
      s.draft_slot = draft_->acquire();
      s.draft_n_in_kv = 0;
      if (s.draft_slot < 0) continue;
    }
    Sampler* sampler = nullptr;
    if (s.sampler->params().temperature > 0.0f) {
      if (!s.draft_sampler) {
        SamplingParams params = s.sampler->params();
        params.seed ^= 0x9e3779b97f4a7c15ULL;  // its own stream, apart from the target's
        s.draft_sampler.emplace(params);
      }
      sampler = &*s.draft_sampler;
    }
    jobs.push_back({s.draft_slot, s.tokens, &s.draft_n_in_kv, c.length, sampler, {}, {}});
  }
  draft_->draft(jobs);
  for (size_t j = 0, k = 0; j < candidates.size(); ++j) {
    Live& s = *candidates[j].seq;
    if (k >= jobs.size() || jobs[k].n_in_kv != &s.draft_n_in_kv) continue;
    s.draft = std::move(jobs[k].draft);
    s.draft_q = std::move(jobs[k].q);
    stats_.drafted_tokens += int64_t(s.draft.size());
    ++k;
  }
}

void Engine::accept_draft(Live& s, int batch_index, std::vector<SeqId>& finished) {
  const int32_t n_vocab = model_->n_vocab();
  const int n0 = int(s.tokens.size());
  const int drafted = int(s.draft.size());
  const bool stochastic = !s.draft_q.empty();
  const bool tree = !s.draft_parent.empty();
  // Draft token `node`'s children (-1: the last token's); a path's next token otherwise.
  auto children = [&](int node, std::vector<int>& out) {
    out.clear();
    if (!tree) {
      if (node + 1 < drafted) out.push_back(node + 1);
      return;
    }
    for (int j = node + 1; j < drafted; ++j) {
      if (s.draft_parent[size_t(j)] == node) out.push_back(j);
    }
  };
  std::vector<int> next_nodes, path;
  int at = -1;  // the draft token last kept; its logits give the next token
  for (;;) {
    std::span<const float> row(llama_get_logits_ith(ctx_, batch_index + at + 1), size_t(n_vocab));
    const LogitStats st = logit_stats(row);
    children(at, next_nodes);
    Token token;
    int kept = -1;
    if (next_nodes.empty()) {
      token = s.sampler->sample(row, st);  // the bonus token
    } else if (stochastic) {
      // Accept d with probability min(1, p(d) / q(d)); else draw from max(0, p - q).
      const int i = next_nodes.front();
      const Token d = s.draft[size_t(i)];
      const std::vector<float>& q = s.draft_q[size_t(i)];
      s.sampler->distribution(row, st, p_scratch_);
      if (s.sampler->uniform() * double(q[size_t(d)]) < double(p_scratch_[size_t(d)])) {
        token = d;
        kept = i;
      } else {
        residual_scratch_.resize(p_scratch_.size());
        double mass = 0.0;
        for (size_t t = 0; t < p_scratch_.size(); ++t) {
          residual_scratch_[t] = std::max(0.0f, p_scratch_[t] - q[t]);
          mass += residual_scratch_[t];
        }
        token = s.sampler->draw(mass > 0.0 ? residual_scratch_ : p_scratch_);
      }
    } else {
      // Point-mass drafts (or greedy): the target draws as it would alone, and the draft
      // token that is that draw (a tree's siblings differ) is kept.
      token = s.sampler->sample(row, st);
      for (int j : next_nodes) {
        if (s.draft[size_t(j)] == token) kept = j;
      }
    }
    emit(s, token, row, st, finished);
    if (kept < 0) break;
    path.push_back(kept);
    at = kept;
    if (s.state != SeqState::generating) break;
  }
  const int accepted = int(path.size());
  stats_.accepted_tokens += accepted;
  const int reach = tree ? *std::max_element(s.draft_depth.begin(), s.draft_depth.end()) : drafted;
  s.acceptance.record(reach, accepted);

  // The cache holds the last token and every draft token; keep the accepted ones that
  // precede the sequence's new last token. A tree's path off the slot's own branch is
  // copied to the slot from the branch that holds it.
  llama_memory_t mem = llama_get_memory(ctx_);
  s.n_in_kv = int(s.tokens.size()) - 1;
  const int kept_in_kv = s.n_in_kv - n0;
  const bool on_own_branch = kept_in_kv <= 0 || !tree || s.draft_seq_ids[size_t(path[size_t(kept_in_kv - 1)])].front() == s.slot;
  if (on_own_branch) {
    if (s.n_in_kv < n0 + reach && !llama_memory_seq_rm(mem, s.slot, s.n_in_kv, -1)) {
      throw std::runtime_error("speculative decoding: llama.cpp could not drop the rejected draft tokens");
    }
  } else {
    if (!llama_memory_seq_rm(mem, s.slot, n0, -1)) {
      throw std::runtime_error("speculative decoding: llama.cpp could not drop the rejected draft tokens");
    }
    llama_memory_seq_cp(mem, s.draft_seq_ids[size_t(path[size_t(kept_in_kv - 1)])].front(), s.slot, n0, s.n_in_kv);
    ++stats_.off_branch_accepts;
  }
  if (s.draft_slot >= 0 && s.draft_n_in_kv > n0 + accepted) {
    draft_->truncate(s.draft_slot, n0 + accepted);
    s.draft_n_in_kv = n0 + accepted;
  }
  trim_draft_cache(s);
  drop_draft(s);
}

void Engine::plant_draft_tree(Live& s, NgramTrie& trie, int length) {
  const int most_leaves = std::min(options_.speculative.lookahead_branches, 1 + int(free_branch_slots_.size()));
  NgramTrie::Tree tree = trie.draft_tree(s.tokens, length, most_leaves);
  const size_t n = tree.tokens.size();
  s.draft = std::move(tree.tokens);
  s.draft_parent = std::move(tree.parent);
  std::vector<int> first_child(n, -1);
  s.draft_depth.assign(n, 1);
  for (size_t j = 0; j < n; ++j) {
    const int parent = s.draft_parent[j];
    if (parent < 0) continue;
    s.draft_depth[j] = s.draft_depth[size_t(parent)] + 1;
    if (first_child[size_t(parent)] < 0) first_child[size_t(parent)] = int(j);
  }
  // The slot's own branch: node 0 and each one's first child, draft()'s path.
  s.draft_seq_ids.assign(n, {});
  for (int j = n > 0 ? 0 : -1; j >= 0; j = first_child[size_t(j)]) s.draft_seq_ids[size_t(j)].push_back(s.slot);
  // Every other leaf's branch gets a lent seq id, on the leaf and all its ancestors.
  for (size_t j = 0; j < n; ++j) {
    if (first_child[j] >= 0 || !s.draft_seq_ids[j].empty()) continue;
    const int id = free_branch_slots_.back();
    free_branch_slots_.pop_back();
    s.branch_slots.push_back(id);
    for (int k = int(j); k >= 0; k = s.draft_parent[size_t(k)]) s.draft_seq_ids[size_t(k)].push_back(id);
  }
  if (s.branch_slots.empty()) {
    // A single path: drafted as one.
    s.draft_parent.clear();
    s.draft_depth.clear();
    s.draft_seq_ids.clear();
    return;
  }
  ++stats_.draft_trees;
  // Each branch reads the sequence's cache: its cells take on the branch's id too.
  llama_memory_t mem = llama_get_memory(ctx_);
  for (int id : s.branch_slots) llama_memory_seq_cp(mem, s.slot, id, -1, -1);
}

void Engine::drop_draft(Live& s) {
  s.draft.clear();
  s.draft_q.clear();
  s.draft_parent.clear();
  s.draft_depth.clear();
  s.draft_seq_ids.clear();
  llama_memory_t mem = llama_get_memory(ctx_);
  for (int id : s.branch_slots) {
    llama_memory_seq_rm(mem, id, -1, -1);
    free_branch_slots_.push_back(id);
  }
  s.branch_slots.clear();
}

void Engine::trim_draft_cache(Live& s) {
  const int most = int(s.tokens.size()) - 1;
  if (s.draft_slot >= 0 && s.draft_n_in_kv > most) {
    draft_->truncate(s.draft_slot, most);
    s.draft_n_in_kv = most;
  }
}

void Engine::finish_generation(Live& s, FinishReason reason) {
  s.finish = reason;
  s.state = SeqState::ready;
}

bool Engine::idle() const {
  if (!waiting_.empty()) return false;
  for (const auto& [id, s] : seqs_) {
    if (s->state != SeqState::ready || s->pending() > 1) return false;
  }
  return true;
}

void Engine::run_until_done(std::span<const SeqId> seqs, const std::function<void(SeqId)>& on_done) {
  auto any_busy = [&] { return std::any_of(seqs.begin(), seqs.end(), [this](SeqId id) { return busy(id); }); };
  while (any_busy()) {
    const int64_t decoded = stats_.decoded_tokens;
    const size_t waiting = waiting_.size();
    const std::vector<SeqId> finished = step();
    if (on_done) {
      for (SeqId id : finished) {
        if (std::find(seqs.begin(), seqs.end(), id) != seqs.end()) on_done(id);
      }
    }
    if (finished.empty() && stats_.decoded_tokens == decoded && waiting_.size() == waiting && any_busy()) {
      throw std::runtime_error("engine stalled: " + std::to_string(waiting_.size()) +
                               " sequences wait for a KV slot while all " +
                               std::to_string(options_.max_sequences) +
                               " slots hold idle sequences; free sequences or raise max_sequences");
    }
  }
}

void Engine::run_until_idle() {
  while (!idle()) {
    const int64_t decoded = stats_.decoded_tokens;
    const size_t waiting = waiting_.size();
    step();
    if (stats_.decoded_tokens == decoded && waiting_.size() == waiting && !idle()) {
      throw std::runtime_error("engine stalled: sequences wait for a KV slot held by idle sequences");
    }
  }
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.cached_sequences = int(cached_.size());
  s.live_sequences = int(seqs_.size()) - s.cached_sequences;
  s.waiting_sequences = int(waiting_.size());
  if (draft_) {
    s.draft_decodes = draft_->decodes();
    s.draft_decoded_tokens = draft_->decoded_tokens();
  }
  return s;
}

}  // namespace ponder
