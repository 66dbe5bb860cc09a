#pragma once
// Where the committed toy models and toy data live, so that ponder runs with no model
// or data argument.

#include <string>

namespace ponder::toy {

// The directory holding the toy models: ponder::models_dir() ($PONDER_MODELS_DIR when
// set, else the source tree's models/).
std::string models_dir();

// models_dir() + "/toy-reasoner-l.gguf": the default model of `ponder run`.
std::string default_reasoner_path();
// models_dir() + "/toy-reasoner-s.gguf": the small reasoner (drafts, cascades).
std::string small_reasoner_path();
// models_dir() + "/toy-prm.gguf": the process reward model (format in toy/prm.h).
std::string prm_path();

// The directory holding the toy task's dev.jsonl and test.jsonl: $PONDER_TOY_DATA_DIR
// when set, else the source tree's data/toy/.
std::string toy_data_dir();

}  // namespace ponder::toy
