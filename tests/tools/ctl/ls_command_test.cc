#include "tools/ctl/ls_command.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

TEST(CtlLsCommandTest, RendersEachNodesModels) {
  // GET /admin/v1/models of a real node, and of one that holds nothing.
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-0", "http://127.0.0.1:46387"},
       json::parse(R"({"models":[{"blocks":143,"held_blocks":143,"bytes":17779387,)"
                   R"("held_bytes":17779387,"complete":1E0,"model":"acme/base","revision":"main",)"
                   R"("commit":"f5da1574f14a3d25f009d4e170f6a452846a57aee5efbf8d0a82f29d93079961",)"
                   R"("planned":false}]})")},
      {{"", "http://127.0.0.1:33573"}, json::parse(R"({"models":[]})")},
  };
  EXPECT_EQ(RenderModels(outcomes),
            "bs-0 (http://127.0.0.1:46387): 1 model\n"
            "  MODEL      REVISION  COMMIT            SIZE      HELD  COMPLETE  PLANNED\n"
            "  acme/base  main      f5da1574f14a  17.0 MiB  17.0 MiB    100.0%  no\n"
            "\n"
            "http://127.0.0.1:33573: 0 models\n");
}

TEST(CtlLsCommandTest, RendersEachNodesBlocksWithFullIds) {
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-0", "http://127.0.0.1:46387"},
       json::parse(
           R"({"blocks":[{"id":"03a2963de0400c237742863df5b366f732e87e77404c4198b19ffa06f165eeff",)"
           R"("raw_size":256,"stored_size":119,"codec":"bg2+zstd","last_access_ms":1795519870480,)"
           R"("hits":0,"pinned":true},)"
           R"({"id":"0778ae4c457ed4fd514aeed68ca2b41df1d69e29663f223b1f39c4000ab88568",)"
           R"("raw_size":32768,"stored_size":25292,"codec":"bg2+zstd","last_access_ms":0,)"
           R"("hits":12,"pinned":false}]})")},
      {{"bs-1", "http://127.0.0.1:33573"}, NodeError{NodeFailure::kUnreachable, 0, "", "down"}},
  };
  EXPECT_EQ(RenderBlocks(outcomes),
            "bs-0 (http://127.0.0.1:46387): 2 blocks\n"
            "  BLOCK                                                                  RAW    "
            "STORED  CODEC     HITS  PINNED\n"
            "  03a2963de0400c237742863df5b366f732e87e77404c4198b19ffa06f165eeff     256 B     "
            "119 B  bg2+zstd     0  yes\n"
            "  0778ae4c457ed4fd514aeed68ca2b41df1d69e29663f223b1f39c4000ab88568  32.0 KiB  "
            "24.7 KiB  bg2+zstd    12  no\n");
}

}  // namespace
}  // namespace mei::tools
