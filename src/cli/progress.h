#pragma once
// A progress line on stderr for long work, rendered from the library's progress callback.

#include <cstddef>
#include <functional>
#include <string>

namespace ponder::cli {

// "\r[label] done/total (P%) elapsed Ns, ETA Ns" on every call, a newline at the end;
// an empty function when stderr is not a terminal (logs stay clean).
std::function<void(size_t done, size_t total)> progress_line(std::string label);

}  // namespace ponder::cli
