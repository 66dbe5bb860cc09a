#pragma once
// The one vocabulary shared by every toy model (random test models, toy reasoners, the
// toy PRM), so that any of them can draft for, cascade to or verify another.
//
//   id 0        <unk>        unknown
//   id 1        <s>          control (BOS, added to every prompt)
//   id 2        </s>         control (EOS)
//   id 3..258   <0x00>..<0xFF> byte fallback (newline is <0x0A>)
//   id 259..353 ' '..'~'     printable ASCII, one token each (space spelled "▁")
//
// It is a SentencePiece-style ("llama") vocabulary with no merges, so llama.cpp splits
// text into characters and falls back to bytes for anything not printable ASCII.

#include <cstdint>
#include <string>
#include <vector>

namespace ponder::toy {

struct VocabEntry {
  std::string text;
  float score;
  int32_t type;  // llama_token_type: 1 normal, 2 unknown, 3 control, 6 byte
};

inline constexpr int32_t kUnkToken = 0;
inline constexpr int32_t kBosToken = 1;
inline constexpr int32_t kEosToken = 2;
inline constexpr int32_t kFirstByteToken = 3;
inline constexpr int32_t kFirstCharToken = kFirstByteToken + 256;
inline constexpr int32_t kVocabSize = kFirstCharToken + 95;

std::vector<VocabEntry> toy_vocab();

// The token llama.cpp produces for one character of text (printable ASCII or a byte).
int32_t toy_token_for_char(unsigned char c);

// Tokenizes text exactly as llama.cpp does with this vocabulary (no BOS added).
std::vector<int32_t> toy_tokenize(const std::string& text);

// Inverse of toy_tokenize; control tokens are dropped.
std::string toy_detokenize(const std::vector<int32_t>& tokens);

}  // namespace ponder::toy
