#pragma once
// The toy models' shapes. All share the toy vocabulary (toy/vocab.h) and a 256-token
// context, which holds the longest 5-step problem with its solution or PRM tags.

#include <map>
#include <string>

#include "toy/llama_gguf.h"

namespace ponder::trainer {

struct ModelPreset {
  toy::LlamaShape shape;
  std::string about;
};

// toy-reasoner-s (~0.94M parameters), toy-reasoner-l (~5.3M), toy-prm (the shape of
// toy-reasoner-s, from which it is fine-tuned) and smoke (a few thousand, for tests).
const std::map<std::string, ModelPreset>& model_presets();

// Throws std::invalid_argument listing the known presets.
const ModelPreset& model_preset(const std::string& name);

}  // namespace ponder::trainer
