#include "batches.h"

#include <algorithm>
#include <stdexcept>

#include "toy/vocab.h"

namespace ponder::trainer {

namespace {

std::vector<int64_t> tokens_of(const std::string& text) {
  const auto t = toy::toy_tokenize(text);
  return {t.begin(), t.end()};
}

// Where each step's characters begin in a prm_doc, given one row of per-character labels
// per step (its line and newline; its tag follows). The steps lie back to back at the
// end of the document.
template <class Label>
std::vector<size_t> step_starts(const Doc& d, const std::vector<std::vector<Label>>& rows) {
  std::vector<size_t> starts(rows.size());
  size_t end = d.input.size();
  for (size_t i = rows.size(); i-- > 0;) {
    if (end < rows[i].size() + 1) throw std::invalid_argument("prm_doc labels: longer than the text");
    end -= rows[i].size() + 1;
    starts[i] = end;
  }
  return starts;
}

}  // namespace

Doc reasoner_doc(const std::string& question, const std::string& solution) {
  std::vector<int64_t> all{toy::kBosToken};
  for (int64_t t : tokens_of(toy::reasoner_prompt(question))) all.push_back(t);
  const size_t prompt_len = all.size();
  for (int64_t t : tokens_of(solution)) all.push_back(t);
  all.push_back(toy::kEosToken);
  Doc d;
  d.input.assign(all.begin(), all.end() - 1);
  d.target.assign(all.begin() + 1, all.end());
  for (size_t i = 0; i + 1 < prompt_len; ++i) d.target[i] = kNoTarget;
  for (int64_t t : d.target) d.weight.push_back(t == kNoTarget ? 0.0f : 1.0f);
  return d;
}

Doc prm_doc(const std::string& question, const toy::LabelledSolution& solution, float lm_weight) {
  if (solution.lines.size() != solution.labels.size()) throw std::invalid_argument("prm_doc: one label per line needed");
  Doc d;
  auto append = [&](const std::string& text, bool predict) {
    for (int64_t t : tokens_of(text)) {
      // The previous position predicts this token, unless it is a tag (whose target is the label).
      if (predict && lm_weight > 0 && d.target.back() == kNoTarget) {
        d.target.back() = t;
        d.weight.back() = lm_weight;
      }
      d.input.push_back(t);
      d.target.push_back(kNoTarget);
      d.weight.push_back(0.0f);
    }
  };
  d.input.push_back(toy::kBosToken);
  d.target.push_back(kNoTarget);
  d.weight.push_back(0.0f);
  append(toy::prm_prefix(question), false);
  for (size_t i = 0; i < solution.lines.size(); ++i) {
    const std::string step = toy::prm_step(solution.lines[i]);
    append(step.substr(0, step.size() - 1), solution.labels[i]);
    append(step.substr(step.size() - 1), false);
    d.target.back() = toy::toy_token_for_char(solution.labels[i] ? toy::kPrmGood : toy::kPrmBad);
    d.weight.back() = 1.0f;
  }
  return d;
}

Packer::Packer(int rows, int ctx, std::function<std::optional<Doc>()> source)
    : rows_(rows), ctx_(ctx), source_(std::move(source)) {
  if (rows < 1 || ctx < 1) throw std::invalid_argument("Packer: rows and ctx must be >= 1");
}

void Packer::refill() {
  while (!exhausted_ && buffer_.size() < kBuffer) {
    auto doc = source_();
    if (!doc) {
      exhausted_ = true;
      break;
    }
    if (int(doc->input.size()) > ctx_) {
      ++too_long_;
      continue;
    }
    buffer_.push_back(std::move(*doc));
  }
}

std::optional<Batch> Packer::next() {
  auto tokens = torch::zeros({rows_, ctx_}, torch::kInt64);
  auto targets = torch::full({rows_, ctx_}, kNoTarget, torch::kInt64);
  auto weights = torch::zeros({rows_, ctx_}, torch::kFloat32);
  auto wgt = weights.accessor<float, 2>();
  auto flags = torch::full({rows_, ctx_}, int64_t(kNoFlag), torch::kInt64);
  auto flg = flags.accessor<int64_t, 2>();
  auto positions = torch::zeros({rows_, ctx_}, torch::kInt64);
  auto docs = torch::full({rows_, ctx_}, -1, torch::kInt64);
  auto tok = tokens.accessor<int64_t, 2>(), tgt = targets.accessor<int64_t, 2>();
  auto pos = positions.accessor<int64_t, 2>(), doc = docs.accessor<int64_t, 2>();
  Batch b;
  for (int r = 0; r < rows_; ++r) {
    int used = 0;
    for (int64_t index = 0;; ++index) {
      refill();
      auto fits = std::find_if(buffer_.begin(), buffer_.end(),
                               [&](const Doc& d) { return used + int(d.input.size()) <= ctx_; });
      if (fits == buffer_.end()) break;
      const int len = int(fits->input.size());
      for (int i = 0; i < len; ++i) {
        tok[r][used + i] = fits->input[size_t(i)];
        tgt[r][used + i] = fits->target[size_t(i)];
        wgt[r][used + i] = fits->weight[size_t(i)];
        if (!fits->flag.empty()) flg[r][used + i] = fits->flag[size_t(i)];
        pos[r][used + i] = i;
        doc[r][used + i] = index;
      }
      used += len;
      buffer_.erase(fits);
    }
    b.n_tokens += used;
  }
  if (b.n_tokens == 0) return std::nullopt;
  b.tokens = tokens;
  b.targets = targets;
  b.weights = weights;
  b.flags = flags;
  b.positions = positions;
  b.docs = docs;
  return b;
}

Doc prm_char_doc(const std::string& question, const toy::LabelledSolution& solution,
                  const std::vector<std::vector<toy::CharLabel>>& char_labels) {
  Doc d = prm_doc(question, solution);
  if (char_labels.size() != solution.lines.size()) throw std::invalid_argument("prm_char_doc: one label row per line");
  const auto starts = step_starts(d, char_labels);
  for (size_t i = 0; i < char_labels.size(); ++i) {
    for (size_t k = 0; k < char_labels[i].size(); ++k) {
      if (char_labels[i][k] == toy::CharLabel::none) continue;
      d.target[starts[i] + k] =
          toy::toy_token_for_char(char_labels[i][k] == toy::CharLabel::good ? toy::kPrmGood : toy::kPrmBad);
      d.weight[starts[i] + k] = 1.0f;
    }
  }
  return d;
}

Doc prm_prefix_doc(const std::string& question, const toy::LabelledSolution& solution,
                   const std::vector<std::vector<bool>>& prefix_labels) {
  std::vector<std::vector<toy::CharLabel>> labels;
  for (const auto& line : prefix_labels) {
    auto& row = labels.emplace_back();
    for (bool ok : line) row.push_back(ok ? toy::CharLabel::good : toy::CharLabel::bad);
  }
  return prm_char_doc(question, solution, labels);
}

Doc prm_flagged_doc(const std::string& question, const toy::LabelledSolution& solution,
                    const std::vector<std::vector<bool>>& prefix_labels, float lm_weight) {
  Doc d = prm_doc(question, solution, lm_weight);
  if (prefix_labels.size() != solution.lines.size()) throw std::invalid_argument("prm_flagged_doc: one label row per line");
  const auto starts = step_starts(d, prefix_labels);
  d.flag.assign(d.input.size(), kNoFlag);
  for (size_t i = 0; i < prefix_labels.size(); ++i) {
    for (size_t k = 0; k < prefix_labels[i].size(); ++k) d.flag[starts[i] + k] = prefix_labels[i][k] ? 1 : 0;
  }
  return d;
}

}  // namespace ponder::trainer
