#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "cli/commands.h"
#include "ponder/engine.h"
#include "ponder/model.h"

int main(int argc, char** argv) {
  CLI::App app{"ponder: adaptive inference-time compute on llama.cpp"};
  app.require_subcommand(1);
  bool verbose_llama = false;
  app.add_flag("--llama-log", verbose_llama, "Show llama.cpp's log on stderr");
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "ponder: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  app.parse_complete_callback([&] { ponder::set_llama_logging(verbose_llama); });
  ponder::cli::add_run_command(app);
  ponder::cli::add_eval_command(app);
  ponder::cli::add_generate_command(app);
  ponder::cli::add_bench_command(app);
  ponder::cli::add_toy_model_command(app);
  ponder::cli::add_toy_steps_command(app);
  ponder::cli::add_serve_command(app);
  ponder::cli::add_calibrate_command(app);
  ponder::keep_freed_memory_in_heap();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError that exits 0; every real one is a usage error, exit 2.
    if (app.exit(e) != 0) return 2;
  } catch (const ponder::cli::UsageError& e) {
    std::fprintf(stderr, "ponder: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "ponder: invalid argument: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder: %s\n", e.what());
    return 1;
  }
  // Output that could not be written (a full disk, a closed pipe) is a failure, not a result.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "ponder: cannot write the output: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}
