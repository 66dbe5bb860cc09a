#pragma once
// A difficulty probe: the probability that greedy decoding answers a question right, read
// from the final hidden state of the question prompt's last token (ponder/hidden_state.h)
// by a logistic regression. `ponder calibrate --data dev.jsonl` runs greedy on every
// question, records whether it was right, fits the probe and writes it as a small JSON
// file beside the model (models/NAME.probe.json); docs/difficulty.md has the measurements.
//
// A strategy asks for it through its question: QuestionRun::probe_p_correct() (one
// prefill of the prompt, once per question), with the probe attached to the runtime
// (Runtime::set_probe).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ponder {

class Model;

// How a probe is fitted: L2-penalised logistic regression on standardised features,
// solved by Newton's method, the penalty chosen by cross-validated log loss. Deterministic:
// the same examples give the same probe.
struct ProbeFitOptions {
  // Penalties tried (on the mean log loss, per squared standardised weight); each > 0.
  std::vector<double> l2 = {0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0};
  int folds = 5;      // cross-validation folds; >= 2 and at most the number of examples
  uint64_t seed = 1;  // which examples go to which fold
  // Throws std::invalid_argument naming the field and its allowed range.
  void validate() const;
};

// How well P(right) tells right from wrong on a set of examples.
struct ProbeQuality {
  int examples = 0;
  double accuracy = 0.0;  // of predicting "right" where P(right) >= 0.5
  double auc = 0.0;       // area under the ROC curve (NaN when one class is missing)
  double log_loss = 0.0;  // mean negative log-likelihood, nats
};

// Where a probe came from: its model, its data, its fit.
struct ProbeInfo {
  std::string model;         // the model file's name
  std::string model_sha256;  // its content hash: a probe is refused on any other model
  std::string data;          // the calibration data's file name
  std::string data_sha256;
  std::string label = "greedy answer correct";
  std::string features = "final hidden state (after the output norm) of the prompt's last token";
  int examples = 0;
  int positives = 0;  // examples where greedy was right
  double l2 = 0.0;    // the penalty chosen
  int folds = 0;
  ProbeQuality cross_validated;  // each fold predicted by the probe fitted on the others
  ProbeQuality training;         // the final probe on every example it was fitted on
};

class DifficultyProbe {
 public:
  // Fits a probe on `features` (one row per example, all the same size) and `labels`
  // (1: greedy was right). Throws std::invalid_argument for empty or ragged input,
  // non-finite features, a label other than 0/1, or only one class present.
  // `held_out`, when given, receives each example's P(right) from the fit that did not
  // see it (the cross-validation's, at the chosen penalty).
  static DifficultyProbe fit(const std::vector<std::vector<float>>& features, const std::vector<int>& labels,
                             const ProbeFitOptions& options = {}, std::vector<double>* held_out = nullptr);
  // Reads a probe file; throws std::runtime_error naming the file and what is wrong.
  static DifficultyProbe load(const std::string& path);
  // Writes it as JSON (atomically); throws std::runtime_error naming the file.
  void save(const std::string& path) const;

  // P(greedy answer right) for one hidden state; throws std::invalid_argument when its
  // size is not features().
  double p_correct(std::span<const float> hidden_state) const;
  int features() const { return int(weights_.size()); }

  // Throws std::invalid_argument when the probe was fitted on another model (its file's
  // content differs; the hash is remembered per file, see eval/content_hash.h) or reads
  // another width of hidden state.
  void check_model(const Model& model) const;

  ProbeInfo info;

 private:
  // The fit on standardised features, folded back so that raw features are read as they come.
  std::vector<double> weights_;
  double bias_ = 0.0;
};

// Area under the ROC curve of `scores` for telling label 1 from label 0 (ties count half):
// the chance that a random positive scores above a random negative. NaN when either class
// is missing.
double roc_auc(std::span<const double> scores, std::span<const int> labels);

// Where a model's probe lives by default: models/x.gguf -> models/x.probe.json.
std::string default_probe_path(const std::string& model_path);

}  // namespace ponder
