#include "support/test_models.h"

#include <unistd.h>

#include <filesystem>

#include "toy/random_models.h"

namespace ponder::test {

std::string random_model_path(const std::string& preset) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(PONDER_TEST_MODEL_DIR);
  const fs::path path = dir / (preset + ".gguf");
  if (!fs::exists(path)) {
    fs::create_directories(dir);
    const fs::path tmp = dir / (preset + ".gguf." + std::to_string(getpid()));
    toy::write_random_model(tmp.string(), preset, 1);
    fs::rename(tmp, path);
  }
  return path.string();
}

std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(PONDER_TEST_MODEL_DIR) / "scratch" / (name + "." + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

}  // namespace ponder::test
