#include "tools/ctl/report.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

std::vector<NodeOutcome> Outcomes() {
  return {
      {{"edge-a", "http://10.0.0.5:9091"}, json::value(json::object{{"pinned", 3}})},
      {{"", "http://10.0.0.6:9091"},
       NodeError{NodeFailure::kUnreachable, 0, "", "could not connect to 10.0.0.6:9091"}},
      {{"edge-c", "http://10.0.0.7:9091"},
       NodeError{NodeFailure::kErrorReply, 404, "model_not_found", "no model acme/x"}},
      {{"edge-d", "http://10.0.0.8:9091"},
       NodeError{NodeFailure::kTokenRefused, 401, "unauthorized", "the node refused the token"}},
  };
}

TEST(CtlReportTest, JsonReportHasOneEntryPerNodeInOrder) {
  const json::object document =
      JsonReport("pin", Outcomes(), json::object{{"target", "acme/base@main"}});
  EXPECT_EQ(document.at("command"), "pin");
  EXPECT_EQ(document.at("target"), "acme/base@main");
  const json::array& nodes = document.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_EQ(json::serialize(nodes[0]),
            R"({"node":"edge-a","url":"http://10.0.0.5:9091","ok":true,"reply":{"pinned":3}})");
  EXPECT_EQ(json::serialize(nodes[1]),
            R"({"node":"http://10.0.0.6:9091","url":"http://10.0.0.6:9091","ok":false,)"
            R"("error":{"kind":"unreachable","http_status":0,"code":"",)"
            R"("message":"could not connect to 10.0.0.6:9091"}})");
  EXPECT_EQ(nodes[2].at("error").at("kind"), "error reply");
  EXPECT_EQ(nodes[2].at("error").at("http_status"), 404);
  EXPECT_EQ(nodes[3].at("error").at("kind"), "token refused");
}

TEST(CtlReportTest, FailureLinesNameEachFailedNodeOnALineOfItsOwn) {
  EXPECT_EQ(FailureLines(Outcomes()),
            "http://10.0.0.6:9091: unreachable: could not connect to 10.0.0.6:9091\n"
            "edge-c (http://10.0.0.7:9091): error reply 404 (model_not_found): no model acme/x\n"
            "edge-d (http://10.0.0.8:9091): token refused: the node refused the token\n");
  EXPECT_EQ(FailureLines({}), "");
}

}  // namespace
}  // namespace mei::tools
