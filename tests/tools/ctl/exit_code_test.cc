#include "tools/ctl/exit_code.h"

#include <gtest/gtest.h>

namespace mei::tools {
namespace {

NodeOutcome Ok() { return {{"edge-a", "http://h:1"}, boost::json::value(boost::json::object{})}; }

NodeOutcome Failed(NodeFailure failure) {
  return {{"edge-b", "http://h:2"}, NodeError{failure, 0, "", "it failed"}};
}

TEST(CtlExitCodeTest, MapsNodeOutcomesToTheDocumentedCodes) {
  struct Case {
    const char* name;
    std::vector<NodeOutcome> outcomes;
    int code;
  };
  const std::vector<Case> cases = {
      {"no nodes", {}, 0},
      {"all answered", {Ok(), Ok()}, 0},
      {"one unreachable", {Ok(), Failed(NodeFailure::kUnreachable)}, 1},
      {"an error reply", {Failed(NodeFailure::kErrorReply), Ok()}, 1},
      {"a bad reply", {Failed(NodeFailure::kBadReply)}, 1},
      {"a failed job", {Ok(), Failed(NodeFailure::kFailed)}, 1},
      {"token refused", {Ok(), Failed(NodeFailure::kTokenRefused)}, 3},
      {"token refused wins over unreachable",
       {Failed(NodeFailure::kUnreachable), Failed(NodeFailure::kTokenRefused)},
       3},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(static_cast<int>(ExitCodeOf(c.outcomes)), c.code) << c.name;
  }
  EXPECT_EQ(static_cast<int>(ExitCode::kUsage), 2);
}

TEST(CtlExitCodeTest, HelpListsEveryCode) {
  const std::string_view help = ExitCodeHelp();
  for (const char* line : {"  0  ", "  1  ", "  2  ", "  3  "}) {
    EXPECT_NE(help.find(line), std::string_view::npos) << line;
  }
}

}  // namespace
}  // namespace mei::tools
