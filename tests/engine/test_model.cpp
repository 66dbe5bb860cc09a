#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ponder/model.h"
#include "support/test_models.h"
#include "toy/llama_gguf.h"
#include "toy/vocab.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::string& path) {
  try {
    Model::load(path);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Model, LoadsTheToyVocabulary) {
  auto model = Model::load(test::random_model_path("tiny"));
  EXPECT_EQ(model->n_vocab(), toy::kVocabSize);
  EXPECT_EQ(model->bos(), toy::kBosToken);
  EXPECT_EQ(model->eos(), toy::kEosToken);
  EXPECT_TRUE(model->is_end_of_generation(toy::kEosToken));
  EXPECT_TRUE(model->supports_rollback());
  EXPECT_FALSE(model->has_chat_template());
}

TEST(Model, TokenizesLikeTheToyTokenizer) {
  auto model = Model::load(test::random_model_path("tiny"));
  const std::string text = "a=61; b=a-35;\nb? \xC3\xA9";
  std::vector<Token> expected{toy::kBosToken};
  for (Token t : toy::toy_tokenize(text)) expected.push_back(t);
  EXPECT_EQ(model->tokenize(text, true), expected);
  EXPECT_EQ(model->detokenize(model->tokenize(text, true)), text);
  EXPECT_EQ(model->token_piece(toy::toy_token_for_char(' ')), " ");
  EXPECT_EQ(model->token_piece(toy::kEosToken), "");
}

TEST(Model, ChatTemplateFallbackJoinsContents) {
  auto model = Model::load(test::random_model_path("tiny"));
  EXPECT_EQ(model->apply_chat_template({{"user", "2+2?"}}), "2+2?\n");
  EXPECT_EQ(model->apply_chat_template({{"system", "s"}, {"user", "u"}}), "s\nu\n");
}

TEST(Model, MissingFileIsAClearError) {
  EXPECT_NE(error_of("/nonexistent/model.gguf").find("not found"), std::string::npos);
}

TEST(Model, DirectoryIsAClearError) {
  EXPECT_NE(error_of(test::scratch_dir("model-dir")).find("not a regular file"), std::string::npos);
}

TEST(Model, EmptyAndForeignFilesAreClearErrors) {
  const std::string dir = test::scratch_dir("model-bad");
  write_bytes(dir + "/empty.gguf", "");
  write_bytes(dir + "/text.gguf", "hello, I am not a model");
  EXPECT_NE(error_of(dir + "/empty.gguf").find("empty or truncated"), std::string::npos);
  EXPECT_NE(error_of(dir + "/text.gguf").find("not a GGUF"), std::string::npos);
}

TEST(Model, TruncatedFilesAreErrorsNotCrashes) {
  const std::string good = test::random_model_path("tiny");
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string dir = test::scratch_dir("model-truncated");
  for (size_t keep : {size_t(8), size_t(100), bytes.size() / 3, bytes.size() - 1}) {
    const std::string path = dir + "/cut" + std::to_string(keep) + ".gguf";
    write_bytes(path, bytes.substr(0, keep));
    const std::string error = error_of(path);
    EXPECT_NE(error.find("cannot load model"), std::string::npos) << "kept " << keep << ": " << error;
  }
}

TEST(Model, UnsupportedArchitectureIsAClearError) {
  // A well-formed GGUF whose architecture llama.cpp does not know.
  const std::string dir = test::scratch_dir("model-arch");
  const std::string path = dir + "/weird.gguf";
  toy::LlamaShape shape{16, 1, 2, 2, 32, 64};
  toy::write_llama_gguf(path, shape, toy::random_llama_weights(shape, 1, 0.1f), {});
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find("llama", bytes.find("general.architecture"));
  ASSERT_NE(at, std::string::npos);
  f.seekp(std::streamoff(at));
  f.write("xxxxx", 5);
  f.close();
  const std::string error = error_of(path);
  EXPECT_NE(error.find("cannot load model"), std::string::npos) << error;
  EXPECT_NE(error.find("xxxxx"), std::string::npos) << error;
}

}  // namespace
}  // namespace ponder
