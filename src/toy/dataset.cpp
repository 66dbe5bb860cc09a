#include "toy/dataset.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace ponder::toy {

const char* split_name(Split split) {
  switch (split) {
    case Split::train: return "train";
    case Split::dev: return "dev";
    case Split::test: return "test";
  }
  return "?";
}

Split split_of(const std::string& question) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : question) h = (h ^ c) * 0x100000001B3ull;
  switch (h % 10) {
    case 0: return Split::test;
    case 1: return Split::dev;
    default: return Split::train;
  }
}

DifficultyMix train_mix() {
  DifficultyMix mix;
  for (int steps = 1; steps <= 5; ++steps) {
    mix.push_back({{steps, 1}, 1.0});
    mix.push_back({{steps, 2}, 3.0});
  }
  return mix;
}

DifficultyMix dev_mix() {
  DifficultyMix mix;
  for (int steps = 1; steps <= 5; ++steps) {
    // Only ~16 one-step one-digit problems fall in each of dev and test.
    for (int digits = 1; digits <= 2; ++digits) mix.push_back({{steps, digits}, steps == 1 && digits == 1 ? 10.0 : 20.0});
  }
  return mix;
}

DifficultyMix test_mix() {
  DifficultyMix mix;
  for (int steps = 1; steps <= 5; ++steps) mix.push_back({{steps, 2}, 80});
  return mix;
}

void validate_mix(const DifficultyMix& mix) {
  if (mix.empty()) throw std::invalid_argument("DifficultyMix: must have at least one cell");
  for (const auto& cell : mix) {
    cell.difficulty.validate();
    if (!(cell.amount >= 0)) throw std::invalid_argument("DifficultyMix: amounts must be >= 0");
  }
}

std::vector<Example> make_split(Split split, const DifficultyMix& counts, uint64_t seed) {
  validate_mix(counts);
  std::vector<Example> out;
  std::set<std::string> seen;
  for (size_t c = 0; c < counts.size(); ++c) {
    Rng rng(derive_seed(seed, c));
    const int want = int(counts[c].amount);
    for (int have = 0, draws = 0; have < want; ++draws) {
      if (draws > 1000 * (want + 10)) {
        throw std::runtime_error("make_split: too few distinct " + std::string(split_name(split)) +
                                 " problems with " + std::to_string(counts[c].difficulty.steps) + " steps, " +
                                 std::to_string(counts[c].difficulty.digits) + " digits");
      }
      Problem p = generate_problem(rng, counts[c].difficulty);
      const std::string q = p.question();
      Solution s = solve(p, rng);
      if (split_of(q) != split || !seen.insert(q).second) continue;
      char id[32];
      std::snprintf(id, sizeof(id), "%s-%04zu", split_name(split), out.size());
      out.push_back({id, q, s.text(), std::to_string(p.answer()), p.difficulty});
      ++have;
    }
  }
  return out;
}

std::vector<Example> committed_split(Split split) {
  switch (split) {
    case Split::dev: return make_split(Split::dev, dev_mix(), kDevSeed);
    case Split::test: return make_split(Split::test, test_mix(), kTestSeed);
    case Split::train: break;
  }
  throw std::invalid_argument("committed_split: only dev and test are committed files");
}

ProblemStream::ProblemStream(const DifficultyMix& weights, uint64_t seed) : mix_(weights), rng_(seed) {
  validate_mix(mix_);
  for (const auto& cell : mix_) weights_.push_back(cell.amount);
}

Problem ProblemStream::next() {
  for (;;) {
    const auto& cell = mix_[rng_.choose(weights_)];
    Problem p = generate_problem(rng_, cell.difficulty);
    if (split_of(p.question()) == Split::train) return p;
  }
}

std::vector<Example> training_sample(int count, uint64_t seed) {
  ProblemStream stream(train_mix(), seed);
  Rng paths(derive_seed(seed, 1));
  std::vector<Example> sample;
  for (int i = 0; i < count; ++i) {
    Problem p = stream.next();
    sample.push_back({"train-" + std::to_string(i), p.question(), solve(p, paths).text(), std::to_string(p.answer()),
                      p.difficulty});
  }
  return sample;
}

std::string example_to_json(const Example& e) {
  nlohmann::ordered_json j = {{"id", e.id},
                              {"question", e.question},
                              {"solution", e.solution},
                              {"answer", e.answer},
                              {"difficulty", {{"steps", e.difficulty.steps}, {"digits", e.difficulty.digits}}}};
  return j.dump();
}

Example example_from_json(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& err) {
    throw std::runtime_error(std::string("not JSON: ") + err.what());
  }
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.contains(name)) throw std::runtime_error(std::string("missing field \"") + name + "\"");
    return j[name];
  };
  Example e;
  try {
    e.id = field("id").get<std::string>();
    e.question = field("question").get<std::string>();
    e.solution = field("solution").get<std::string>();
    const auto& answer = field("answer");
    e.answer = answer.is_string() ? answer.get<std::string>() : answer.dump();
    const auto& d = field("difficulty");
    e.difficulty = {d.at("steps").get<int>(), d.at("digits").get<int>()};
  } catch (const nlohmann::json::exception& err) {
    throw std::runtime_error(std::string("malformed field: ") + err.what());
  }
  return e;
}

void write_jsonl(const std::string& path, const std::vector<Example>& examples) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("write_jsonl: cannot open " + path);
  for (const auto& e : examples) out << example_to_json(e) << '\n';
  if (!out) throw std::runtime_error("write_jsonl: cannot write " + path);
}

std::vector<Example> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("read_jsonl: cannot open " + path);
  std::vector<Example> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      out.push_back(example_from_json(line));
    } catch (const std::exception& err) {
      throw std::runtime_error("read_jsonl: " + path + ":" + std::to_string(n) + ": " + err.what());
    }
  }
  return out;
}

}  // namespace ponder::toy
