// A synthetic vocabulary in the style of Llama's SentencePiece BPE tokenizer, and its
// tokenizer.json as Hugging Face tokenizers saves it.
//
// Ids 0-2 are <unk>, <s>, </s>; 3-258 are the byte-fallback tokens <0x00>..<0xFF>; then come the
// merged tokens in merge order, each the concatenation of two earlier pieces ("▁" marks a word
// start, as in SentencePiece); the single characters come last.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mei::tools {

struct Vocab {
  std::vector<std::string> tokens;        // by id, UTF-8, never containing a space
  std::vector<float> scores;              // by id: minus the merge rank, 0 for special and bytes
  std::vector<std::int32_t> token_types;  // by id, llama.cpp's: 1 normal, 2 unknown, 3 control,
                                          // 6 byte
  std::vector<std::string> merges;        // "left right", in rank order
};

inline constexpr std::uint64_t kMinVocabSize = 1024;

// A vocabulary of exactly `size` distinct tokens drawn from `seed`. REQUIRES: size >=
// kMinVocabSize. Thread-safe.
[[nodiscard]] Vocab MakeVocab(std::uint64_t size, std::uint64_t seed);

// tokenizer.json for `vocab`, pretty-printed as tokenizers does (a little over 1 MiB for 32000
// tokens). Thread-safe.
[[nodiscard]] std::string TokenizerJson(const Vocab& vocab);

}  // namespace mei::tools
