#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <stdexcept>

#include "support/test_models.h"
#include "toy/dataset.h"
#include "toy/models.h"

namespace ponder::toy {
namespace {

TEST(ToyDataset, CommittedFilesAreWhatTheGeneratorWrites) {
  const auto dev = read_jsonl(toy_data_dir() + "/dev.jsonl");
  const auto test = read_jsonl(toy_data_dir() + "/test.jsonl");
  const auto want_dev = make_split(Split::dev, dev_mix(), kDevSeed);
  const auto want_test = make_split(Split::test, test_mix(), kTestSeed);
  ASSERT_EQ(dev.size(), want_dev.size()) << "regenerate with ponder-toy-data";
  ASSERT_EQ(test.size(), want_test.size()) << "regenerate with ponder-toy-data";
  for (size_t i = 0; i < dev.size(); ++i) EXPECT_EQ(example_to_json(dev[i]), example_to_json(want_dev[i]));
  for (size_t i = 0; i < test.size(); ++i) EXPECT_EQ(example_to_json(test[i]), example_to_json(want_test[i]));
  EXPECT_GE(test.size(), 200u) << "the quality targets need at least 200 test problems";
}

TEST(ToyDataset, OnlyDevAndTestAreCommittedSplits) {
  for (const auto& [split, want] : {std::pair{Split::dev, make_split(Split::dev, dev_mix(), kDevSeed)},
                                    std::pair{Split::test, make_split(Split::test, test_mix(), kTestSeed)}}) {
    const auto got = committed_split(split);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(example_to_json(got[i]), example_to_json(want[i]));
  }
  EXPECT_THROW(committed_split(Split::train), std::invalid_argument);
}

TEST(ToyDataset, SplitsShareNoQuestion) {
  std::set<std::string> dev, test;
  for (const auto& e : make_split(Split::dev, dev_mix(), kDevSeed)) {
    EXPECT_EQ(split_of(e.question), Split::dev);
    EXPECT_TRUE(dev.insert(e.question).second) << "duplicate in dev: " << e.question;
  }
  for (const auto& e : make_split(Split::test, test_mix(), kTestSeed)) {
    EXPECT_EQ(split_of(e.question), Split::test);
    EXPECT_TRUE(test.insert(e.question).second) << "duplicate in test: " << e.question;
    EXPECT_FALSE(dev.count(e.question));
  }
  ProblemStream stream(train_mix(), 1);
  for (int i = 0; i < 20000; ++i) {
    const std::string q = stream.next().question();
    ASSERT_FALSE(dev.count(q) || test.count(q)) << "training problem in a held-out split: " << q;
  }
}

TEST(ToyDataset, SplitsFollowTheirMix) {
  const auto test = make_split(Split::test, test_mix(), kTestSeed);
  size_t i = 0;
  for (const auto& cell : test_mix()) {
    for (int k = 0; k < int(cell.amount); ++k, ++i) EXPECT_EQ(test.at(i).difficulty, cell.difficulty);
  }
  EXPECT_EQ(i, test.size());
}

TEST(ToyDataset, JsonRoundTripAndErrors) {
  const Example e{"dev-0001", "a=2; b=a+8; b?", "b: 2+8=10\n#### 10", "10", {1, 1}};
  const std::string line = example_to_json(e);
  EXPECT_EQ(line, R"({"id":"dev-0001","question":"a=2; b=a+8; b?","solution":"b: 2+8=10\n#### 10","answer":"10","difficulty":{"steps":1,"digits":1}})");
  EXPECT_EQ(example_to_json(example_from_json(line)), line);
  EXPECT_EQ(example_from_json(R"({"id":"x","question":"q","solution":"s","answer":10,"difficulty":{"steps":1,"digits":1}})").answer, "10");
  try {
    example_from_json(R"({"id":"x","solution":"s","answer":"1","difficulty":{"steps":1,"digits":1}})");
    FAIL() << "a missing field must be an error";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("question"), std::string::npos) << err.what();
  }
  const std::string path = test::scratch_dir("toy_dataset") + "/bad.jsonl";
  std::ofstream(path) << line << "\n{not json\n";
  try {
    read_jsonl(path);
    FAIL() << "a malformed line must be an error";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find(":2:"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace ponder::toy
