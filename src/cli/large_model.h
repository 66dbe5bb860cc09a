#pragma once
// The large model a command runs beside its generator for strategies that need one
// (cascade, ead): the generator (-m) is then the small model.

#include <CLI/CLI.hpp>
#include <string>

namespace ponder::cli {

// --large-model PATH.
void add_large_model_option(CLI::App* cmd, std::string& path);

// The large model's file: `given` when named; else, when `needed`, the bundled
// toy-reasoner-l for the bundled toy-reasoner-s, and a UsageError naming what to give
// for any other generator (the default generator is toy-reasoner-l itself). "" when
// none is named or needed.
std::string large_model_path(const std::string& given, const std::string& generator_path, bool needed);

}  // namespace ponder::cli
