#pragma once
// `ponder eval`'s plots: accuracy against generated tokens and against wall time per
// question, with the Pareto frontier marked, drawn by gnuplot.

#include <filesystem>
#include <string>

#include "ponder/eval.h"

namespace ponder::cli {

// Writes accuracy_vs_tokens.{tsv,png,svg} and accuracy_vs_wall.{tsv,png,svg} in `dir`.
// Returns why nothing was drawn ("" when the plots were drawn): gnuplot not installed, or
// no strategy with a cost to plot. Throws std::runtime_error naming the file when gnuplot
// fails or a file cannot be written.
std::string write_plots(const std::filesystem::path& dir, const EvalReport& report);

}  // namespace ponder::cli
