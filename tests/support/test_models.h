#pragma once
// Random test models, written once per build directory and shared by the test binaries.

#include <string>

namespace ponder::test {

// Path of the random model `preset` (see toy/random_models.h) with seed 1, written on
// first use (atomically, so parallel test processes can share it).
std::string random_model_path(const std::string& preset);

// A fresh directory for one test's scratch files.
std::string scratch_dir(const std::string& name);

}  // namespace ponder::test
