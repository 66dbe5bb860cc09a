// The external-command verifier: one JSON object in, scores out, every failure an error
// that names the command.

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "ponder/verifier.h"
#include "verifiers/process.h"

namespace ponder {

namespace {

// At most `n` bytes of `text` with its control characters escaped, for a message.
std::string excerpt(const std::string& text, size_t n = 200) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);
    }
  }
  if (text.size() > n) out += "...";
  return out;
}

std::string trimmed(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

// A score from the program: a JSON number (not a boolean) that is finite and in [0, 1].
double checked_score(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number()) throw std::runtime_error(what + " is not a number (" + excerpt(v.dump(), 60) + ")");
  const double x = v.get<double>();
  if (std::isnan(x)) throw std::runtime_error(what + " is NaN");
  if (!(x >= 0.0 && x <= 1.0))
    throw std::runtime_error(what + " is " + excerpt(v.dump(), 60) + ", outside [0, 1]");
  return x;
}

}  // namespace

void CommandVerifierOptions::validate() const {
  if (argv.empty() || argv[0].empty())
    throw std::invalid_argument("verifier command: give the program to run");
  if (!(timeout_s > 0.0 && timeout_s <= 86400.0)) {
    throw std::invalid_argument("verifier timeout: must be in (0, 86400] seconds");
  }
  if (parallel < 1 || parallel > 64) throw std::invalid_argument("verifier parallel: must be in [1, 64]");
  if (max_output_bytes < 16 || max_output_bytes > (size_t(1) << 30)) {
    throw std::invalid_argument("verifier max_output_bytes: must be in [16, 1 GiB]");
  }
  if (step_delimiter.empty()) throw std::invalid_argument("verifier step_delimiter: must not be empty");
}

struct CommandVerifier::Slots {
  std::mutex mutex;
  std::condition_variable freed;
  int free = 0;
};

CommandVerifier::CommandVerifier(CommandVerifierOptions options)
    : options_(std::move(options)), slots_(std::make_shared<Slots>()) {
  options_.validate();
  slots_->free = options_.parallel;
}

std::string CommandVerifier::command_line() const {
  std::string out;
  for (const auto& a : options_.argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    out += plain ? a : "'" + a + "'";
  }
  return out;
}

std::string CommandVerifier::request(const std::string& question, const std::string& solution) const {
  const nlohmann::json j = {{"question", question},
                            {"solution", solution},
                            {"steps", split_steps(solution, options_.step_delimiter)}};
  // A model may write bytes that are not UTF-8: they reach the program as U+FFFD.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

StepScores CommandVerifier::parse_output(const std::string& output, size_t steps) const {
  const nlohmann::json j = nlohmann::json::parse(output, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error(trimmed(output).empty()
                                 ? "printed nothing (expected a JSON object with \"score\" or \"steps\")"
                                 : "printed no JSON object: '" + excerpt(trimmed(output)) + "'");
  }
  const bool has_score = j.contains("score"), has_steps = j.contains("steps");
  if (!has_score && !has_steps) {
    throw std::runtime_error("printed neither \"score\" nor \"steps\": '" + excerpt(trimmed(output)) + "'");
  }
  StepScores out;
  if (has_steps) {
    const nlohmann::json& v = j["steps"];
    if (!v.is_array()) throw std::runtime_error("\"steps\" is not an array");
    if (v.size() != steps) {
      throw std::runtime_error("gave " + std::to_string(v.size()) + " step scores for " +
                               std::to_string(steps) + " steps");
    }
    for (size_t i = 0; i < v.size(); ++i)
      out.steps.push_back(checked_score(v[i], "\"steps\"[" + std::to_string(i) + "]"));
  }
  if (has_score) {
    out.solution = checked_score(j["score"], "\"score\"");
    if (!has_steps) out.steps = {out.solution};
  } else {
    out.solution = aggregate_steps(out.steps, options_.aggregation);
  }
  return out;
}

StepScores CommandVerifier::score(const std::string& question, const std::string& solution,
                                  const std::atomic<bool>* cancel) const {
  const std::string who = "verifier command " + command_line() + ": ";
  const size_t steps = split_steps(solution, options_.step_delimiter).size();
  {
    // A slot among `parallel`, watching for a cancel meanwhile.
    std::unique_lock lock(slots_->mutex);
    while (slots_->free == 0) {
      if (cancel && cancel->load()) throw std::runtime_error(who + "cancelled");
      slots_->freed.wait_for(lock, std::chrono::milliseconds(20));
    }
    --slots_->free;
  }
  struct Release {
    Slots& slots;
    ~Release() {
      {
        std::lock_guard lock(slots.mutex);
        ++slots.free;
      }
      slots.freed.notify_one();
    }
  } release{*slots_};
  verifiers::CommandRun run;
  try {
    run = verifiers::run_command(options_.argv, request(question, solution), options_.timeout_s,
                                 options_.max_output_bytes, cancel);
  } catch (const std::exception& e) {
    throw std::runtime_error(who + e.what());
  }
  auto with_stderr = [&](std::string message) {
    const std::string err = trimmed(run.errors);
    return err.empty() ? message : message + "; its stderr: " + excerpt(err, 400);
  };
  if (run.cancelled) throw std::runtime_error(who + "cancelled");
  if (run.timed_out) {
    char what[96];
    std::snprintf(what, sizeof what, "timed out after %g s (killed)", options_.timeout_s);
    throw std::runtime_error(who + with_stderr(what));
  }
  if (run.too_long) {
    throw std::runtime_error(who + "printed more than " + std::to_string(options_.max_output_bytes) +
                             " bytes (killed)");
  }
  if (run.signal != 0) {
    throw std::runtime_error(who + with_stderr("killed by signal " + std::to_string(run.signal) + " (" +
                                               strsignal(run.signal) + ")"));
  }
  if (run.exit_code != 0)
    throw std::runtime_error(who + with_stderr("exited with status " + std::to_string(run.exit_code)));
  try {
    return parse_output(run.output, steps);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(who + e.what());
  }
}

}  // namespace ponder
