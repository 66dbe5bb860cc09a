#include "toy/task.h"

#include <array>
#include <charconv>
#include <stdexcept>

#include "toy/vocab.h"

namespace ponder::toy {

namespace {

int64_t power_of_ten(int k) {
  int64_t p = 1;
  while (k-- > 0) p *= 10;
  return p;
}

int64_t apply(int64_t x, char op, int64_t n) {
  switch (op) {
    case '+': return x + n;
    case '-': return x - n;
    case '*': return x * n;
  }
  throw std::invalid_argument(std::string("toy task: unknown operator '") + op + "'");
}

// Operand of an addition or subtraction: exactly `digits` digits.
int draw_operand(Rng& rng, int digits) {
  return rng.uniform_int(int(power_of_ten(digits - 1)), int(power_of_ten(digits) - 1));
}

std::string equation_text(const Equation& e) {
  return std::to_string(e.lhs) + e.op + std::to_string(e.rhs) + "=" + std::to_string(e.result);
}

// Reads a non-negative integer at text[pos]; advances pos.
std::optional<int64_t> read_number(const std::string& text, size_t& pos) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return std::nullopt;
  pos = size_t(end - text.data());
  return value;
}

bool expect(const std::string& text, size_t& pos, const std::string& what) {
  if (text.compare(pos, what.size(), what) != 0) return false;
  pos += what.size();
  return true;
}

}  // namespace

void Difficulty::validate() const {
  if (steps < 1 || steps > 5) throw std::invalid_argument("Difficulty.steps: must be in [1, 5], got " + std::to_string(steps));
  if (digits < 1 || digits > 3) throw std::invalid_argument("Difficulty.digits: must be in [1, 3], got " + std::to_string(digits));
}

char step_variable(size_t step) { return char('b' + step); }

std::string Problem::question() const {
  std::string q = "a=" + std::to_string(start);
  char previous = 'a';
  for (size_t i = 0; i < steps.size(); ++i) {
    const char v = step_variable(i);
    q += "; ";
    q += v;
    q += '=';
    q += previous;
    q += char(steps[i].op);
    q += std::to_string(steps[i].operand);
    previous = v;
  }
  q += "; ";
  q += previous;
  q += '?';
  return q;
}

std::optional<Problem> parse_question(const std::string& q) {
  Problem p;
  size_t pos = 0;
  if (!expect(q, pos, "a=")) return std::nullopt;
  auto start = read_number(q, pos);
  if (!start || *start < 1) return std::nullopt;
  p.start = int(*start);
  int64_t value = *start;
  char previous = 'a';
  for (size_t i = 0;; ++i) {
    if (!expect(q, pos, "; ")) return std::nullopt;
    if (pos + 2 == q.size() && q[pos] == previous && q[pos + 1] == '?') break;
    const char v = step_variable(i);
    if (!expect(q, pos, std::string{v, '=', previous})) return std::nullopt;
    if (pos >= q.size() || (q[pos] != '+' && q[pos] != '-' && q[pos] != '*')) return std::nullopt;
    const Op op = Op(q[pos++]);
    auto n = read_number(q, pos);
    if (!n) return std::nullopt;
    value = apply(value, char(op), *n);
    p.steps.push_back({op, int(*n), int(value)});
    previous = v;
  }
  if (p.steps.empty()) return std::nullopt;
  p.difficulty.steps = int(p.steps.size());
  p.difficulty.digits = int(std::to_string(p.start).size());
  return p;
}

Problem generate_problem(Rng& rng, const Difficulty& d) {
  d.validate();
  const int64_t cap = power_of_ten(d.digits + 1) - 1;
  Problem p;
  p.difficulty = d;
  p.start = d.digits == 1 ? rng.uniform_int(2, 9) : draw_operand(rng, d.digits);
  int64_t x = p.start;
  for (int i = 0; i < d.steps; ++i) {
    for (int attempt = 0;; ++attempt) {
      if (attempt == 1000) throw std::logic_error("generate_problem: no valid step after 1000 draws");
      const Op op = std::array{Op::add, Op::sub, Op::mul}[rng.uniform_int(0, 2)];
      const int n = op == Op::mul ? rng.uniform_int(2, 9) : draw_operand(rng, d.digits);
      const int64_t v = apply(x, char(op), n);
      if (v < 1 || v > cap) continue;
      p.steps.push_back({op, n, int(v)});
      x = v;
      break;
    }
  }
  return p;
}

const char* method_name(Method method) {
  switch (method) {
    case Method::direct: return "direct";
    case Method::split_operand: return "split_operand";
    case Method::round_operand: return "round_operand";
    case Method::split_input: return "split_input";
    case Method::round_input: return "round_input";
  }
  return "?";
}

std::vector<Method> methods_for(int x, Op op, int n) {
  std::vector<Method> m{Method::direct};
  switch (op) {
    case Op::add:
      if (n >= 10 && n % 10 != 0) m.push_back(Method::split_operand);
      if (x >= 10 && x % 10 != 0) m.push_back(Method::split_input);
      break;
    case Op::sub:
      if (n >= 10 && n % 10 != 0) m.push_back(Method::split_operand);
      if (n % 10 != 0 && n + 10 - n % 10 <= x) m.push_back(Method::round_operand);
      break;
    case Op::mul:
      if (x >= 10 && x % 10 != 0) m.push_back(Method::split_input);
      if (x % 10 != 0) m.push_back(Method::round_input);
      break;
  }
  return m;
}

WorkedStep work_step(char variable, int64_t x, Op op, int64_t n, Method method, const ResultSlip& slip) {
  WorkedStep step{variable, {}};
  auto eq = [&](int64_t a, char o, int64_t b) {
    int64_t r = apply(a, o, b);
    if (slip) r = slip(step.equations.size(), r);
    step.equations.push_back({a, o, b, r});
    return r;
  };
  const char o = char(op);
  const int64_t tens = x - x % 10, units = x % 10, up = tens + 10;
  switch (method) {
    case Method::direct:
      eq(x, o, n);
      break;
    case Method::split_operand:
      eq(eq(x, o, n - n % 10), o, n % 10);
      break;
    case Method::round_operand: {
      const int64_t rounded = n + 10 - n % 10;
      eq(eq(x, '-', rounded), '+', rounded - n);
      break;
    }
    case Method::split_input:
      if (op == Op::add) {
        eq(eq(tens, '+', n), '+', units);
      } else {
        const int64_t p = eq(tens, '*', n), q = eq(units, '*', n);
        eq(p, '+', q);
      }
      break;
    case Method::round_input: {
      const int64_t p = eq(up, '*', n), q = eq(up - x, '*', n);
      eq(p, '-', q);
      break;
    }
  }
  return step;
}

std::string WorkedStep::text() const {
  std::string t{variable, ':', ' '};
  for (size_t i = 0; i < equations.size(); ++i) {
    if (i) t += ", ";
    t += equation_text(equations[i]);
  }
  return t;
}

std::vector<std::string> Solution::lines() const {
  std::vector<std::string> l;
  for (const auto& s : steps) l.push_back(s.text());
  l.push_back("#### " + std::to_string(answer));
  return l;
}

std::string Solution::text() const {
  std::string t;
  for (const auto& line : lines()) {
    if (!t.empty()) t += '\n';
    t += line;
  }
  return t;
}

Solution solve(const Problem& problem, Rng& rng) {
  Solution s;
  int64_t x = problem.start;
  for (size_t i = 0; i < problem.steps.size(); ++i) {
    const auto& ps = problem.steps[i];
    const auto methods = methods_for(int(x), ps.op, ps.operand);
    const Method m = methods[size_t(rng.uniform_int(0, int(methods.size()) - 1))];
    s.steps.push_back(work_step(step_variable(i), x, ps.op, ps.operand, m));
    x = s.steps.back().value();
  }
  s.answer = x;
  return s;
}

Solution solve_direct(const Problem& problem) {
  Solution s;
  int64_t x = problem.start;
  for (size_t i = 0; i < problem.steps.size(); ++i) {
    s.steps.push_back(work_step(step_variable(i), x, problem.steps[i].op, problem.steps[i].operand, Method::direct));
    x = s.steps.back().value();
  }
  s.answer = x;
  return s;
}

std::string reasoner_prompt(const std::string& question) { return question + "\n"; }

ReasonerOutput reasoner_output(const std::vector<std::string>& lines) {
  ReasonerOutput out;
  for (size_t i = 0; i < lines.size(); ++i) {
    for (int32_t t : toy_tokenize(lines[i])) out.tokens.push_back(t);
    out.tokens.push_back(i + 1 < lines.size() ? toy_token_for_char('\n') : kEosToken);
    out.line_ends.push_back(out.tokens.size());
  }
  return out;
}

std::optional<int64_t> extract_answer(const std::string& text) {
  const size_t at = text.rfind("#### ");
  if (at == std::string::npos) return std::nullopt;
  size_t pos = at + 5;
  const bool negative = pos < text.size() && text[pos] == '-';
  if (negative) ++pos;
  auto n = read_number(text, pos);
  if (!n) return std::nullopt;
  return negative ? -*n : *n;
}

}  // namespace ponder::toy
