// Finding evaluation runs for the replay view, without following links out of them.

#include "server/runs.h"

#include <algorithm>
#include <stdexcept>
#include <system_error>

namespace ponder::server {

namespace fs = std::filesystem;

namespace {

// A real directory (not a link to one) holding a run.json that is a regular file.
bool is_run_directory(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(fs::symlink_status(dir, error))) return false;
  return fs::is_regular_file(fs::symlink_status(dir / "run.json", error));
}

std::string root_name(const fs::path& root) {
  const fs::path clean = root.lexically_normal();
  std::string name = (clean.has_filename() ? clean : clean.parent_path()).filename().string();
  return name.empty() ? root.string() : name;
}

}  // namespace

void check_run_roots(const std::vector<fs::path>& roots) {
  for (const fs::path& root : roots) {
    std::error_code error;
    if (!fs::is_directory(root, error)) {
      throw std::invalid_argument("runs: '" + root.string() + "' is not a directory");
    }
    fs::directory_iterator probe(root, error);
    if (error) throw std::invalid_argument("runs: cannot read '" + root.string() + "': " + error.message());
  }
}

std::vector<RunDirectory> list_runs(const std::vector<fs::path>& roots) {
  std::vector<RunDirectory> runs;
  for (const fs::path& root : roots) {
    const std::string base = root_name(root);
    if (is_run_directory(root)) {
      runs.push_back({base, root});
      continue;
    }
    std::vector<RunDirectory> inside;
    std::error_code error;
    for (fs::directory_iterator it(root, error), end; !error && it != end; it.increment(error)) {
      if (is_run_directory(it->path())) inside.push_back({base + "/" + it->path().filename().string(), it->path()});
    }
    std::sort(inside.begin(), inside.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    runs.insert(runs.end(), inside.begin(), inside.end());
  }
  return runs;
}

std::optional<fs::path> run_file(const std::vector<fs::path>& roots, const std::string& name, const std::string& file) {
  if (std::find(std::begin(kRunFiles), std::end(kRunFiles), file) == std::end(kRunFiles)) return std::nullopt;
  for (const RunDirectory& run : list_runs(roots)) {
    if (run.name != name) continue;
    const fs::path path = run.path / file;
    std::error_code error;
    if (!fs::is_regular_file(fs::symlink_status(path, error))) return std::nullopt;
    return path;
  }
  return std::nullopt;
}

}  // namespace ponder::server
