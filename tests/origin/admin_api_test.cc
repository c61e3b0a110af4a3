#include "origin/admin_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/http/data_plane.h"
#include "common/metrics.h"
#include "common/run_blocking.h"
#include "origin/ingest.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using http::Reply;
using http::Request;

const std::string kToken = "origin-admin-test-token-4b1d";

// A safetensors file of two tensors, "embed" (F32, rows x 64) and "norm" (BF16, 64), their bytes
// drawn from `seed`; the header is padded with spaces to a multiple of 8, as the serializer does.
std::string SafetensorsBytes(std::uint64_t rows, unsigned seed) {
  const std::uint64_t embed = rows * 64 * 4;
  const std::uint64_t norm = 64 * 2;
  std::string header = json::serialize(json::object{
      {"embed", {{"dtype", "F32"}, {"shape", json::array{rows, 64}}, {"data_offsets", {0, embed}}}},
      {"norm",
       {{"dtype", "BF16"}, {"shape", json::array{64}}, {"data_offsets", {embed, embed + norm}}}},
  });
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string file;
  for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  file += header;
  std::mt19937 random(seed);
  for (std::uint64_t i = 0; i < embed + norm; ++i) file.push_back(static_cast<char>(random()));
  return file;
}

void WriteFile(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

json::object ParseObject(const Reply& reply) {
  boost::system::error_code ec;
  json::value value = json::parse(reply.text, ec);
  if (ec || !value.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << reply.text;
    return {};
  }
  return std::move(value.as_object());
}

// EXPECTs a JSON error {"error": CodeOf(code), "message": non-empty} with code's status.
void ExpectError(const Reply& reply, Errc code) {
  EXPECT_EQ(reply.status, HttpStatusOf(code)) << reply.text;
  EXPECT_EQ(reply.Find("Content-Type").value_or(""), "application/json");
  const json::object body = ParseObject(reply);
  const json::value* error = body.if_contains("error");
  EXPECT_TRUE(error && error->is_string() && error->get_string() == CodeOf(code)) << reply.text;
  EXPECT_TRUE(body.contains("message") && body.at("message").is_string() &&
              !body.at("message").as_string().empty())
      << reply.text;
}

// A store in a fresh directory per test, the AdminApi over it, and a model folder written by the
// test ("tiny": a safetensors file and a config).
class OriginAdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("origin_admin_api_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = OpenStore(dir_ / "store").value();
    api_ = std::make_unique<AdminApi>(store_, http::AdminAuth(kToken));
    WriteFile(Tiny() / "model.safetensors", SafetensorsBytes(1024, 1));  // 256 KiB of F32
    WriteFile(Tiny() / "config.json", R"({"hidden_size": 64})");
  }
  void TearDown() override {
    api_.reset();
    store_ = {};
    fs::remove_all(dir_);
  }

  fs::path Tiny() const { return dir_ / "models" / "tiny"; }

  static Request Make(std::string method, std::string target, std::string body = "",
                      std::string authorization = "Bearer " + kToken) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    if (!authorization.empty()) request.headers.push_back({"Authorization", authorization});
    request.body = std::move(body);
    request.peer = "127.0.0.1:40000";
    return request;
  }

  Reply PostIngest(const json::object& body) {
    return api_->Handle(Make("POST", "/admin/v1/ingest", json::serialize(body)));
  }

  json::object Status() {
    const Reply reply = api_->Handle(Make("GET", "/admin/v1/status"));
    EXPECT_EQ(reply.status, 200) << reply.text;
    return ParseObject(reply);
  }

  void ExpectNothingStored() {
    EXPECT_TRUE(store_.manifests->List().value().empty());
    EXPECT_EQ(store_.blocks->block_count(), 0u);
  }

  fs::path dir_;
  Store store_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(OriginAdminApiTest, EveryRouteAnswers401WithWwwAuthenticateWithoutTheRightBearerToken) {
  const json::object ingest{{"model", "acme/tiny"}, {"paths", {Tiny().string()}}};
  const std::vector<std::string> refused = {"", "Bearer wrong-token-0123456789", "Basic " + kToken,
                                            kToken, "Bearer " + kToken + "x"};
  for (const std::string& authorization : refused) {
    for (Request request :
         {Make("GET", "/admin/v1/status", "", authorization),
          Make("POST", "/admin/v1/ingest", json::serialize(ingest), authorization),
          Make("GET", "/admin/v1/nope", "", authorization)}) {
      SCOPED_TRACE(request.method + " " + request.target + " with \"" + authorization + "\"");
      const Reply reply = api_->Handle(request);
      ExpectError(reply, Errc::kUnauthorized);
      EXPECT_EQ(reply.Find("WWW-Authenticate").value_or(""), "Bearer realm=\"mei-origin\"");
      EXPECT_EQ(reply.text.find(kToken), std::string::npos);
    }
  }
  ExpectNothingStored();
}

TEST_F(OriginAdminApiTest, IngestPublishesTheRevisionAndAnswersTheReportThatTheCliPrints) {
  MetricsRegistry metrics;
  StoreContent content(store_);
  const DataPlane data_plane(content, metrics);  // made before the ingest: nothing to refresh

  const Reply reply = PostIngest({{"model", "acme/tiny"}, {"paths", {Tiny().string()}}});
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(reply.Find("Content-Type").value_or(""), "application/json");
  const json::object report = ParseObject(reply);
  std::set<std::string> keys;
  for (const auto& [key, value] : report) keys.insert(std::string(key));
  EXPECT_EQ(keys,
            (std::set<std::string>{"model", "revision", "commit", "files", "tensors", "blocks",
                                   "new_blocks", "raw_bytes", "new_raw_bytes", "dedup_raw_bytes",
                                   "stored_bytes", "seconds", "formats", "notes"}));

  const Manifest manifest = store_.manifests->Get("acme/tiny", "main").value();
  EXPECT_EQ(report.at("model").as_string(), "acme/tiny");
  EXPECT_EQ(report.at("revision").as_string(), "main");
  EXPECT_EQ(report.at("commit").as_string(), manifest.commit.Hex());
  EXPECT_EQ(report.at("files"), 2);
  EXPECT_EQ(report.at("tensors"), 2);
  EXPECT_EQ(report.at("raw_bytes"),
            fs::file_size(Tiny() / "model.safetensors") + fs::file_size(Tiny() / "config.json"));
  EXPECT_EQ(report.at("new_blocks"), store_.blocks->block_count());
  EXPECT_EQ(report.at("stored_bytes"), store_.blocks->stored_bytes());

  Request get_manifest;
  get_manifest.method = "GET";
  get_manifest.target = "/v1/models/acme/tiny/revisions/main/manifest";
  EXPECT_EQ(RunBlocking(data_plane.Handle(get_manifest)).status, 200);
  Request head_file;
  head_file.method = "HEAD";
  head_file.target = "/acme/tiny/resolve/main/model.safetensors";
  const Reply file = RunBlocking(data_plane.Handle(head_file));
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.Find("X-Repo-Commit").value_or(""), manifest.commit.Hex());
}

TEST_F(OriginAdminApiTest, IngestTakesTheRevisionAndTheCodecAndChunkingOptions) {
  for (const json::value& max_block : {json::value("64KiB"), json::value(65536)}) {
    SCOPED_TRACE(json::serialize(max_block));
    const Reply reply = PostIngest({{"model", "acme/tiny"},
                                    {"revision", "v1"},
                                    {"paths", {(Tiny() / "model.safetensors").string()}},
                                    {"min_saving", 0},
                                    {"zstd_level", 3},
                                    {"max_block", max_block}});
    ASSERT_EQ(reply.status, 200) << reply.text;
    const Manifest manifest = store_.manifests->Get("acme/tiny", "v1").value();
    ASSERT_EQ(manifest.files.size(), 1u);
    // The header, the 256 KiB embedding in four blocks, the norm.
    EXPECT_EQ(manifest.files[0].blocks.size(), 6u);
  }
  EXPECT_EQ(store_.manifests->Get("acme/tiny", "main").error().code, Errc::kRevisionNotFound);
}

struct BadBody {
  const char* name;
  std::string body;
  Errc code;
};

TEST_F(OriginAdminApiTest, BadBodiesAre400AndStoreNothing) {
  const std::string tiny = json::serialize(json::value(Tiny().string()));
  const std::string paths = R"("paths": [)" + tiny + "]";
  const BadBody cases[] = {
      {"not JSON", "{model", Errc::kBadRequest},
      {"not an object", "[" + tiny + "]", Errc::kBadRequest},
      {"empty body", "", Errc::kBadRequest},
      {"no model", "{" + paths + "}", Errc::kBadRequest},
      {"model not a string", R"({"model": 7, )" + paths + "}", Errc::kBadRequest},
      {"model without org", R"({"model": "tiny", )" + paths + "}", Errc::kBadModelName},
      {"model escaping", R"({"model": "../etc", )" + paths + "}", Errc::kBadModelName},
      {"bad revision", R"({"model": "acme/tiny", "revision": "../main", )" + paths + "}",
       Errc::kBadRequest},
      {"no paths", R"({"model": "acme/tiny"})", Errc::kBadRequest},
      {"empty paths", R"({"model": "acme/tiny", "paths": []})", Errc::kBadRequest},
      {"paths not an array", R"({"model": "acme/tiny", "paths": )" + tiny + "}", Errc::kBadRequest},
      {"path not a string", R"({"model": "acme/tiny", "paths": [1]})", Errc::kBadRequest},
      {"relative path", R"({"model": "acme/tiny", "paths": ["models/tiny"]})", Errc::kBadRequest},
      {"empty path", R"({"model": "acme/tiny", "paths": [""]})", Errc::kBadRequest},
      {"zstd level too high", R"({"model": "acme/tiny", "zstd_level": 20, )" + paths + "}",
       Errc::kBadRequest},
      {"zstd level not whole", R"({"model": "acme/tiny", "zstd_level": 2.5, )" + paths + "}",
       Errc::kBadRequest},
      {"min saving above 1", R"({"model": "acme/tiny", "min_saving": 1.5, )" + paths + "}",
       Errc::kBadRequest},
      {"min saving a string", R"({"model": "acme/tiny", "min_saving": "0.1", )" + paths + "}",
       Errc::kBadRequest},
      {"max block zero", R"({"model": "acme/tiny", "max_block": "0", )" + paths + "}",
       Errc::kBadRequest},
      {"max block unparsable", R"({"model": "acme/tiny", "max_block": "4 parsecs", )" + paths + "}",
       Errc::kBadRequest},
      {"max block negative", R"({"model": "acme/tiny", "max_block": -1, )" + paths + "}",
       Errc::kBadRequest},
      {"misspelt field", R"({"model": "acme/tiny", "revison": "v1", )" + paths + "}",
       Errc::kBadRequest},
  };
  for (const BadBody& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectError(api_->Handle(Make("POST", "/admin/v1/ingest", c.body)), c.code);
  }
  ExpectNothingStored();
}

TEST_F(OriginAdminApiTest, RelativePathIsRefusedEvenWhenItExistsFromTheWorkingDirectory) {
  const Reply reply =
      PostIngest({{"model", "acme/tiny"},
                  {"paths", {Tiny().lexically_relative(fs::current_path()).string()}}});
  ExpectError(reply, Errc::kBadRequest);
  EXPECT_NE(reply.text.find("absolute"), std::string::npos) << reply.text;
  ExpectNothingStored();
}

TEST_F(OriginAdminApiTest, MissingPathIs404NamingItAndStoresNothing) {
  const fs::path missing = dir_ / "models" / "nope";
  const Reply reply =
      PostIngest({{"model", "acme/tiny"}, {"paths", {Tiny().string(), missing.string()}}});
  ExpectError(reply, Errc::kFileNotFound);
  EXPECT_NE(reply.text.find(missing.string()), std::string::npos) << reply.text;
  ExpectNothingStored();
}

TEST_F(OriginAdminApiTest, AFileTheParserRejectsIs400WithItsMessageAndTheRevisionKeepsItsCommit) {
  ASSERT_EQ(PostIngest({{"model", "acme/tiny"}, {"paths", {Tiny().string()}}}).status, 200);
  const Manifest before = store_.manifests->Get("acme/tiny", "main").value();

  const std::string whole = SafetensorsBytes(1024, 2);
  WriteFile(dir_ / "broken" / "config.json", "{}");
  WriteFile(dir_ / "broken" / "model.safetensors", whole.substr(0, whole.size() / 2));
  for (const std::string& model : {std::string("acme/tiny"), std::string("acme/broken")}) {
    SCOPED_TRACE(model);
    const Reply reply = PostIngest({{"model", model}, {"paths", {(dir_ / "broken").string()}}});
    ExpectError(reply, Errc::kBadSafetensors);
    EXPECT_NE(reply.text.find("model.safetensors"), std::string::npos) << reply.text;
  }
  EXPECT_EQ(store_.manifests->Get("acme/tiny", "main").value().commit, before.commit);
  EXPECT_EQ(store_.manifests->Get("acme/broken", "main").error().code, Errc::kModelNotFound);
  EXPECT_EQ(store_.manifests->List().value().size(), 1u);
}

TEST_F(OriginAdminApiTest, StatusListsEveryRevisionWithTheStoresBlocksAndBytes) {
  json::object status = Status();
  EXPECT_EQ(status.at("role").as_string(), "origin");
  EXPECT_EQ(status.at("models"), json::array());
  EXPECT_EQ(status.at("blocks"), 0);
  EXPECT_EQ(status.at("stored_bytes"), 0);

  ASSERT_EQ(PostIngest({{"model", "acme/tiny"}, {"paths", {Tiny().string()}}}).status, 200);
  ASSERT_EQ(
      PostIngest({{"model", "acme/tiny"}, {"revision", "v1"}, {"paths", {Tiny().string()}}}).status,
      200);
  // Each ingest's commit covers its publication time, so the two differ when a second boundary
  // falls between them.
  const std::string main = store_.manifests->Get("acme/tiny", "main").value().commit.Hex();
  const std::string v1 = store_.manifests->Get("acme/tiny", "v1").value().commit.Hex();
  status = Status();
  EXPECT_EQ(status.at("models"),
            (json::array{{{"model", "acme/tiny"}, {"revision", "main"}, {"commit", main}},
                         {{"model", "acme/tiny"}, {"revision", "v1"}, {"commit", v1}}}));
  EXPECT_EQ(status.at("blocks"), store_.blocks->block_count());
  EXPECT_GT(store_.blocks->block_count(), 0u);
  EXPECT_EQ(status.at("stored_bytes"), store_.blocks->stored_bytes());
}

TEST_F(OriginAdminApiTest, UnknownRoutesAre404AndOtherMethods405WithAllow) {
  for (const char* target :
       {"/admin/v1/nope", "/admin/v2/status", "/admin/v1", "/v1/models", "/admin/v1/status/more"}) {
    SCOPED_TRACE(target);
    ExpectError(api_->Handle(Make("GET", target)), Errc::kFileNotFound);
  }
  const Reply get_ingest = api_->Handle(Make("GET", "/admin/v1/ingest"));
  ExpectError(get_ingest, Errc::kMethodNotAllowed);
  EXPECT_EQ(get_ingest.Find("Allow").value_or(""), "POST");
  const Reply post_status = api_->Handle(Make("POST", "/admin/v1/status", "{}"));
  ExpectError(post_status, Errc::kMethodNotAllowed);
  EXPECT_EQ(post_status.Find("Allow").value_or(""), "GET");
  EXPECT_EQ(api_->Handle(Make("HEAD", "/admin/v1/status")).status, 200);
}

TEST_F(OriginAdminApiTest, IngestsCalledAtOnceFromTwoThreadsBothPublish) {
  WriteFile(dir_ / "models" / "other" / "model.safetensors", SafetensorsBytes(512, 3));
  Reply first, second;
  std::thread other([&] {
    second =
        PostIngest({{"model", "acme/other"}, {"paths", {(dir_ / "models" / "other").string()}}});
  });
  first = PostIngest({{"model", "acme/tiny"}, {"paths", {Tiny().string()}}});
  other.join();
  EXPECT_EQ(first.status, 200) << first.text;
  EXPECT_EQ(second.status, 200) << second.text;
  EXPECT_EQ(store_.manifests->List().value().size(), 2u);
}

}  // namespace
}  // namespace mei::origin
