#include "tools/synth/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string_view>
#include <unordered_set>

#include "tools/synth/weights.h"

namespace mei::tools {
namespace {

constexpr std::string_view kWordStart = "\u2581";  // "▁", SentencePiece's space
constexpr std::size_t kMaxTokenBytes = 16;
constexpr std::size_t kFirstMergedId = 3 + 256;

// Single characters with weights after their frequency in English text ("▁" starts a word).
struct Alphabet {
  std::vector<std::string> pieces;
  std::vector<double> cumulative_weights;

  void Add(std::string piece, double weight) {
    pieces.push_back(std::move(piece));
    cumulative_weights.push_back(weight +
                                 (cumulative_weights.empty() ? 0.0 : cumulative_weights.back()));
  }

  const std::string& Draw(SplitMix64& random) const {
    const double target = random.NextUnit() * cumulative_weights.back();
    const auto it = std::upper_bound(cumulative_weights.begin(), cumulative_weights.end(), target);
    return pieces[std::min<std::size_t>(it - cumulative_weights.begin(), pieces.size() - 1)];
  }
};

Alphabet MakeAlphabet() {
  constexpr std::string_view kLetters = "etaoinshrdlcumwfgypbvkjxqz";
  constexpr double kLetterPercent[] = {12.7, 9.1, 8.2, 7.5, 7.0,  6.7,  6.3, 6.1, 6.0,
                                       4.3,  4.0, 2.8, 2.8, 2.4,  2.4,  2.2, 2.0, 2.0,
                                       1.9,  1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07};
  Alphabet alphabet;
  alphabet.Add(std::string(kWordStart), 20.0);
  for (std::size_t i = 0; i < kLetters.size(); ++i) {
    alphabet.Add(std::string(1, kLetters[i]), kLetterPercent[i]);
  }
  for (std::size_t i = 0; i < kLetters.size(); ++i) {
    alphabet.Add(std::string(1, static_cast<char>(kLetters[i] - 'a' + 'A')),
                 kLetterPercent[i] / 10.0);
  }
  for (const char c : std::string_view("0123456789")) alphabet.Add(std::string(1, c), 0.3);
  for (const char c : std::string_view(".,'-\"?!:;()/[]{}<>@#$%&*+=_~`^|\\")) {
    alphabet.Add(std::string(1, c), 0.1);
  }
  return alphabet;
}

// An index in [0, count) that favours small indices, as frequent tokens are merged first.
std::size_t FavourFront(SplitMix64& random, std::size_t count) {
  const double u = random.NextUnit();
  return static_cast<std::size_t>(static_cast<double>(count) * u * u);
}

void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

constexpr std::string_view kAddedTokenTemplate = R"(    {{
      "id": {},
      "content": "{}",
      "single_word": false,
      "lstrip": false,
      "rstrip": false,
      "normalized": false,
      "special": true
    }})";

constexpr std::string_view kPipeline = R"(  "normalizer": {
    "type": "Sequence",
    "normalizers": [
      {
        "type": "Prepend",
        "prepend": "▁"
      },
      {
        "type": "Replace",
        "pattern": {
          "String": " "
        },
        "content": "▁"
      }
    ]
  },
  "pre_tokenizer": null,
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [
      {
        "SpecialToken": {
          "id": "<s>",
          "type_id": 0
        }
      },
      {
        "Sequence": {
          "id": "A",
          "type_id": 0
        }
      }
    ],
    "pair": [
      {
        "SpecialToken": {
          "id": "<s>",
          "type_id": 0
        }
      },
      {
        "Sequence": {
          "id": "A",
          "type_id": 0
        }
      },
      {
        "SpecialToken": {
          "id": "<s>",
          "type_id": 1
        }
      },
      {
        "Sequence": {
          "id": "B",
          "type_id": 1
        }
      }
    ],
    "special_tokens": {
      "<s>": {
        "id": "<s>",
        "ids": [
          1
        ],
        "tokens": [
          "<s>"
        ]
      }
    }
  },
  "decoder": {
    "type": "Sequence",
    "decoders": [
      {
        "type": "Replace",
        "pattern": {
          "String": "▁"
        },
        "content": " "
      },
      {
        "type": "ByteFallback"
      },
      {
        "type": "Fuse"
      },
      {
        "type": "Strip",
        "content": " ",
        "start": 1,
        "stop": 0
      }
    ]
  },
  "model": {
    "type": "BPE",
    "dropout": null,
    "unk_token": "<unk>",
    "continuing_subword_prefix": null,
    "end_of_word_suffix": null,
    "fuse_unk": true,
    "byte_fallback": true,
)";

}  // namespace

Vocab MakeVocab(std::uint64_t size, std::uint64_t seed) {
  assert(size >= kMinVocabSize);
  const Alphabet alphabet = MakeAlphabet();
  const std::size_t merged_count = size - kFirstMergedId - alphabet.pieces.size();

  Vocab vocab;
  vocab.tokens = {"<unk>", "<s>", "</s>"};
  vocab.token_types = {2, 3, 3};
  for (int byte = 0; byte < 256; ++byte) {
    vocab.tokens.push_back(fmt::format("<0x{:02X}>", byte));
    vocab.token_types.push_back(6);
  }
  vocab.scores.assign(kFirstMergedId, 0.0f);
  std::unordered_set<std::string> seen(vocab.tokens.begin(), vocab.tokens.end());
  seen.insert(alphabet.pieces.begin(), alphabet.pieces.end());

  // A merge joins a left piece with a right piece that does not start a word; half the time
  // each side is a single character, so tokens grow the way BPE grows them: slowly.
  SplitMix64 random(seed);
  const auto pick = [&](bool allow_word_start) -> const std::string& {
    for (;;) {
      const bool from_alphabet =
          merged_count == 0 || vocab.tokens.size() == kFirstMergedId || (random.Next() & 1) == 0;
      const std::string& piece =
          from_alphabet ? alphabet.Draw(random)
                        : vocab.tokens[kFirstMergedId +
                                       FavourFront(random, vocab.tokens.size() - kFirstMergedId)];
      if (allow_word_start || !piece.starts_with(kWordStart)) return piece;
    }
  };
  while (vocab.tokens.size() < kFirstMergedId + merged_count) {
    const std::string& left = pick(true);
    const std::string& right = pick(false);
    std::string token = left + right;
    if (token.size() > kMaxTokenBytes || !seen.insert(token).second) continue;
    vocab.merges.push_back(left + " " + right);
    vocab.scores.push_back(-static_cast<float>(vocab.merges.size() - 1));
    vocab.token_types.push_back(1);
    vocab.tokens.push_back(std::move(token));
  }
  for (const std::string& piece : alphabet.pieces) {
    vocab.scores.push_back(-static_cast<float>(vocab.tokens.size() - kFirstMergedId));
    vocab.token_types.push_back(1);
    vocab.tokens.push_back(piece);
  }
  return vocab;
}

std::string TokenizerJson(const Vocab& vocab) {
  std::string json;
  json.reserve(vocab.tokens.size() * 48);
  json += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n";
  json += "  \"added_tokens\": [\n";
  for (std::size_t id = 0; id < 3; ++id) {
    json += fmt::format(kAddedTokenTemplate, id, vocab.tokens[id]);
    json += id < 2 ? ",\n" : "\n";
  }
  json += "  ],\n";
  json += kPipeline;
  json += "    \"vocab\": {\n";
  for (std::size_t id = 0; id < vocab.tokens.size(); ++id) {
    json += "      ";
    AppendJsonString(json, vocab.tokens[id]);
    json += fmt::format(": {}{}\n", id, id + 1 < vocab.tokens.size() ? "," : "");
  }
  json += "    },\n    \"merges\": [\n";
  for (std::size_t i = 0; i < vocab.merges.size(); ++i) {
    json += "      ";
    AppendJsonString(json, vocab.merges[i]);
    json += i + 1 < vocab.merges.size() ? ",\n" : "\n";
  }
  json += "    ]\n  }\n}";
  return json;
}

}  // namespace mei::tools
