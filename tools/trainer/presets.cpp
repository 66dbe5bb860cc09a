#include "presets.h"

#include <stdexcept>

namespace ponder::trainer {

const std::map<std::string, ModelPreset>& model_presets() {
  //                                  n_embd layer head kv  ff   ctx
  static const std::map<std::string, ModelPreset> presets = {
      {"toy-reasoner-s", {{128, 4, 2, 2, 384, 256}, "small reasoner, ~0.94M parameters"}},
      {"toy-reasoner-l", {{256, 6, 8, 8, 768, 256}, "large reasoner, ~5.3M parameters"}},
      {"toy-prm", {{128, 4, 2, 2, 384, 256}, "process reward model, toy-reasoner-s's shape"}},
      {"smoke", {{32, 2, 2, 2, 64, 256}, "tiny model for the trainer's tests"}},
  };
  return presets;
}

const ModelPreset& model_preset(const std::string& name) {
  auto it = model_presets().find(name);
  if (it == model_presets().end()) {
    std::string known;
    for (const auto& [n, p] : model_presets()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown model preset '" + name + "' (known: " + known + ")");
  }
  return it->second;
}

}  // namespace ponder::trainer
