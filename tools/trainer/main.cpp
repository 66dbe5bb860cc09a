// ponder-train: trains ponder's toy models with LibTorch and writes them as GGUF files.
//
//   ponder-train init     --preset toy-reasoner-s --seed 1 -o init.gguf
//   ponder-train reasoner --init init.gguf --steps 3000 -o toy-reasoner-s.gguf
//   ponder-train prm      --init toy-reasoner-s.gguf --steps 800 -o toy-prm.gguf
//   ponder-train export   -m model.gguf --f16 -o model-f16.gguf
//   ponder-train logits   -m model.gguf --text "a=1; b=a+2; b?" -o logits.bin
//   ponder-train surprise -m toy-reasoner-s.gguf   (the reasoner's own surprise as a PRM)
//
// Every random choice (initial weights, training problems, injected mistakes) comes from
// a seed, so the same commands rebuild the same files on the same platform.

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "batches.h"
#include "llama_model.h"
#include "presets.h"
#include "toy/dataset.h"
#include "toy/metrics.h"
#include "toy/prm.h"
#include "toy/task.h"
#include "toy/vocab.h"
#include "train_loop.h"

namespace ponder::trainer {
namespace {

constexpr int kBatchRows = 16;

struct CommonArgs {
  std::string init;
  std::string out;
  std::string name;
  std::string summary;
  uint64_t seed = 1;
  int threads = 2;
  bool f32 = false;
  TrainOptions train;
};

void add_common(CLI::App* cmd, CommonArgs& a) {
  cmd->add_option("--init", a.init, "GGUF to start from (from `init`, or a trained model)")->required();
  cmd->add_option("-o,--out", a.out, "GGUF file to write")->required();
  cmd->add_option("--name", a.name, "general.name of the written model (default: the file's stem)");
  cmd->add_option("--summary", a.summary, "JSON file for the training summary");
  cmd->add_option("--seed", a.seed, "Seed of the training data stream");
  cmd->add_option("--threads", a.threads, "LibTorch threads");
  cmd->add_flag("--f32", a.f32, "Store matrices as f32 (default f16)");
  cmd->add_option("--steps", a.train.steps, "Optimiser steps");
  cmd->add_option("--lr", a.train.lr, "Peak learning rate");
  cmd->add_option("--warmup", a.train.warmup, "Warm-up steps");
  cmd->add_option("--final-lr-ratio", a.train.final_lr_ratio, "Final / peak learning rate");
  cmd->add_option("--weight-decay", a.train.weight_decay, "AdamW weight decay");
  cmd->add_option("--eval-every", a.train.eval_every, "Steps between held-out evaluations");
  cmd->add_option("--log-every", a.train.log_every, "Steps between progress lines");
}

LlamaModel load_model(const std::string& path, toy::LlamaFile* file_out = nullptr) {
  toy::LlamaFile file = toy::read_llama_gguf(path);
  LlamaModel model(file.shape);
  model->load_tensors(file.tensors);
  if (file_out) *file_out = std::move(file);
  return model;
}

std::string stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string s = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(0, dot);
}

std::vector<Batch> pack_all(std::vector<Doc> docs, int ctx) {
  size_t next = 0;
  Packer packer(kBatchRows, ctx, [&]() -> std::optional<Doc> {
    if (next == docs.size()) return std::nullopt;
    return std::move(docs[next++]);
  });
  std::vector<Batch> batches;
  while (auto b = packer.next()) batches.push_back(std::move(*b));
  return batches;
}

void finish(const CommonArgs& a, const std::string& role, LlamaModel& model, const TrainReport& report,
            const std::string& extra_recipe = "") {
  toy::GgufWriteOptions w;
  w.name = a.name.empty() ? stem(a.out) : a.name;
  w.matrix_type = a.f32 ? toy::WeightType::f32 : toy::WeightType::f16;
  char recipe[256];
  std::snprintf(recipe, sizeof(recipe), "steps=%d lr=%g warmup=%d final_lr_ratio=%g wd=%g batch=%dx%d seed=%llu",
                a.train.steps, a.train.lr, a.train.warmup, a.train.final_lr_ratio, a.train.weight_decay, kBatchRows,
                model->shape().n_ctx, (unsigned long long)a.seed);
  const std::string full_recipe = recipe + extra_recipe;
  w.metadata = {{"ponder.toy.role", role}, {"ponder.toy.recipe", full_recipe}};
  toy::write_llama_gguf(a.out, model->shape(), model->to_tensors(), w);
  std::printf("%s: train loss %.4f, held-out loss %.4f%s, %lld tokens in %.0f s\n", a.out.c_str(), report.train_loss,
              report.eval.loss,
              report.eval.auc >= 0 ? (", step AUC " + std::to_string(report.eval.auc)).c_str() : "",
              (long long)report.tokens, report.seconds);
  if (!a.summary.empty()) {
    nlohmann::ordered_json j = {{"model", w.name},
                                {"role", role},
                                {"parameters", model->shape().n_params()},
                                {"recipe", full_recipe},
                                {"train_loss", report.train_loss},
                                {"heldout_loss", report.eval.loss},
                                {"tokens", report.tokens},
                                {"seconds", report.seconds},
                                {"threads", a.threads}};
    if (report.eval.auc >= 0) j["heldout_step_auc"] = report.eval.auc;
    if (report.too_long > 0) j["documents_too_long"] = report.too_long;
    std::ofstream(a.summary) << j.dump(2) << "\n";
  }
}

// The matrices that write into the residual stream: attention output and feed-forward down.
bool is_residual_projection(const std::string& tensor_name) {
  return tensor_name.ends_with("attn_output.weight") || tensor_name.ends_with("ffn_down.weight");
}

void run_init(const std::string& preset, uint64_t seed, const std::string& out) {
  const auto& p = model_preset(preset);
  // GPT-2's initialisation: N(0, 0.02^2), the residual projections scaled by
  // 1/sqrt(2 * layers) so the residual stream's variance does not grow with depth.
  auto weights = toy::random_llama_weights(p.shape, seed, 0.02f);
  const float residual_scale = 1.0f / std::sqrt(2.0f * float(p.shape.n_layer));
  for (auto& t : weights) {
    if (is_residual_projection(t.name)) {
      for (float& x : t.data) x *= residual_scale;
    }
  }
  toy::GgufWriteOptions w;
  w.name = preset + "-init";
  w.metadata = {{"ponder.toy.role", "init"}, {"ponder.toy.recipe", "seed=" + std::to_string(seed)}};
  toy::write_llama_gguf(out, p.shape, weights, w);
  std::printf("%s: %s, %lld parameters\n", out.c_str(), p.about.c_str(), (long long)p.shape.n_params());
}

// A deeper copy of a model: its layers, then `extra` new ones whose output projections
// (attention and feed-forward) start at zero, so the copy computes exactly what the model
// did until training moves them. The PRM grows this way from a reasoner: its top layers
// can then read the reasoner's finished prediction at the previous position.
void run_grow(const std::string& model_path, int extra, uint64_t seed, const std::string& out) {
  if (extra < 1) throw std::invalid_argument("grow: --layers must be >= 1");
  toy::LlamaFile file = toy::read_llama_gguf(model_path);
  toy::LlamaShape shape = file.shape;
  const int old_layers = shape.n_layer;
  shape.n_layer += extra;
  auto weights = toy::random_llama_weights(shape, seed, 0.02f);
  std::map<std::string, const toy::NamedTensor*> old;
  for (const auto& t : file.tensors) old[t.name] = &t;
  for (auto& t : weights) {
    if (auto it = old.find(t.name); it != old.end()) {
      t.data = it->second->data;
    } else if (is_residual_projection(t.name)) {
      std::fill(t.data.begin(), t.data.end(), 0.0f);
    }
  }
  toy::GgufWriteOptions w;
  w.name = stem(out);
  w.metadata = {{"ponder.toy.role", "init"},
                {"ponder.toy.recipe", "grown from " + stem(model_path) + " by " + std::to_string(extra) +
                                          " layers, seed=" + std::to_string(seed)}};
  toy::write_llama_gguf(out, shape, weights, w);
  std::printf("%s: %d + %d layers, %lld parameters\n", out.c_str(), old_layers, extra, (long long)shape.n_params());
}

void run_reasoner(const CommonArgs& a) {
  auto model = load_model(a.init);
  const int ctx = model->shape().n_ctx;
  toy::ProblemStream stream(toy::train_mix(), a.seed);
  toy::Rng paths(toy::derive_seed(a.seed, 1));
  Packer packer(kBatchRows, ctx, [&]() -> std::optional<Doc> {
    toy::Problem p = stream.next();
    return reasoner_doc(p.question(), toy::solve(p, paths).text());
  });
  std::vector<Doc> dev;
  for (const auto& e : toy::committed_split(toy::Split::dev)) {
    dev.push_back(reasoner_doc(e.question, e.solution));
  }
  auto report = train(model, packer, pack_all(std::move(dev), ctx), a.train, stdout);
  finish(a, "reasoner", model, report);
}

// The PRM's held-out set: every problem of the dev split (or, to see how the quality
// targets' split fares, of the test split) with its own injected mistakes, drawn with
// one fixed seed.
std::vector<std::pair<std::string, toy::LabelledSolution>> heldout_prm_examples(toy::Split split) {
  toy::Rng rng(toy::kDevSeed);
  std::vector<std::pair<std::string, toy::LabelledSolution>> out;
  for (const auto& e : toy::committed_split(split)) {
    out.emplace_back(e.question, toy::make_prm_example(*toy::parse_question(e.question), rng));
  }
  return out;
}

void add_heldout_option(CLI::App* cmd, toy::Split& split) {
  cmd->add_option("--heldout", split, "Problems of the held-out mistakes: dev, or test (a diagnostic)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, toy::Split>{{"dev", toy::Split::dev},
                                                                            {"test", toy::Split::test}}))
      ->option_text("dev|test");
}

// Slipped solutions of the dev problems with their replaced-digit targets and no tag
// targets: how well a model spots a wrong digit where it is written.
std::vector<Doc> heldout_digit_docs(double slip_rate) {
  toy::Rng rng(toy::derive_seed(toy::kDevSeed, 3));
  std::vector<Doc> docs;
  for (const auto& e : toy::committed_split(toy::Split::dev)) {
    const toy::LabelledSolution s = toy::make_slipped_example(*toy::parse_question(e.question), rng, slip_rate);
    Doc d = prm_char_doc(e.question, s, toy::label_result_digits(s.lines));
    for (size_t i = 0; i < d.input.size(); ++i) {
      if (d.input[i] == toy::toy_token_for_char(toy::kPrmTag)) {
        d.target[i] = kNoTarget;
        d.weight[i] = 0.0f;
      }
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

struct PrmArgs {
  toy::Split heldout = toy::Split::dev;
  float lm_weight = 0.1f;
  bool prefix_labels = false;
  bool prefix_flags = false;
  toy::PrmDataOptions data;
  int train_from_layer = 0;  // layers below it (and the embeddings) stay fixed
  // Share of documents that are slipped solutions with replaced-digit targets
  // (toy::make_slipped_example, toy::label_result_digits) instead of injected mistakes.
  double digit_docs = 0.0;
  double slip_rate = 0.15;  // per equation result, in those documents
  // A reasoner's own sampled solutions of training problems (`ponder toy-steps
  // --write-samples`), labelled by the checker: this share of documents is drawn from
  // them, so the PRM also learns the mistakes the reasoner it will judge makes.
  std::string reasoner_samples;
  double samples_share = 0.5;
};

void run_prm(const CommonArgs& a, const PrmArgs& prm) {
  prm.data.validate();
  auto model = load_model(a.init);
  model->freeze_below(prm.train_from_layer);
  const int ctx = model->shape().n_ctx;
  toy::ProblemStream stream(toy::train_mix(), a.seed);
  toy::Rng rng(toy::derive_seed(a.seed, 2));
  auto labelled_doc = [&](const toy::Problem& p, const toy::LabelledSolution& s) {
    if (prm.prefix_labels) return prm_prefix_doc(p.question(), s, toy::label_prefixes(p, s.lines));
    if (prm.prefix_flags) return prm_flagged_doc(p.question(), s, toy::label_prefixes(p, s.lines), prm.lm_weight);
    return prm_doc(p.question(), s, prm.lm_weight);
  };
  std::vector<Doc> sample_docs;
  if (!prm.reasoner_samples.empty()) {
    for (const auto& sample : toy::read_labelled_samples(prm.reasoner_samples)) {
      sample_docs.push_back(labelled_doc(sample.problem, sample.solution));
    }
    if (sample_docs.empty()) throw std::runtime_error(prm.reasoner_samples + ": no samples");
    std::printf("%zu reasoner samples from %s, drawn for %.0f%% of documents\n", sample_docs.size(),
                prm.reasoner_samples.c_str(), 100 * prm.samples_share);
  }
  Packer packer(kBatchRows, ctx, [&]() -> std::optional<Doc> {
    if (!sample_docs.empty() && rng.bernoulli(prm.samples_share)) {
      return sample_docs[size_t(rng.uniform_int(0, int(sample_docs.size()) - 1))];
    }
    toy::Problem p = stream.next();
    if (prm.digit_docs > 0 && rng.bernoulli(prm.digit_docs)) {
      const toy::LabelledSolution s = toy::make_slipped_example(p, rng, prm.slip_rate);
      return prm_char_doc(p.question(), s, toy::label_result_digits(s.lines));
    }
    return labelled_doc(p, toy::make_prm_example(p, rng, prm.data));
  });
  std::vector<Doc> heldout;
  for (const auto& [question, solution] : heldout_prm_examples(prm.heldout)) heldout.push_back(prm_doc(question, solution));
  auto report = train(model, packer, pack_all(std::move(heldout), ctx), a.train, stdout);
  if (prm.digit_docs > 0) {
    const EvalResult r = evaluate(model, pack_all(heldout_digit_docs(prm.slip_rate), ctx));
    std::printf("held-out replaced digits: loss %.4f, AUC %.4f over %lld targets\n", r.loss, r.auc, (long long)r.targets);
  }
  // Settings at their defaults stay out of the recipe, so the committed toy-prm rebuilds
  // byte for byte.
  std::string recipe = prm.prefix_labels ? " prefix_labels" : " lm_weight=" + std::to_string(prm.lm_weight);
  if (prm.data.mistake_rate != toy::PrmDataOptions{}.mistake_rate) {
    recipe += " mistake_rate=" + std::to_string(prm.data.mistake_rate);
  }
  if (prm.prefix_flags) recipe += " prefix_flags=" + std::to_string(a.train.flag_weight);
  if (prm.heldout == toy::Split::test) recipe += " heldout=test";
  if (prm.train_from_layer > 0) recipe += " train_from_layer=" + std::to_string(prm.train_from_layer);
  if (prm.digit_docs > 0) {
    recipe += " digit_docs=" + std::to_string(prm.digit_docs) + " slip_rate=" + std::to_string(prm.slip_rate);
  }
  if (!sample_docs.empty()) {
    recipe += " reasoner_samples=" + std::to_string(sample_docs.size()) + " samples_share=" + std::to_string(prm.samples_share);
  }
  finish(a, "prm", model, report, recipe);
}

// Diagnostic: step-level AUCs on the held-out steps with injected mistakes
// (heldout_prm_examples, as in run_prm). For a reasoner: its surprise, a step's score
// being the lowest logprob of any token it wrote in that step and the steps before it,
// or in that step alone. For a PRM (`prm`, the steps read in its format): its verdict
// after each tag, its surprise alone, and the two combined by toy::prm_step_probabilities
// at several weights, which is how kPrmSurpriseWeight was chosen.
void run_surprise(const std::string& model_path, bool prm, toy::Split heldout) {
  auto model = load_model(model_path);
  torch::NoGradGuard no_grad;
  model->eval();
  const std::vector<double> weights{0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0};
  std::vector<std::pair<double, bool>> by_min, by_local;
  std::vector<std::vector<std::pair<double, bool>>> by_weight(weights.size());
  for (const auto& [question, ex] : heldout_prm_examples(heldout)) {
    std::vector<int64_t> tokens{toy::kBosToken};
    for (int32_t t : toy::toy_tokenize(prm ? toy::prm_prefix(question) : toy::reasoner_prompt(question))) {
      tokens.push_back(t);
    }
    const size_t from = tokens.size();
    const toy::ReasonerOutput output = toy::reasoner_output(ex.lines);
    if (prm) {
      std::string steps;
      for (const auto& line : ex.lines) steps += toy::prm_step(line);
      for (int32_t t : toy::toy_tokenize(steps + toy::kPrmGood)) tokens.push_back(t);
    } else {
      tokens.insert(tokens.end(), output.tokens.begin(), output.tokens.end());
    }
    const int64_t n = int64_t(tokens.size());
    if (n > model->shape().n_ctx) continue;
    auto input = torch::tensor(tokens, torch::kInt64).view({1, n});
    auto logp = torch::log_softmax(model->forward(input, torch::arange(n, torch::kInt64).view({1, n}),
                                                 torch::zeros({1, n}, torch::kInt64))[0], -1);
    std::vector<double> local;  // per step, its lowest logprob
    if (prm) {
      toy::PrmReading reading;
      for (size_t t = from; t < size_t(n); ++t) {
        const auto at = logp[int64_t(t) - 1];
        reading.tokens.push_back(int32_t(tokens[t]));
        reading.logprobs.push_back(at[tokens[t]].item<float>());
        reading.good.push_back(at[toy::toy_token_for_char(toy::kPrmGood)].item<float>());
        reading.bad.push_back(at[toy::toy_token_for_char(toy::kPrmBad)].item<float>());
      }
      local = toy::prm_step_surprise(reading);
      for (size_t w = 0; w < weights.size(); ++w) {
        const auto p = toy::prm_step_probabilities(reading, weights[w]);
        for (size_t i = 0; i < p.size(); ++i) by_weight[w].emplace_back(p[i], ex.labels[i]);
      }
    } else {
      for (size_t i = 0, t = from; i < output.line_ends.size(); ++i) {
        double worst = 0.0;
        for (; t < from + output.line_ends[i]; ++t) worst = std::min(worst, logp[int64_t(t) - 1][tokens[t]].item<double>());
        local.push_back(worst);
      }
    }
    double running = 0.0;
    for (size_t i = 0; i < local.size(); ++i) {
      running = std::min(running, local[i]);
      by_min.emplace_back(running, ex.labels[i]);
      by_local.emplace_back(local[i], ex.labels[i]);
    }
  }
  std::printf("steps %zu: AUC cumulative-min surprise %.4f, this step only %.4f\n", by_min.size(),
              toy::roc_auc(by_min).value_or(-1), toy::roc_auc(by_local).value_or(-1));
  if (!prm) return;
  std::printf("PRM score (verdict + weight x cumulative-min surprise), AUC by weight:");
  for (size_t w = 0; w < weights.size(); ++w) {
    std::printf(" %.1f: %.4f%s", weights[w], toy::roc_auc(by_weight[w]).value_or(-1),
                weights[w] == toy::kPrmSurpriseWeight ? " (toy::kPrmSurpriseWeight)" : "");
  }
  std::printf("\n");
}

// Loads a GGUF into the trainer's model and writes it again (f16 or f32 matrices).
void run_export(const std::string& model_path, bool f16, const std::string& out) {
  toy::LlamaFile file;
  auto model = load_model(model_path, &file);
  toy::GgufWriteOptions w;
  w.name = stem(out);
  w.matrix_type = f16 ? toy::WeightType::f16 : toy::WeightType::f32;
  w.metadata = file.metadata;
  toy::write_llama_gguf(out, model->shape(), model->to_tensors(), w);
}

// Writes int32 n_tokens, int32 n_vocab, then n_tokens x n_vocab float32 logits for
// BOS + text: the reference the export test compares llama.cpp against.
void run_logits(const std::string& model_path, const std::string& text, const std::string& out) {
  auto model = load_model(model_path);
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> tokens{toy::kBosToken};
  for (int32_t t : toy::toy_tokenize(text)) tokens.push_back(t);
  const int64_t n = int64_t(tokens.size());
  auto input = torch::tensor(tokens, torch::kInt64).view({1, n});
  auto positions = torch::arange(n, torch::kInt64).view({1, n});
  auto docs = torch::zeros({1, n}, torch::kInt64);
  auto logits = model->forward(input, positions, docs).contiguous();
  std::ofstream f(out, std::ios::binary);
  const int32_t header[2] = {int32_t(n), int32_t(logits.size(2))};
  f.write(reinterpret_cast<const char*>(header), sizeof(header));
  f.write(reinterpret_cast<const char*>(logits.data_ptr<float>()), std::streamsize(logits.numel() * sizeof(float)));
  if (!f) throw std::runtime_error("logits: cannot write " + out);
}

}  // namespace
}  // namespace ponder::trainer

int main(int argc, char** argv) {
  using namespace ponder::trainer;
  // LibTorch frees and reallocates its large activation buffers every step; by default
  // glibc hands them back to the kernel each time, and the page faults took half the
  // training time here. Keep freed memory in the process instead (measured 2x faster).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 1 << 28);
  CLI::App app{"ponder-train: trains ponder's toy models (LibTorch) and writes GGUF files"};
  app.require_subcommand(1);
  int threads = 2;
  app.add_option("--threads", threads, "LibTorch threads");

  std::string preset, out, text, model_path;
  uint64_t seed = 1;
  auto* init = app.add_subcommand("init", "Write a model's random initialisation");
  init->add_option("--preset", preset, "Model shape (toy-reasoner-s, toy-reasoner-l, toy-prm, smoke)")->required();
  init->add_option("--seed", seed, "Seed of the weights");
  init->add_option("-o,--out", out, "GGUF file to write")->required();

  int extra_layers = 2;
  auto* grow = app.add_subcommand("grow", "Copy a model with new layers on top that start as the identity");
  grow->add_option("-m,--model", model_path, "GGUF model")->required();
  grow->add_option("--layers", extra_layers, "Layers to add")->check(CLI::PositiveNumber);
  grow->add_option("--seed", seed, "Seed of the new layers' other weights");
  grow->add_option("-o,--out", out, "GGUF file to write")->required();

  CommonArgs reasoner_args, prm_args;
  auto* reasoner = app.add_subcommand("reasoner", "Train a reasoner on the toy task");
  add_common(reasoner, reasoner_args);
  auto* prm = app.add_subcommand("prm", "Train a process reward model on solutions with injected mistakes");
  add_common(prm, prm_args);
  PrmArgs prm_only;
  prm->add_option("--lm-weight", prm_only.lm_weight, "Loss weight of the correct steps' tokens (0: tags only)");
  auto* prefix_labels =
      prm->add_flag("--prefix-labels", prm_only.prefix_labels,
                    "Targets at every step character: is the solution still right there (replaces --lm-weight)");
  auto* prefix_flags = prm->add_flag(
      "--prefix-flags", prm_only.prefix_flags,
      "Also flag every step character: is the solution still right there (a target for logit('+') - logit('-'))");
  prefix_flags->excludes(prefix_labels);
  prm->add_option("--flag-weight", prm_args.train.flag_weight, "Loss weight of those flags")
      ->check(CLI::NonNegativeNumber)
      ->needs(prefix_flags);
  add_heldout_option(prm, prm_only.heldout);
  prm->add_option("--mistake-rate", prm_only.data.mistake_rate, "Fraction of solutions with an injected mistake");
  prm->add_option("--train-from-layer", prm_only.train_from_layer,
                  "Train only this layer and those above it, the output norm and matrix");
  prm->add_option("--digit-docs", prm_only.digit_docs,
                  "Share of documents with slipped results and a target at each result digit")
      ->check(CLI::Range(0.0, 1.0));
  auto* reasoner_samples =
      prm->add_option("--reasoner-samples", prm_only.reasoner_samples,
                      "A reasoner's samples of training problems (ponder toy-steps --write-samples) to train on too")
          ->check(CLI::ExistingFile);
  prm->add_option("--samples-share", prm_only.samples_share, "Share of documents drawn from those samples")
      ->check(CLI::Range(0.0, 1.0))
      ->needs(reasoner_samples);
  prm->add_option("--slip-rate", prm_only.slip_rate, "Per equation result in those documents")->check(CLI::Range(0.0, 1.0));

  auto* logits = app.add_subcommand("logits", "Write the trainer's logits for BOS + text (export checks)");
  logits->add_option("-m,--model", model_path, "GGUF model")->required();
  logits->add_option("--text", text, "Text after BOS")->required();
  logits->add_option("-o,--out", out, "Binary file to write")->required();

  auto* surprise = app.add_subcommand("surprise", "Diagnostic: step AUC of a reasoner's surprise, or a PRM's scores, on injected mistakes");
  surprise->add_option("-m,--model", model_path, "GGUF model")->required();
  bool as_prm = false;
  surprise->add_flag("--prm", as_prm, "The model is a PRM: read the steps in its format and also score its verdicts");
  ponder::toy::Split surprise_heldout = ponder::toy::Split::dev;
  add_heldout_option(surprise, surprise_heldout);

  bool f16 = false;
  auto* exp = app.add_subcommand("export", "Write a model again through the trainer (f32 or f16 matrices)");
  exp->add_option("-m,--model", model_path, "GGUF model")->required();
  exp->add_flag("--f16", f16, "Store matrices as f16 (default f32)");
  exp->add_option("-o,--out", out, "GGUF file to write")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    const int n_threads = reasoner->parsed() ? reasoner_args.threads : prm->parsed() ? prm_args.threads : threads;
    torch::set_num_threads(std::max(1, n_threads));
    if (init->parsed()) run_init(preset, seed, out);
    if (grow->parsed()) run_grow(model_path, extra_layers, seed, out);
    if (reasoner->parsed()) run_reasoner(reasoner_args);
    if (prm->parsed()) run_prm(prm_args, prm_only);
    if (logits->parsed()) run_logits(model_path, text, out);
    if (surprise->parsed()) run_surprise(model_path, as_prm, surprise_heldout);
    if (exp->parsed()) run_export(model_path, f16, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder-train: %s\n", e.what());
    return 1;
  }
  return 0;
}
