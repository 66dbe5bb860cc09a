// Data sets for evaluation: ponder's JSONL, GSM8K and MATH formats.

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <variant>

#include "eval/content_hash.h"
#include "ponder/eval.h"

namespace ponder {

namespace {

using nlohmann::json;

std::optional<std::string> string_field(const json& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  if (it->is_number()) return it->dump();
  return std::nullopt;
}

// The value at a dotted path ("difficulty.steps"), as string_field reads it.
std::optional<std::string> field_at(const json& row, const std::string& path) {
  const json* node = &row;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) return string_field(*node, key.c_str());
    auto it = node->find(key);
    if (it == node->end() || !it->is_object()) return std::nullopt;
    node = &*it;
    start = dot + 1;
  }
}

DatasetFormat detect(const json& row) {
  if (row.contains("problem") && row.contains("solution")) return DatasetFormat::math;
  if (row.contains("question") && row.contains("answer")) {
    const auto answer = string_field(row, "answer");
    if (answer && answer->find("####") != std::string::npos && !row.contains("solution")) return DatasetFormat::gsm8k;
    return DatasetFormat::ponder;
  }
  return DatasetFormat::automatic;
}

// The item of one row, or an error message.
std::variant<EvalItem, std::string> parse_row(const json& row, DatasetFormat format, int line) {
  EvalItem item;
  item.line = line;
  item.id = string_field(row, "id").value_or("line-" + std::to_string(line));
  if (item.id.empty()) return std::string("empty \"id\"");
  const char* question_field = format == DatasetFormat::math ? "problem" : "question";
  const auto question = string_field(row, question_field);
  if (!question || question->empty()) return std::string("missing or empty \"") + question_field + "\"";
  item.question = *question;

  std::optional<Answer> reference;
  if (format == DatasetFormat::ponder) {
    const auto answer = string_field(row, "answer");
    if (!answer || answer->empty()) return std::string("missing or empty \"answer\"");
    reference = Answer{*answer, normalize_answer(*answer)};
    // No model answer has an empty key: such a reference would mark every answer wrong.
    if (reference->key.empty()) return std::string("\"answer\" is blank");
  } else if (format == DatasetFormat::gsm8k) {
    const auto answer = string_field(row, "answer");
    if (!answer) return std::string("missing \"answer\"");
    reference = extract_answer(*answer, {AnswerRule::hash_mark, ""});
    if (!reference) return std::string("\"answer\" has no \"#### N\" final answer");
  } else {
    const auto solution = string_field(row, "solution");
    if (!solution) return std::string("missing \"solution\"");
    reference = extract_answer(*solution, {AnswerRule::boxed, ""});
    if (!reference) return std::string("\"solution\" has no \\boxed{} answer");
  }
  item.reference = *reference;
  return item;
}

}  // namespace

DatasetFormat parse_dataset_format(std::string_view name) {
  if (name == "auto") return DatasetFormat::automatic;
  if (name == "ponder") return DatasetFormat::ponder;
  if (name == "gsm8k") return DatasetFormat::gsm8k;
  if (name == "math") return DatasetFormat::math;
  throw std::invalid_argument("unknown data format '" + std::string(name) + "' (auto, ponder, gsm8k, math)");
}

AnswerRule default_answer_rule(DatasetFormat format) {
  return format == DatasetFormat::math ? AnswerRule::boxed : AnswerRule::hash_mark;
}

std::string item_hash(const EvalItem& item) {
  // The lengths keep ("ab", "c") and ("a", "bc") apart.
  return eval::sha256_hex(std::to_string(item.question.size()) + ":" + item.question +
                          std::to_string(item.reference.text.size()) + ":" + item.reference.text);
}

Dataset load_dataset(const std::string& path, DatasetFormat format, const std::string& group_by) {
  // A directory opens as a stream that reads nothing, which would pass for an empty file.
  if (std::filesystem::is_directory(path)) throw std::runtime_error("cannot read data file " + path + ": it is a directory");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read data file " + path);
  return read_dataset(in, format, group_by);
}

Dataset read_dataset(std::istream& in, DatasetFormat format, const std::string& group_by) {
  Dataset data;
  data.format = format;
  data.group_by = group_by;
  std::string text;
  std::set<std::string> ids;
  eval::Sha256 content;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    content.update(text);
    if (!in.eof()) content.update("\n");  // a last line without one read as it is
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const json row = json::parse(text, nullptr, false);
    if (row.is_discarded()) {
      data.errors.push_back({line, "not valid JSON"});
      continue;
    }
    if (!row.is_object()) {
      data.errors.push_back({line, "not a JSON object"});
      continue;
    }
    if (data.format == DatasetFormat::automatic) {
      data.format = detect(row);
      if (data.format == DatasetFormat::automatic) {
        data.errors.push_back({line, "unknown format: expected question/answer or problem/solution fields"});
        continue;
      }
    }
    auto parsed = parse_row(row, data.format, line);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      data.errors.push_back({line, *error});
    } else if (!ids.insert(std::get<EvalItem>(parsed).id).second) {
      data.errors.push_back({line, "duplicate id \"" + std::get<EvalItem>(parsed).id + "\""});
    } else {
      auto& item = data.items.emplace_back(std::move(std::get<EvalItem>(parsed)));
      if (!group_by.empty()) item.group = field_at(row, group_by).value_or("");
    }
  }
  data.content_hash = content.hex();
  return data;
}

}  // namespace ponder
