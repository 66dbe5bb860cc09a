#pragma once
// The live page's static files (src/page/), embedded into the binary at build time by
// cmake/embed_files.cmake, so `ponder serve` reads nothing from disk to serve them.

#include <span>
#include <string_view>

namespace ponder::server {

struct PageFile {
  std::string_view name;          // path under src/page/, e.g. "index.html", "live.js"
  std::string_view content_type;  // from the extension
  std::string_view content;
};

std::span<const PageFile> page_files();

}  // namespace ponder::server
