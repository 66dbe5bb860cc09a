#pragma once
// Helper programs (gnuplot, llama-batched-bench) run by argument vector, never through a
// shell, so no path or name is ever read as a command.

#include <string>
#include <vector>

namespace ponder::cli {

struct ProcessResult {
  int exit_code = 0;   // the program's exit status; 128 + N when killed by signal N
  std::string output;  // what it wrote to stdout (and stderr when captured)
};

// Runs argv[0] (looked up in PATH when it holds no '/') with `argv`, stdin from
// /dev/null, in directory `dir` (empty: ours), and waits for it. Its stdout is captured;
// its stderr too when `capture_stderr`, else discarded. Throws std::runtime_error when it
// cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& dir = "",
                          bool capture_stderr = false);

// Whether `name` is an executable file in one of PATH's directories.
bool program_in_path(const std::string& name);

}  // namespace ponder::cli
