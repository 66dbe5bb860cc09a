// A verifier program for the tests of the external-command verifier. It reads the
// request ({"question", "solution", "steps"}) on stdin and behaves as its first argument
// says:
//   score X        prints {"score": X} (X as written, e.g. 1.5 or "nan")
//   steps          one score per step: 1 / (i + 2) for step i
//   exit N         writes a line to stderr and exits with status N
//   garbage        prints text that is not JSON
//   big            prints 4 MB
//   sleep S        sleeps S seconds, then prints a score
//   record FILE    writes the request to FILE, prints {"score": 0.5}
//   toy            an exact checker for the toy task: works out each variable of the
//                  question itself, scores each step 1 when the value it ends with is
//                  the variable's true value (the "#### N" step: the true answer), and
//                  the solution 1 when its "#### N" line is the true answer, else 0.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

namespace {

// "a=61; b=a-35; c=b*4; c?": every variable's value, and the one asked for.
struct Truth {
  std::map<char, long long> values;
  char asked = 0;
};

std::optional<Truth> work_out(const std::string& q) {
  Truth t;
  size_t pos = 0;
  while (pos < q.size()) {
    size_t end = q.find("; ", pos);
    if (end == std::string::npos) end = q.size();
    const std::string part = q.substr(pos, end - pos);
    pos = end + 2;
    if (part.size() == 2 && part[1] == '?') {
      t.asked = part[0];
      break;
    }
    if (part.size() < 3 || part[1] != '=') return std::nullopt;
    const char var = part[0];
    const std::string expr = part.substr(2);
    if (std::isdigit(static_cast<unsigned char>(expr[0]))) {
      t.values[var] = std::stoll(expr);
      continue;
    }
    if (expr.size() < 3 || !t.values.count(expr[0])) return std::nullopt;
    const long long a = t.values[expr[0]], b = std::stoll(expr.substr(2));
    switch (expr[1]) {
      case '+':
        t.values[var] = a + b;
        break;
      case '-':
        t.values[var] = a - b;
        break;
      case '*':
        t.values[var] = a * b;
        break;
      default:
        return std::nullopt;
    }
  }
  if (!t.values.count(t.asked)) return std::nullopt;
  return t;
}

// The number a step ends with ("b: 61-40=21, 21+5=26" -> 26), if any.
std::optional<long long> last_number(const std::string& s) {
  size_t end = s.find_last_of("0123456789");
  if (end == std::string::npos) return std::nullopt;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(s[begin - 1]))) --begin;
  if (begin > 0 && s[begin - 1] == '-') --begin;
  return std::stoll(s.substr(begin, end + 1 - begin));
}

nlohmann::json check_toy(const nlohmann::json& request) {
  const auto truth = work_out(request.at("question").get<std::string>());
  if (!truth) throw std::runtime_error("not a toy question");
  const long long answer = truth->values.at(truth->asked);
  nlohmann::json steps = nlohmann::json::array();
  double score = 0.0;
  for (const auto& step : request.at("steps")) {
    std::string s = step.get<std::string>();
    s.erase(0, s.find_first_not_of(" \t\r\n"));
    const auto value = last_number(s);
    bool right = false;
    if (s.rfind("####", 0) == 0) {
      right = value && *value == answer;
      score = right ? 1.0 : 0.0;
    } else if (s.size() > 1 && s[1] == ':' && truth->values.count(s[0])) {
      right = value && *value == truth->values.at(s[0]);
    }
    steps.push_back(right ? 1.0 : 0.0);
  }
  return {{"steps", steps}, {"score", score}};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string arg = argc > 2 ? argv[2] : "";
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  try {
    const nlohmann::json request = nlohmann::json::parse(input);
    if (mode == "score") {
      std::printf("{\"score\": %s}\n", arg.c_str());
    } else if (mode == "steps") {
      nlohmann::json steps = nlohmann::json::array();
      for (size_t i = 0; i < request.at("steps").size(); ++i) steps.push_back(1.0 / double(i + 2));
      std::printf("%s\n", nlohmann::json{{"steps", steps}}.dump().c_str());
    } else if (mode == "exit") {
      std::fprintf(stderr, "failing on purpose\n");
      return std::stoi(arg);
    } else if (mode == "garbage") {
      std::printf("all good, I think\n");
    } else if (mode == "big") {
      const std::string line(1023, 'x');
      for (int i = 0; i < 4096; ++i) std::printf("%s\n", line.c_str());
    } else if (mode == "sleep") {
      std::this_thread::sleep_for(std::chrono::duration<double>(std::stod(arg)));
      std::printf("{\"score\": 1}\n");
    } else if (mode == "record") {
      std::ofstream(arg) << input;
      std::printf("{\"score\": 0.5}\n");
    } else if (mode == "toy") {
      std::printf("%s\n", check_toy(request).dump().c_str());
    } else {
      std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "verifier_command: %s\n", e.what());
    return 3;
  }
  return 0;
}
