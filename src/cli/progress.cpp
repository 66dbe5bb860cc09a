#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace ponder::cli {

std::function<void(size_t, size_t)> progress_line(std::string label) {
  if (!isatty(STDERR_FILENO)) return {};
  const auto start = std::chrono::steady_clock::now();
  return [label = std::move(label), start](size_t done, size_t total) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = done > 0 ? elapsed / double(done) * double(total - done) : 0.0;
    std::fprintf(stderr, "\r[%s] %zu/%zu (%.0f%%) elapsed %.0fs, ETA %.0fs   ", label.c_str(), done, total,
                 total > 0 ? 100.0 * double(done) / double(total) : 100.0, elapsed, eta);
    if (done >= total) std::fputc('\n', stderr);
  };
}

}  // namespace ponder::cli
