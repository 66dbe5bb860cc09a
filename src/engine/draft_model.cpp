#include "engine/draft_model.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "engine/llama_glue.h"

namespace ponder {

struct DraftBatch {
  llama_batch batch;
  explicit DraftBatch(int capacity) : batch(llama_batch_init(capacity, 0, 1)) {}
  ~DraftBatch() { llama_batch_free(batch); }
};

DraftModel::DraftModel(std::shared_ptr<const Model> model, int slots, int context_per_sequence, int batch_tokens,
                       int threads)
    : model_(std::move(model)), batch_capacity_(batch_tokens) {
  llama_context_params params = llama_context_default_params();
  // One unified buffer: a fork's copy shares the prefix's cells, and a decode over any
  // set of sequences is one pass. Drafts are short and the draft model small, so
  // attending over every cell of the buffer costs little.
  params.kv_unified = true;
  params.n_seq_max = uint32_t(slots);
  params.n_ctx = uint32_t(context_per_sequence) * uint32_t(slots);
  params.n_batch = uint32_t(batch_tokens);
  params.n_ubatch = uint32_t(batch_tokens);
  params.n_threads = threads;
  params.n_threads_batch = threads;
  params.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  params.no_perf = true;
  take_llama_errors();
  ctx_ = llama_init_from_model(model_->raw(), params);
  if (ctx_ == nullptr) {
    const std::string why = take_llama_errors();
    throw std::runtime_error("cannot create a llama context for the draft model " + model_->path() + ": " +
                             (why.empty() ? "out of memory?" : why));
  }
  threadpool_ = attach_threadpool(ctx_, threads);
  batch_ = std::make_unique<DraftBatch>(batch_tokens);
  used_.assign(size_t(slots), false);
}

DraftModel::~DraftModel() {
  batch_.reset();
  llama_free(ctx_);
  ggml_threadpool_free(threadpool_);
}

int DraftModel::acquire() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      return int(i);
    }
  }
  return -1;
}

void DraftModel::release(int slot) {
  llama_memory_seq_rm(llama_get_memory(ctx_), slot, -1, -1);
  used_[size_t(slot)] = false;
}

void DraftModel::copy(int from, int to, int prefix) {
  llama_memory_t mem = llama_get_memory(ctx_);
  llama_memory_seq_rm(mem, to, -1, -1);
  llama_memory_seq_cp(mem, from, to, 0, prefix);
}

void DraftModel::truncate(int slot, int keep) { llama_memory_seq_rm(llama_get_memory(ctx_), slot, keep, -1); }

bool DraftModel::decode(int n_tokens) {
  batch_->batch.n_tokens = n_tokens;
  const auto t0 = std::chrono::steady_clock::now();
  const int32_t rc = llama_decode(ctx_, batch_->batch);
  if (rc != 0 && rc != 1) throw std::runtime_error("llama_decode of the draft model failed with status " + std::to_string(rc));
  if (rc == 1) return false;  // no KV cell free; the cache is unchanged
  cost_.observe(n_tokens, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  ++decodes_;
  decoded_tokens_ += n_tokens;
  return true;
}

void DraftModel::draft(std::vector<Job>& jobs) {
  llama_batch& b = batch_->batch;
  auto put = [&](int& n, Token token, int pos, int slot, bool logits) {
    b.token[n] = token;
    b.pos[n] = pos;
    b.n_seq_id[n] = 1;
    b.seq_id[n][0] = slot;
    b.logits[n] = logits;
    ++n;
  };
  auto lacking = [](const Job& job) { return int(job.tokens.size()) - 1 - *job.n_in_kv; };
  // A long gap (a prompt never read here) is read in chunks first, until what each cache
  // lacks fits beside the first draft round.
  for (;;) {
    int total = int(jobs.size());
    for (const Job& job : jobs) total += lacking(job);
    if (total <= batch_capacity_) break;
    int n = 0;
    std::vector<int> taken(jobs.size(), 0);
    for (size_t j = 0; j < jobs.size() && n < batch_capacity_; ++j) {
      Job& job = jobs[j];
      taken[j] = std::min(lacking(job), batch_capacity_ - n);
      for (int k = 0; k < taken[j]; ++k) put(n, job.tokens[size_t(*job.n_in_kv + k)], *job.n_in_kv + k, job.slot, false);
    }
    if (!decode(n)) return;
    for (size_t j = 0; j < jobs.size(); ++j) *jobs[j].n_in_kv += taken[j];
  }

  const int n_vocab = model_->n_vocab();
  for (int round = 0;; ++round) {
    int n = 0;
    std::vector<std::pair<size_t, int>> in_round;  // job, batch index of its logits
    for (size_t j = 0; j < jobs.size(); ++j) {
      Job& job = jobs[j];
      if (int(job.draft.size()) >= job.length) continue;
      if (round == 0) {
        // The first round also reads what the cache lacks (usually nothing, or the last
        // accepted draft token).
        for (int pos = *job.n_in_kv; pos < int(job.tokens.size()) - 1; ++pos) put(n, job.tokens[size_t(pos)], pos, job.slot, false);
      }
      const Token token = round == 0 ? job.tokens.back() : job.draft.back();
      in_round.emplace_back(j, n);
      put(n, token, int(job.tokens.size()) - 1 + round, job.slot, true);
    }
    if (n == 0 || !decode(n)) return;
    for (auto [j, index] : in_round) {
      Job& job = jobs[j];
      *job.n_in_kv = int(job.tokens.size()) + round;
      std::span<const float> row(llama_get_logits_ith(ctx_, index), size_t(n_vocab));
      if (job.sampler == nullptr) {
        job.draft.push_back(Token(std::max_element(row.begin(), row.end()) - row.begin()));
        continue;
      }
      job.q.emplace_back();
      job.sampler->distribution(row, logit_stats(row), job.q.back());
      job.draft.push_back(job.sampler->draw(job.q.back()));
    }
  }
}

}  // namespace ponder
