#pragma once
// `ponder bench --speculative` (src/cli/bench_speculative.cpp).

#include <string>
#include <vector>

namespace ponder::cli {

struct SpeculativeBenchArgs {
  std::vector<std::string> models;  // the target (default: toy-reasoner-l)
  std::string draft;                // the draft model (default: toy-reasoner-s)
  std::string data = "data/toy/dev.jsonl";  // the questions
  int threads = 1;
  int repeats = 3;
  bool json = false;
  bool progress = true;
};

// Prints the rows (or one JSON object); throws when a greedy output differs from plain
// decoding's, after printing.
void run_speculative_bench(const SpeculativeBenchArgs& args);

}  // namespace ponder::cli
