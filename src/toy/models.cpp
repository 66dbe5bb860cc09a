#include "toy/models.h"

#include <cstdlib>

#include "ponder/model.h"

#ifndef PONDER_SOURCE_TOY_DATA_DIR
#error "PONDER_SOURCE_TOY_DATA_DIR must name the source tree's data/toy/ directory (cmake/toy.cmake sets it)"
#endif

namespace ponder::toy {

std::string models_dir() { return ponder::models_dir(); }

std::string default_reasoner_path() { return ponder::default_model_path("toy-reasoner-l"); }
std::string small_reasoner_path() { return ponder::default_model_path("toy-reasoner-s"); }
std::string prm_path() { return ponder::default_model_path("toy-prm"); }

std::string toy_data_dir() {
  const char* env = std::getenv("PONDER_TOY_DATA_DIR");
  return env && *env ? std::string(env) : std::string(PONDER_SOURCE_TOY_DATA_DIR);
}

}  // namespace ponder::toy
