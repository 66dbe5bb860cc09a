#pragma once
// The files an evaluation leaves in its output directory.

#include <filesystem>

#include "ponder/eval.h"

namespace ponder::eval {

// summary.json (reproducible bit for bit except wall_s), summary.md, and with gnuplot
// installed accuracy_vs_tokens.{png,svg} and accuracy_vs_wall.{png,svg} with the
// Pareto frontier marked.
void write_reports(const std::filesystem::path& dir, const EvalReport& report);

}  // namespace ponder::eval
