#pragma once
// Toy-task data sets: fixed train / dev / test splits and their JSONL files.
//
// A problem's split is a hash of its question text, so no question can be in two splits
// however many problems anyone draws; dev and test files are drawn per difficulty cell
// (exact counts) and hold each question once.
//
// JSONL, one example per line:
//   {"id": "test-0007", "question": "a=61; b=a-35; b?", "solution": "b: 61-35=26\n#### 26",
//    "answer": "26", "difficulty": {"steps": 1, "digits": 2}}

#include <cstdint>
#include <string>
#include <vector>

#include "toy/task.h"

namespace ponder::toy {

enum class Split { train, dev, test };
const char* split_name(Split split);
// 10% test, 10% dev, 80% train, by FNV-1a hash of the question.
Split split_of(const std::string& question);

struct Example {
  std::string id;
  std::string question;
  std::string solution;  // a reference solution (methods drawn at random)
  std::string answer;    // the integer answer, as written after "####"
  Difficulty difficulty;
};

// How many problems of one difficulty a split holds (dev, test), or its weight in the
// training stream.
struct MixCell {
  Difficulty difficulty;
  double amount;
};
using DifficultyMix = std::vector<MixCell>;

// Seeds of the committed dev and test files.
inline constexpr uint64_t kDevSeed = 20240611;
inline constexpr uint64_t kTestSeed = 20240612;

// The mixes the committed files and the toy models use (see data/toy/README.md for why).
DifficultyMix train_mix();  // weights: steps 1..5 uniform; 2-digit operands 3x as often as 1-digit
DifficultyMix dev_mix();    // counts: 20 per cell, steps 1..5 x digits 1..2, 10 for 1x1 (190)
DifficultyMix test_mix();   // counts: the test split the quality targets are measured on
void validate_mix(const DifficultyMix& mix);  // throws std::invalid_argument

// Draws problems cell by cell until each cell has `amount` distinct questions of `split`.
std::vector<Example> make_split(Split split, const DifficultyMix& counts, uint64_t seed);
// The committed dev or test file's examples: make_split with that split's mix and seed.
// Throws std::invalid_argument for the train split, which has no file.
std::vector<Example> committed_split(Split split);

// An endless stream of training problems (split train only), cells drawn by weight.
class ProblemStream {
 public:
  ProblemStream(const DifficultyMix& weights, uint64_t seed);
  Problem next();

 private:
  DifficultyMix mix_;
  std::vector<double> weights_;
  Rng rng_;
};

// `count` problems of the training stream (train_mix(), `seed`) with reference
// solutions, ids "train-0", "train-1", ...: the problems ponder-toy-data --train-sample
// writes, e.g. for sampling a reasoner to train a PRM on.
std::vector<Example> training_sample(int count, uint64_t seed);

std::string example_to_json(const Example& example);
// Throws std::runtime_error naming the missing or malformed field.
Example example_from_json(const std::string& line);
void write_jsonl(const std::string& path, const std::vector<Example>& examples);
// Throws std::runtime_error naming the file and line on any malformed line.
std::vector<Example> read_jsonl(const std::string& path);

}  // namespace ponder::toy
