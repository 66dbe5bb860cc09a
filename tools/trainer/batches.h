#pragma once
// Training documents and their packing into fixed-size batches.

#include <torch/torch.h>

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "toy/prm.h"

namespace ponder::trainer {

inline constexpr int64_t kNoTarget = -100;  // cross-entropy ignore index
inline constexpr int8_t kNoFlag = -1;

// One document: the model reads `input` and is trained to predict target[i] at position
// i, with loss weight weight[i] (0 where target[i] is kNoTarget). A PRM document may
// also flag positions: flag[i] is 1 ('+') or 0 ('-'), a target for the sign of
// logit('+') - logit('-') at i besides target[i] (empty, or kNoFlag where none).
struct Doc {
  std::vector<int64_t> input;
  std::vector<int64_t> target;
  std::vector<float> weight;
  std::vector<int8_t> flag;
};

// BOS question "\n" solution EOS; loss on the solution and EOS only (questions are random
// numbers, nothing to learn there).
Doc reasoner_doc(const std::string& question, const std::string& solution);

// The PRM text of toy/prm.h: after each tag the target is '+' or '-' (weight 1). With
// lm_weight > 0 the tokens of correct steps are also next-token targets with that
// weight: the PRM keeps predicting what a correct step says, which is what it compares
// a written step against.
Doc prm_doc(const std::string& question, const toy::LabelledSolution& solution, float lm_weight = 0.0f);

// The same text with a '+' or '-' target after every character of every step too: its
// toy::label_prefixes label (is the solution still right up to here?), so the model
// learns to flag the first wrong character where it is written; the tags keep their
// step labels.
Doc prm_prefix_doc(const std::string& question, const toy::LabelledSolution& solution,
                   const std::vector<std::vector<bool>>& prefix_labels);

// The PRM text with a '+' / '-' target at every step character whose label (one per
// character of each line and its newline, as toy::label_result_digits gives them) is
// not none, and the step labels at the tags.
Doc prm_char_doc(const std::string& question, const toy::LabelledSolution& solution,
                  const std::vector<std::vector<toy::CharLabel>>& char_labels);

// prm_doc with a flag at every character of every step and its newline: its
// toy::label_prefixes label (is the solution still right up to here?). Unlike
// prm_prefix_doc the flags leave the next-character targets in place, so the PRM learns
// to flag the first wrong character where it is written while it keeps predicting what a
// right one would be, which is what it compares the written one against.
Doc prm_flagged_doc(const std::string& question, const toy::LabelledSolution& solution,
                    const std::vector<std::vector<bool>>& prefix_labels, float lm_weight);

struct Batch {
  torch::Tensor tokens;     // [rows, ctx] int64
  torch::Tensor targets;    // [rows, ctx] int64, kNoTarget where no loss
  torch::Tensor weights;    // [rows, ctx] float, loss weight of each target
  torch::Tensor flags;      // [rows, ctx] int64, kNoFlag where none
  torch::Tensor positions;  // [rows, ctx] int64, restarting at 0 in each document
  torch::Tensor docs;       // [rows, ctx] int64, document index within the row (-1: padding)
  int64_t n_tokens = 0;     // non-padding tokens
};

// Packs whole documents into rows of `ctx` tokens (a document never spans two rows).
// Documents wait in a small buffer and each row takes the oldest that still fits, which
// halves the padding of first-fit packing without changing which documents are used.
// A document longer than a row is left out and counted (a rare long generated problem
// must not stop a training run).
class Packer {
 public:
  // `source` returns the next document, or nullopt when there are no more.
  Packer(int rows, int ctx, std::function<std::optional<Doc>()> source);
  // nullopt when the source is exhausted and nothing is pending.
  std::optional<Batch> next();
  int64_t too_long() const { return too_long_; }  // documents left out so far

 private:
  void refill();

  static constexpr size_t kBuffer = 16;
  int rows_, ctx_;
  std::function<std::optional<Doc>()> source_;
  std::deque<Doc> buffer_;
  bool exhausted_ = false;
  int64_t too_long_ = 0;
};

}  // namespace ponder::trainer
