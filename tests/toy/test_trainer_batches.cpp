// The trainer's PRM documents: where the flags of prm_flagged_doc land, and that the
// packer carries them into a batch.
#include <gtest/gtest.h>

#include "batches.h"
#include "toy/prm.h"
#include "toy/vocab.h"

namespace ponder::trainer {
namespace {

const toy::Problem kProblem = *toy::parse_question("a=61; b=a-35; c=b*4; d=c+41; d?");
// A blend in c (20*4 with 26's round remainder): the first wrong character is the 4 of "4*4".
const toy::LabelledSolution kSolution{
    {"b: 61-35=26", "c: 20*4=80, 4*4=16, 80+16=96", "d: 96+41=137", "#### 137"}, {true, false, false, false}};

char char_at(const Doc& d, size_t i) { return toy::toy_detokenize({int32_t(d.input[i])})[0]; }

TEST(TrainerBatches, FlagsMarkEachStepCharacterWithItsPrefixLabel) {
  const auto question = kProblem.question();
  const auto labels = toy::label_prefixes(kProblem, kSolution.lines);
  const Doc plain = prm_doc(question, kSolution, 0.1f);
  const Doc d = prm_flagged_doc(question, kSolution, labels, 0.1f);
  EXPECT_EQ(d.input, plain.input);
  EXPECT_EQ(d.target, plain.target);  // the flags are a second target, not a replacement
  EXPECT_EQ(d.weight, plain.weight);
  ASSERT_EQ(d.flag.size(), d.input.size());

  std::string flagged_text, flag_string;
  for (size_t i = 0; i < d.input.size(); ++i) {
    if (d.flag[i] == kNoFlag) continue;
    flagged_text += char_at(d, i);
    flag_string += d.flag[i] ? '+' : '-';
  }
  EXPECT_EQ(flagged_text, "b: 61-35=26\nc: 20*4=80, 4*4=16, 80+16=96\nd: 96+41=137\n#### 137\n");
  const std::string good_until = "b: 61-35=26\nc: 20*4=80, ";
  EXPECT_EQ(flag_string, std::string(good_until.size(), '+') + std::string(flagged_text.size() - good_until.size(), '-'));
  // The tags keep their step labels as next-character targets.
  int tags = 0;
  for (size_t i = 0; i < d.input.size(); ++i) {
    if (char_at(d, i) != toy::kPrmTag) continue;
    EXPECT_EQ(d.flag[i], kNoFlag);
    EXPECT_EQ(d.target[i], toy::toy_token_for_char(kSolution.labels[size_t(tags)] ? toy::kPrmGood : toy::kPrmBad));
    ++tags;
  }
  EXPECT_EQ(tags, 4);
}

TEST(TrainerBatches, MismatchedLabelsAreRejected) {
  auto labels = toy::label_prefixes(kProblem, kSolution.lines);
  labels.pop_back();
  EXPECT_THROW(prm_flagged_doc(kProblem.question(), kSolution, labels, 0.1f), std::invalid_argument);
}

TEST(TrainerBatches, PackerCarriesFlags) {
  const Doc flagged = prm_flagged_doc(kProblem.question(), kSolution, toy::label_prefixes(kProblem, kSolution.lines), 0.0f);
  const Doc plain = reasoner_doc(kProblem.question(), "b: 61-35=26\n#### 26\n");
  std::vector<Doc> docs{plain, flagged};
  size_t next = 0;
  Packer packer(1, 256, [&]() -> std::optional<Doc> {
    if (next == docs.size()) return std::nullopt;
    return docs[next++];
  });
  const auto batch = packer.next();
  ASSERT_TRUE(batch);
  auto flags = batch->flags[0];
  const int64_t plain_len = int64_t(plain.input.size());
  EXPECT_TRUE((flags.slice(0, 0, plain_len) == kNoFlag).all().item<bool>());
  for (size_t i = 0; i < flagged.flag.size(); ++i) EXPECT_EQ(flags[plain_len + int64_t(i)].item<int64_t>(), flagged.flag[i]);
  EXPECT_TRUE((flags.slice(0, plain_len + int64_t(flagged.input.size())) == kNoFlag).all().item<bool>());
}

TEST(TrainerBatches, PackerLeavesOutAndCountsDocumentsLongerThanARow) {
  const Doc plain = reasoner_doc(kProblem.question(), "b: 61-35=26\n#### 26\n");
  const size_t row = plain.input.size() + 1;
  Doc too_long = plain;
  too_long.input.resize(row + 1, toy::kBosToken);
  too_long.target.resize(row + 1, kNoTarget);
  too_long.weight.resize(row + 1, 0.0f);
  std::vector<Doc> docs{too_long, plain};
  size_t next = 0;
  Packer packer(1, int(row), [&]() -> std::optional<Doc> {
    if (next == docs.size()) return std::nullopt;
    return docs[next++];
  });
  const auto batch = packer.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->n_tokens, int64_t(plain.input.size()));
  EXPECT_EQ(packer.too_long(), 1);
  EXPECT_FALSE(packer.next());
}

}  // namespace
}  // namespace ponder::trainer
