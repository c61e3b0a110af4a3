// Stock HTTP clients against `mei-origin serve` over real sockets on 127.0.0.1: curl (whole file,
// a range, resume, HEAD, blocks, zstd), wget (plain and -c), aria2c (eight parallel ranges) and the
// Hugging Face JS client, each checked byte for byte against the file that was ingested, and the
// error answers a client sees. The tools come from scripts/setup --test; a missing one fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/digest.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "common/store.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using testing::LoopbackEnvironment;
using testing::ParseHeadDump;
using testing::ProcessResult;
using testing::RequireTool;
using testing::ResponseHead;
using testing::RunProcess;
using testing::Sha256OfFile;

constexpr char kSafetensors[] = "/acme/base/resolve/main/model.safetensors";
constexpr char kGguf[] = "/acme/gguf/resolve/main/model.gguf";

// One mei-synth family (base and gguf, 24 MiB) ingested as acme/base and acme/gguf and served by
// one `mei-origin serve` for the whole suite. The suite runs twice: against the origin, and
// through an empty mei-cache-node in front of it (instantiation "CacheNode"), which a client must
// not be able to tell from the origin but by its X-Cache and X-Served-By headers.
class StockClientsTest : public ::testing::TestWithParam<bool> {
 protected:
  // Whether the suite being set up is the one through a cache node (static: no GetParam() yet).
  static bool ThroughCacheNode() {
    const ::testing::TestSuite* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    return suite != nullptr && std::string_view(suite->name()).starts_with("CacheNode/");
  }

  static void SetUpTestSuite() {
    dir_ = fs::path(::testing::TempDir()) / ("stock_clients_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!testing::Synthesize(dir_ / "models", "24MiB", "base,gguf", dir_ / "synth")) return;
    commit_ =
        testing::Ingest(dir_ / "store", "acme/base", dir_ / "models" / "base", dir_ / "ingest");
    if (commit_.empty() ||
        testing::Ingest(dir_ / "store", "acme/gguf", dir_ / "models" / "gguf", dir_ / "ingest")
            .empty()) {
      return;
    }
    FindZstdBlock();
    origin_.emplace(testing::StartOrigin(dir_ / "store", dir_ / "serve"));
    if (ThroughCacheNode() && !origin_->endpoint.empty()) {
      node_.emplace(
          testing::StartCacheNode(dir_ / "node-store", origin_->Url(""), "edge-1", dir_ / "node"));
    }
  }

  static void TearDownTestSuite() {
    if (node_) {
      node_->process.Signal(SIGTERM);
      EXPECT_EQ(node_->process.WaitFor(std::chrono::seconds(60)), 0) << node_->process.Stderr();
      node_.reset();
    }
    if (origin_) {
      origin_->process.Signal(SIGTERM);
      EXPECT_EQ(origin_->process.WaitFor(std::chrono::seconds(60)), 0) << origin_->process.Stderr();
      origin_.reset();
    }
    fs::remove_all(dir_);
  }

  // A block of acme/base that the store holds zstd-coded (config.json and tokenizer.json are
  // text, so theirs usually are). Read before the server opens the store.
  static void FindZstdBlock() {
    auto store = OpenStore(dir_ / "store");
    ASSERT_TRUE(store) << store.error().message;
    auto manifest = store->manifests->Get("acme/base", "main");
    ASSERT_TRUE(manifest) << manifest.error().message;
    for (const ManifestFile& file : manifest->files) {
      for (const ManifestBlock& block : file.blocks) {
        auto meta = store->blocks->Meta(block.id);
        ASSERT_TRUE(meta) << meta.error().message;
        if (meta->codec == Codec::kZstd && !zstd_block_) {
          zstd_block_ = block;
          zstd_block_file_ = file.path;
          zstd_block_stored_bytes_ = meta->stored_size;
        }
      }
    }
  }

  void SetUp() override {
    ASSERT_TRUE(origin_ && !origin_->endpoint.empty()) << "the origin did not start (see above)";
    ASSERT_EQ(GetParam(), node_.has_value()) << "the cache node did not start (see above)";
    ASSERT_TRUE(!node_ || !node_->endpoint.empty()) << "the cache node did not start (see above)";
    scratch_ = dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(scratch_);
  }

  static fs::path Source(const std::string& variant, const std::string& file) {
    return dir_ / "models" / variant / file;
  }
  // The server under test: the cache node when there is one, else the origin.
  static std::string Url(const std::string& target) {
    return node_ ? node_->Url(target) : origin_->Url(target);
  }

  // curl -sS with no proxy and a bounded time, plus `args`.
  ProcessResult Curl(const std::vector<std::string>& args) {
    auto curl = RequireTool("curl");
    if (!curl) return {};
    std::vector<std::string> argv = {curl->string(), "-sS", "--noproxy", "*", "--max-time", "300"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, scratch_ / "curl", LoopbackEnvironment());
  }

  // `target` fetched with curl (a GET unless `extra` says otherwise): the final head and the body.
  std::pair<ResponseHead, std::string> Fetch(const std::string& target,
                                             const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--path-as-is", "-D", (scratch_ / "head.txt").string(), "-o",
                                     (scratch_ / "body.bin").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(Url(target));
    auto curl = Curl(args);
    EXPECT_EQ(curl.exit_code, 0) << target << ": " << curl.err;
    std::ifstream head_file(scratch_ / "head.txt", std::ios::binary);
    std::ostringstream head;
    head << head_file.rdbuf();
    std::ifstream body_file(scratch_ / "body.bin", std::ios::binary);
    std::ostringstream body;
    body << body_file.rdbuf();
    return {ParseHeadDump(head.str()), body.str()};
  }

  static inline fs::path dir_;
  static inline std::string commit_;
  static inline std::optional<testing::ServedOrigin> origin_;
  static inline std::optional<testing::ServedCacheNode> node_;
  static inline std::optional<ManifestBlock> zstd_block_;
  static inline std::string zstd_block_file_;
  static inline std::uint64_t zstd_block_stored_bytes_ = 0;
  fs::path scratch_;
};

Sha256Digest Sha256OfString(std::string_view bytes) {
  return Sha256Of(std::as_bytes(std::span(bytes)));
}

TEST_P(StockClientsTest, CurlDownloadsTheWholeFileByteExact) {
  const fs::path out = scratch_ / "model.safetensors";
  auto curl = Curl({"--fail", "-o", out.string(), "-w", "%{http_code}", Url(kSafetensors)});
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_EQ(curl.out, "200");
  EXPECT_EQ(Sha256OfFile(out), Sha256OfFile(Source("base", "model.safetensors")));
}

TEST_P(StockClientsTest, CurlSingleRangeIsThatSliceOfTheSource) {
  const fs::path out = scratch_ / "slice.bin";
  constexpr std::uint64_t kFirst = 1'000'003;
  constexpr std::uint64_t kLast = 9'876'543;
  auto curl = Curl({"--fail", "-r", std::to_string(kFirst) + "-" + std::to_string(kLast), "-o",
                    out.string(), "-w", "%{http_code}", Url(kSafetensors)});
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_EQ(curl.out, "206");
  EXPECT_EQ(fs::file_size(out), kLast - kFirst + 1);
  EXPECT_EQ(Sha256OfFile(out),
            Sha256OfFile(Source("base", "model.safetensors"), kFirst, kLast - kFirst + 1));
}

TEST_P(StockClientsTest, CurlResumesAPrefixToTheWholeFile) {
  const fs::path out = scratch_ / "model.safetensors";
  constexpr std::uint64_t kPrefix = 5'000'000;
  auto first = Curl(
      {"--fail", "-r", "0-" + std::to_string(kPrefix - 1), "-o", out.string(), Url(kSafetensors)});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(fs::file_size(out), kPrefix);
  auto rest =
      Curl({"--fail", "-C", "-", "-o", out.string(), "-w", "%{http_code}", Url(kSafetensors)});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(rest.out, "206");
  EXPECT_EQ(Sha256OfFile(out), Sha256OfFile(Source("base", "model.safetensors")));
}

TEST_P(StockClientsTest, CurlHeadShowsLengthEtagRangesAndCommit) {
  auto curl = Curl({"--fail", "-I", Url(kSafetensors)});
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  const ResponseHead head = ParseHeadDump(curl.out);
  const fs::path source = Source("base", "model.safetensors");
  EXPECT_EQ(head.status, 200) << curl.out;
  EXPECT_EQ(head.Find("Content-Length"), std::to_string(fs::file_size(source))) << curl.out;
  EXPECT_EQ(head.Find("ETag"), "\"" + Sha256OfFile(source).Hex() + "\"") << curl.out;
  EXPECT_EQ(head.Find("Accept-Ranges"), "bytes") << curl.out;
  EXPECT_EQ(head.Find("X-Repo-Commit"), commit_) << curl.out;
  if (node_) {  // what tells a cache node from the origin, and only that
    EXPECT_EQ(head.Find("X-Served-By"), "edge-1") << curl.out;
    const std::string cache = head.Find("X-Cache").value_or("none");
    EXPECT_TRUE(cache == "HIT" || cache == "MISS" || cache == "PARTIAL") << curl.out;
  } else {
    EXPECT_EQ(head.Find("X-Cache"), std::nullopt) << curl.out;
  }
}

TEST_P(StockClientsTest, WgetDownloadsTheWholeFileByteExact) {
  auto wget = RequireTool("wget");
  ASSERT_TRUE(wget);
  auto run = RunProcess({wget->string(), "-nv", "--no-proxy", "--timeout=60", "--tries=1", "-P",
                         scratch_.string(), Url(kSafetensors)},
                        scratch_ / "wget", LoopbackEnvironment());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Sha256OfFile(scratch_ / "model.safetensors"),
            Sha256OfFile(Source("base", "model.safetensors")));
}

TEST_P(StockClientsTest, WgetContinuesAPartialFileWithARangeRequest) {
  auto wget = RequireTool("wget");
  ASSERT_TRUE(wget);
  const fs::path source = Source("base", "model.safetensors");
  testing::CopyPrefix(source, scratch_ / "model.safetensors", 7'777'777);
  auto run = RunProcess({wget->string(), "-nv", "-S", "-c", "--no-proxy", "--timeout=60",
                         "--tries=1", "-P", scratch_.string(), Url(kSafetensors)},
                        scratch_ / "wget", LoopbackEnvironment());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("206"), std::string::npos) << "wget did not resume:\n" << run.err;
  EXPECT_EQ(Sha256OfFile(scratch_ / "model.safetensors"), Sha256OfFile(source));
}

// aria2c -x8 -s8 -k1M: the file in 1 MiB pieces over eight connections at once; the pieces come
// back from the server as 206 answers to single ranges and must assemble into the source file.
void ExpectAria2AssemblesTheFile(const std::string& url, const fs::path& source,
                                 const fs::path& scratch) {
  auto aria2c = RequireTool("aria2c");
  ASSERT_TRUE(aria2c);
  const std::string name = source.filename().string();
  const fs::path log = scratch / "aria2c.log";
  auto run = RunProcess(
      {aria2c->string(), "-x8", "-s8", "-k1M", "--allow-overwrite=true",
       "--auto-file-renaming=false", "--file-allocation=none", "--max-tries=1", "--timeout=60",
       "--summary-interval=0", "--console-log-level=warn", "--all-proxy=", "--log=" + log.string(),
       "--log-level=info", "-d", scratch.string(), "-o", name, url},
      scratch / "aria2c", LoopbackEnvironment());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(Sha256OfFile(scratch / name), Sha256OfFile(source));
  std::ifstream log_file(log);
  std::size_t ranges = 0;
  for (std::string line; std::getline(log_file, line);) {
    if (line.rfind("Range: bytes=", 0) == 0) ++ranges;
  }
  EXPECT_GE(ranges, 4u) << "aria2c did not split the download into ranges";
}

TEST_P(StockClientsTest, Aria2EightParallelRangesAssembleTheSafetensors) {
  ExpectAria2AssemblesTheFile(Url(kSafetensors), Source("base", "model.safetensors"), scratch_);
}

TEST_P(StockClientsTest, Aria2EightParallelRangesAssembleTheGguf) {
  ExpectAria2AssemblesTheFile(Url(kGguf), Source("gguf", "model.gguf"), scratch_);
}

TEST_P(StockClientsTest, HubJsClientListsTheTreeAndDownloadsAFile) {
  auto node = RequireTool("node");
  ASSERT_TRUE(node);
  const fs::path client = testing::SourcePath("tests/integration/hub-client");
  ASSERT_TRUE(fs::exists(client / "node_modules" / "@huggingface" / "hub"))
      << "the Hugging Face JS client is not installed in " << client
      << "; scripts/setup --test installs it (npm ci)";
  const fs::path out = scratch_ / "model.safetensors";
  auto run =
      RunProcess({node->string(), (client / "download.mjs").string(), "http://" + origin_->endpoint,
                  "acme/base", "main", "model.safetensors", out.string()},
                 scratch_ / "node", LoopbackEnvironment());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::ostringstream expected;
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json"}) {
    expected << file << " " << fs::file_size(Source("base", file)) << "\n";
  }
  EXPECT_EQ(run.out, expected.str());
  EXPECT_EQ(Sha256OfFile(out), Sha256OfFile(Source("base", "model.safetensors")));
}

TEST_P(StockClientsTest, BlockRouteServesEachManifestBlocksSourceBytes) {
  const auto [manifest_head, manifest_text] = Fetch("/v1/models/acme/base/revisions/main/manifest");
  ASSERT_EQ(manifest_head.status, 200) << manifest_text;
  boost::system::error_code ec;
  const boost::json::value manifest = boost::json::parse(manifest_text, ec);
  ASSERT_FALSE(ec) << manifest_text;
  EXPECT_TRUE(ParseManifest(manifest_text)) << "the served manifest does not validate";
  EXPECT_EQ(manifest.at("commit").as_string(), commit_);

  std::size_t checked = 0;
  for (const auto& file : manifest.at("files").as_array()) {
    const std::string path(file.at("path").as_string());
    const auto& blocks = file.at("blocks").as_array();
    // The first, a middle and the last block of every file.
    for (const std::size_t index : {std::size_t{0}, blocks.size() / 2, blocks.size() - 1}) {
      const auto& block = blocks.at(index);
      const std::string id(block.at("id").as_string());
      const auto offset = block.at("offset").to_number<std::uint64_t>();
      const auto size = block.at("size").to_number<std::uint64_t>();
      const auto [head, body] = Fetch("/v1/blocks/" + id);
      ASSERT_EQ(head.status, 200) << path << " block " << id;
      EXPECT_EQ(head.Find("ETag"), "\"" + id + "\"") << path << " block " << id;
      EXPECT_EQ(head.Find("Cache-Control"), "public, max-age=31536000, immutable");
      EXPECT_FALSE(head.Find("Content-Encoding")) << "not asked for";
      ASSERT_EQ(body.size(), size) << path << " block " << id;
      EXPECT_EQ(Sha256OfString(body), Sha256OfFile(Source("base", path), offset, size))
          << path << " block " << id << " at " << offset;
      EXPECT_EQ(Sha256OfString(body).Hex(), id);
      ++checked;
    }
  }
  EXPECT_GE(checked, 9u);
}

TEST_P(StockClientsTest, ZstdStoredBlockIsSentAsStoredWithContentEncodingZstd) {
  ASSERT_TRUE(zstd_block_) << "no zstd-coded block in acme/base; the fixture needs one";
  const std::string target = "/v1/blocks/" + zstd_block_->id.Hex();
  const auto source =
      Sha256OfFile(Source("base", zstd_block_file_), zstd_block_->offset, zstd_block_->size);

  const auto [head, body] = Fetch(target, {"-H", "Accept-Encoding: zstd"});
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(head.Find("Content-Encoding"), "zstd");
  // The stored zstd frame, as is: a zstd frame (magic FD2FB528) of the stored payload's size.
  ASSERT_GE(body.size(), 4u);
  EXPECT_EQ(body.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
  EXPECT_EQ(body.size(), zstd_block_stored_bytes_ - kFrameHeaderSize);
  EXPECT_LT(body.size(), zstd_block_->size);

  // curl decodes it to the block's bytes.
  const auto [decoded_head, decoded] =
      Fetch(target, {"--compressed", "-H", "Accept-Encoding: zstd"});
  EXPECT_EQ(decoded_head.Find("Content-Encoding"), "zstd");
  EXPECT_EQ(Sha256OfString(decoded), source);

  // Without Accept-Encoding, the same block comes decoded.
  const auto [plain_head, plain] = Fetch(target);
  EXPECT_FALSE(plain_head.Find("Content-Encoding"));
  EXPECT_EQ(Sha256OfString(plain), source);
}

struct ErrorCase {
  const char* name;
  std::vector<std::string> curl_args;  // method and headers
  std::string target;
  int status;
  Errc error;
  const char* hub_error_code;  // X-Error-Code, or nullptr when none is expected
};

// The routes no stock client above exercises, over a real socket: listing, manifest, Hub model
// info, health, readiness and metrics.
TEST_P(StockClientsTest, InfoRoutesAnswerOverTheSocket) {
  {
    const auto [head, body] = Fetch("/v1/models");
    EXPECT_EQ(head.status, 200) << body;
    EXPECT_NE(body.find("\"acme/base\""), std::string::npos) << body;
  }
  {
    const auto [head, body] = Fetch("/v1/models/acme/base/revisions/main/manifest");
    ASSERT_EQ(head.status, 200) << body;
    auto manifest = ParseManifest(body);
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->commit.Hex(), commit_);
    const auto [again, unused] =
        Fetch("/v1/models/acme/base/revisions/main/manifest",
              {"-H", "If-None-Match: " + std::string(head.Find("ETag").value_or(""))});
    EXPECT_EQ(again.status, 304);
  }
  {
    const auto [head, body] = Fetch("/api/models/acme/base");
    ASSERT_EQ(head.status, 200) << body;
    const boost::json::value info = boost::json::parse(body);
    EXPECT_EQ(info.at("sha").as_string(), commit_);
    EXPECT_EQ(info.at("siblings").as_array().size(), 3u);
  }
  {
    const auto [head, body] = Fetch("/api/models/acme/base/revision/main");
    EXPECT_EQ(head.status, 200) << body;
  }
  for (const char* target : {"/healthz", "/readyz"}) {
    const auto [head, body] = Fetch(target);
    EXPECT_EQ(head.status, 200) << target << ": " << body;
  }
  const auto [head, body] = Fetch("/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(body.find("mei_http_requests_total{route=\"manifest\""), std::string::npos) << body;
  EXPECT_NE(body.find("mei_http_open_connections"), std::string::npos) << body;
  EXPECT_NE(body.find("mei_http_request_duration_seconds_bucket"), std::string::npos) << body;
}

TEST_P(StockClientsTest, ErrorsHaveTheirStatusCodeAndJsonBody) {
  const std::uint64_t length = fs::file_size(Source("base", "model.safetensors"));
  const std::vector<ErrorCase> cases = {
      {"unknown model",
       {},
       "/nobody/nothing/resolve/main/model.safetensors",
       404,
       Errc::kModelNotFound,
       "RepoNotFound"},
      {"unknown revision",
       {},
       "/acme/base/resolve/no-such-rev/model.safetensors",
       404,
       Errc::kRevisionNotFound,
       "RevisionNotFound"},
      {"unknown file",
       {},
       "/acme/base/resolve/main/missing.bin",
       404,
       Errc::kFileNotFound,
       "EntryNotFound"},
      {"escaping path",
       {},
       "/acme/base/resolve/main/..%2f..%2fetc%2fpasswd",
       400,
       Errc::kBadPath,
       nullptr},
      {"malformed block id", {}, "/v1/blocks/not-a-block-id", 400, Errc::kBadBlockId, nullptr},
      {"upper-case block id",
       {},
       "/v1/blocks/" + std::string(64, 'A'),
       400,
       Errc::kBadBlockId,
       nullptr},
      {"POST", {"-X", "POST"}, kSafetensors, 405, Errc::kMethodNotAllowed, nullptr},
      {"range past the end",
       {"-H", "Range: bytes=" + std::to_string(length) + "-"},
       kSafetensors,
       416,
       Errc::kRangeNotSatisfiable,
       nullptr},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto [head, body] = Fetch(c.target, c.curl_args);
    EXPECT_EQ(head.status, c.status) << body;
    if (c.hub_error_code != nullptr) {
      EXPECT_EQ(head.Find("X-Error-Code"), c.hub_error_code);
    }
    EXPECT_NE(head.Find("Content-Type").value_or("").find("application/json"), std::string::npos);
    boost::system::error_code ec;
    const boost::json::value json = boost::json::parse(body, ec);
    ASSERT_FALSE(ec) << "not JSON: " << body;
    ASSERT_TRUE(json.is_object()) << body;
    EXPECT_EQ(json.as_object().if_contains("error") ? json.at("error").as_string() : "",
              CodeOf(c.error))
        << body;
    ASSERT_TRUE(json.as_object().if_contains("message")) << body;
    EXPECT_FALSE(json.at("message").as_string().empty()) << body;
    if (c.status == 405) {
      EXPECT_TRUE(head.Find("Allow")) << "RFC 9110 section 15.5.6: a 405 carries Allow";
    }
    if (c.status == 416) {
      EXPECT_EQ(head.Find("Content-Range"), "bytes */" + std::to_string(length));
    }
  }
}

}  // namespace
INSTANTIATE_TEST_SUITE_P(Origin, StockClientsTest, ::testing::Values(false));
INSTANTIATE_TEST_SUITE_P(CacheNode, StockClientsTest, ::testing::Values(true));

}  // namespace mei
