// A stand-in for libFuzzer where clang++ or its runtime is missing: runs LLVMFuzzerTestOneInput on
// the seed files, then on deterministic random and mutated inputs until a time or run limit.
//
//   fuzz_TARGET [-max_total_time=S] [-runs=N] [-seed=N] [-dict=FILE] [DIR|FILE]...
//
// Other "-flag=value" arguments are ignored, so a libFuzzer command line works unchanged.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Input = std::string;

Input read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Input(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// libFuzzer dictionary lines: name="value" or "value", with \\, \" and \xAB escapes.
std::vector<Input> read_dict(const std::filesystem::path& path) {
  std::vector<Input> tokens;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const size_t open = line.find('"'), close = line.rfind('"');
    if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) continue;
    Input token;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] == '\\' && i + 1 < close) {
        if (line[i + 1] == 'x' && i + 3 < close) {
          token += char(std::stoi(line.substr(i + 2, 2), nullptr, 16));
          i += 3;
        } else {
          token += line[++i];
        }
      } else {
        token += line[i];
      }
    }
    tokens.push_back(token);
  }
  return tokens;
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<Input> seeds, std::vector<Input> dict)
      : rng_(seed), seeds_(std::move(seeds)), dict_(std::move(dict)) {
    if (seeds_.empty()) seeds_.push_back("");
    dict_.insert(dict_.end(), {"0", "1", "9", "-", ".", ",", "/", "{", "}", "\\", " ", "\n"});
  }

  Input next() {
    if (pick(8) == 0) return random_bytes(pick(256));
    Input s = seeds_[pick(seeds_.size())];
    for (size_t n = 1 + pick(6); n > 0; --n) mutate(s);
    if (s.size() > 4096) s.resize(4096);
    return s;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  Input random_bytes(size_t n) {
    Input s(n, '\0');
    for (char& c : s) c = char(pick(256));
    return s;
  }

  void mutate(Input& s) {
    const size_t at = pick(s.size() + 1);
    switch (pick(6)) {
      case 0:
        s.insert(at, dict_[pick(dict_.size())]);
        break;
      case 1:
        s.insert(at, random_bytes(1 + pick(4)));
        break;
      case 2:
        if (!s.empty()) s[pick(s.size())] = char(pick(256));
        break;
      case 3:
        s.erase(at, pick(8));
        break;
      case 4:
        s.insert(at, s.substr(pick(s.size() + 1), pick(16)));
        break;
      case 5:
        s.insert(at, seeds_[pick(seeds_.size())]);
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<Input> seeds_;
  std::vector<Input> dict_;
};

void run(const Input& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  double max_seconds = 10;
  uint64_t max_runs = UINT64_MAX, seed = 1;
  std::vector<Input> seeds, dict;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&arg](const char* flag) {
      return arg.rfind(flag, 0) == 0 ? arg.substr(std::char_traits<char>::length(flag)) : std::string();
    };
    if (auto v = value("-max_total_time="); !v.empty()) {
      max_seconds = std::stod(v);
    } else if (auto r = value("-runs="); !r.empty()) {
      max_runs = std::stoull(r);
    } else if (auto s = value("-seed="); !s.empty()) {
      seed = std::stoull(s);
    } else if (auto d = value("-dict="); !d.empty()) {
      dict = read_dict(d);
    } else if (arg.starts_with("-")) {
      continue;
    } else if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());  // the same inputs in the same order on every run
      for (const auto& f : files) seeds.push_back(read_file(f));
    } else {
      seeds.push_back(read_file(arg));
    }
  }
  for (const auto& s : seeds) run(s);

  const auto start = std::chrono::steady_clock::now();
  Mutator mutator(seed, seeds, dict);
  uint64_t runs = 0;
  while (runs < max_runs) {
    run(mutator.next());
    if (++runs % 64 == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= max_seconds)
      break;
  }
  const std::string name = std::filesystem::path(argv[0]).filename().string();
  std::printf("%s driver: %zu seeds, %llu generated inputs, no invariant broken\n", name.c_str(), seeds.size(),
              static_cast<unsigned long long>(runs));
  return 0;
}
