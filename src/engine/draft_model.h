#pragma once
// The draft model of speculative decoding (SpeculativeMethod::draft): a llama context of
// its own whose KV follows the engine's sequences. Each engine sequence that drafts holds
// a slot here and a count of its tokens in this cache; forks copy the slot (one unified
// buffer: the copy shares cells), truncations and rejected drafts drop the tail, and a
// sequence that skipped drafting for a while catches up by decoding only what it lacks.

#include <memory>
#include <span>
#include <vector>

#include "engine/drafting.h"
#include "ponder/model.h"
#include "ponder/sampling.h"

struct llama_context;
struct ggml_threadpool;

namespace ponder {

class DraftModel {
 public:
  DraftModel(std::shared_ptr<const Model> model, int slots, int context_per_sequence, int batch_tokens, int threads);
  ~DraftModel();
  DraftModel(const DraftModel&) = delete;
  DraftModel& operator=(const DraftModel&) = delete;

  // A free slot, -1 when none is.
  int acquire();
  void release(int slot);
  // Gives `to` the first `prefix` positions of `from`'s cache.
  void copy(int from, int to, int prefix);
  // Drops positions >= keep of the slot.
  void truncate(int slot, int keep);

  struct Job {
    int slot;
    std::span<const Token> tokens;  // the sequence; drafting continues after its last token
    int* n_in_kv;                   // tokens of it in this slot's cache; updated
    int length;                     // tokens to draft
    Sampler* sampler;               // draws from q; nullptr: greedy (argmax)
    std::vector<Token> draft;       // out
    std::vector<std::vector<float>> q;  // out with a sampler: q at each draft position
  };
  // Drafts for all jobs together, one decode per draft position (the first also reads
  // what each job's cache lacks). A decode that finds no KV cell ends the drafts there.
  void draft(std::vector<Job>& jobs);

  const DecodeCostModel& cost() const { return cost_; }
  int64_t decodes() const { return decodes_; }
  int64_t decoded_tokens() const { return decoded_tokens_; }

 private:
  bool decode(int n_tokens);

  std::shared_ptr<const Model> model_;
  llama_context* ctx_ = nullptr;
  ggml_threadpool* threadpool_ = nullptr;
  int batch_capacity_;
  std::unique_ptr<struct DraftBatch> batch_;
  std::vector<bool> used_;
  DecodeCostModel cost_{16.0};
  int64_t decodes_ = 0;
  int64_t decoded_tokens_ = 0;
};

}  // namespace ponder
