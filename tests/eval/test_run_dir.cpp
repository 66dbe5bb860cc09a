#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "eval/content_hash.h"
#include "eval/files.h"
#include "eval/run_dir.h"
#include "ponder/result_json.h"
#include "support/test_models.h"

namespace ponder::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(ContentHash, IsSha256) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string dir = test::scratch_dir("sha256");
  const std::string million(1000000, 'a');
  std::ofstream(dir + "/a") << million;
  EXPECT_EQ(file_sha256(dir + "/a"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_THROW(file_sha256(dir + "/missing"), FileError);
}

TEST(ContentHash, ModelHashesAreCachedByPathSizeAndTime) {
  const std::string dir = test::scratch_dir("hash-cache");
  setenv("PONDER_CACHE", (dir + "/cache").c_str(), 1);
  const fs::path file = fs::path(dir) / "model.gguf";
  std::ofstream(file) << "weights";
  EXPECT_EQ(cached_file_sha256(file), sha256_hex("weights"));
  ASSERT_TRUE(fs::exists(dir + "/cache/file-hashes.json"));
  // The cache answers while size and time match: a planted value comes back.
  json cache = json::parse(read(dir + "/cache/file-hashes.json"));
  ASSERT_EQ(cache.size(), 1u);
  cache.begin().value()["sha256"] = "planted";
  std::ofstream(dir + "/cache/file-hashes.json") << cache.dump();
  EXPECT_EQ(cached_file_sha256(file), "planted");
  // A rewrite of the same size at another time is hashed again.
  std::ofstream(file) << "WEIGHTS";
  const auto later = fs::last_write_time(file) + std::chrono::seconds(5);
  fs::last_write_time(file, later);
  EXPECT_EQ(cached_file_sha256(file), sha256_hex("WEIGHTS"));
  // A damaged cache is ignored, then replaced.
  std::ofstream(dir + "/cache/file-hashes.json") << "{oops";
  EXPECT_EQ(cached_file_sha256(file), sha256_hex("WEIGHTS"));
  EXPECT_NO_THROW(json::parse(read(dir + "/cache/file-hashes.json")));
  unsetenv("PONDER_CACHE");
}

TEST(Files, WriteErrorsNameTheFile) {
  AppendFile full("/dev/full");
  try {
    full.append_line("a row");
    FAIL() << "a write to /dev/full succeeded";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write /dev/full: No space left on device");
  }
  const std::string dir = test::scratch_dir("files");
  EXPECT_THROW(write_file_atomic(dir + "/no/such/dir/summary.json", "{}"), FileError);
  // A directory, or a link to a full disk, is not replaced by a file; nothing is left behind.
  fs::create_directories(dir + "/summary.json");
  fs::create_symlink("/dev/full", dir + "/summary.md");
  for (const char* name : {"/summary.json", "/summary.md"}) {
    try {
      write_file_atomic(dir + name, "{}");
      FAIL() << name;
    } catch (const FileError& e) {
      EXPECT_EQ(std::string(e.what()), "cannot write " + dir + name + ": it is not a regular file");
    }
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  EXPECT_TRUE(fs::is_symlink(dir + "/summary.md"));
  write_file_atomic(dir + "/run.json", "{\"a\":1}\n");
  EXPECT_EQ(read(dir + "/run.json"), "{\"a\":1}\n");
  EXPECT_THROW(read_regular_file("/dev/zero"), FileError);
}

TEST(Files, OneLockHolderAtATime) {
  const std::string dir = test::scratch_dir("lock");
  {
    DirectoryLock first(dir + "/.lock");
    try {
      DirectoryLock second(dir + "/.lock");
      FAIL() << "two holders";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find(dir + " is in use by another run"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(DirectoryLock again(dir + "/.lock"));
}

json settings(int top_k) {
  StrategyOptions o;
  o.generation.sampling.top_k = top_k;
  Dataset data;
  data.format = DatasetFormat::math;
  data.content_hash = "d";
  return run_settings(o, 1, data, {"m.gguf", "s", 10});
}

TEST(RunDir, SettingsDifferencesNameEveryKey) {
  EXPECT_TRUE(settings_differences(settings(0).dump(), settings(0)).empty());
  json other = settings(40);
  other["model"]["sha256"] = "t";
  other.erase("prune");
  other["extra"] = {{"a", 1}};
  EXPECT_EQ(settings_differences(other.dump(), settings(0)),
            (std::vector<std::string>{
                "extra: {\"a\":1} there, none now", "model.sha256: \"t\" there, \"s\" now",
                "prune: none there, {\"min_survivors\":4,\"quantile\":0.25,\"warmup_tokens\":16} now",
                "sampling.top_k: 40 there, 0 now"}));
  EXPECT_THROW(settings_differences("[1]", settings(0)), std::runtime_error);
  EXPECT_THROW(settings_differences("{\"seed\":1}", settings(0)), std::runtime_error);
  EXPECT_EQ(settings(0)["answers"]["first"], "auto");
  EXPECT_EQ(settings(0)["data"]["format"], "math");
}

TEST(RunDir, TracesKeepTheFirstGoodRowOfEachRun) {
  EvalItem item{"q1", "question", Answer{"4", "4"}, 1, ""};
  StrategyResult r;
  r.strategy = "greedy";
  StrategyResult failed = r;
  failed.error = "stalled";
  const std::string good = dump_json(make_trace_row(item, r));
  const std::string content =
      dump_json(make_trace_row(item, failed)) + "\n" + "{\"id\":\"q1\"}\n" + good + "\n" + good + "\n";
  const LoadedTraces t = parse_traces(content);
  ASSERT_EQ(t.done.size(), 1u);
  EXPECT_EQ(t.done.begin()->first, std::make_pair(std::string("q1"), std::string("greedy")));
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_EQ(t.warnings[0], "traces.jsonl line 2 skipped (item_hash: missing); its run is done again");

  // A last line cut by an interruption is removed from the file.
  const std::string dir = test::scratch_dir("traces");
  std::ofstream(dir + "/traces.jsonl") << good << "\n" << good.substr(0, 20);
  EXPECT_EQ(load_traces(dir + "/traces.jsonl").done.size(), 1u);
  EXPECT_EQ(fs::file_size(dir + "/traces.jsonl"), good.size() + 1);
  EXPECT_TRUE(load_traces(dir + "/none.jsonl").done.empty());
}

}  // namespace
}  // namespace ponder::eval
