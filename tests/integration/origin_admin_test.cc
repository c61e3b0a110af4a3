// `mei-origin serve --admin-listen` as a real process on 127.0.0.1: a model ingested over HTTP
// while another one downloads is served byte-identical as soon as the call returns, an empty
// origin gets its first model that way, the bearer token guards every admin route, and start-up
// refuses an admin listener without a token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::ServedOrigin;

// mei-synth's base and ft-last (a fine-tune that shares most tensors with the base), written once
// for the suite; every test gets a scratch folder and a store of its own.
class OriginAdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    models_ = fs::path(::testing::TempDir()) / ("origin_admin_" + std::to_string(getpid()));
    fs::remove_all(models_);
    testing::Synthesize(models_, "16MiB", "base,ft-last", models_.parent_path() / "synth");
  }
  static void TearDownTestSuite() { fs::remove_all(models_); }

  void SetUp() override {
    ASSERT_TRUE(fs::exists(Variant("base") / "model.safetensors")) << "mei-synth failed";
    scratch_ =
        models_.string() + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(scratch_);
    fs::create_directories(scratch_);
  }
  void TearDown() override { fs::remove_all(scratch_); }

  static fs::path Variant(const std::string& name) { return models_ / name; }

  // A store holding acme/base, ingested by `mei-origin ingest`.
  fs::path BaseStore() const {
    const fs::path store = scratch_ / "store";
    EXPECT_FALSE(testing::Ingest(store, "acme/base", Variant("base"), scratch_ / "ingest").empty());
    return store;
  }

  // `method` `path` on the origin's admin listener with "Authorization: Bearer <token>" and a JSON
  // body; waits as long as an ingest takes. A transport failure is ADD_FAILURE and status 0.
  static http::ClientResponse Admin(const ServedOrigin& origin, const std::string& method,
                                    const std::string& path, const std::string& body = "",
                                    const std::string& token = "") {
    http::ClientRequest request;
    request.method = method;
    request.url = origin.AdminUrl(path);
    request.headers = {{"Authorization", "Bearer " + (token.empty() ? origin.token : token)}};
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    request.body = body;
    http::ClientOptions options;
    options.idle_timeout = seconds(600);
    auto response = http::Fetch(request, options);
    if (!response) {
      ADD_FAILURE() << method << " " << path << ": " << response.error().message;
      return {};
    }
    return std::move(*response);
  }

  static std::string IngestBody(const std::string& model, const fs::path& input) {
    return json::serialize(json::object{{"model", model}, {"paths", {input.string()}}});
  }

  // Every file of `variant` downloads through /{model}/resolve/main/{file} byte-identical.
  static void ExpectServedByteIdentical(const ServedOrigin& origin, const std::string& model,
                                        const std::string& variant) {
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(Variant(variant))) {
      SCOPED_TRACE(entry.path().filename().string());
      const http::ClientResponse response = testing::Get(
          origin.Url("/" + model + "/resolve/main/" + entry.path().filename().string()));
      EXPECT_EQ(response.status, 200);
      EXPECT_EQ(testing::Sha256OfString(response.body), testing::Sha256OfFile(entry.path()));
      ++files;
    }
    EXPECT_GE(files, 3u);
  }

  // The (model, revision) pairs GET /admin/v1/status lists.
  static std::set<std::string> StatusModels(const ServedOrigin& origin) {
    const http::ClientResponse response = Admin(origin, "GET", "/admin/v1/status");
    EXPECT_EQ(response.status, 200) << response.body;
    boost::system::error_code ec;
    const json::value status = json::parse(response.body, ec);
    std::set<std::string> models;
    if (ec || !status.is_object() || !status.as_object().contains("models")) {
      ADD_FAILURE() << "not a status object: " << response.body;
      return models;
    }
    EXPECT_EQ(status.at("role").as_string(), "origin");
    for (const json::value& model : status.at("models").as_array()) {
      models.insert(std::string(model.at("model").as_string()) + "@" +
                    std::string(model.at("revision").as_string()));
    }
    return models;
  }

  static void StopAndExpectCleanExit(ServedOrigin& origin) {
    origin.process.Signal(SIGTERM);
    EXPECT_EQ(origin.process.WaitFor(seconds(60)), 0) << origin.process.Stderr();
  }

  static inline fs::path models_;
  fs::path scratch_;
};

TEST_F(OriginAdminTest, ModelIngestedOverHttpDuringADownloadIsServedByteIdenticalAtOnce) {
  auto curl = testing::RequireTool("curl");
  ASSERT_TRUE(curl);
  auto origin = testing::StartOriginWithAdmin(BaseStore(), scratch_ / "serve");
  ASSERT_FALSE(origin.admin_endpoint.empty());

  // A throttled download of the base (16 MiB at 2 MiB/s), under way while the fine-tune is
  // ingested; -D - prints the response head as soon as it arrives.
  const fs::path downloaded = scratch_ / "base.safetensors";
  auto download =
      ChildProcess::Start({curl->string(), "-sS", "--fail", "--noproxy", "*", "--max-time", "300",
                           "--limit-rate", "2M", "-D", "-", "-o", downloaded.string(),
                           origin.Url("/acme/base/resolve/main/model.safetensors")},
                          scratch_ / "curl", testing::LoopbackEnvironment());
  const auto status_line = download.ReadLine(seconds(60));
  ASSERT_TRUE(status_line) << "no response head: " << download.Stderr();
  ASSERT_EQ(status_line->rfind("HTTP/1.1 200", 0), 0u) << *status_line;

  const http::ClientResponse ingest =
      Admin(origin, "POST", "/admin/v1/ingest", IngestBody("acme/ft", Variant("ft-last")));
  ASSERT_EQ(ingest.status, 200) << ingest.body;
  const json::object report = json::parse(ingest.body).as_object();
  EXPECT_EQ(report.at("model").as_string(), "acme/ft");
  EXPECT_EQ(report.at("revision").as_string(), "main");
  EXPECT_EQ(report.at("commit").as_string().size(), 64u);
  EXPECT_GT(report.at("dedup_raw_bytes").to_number<std::uint64_t>(), 0u)
      << "the fine-tune shares its unchanged tensors with the base";

  ExpectServedByteIdentical(origin, "acme/ft", "ft-last");
  const http::ClientResponse manifest =
      testing::Get(origin.Url("/v1/models/acme/ft/revisions/main/manifest"));
  ASSERT_EQ(manifest.status, 200) << manifest.body;
  EXPECT_EQ(json::parse(manifest.body).at("commit"), report.at("commit"));
  EXPECT_EQ(StatusModels(origin), (std::set<std::string>{"acme/base@main", "acme/ft@main"}));

  ASSERT_EQ(download.WaitFor(seconds(120)), 0) << download.Stderr();
  EXPECT_EQ(testing::Sha256OfFile(downloaded),
            testing::Sha256OfFile(Variant("base") / "model.safetensors"));
  StopAndExpectCleanExit(origin);
}

TEST_F(OriginAdminTest, AnEmptyOriginWithItsTokenFromTheEnvironmentPublishesItsFirstModel) {
  const fs::path store = scratch_ / "new-store";
  auto origin = testing::StartOrigin(store, scratch_ / "serve", {"--admin-listen", "127.0.0.1:0"},
                                     {"MEI_ADMIN_TOKEN=environment-token-0123456789"});
  ASSERT_FALSE(origin.admin_endpoint.empty());
  origin.token = "environment-token-0123456789";
  EXPECT_TRUE(StatusModels(origin).empty());

  const http::ClientResponse ingest =
      Admin(origin, "POST", "/admin/v1/ingest", IngestBody("acme/base", Variant("base")));
  ASSERT_EQ(ingest.status, 200) << ingest.body;
  ExpectServedByteIdentical(origin, "acme/base", "base");
  StopAndExpectCleanExit(origin);
}

TEST_F(OriginAdminTest, AdminRoutesRefuseAWrongTokenAndBadInputsAndLiveOnlyOnTheAdminListener) {
  auto origin = testing::StartOriginWithAdmin(BaseStore(), scratch_ / "serve");
  ASSERT_FALSE(origin.admin_endpoint.empty());
  const std::string body = IngestBody("acme/ft", Variant("ft-last"));

  const http::ClientResponse wrong =
      Admin(origin, "POST", "/admin/v1/ingest", body, "not-the-token-0123456789");
  EXPECT_EQ(wrong.status, 401);
  testing::ExpectJsonError(wrong, Errc::kUnauthorized);
  EXPECT_EQ(wrong.Header("WWW-Authenticate").value_or(""), "Bearer realm=\"mei-origin\"");
  auto anonymous = testing::FetchOnce(origin.AdminUrl("/admin/v1/status"));
  ASSERT_TRUE(anonymous) << anonymous.error().message;
  EXPECT_EQ(anonymous->status, 401);

  const http::ClientResponse relative =
      Admin(origin, "POST", "/admin/v1/ingest", IngestBody("acme/ft", "models/ft-last"));
  EXPECT_EQ(relative.status, 400);
  testing::ExpectJsonError(relative, Errc::kBadRequest);
  const http::ClientResponse missing =
      Admin(origin, "POST", "/admin/v1/ingest", IngestBody("acme/ft", scratch_ / "nope"));
  EXPECT_EQ(missing.status, 404);
  testing::ExpectJsonError(missing, Errc::kFileNotFound);

  // The data plane knows no admin route, and nothing was published.
  EXPECT_EQ(testing::Get(origin.Url("/admin/v1/status")).status, 404);
  EXPECT_EQ(testing::Get(origin.Url("/v1/models/acme/ft/revisions/main/manifest")).status, 404);
  EXPECT_EQ(StatusModels(origin), (std::set<std::string>{"acme/base@main"}));
  StopAndExpectCleanExit(origin);
}

TEST_F(OriginAdminTest, AdminListenWithoutATokenRefusesToStartInOneSentence) {
  const auto result = testing::RunProcess(
      {testing::BinaryPath("origin/mei-origin").string(), "serve", "--store",
       (scratch_ / "store").string(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
      scratch_ / "serve", {"MEI_ADMIN_TOKEN"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("no admin token"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
  EXPECT_FALSE(fs::exists(scratch_ / "store")) << "nothing is created before the token is there";
}

}  // namespace
}  // namespace mei
