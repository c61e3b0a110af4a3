#include "tools/ctl/prefetch_command.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mei::tools {
namespace {

namespace json = boost::json;

// The "prefetch" part of a GET /admin/v1/status reply: finished jobs first, then pending ones.
const json::object kStatus = json::parse(R"({
  "node_id": "edge-a",
  "prefetch": [
    {"model":"acme/base","revision":"main","state":"done","commit":"c1","blocks":5,
     "blocks_done":5,"bytes_fetched":16777216,"error":""},
    {"model":"acme/chat","revision":"main","state":"failed","commit":"","blocks":0,
     "blocks_done":0,"bytes_fetched":0,"error":"parent answered 404"},
    {"model":"acme/base","revision":"main","state":"running","commit":"c1","blocks":5,
     "blocks_done":2,"bytes_fetched":4194304,"error":""},
    {"model":"acme/base","revision":"v2","state":"queued","commit":"","blocks":0,
     "blocks_done":0,"bytes_fetched":0,"error":""}
  ],
  "models": [
    {"model":"acme/base","revision":"main","commit":"c1","blocks":5,"held_blocks":5,
     "bytes":16777216,"held_bytes":16777216,"complete":1.0,"planned":false}
  ]})")
                                 .as_object();

TEST(CtlPrefetchCommandTest, FindsTheLastJobOfTheRevision) {
  auto job = FindPrefetchJob(kStatus, {"acme/base", "main"});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->at("state"), "running");
  EXPECT_FALSE(IsFinished(*job));

  job = FindPrefetchJob(kStatus, {"acme/chat", "main"});
  ASSERT_TRUE(job);
  EXPECT_TRUE(IsFinished(*job));
  EXPECT_FALSE(FindPrefetchJob(kStatus, {"acme/other", "main"}));
  EXPECT_FALSE(FindPrefetchJob(json::object{}, {"acme/base", "main"}));
}

TEST(CtlPrefetchCommandTest, FinishedStatesAreDoneFailedAndCancelled) {
  const std::pair<const char*, bool> cases[] = {{"queued", false},   {"running", false},
                                                {"done", true},      {"failed", true},
                                                {"cancelled", true}, {"", false}};
  for (const auto& [state, finished] : cases) {
    EXPECT_EQ(IsFinished(json::object{{"state", state}}), finished) << state;
  }
}

TEST(CtlPrefetchCommandTest, RendersQueuedAndWaitedJobs) {
  const std::vector<NodeOutcome> queued = {
      {{"edge-a", "http://h:1"},
       json::value(json::object{{"queued", true}, {"model", "acme/base"}, {"revision", "v2"}})},
      {{"edge-b", "http://h:2"}, NodeError{NodeFailure::kUnreachable, 0, "", "down"}},
  };
  EXPECT_EQ(RenderPrefetch(queued, false), "edge-a: queued acme/base@v2\n");

  const std::vector<NodeOutcome> waited = {
      {{"edge-a", "http://h:1"},
       json::value(json::object{{"job", kStatus.at("prefetch").at(0)},
                                {"model", kStatus.at("models").at(0)}})},
  };
  EXPECT_EQ(RenderPrefetch(waited, true),
            "NODE    STATE  BLOCKS   FETCHED  COMPLETE\n"
            "edge-a  done      5/5  16.0 MiB    100.0%\n");
}

}  // namespace
}  // namespace mei::tools
