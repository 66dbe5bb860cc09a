// `ponder generate`: N samples of one prompt with their logprobs and the cost.

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/report.h"
#include "ponder/engine_sizing.h"
#include "ponder/generate.h"

namespace ponder::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int n = 1;
  bool chat = false;
  bool json = false;
  EngineArgs engine;
  SpeculativeArgs speculative;
  SamplingParams sampling;
  StopParams stop;
};

void run_generate(const GenerateArgs& a) {
  if (a.prompt.empty()) throw UsageError("-p/--prompt: the prompt is empty");
  a.sampling.validate();
  a.stop.validate();
  a.engine.note_gpu_layers();
  auto model = Model::load(a.model.empty() ? default_model_path() : a.model, a.engine.model_options());
  check_text_fits(*model, a.prompt, model->n_ctx_train(), "the prompt");
  std::string text = a.chat ? model->apply_chat_template({{"user", a.prompt}}) : a.prompt;
  std::vector<Token> prompt = model->tokenize(text, true, a.chat);

  Workload work;
  work.sequences = a.n;
  work.prompt_tokens = int(prompt.size());
  work.max_new_tokens = a.stop.max_tokens;
  work.threads = a.engine.threads;
  work.kv_cache = a.engine.kv_cache;
  EngineOptions engine_options = engine_options_for(*model, work);
  engine_options.speculative = speculative_options(a.speculative, a.engine);
  Engine engine(model, engine_options);
  SampleSet set = generate_samples(engine, prompt, a.n, a.sampling, a.stop);

  if (a.json) {
    nlohmann::json samples = nlohmann::json::array();
    for (const Sample& s : set.samples) {
      samples.push_back({{"text", s.text},
                         {"tokens", s.records.size()},
                         {"mean_logprob", s.mean_logprob},
                         {"finish_reason", finish_reason_name(s.finish)}});
    }
    nlohmann::json out = {{"samples", samples}, {"cost", to_json(set.cost)}};
    std::printf("%s\n", dump(out).c_str());
    return;
  }
  for (size_t i = 0; i < set.samples.size(); ++i) {
    const Sample& s = set.samples[i];
    std::printf("--- sample %zu (%zu tokens, mean logprob %.3f, %s)\n%s\n", i, s.records.size(),
                s.mean_logprob, finish_reason_name(s.finish), s.text.c_str());
  }
  const Cost& c = set.cost;
  std::printf("--- cost: %lld prompt + %lld generated tokens, %lld forward passes, %.1f ms\n",
              (long long)c.prompt_tokens, (long long)c.generated_tokens, (long long)c.forward_passes, c.wall_ms);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Draw N samples of a prompt, sharing its KV cache");
  cmd->add_option("-m,--model", a->model, "GGUF model (default: the bundled toy reasoner)");
  cmd->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  cmd->add_option("-n,--samples", a->n, "Number of samples")->check(integer_in(1, 256))->capture_default_str();
  add_sampling_options(cmd, a->sampling, a->stop);
  cmd->add_option("--stop", a->stop.stop, "Stop string (repeatable)");
  cmd->add_flag("--ignore-eos", a->stop.ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--chat", a->chat, "Wrap the prompt in the model's chat template");
  add_engine_options(cmd, a->engine, false);
  add_speculative_options(cmd, a->speculative);
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ponder::cli
