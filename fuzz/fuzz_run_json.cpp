// Fuzz target for checking an evaluation directory's run.json (src/eval/run_dir.cpp's
// settings_differences) on arbitrary bytes, aborting on the first broken invariant.
//
//   - it either lists differences or throws std::runtime_error with a message; nothing
//     else escapes, and it never crashes
//   - no differences only when the text holds exactly the current settings
//   - the current settings, written out, have no differences with themselves

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "eval/run_dir.h"

namespace {

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_run_json: broken invariant: %s [%.*s]\n", what, int(detail.size()),
               detail.data());
  std::abort();
}

const nlohmann::json& current() {
  static const nlohmann::json settings = [] {
    ponder::Dataset data;
    data.format = ponder::DatasetFormat::gsm8k;
    data.content_hash = "d41d8cd98f00b204e9800998ecf8427e";
    ponder::StrategyOptions options;
    options.generation.stop.stop = {"\n\n", "Q:"};
    return ponder::eval::run_settings(options, 7, data, {"model.gguf", "abc123", 4096});
  }();
  return settings;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool self_consistent = ponder::eval::settings_differences(current().dump(), current()).empty();
  check(self_consistent, "the current settings differ from themselves");
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> differences;
  try {
    differences = ponder::eval::settings_differences(text, current());
  } catch (const std::runtime_error& e) {
    check(*e.what() != '\0', "an error without a message", text);
    return 0;
  } catch (const std::exception& e) {
    check(false, "an unexpected exception", e.what());
  }
  for (const auto& d : differences)
    check(d.find(" there, ") != std::string::npos, "a difference without both values", d);
  if (differences.empty()) {
    check(nlohmann::json::parse(text) == current(), "no differences reported for other settings", text);
  }
  return 0;
}
