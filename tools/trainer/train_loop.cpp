#include "train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <numeric>
#include <stdexcept>

#include "toy/metrics.h"
#include "toy/vocab.h"

namespace ponder::trainer {

namespace {

const int64_t kPlus = toy::toy_token_for_char(toy::kPrmGood), kMinus = toy::toy_token_for_char(toy::kPrmBad);

// logit('+') - logit('-') of each row of [n, vocab] logits: the PRM's verdict.
torch::Tensor prm_margin(const torch::Tensor& rows) { return rows.select(1, kPlus) - rows.select(1, kMinus); }

torch::Tensor loss_of(LlamaModel& model, const Batch& b, double flag_weight) {
  auto logits = model->forward(b.tokens, b.positions, b.docs);
  auto flat = logits.view({-1, logits.size(-1)});
  auto per_token = torch::nn::functional::cross_entropy(
      flat, b.targets.view(-1),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kNoTarget).reduction(torch::kNone));
  auto weights = b.weights.view(-1);
  auto loss = (per_token * weights).sum() / weights.sum().clamp_min(1e-6);
  auto flagged = b.flags.view(-1) != kNoFlag;
  if (flag_weight > 0 && flagged.any().item<bool>()) {
    // Only the difference of the two logits: the softmax over all characters stays free
    // to predict the next one at the same position.
    loss = loss + flag_weight * torch::nn::functional::binary_cross_entropy_with_logits(
                                    prm_margin(flat.index({flagged})), b.flags.view(-1).index({flagged}).to(torch::kFloat32));
  }
  return loss;
}

double lr_at(const TrainOptions& o, int step) {
  if (step < o.warmup) return o.lr * double(step + 1) / double(o.warmup);
  const double progress = double(step - o.warmup) / double(std::max(1, o.steps - o.warmup));
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
  return o.lr * (o.final_lr_ratio + (1.0 - o.final_lr_ratio) * cosine);
}

}  // namespace

void TrainOptions::validate() const {
  auto need = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("TrainOptions.") + what);
  };
  need(steps >= 1, "steps: must be >= 1");
  need(lr > 0, "lr: must be > 0");
  need(final_lr_ratio >= 0 && final_lr_ratio <= 1, "final_lr_ratio: must be in [0, 1]");
  need(warmup >= 0, "warmup: must be >= 0");
  need(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "beta1/beta2: must be in [0, 1)");
  need(weight_decay >= 0, "weight_decay: must be >= 0");
  need(clip > 0, "clip: must be > 0");
  need(flag_weight >= 0, "flag_weight: must be >= 0");
  need(log_every >= 1 && eval_every >= 1, "log_every/eval_every: must be >= 1");
}

EvalResult evaluate(LlamaModel& model, const std::vector<Batch>& batches) {
  torch::NoGradGuard no_grad;
  model->eval();
  EvalResult r;
  double total = 0.0;
  bool binary = true;
  std::vector<std::pair<double, bool>> scored;
  for (const Batch& b : batches) {
    auto logits = model->forward(b.tokens, b.positions, b.docs);
    auto flat = logits.view({-1, logits.size(-1)});
    auto targets = b.targets.view(-1);
    auto mask = targets != kNoTarget;
    const int64_t n = mask.sum().item<int64_t>();
    if (n == 0) continue;
    auto picked = flat.index({mask});
    auto tgt = targets.index({mask});
    total += torch::nn::functional::cross_entropy(picked, tgt).item<double>() * double(n);
    r.targets += n;
    binary = binary && ((tgt == kPlus) | (tgt == kMinus)).all().item<bool>();
    if (binary) {
      auto margin = prm_margin(picked).contiguous();
      for (int64_t i = 0; i < n; ++i) scored.emplace_back(margin[i].item<double>(), tgt[i].item<int64_t>() == kPlus);
    }
  }
  model->train();
  r.loss = r.targets ? total / double(r.targets) : 0.0;
  if (binary) r.auc = toy::roc_auc(std::move(scored)).value_or(-1.0);
  return r;
}

TrainReport train(LlamaModel& model, Packer& data, const std::vector<Batch>& eval_batches,
                  const TrainOptions& o, std::FILE* log) {
  o.validate();
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(0.0)));
  torch::optim::AdamW optimizer(groups);

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  TrainReport report;
  std::deque<double> recent;
  model->train();
  for (int step = 0; step < o.steps; ++step) {
    auto batch = data.next();
    if (!batch) throw std::runtime_error("train: the data source ran out at step " + std::to_string(step));
    const double lr = lr_at(o, step);
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    optimizer.zero_grad();
    auto loss = loss_of(model, *batch, o.flag_weight);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), o.clip);
    optimizer.step();
    report.tokens += batch->n_tokens;
    recent.push_back(loss.item<double>());
    if (recent.size() > 100) recent.pop_front();
    const bool last = step + 1 == o.steps;
    if (log && ((step + 1) % o.log_every == 0 || last)) {
      const double mean = std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
      std::fprintf(log, "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  %.0fs\n", step + 1, o.steps, mean, lr,
                   double(report.tokens) / elapsed(), elapsed());
      std::fflush(log);
    }
    if (!eval_batches.empty() && ((step + 1) % o.eval_every == 0 || last)) {
      report.eval = evaluate(model, eval_batches);
      if (log) {
        std::fprintf(log, "eval at step %d: loss %.4f", step + 1, report.eval.loss);
        if (report.eval.auc >= 0) std::fprintf(log, "  auc %.4f", report.eval.auc);
        std::fprintf(log, "\n");
        std::fflush(log);
      }
    }
  }
  report.train_loss = std::accumulate(recent.begin(), recent.end(), 0.0) / double(recent.size());
  report.seconds = elapsed();
  report.too_long = data.too_long();
  if (log && report.too_long > 0) {
    std::fprintf(log, "left out %lld training documents longer than the context\n", (long long)report.too_long);
  }
  return report;
}

}  // namespace ponder::trainer
