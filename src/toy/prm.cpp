#include "toy/prm.h"

#include "ponder/verifier.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "ponder/verifier.h"
#include "toy/dataset.h"
#include "toy/vocab.h"

namespace ponder::toy {

namespace {

int64_t compute(int64_t a, char op, int64_t b) {
  return op == '+' ? a + b : op == '-' ? a - b : a * b;
}

// A different non-negative number that a slip of one digit or one carry would give.
int64_t slip_number(int64_t v, Rng& rng) {
  const std::string digits = std::to_string(v);
  for (;;) {
    int64_t w;
    if (rng.bernoulli(0.7)) {
      std::string d = digits;
      const size_t at = size_t(rng.uniform_int(0, int(d.size()) - 1));
      d[at] = char('0' + rng.uniform_int(at == 0 && d.size() > 1 ? 1 : 0, 9));
      w = std::stoll(d);
    } else {
      int64_t p = 1;
      for (int k = rng.uniform_int(0, int(digits.size()) - 1); k > 0; --k) p *= 10;
      w = v + (rng.bernoulli(0.5) ? p : -p);
    }
    if (w != v && w >= 0) return w;
  }
}

// Parses "A op B=C"; false if the text is not one.
bool parse_equation(const std::string& text, Equation& eq) {
  const char* p = text.data();
  const char* end = p + text.size();
  auto number = [&](int64_t& out) {
    auto [next, ec] = std::from_chars(p, end, out);
    if (ec != std::errc() || out < 0) return false;
    p = next;
    return true;
  };
  if (!number(eq.lhs) || p == end) return false;
  eq.op = *p++;
  if (eq.op != '+' && eq.op != '-' && eq.op != '*') return false;
  if (!number(eq.rhs) || p == end || *p++ != '=') return false;
  return number(eq.result) && p == end;
}

// The equations of a step line "v: A op B=C, ..." as written (results unchecked), up to
// the first part that is not one; `whole` when that is the end of the line.
struct StepEquations {
  std::vector<Equation> equations;
  bool whole = false;
};

StepEquations step_equations(const std::string& line) {
  StepEquations out;
  if (line.size() < 4 || line.compare(1, 2, ": ") != 0) return out;
  for (size_t pos = 3;;) {
    const size_t comma = line.find(", ", pos);
    Equation eq{};
    if (!parse_equation(line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos), eq)) {
      return out;
    }
    out.equations.push_back(eq);
    if (comma == std::string::npos) {
      out.whole = true;
      return out;
    }
    pos = comma + 2;
  }
}

bool holds(const Equation& eq) { return compute(eq.lhs, eq.op, eq.rhs) == eq.result; }

bool step_line_correct(const std::string& line, char variable, int64_t value) {
  const StepEquations s = step_equations(line);
  return s.whole && line[0] == variable && std::all_of(s.equations.begin(), s.equations.end(), holds) &&
         s.equations.back().result == value;
}

}  // namespace

std::string prm_prefix(const std::string& question) { return question + "\n"; }

std::string prm_step(const std::string& line) {
  std::string s = line;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s + "\n" + kPrmTag;
}

std::string prm_text(const std::string& question, const std::vector<std::string>& lines) {
  std::string t = prm_prefix(question);
  for (const auto& line : lines) t += prm_step(line);
  return t;
}

std::vector<double> prm_step_surprise(const PrmReading& reading) {
  const size_t n = reading.tokens.size();
  if (reading.logprobs.size() != n || reading.good.size() != n || reading.bad.size() != n) {
    throw std::invalid_argument("PrmReading: tokens, logprobs, good and bad differ in length");
  }
  const int32_t tag = toy_token_for_char(kPrmTag);
  std::vector<double> out;
  double lowest = 0.0;
  for (size_t t = 0; t < n; ++t) {
    if (t > 0 && reading.tokens[t - 1] == tag) {  // the label after a step's tag ends the step
      out.push_back(lowest);
      lowest = 0.0;
    } else if (reading.tokens[t] != tag) {
      lowest = std::min(lowest, double(reading.logprobs[t]));
    }
  }
  return out;
}

std::vector<double> prm_step_probabilities(const PrmReading& reading, double surprise_weight) {
  prm_step_surprise(reading);  // checks the lengths
  // The verifier layer's step score over the same tokens: the token after each tag is
  // where the label is read, the tags are not text.
  const int32_t tag = toy_token_for_char(kPrmTag);
  ponder::PrmReading general;
  general.logprobs = reading.logprobs;
  general.good = reading.good;
  general.bad = reading.bad;
  for (size_t t = 0; t < reading.tokens.size(); ++t) {
    general.kinds.push_back(t > 0 && reading.tokens[t - 1] == tag ? PrmTokenKind::label
                            : reading.tokens[t] == tag            ? PrmTokenKind::tag
                                                                  : PrmTokenKind::text);
  }
  return score_reading(general, surprise_weight, StepAggregation::min).steps;
}

std::vector<std::string> solution_lines(const std::string& solution) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= solution.size()) {
    size_t nl = solution.find('\n', pos);
    if (nl == std::string::npos) nl = solution.size();
    if (nl > pos) lines.push_back(solution.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::vector<bool> label_steps(const Problem& problem, const std::vector<std::string>& lines) {
  std::vector<bool> labels;
  bool ok = true;
  bool answered = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (answered) {
      ok = false;
    } else if (lines[i].rfind("####", 0) == 0) {
      answered = true;
      const auto answer = extract_answer(lines[i]);
      ok = ok && i == problem.steps.size() && answer && *answer == problem.answer() &&
           lines[i] == "#### " + std::to_string(*answer);
    } else {
      ok = ok && i < problem.steps.size() && step_line_correct(lines[i], step_variable(i), problem.steps[i].value);
    }
    labels.push_back(ok);
  }
  return labels;
}

FirstMistake first_mistake(const Problem& problem, const std::vector<std::string>& lines) {
  const auto labels = label_steps(problem, lines);
  const size_t at = size_t(std::find(labels.begin(), labels.end(), false) - labels.begin());
  if (at == labels.size()) return FirstMistake::none;
  if (at >= problem.steps.size()) return FirstMistake::other;
  const StepEquations s = step_equations(lines[at]);
  if (!std::all_of(s.equations.begin(), s.equations.end(), holds)) return FirstMistake::arithmetic;
  return s.whole ? FirstMistake::plan : FirstMistake::other;
}

std::vector<std::vector<bool>> label_prefixes(const Problem& problem, const std::vector<std::string>& lines) {
  std::vector<std::vector<bool>> out;
  bool ok = true;
  int64_t x = problem.start;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> correct;  // every right way to write this line, with its newline
    if (i < problem.steps.size()) {
      const ProblemStep& step = problem.steps[i];
      for (Method m : methods_for(int(x), step.op, step.operand)) {
        correct.push_back(work_step(step_variable(i), x, step.op, step.operand, m).text() + "\n");
      }
      x = step.value;
    } else if (i == problem.steps.size()) {
      correct.push_back("#### " + std::to_string(problem.answer()) + "\n");
    }
    std::string text = prm_step(lines[i]);  // the line as the PRM reads it: "line\n" and the tag
    text.pop_back();
    std::vector<bool> labels;
    for (size_t k = 0; k < text.size(); ++k) {
      ok = ok && std::any_of(correct.begin(), correct.end(),
                             [&](const std::string& c) { return c.compare(0, k + 1, text, 0, k + 1) == 0; });
      labels.push_back(ok);
    }
    out.push_back(std::move(labels));
  }
  return out;
}

namespace {

// Labels `written` (the characters from `at` of `labels`) against `expected`.
void label_number(const std::string& written, int64_t expected, size_t at, std::vector<CharLabel>& labels) {
  const std::string want = std::to_string(expected);
  for (size_t k = 0; k <= written.size() && at + k < labels.size(); ++k) {
    const bool departs = k == written.size() ? k < want.size() : k >= want.size() || written[k] != want[k];
    if (departs) {
      labels[at + k] = CharLabel::bad;
      return;
    }
    if (k < written.size()) labels[at + k] = CharLabel::good;
  }
}

}  // namespace

std::vector<std::vector<CharLabel>> label_result_digits(const std::vector<std::string>& lines) {
  std::vector<std::vector<CharLabel>> out;
  std::optional<int64_t> last_result;
  for (const auto& raw : lines) {
    std::string line = raw;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    std::vector<CharLabel> labels(line.size() + 1, CharLabel::none);
    if (line.rfind("#### ", 0) == 0) {
      if (last_result) label_number(line.substr(5), *last_result, 5, labels);
    } else if (line.size() > 3 && line.compare(1, 2, ": ") == 0) {
      for (size_t pos = 3; pos < line.size();) {
        size_t comma = line.find(", ", pos);
        if (comma == std::string::npos) comma = line.size();
        const size_t eq = line.find('=', pos);
        Equation e{};
        if (eq < comma && parse_equation(line.substr(pos, comma - pos), e)) {
          label_number(line.substr(eq + 1, comma - eq - 1), compute(e.lhs, e.op, e.rhs), eq + 1, labels);
          last_result = e.result;
        }
        pos = comma + 2;
      }
    }
    out.push_back(std::move(labels));
  }
  return out;
}

namespace {

// Products and differences with both of their two-part methods (split and round) apply.
bool has_method_blend(int64_t x, Op op, int64_t n) {
  return (op == Op::mul || op == Op::sub) && methods_for(int(x), op, int(n)).size() == 3;
}

}  // namespace

std::optional<WorkedStep> blend_methods(char variable, int64_t x, Op op, int64_t n, Rng& rng) {
  if (!has_method_blend(x, op, n)) return std::nullopt;
  // The two methods as (round number, remainder, sign that adds it back); any other
  // choice of the three parts is a blend. Products: x = tens + units = up - (up - x).
  // Differences: n = tens + units = rounded - (rounded - n).
  const int64_t split = op == Op::mul ? x : n;
  const int64_t round_a = split - split % 10, rest_a = split % 10, round_b = round_a + 10, rest_b = round_b - split;
  const int64_t right = compute(x, char(op), n);
  std::vector<WorkedStep> blends;
  for (int64_t round : {round_a, round_b}) {
    for (int64_t rest : {rest_a, rest_b}) {
      for (char sign : {'+', '-'}) {
        WorkedStep w{variable, {}};
        auto eq = [&](int64_t a, char o, int64_t b) {
          w.equations.push_back({a, o, b, compute(a, o, b)});
          return w.equations.back().result;
        };
        if (op == Op::mul) {
          const int64_t p = eq(round, '*', n), q = eq(rest, '*', n);
          eq(p, sign, q);
        } else {
          eq(eq(x, '-', round), sign, rest);
        }
        if (w.value() != right && w.value() >= 0) blends.push_back(std::move(w));
      }
    }
  }
  return blends[size_t(rng.uniform_int(0, int(blends.size()) - 1))];
}

void PrmDataOptions::validate() const {
  if (mistake_rate < 0 || mistake_rate > 1) throw std::invalid_argument("PrmDataOptions.mistake_rate: must be in [0, 1]");
  if (result_slip < 0 || method_slip < 0 || operand_slip < 0 || operator_slip < 0 || answer_slip < 0 ||
      result_slip + method_slip + operand_slip + operator_slip + answer_slip <= 0) {
    throw std::invalid_argument("PrmDataOptions: slip weights must be >= 0 with a positive sum");
  }
}

LabelledSolution make_prm_example(const Problem& problem, Rng& rng, const PrmDataOptions& options) {
  options.validate();
  const size_t n = problem.steps.size();
  for (;;) {
    enum Kind : size_t { wrong_result, wrong_operand, wrong_operation, wrong_answer, blend };
    const bool mistake = rng.bernoulli(options.mistake_rate);
    size_t kind = mistake ? rng.choose({options.result_slip, options.operand_slip, options.operator_slip,
                                        options.answer_slip, options.method_slip})
                          : wrong_result;
    size_t where = n;
    if (mistake && kind == blend) {
      std::vector<size_t> blendable;
      for (size_t i = 0; i < n; ++i) {
        const int64_t before = i == 0 ? problem.start : problem.steps[i - 1].value;
        if (has_method_blend(before, problem.steps[i].op, problem.steps[i].operand)) blendable.push_back(i);
      }
      if (blendable.empty()) {
        kind = wrong_result;
      } else {
        where = blendable[size_t(rng.uniform_int(0, int(blendable.size()) - 1))];
      }
    }
    if (mistake && kind != wrong_answer && kind != blend) where = size_t(rng.uniform_int(0, int(n) - 1));
    LabelledSolution out;
    bool valid = true;
    int64_t x = problem.start;
    for (size_t i = 0; i < n; ++i) {
      Op op = problem.steps[i].op;
      int64_t operand = problem.steps[i].operand;
      ResultSlip slip;
      if (i == where && kind == wrong_operand) {
        operand = slip_number(operand, rng);
      } else if (i == where && kind == wrong_operation) {
        const Op others[2][3] = {{Op::sub, Op::mul, Op::add}, {Op::mul, Op::add, Op::sub}};
        op = others[rng.uniform_int(0, 1)][op == Op::add ? 0 : op == Op::sub ? 1 : 2];
      }
      if (x < 1 || operand < 1 || compute(x, char(op), operand) < 0) {
        valid = false;
        break;
      }
      const auto methods = methods_for(int(x), op, int(operand));
      const Method m = methods[size_t(rng.uniform_int(0, int(methods.size()) - 1))];
      WorkedStep plain = work_step(step_variable(i), x, op, operand, m);
      if (i == where && kind == blend) plain = *blend_methods(step_variable(i), x, op, operand, rng);
      if (i == where && kind == wrong_result) {
        const size_t at = size_t(rng.uniform_int(0, int(plain.equations.size()) - 1));
        const int64_t wrong = slip_number(plain.equations[at].result, rng);
        plain = work_step(step_variable(i), x, op, operand, m,
                          [&](size_t index, int64_t r) { return index == at ? wrong : r; });
      }
      x = plain.value();
      if (x < 0) {
        valid = false;
        break;
      }
      out.lines.push_back(plain.text());
    }
    if (!valid) continue;
    const int64_t written = mistake && kind == wrong_answer ? slip_number(x, rng) : x;
    out.lines.push_back("#### " + std::to_string(written));
    out.labels = label_steps(problem, out.lines);
    return out;
  }
}

LabelledSolution make_slipped_example(const Problem& problem, Rng& rng, double rate) {
  if (rate < 0 || rate > 1) throw std::invalid_argument("make_slipped_example: rate must be in [0, 1]");
  for (;;) {
    LabelledSolution out;
    int64_t x = problem.start;
    bool valid = true;
    for (size_t i = 0; i < problem.steps.size(); ++i) {
      const ProblemStep& step = problem.steps[i];
      if (x < 1 || compute(x, char(step.op), step.operand) < 0) {
        valid = false;
        break;
      }
      const auto methods = methods_for(int(x), step.op, int(step.operand));
      const Method m = methods[size_t(rng.uniform_int(0, int(methods.size()) - 1))];
      const WorkedStep w = work_step(step_variable(i), x, step.op, step.operand, m, [&](size_t, int64_t r) {
        return rng.bernoulli(rate) ? slip_number(r, rng) : r;
      });
      x = w.value();
      out.lines.push_back(w.text());
    }
    if (!valid || x < 0) continue;
    out.lines.push_back("#### " + std::to_string(x));
    out.labels = label_steps(problem, out.lines);
    return out;
  }
}

std::vector<LabelledSample> read_labelled_samples(const std::string& path) {
  std::vector<LabelledSample> out;
  for (const Example& e : read_jsonl(path)) {
    const std::string where = path + ": sample " + e.id + ": ";
    auto problem = parse_question(e.question);
    if (!problem) throw std::runtime_error(where + "not a toy-task question: " + e.question);
    if (const Split split = split_of(e.question); split != Split::train) {
      throw std::runtime_error(where + "a " + split_name(split) + "-split question (training-split questions only)");
    }
    auto lines = solution_lines(e.solution);
    if (lines.empty()) continue;
    auto labels = label_steps(*problem, lines);
    out.push_back({e.id, std::move(*problem), {std::move(lines), std::move(labels)}});
  }
  return out;
}

}  // namespace ponder::toy
