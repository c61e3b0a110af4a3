#include "tools/ctl/admin_client.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <mutex>

#include "common/http/server.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

const std::string kToken = "ctl-test-token-8c1f2e7a";

// An in-process admin API that answers with what the test scripts and keeps the last request.
class CtlAdminClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = http::Server::Start({}, [this](const http::Request& request) {
      std::lock_guard lock(mu_);
      last_ = request;
      return answer_(request);
    });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  void Answer(std::function<http::Reply(const http::Request&)> answer) {
    std::lock_guard lock(mu_);
    answer_ = std::move(answer);
  }

  void AnswerJson(int status, std::string body) {
    Answer([=](const http::Request&) { return http::Reply::Json(status, body); });
  }

  http::Request Last() {
    std::lock_guard lock(mu_);
    return last_;
  }

  AdminClient Client() const {
    return AdminClient({"edge-a", "http://" + server_->endpoint()}, kToken, {});
  }

  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::function<http::Reply(const http::Request&)> answer_;
  http::Request last_;
};

TEST_F(CtlAdminClientTest, SendsTheBearerTokenAndTheSelectionAndReturnsTheReplyObject) {
  AnswerJson(200, R"({"pinned":3})");
  auto reply = Client().Pin(*ParseBlockSelection("acme/base@v2", {}));
  ASSERT_TRUE(reply) << Describe(reply.error());
  EXPECT_EQ(reply->at("pinned"), 3);
  const http::Request request = Last();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/admin/v1/pin");
  EXPECT_EQ(request.Find("Authorization"), "Bearer " + kToken);
  EXPECT_EQ(request.body, R"({"model":"acme/base","revision":"v2"})");
}

TEST_F(CtlAdminClientTest, EachCallUsesItsRoute) {
  AnswerJson(200, "{}");
  const AdminClient client = Client();
  const BlockSelection selection = *ParseBlockSelection("acme/base", {});
  struct Case {
    std::function<bool()> call;
    const char* method;
    const char* target;
  };
  const Case cases[] = {
      {[&] { return client.Status().has_value(); }, "GET", "/admin/v1/status"},
      {[&] { return client.Models().has_value(); }, "GET", "/admin/v1/models"},
      {[&] { return client.Blocks().has_value(); }, "GET", "/admin/v1/blocks"},
      {[&] {
         return client.Prefetch({"acme/base", "main"}).has_value();
       },
       "POST", "/admin/v1/prefetch"},
      {[&] { return client.Unpin(selection).has_value(); }, "POST", "/admin/v1/unpin"},
      {[&] { return client.Purge(selection).has_value(); }, "POST", "/admin/v1/purge"},
      {[&] { return client.PutPlan("{}").has_value(); }, "PUT", "/admin/v1/plan"},
      {[&] { return client.GetPlan().has_value(); }, "GET", "/admin/v1/plan"},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(c.call()) << c.target;
    EXPECT_EQ(Last().method, c.method) << c.target;
    EXPECT_EQ(Last().target, c.target);
  }
}

TEST_F(CtlAdminClientTest, A401IsTokenRefusedAndNeverRepeatsTheToken) {
  Answer([](const http::Request&) {
    return http::Reply::FromError({Errc::kUnauthorized, "missing or wrong bearer token"});
  });
  auto reply = Client().Status();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().failure, NodeFailure::kTokenRefused);
  EXPECT_EQ(reply.error().http_status, 401);
  EXPECT_EQ(Describe(reply.error()),
            "token refused: the node answered 401; check --token-file or MEI_ADMIN_TOKEN");
  EXPECT_EQ(Describe(reply.error()).find(kToken), std::string::npos);
}

TEST_F(CtlAdminClientTest, AnErrorReplyCarriesTheStatusAndTheNodesCodeAndMessage) {
  Answer([](const http::Request&) {
    return http::Reply::FromError({Errc::kModelNotFound, "no model acme/x"});
  });
  auto reply = Client().Prefetch({"acme/x", "main"});
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().failure, NodeFailure::kErrorReply);
  EXPECT_EQ(reply.error().http_status, 404);
  EXPECT_EQ(reply.error().code, "model_not_found");
  EXPECT_EQ(reply.error().message, "no model acme/x");
  EXPECT_EQ(Describe(reply.error()), "error reply 404 (model_not_found): no model acme/x");
}

TEST_F(CtlAdminClientTest, AnErrorStatusWithoutJsonStillSaysWhatWasAsked) {
  Answer([](const http::Request&) { return http::Reply::Text(502, "text/plain", "bad gateway"); });
  auto reply = Client().Blocks();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().failure, NodeFailure::kErrorReply);
  EXPECT_EQ(reply.error().http_status, 502);
  EXPECT_EQ(reply.error().message, "GET /admin/v1/blocks answered without an error message");
}

TEST_F(CtlAdminClientTest, ASuccessThatIsNotAJsonObjectIsABadReply) {
  for (const char* body : {"[1,2]", "not json", ""}) {
    AnswerJson(200, body);
    auto reply = Client().Status();
    ASSERT_FALSE(reply) << body;
    EXPECT_EQ(reply.error().failure, NodeFailure::kBadReply) << body;
  }
}

TEST_F(CtlAdminClientTest, AClosedPortIsUnreachable) {
  const std::string url = "http://" + server_->endpoint();
  server_.reset();
  auto reply = AdminClient({"edge-a", url}, kToken, {}).Status();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().failure, NodeFailure::kUnreachable);
  EXPECT_EQ(reply.error().http_status, 0);
  EXPECT_TRUE(reply.error().message.starts_with("could not connect to")) << reply.error().message;
}

TEST_F(CtlAdminClientTest, GetPlanIsNulloptWhenTheNodeHasNone) {
  Answer([](const http::Request&) {
    return http::Reply::FromError({Errc::kFileNotFound, "no plan has been put on this node"});
  });
  auto none = Client().GetPlan();
  ASSERT_TRUE(none) << Describe(none.error());
  EXPECT_FALSE(*none);

  AnswerJson(200, R"({"schema":"mei.plan.v1"})");
  auto plan = Client().GetPlan();
  ASSERT_TRUE(plan && *plan);
  EXPECT_EQ((**plan).at("schema"), "mei.plan.v1");
}

TEST_F(CtlAdminClientTest, TraceSplitsLinesAndReadsTheTruncationHeader) {
  Answer([](const http::Request&) {
    http::Reply reply = http::Reply::Text(200, "application/x-ndjson", "{\"a\":1}\n{\"b\":2}\r\n");
    reply.With("X-Mei-Truncated", "true");
    return reply;
  });
  auto page = Client().Trace("2026-11-24T12:00:00.123Z");
  ASSERT_TRUE(page) << Describe(page.error());
  EXPECT_EQ(page->lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(Last().target, "/admin/v1/trace?since=2026-11-24T12:00:00.123Z");

  Answer([](const http::Request&) { return http::Reply::Text(200, "application/x-ndjson", ""); });
  page = Client().Trace("");
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->lines.empty());
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(Last().target, "/admin/v1/trace");
}

TEST_F(CtlAdminClientTest, IngestSendsOnlyTheSettingsGiven) {
  AnswerJson(200, R"({"commit":"abc"})");
  IngestRequest request{{"acme/base", "main"}, {"/data/base"}, {}, {}, {}};
  ASSERT_TRUE(Client().Ingest(request, std::chrono::seconds(5)));
  EXPECT_EQ(Last().target, "/admin/v1/ingest");
  EXPECT_EQ(Last().body, R"({"model":"acme/base","revision":"main","paths":["/data/base"]})");

  request.min_saving = 0.1;
  request.zstd_level = 5;
  request.max_block = "1MiB";
  ASSERT_TRUE(Client().Ingest(request, std::chrono::seconds(5)));
  EXPECT_EQ(json::parse(Last().body),
            json::parse(R"({"model":"acme/base","revision":"main","paths":["/data/base"],)"
                        R"("min_saving":0.1,"zstd_level":5,"max_block":"1MiB"})"));
}

}  // namespace
}  // namespace mei::tools
