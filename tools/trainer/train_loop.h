#pragma once
// The optimisation loop: AdamW, linear warm-up then cosine decay, gradient clipping,
// periodic held-out evaluation.

#include <cstdio>
#include <vector>

#include "batches.h"
#include "llama_model.h"

namespace ponder::trainer {

struct TrainOptions {
  int steps = 2000;               // optimiser steps
  double lr = 2e-3;               // peak learning rate
  double final_lr_ratio = 0.1;    // cosine decays to lr * this at the last step
  int warmup = 200;               // linear warm-up steps
  double beta1 = 0.9;
  double beta2 = 0.95;
  double weight_decay = 0.1;      // on matrices and embeddings; norms are not decayed
  double clip = 1.0;              // global gradient norm
  double flag_weight = 1.0;       // loss weight of the flags (Doc::flag), mean over flags
  int log_every = 50;             // steps between progress lines
  int eval_every = 500;           // steps between held-out evaluations (and at the end)

  void validate() const;  // throws std::invalid_argument naming the field
};

struct EvalResult {
  double loss = 0.0;  // mean cross-entropy per target token
  // For binary '+' / '-' targets (the PRM): area under the ROC curve of
  // logit('+') - logit('-') against the label; negative when not applicable.
  double auc = -1.0;
  int64_t targets = 0;
};

EvalResult evaluate(LlamaModel& model, const std::vector<Batch>& batches);

struct TrainReport {
  double train_loss = 0.0;  // mean over the last 100 steps
  EvalResult eval;          // at the end
  double seconds = 0.0;
  int64_t tokens = 0;       // non-padding tokens seen
  int64_t too_long = 0;     // training documents left out for not fitting the context
};

// Trains in place; progress lines go to `log` (may be null).
TrainReport train(LlamaModel& model, Packer& data, const std::vector<Batch>& eval_batches,
                  const TrainOptions& options, std::FILE* log);

}  // namespace ponder::trainer
