#include "tools/ctl/block_selection.h"

#include <gtest/gtest.h>

namespace mei::tools {
namespace {

const std::string kId1(64, 'a');
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(CtlBlockSelectionTest, ParsesModelAndRevision) {
  struct Case {
    const char* text;
    const char* model;
    const char* revision;
  };
  const Case cases[] = {
      {"acme/base", "acme/base", "main"},
      {"acme/base@v2", "acme/base", "v2"},
      {"acme/base@refs/pr/1", "acme/base", "refs/pr/1"},
      {"Org-1/tiny.llama_7b@0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "Org-1/tiny.llama_7b", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
  };
  for (const Case& c : cases) {
    auto selection = ParseBlockSelection(c.text, {});
    ASSERT_TRUE(selection) << c.text << ": " << selection.error().message;
    ASSERT_TRUE(selection->model) << c.text;
    EXPECT_EQ(selection->model->model, c.model);
    EXPECT_EQ(selection->model->revision, c.revision);
    EXPECT_TRUE(selection->blocks.empty());
  }
}

TEST(CtlBlockSelectionTest, RejectsBadModelsAndRevisions) {
  struct Case {
    const char* text;
    Errc code;
  };
  const Case cases[] = {
      {"acme", Errc::kBadModelName},          {"acme/", Errc::kBadModelName},
      {"/base", Errc::kBadModelName},         {"acme/base/x", Errc::kBadModelName},
      {"acme/base@", Errc::kBadRequest},      {"acme/base@../x", Errc::kBadRequest},
      {"acme/base@/main", Errc::kBadRequest}, {"@main", Errc::kBadModelName},
  };
  for (const Case& c : cases) {
    auto selection = ParseBlockSelection(c.text, {});
    ASSERT_FALSE(selection) << c.text;
    EXPECT_EQ(selection.error().code, c.code) << c.text << ": " << selection.error().message;
  }
}

TEST(CtlBlockSelectionTest, ParsesBlockIds) {
  auto selection = ParseBlockSelection("", {kId1, kId2});
  ASSERT_TRUE(selection) << selection.error().message;
  EXPECT_FALSE(selection->model);
  ASSERT_EQ(selection->blocks.size(), 2u);
  EXPECT_EQ(selection->blocks[0].Hex(), kId1);
  EXPECT_EQ(selection->blocks[1].Hex(), kId2);
  EXPECT_EQ(Describe(*selection), "2 blocks");
}

TEST(CtlBlockSelectionTest, NeedsExactlyOneOfModelAndBlocks) {
  auto neither = ParseBlockSelection("", {});
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().code, Errc::kBadRequest);
  auto both = ParseBlockSelection("acme/base", {kId1});
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code, Errc::kBadRequest);
  for (const std::string& bad : {std::string(63, 'a'), std::string(64, 'A'), std::string("xyz")}) {
    auto selection = ParseBlockSelection("", {kId1, bad});
    ASSERT_FALSE(selection) << bad;
    EXPECT_EQ(selection.error().code, Errc::kBadBlockId);
    EXPECT_NE(selection.error().message.find("--block"), std::string::npos);
  }
}

TEST(CtlBlockSelectionTest, BodiesAreWhatTheAdminApiReads) {
  EXPECT_EQ(SelectionBody(*ParseBlockSelection("acme/base@v2", {})),
            R"({"model":"acme/base","revision":"v2"})");
  EXPECT_EQ(SelectionBody(*ParseBlockSelection("", {kId1, kId2})),
            R"({"blocks":[")" + kId1 + R"(",")" + kId2 + R"("]})");
  EXPECT_EQ(Describe(*ParseBlockSelection("acme/base", {})), "acme/base@main");
}

}  // namespace
}  // namespace mei::tools
