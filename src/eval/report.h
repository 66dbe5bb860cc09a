#pragma once
// The files an evaluation leaves in its output directory.

#include <filesystem>

#include "ponder/eval.h"

namespace ponder::eval {

// summary.json (reproducible bit for bit except wall_s) and summary.md, each replaced
// atomically; throws FileError naming the file it could not write. (Plots are drawn by
// the command line, from the report.)
void write_reports(const std::filesystem::path& dir, const EvalReport& report);

}  // namespace ponder::eval
