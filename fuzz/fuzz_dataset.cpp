// Fuzz target for the evaluation data reader (src/eval/dataset.cpp): JSONL in any of the
// formats on arbitrary bytes, aborting on the first broken invariant.
//
//   - read_dataset never throws, whatever the format and group field
//   - every item has an id, a non-empty question and a reference with a non-empty key
//     (a reference no answer can match would score every model wrong in silence)
//   - ids are unique; items and errors come in line order, one per non-blank line at most
//   - without a group field no item has a group
//
// The first input byte picks the format and the group field; the rest is the file.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "ponder/eval.h"

namespace {

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_dataset: broken invariant: %s [%.*s]\n", what, int(detail.size()), detail.data());
  std::abort();
}

int non_blank_lines(const std::string& text) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find_first_not_of(" \t\r") != std::string::npos;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using ponder::DatasetFormat;
  const DatasetFormat formats[] = {DatasetFormat::automatic, DatasetFormat::ponder, DatasetFormat::gsm8k,
                                   DatasetFormat::math};
  const char* groups[] = {"", "difficulty.steps", "level", "a.b.c"};
  const DatasetFormat format = formats[data[0] % 4];
  const std::string group_by = groups[(data[0] / 4) % 4];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  std::istringstream in(text);
  ponder::Dataset d;
  try {
    d = ponder::read_dataset(in, format, group_by);
  } catch (...) {
    check(false, "read_dataset threw", text);
  }
  check(int(d.items.size() + d.errors.size()) <= non_blank_lines(text), "more results than lines", text);
  std::set<std::string> ids;
  int last_line = 0;
  for (const auto& item : d.items) {
    check(!item.id.empty(), "empty id", text);
    check(ids.insert(item.id).second, "duplicate id", item.id);
    check(!item.question.empty(), "empty question", text);
    check(!item.reference.key.empty(), "reference with an empty key", item.reference.text);
    check(item.line > last_line, "items out of line order", text);
    last_line = item.line;
    check(!group_by.empty() || item.group.empty(), "a group without a group field", item.group);
  }
  last_line = 0;
  for (const auto& e : d.errors) {
    check(e.line > last_line, "errors out of line order", e.message);
    check(!e.message.empty(), "error without a message", text);
    last_line = e.line;
  }
  return 0;
}
