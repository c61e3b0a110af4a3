#include "tools/ctl/status_command.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

// GET /admin/v1/status of a real mei-cache-node after `meictl prefetch acme/base --wait`.
constexpr std::string_view kPrefetched = R"({"node_id":"bs-0","capacity_bytes":1073741824,
  "used_bytes":12305832,"blocks":143,"pinned_blocks":0,"evictions":0,"evicted_bytes":0,
  "requests":{"hit":0,"miss":0,"partial":0},"hit_ratio":0E0,"fills_in_flight":0,
  "models":[{"blocks":143,"held_blocks":143,"bytes":17779387,"held_bytes":17779387,"complete":1E0,
    "model":"acme/base","revision":"main",
    "commit":"f5da1574f14a3d25f009d4e170f6a452846a57aee5efbf8d0a82f29d93079961","planned":false}],
  "upstreams":[{"name":"parent","url":"http://127.0.0.1:33021","reachable":true,"successes":144,
    "failures":0,"consecutive_failures":0,"last_error":"","last_success":"2026-11-24T11:31:10.480Z",
    "last_failure":""}],
  "prefetch":[{"model":"acme/base","revision":"main","state":"done",
    "commit":"f5da1574f14a3d25f009d4e170f6a452846a57aee5efbf8d0a82f29d93079961","blocks":143,
    "blocks_done":143,"bytes_fetched":17779387,"error":""}],
  "plan":null})";

// Another real node's status, with a plan and a peer that is down, holding part of a model.
constexpr std::string_view kPlanned = R"({"node_id":"bs-1","capacity_bytes":1073741824,
  "used_bytes":536870912,"blocks":7,"pinned_blocks":7,"evictions":0,"evicted_bytes":0,
  "requests":{"hit":3,"miss":1,"partial":0},"hit_ratio":7.5E-1,"fills_in_flight":0,
  "models":[{"blocks":143,"held_blocks":7,"bytes":17779387,"held_bytes":4445000,"complete":2.5E-1,
    "model":"acme/base","revision":"main",
    "commit":"f5da1574f14a3d25f009d4e170f6a452846a57aee5efbf8d0a82f29d93079961","planned":true}],
  "upstreams":[{"name":"parent","url":"http://127.0.0.1:33021","reachable":true},
    {"name":"peer:bs-0","url":"http://127.0.0.1:39589","reachable":false}],
  "prefetch":[],
  "plan":{"algorithm":"greedy","created":"2026-11-24T12:00:00Z","models":1,"blocks":7}})";

std::vector<NodeOutcome> Outcomes() {
  return {
      {{"bs-0", "http://127.0.0.1:46387"}, json::parse(kPrefetched)},
      {{"bs-2", "http://127.0.0.1:1"},
       NodeError{NodeFailure::kUnreachable, 0, "", "could not connect"}},
      {{"", "http://127.0.0.1:33573"}, json::parse(kPlanned)},
  };
}

TEST(CtlStatusCommandTest, RendersASummaryRowPerNodeThenItsModelsAndPrefetchJobs) {
  EXPECT_EQ(RenderStatus(Outcomes()),
            "NODE  CAPACITY             USED  BLOCKS  PINNED  HIT RATIO  REQUESTS  PLAN           "
            "  UPSTREAMS\n"
            "bs-0  1.00 GiB  11.7 MiB (1.1%)     143       0       0.0%         0  -              "
            "  parent: yes\n"
            "bs-1  1.00 GiB  512 MiB (50.0%)       7       7      75.0%         4  greedy, 1 model"
            "  parent: yes, peer:bs-0: no\n"
            "\n"
            "bs-0 models:\n"
            "  MODEL      REVISION  COMMIT            SIZE      HELD  COMPLETE  PLANNED\n"
            "  acme/base  main      f5da1574f14a  17.0 MiB  17.0 MiB    100.0%  no\n"
            "bs-0 prefetch:\n"
            "  MODEL      REVISION  STATE   BLOCKS   FETCHED  ERROR\n"
            "  acme/base  main      done   143/143  17.0 MiB  -\n"
            "\n"
            "bs-1 models:\n"
            "  MODEL      REVISION  COMMIT            SIZE      HELD  COMPLETE  PLANNED\n"
            "  acme/base  main      f5da1574f14a  17.0 MiB  4.24 MiB     25.0%  yes\n");
}

TEST(CtlStatusCommandTest, ANodeOfAnotherVersionShowsNeutralValues) {
  const std::vector<NodeOutcome> outcomes = {
      {{"edge-a", "http://h:1"}, json::parse(R"({"capacity_bytes":"lots","models":{}})")}};
  EXPECT_EQ(RenderStatus(outcomes),
            "NODE    CAPACITY  USED  BLOCKS  PINNED  HIT RATIO  REQUESTS  PLAN  UPSTREAMS\n"
            "edge-a       0 B   0 B       0       0       0.0%         0  -     -\n"
            "\n"
            "edge-a models: none\n");
}

TEST(CtlStatusCommandTest, NothingWhenNoNodeAnswered) {
  const std::vector<NodeOutcome> outcomes = {
      {{"edge-a", "http://h:1"}, NodeError{NodeFailure::kUnreachable, 0, "", "down"}}};
  EXPECT_EQ(RenderStatus(outcomes), "");
}

}  // namespace
}  // namespace mei::tools
