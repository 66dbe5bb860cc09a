#pragma once
// Random test models, written once per build directory and shared by the test binaries.

#include <memory>
#include <string>
#include <vector>

#include "ponder/engine.h"
#include "ponder/model.h"
#include "ponder/strategy.h"

namespace ponder::test {

// The committed toy models, loaded once per test binary.
std::shared_ptr<const Model> toy_reasoner();        // toy-reasoner-l, the default
std::shared_ptr<const Model> toy_small_reasoner();  // toy-reasoner-s
std::shared_ptr<const Model> toy_prm();

// An engine of `slots` sequences of `context` tokens each, decoding on one thread: on a
// busy machine a second thread spin-waits for the first and a test takes minutes.
EngineOptions engine_options(int slots, int context);

// How tests sample the toy reasoners: at most 240 tokens, seed 1, the answer after '#'.
StrategyOptions toy_strategy_options();

// The first n questions of the toy dev split with at least `min_steps` steps.
std::vector<std::string> toy_dev_questions(size_t n, int min_steps);

// Path of the random model `preset` (see toy/random_models.h) with seed 1, written on
// first use (atomically, so parallel test processes can share it).
std::string random_model_path(const std::string& preset);

// A fresh directory for one test's scratch files.
std::string scratch_dir(const std::string& name);

// A chat template in the style of Qwen3's, written for the tests: ChatML turns, an
// assistant's reasoning shown in a <think> block, and `enable_thinking=false` closing an
// empty block after the assistant's header.
extern const char* const kQwenStyleTemplate;
// The same turns without any thinking block.
extern const char* const kChatmlTemplate;

// Path of the tiny random model (seed 1) with `chat_template` in its metadata, written on
// first use under `name`.
std::string tiny_model_with_template(const std::string& name, const std::string& chat_template);

}  // namespace ponder::test
