#pragma once
// Runs an external verifier: a program started by argument vector (posix_spawn, never a
// shell), given `input` on stdin, its stdout and stderr read under a deadline. A program
// that overruns the deadline, prints too much or is cancelled is killed with its whole
// process group, so nothing it started outlives the call.

#include <atomic>
#include <string>
#include <vector>

namespace ponder::verifiers {

struct CommandRun {
  int exit_code = -1;  // its exit status; -1 when it did not exit by itself
  int signal = 0;      // the signal that ended it (0: none)
  bool timed_out = false;
  bool too_long = false;  // stdout passed max_output bytes
  bool cancelled = false;
  std::string output;  // stdout (at most max_output bytes)
  std::string errors;  // the last 2 KB of stderr
};

// Runs argv[0] (looked up in PATH when it holds no '/') with `argv`. Blocks the calling
// thread until the program ends, `timeout_s` passes, its stdout passes `max_output`
// bytes or `*cancel` turns true (checked every 20 ms). Throws std::runtime_error when it
// cannot be started or waited for.
CommandRun run_command(const std::vector<std::string>& argv, const std::string& input, double timeout_s,
                       size_t max_output, const std::atomic<bool>* cancel = nullptr);

}  // namespace ponder::verifiers
