// The difficulty probe: L2-penalised logistic regression on standardised hidden states,
// fitted by Newton's method with the penalty chosen by cross-validation; its JSON file.

#include "ponder/probe.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <stdexcept>

#include "eval/content_hash.h"
#include "eval/files.h"
#include "ponder/model.h"

namespace ponder {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kProbeFileVersion = 1;
constexpr const char* kProbeFormat = "ponder-difficulty-probe";

double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)); }

// -log P(label) for a logit z, computed without overflow.
double log_loss_of(double z, int label) {
  const double y = label ? 1.0 : -1.0;
  const double t = -y * z;
  return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
}

// Examples as rows of standardised features with a leading 1 for the bias.
struct Design {
  size_t n = 0, d = 0;  // rows, columns (features + 1)
  std::vector<double> x;  // row-major n x d
  const double* row(size_t i) const { return x.data() + i * d; }
};

// Solves A s = b for symmetric positive definite A (d x d, row-major) by Cholesky.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, size_t d) {
  for (size_t j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    for (size_t k = 0; k < j; ++k) diag -= a[j * d + k] * a[j * d + k];
    if (!(diag > 0.0)) throw std::runtime_error("probe fit: the Newton system is not positive definite");
    const double l = std::sqrt(diag);
    a[j * d + j] = l;
    for (size_t i = j + 1; i < d; ++i) {
      double v = a[i * d + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = v / l;
    }
  }
  for (size_t i = 0; i < d; ++i) {  // L y = b
    double v = b[i];
    for (size_t k = 0; k < i; ++k) v -= a[i * d + k] * b[k];
    b[i] = v / a[i * d + i];
  }
  for (size_t i = d; i-- > 0;) {  // L^T s = y
    double v = b[i];
    for (size_t k = i + 1; k < d; ++k) v -= a[k * d + i] * b[k];
    b[i] = v / a[i * d + i];
  }
  return b;
}

// Mean log loss + l2/2 * |w|^2 (the bias, column 0, not penalised) over `rows`.
double objective(const Design& x, const std::vector<int>& y, const std::vector<size_t>& rows,
                 const std::vector<double>& w, double l2) {
  double loss = 0.0;
  for (size_t i : rows) {
    const double z = std::inner_product(w.begin(), w.end(), x.row(i), 0.0);
    loss += log_loss_of(z, y[i]);
  }
  double penalty = 0.0;
  for (size_t j = 1; j < w.size(); ++j) penalty += w[j] * w[j];
  return loss / double(rows.size()) + 0.5 * l2 * penalty;
}

// Newton's method with step halving; the objective is strictly convex, so it converges
// to the one minimum from zero.
std::vector<double> newton_fit(const Design& x, const std::vector<int>& y, const std::vector<size_t>& rows,
                               double l2) {
  const size_t d = x.d;
  const double n = double(rows.size());
  std::vector<double> w(d, 0.0);
  double current = objective(x, y, rows, w, l2);
  for (int iteration = 0; iteration < 100; ++iteration) {
    std::vector<double> grad(d, 0.0), hess(d * d, 0.0);
    for (size_t i : rows) {
      const double* r = x.row(i);
      const double p = sigmoid(std::inner_product(w.begin(), w.end(), r, 0.0));
      const double residual = p - double(y[i]);
      const double weight = std::max(p * (1.0 - p), 1e-12);
      for (size_t a = 0; a < d; ++a) {
        grad[a] += residual * r[a];
        const double wa = weight * r[a];
        for (size_t b = 0; b <= a; ++b) hess[a * d + b] += wa * r[b];
      }
    }
    for (size_t a = 0; a < d; ++a) {
      grad[a] /= n;
      for (size_t b = 0; b <= a; ++b) hess[a * d + b] = hess[b * d + a] = hess[a * d + b] / n;
    }
    for (size_t a = 1; a < d; ++a) {
      grad[a] += l2 * w[a];
      hess[a * d + a] += l2;
    }
    hess[0] += 1e-9;  // the bias: unpenalised, kept solvable when one class dominates
    const std::vector<double> step = solve_spd(std::move(hess), grad, d);
    double scale = 1.0, next = current;
    std::vector<double> trial(d);
    for (int halving = 0; halving < 30; ++halving, scale *= 0.5) {
      for (size_t a = 0; a < d; ++a) trial[a] = w[a] - scale * step[a];
      next = objective(x, y, rows, trial, l2);
      if (next <= current) break;
    }
    if (next > current) break;  // no step lowers it: at the minimum to rounding
    w = trial;
    const double decrease = current - next;
    current = next;
    double largest = 0.0;
    for (double s : step) largest = std::max(largest, std::abs(s) * scale);
    if (largest < 1e-9 || decrease < 1e-14) break;
  }
  return w;
}

ProbeQuality quality(const std::vector<double>& logits, const std::vector<int>& labels) {
  ProbeQuality q;
  q.examples = int(labels.size());
  std::vector<double> p(logits.size());
  int right = 0;
  double loss = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = sigmoid(logits[i]);
    right += (p[i] >= 0.5) == (labels[i] == 1);
    loss += log_loss_of(logits[i], labels[i]);
  }
  q.accuracy = labels.empty() ? 0.0 : double(right) / double(labels.size());
  q.log_loss = labels.empty() ? 0.0 : loss / double(labels.size());
  q.auc = roc_auc(p, labels);
  return q;
}

// Mean and standard deviation of each feature over `rows` (a constant feature gets scale 1).
void standardisation(const std::vector<std::vector<float>>& features, const std::vector<size_t>& rows,
                     std::vector<double>& mean, std::vector<double>& scale) {
  const size_t f = features.front().size();
  mean.assign(f, 0.0);
  scale.assign(f, 0.0);
  for (size_t i : rows)
    for (size_t j = 0; j < f; ++j) mean[j] += features[i][j];
  for (double& m : mean) m /= double(rows.size());
  for (size_t i : rows)
    for (size_t j = 0; j < f; ++j) scale[j] += (features[i][j] - mean[j]) * (features[i][j] - mean[j]);
  for (double& s : scale) {
    s = std::sqrt(s / double(rows.size()));
    if (!(s > 1e-12)) s = 1.0;
  }
}

Design design(const std::vector<std::vector<float>>& features, const std::vector<double>& mean,
              const std::vector<double>& scale) {
  Design x;
  x.n = features.size();
  x.d = mean.size() + 1;
  x.x.resize(x.n * x.d);
  for (size_t i = 0; i < x.n; ++i) {
    double* r = x.x.data() + i * x.d;
    r[0] = 1.0;
    for (size_t j = 0; j < mean.size(); ++j) r[j + 1] = (features[i][j] - mean[j]) / scale[j];
  }
  return x;
}

// A fit on `rows`, standardised by their own statistics, as raw-feature weights and a bias.
std::pair<std::vector<double>, double> fit_rows(const std::vector<std::vector<float>>& features,
                                                const std::vector<int>& labels, const std::vector<size_t>& rows,
                                                double l2) {
  std::vector<double> mean, scale;
  standardisation(features, rows, mean, scale);
  const Design x = design(features, mean, scale);
  const std::vector<double> w = newton_fit(x, labels, rows, l2);
  std::vector<double> weights(mean.size());
  double bias = w[0];
  for (size_t j = 0; j < mean.size(); ++j) {
    weights[j] = w[j + 1] / scale[j];
    bias -= weights[j] * mean[j];
  }
  return {weights, bias};
}

double logit(const std::vector<double>& weights, double bias, std::span<const float> x) {
  double z = bias;
  for (size_t j = 0; j < weights.size(); ++j) z += weights[j] * double(x[j]);
  return z;
}

json quality_json(const ProbeQuality& q) {
  return {{"examples", q.examples}, {"accuracy", q.accuracy}, {"auc", std::isnan(q.auc) ? json() : json(q.auc)},
          {"log_loss", q.log_loss}};
}

ProbeQuality quality_from(const json& j) {
  ProbeQuality q;
  q.examples = j.at("examples").get<int>();
  q.accuracy = j.at("accuracy").get<double>();
  q.auc = j.at("auc").is_null() ? std::nan("") : j.at("auc").get<double>();
  q.log_loss = j.at("log_loss").get<double>();
  return q;
}

}  // namespace

void ProbeFitOptions::validate() const {
  if (l2.empty()) throw std::invalid_argument("probe l2: give at least one penalty");
  for (double v : l2) {
    if (!(std::isfinite(v) && v > 0.0)) throw std::invalid_argument("probe l2: every penalty must be a finite number > 0");
  }
  if (folds < 2) throw std::invalid_argument("probe folds: must be >= 2");
}

double roc_auc(std::span<const double> scores, std::span<const int> labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("roc_auc: scores and labels differ in length");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney: the positives' rank sum, tied scores sharing their mean rank.
  double positive_ranks = 0.0;
  size_t positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (double(i) + double(j - 1)) / 2.0 + 1.0;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1) {
        positive_ranks += mean_rank;
        ++positives;
      }
    }
    i = j;
  }
  const size_t negatives = labels.size() - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  return (positive_ranks - double(positives) * double(positives + 1) / 2.0) / (double(positives) * double(negatives));
}

DifficultyProbe DifficultyProbe::fit(const std::vector<std::vector<float>>& features, const std::vector<int>& labels,
                                     const ProbeFitOptions& options, std::vector<double>* held_out) {
  options.validate();
  if (features.empty()) throw std::invalid_argument("probe fit: no examples");
  if (features.size() != labels.size()) throw std::invalid_argument("probe fit: features and labels differ in count");
  const size_t f = features.front().size();
  if (f == 0) throw std::invalid_argument("probe fit: the examples have no features");
  int positives = 0;
  for (size_t i = 0; i < features.size(); ++i) {
    if (features[i].size() != f) throw std::invalid_argument("probe fit: example " + std::to_string(i) + " has " +
                                                             std::to_string(features[i].size()) + " features, not " +
                                                             std::to_string(f));
    for (float v : features[i]) {
      if (!std::isfinite(v)) throw std::invalid_argument("probe fit: example " + std::to_string(i) + " has a non-finite feature");
    }
    if (labels[i] != 0 && labels[i] != 1) throw std::invalid_argument("probe fit: labels must be 0 or 1");
    positives += labels[i];
  }
  const int n = int(features.size());
  const size_t count = features.size();
  if (positives == 0 || positives == n) {
    throw std::invalid_argument("probe fit: every example has the same label (" + std::to_string(positives) + " of " +
                                std::to_string(n) + " right); nothing to tell apart");
  }
  if (options.folds > n) throw std::invalid_argument("probe folds: more folds than examples");

  // Folds from a seeded shuffle (mt19937_64's output is fixed by the standard; the
  // library's distributions are not, so the draw is reduced by hand).
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937_64 rng(options.seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  std::vector<int> fold(count);
  for (size_t k = 0; k < order.size(); ++k) fold[order[k]] = int(k % size_t(options.folds));

  // Held-out logits of every example under each penalty.
  double best_loss = std::numeric_limits<double>::infinity();
  double best_l2 = options.l2.front();
  std::vector<double> best_logits;
  for (double l2 : options.l2) {
    std::vector<double> held_out(count);
    for (int k = 0; k < options.folds; ++k) {
      std::vector<size_t> train, test;
      for (size_t i = 0; i < count; ++i) (fold[i] == k ? test : train).push_back(i);
      const auto [weights, bias] = fit_rows(features, labels, train, l2);
      for (size_t i : test) held_out[i] = logit(weights, bias, features[i]);
    }
    double loss = 0.0;
    for (size_t i = 0; i < count; ++i) loss += log_loss_of(held_out[i], labels[i]);
    loss /= double(n);
    if (loss < best_loss) {
      best_loss = loss;
      best_l2 = l2;
      best_logits = std::move(held_out);
    }
  }

  std::vector<size_t> all(count);
  std::iota(all.begin(), all.end(), size_t(0));
  DifficultyProbe probe;
  std::tie(probe.weights_, probe.bias_) = fit_rows(features, labels, all, best_l2);
  std::vector<double> fitted(count);
  for (size_t i = 0; i < count; ++i) fitted[i] = logit(probe.weights_, probe.bias_, features[i]);
  probe.info.examples = n;
  probe.info.positives = positives;
  probe.info.l2 = best_l2;
  probe.info.folds = options.folds;
  probe.info.cross_validated = quality(best_logits, labels);
  probe.info.training = quality(fitted, labels);
  if (held_out) {
    held_out->clear();
    for (double z : best_logits) held_out->push_back(sigmoid(z));
  }
  return probe;
}

double DifficultyProbe::p_correct(std::span<const float> hidden_state) const {
  if (hidden_state.size() != weights_.size()) {
    throw std::invalid_argument("probe: a hidden state of " + std::to_string(hidden_state.size()) +
                                " values, the probe reads " + std::to_string(weights_.size()));
  }
  return sigmoid(logit(weights_, bias_, hidden_state));
}

void DifficultyProbe::check_model(const Model& model) const {
  const int width = model.n_embd();
  if (width != features()) {
    throw std::invalid_argument("probe: fitted on hidden states of " + std::to_string(features()) + " values; " +
                                model.path() + " has " + std::to_string(width));
  }
  const std::string hash = eval::cached_file_sha256(model.path());
  if (hash != info.model_sha256) {
    throw std::invalid_argument("probe: fitted on " + info.model + " (sha256 " + info.model_sha256.substr(0, 12) +
                                "...), not on " + model.path() + " (sha256 " + hash.substr(0, 12) +
                                "...); run ponder calibrate for this model");
  }
}

void DifficultyProbe::save(const std::string& path) const {
  json weights = json::array();
  // Float precision is what the hidden states have; it keeps the file small.
  for (double w : weights_) weights.push_back(float(w));
  const json j = {
      {"format", kProbeFormat},
      {"version", kProbeFileVersion},
      {"model", {{"file", info.model}, {"sha256", info.model_sha256}}},
      {"data", {{"file", info.data}, {"sha256", info.data_sha256}}},
      {"label", info.label},
      {"features", {{"what", info.features}, {"count", features()}}},
      {"fit",
       {{"method", "logistic regression, L2 on standardised features, Newton's method; weights here are on raw features"},
        {"examples", info.examples},
        {"positives", info.positives},
        {"l2", info.l2},
        {"folds", info.folds},
        {"cross_validated", quality_json(info.cross_validated)},
        {"training", quality_json(info.training)}}},
      {"bias", bias_},
      {"weights", weights},
  };
  try {
    eval::write_file_atomic(path, j.dump(1) + "\n");
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot write the probe: ") + e.what());
  }
}

DifficultyProbe DifficultyProbe::load(const std::string& path) {
  std::string text;
  try {
    text = eval::read_regular_file(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read the probe " + path + ": " + e.what());
  }
  DifficultyProbe probe;
  try {
    const json j = json::parse(text);
    if (!j.is_object() || j.value("format", "") != kProbeFormat) throw std::runtime_error("not a ponder difficulty probe (\"format\")");
    if (j.at("version").get<int>() != kProbeFileVersion) {
      throw std::runtime_error("version " + j.at("version").dump() + ", this ponder reads " +
                               std::to_string(kProbeFileVersion));
    }
    probe.info.model = j.at("model").at("file").get<std::string>();
    probe.info.model_sha256 = j.at("model").at("sha256").get<std::string>();
    probe.info.data = j.at("data").at("file").get<std::string>();
    probe.info.data_sha256 = j.at("data").at("sha256").get<std::string>();
    probe.info.label = j.at("label").get<std::string>();
    probe.info.features = j.at("features").at("what").get<std::string>();
    const json& fit = j.at("fit");
    probe.info.examples = fit.at("examples").get<int>();
    probe.info.positives = fit.at("positives").get<int>();
    probe.info.l2 = fit.at("l2").get<double>();
    probe.info.folds = fit.at("folds").get<int>();
    probe.info.cross_validated = quality_from(fit.at("cross_validated"));
    probe.info.training = quality_from(fit.at("training"));
    probe.bias_ = j.at("bias").get<double>();
    probe.weights_ = j.at("weights").get<std::vector<double>>();
    const int count = j.at("features").at("count").get<int>();
    if (count != int(probe.weights_.size()) || count == 0) {
      throw std::runtime_error("\"weights\" has " + std::to_string(probe.weights_.size()) + " values, \"features\" says " +
                               std::to_string(count));
    }
    if (!std::isfinite(probe.bias_) ||
        !std::all_of(probe.weights_.begin(), probe.weights_.end(), [](double w) { return std::isfinite(w); })) {
      throw std::runtime_error("non-finite weights");
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("bad probe file " + path + ": " + e.what());
  }
  return probe;
}

std::string default_probe_path(const std::string& model_path) {
  fs::path p(model_path);
  p.replace_extension(".probe.json");
  return p.string();
}

}  // namespace ponder
