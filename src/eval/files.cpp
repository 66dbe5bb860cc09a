#include "eval/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ponder::eval {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const char* action, int error) {
  throw FileError("cannot " + std::string(action) + " " + path.string() + ": " + std::strerror(error));
}

// write(2) until all of `data` is written; returns 0 or the errno of the failure.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    data.remove_prefix(size_t(n));
  }
  return 0;
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view content) {
  // Renaming over a link to a device (say /dev/full) would hide that the write could not
  // go where the link points.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw FileError("cannot write " + path.string() + ": it is not a regular file");
  }
  const fs::path tmp = path.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "write", errno);
  int error = write_all(fd, content);
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(tmp.c_str());
    fail(path, "write", error);
  }
}

AppendFile::AppendFile(fs::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path_, "open for appending", errno);
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendFile::append_line(std::string_view line) {
  std::string data(line);
  data += '\n';
  struct stat before {};
  const bool sized = ::fstat(fd_, &before) == 0;
  if (const int error = write_all(fd_, data)) {
    // A cut line would be dropped on resume anyway; cutting it now keeps the file whole.
    if (sized && S_ISREG(before.st_mode)) (void)!::ftruncate(fd_, before.st_size);
    fail(path_, "write", error);
  }
}

void AppendFile::close() {
  const int fd = fd_;
  fd_ = -1;
  if (fd >= 0 && ::close(fd) != 0) fail(path_, "write", errno);
}

DirectoryLock::DirectoryLock(const fs::path& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path, "open", errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw FileError(path.parent_path().string() + " is in use by another run (" + path.string() +
                      " is locked); wait for it to finish or use another --out");
    }
    fail(path, "lock", error);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

std::string read_regular_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "read", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError(path.string() + " is not a regular file");
  }
  std::string content;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      fail(path, "read", error);
    }
    if (n == 0) break;
    content.append(buffer, size_t(n));
  }
  ::close(fd);
  return content;
}

}  // namespace ponder::eval
