// `ponder generate`: N samples of one prompt with their logprobs and the cost.

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/report.h"
#include "ponder/generate.h"

namespace ponder::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int n = 1;
  bool chat = false;
  bool json = false;
  int threads = 0;
  SamplingParams sampling;
  StopParams stop;
};

void run_generate(const GenerateArgs& a) {
  if (a.n < 1 || a.n > 256) throw UsageError("-n: must be in [1, 256]");
  if (a.prompt.empty()) throw UsageError("-p/--prompt: the prompt is empty");
  a.sampling.validate();
  a.stop.validate();
  auto model = Model::load(a.model);
  std::string text = a.chat ? model->apply_chat_template({{"user", a.prompt}}) : a.prompt;
  std::vector<Token> prompt = model->tokenize(text, true, a.chat);

  EngineOptions options;
  options.max_sequences = std::min(a.n, max_engine_sequences());  // more samples queue for a slot
  options.threads = a.threads;
  options.context_per_sequence = std::min(model->n_ctx_train(), int(prompt.size()) + a.stop.max_tokens + 1);
  options.batch_tokens = std::max(512, a.n);
  Engine engine(model, options);
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
  cmd->add_option("-m,--model", a->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", a->prompt, "Prompt text")->required();
  cmd->add_option("-n,--samples", a->n, "Number of samples (1-256)");
  cmd->add_option("--temp", a->sampling.temperature, "Temperature (0 = greedy)");
  cmd->add_option("--top-k", a->sampling.top_k, "Top-k (0 = off)");
  cmd->add_option("--top-p", a->sampling.top_p, "Top-p (1 = off)");
  cmd->add_option("--min-p", a->sampling.min_p, "Min-p (0 = off)");
  cmd->add_option("--seed", a->sampling.seed, "Seed of sample 0 (sample i uses seed + i)");
  cmd->add_option("--max-tokens", a->stop.max_tokens, "Generated tokens per sample at most");
  cmd->add_option("--stop", a->stop.stop, "Stop string (repeatable)");
  cmd->add_flag("--ignore-eos", a->stop.ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--chat", a->chat, "Wrap the prompt in the model's chat template");
  cmd->add_option("-t,--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace ponder::cli
