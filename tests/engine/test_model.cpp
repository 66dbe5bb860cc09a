#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>

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

TEST(Model, WritesEveryMatrixTypeThatLlamaCppLoads) {
  const toy::LlamaShape shape{64, 1, 2, 2, 128, 64};
  const auto weights = toy::random_llama_weights(shape, 1, 0.1f);
  const std::string dir = test::scratch_dir("model-types");
  struct Case {
    toy::WeightType type;
    ggml_type ggml;
    float tolerance;  // of |weight - written weight|; the weights' std is 0.1
  };
  for (const Case& c : {Case{toy::WeightType::f16, GGML_TYPE_F16, 3e-4f}, Case{toy::WeightType::bf16, GGML_TYPE_BF16, 2e-3f},
                        Case{toy::WeightType::q8_0, GGML_TYPE_Q8_0, 3e-3f},
                        Case{toy::WeightType::q4_0, GGML_TYPE_Q4_0, 6e-2f}}) {
    const std::string path = dir + "/" + ggml_type_name(c.ggml) + ".gguf";
    toy::GgufWriteOptions options;
    options.matrix_type = c.type;
    toy::write_llama_gguf(path, shape, weights, options);
    EXPECT_EQ(error_of(path), "") << ggml_type_name(c.ggml);

    ggml_context* data = nullptr;
    std::unique_ptr<gguf_context, decltype(&gguf_free)> file(gguf_init_from_file(path.c_str(), {false, &data}),
                                                             gguf_free);
    std::unique_ptr<ggml_context, decltype(&ggml_free)> tensors(data, ggml_free);
    ASSERT_TRUE(file);
    for (const auto& w : weights) {
      const ggml_tensor* t = ggml_get_tensor(data, w.name.c_str());
      ASSERT_NE(t, nullptr) << w.name;
      const bool norm = w.name.find("norm") != std::string::npos;
      ASSERT_EQ(t->type, norm ? GGML_TYPE_F32 : c.ggml) << w.name;
      std::vector<float> back(size_t(w.n_elements()));
      if (norm) {
        std::copy_n(static_cast<const float*>(t->data), back.size(), back.begin());
      } else {
        ggml_get_type_traits(c.ggml)->to_float(t->data, back.data(), w.n_elements());
      }
      float worst = 0;
      for (size_t i = 0; i < back.size(); ++i) worst = std::max(worst, std::fabs(back[i] - w.data[i]));
      EXPECT_LT(worst, c.tolerance) << ggml_type_name(c.ggml) << " " << w.name;
    }
  }
  // Blocks of 32 weights need rows of a multiple of 32: a clear refusal, not a bad file.
  const toy::LlamaShape narrow{16, 1, 2, 2, 32, 64};
  toy::GgufWriteOptions q8;
  q8.matrix_type = toy::WeightType::q8_0;
  try {
    toy::write_llama_gguf(dir + "/narrow.gguf", narrow, toy::random_llama_weights(narrow, 1, 0.1f), q8);
    ADD_FAILURE() << "wrote q8_0 rows of 16 weights";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
}

// A copy of the tiny model with its metadata changed by `edit` (tensors kept).
std::string edited_model(const std::string& name, const std::function<void(gguf_context*)>& edit) {
  ggml_context* data = nullptr;
  std::unique_ptr<gguf_context, decltype(&gguf_free)> in(
      gguf_init_from_file(test::random_model_path("tiny").c_str(), {false, &data}), gguf_free);
  std::unique_ptr<ggml_context, decltype(&ggml_free)> tensors(data, ggml_free);
  EXPECT_TRUE(in) << "cannot read the tiny model";
  std::unique_ptr<gguf_context, decltype(&gguf_free)> out(gguf_init_empty(), gguf_free);
  gguf_set_kv(out.get(), in.get());
  edit(out.get());
  for (int64_t i = 0; i < gguf_get_n_tensors(in.get()); ++i) {
    gguf_add_tensor(out.get(), ggml_get_tensor(data, gguf_get_tensor_name(in.get(), i)));
  }
  const std::string path = test::scratch_dir("model-meta-" + name) + "/model.gguf";
  EXPECT_TRUE(gguf_write_to_file(out.get(), path.c_str(), false));
  return path;
}

std::string error_with_u32(const char* key, uint32_t value) {
  return error_of(edited_model(key, [&](gguf_context* g) { gguf_set_val_u32(g, key, value); }));
}

// llama.cpp aborts the process on these; ponder refuses them first, naming the key.
TEST(Model, HyperparametersLlamaCppAssertsOnAreClearErrors) {
  struct Case {
    const char* key;
    uint32_t value;
    const char* expected;
  };
  for (const Case& c : {
           Case{"llama.block_count", 0, "llama.block_count is 0; it must be in [1, 512]"},
           Case{"llama.block_count", 513, "llama.block_count is 513; it must be in [1, 512]"},
           Case{"llama.embedding_length", 0, "llama.embedding_length is 0; it must be in [1, "},
           Case{"llama.context_length", 0, "llama.context_length is 0; it must be in [1, "},
           Case{"llama.context_length", 3000000000u, "llama.context_length is 3000000000; it must be in [1, 2147483647]"},
           Case{"llama.attention.head_count_kv", 3, "llama.attention.head_count_kv is 3; it must be a divisor"},
           Case{"llama.expert_used_count", 2, "llama.expert_used_count is 2; it must be 0 (the model has no experts)"},
           Case{"llama.expert_count", 2000, "llama.expert_count is 2000; it must be in [0, 1024]"},
           Case{"llama.expert_count", 4, "llama.expert_used_count is 0; it must be in [1, 4]"},
           Case{"llama.nextn_predict_layers", 3, "llama.nextn_predict_layers is 3; it must be in [0, 2]"},
       }) {
    const std::string error = error_with_u32(c.key, c.value);
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.key << " = " << c.value << ": " << error;
    EXPECT_NE(error.find("cannot load model"), std::string::npos) << error;
  }
}

TEST(Model, VocabulariesLlamaCppAssertsOnAreClearErrors) {
  const std::string rope = error_of(edited_model("rope", [](gguf_context* g) {
    gguf_set_val_str(g, "llama.rope.scaling.type", "sideways");
  }));
  EXPECT_NE(rope.find("llama.rope.scaling.type is 'sideways'"), std::string::npos) << rope;

  const std::string twice = error_of(edited_model("duplicate-token", [](gguf_context* g) {
    const int64_t id = gguf_find_key(g, "tokenizer.ggml.tokens");
    std::vector<std::string> texts;
    for (size_t i = 0; i < gguf_get_arr_n(g, id); ++i) texts.emplace_back(gguf_get_arr_str(g, id, i));
    texts[toy::toy_token_for_char('b')] = texts[toy::toy_token_for_char('a')];
    std::vector<const char*> ptrs;
    for (const auto& t : texts) ptrs.push_back(t.c_str());
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
  }));
  EXPECT_NE(twice.find("tokenizer.ggml.tokens has 'a' twice"), std::string::npos) << twice;

  const std::string empty = error_of(edited_model("no-tokens", [](gguf_context* g) {
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", nullptr, 0);
  }));
  EXPECT_NE(empty.find("tokenizer.ggml.tokens is empty"), std::string::npos) << empty;

  const std::string none = error_of(edited_model("no-vocab", [](gguf_context* g) {
    gguf_set_val_str(g, "tokenizer.ggml.model", "none");
  }));
  EXPECT_NE(none.find("tokenizer.ggml.model is 'none'; ponder needs a model with a vocabulary"), std::string::npos)
      << none;
}

TEST(Model, NonFiniteHyperparametersAreClearErrors) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const std::string eps = error_of(edited_model("eps", [&](gguf_context* g) {
      gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", bad);
    }));
    EXPECT_NE(eps.find("llama.attention.layer_norm_rms_epsilon is"), std::string::npos) << eps;
    EXPECT_NE(eps.find("it must be a finite number"), std::string::npos) << eps;
    const std::string rope = error_of(edited_model("rope-base", [&](gguf_context* g) {
      gguf_set_val_f32(g, "llama.rope.freq_base", bad);
    }));
    EXPECT_NE(rope.find("llama.rope.freq_base is"), std::string::npos) << rope;
  }
  const std::string negative = error_of(edited_model("eps-negative", [](gguf_context* g) {
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", -1e-5f);
  }));
  EXPECT_NE(negative.find("it must be >= 0"), std::string::npos) << negative;
}

TEST(Model, KeysOfTheWrongTypeAreErrorsNotAborts) {
  // The checks read integers; a string, float or array where one is due must not trip
  // the gguf reader's own asserts, and llama.cpp then names the wrong type.
  const std::string text = error_of(edited_model("block-str", [](gguf_context* g) {
    gguf_set_val_str(g, "llama.block_count", "many");
  }));
  EXPECT_NE(text.find("llama.block_count has wrong type"), std::string::npos) << text;
  const std::string real = error_of(edited_model("ctx-float", [](gguf_context* g) {
    gguf_set_val_f32(g, "llama.context_length", 512.0f);
  }));
  EXPECT_NE(real.find("llama.context_length has wrong type"), std::string::npos) << real;
  const std::string list = error_of(edited_model("experts-strs", [](gguf_context* g) {
    const char* values[] = {"a", "b"};
    gguf_set_arr_str(g, "llama.expert_used_count", values, 2);
  }));
  EXPECT_NE(list.find("cannot load model"), std::string::npos) << list;
}

TEST(Model, ValidMetadataVariantsStillLoad) {
  // Grouped-query attention and an explicit rope scaling type pass the checks.
  auto gqa = Model::load(test::random_model_path("tiny-gqa"));
  EXPECT_EQ(gqa->n_vocab(), toy::kVocabSize);
  const std::string path = edited_model("rope-ok", [](gguf_context* g) {
    gguf_set_val_str(g, "llama.rope.scaling.type", "linear");
  });
  EXPECT_NO_THROW(Model::load(path));
}

TEST(Model, MaxTokenBytesBoundsEveryToken) {
  auto model = Model::load(test::random_model_path("tiny"));
  EXPECT_GE(model->max_token_bytes(), 4);
  for (Token t = 0; t < model->n_vocab(); ++t) {
    EXPECT_LE(int64_t(model->token_piece(t).size()), model->max_token_bytes()) << t;
  }
}

TEST(Model, DefaultModelPathHonoursTheModelsDirectory) {
  const char* old = std::getenv("PONDER_MODELS_DIR");
  const std::string saved = old ? old : "";
  setenv("PONDER_MODELS_DIR", "/somewhere/models", 1);
  EXPECT_EQ(default_model_path(), "/somewhere/models/toy-reasoner-l.gguf");
  EXPECT_EQ(default_model_path("toy-prm"), "/somewhere/models/toy-prm.gguf");
  setenv("PONDER_MODELS_DIR", "", 1);
  EXPECT_NE(default_model_path(), "/toy-reasoner-l.gguf") << "an empty variable means unset";
  EXPECT_TRUE(default_model_path().ends_with("/models/toy-reasoner-l.gguf")) << default_model_path();
  if (old) {
    setenv("PONDER_MODELS_DIR", saved.c_str(), 1);
  } else {
    unsetenv("PONDER_MODELS_DIR");
  }
}

}  // namespace
}  // namespace ponder
