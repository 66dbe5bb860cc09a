#include "toy/vocab.h"

#include <cstdio>

namespace ponder::toy {

namespace {
constexpr int32_t kTypeNormal = 1;
constexpr int32_t kTypeUnknown = 2;
constexpr int32_t kTypeControl = 3;
constexpr int32_t kTypeByte = 6;
}  // namespace

std::vector<VocabEntry> toy_vocab() {
  std::vector<VocabEntry> vocab;
  vocab.reserve(kVocabSize);
  vocab.push_back({"<unk>", 0.0f, kTypeUnknown});
  vocab.push_back({"<s>", 0.0f, kTypeControl});
  vocab.push_back({"</s>", 0.0f, kTypeControl});
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab.push_back({name, 0.0f, kTypeByte});
  }
  for (int c = 0x20; c <= 0x7E; ++c) {
    vocab.push_back({c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, char(c)), 0.0f,
                     kTypeNormal});
  }
  return vocab;
}

int32_t toy_token_for_char(unsigned char c) {
  if (c >= 0x20 && c <= 0x7E) return kFirstCharToken + (c - 0x20);
  return kFirstByteToken + c;
}

std::vector<int32_t> toy_tokenize(const std::string& text) {
  std::vector<int32_t> tokens;
  tokens.reserve(text.size());
  for (unsigned char c : text) tokens.push_back(toy_token_for_char(c));
  return tokens;
}

std::string toy_detokenize(const std::vector<int32_t>& tokens) {
  std::string text;
  for (int32_t t : tokens) {
    if (t >= kFirstCharToken && t < kVocabSize) {
      text.push_back(char(0x20 + t - kFirstCharToken));
    } else if (t >= kFirstByteToken && t < kFirstCharToken) {
      text.push_back(char(t - kFirstByteToken));
    }
  }
  return text;
}

}  // namespace ponder::toy
