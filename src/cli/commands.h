#pragma once
// The `ponder` subcommands: each registers its options on the app and runs when chosen.

#include <CLI/CLI.hpp>

#include "ponder/strategy.h"

namespace ponder::cli {

void add_generate_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_toy_model_command(CLI::App& app);
void add_toy_steps_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);

// Thrown by a command for bad input; main prints "ponder: <message>" and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ponder::cli
