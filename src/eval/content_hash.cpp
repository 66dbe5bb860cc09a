#include "eval/content_hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "eval/files.h"

namespace ponder::eval {

namespace fs = std::filesystem;

namespace {

fs::path cache_file() {
  const char* root = std::getenv("PONDER_CACHE");
  if (root && *root) return fs::path(root) / "file-hashes.json";
  const char* home = std::getenv("HOME");
  if (home && *home) return fs::path(home) / ".cache" / "ponder" / "file-hashes.json";
  return {};
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 unavailable");
}

void Sha256::update(std::string_view data) { EVP_DigestUpdate(ctx_.get(), data.data(), data.size()); }

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest, &size);
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

std::string file_sha256(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FileError("cannot read " + path.string() + ": " + std::strerror(errno));
  Sha256 h;
  std::unique_ptr<char[]> buffer(new char[1 << 20]);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.get(), 1 << 20);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw FileError("cannot read " + path.string() + ": " + std::strerror(error));
    }
    if (n == 0) break;
    h.update({buffer.get(), size_t(n)});
  }
  ::close(fd);
  return h.hex();
}

std::string cached_file_sha256(const fs::path& path) {
  using nlohmann::json;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw FileError("cannot read " + path.string() + ": " + std::strerror(errno));
  const std::string key = fs::absolute(path).lexically_normal().string();
  const json stamp = {{"size", int64_t(st.st_size)},
                      {"mtime_ns", int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec}};
  const fs::path cache_path = cache_file();
  json cache = json::object();
  if (!cache_path.empty()) {
    try {
      cache = json::parse(read_regular_file(cache_path));
    } catch (const std::exception&) {
      cache = json::object();
    }
    if (!cache.is_object()) cache = json::object();
    const auto it = cache.find(key);
    if (it != cache.end() && it->is_object() && it->value("size", json()) == stamp["size"] &&
        it->value("mtime_ns", json()) == stamp["mtime_ns"] && it->value("sha256", json()).is_string()) {
      return (*it)["sha256"].get<std::string>();
    }
  }
  const std::string hash = file_sha256(path);
  if (!cache_path.empty()) {
    json entry = stamp;
    entry["sha256"] = hash;
    cache[key] = entry;
    try {
      fs::create_directories(cache_path.parent_path());
      write_file_atomic(cache_path, cache.dump(1) + "\n");
    } catch (const std::exception&) {
      // Only a cache: without it the next run hashes the file again.
    }
  }
  return hash;
}

}  // namespace ponder::eval
