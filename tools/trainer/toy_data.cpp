// ponder-toy-data: writes the toy task's committed dev and test files
// (data/toy/dev.jsonl, data/toy/test.jsonl), or a sample of training problems.

#include <CLI/CLI.hpp>
#include <cstdio>

#include "toy/dataset.h"

int main(int argc, char** argv) {
  using namespace ponder::toy;
  CLI::App app{"ponder-toy-data: writes the toy task's dev and test splits as JSONL"};
  std::string dir = "data/toy";
  int train_sample = 0;
  uint64_t train_seed = 1;
  app.add_option("-o,--out-dir", dir, "Directory for dev.jsonl and test.jsonl");
  app.add_option("--train-sample", train_sample, "Also write this many training problems to train-sample.jsonl");
  app.add_option("--train-seed", train_seed, "Seed of the training sample");
  CLI11_PARSE(app, argc, argv);
  try {
    write_jsonl(dir + "/dev.jsonl", committed_split(Split::dev));
    write_jsonl(dir + "/test.jsonl", committed_split(Split::test));
    if (train_sample > 0) write_jsonl(dir + "/train-sample.jsonl", training_sample(train_sample, train_seed));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder-toy-data: %s\n", e.what());
    return 1;
  }
  return 0;
}
