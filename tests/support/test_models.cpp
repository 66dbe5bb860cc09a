#include "support/test_models.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "toy/models.h"
#include "toy/random_models.h"

namespace ponder::test {

std::shared_ptr<const Model> toy_reasoner() {
  static auto model = Model::load(toy::default_reasoner_path());
  return model;
}

std::shared_ptr<const Model> toy_small_reasoner() {
  static auto model = Model::load(toy::small_reasoner_path());
  return model;
}

std::shared_ptr<const Model> toy_prm() {
  static auto model = Model::load(toy::prm_path());
  return model;
}

EngineOptions engine_options(int slots, int context) {
  EngineOptions e;
  e.max_sequences = slots;
  e.context_per_sequence = context;
  e.threads = 1;
  return e;
}

StrategyOptions toy_strategy_options() {
  StrategyOptions o;
  o.generation.stop.max_tokens = 240;
  o.generation.sampling.seed = 1;
  o.generation.answers.rule = AnswerRule::hash_mark;
  return o;
}

std::vector<std::string> toy_dev_questions(size_t n, int min_steps) {
  std::ifstream in(toy::toy_data_dir() + "/dev.jsonl");
  std::vector<std::string> questions;
  std::string line;
  while (questions.size() < n && std::getline(in, line)) {
    const auto row = nlohmann::json::parse(line);
    if (row["difficulty"]["steps"].get<int>() >= min_steps) questions.push_back(row["question"].get<std::string>());
  }
  return questions;
}

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

const char* const kQwenStyleTemplate = R"({%- for message in messages -%}
{%- if message.role == "assistant" -%}
{{- '<|im_start|>assistant\n' -}}
{%- if message.reasoning_content is defined and message.reasoning_content -%}
{{- '<think>\n' + message.reasoning_content + '\n</think>\n\n' -}}
{%- endif -%}
{{- message.content + '<|im_end|>\n' -}}
{%- else -%}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\n' -}}
{%- if enable_thinking is defined and enable_thinking is false -%}
{{- '<think>\n\n</think>\n\n' -}}
{%- endif -%}
{%- endif -%})";

const char* const kChatmlTemplate = R"({%- for message in messages -%}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%})";

std::string tiny_model_with_template(const std::string& name, const std::string& chat_template) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(PONDER_TEST_MODEL_DIR);
  const fs::path path = dir / ("tiny-" + name + ".gguf");
  if (!fs::exists(path)) {
    fs::create_directories(dir);
    const fs::path tmp = dir / ("tiny-" + name + ".gguf." + std::to_string(getpid()));
    const toy::LlamaShape shape = toy::random_model_presets().at("tiny").shape;
    toy::GgufWriteOptions options;
    options.chat_template = chat_template;
    toy::write_llama_gguf(tmp.string(), shape,
                          toy::random_llama_weights(shape, 1, 2.0f / std::sqrt(float(shape.n_embd))), options);
    fs::rename(tmp, path);
  }
  return path.string();
}

}  // namespace ponder::test
