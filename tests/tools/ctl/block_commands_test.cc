#include "tools/ctl/block_commands.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

TEST(CtlBlockCommandsTest, RendersEachActionsCounts) {
  struct Case {
    BlockAction action;
    const char* reply;
    const char* text;
  };
  const Case cases[] = {
      {BlockAction::kPin, R"({"pinned":143})", "NODE  PINNED\nbs-0     143\n"},
      {BlockAction::kUnpin, R"({"unpinned":1})", "NODE  UNPINNED\nbs-0         1\n"},
      {BlockAction::kPurge, R"({"purged":142,"kept_pinned":1,"kept_shared":0})",
       "NODE  PURGED  KEPT PINNED  KEPT SHARED\nbs-0     142            1            0\n"},
  };
  for (const Case& c : cases) {
    const std::vector<NodeOutcome> outcomes = {
        {{"bs-0", "http://h:1"}, json::parse(c.reply)},
        {{"bs-1", "http://h:2"}, NodeError{NodeFailure::kErrorReply, 404, "", "no model"}},
    };
    EXPECT_EQ(RenderBlockAction(c.action, outcomes), c.text) << NameOf(c.action);
  }
}

TEST(CtlBlockCommandsTest, NothingWhenNoNodeAnswered) {
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-1", "http://h:2"}, NodeError{NodeFailure::kUnreachable, 0, "", "down"}}};
  EXPECT_EQ(RenderBlockAction(BlockAction::kPin, outcomes), "");
}

}  // namespace
}  // namespace mei::tools
