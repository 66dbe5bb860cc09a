#pragma once
// Writing an evaluation's files so that nothing accepted is lost in silence: every write,
// flush and close is checked and a failure throws FileError naming the file.

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ponder::eval {

class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Replaces `path` with `content` all at once: written to a temporary file in the same
// directory, synced, then renamed over `path`, so a reader never sees a partial file.
// An existing `path` that is not a regular file (a directory, a link to a device) is an
// error.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// A file appended to a line at a time (traces.jsonl). Each line is one write(2) of the
// whole line; when a write fails the file is cut back to its last complete line, so a
// later run can still resume from it.
class AppendFile {
 public:
  explicit AppendFile(std::filesystem::path path);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // `line` without its newline.
  void append_line(std::string_view line);
  // Throws when the close reports an error (the destructor closes without checking).
  void close();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// An exclusive lock on `path` (flock), held while the object lives and released by the
// kernel if the process dies. Throws FileError at once when another holder has it.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& path);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// The whole content of a regular file; throws FileError when it cannot be read or is not
// a regular file (a device such as /dev/zero would never end).
std::string read_regular_file(const std::filesystem::path& path);

}  // namespace ponder::eval
