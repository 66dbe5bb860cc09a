#include "toy/models.h"

#include <cstdlib>

#ifndef PONDER_SOURCE_MODELS_DIR
#error "PONDER_SOURCE_MODELS_DIR must name the source tree's models/ directory (cmake/toy.cmake sets it)"
#endif
#ifndef PONDER_SOURCE_TOY_DATA_DIR
#error "PONDER_SOURCE_TOY_DATA_DIR must name the source tree's data/toy/ directory (cmake/toy.cmake sets it)"
#endif

namespace ponder::toy {

std::string models_dir() {
  const char* env = std::getenv("PONDER_MODELS_DIR");
  return env && *env ? std::string(env) : std::string(PONDER_SOURCE_MODELS_DIR);
}

std::string default_reasoner_path() { return models_dir() + "/toy-reasoner-l.gguf"; }
std::string small_reasoner_path() { return models_dir() + "/toy-reasoner-s.gguf"; }
std::string prm_path() { return models_dir() + "/toy-prm.gguf"; }

std::string toy_data_dir() {
  const char* env = std::getenv("PONDER_TOY_DATA_DIR");
  return env && *env ? std::string(env) : std::string(PONDER_SOURCE_TOY_DATA_DIR);
}

}  // namespace ponder::toy
