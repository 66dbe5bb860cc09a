#include "cli/commands.h"
void ponder::cli::add_bench_command(CLI::App&) {}
