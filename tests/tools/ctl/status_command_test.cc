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

// A node whose peer's circuit is open (it stopped answering), and one whose circuits never opened.
constexpr std::string_view kPeerCircuitOpen = R"({"node_id":"bs-2","capacity_bytes":1073741824,
  "used_bytes":0,"blocks":0,"pinned_blocks":0,"requests":{"hit":0,"miss":8,"partial":0},
  "hit_ratio":0E0,"models":[],"prefetch":[],"plan":null,
  "upstreams":[{"name":"parent","url":"http://127.0.0.1:33021","reachable":true,
    "circuit":"closed","open_until":"","opens":0,"skips":0,"consecutive_failures":0,
    "last_error":""},
    {"name":"peer:bs-0","url":"http://127.0.0.1:39589","reachable":false,"circuit":"open",
    "open_until":"2026-11-24T12:00:03.000Z","opens":1,"skips":5,"consecutive_failures":3,
    "last_error":"peer:bs-0 timed out"}]})";
constexpr std::string_view kCircuitsClosed = R"({"node_id":"bs-3","capacity_bytes":1073741824,
  "models":[],"upstreams":[{"name":"parent","url":"http://127.0.0.1:33021","reachable":true,
    "circuit":"closed","open_until":"","opens":0,"skips":0,"consecutive_failures":1,
    "last_error":"parent answered 500"}]})";

TEST(CtlStatusCommandTest, UpstreamCircuitsShowInTheSummaryAndInFullWhenOneHasOpened) {
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-2", "http://h:1"}, json::parse(kPeerCircuitOpen)},
      {{"bs-3", "http://h:2"}, json::parse(kCircuitsClosed)},
  };
  EXPECT_EQ(RenderStatus(outcomes),
            "NODE  CAPACITY        USED  BLOCKS  PINNED  HIT RATIO  REQUESTS  PLAN  UPSTREAMS\n"
            "bs-2  1.00 GiB  0 B (0.0%)       0       0       0.0%         8  -     "
            "parent: closed, peer:bs-0: open\n"
            "bs-3  1.00 GiB  0 B (0.0%)       0       0       0.0%         0  -     "
            "parent: closed\n"
            "\n"
            "bs-2 models: none\n"
            "bs-2 upstreams:\n"
            "  UPSTREAM   URL                     CIRCUIT  FAILURES IN A ROW  OPENS  SKIPS  "
            "OPEN UNTIL                LAST ERROR\n"
            "  parent     http://127.0.0.1:33021  closed                   0      0      0  "
            "-                         -\n"
            "  peer:bs-0  http://127.0.0.1:39589  open                     3      1      5  "
            "2026-11-24T12:00:03.000Z  peer:bs-0 timed out\n"
            "\n"
            "bs-3 models: none\n");
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
