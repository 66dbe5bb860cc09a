#pragma once
// The toy world's measurements: step-level AUC of a verifier, and (weighted) voting
// over sampled answers.

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace ponder::toy {

// Area under the ROC curve of `score` against `label` (Mann-Whitney, ties counted half);
// nullopt when either class is missing. Infinite scores rank like any other (equal
// infinities tie); a NaN score has no rank, so it throws std::invalid_argument.
std::optional<double> roc_auc(std::vector<std::pair<double, bool>> scored);

// The answer with the largest total weight (each answer's weight summed; nullopt answers
// ignored); ties go to the answer seen first. nullopt when no sample has an answer.
// Throws std::invalid_argument for a NaN or infinite weight.
std::optional<int64_t> weighted_vote(const std::vector<std::optional<int64_t>>& answers,
                                     const std::vector<double>& weights);
// weighted_vote with every weight 1.
std::optional<int64_t> majority_vote(const std::vector<std::optional<int64_t>>& answers);

}  // namespace ponder::toy
