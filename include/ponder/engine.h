#pragma once
// The engine: one llama context, many sequences, one llama_decode per step.
//
// A sequence is a list of tokens, the first n_in_kv of which are in the KV cache. Its
// last token is always kept *out* of the cache until someone needs the distribution that
// follows it (generation or scoring); that is what makes fork, truncate and score cheap
// and uniform: a fork copies the cache of a finished prefill and each child decodes the
// shared last token itself, in the same batch as everything else.
//
// Work is queued by the calls below and carried out by step(): sequences beyond the
// slot limit wait for a slot, forks wait for their parent's prefill, prompts are
// prefilled in chunks next to other sequences' decoding (continuous batching).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ponder/cost.h"
#include "ponder/model.h"
#include "ponder/sampling.h"
#include "ponder/speculative.h"

struct llama_context;
struct ggml_threadpool;

namespace ponder {

class DraftModel;
class NgramTrie;
class DecodeCostModel;
class DraftingCheck;

using SeqId = uint64_t;
using RequestId = uint64_t;

// How sequences share the KV cache. Measured with the pinned llama.cpp on 2 CPU cores
// (`ponder bench` prints both): split decodes as fast as unified for one question's 16
// forks and 1.2-1.9x faster for 64 sequences of several questions, so automatic means split.
// Unified stores a shared prompt once; use it when KV memory, not speed, is the limit.
enum class KvLayout {
  automatic,  // split (see above)
  unified,    // one KV buffer: forks share cells, but each token attends over all cells
  split,      // a stream per sequence: forks copy the stream, attention stays per sequence
};
const char* kv_layout_name(KvLayout layout);

// The CPU features ggml's kernels run with, as its CPU backend reports them (e.g.
// "AVX2 F16C FMA AVX512 LLAMAFILE"): benchmarks print them beside their figures.
std::string cpu_features();

// The CPUs this process may run on (its affinity mask, which containers and taskset
// narrow; hardware threads where that is unknown): the engine's threads when
// EngineOptions::threads is 0.
int default_threads();

// The most sequence slots an engine can have (llama.cpp's limit, less the engine's spare).
int max_engine_sequences();

// Every llama_decode, llama.cpp's KV cache copies the cell state of each stream the batch
// touches (~13 KB a stream) and frees it; with 64 split streams that is ~1 MB a step,
// which glibc by default returns to the system and page-faults back in every time
// (measured: `ponder eval` 3x slower). This keeps freed memory in the process heap:
// glibc's mmap threshold 4 MB, trim threshold 64 MB (process-wide; no-op elsewhere).
// A process-wide setting, so the library never applies it itself: a program's main()
// calls it once before creating engines; calling it again does nothing.
void keep_freed_memory_in_heap();

// The most threads an engine accepts: 4 per hardware thread (more only slows it down,
// and thread pools fail past a few thousand), at most 512.
int max_engine_threads();

// How the KV cache stores keys and values (llama.cpp's cache types). f16 is llama.cpp's
// default; the quantized types take 2-4x less memory for some accuracy. A quantized type
// needs the model's head size to be a multiple of its block (32), and a quantized V cache
// needs flash attention: the split layout turns it on, the unified layout (which keeps it
// off, see Engine) refuses one.
enum class KvCacheType { f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 };
const char* kv_cache_type_name(KvCacheType type);
// "f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1"
std::string kv_cache_type_names();
// By llama.cpp's name; throws std::invalid_argument naming the allowed ones.
KvCacheType parse_kv_cache_type(std::string_view name);
bool is_quantized(KvCacheType type);

struct KvCacheTypes {
  KvCacheType k = KvCacheType::f16;
  KvCacheType v = KvCacheType::f16;
};

struct EngineOptions {
  int max_sequences = 16;          // live sequences with a KV slot at once; 1..255
  int context_per_sequence = 0;    // tokens per sequence; 0 = min(model's, 4096)
  KvLayout kv_layout = KvLayout::automatic;
  int batch_tokens = 512;          // tokens per llama_decode at most; >= 1
  int threads = 0;                 // 0 = default_threads(); at most max_engine_threads()
  KvCacheTypes kv_cache;           // f16 keys and values
  // Prompts kept after they are freed, so that a later prompt sharing a prefix with one
  // copies its KV instead of decoding it again (see "The prompt cache" below); 0 = off;
  // at most max_sequences.
  int prompt_cache = 0;
  // Speculative decoding of every generating sequence (ponder/speculative.h); off by default.
  SpeculativeOptions speculative;

  void validate() const;
};

// What a sequence is doing; separate from whether it holds a KV slot yet.
enum class SeqState {
  ready,       // nothing asked of it (its prompt may still be prefilling)
  generating,  // sampling a token per step
  scoring,     // reading logprobs of appended tokens
};

// What a scoring call returns: the logprob of each scored token given everything before
// it, and, per scored token, the logprobs of the requested candidate tokens at that
// position (e.g. "+" and "-" for a process reward model).
struct ScoreResult {
  std::vector<float> logprobs;
  std::vector<std::vector<float>> candidate_logprobs;
  double sum() const;
};

struct Sequence {
  SeqId id = 0;
  RequestId request = 0;
  SeqState state = SeqState::ready;
  bool waiting = true;  // queued for a KV slot, or for the prefill of the sequence it forks
  std::vector<Token> tokens;
  int n_in_kv = 0;  // tokens[0, n_in_kv) are in the cache

  // Generation (valid after generate(); reset by the next generate()).
  size_t generation_start = 0;       // index in tokens of the first generated token
  std::vector<TokenRecord> records;  // one per generated token
  std::string text;                  // generated text (stop string and EOS excluded)
  FinishReason finish = FinishReason::none;

  std::optional<ScoreResult> score;  // the last scoring call's result, once done

  double mean_logprob() const;
};

struct EngineStats {
  int64_t steps = 0;
  int64_t decoded_tokens = 0;
  int64_t retried_batches = 0;  // decode calls split because no KV slot was free
  int64_t slot_moves = 0;       // sequences moved to pack a step's batch into consecutive slots
  int64_t prompt_cache_hits = 0;     // new sequences that copied a cached prompt's KV
  int64_t prompt_cache_tokens = 0;   // tokens those copies saved decoding
  int64_t prompt_cache_evictions = 0;
  // Speculative decoding: draft tokens put behind sequences in the target's decodes, those
  // the target accepted, and the draft model's own decodes and tokens.
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;
  int64_t draft_decodes = 0;
  int64_t draft_decoded_tokens = 0;
  // Lookahead trees: drafts verified as trees of several branches, and those whose kept
  // path lay off the sequence's own branch (its cells were copied over).
  int64_t draft_trees = 0;
  int64_t off_branch_accepts = 0;
  int live_sequences = 0;     // added and not freed (cached prompts not counted)
  int waiting_sequences = 0;
  int cached_sequences = 0;   // freed prompts the prompt cache keeps
};

// The prompt cache (EngineOptions::prompt_cache > 0). A sequence holding only context
// (never generated or scored; e.g. a question's prompt) is kept with its KV slot when it
// is freed, up to prompt_cache of them, least recently used first out. add_sequence
// compares a new prompt with the kept ones: the longest shared prefix of at least
// kMinPromptCacheMatch tokens is copied (llama_memory_seq_cp) rather than decoded, and the
// rest of the prompt decodes as usual. A kept prompt gives its slot up whenever a
// sequence needs one, so the cache never keeps a slot from live work. Decoding is the
// same either way: the copied keys and values are those the prompt's tokens produced.
inline constexpr int kMinPromptCacheMatch = 8;

class Engine {
 public:
  Engine(std::shared_ptr<const Model> model, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // A request groups sequences for cost accounting; forks inherit their parent's.
  RequestId begin_request();
  Cost request_cost(RequestId request) const;
  // Returns the final cost and forgets the request (its sequences must be freed).
  Cost end_request(RequestId request);

  // A new sequence holding `prompt` (already tokenized, BOS included if wanted).
  SeqId add_sequence(RequestId request, std::vector<Token> prompt);
  // n new sequences continuing from `parent`'s tokens; they share its prefill.
  std::vector<SeqId> fork(SeqId parent, int n);
  // Starts sampling: one token per step until a stop condition holds.
  void generate(SeqId seq, const SamplingParams& sampling, const StopParams& stop);
  // Appends `continuation` and reads its logprobs (and the candidates' at each position).
  void score(SeqId seq, std::vector<Token> continuation, std::vector<Token> candidates = {});
  // Keeps the first n_tokens tokens (>= 1) and drops the rest from the cache.
  void truncate(SeqId seq, size_t n_tokens);
  // Stops a generating sequence (FinishReason::cancelled); a no-op otherwise.
  void cancel(SeqId seq);
  // Releases the sequence and its slot; waiting forks of it still get its cache.
  void free(SeqId seq);

  // One llama_decode over every sequence that has work. Returns the sequences whose
  // generation or scoring finished in this step.
  std::vector<SeqId> step();
  // True when no sequence has work left (everything is ready or freed).
  bool idle() const;
  // Steps until none of `seqs` is generating, scoring or waiting, calling `on_done` for
  // each as its work finishes (it may read and free the sequence, which makes room for
  // sequences still waiting). Throws std::runtime_error instead of hanging when waiting
  // sequences can never get a slot.
  void run_until_done(std::span<const SeqId> seqs, const std::function<void(SeqId)>& on_done = {});
  void run_until_idle();

  const Sequence& sequence(SeqId seq) const;
  bool contains(SeqId seq) const;
  // Waiting for a slot, generating or scoring (false once freed).
  bool busy(SeqId seq) const;
  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> shared_model() const { return model_; }
  KvLayout kv_layout() const { return layout_; }
  int max_sequences() const { return options_.max_sequences; }
  int context_per_sequence() const { return n_ctx_seq_; }
  EngineStats stats() const;

  // The threads its steps compute on: its own (EngineOptions::threads) unless a replica
  // with nothing to do lends it its own. Call between steps. Each count gets a ggml pool
  // of its own, kept for the next time; the pool left pauses. The rows a thread computes
  // change with the count, never a row's sums, except in llama.cpp's split-KV attention
  // for one sequence over >= 512 cells.
  void set_step_threads(int threads);
  int step_threads() const { return step_threads_; }
  int own_threads() const { return own_threads_; }

 private:
  struct Live;
  struct Request;
  struct BatchItem;
  struct Batch;

  Live& live(SeqId seq);
  const Live& live(SeqId seq) const;
  void admit_waiting();
  int lowest_free_slot() const;
  // A free slot, evicting the least recently used cached prompt that nothing waits on
  // when there is none; -1 when every slot holds live work.
  int claim_slot();
  // Keeps a freed prompt in the cache if it qualifies; false: release it as usual.
  bool keep_in_cache(Live& seq);
  // The kept prompt sharing the longest prefix (>= kMinPromptCacheMatch) with `prompt`.
  Live* cached_prefix(const std::vector<Token>& prompt, int& match);
  void drop_cached(Live& seq);
  void assign_slot(Live& seq, int slot);
  void move_stream(int from, int to);
  void move_to_slot(Live& seq, int slot);
  void swap_slots(Live& a, Live& b);
  void pack_slots(const std::vector<BatchItem>& items);
  void release(Live& seq);
  void run_batch(std::vector<BatchItem>& items, std::vector<SeqId>& finished);
  void after_decode(const std::vector<BatchItem>& items, std::vector<SeqId>& finished);
  void sample_next(Live& seq, int batch_index, std::vector<SeqId>& finished);
  // Appends a chosen token with the target's record of it and checks the stop conditions.
  void emit(Live& seq, Token token, std::span<const float> row, const LogitStats& stats,
            std::vector<SeqId>& finished);
  // Speculation: gives generating sequences their drafts for this step, within `budget`
  // tokens beside the `base_tokens` the step decodes anyway.
  void plan_drafts(const std::vector<Live*>& generating, int base_tokens, int budget);
  // Accepts a prefix of the sequence's draft from the target's logits at batch index
  // `batch_index` onward (its last token's, then each draft token's), emits it and the
  // target's own next token, and drops the rejected positions from both caches.
  void accept_draft(Live& seq, int batch_index, std::vector<SeqId>& finished);
  // Keeps the draft model's cache of the sequence within its tokens (all but the last).
  void trim_draft_cache(Live& seq);
  // Lookahead: turns the sequence's draft into a tree of up to `length` tokens, with a
  // lent llama seq id per branch beyond its first (none lent: it stays a path).
  void plant_draft_tree(Live& seq, NgramTrie& trie, int length);
  // Forgets the sequence's draft; a tree's lent seq ids leave the cache and are returned.
  void drop_draft(Live& seq);
  void finish_generation(Live& seq, FinishReason reason);
  void touch(RequestId request);

  std::shared_ptr<const Model> model_;
  EngineOptions options_;
  KvLayout layout_;
  int n_ctx_seq_ = 0;
  llama_context* ctx_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;  // the context's compute threads; outlives ctx_
  int own_threads_ = 0;
  int step_threads_ = 0;                                        // threadpool_'s or a lent pool's
  std::vector<std::pair<int, ggml_threadpool*>> lent_pools_;   // by thread count; outlive ctx_
  std::unique_ptr<Batch> batch_;

  SeqId next_seq_id_ = 1;
  RequestId next_request_id_ = 1;
  std::unordered_map<SeqId, std::unique_ptr<Live>> seqs_;
  std::unordered_map<RequestId, std::unique_ptr<Request>> requests_;
  std::vector<Live*> slot_owner_;  // by llama seq id; nullptr where free
  int spare_slot_ = -1;            // split layout: a llama seq id never assigned
  std::vector<SeqId> waiting_;    // FIFO of sequences without a slot
  std::list<SeqId> cached_;       // the prompt cache, least recently used first
  EngineStats stats_;
  std::unique_ptr<DraftModel> draft_;                    // SpeculativeMethod::draft
  std::unordered_map<RequestId, std::unique_ptr<NgramTrie>> tries_;  // lookahead, per request
  std::unique_ptr<DecodeCostModel> decode_cost_;         // the target's decode wall time vs tokens
  std::unique_ptr<DraftingCheck> drafting_check_;        // what drafting yielded, by the clock
  std::vector<float> p_scratch_, residual_scratch_;
  // Unified layout with lookahead trees: llama seq ids past the sequences' slots, lent to
  // the extra branches of a step's drafts.
  std::vector<int> free_branch_slots_;
};

}  // namespace ponder
