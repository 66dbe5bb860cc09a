#pragma once
// Content hashes (SHA-256, hex) of what an evaluation's results depend on: the data file,
// each item, the model file.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace ponder::eval {

// SHA-256 of data given in pieces.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  // 64 lower-case hex digits (what `sha256sum` prints); call once, at the end.
  std::string hex();

 private:
  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
};

// SHA-256 of `data`, as Sha256::hex.
std::string sha256_hex(std::string_view data);

// SHA-256 of a file's content, read in chunks. Throws FileError when it cannot be read.
std::string file_sha256(const std::filesystem::path& path);

// file_sha256, remembered by (absolute path, size, modification time) in
// file-hashes.json under $PONDER_CACHE (default ~/.cache/ponder), since hashing a large
// model on every run would be slow. A cache that cannot be read or written is ignored.
std::string cached_file_sha256(const std::filesystem::path& path);

}  // namespace ponder::eval
