#include "placement/push.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "common/http/server.h"
#include "common/plan.h"

namespace mei::placement {
namespace {

constexpr std::string_view kToken = "a-token-of-some-length";

Plan TwoNodePlan() {
  Plan plan;
  plan.created = "2026-11-24T12:00:00Z";
  plan.algorithm = "greedy";
  plan.nodes["bs-0"] = PlanNode{.url = "", .capacity = 1 << 20, .models = {}, .blocks = {}};
  plan.nodes["bs-1"] = PlanNode{.url = "", .capacity = 2 << 20, .models = {}, .blocks = {}};
  return plan;
}

// An admin API stand-in on a real socket: records what it is sent, checks the bearer token.
class RecordingAdmin {
 public:
  RecordingAdmin() {
    http::ServerOptions options;
    options.listen = "127.0.0.1:0";
    server_ = http::Server::Start(options, [this](const http::Request& request) {
                std::lock_guard lock(mu_);
                requests_.push_back(request);
                if (request.Find("Authorization") != "Bearer " + std::string(kToken)) {
                  return http::Reply::FromError({Errc::kUnauthorized, "wrong token"});
                }
                return http::Reply::Json(200, R"({"assigned":true})");
              }).value();
  }

  std::string Url() const { return "http://" + server_->endpoint(); }
  std::vector<http::Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<http::Request> requests_;
  std::unique_ptr<http::Server> server_;
};

TEST(PushTargetTest, ParsesIdEqualsUrlAndRejectsTheRest) {
  const PushTarget target = ParsePushTarget("bs-0=http://127.0.0.1:9090/").value();
  EXPECT_EQ(target.node_id, "bs-0");
  EXPECT_EQ(target.admin_url, "http://127.0.0.1:9090");
  for (const std::string_view bad : {"bs-0", "=http://a:1", "bs-0=ftp://a", "bs-0="}) {
    EXPECT_EQ(ParsePushTarget(bad).error().code, Errc::kBadRequest) << bad;
  }
}

TEST(PushTargetTest, EveryNodeOfThePlanNeedsATargetAndNoTargetMayBeUnknown) {
  const Plan plan = TwoNodePlan();
  const std::vector<PushTarget> both = {{"bs-0", "http://a:1"}, {"bs-1", "http://b:1"}};
  EXPECT_TRUE(CheckPushTargets(plan, both).has_value());
  const std::vector<PushTarget> one = {{"bs-0", "http://a:1"}};
  EXPECT_NE(CheckPushTargets(plan, one).error().message.find("bs-1"), std::string::npos);
  const std::vector<PushTarget> unknown = {
      {"bs-0", "http://a:1"}, {"bs-1", "http://b:1"}, {"bs-9", "http://c:1"}};
  EXPECT_NE(CheckPushTargets(plan, unknown).error().message.find("no node bs-9"),
            std::string::npos);
}

TEST(PushPlanTest, EveryNodeGetsThePlanWithTheTokenAndFailuresStayPerNode) {
  RecordingAdmin admin;
  const Plan plan = TwoNodePlan();
  // bs-1 points at a port nothing listens on: it fails, bs-0 is still pushed.
  const std::vector<PushTarget> targets = {{"bs-0", admin.Url()}, {"bs-1", "http://127.0.0.1:1"}};
  const std::vector<PushOutcome> outcomes = PushPlan(plan, targets, std::string(kToken));
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].reply.value(), R"({"assigned":true})");
  EXPECT_EQ(outcomes[1].reply.error().code, Errc::kUpstreamFailed);

  const std::vector<http::Request> received = admin.requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "PUT");
  EXPECT_EQ(received[0].target, "/admin/v1/plan");
  EXPECT_EQ(ParsePlan(received[0].body).value(), plan);
}

TEST(PushPlanTest, ARefusedTokenIsUnauthorizedWithTheNodesReason) {
  RecordingAdmin admin;
  const std::vector<PushTarget> targets = {{"bs-0", admin.Url()}, {"bs-1", admin.Url()}};
  const std::vector<PushOutcome> outcomes = PushPlan(TwoNodePlan(), targets, "not-the-token");
  ASSERT_EQ(outcomes.size(), 2u);
  for (const PushOutcome& outcome : outcomes) {
    EXPECT_EQ(outcome.reply.error().code, Errc::kUnauthorized);
    EXPECT_NE(outcome.reply.error().message.find("401: wrong token"), std::string::npos)
        << outcome.reply.error().message;
  }
}

}  // namespace
}  // namespace mei::placement
