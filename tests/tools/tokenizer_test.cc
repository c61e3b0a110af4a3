#include "tools/synth/tokenizer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

namespace mei::tools {
namespace {

TEST(TokenizerTest, VocabHasDistinctSpacelessTokensBuiltByItsMerges) {
  const Vocab vocab = MakeVocab(4000, 5);
  ASSERT_EQ(vocab.tokens.size(), 4000u);
  EXPECT_EQ(vocab.scores.size(), 4000u);
  EXPECT_EQ(vocab.token_types.size(), 4000u);
  EXPECT_EQ(std::set<std::string>(vocab.tokens.begin(), vocab.tokens.end()).size(), 4000u);
  EXPECT_EQ(vocab.tokens[0], "<unk>");
  EXPECT_EQ(vocab.tokens[1], "<s>");
  EXPECT_EQ(vocab.tokens[2], "</s>");
  EXPECT_EQ(vocab.tokens[3], "<0x00>");
  EXPECT_EQ(vocab.tokens[258], "<0xFF>");
  EXPECT_EQ(vocab.token_types[258], 6);
  for (std::size_t i = 0; i < vocab.merges.size(); ++i) {
    const std::string& merge = vocab.merges[i];
    const std::size_t space = merge.find(' ');
    ASSERT_NE(space, std::string::npos);
    EXPECT_EQ(merge.substr(0, space) + merge.substr(space + 1), vocab.tokens[259 + i]);
  }
  for (const std::string& token : vocab.tokens) {
    EXPECT_EQ(token.find(' '), std::string::npos) << token;
  }
}

TEST(TokenizerTest, SameSeedSameVocabOtherSeedOtherVocab) {
  EXPECT_EQ(MakeVocab(2000, 1).tokens, MakeVocab(2000, 1).tokens);
  EXPECT_NE(MakeVocab(2000, 1).tokens, MakeVocab(2000, 2).tokens);
}

TEST(TokenizerTest, DefaultVocabMakesATokenizerJsonOverOneMiB) {
  const Vocab vocab = MakeVocab(32000, 1);
  const std::string json = TokenizerJson(vocab);
  EXPECT_GT(json.size(), 1u << 20);
  const boost::json::object tokenizer = boost::json::parse(json).as_object();
  const boost::json::object& model = tokenizer.at("model").as_object();
  EXPECT_EQ(model.at("type").as_string(), "BPE");
  const boost::json::object& ids = model.at("vocab").as_object();
  ASSERT_EQ(ids.size(), 32000u);
  for (std::size_t id = 0; id < vocab.tokens.size(); id += 997) {
    EXPECT_EQ(ids.at(vocab.tokens[id]).as_int64(), static_cast<std::int64_t>(id));
  }
  EXPECT_EQ(model.at("merges").as_array().size(), vocab.merges.size());
  EXPECT_EQ(tokenizer.at("added_tokens").as_array().size(), 3u);
}

}  // namespace
}  // namespace mei::tools
