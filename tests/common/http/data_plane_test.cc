#include "common/http/data_plane.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/json.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/http/internal/accept_encoding.h"
#include "common/http/internal/hub_api.h"
#include "common/http/target.h"
#include "common/manifest.h"
#include "common/metrics.h"
#include "common/run_blocking.h"
#include "common/store.h"
#include "tests/common/bf16_weights.h"
#include "tests/common/http/chunk_bytes.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using http::Reply;
using http::Request;

constexpr std::string_view kModel = "acme/tiny-llama";
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";

std::string AsString(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<std::byte> RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> bytes(size);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng());
  return bytes;
}

using testing::Bf16Weights;

// Little-endian F32 values of small normally distributed weights, for bg4+zstd.
std::vector<std::byte> F32Weights(std::size_t elements, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::byte> bytes(elements * 4);
  for (std::size_t i = 0; i < elements; ++i) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(normal(rng)) & 0xffffff00u;
    for (std::size_t k = 0; k < 4; ++k) bytes[4 * i + k] = static_cast<std::byte>(bits >> (8 * k));
  }
  return bytes;
}

std::vector<std::byte> TextBytes(std::size_t size) {
  const std::string_view text =
      R"({"hidden_size": 64, "num_attention_heads": 4, "vocab": 32000}, )";
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(text[i % text.size()]);
  return bytes;
}

std::string Sha1Hex(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  return hex;
}

std::string Sha1Binary(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string GitObject(std::string_view type, std::string_view content) {
  return std::string(type) + ' ' + std::to_string(content.size()) + '\0' + std::string(content);
}

// Decodes a zstd frame (the payload of a zstd or bgN+zstd block) and undoes byte grouping of
// `width` bytes (planes of most significant bytes first).
std::string DecodeZstd(const std::string& payload, std::size_t width) {
  const unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  EXPECT_NE(size, ZSTD_CONTENTSIZE_ERROR);
  EXPECT_NE(size, ZSTD_CONTENTSIZE_UNKNOWN);
  std::string out(size, '\0');
  EXPECT_EQ(ZSTD_decompress(out.data(), out.size(), payload.data(), payload.size()), size);
  if (width == 0) return out;
  std::string raw(out.size(), '\0');
  const std::size_t n = out.size() / width;
  for (std::size_t plane = 0; plane < width; ++plane) {
    for (std::size_t i = 0; i < n; ++i) raw[width * i + (width - 1 - plane)] = out[plane * n + i];
  }
  return raw;
}

// One request through the data plane, run to completion on this thread.
Reply Answer(const DataPlane& plane, const http::Request& request) {
  return RunBlocking(plane.Handle(request));
}

// A block's raw bytes held in memory, handed out a few at a time, as a cache's fill read ahead
// is; or, when `fails`, a fill that failed before any of it was read.
class MemoryReader final : public BlockReader {
 public:
  MemoryReader(std::string raw, bool fails) : raw_(std::move(raw)), fails_(fails) {}

  boost::asio::awaitable<Result<http::Chunk>> Read(std::uint64_t offset,
                                                   std::uint64_t max) override {
    if (fails_) co_return Error{Errc::kUpstreamFailed, "the parent went away"};
    if (offset >= raw_.size()) co_return Error{Errc::kInternal, "read past the block"};
    const std::uint64_t size = std::min<std::uint64_t>({max, 1000, raw_.size() - offset});
    auto owner = std::make_shared<const std::string>(raw_.substr(offset, size));
    http::Chunk chunk;
    chunk.bytes = std::as_bytes(std::span(*owner));
    chunk.owner = owner;
    co_return chunk;
  }
  std::uint64_t raw_size() const override { return raw_.size(); }

 private:
  const std::string raw_;
  const bool fails_;
};

// Counts block reads, and can be told that it is not ready.
class CountingContent final : public ContentSource {
 public:
  explicit CountingContent(ContentSource& inner) : inner_(inner) {}
  boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> ListRevisions()
      override {
    co_return co_await inner_.ListRevisions();
  }
  boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> GetManifest(
      std::string model, std::string revision) override {
    co_return co_await inner_.GetManifest(std::move(model), std::move(revision));
  }
  boost::asio::awaitable<Result<StoredBlock>> GetBlock(BlockId id) override {
    ++block_reads;
    co_return co_await inner_.GetBlock(id);
  }
  Result<void> Ready() override {
    if (!ready) return Error{Errc::kUpstreamFailed, "the parent is unreachable"};
    return inner_.Ready();
  }
  // A reader of the bytes in `ahead` (a cache's fill started ahead), when it has the block.
  std::unique_ptr<BlockReader> StreamAhead(const BlockId& id) override {
    const auto found = ahead.find(id);
    if (found == ahead.end()) return nullptr;
    ++ahead_readers;
    return std::make_unique<MemoryReader>(found->second, failing_ahead.contains(id));
  }

  std::atomic<int> block_reads{0};
  std::atomic<int> ahead_readers{0};
  bool ready = true;
  std::map<BlockId, std::string> ahead;  // blocks StreamAhead has readers of
  std::set<BlockId> failing_ahead;       // whose readers fail before their first byte

 private:
  ContentSource& inner_;
};

struct TestFile {
  std::string path;
  std::string bytes;
};

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_data_plane_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto store = OpenStore(dir_);
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::make_unique<Store>(std::move(*store));

    // model.safetensors: a random "header" block (raw), BF16 weights (bg2+zstd), random bytes
    // (raw), more BF16 weights (bg2+zstd). sub/config.json: repetitive text (zstd).
    // sub/deeper/vocab.txt: one small raw block.
    header_block_ = AddBlock(RandomBytes(200, 1), 0);
    weights_block_ = AddBlock(Bf16Weights(32 * 1024, 2), 2);
    noise_block_ = AddBlock(RandomBytes(40'000, 3), 0);
    weights2_block_ = AddBlock(Bf16Weights(16 * 1024, 4), 2);
    config_block_ = AddBlock(TextBytes(3000), 0);
    vocab_block_ = AddBlock(RandomBytes(100, 5), 0);
    f32_block_ = AddBlock(F32Weights(8 * 1024, 6), 4);  // in the store, in no manifest
    ASSERT_EQ(Stored(header_block_).header().codec, Codec::kRaw);
    ASSERT_EQ(Stored(weights_block_).header().codec, Codec::kBg2Zstd);
    ASSERT_EQ(Stored(noise_block_).header().codec, Codec::kRaw);
    ASSERT_EQ(Stored(weights2_block_).header().codec, Codec::kBg2Zstd);
    ASSERT_EQ(Stored(config_block_).header().codec, Codec::kZstd);
    ASSERT_EQ(Stored(f32_block_).header().codec, Codec::kBg4Zstd);

    manifest_.model = std::string(kModel);
    manifest_.revision = "main";
    manifest_.created = "2026-11-23T12:00:00Z";
    manifest_.files.push_back(
        MakeFile("model.safetensors", "safetensors",
                 {header_block_, weights_block_, noise_block_, weights2_block_}));
    manifest_.files.back().tensors = {{"layers.0.wq", "BF16", {256, 128}, 200, 65'536, 1, 1},
                                      {"layers.0.noise", "U8", {40'000}, 65'736, 40'000, 2, 1},
                                      {"layers.0.wk", "BF16", {128, 128}, 105'736, 32'768, 3, 1}};
    manifest_.files.push_back(MakeFile("sub/config.json", "other", {config_block_}));
    manifest_.files.push_back(MakeFile("sub/deeper/vocab.txt", "other", {vocab_block_}));
    manifest_.commit = CommitOf(manifest_);
    ASSERT_TRUE(ValidateManifest(manifest_)) << ValidateManifest(manifest_).error().message;
    ASSERT_TRUE(store_->manifests->Put(manifest_));
    Manifest pr = manifest_;
    pr.revision = "refs/pr/1";
    ASSERT_TRUE(store_->manifests->Put(pr));

    Manifest other;
    other.model = "acme/other";
    other.revision = "main";
    other.created = "2026-11-24T08:00:00.5Z";
    other.files.push_back(MakeFile("config.json", "other", {vocab_block_}));
    other.commit = CommitOf(other);
    ASSERT_TRUE(store_->manifests->Put(other));

    content_ = std::make_unique<StoreContent>(*store_);
    counting_ = std::make_unique<CountingContent>(*content_);
    plane_ = std::make_unique<DataPlane>(*counting_, metrics_);
  }

  void TearDown() override {
    plane_.reset();
    counting_.reset();
    content_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  BlockId AddBlock(std::vector<std::byte> raw, std::uint8_t width) {
    const BlockId id = BlockIdOf(raw);
    std::vector<std::byte> frame;
    encoder_.Encode(raw, width, frame);
    EXPECT_TRUE(store_->blocks->Put(id, frame));
    raw_[id] = AsString(raw);
    return id;
  }

  // The block as stored, its frame read into memory.
  StoredBlock Stored(const BlockId& id) {
    StoredBlock stored = store_->blocks->Get(id).value();
    EXPECT_TRUE(stored.Load());
    return stored;
  }

  ManifestFile MakeFile(std::string path, std::string format, const std::vector<BlockId>& ids) {
    ManifestFile file;
    file.path = std::move(path);
    file.format = std::move(format);
    std::string bytes;
    for (const BlockId& id : ids) {
      file.blocks.push_back({id, bytes.size(), raw_[id].size()});
      bytes += raw_[id];
    }
    file.size = bytes.size();
    file.sha256 = Sha256Of(std::as_bytes(std::span(bytes)));
    files_[file.path] = bytes;
    return file;
  }

  static Request Make(std::string method, std::string target,
                      std::vector<http::Header> headers = {}) {
    Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.headers = std::move(headers);
    request.peer = "127.0.0.1:40000";
    return request;
  }

  Reply Get(std::string target, std::vector<http::Header> headers = {}) {
    return Answer(*plane_, Make("GET", std::move(target), std::move(headers)));
  }

  // The whole body, checked against Content-Length, or the error that ended it.
  static Result<std::string> TryDrain(Reply& reply, int* chunks = nullptr) {
    if (!reply.body) return reply.text;
    std::string body;
    while (true) {
      auto chunk = reply.body->Next();
      if (!chunk) return chunk.error();
      if (chunk->size() == 0) break;
      EXPECT_NE(chunk->owner, nullptr);
      body += testing::ChunkBytes(*chunk);
      if (chunks != nullptr) ++*chunks;
    }
    EXPECT_EQ(body.size(), reply.content_length);
    return body;
  }

  static std::string Drain(Reply& reply) {
    auto body = TryDrain(reply);
    EXPECT_TRUE(body) << body.error().message;
    return body ? *body : std::string();
  }

  static std::string Header(const Reply& reply, std::string_view name) {
    return std::string(reply.Find(name).value_or("<absent>"));
  }

  static json::value JsonOf(const Reply& reply) {
    boost::system::error_code ec;
    json::value value = json::parse(reply.text, ec);
    EXPECT_FALSE(ec) << reply.text;
    return value;
  }

  // Expects a JSON error reply {"error": code, "message": ...}.
  static void ExpectError(const Reply& reply, int status, std::string_view code,
                          std::string_view hub_code = "<absent>") {
    EXPECT_EQ(reply.status, status) << reply.text;
    const json::value body = JsonOf(reply);
    ASSERT_TRUE(body.is_object()) << reply.text;
    EXPECT_EQ(body.as_object().at("error").as_string(), code) << reply.text;
    EXPECT_FALSE(body.as_object().at("message").as_string().empty());
    EXPECT_EQ(Header(reply, "Content-Type"), "application/json");
    EXPECT_EQ(Header(reply, "X-Error-Code"), hub_code) << reply.text;
  }

  std::string ResolveTarget(std::string_view path, std::string_view revision = "main") {
    return "/" + std::string(kModel) + "/resolve/" + std::string(revision) + "/" +
           std::string(path);
  }

  std::string TreeTarget(std::string_view rest) {
    return "/api/models/" + std::string(kModel) + "/tree/" + std::string(rest);
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreContent> content_;
  std::unique_ptr<CountingContent> counting_;
  MetricsRegistry metrics_;
  std::unique_ptr<DataPlane> plane_;
  BlockEncoder encoder_;
  std::map<BlockId, std::string> raw_;
  std::map<std::string, std::string> files_;
  Manifest manifest_;
  BlockId header_block_, weights_block_, noise_block_, weights2_block_, config_block_, vocab_block_,
      f32_block_;
};

// ---- /v1/models and manifests -------------------------------------------------------------

TEST_F(DataPlaneTest, ModelsListsEveryModelWithItsRevisionsAndCommits) {
  Reply reply = Get("/v1/models");
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(reply.route, "models");
  EXPECT_EQ(Header(reply, "Content-Type"), "application/json");
  const json::value expected =
      json::parse(R"({"models":[{"model":"acme/other","revisions":[{"revision":"main","commit":")" +
                  CommitOf(store_->manifests->Get("acme/other", "main").value()).Hex() +
                  R"("}]},{"model":"acme/tiny-llama","revisions":[{"revision":"main","commit":")" +
                  manifest_.commit.Hex() + R"("},{"revision":"refs/pr/1","commit":")" +
                  manifest_.commit.Hex() + R"("}]}]})");
  EXPECT_EQ(JsonOf(reply), expected);
}

TEST_F(DataPlaneTest, ManifestByNameIsRevalidatedAndByCommitIsImmutable) {
  Reply by_name = Get("/v1/models/acme/tiny-llama/revisions/main/manifest");
  ASSERT_EQ(by_name.status, 200) << by_name.text;
  EXPECT_EQ(by_name.route, "manifest");
  EXPECT_EQ(by_name.text, ToJson(manifest_));
  EXPECT_EQ(Header(by_name, "Content-Type"), "application/json");
  EXPECT_EQ(Header(by_name, "ETag"), '"' + manifest_.commit.Hex() + '"');
  EXPECT_EQ(Header(by_name, "Cache-Control"), "public, max-age=60");

  Reply by_commit =
      Get("/v1/models/acme/tiny-llama/revisions/" + manifest_.commit.Hex() + "/manifest");
  ASSERT_EQ(by_commit.status, 200) << by_commit.text;
  auto parsed = ParseManifest(by_commit.text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->revision, manifest_.commit.Hex());
  EXPECT_EQ(parsed->files, manifest_.files);
  EXPECT_EQ(Header(by_commit, "ETag"), '"' + manifest_.commit.Hex() + '"');
  EXPECT_EQ(Header(by_commit, "Cache-Control"), kImmutable);
}

TEST_F(DataPlaneTest, ManifestWithMatchingIfNoneMatchIsNotModified) {
  const std::string etag = '"' + manifest_.commit.Hex() + '"';
  Reply reply = Get("/v1/models/acme/tiny-llama/revisions/main/manifest",
                    {{"If-None-Match", "\"other\", " + etag}});
  EXPECT_EQ(reply.status, 304);
  EXPECT_TRUE(reply.text.empty());
  EXPECT_EQ(reply.body, nullptr);
  EXPECT_EQ(Header(reply, "ETag"), etag);

  Reply stale =
      Get("/v1/models/acme/tiny-llama/revisions/main/manifest", {{"If-None-Match", "\"0000\""}});
  EXPECT_EQ(stale.status, 200);
}

TEST_F(DataPlaneTest, ManifestOfUnknownModelOrRevisionIsNotFoundWithoutHubErrorCode) {
  ExpectError(Get("/v1/models/acme/nope/revisions/main/manifest"), 404, "model_not_found");
  ExpectError(Get("/v1/models/acme/tiny-llama/revisions/nope/manifest"), 404, "revision_not_found");
  ExpectError(Get("/v1/models/acme/bad%20name/revisions/main/manifest"), 400, "bad_model_name");
}

// ---- /v1/blocks ---------------------------------------------------------------------------

TEST_F(DataPlaneTest, BlockGetReturnsRawBytesForEveryCodec) {
  for (const BlockId& id : {header_block_, weights_block_, noise_block_, config_block_}) {
    SCOPED_TRACE(NameOf(Stored(id).header().codec));
    Reply reply = Get("/v1/blocks/" + id.Hex());
    ASSERT_EQ(reply.status, 200) << reply.text;
    EXPECT_EQ(reply.route, "blocks");
    EXPECT_EQ(Drain(reply), raw_[id]);
    EXPECT_EQ(reply.content_length, raw_[id].size());
    EXPECT_EQ(Header(reply, "ETag"), '"' + id.Hex() + '"');
    EXPECT_EQ(Header(reply, "Cache-Control"), kImmutable);
    EXPECT_EQ(Header(reply, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Header(reply, "Content-Encoding"), "<absent>");
    EXPECT_EQ(Header(reply, "Content-Type"), "application/octet-stream");
  }
}

// A raw block large enough to live in a segment goes out as file regions of the segment (sent with
// sendfile), whole, ranged, and as the stored payload.
TEST_F(DataPlaneTest, ARawBlockInASegmentIsSentAsFileRegions) {
  const std::vector<std::byte> raw = RandomBytes(300 * 1024, 9);
  const BlockId id = AddBlock(raw, 0);
  ASSERT_FALSE(store_->blocks->Get(id).value().in_memory());
  for (const std::string range : {"", "bytes=1000-200999"}) {
    Reply reply =
        Get("/v1/blocks/" + id.Hex(), range.empty() ? std::vector<http::Header>{}
                                                    : std::vector<http::Header>{{"Range", range}});
    ASSERT_NE(reply.body, nullptr) << range;
    auto chunk = reply.body->Next();
    ASSERT_TRUE(chunk.has_value()) << chunk.error().message;
    ASSERT_TRUE(chunk->file.has_value()) << "no copy of the payload: " << range;
    const std::string sent = testing::ChunkBytes(*chunk);
    const std::string expected = AsString(raw);
    EXPECT_EQ(sent, range.empty() ? expected : expected.substr(1000, 200000)) << range;
  }
}

TEST_F(DataPlaneTest, BlockRangeReturnsThoseBytesOfTheRawBlock) {
  for (const BlockId& id : {weights_block_, noise_block_}) {
    Reply reply = Get("/v1/blocks/" + id.Hex(), {{"Range", "bytes=100-1099"}});
    ASSERT_EQ(reply.status, 206) << reply.text;
    EXPECT_EQ(Drain(reply), raw_[id].substr(100, 1000));
    EXPECT_EQ(Header(reply, "Content-Range"), "bytes 100-1099/" + std::to_string(raw_[id].size()));
    EXPECT_EQ(Header(reply, "Vary"), "Accept-Encoding");
  }
}

TEST_F(DataPlaneTest, BlockHeadSendsHeadersWithoutReadingTheBody) {
  Reply reply = Answer(*plane_, Make("HEAD", "/v1/blocks/" + weights_block_.Hex()));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_length, raw_[weights_block_].size());
  EXPECT_EQ(reply.body, nullptr);
  EXPECT_EQ(Header(reply, "ETag"), '"' + weights_block_.Hex() + '"');
  EXPECT_EQ(Header(reply, "Accept-Ranges"), "bytes");

  Reply encoded = Answer(*plane_, Make("HEAD", "/v1/blocks/" + weights_block_.Hex(),
                                       {{"Accept-Encoding", "x-mei-bg2-zstd"}}));
  EXPECT_EQ(encoded.status, 200);
  EXPECT_EQ(encoded.content_length, Stored(weights_block_).payload().size());
  EXPECT_EQ(Header(encoded, "Content-Encoding"), "x-mei-bg2-zstd");
  EXPECT_EQ(encoded.body, nullptr);
}

// TryHandle (the server's quick path on its I/O thread) answers a GET or HEAD of a held block
// exactly as Handle does, and leaves everything else to Handle.
TEST_F(DataPlaneTest, TryHandleAnswersHeldBlocksAsHandleDoesAndNothingElse) {
  const DataPlane origin(*content_, metrics_);  // over the store itself, as mei-origin serves
  for (const BlockId& id : {header_block_, weights_block_, noise_block_}) {
    for (const std::vector<http::Header>& headers :
         {std::vector<http::Header>{}, std::vector<http::Header>{{"Range", "bytes=10-99"}},
          std::vector<http::Header>{{"Accept-Encoding", "zstd, x-mei-bg2-zstd"}}}) {
      const http::Request request = Make("GET", "/v1/blocks/" + id.Hex(), headers);
      std::optional<Reply> quick = origin.TryHandle(request);
      ASSERT_TRUE(quick) << id.Hex();
      Reply full = Answer(origin, request);
      EXPECT_EQ(quick->status, full.status);
      EXPECT_EQ(quick->route, full.route);
      EXPECT_EQ(quick->content_length, full.content_length);
      ASSERT_EQ(quick->headers.size(), full.headers.size());
      for (std::size_t i = 0; i < full.headers.size(); ++i) {
        EXPECT_EQ(quick->headers[i].name, full.headers[i].name);
        EXPECT_EQ(quick->headers[i].value, full.headers[i].value);
      }
      EXPECT_EQ(quick->facts.block, id.Hex());
      EXPECT_EQ(Drain(*quick), Drain(full));
    }
  }
  const BlockId unknown = BlockIdOf(std::as_bytes(std::span(std::string_view("nope"))));
  for (const http::Request& request :
       {Make("GET", "/v1/blocks/" + unknown.Hex()), Make("GET", "/v1/blocks/xyz"),
        Make("POST", "/v1/blocks/" + weights_block_.Hex()), Make("GET", "/v1/models"),
        Make("GET", "/healthz")}) {
    EXPECT_FALSE(origin.TryHandle(request)) << request.method << " " << request.target;
  }
}

TEST_F(DataPlaneTest, UnknownBlockIsNotFound) {
  const BlockId unknown = BlockIdOf(std::as_bytes(std::span(std::string_view("nope"))));
  ExpectError(Get("/v1/blocks/" + unknown.Hex()), 404, "block_not_found");
}

TEST_F(DataPlaneTest, MalformedBlockIdIsBadRequest) {
  std::string upper = weights_block_.Hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& id :
       {upper, weights_block_.Hex().substr(0, 63), weights_block_.Hex() + "0", std::string(64, 'g'),
        std::string("x")}) {
    SCOPED_TRACE(id);
    ExpectError(Get("/v1/blocks/" + id), 400, "bad_block_id");
  }
}

TEST_F(DataPlaneTest, AcceptEncodingOfTheStoredCodingSendsThePayloadAsIs) {
  struct Case {
    BlockId id;
    std::string accept;
    std::string coding;
    std::size_t width;
  };
  const std::vector<Case> cases = {
      {config_block_, "zstd", "zstd", 0},
      {config_block_, "gzip, deflate, br, zstd", "zstd", 0},
      {weights_block_, "x-mei-bg2-zstd, zstd;q=0.5", "x-mei-bg2-zstd", 2},
      {weights_block_, "X-MEI-BG2-ZSTD ; q=1.0", "x-mei-bg2-zstd", 2},
      {f32_block_, "x-mei-bg2-zstd, x-mei-bg4-zstd", "x-mei-bg4-zstd", 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.accept);
    Reply reply = Get("/v1/blocks/" + c.id.Hex(), {{"Accept-Encoding", c.accept}});
    ASSERT_EQ(reply.status, 200) << reply.text;
    EXPECT_EQ(Header(reply, "Content-Encoding"), c.coding);
    EXPECT_EQ(Header(reply, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Header(reply, "ETag"), '"' + c.id.Hex() + '"');
    EXPECT_EQ(Header(reply, "Cache-Control"), kImmutable);
    const StoredBlock stored = Stored(c.id);
    EXPECT_EQ(reply.content_length, stored.payload().size());
    const std::string payload = Drain(reply);
    EXPECT_EQ(payload, AsString(stored.payload()));
    EXPECT_EQ(DecodeZstd(payload, c.width), raw_[c.id]);
  }
}

TEST_F(DataPlaneTest, RefusedOrUnlistedCodingGetsIdentity) {
  struct Case {
    BlockId id;
    std::string accept;
  };
  const std::vector<Case> cases = {
      {config_block_, "zstd;q=0"},
      {config_block_, "zstd; q=0.000, gzip"},
      {config_block_, "*"},
      {config_block_, "x-mei-bg2-zstd"},
      {weights_block_, "zstd"},
      {weights_block_, "x-mei-bg2-zstd;q=0"},
      {noise_block_, "zstd, x-mei-bg2-zstd, x-mei-bg4-zstd"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.accept);
    Reply reply = Get("/v1/blocks/" + c.id.Hex(), {{"Accept-Encoding", c.accept}});
    ASSERT_EQ(reply.status, 200) << reply.text;
    EXPECT_EQ(Header(reply, "Content-Encoding"), "<absent>");
    EXPECT_EQ(Header(reply, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Drain(reply), raw_[c.id]);
  }
}

TEST_F(DataPlaneTest, RangeWithAcceptEncodingGetsIdentityPartialContent) {
  Reply reply = Get("/v1/blocks/" + weights_block_.Hex(),
                    {{"Accept-Encoding", "x-mei-bg2-zstd"}, {"Range", "bytes=-10"}});
  ASSERT_EQ(reply.status, 206) << reply.text;
  EXPECT_EQ(Header(reply, "Content-Encoding"), "<absent>");
  EXPECT_EQ(Drain(reply), raw_[weights_block_].substr(raw_[weights_block_].size() - 10));
}

// A compressed block is held once, as its raw bytes, from the moment a reply decodes it: a client
// that asks for its stored coding meanwhile gets the raw bytes (identity is always acceptable),
// and once no reply holds the block the stored payload goes out as is again.
TEST_F(DataPlaneTest, ABlockDecodedForAnotherReplyGoesOutDecodedToAClientAskingForItsCoding) {
  const std::string target = "/v1/blocks/" + weights_block_.Hex();
  const std::vector<http::Header> stored = {{"Accept-Encoding", "x-mei-bg2-zstd"}};
  {
    Reply range = Get(target, {{"Range", "bytes=0-9"}});
    ASSERT_EQ(range.status, 206) << range.text;
    EXPECT_EQ(Drain(range), raw_[weights_block_].substr(0, 10));  // decoded; range still holds it

    Reply during = Get(target, stored);
    ASSERT_EQ(during.status, 200) << during.text;
    EXPECT_EQ(Header(during, "Content-Encoding"), "<absent>");
    EXPECT_EQ(Header(during, "Vary"), "Accept-Encoding");
    EXPECT_EQ(during.content_length, raw_[weights_block_].size());
    EXPECT_EQ(Drain(during), raw_[weights_block_]);
  }
  Reply after = Get(target, stored);
  ASSERT_EQ(after.status, 200) << after.text;
  EXPECT_EQ(Header(after, "Content-Encoding"), "x-mei-bg2-zstd");
  EXPECT_EQ(Drain(after), AsString(Stored(weights_block_).payload()));
}

TEST_F(DataPlaneTest, EncodedBlockStillAnswersIfNoneMatchWithNotModified) {
  Reply reply =
      Get("/v1/blocks/" + config_block_.Hex(),
          {{"Accept-Encoding", "zstd"}, {"If-None-Match", '"' + config_block_.Hex() + '"'}});
  EXPECT_EQ(reply.status, 304);
  EXPECT_EQ(reply.body, nullptr);
  EXPECT_EQ(Header(reply, "Vary"), "Accept-Encoding");
  EXPECT_EQ(Header(reply, "ETag"), '"' + config_block_.Hex() + '"');

  Reply identity =
      Get("/v1/blocks/" + noise_block_.Hex(), {{"If-None-Match", '"' + noise_block_.Hex() + '"'}});
  EXPECT_EQ(identity.status, 304);
}

// ---- resolve ------------------------------------------------------------------------------

TEST_F(DataPlaneTest, ResolveSendsEveryFileByteExact) {
  for (const ManifestFile& file : manifest_.files) {
    SCOPED_TRACE(file.path);
    const std::string& bytes = files_[file.path];
    Reply reply = Get(ResolveTarget(file.path));
    ASSERT_EQ(reply.status, 200) << reply.text;
    EXPECT_EQ(reply.route, "resolve");
    EXPECT_EQ(reply.content_length, bytes.size());
    EXPECT_EQ(Drain(reply), bytes);
  }
}

TEST_F(DataPlaneTest, ResolveBodyReadsOneBlockPerChunk) {
  Reply reply = Get(ResolveTarget("model.safetensors"));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(counting_->block_reads, 0);
  int chunks = 0;
  auto body = TryDrain(reply, &chunks);
  ASSERT_TRUE(body);
  EXPECT_EQ(chunks, 4);
  EXPECT_EQ(counting_->block_reads, 4);
}

TEST_F(DataPlaneTest, ResolveSendsBlocksReadAheadFromTheirReadersNotFromTheStore) {
  for (BlockId id : {header_block_, weights_block_, noise_block_, weights2_block_}) {
    counting_->ahead[id] = raw_[id];
  }
  Reply reply = Get(ResolveTarget("model.safetensors"));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(Drain(reply), files_["model.safetensors"]);
  EXPECT_EQ(counting_->ahead_readers, 4);
  EXPECT_EQ(counting_->block_reads, 0);
}

TEST_F(DataPlaneTest, AFillReadAheadThatFailedBeforeItsTurnIsTriedOnceMore) {
  for (BlockId id : {header_block_, weights_block_, noise_block_, weights2_block_}) {
    counting_->ahead[id] = raw_[id];
  }
  counting_->failing_ahead.insert(noise_block_);
  Reply reply = Get(ResolveTarget("model.safetensors"));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(Drain(reply), files_["model.safetensors"]);
  EXPECT_EQ(counting_->block_reads, 1);  // the failed one, again, from the content source
}

TEST_F(DataPlaneTest, ARangeTakesReadersAheadOnlyOfTheBlocksItReads) {
  for (BlockId id : {header_block_, weights_block_, noise_block_, weights2_block_}) {
    counting_->ahead[id] = raw_[id];
  }
  // Bytes 70000-80000: inside the third block alone.
  Reply reply = Get(ResolveTarget("model.safetensors"), {{"Range", "bytes=70000-80000"}});
  ASSERT_EQ(reply.status, 206);
  EXPECT_EQ(Drain(reply), files_["model.safetensors"].substr(70000, 10001));
  EXPECT_EQ(counting_->ahead_readers, 1);
  EXPECT_EQ(counting_->block_reads, 0);
}

TEST_F(DataPlaneTest, ResolveRangesCrossingBlockBoundariesAreByteExact) {
  const std::string& file = files_["model.safetensors"];
  // Blocks: [0,200) raw, [200,65736) bg2, [65736,105736) raw, [105736,138504) bg2.
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {{0, 0},
                                                                       {199, 200},
                                                                       {150, 70'000},
                                                                       {65'735, 65'736},
                                                                       {60'000, 110'000},
                                                                       {105'736, 138'503},
                                                                       {138'503, 138'503},
                                                                       {0, 138'503}};
  for (const auto& [first, last] : ranges) {
    SCOPED_TRACE(std::to_string(first) + "-" + std::to_string(last));
    const int reads_before = counting_->block_reads;
    Reply reply = Get(ResolveTarget("model.safetensors"),
                      {{"Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)}});
    ASSERT_EQ(reply.status, 206) << reply.text;
    EXPECT_EQ(Drain(reply), file.substr(first, last - first + 1));
    EXPECT_EQ(Header(reply, "Content-Range"), "bytes " + std::to_string(first) + "-" +
                                                  std::to_string(last) + "/" +
                                                  std::to_string(file.size()));
    // Only the blocks that overlap the range are read.
    int overlapping = 0;
    for (const ManifestBlock& block : manifest_.files[0].blocks) {
      if (block.offset <= last && block.offset + block.size > first) ++overlapping;
    }
    EXPECT_EQ(counting_->block_reads - reads_before, overlapping);
  }
}

TEST_F(DataPlaneTest, ResolveMultipleRangesGiveMultipartByteranges) {
  const std::string& file = files_["model.safetensors"];
  Reply reply = Get(ResolveTarget("model.safetensors"), {{"Range", "bytes=10-19, 65730-65740"}});
  ASSERT_EQ(reply.status, 206) << reply.text;
  const std::string content_type = Header(reply, "Content-Type");
  ASSERT_TRUE(content_type.starts_with("multipart/byteranges; boundary=")) << content_type;
  const std::string boundary = content_type.substr(content_type.find('=') + 1);
  const std::string body = Drain(reply);
  const std::string total = "/" + std::to_string(file.size());
  const std::string first_part = "--" + boundary + "\r\nContent-Type: application/octet-stream" +
                                 "\r\nContent-Range: bytes 10-19" + total + "\r\n\r\n" +
                                 file.substr(10, 10) + "\r\n--" + boundary;
  const std::string second_part = "Content-Range: bytes 65730-65740" + total + "\r\n\r\n" +
                                  file.substr(65'730, 11) + "\r\n--" + boundary + "--";
  EXPECT_NE(body.find(first_part), std::string::npos);
  EXPECT_NE(body.find(second_part), std::string::npos);
}

TEST_F(DataPlaneTest, ResolveSuffixRangeGivesTheLastBytes) {
  const std::string& file = files_["model.safetensors"];
  Reply reply = Get(ResolveTarget("model.safetensors"), {{"Range", "bytes=-40000"}});
  ASSERT_EQ(reply.status, 206);
  EXPECT_EQ(Drain(reply), file.substr(file.size() - 40'000));
}

TEST_F(DataPlaneTest, ResolveUnsatisfiableRangeIs416) {
  Reply reply = Get(ResolveTarget("sub/config.json"), {{"Range", "bytes=5000-"}});
  EXPECT_EQ(reply.status, 416);
  EXPECT_EQ(Header(reply, "Content-Range"), "bytes */3000");
}

TEST_F(DataPlaneTest, ResolveHeadGivesHubHeadersWithoutReadingBlocks) {
  const ManifestFile& file = manifest_.files[0];
  Reply reply = Answer(*plane_, Make("HEAD", ResolveTarget("model.safetensors")));
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(reply.body, nullptr);
  EXPECT_EQ(reply.content_length, file.size);
  const std::string etag = '"' + file.sha256.Hex() + '"';
  EXPECT_EQ(Header(reply, "ETag"), etag);
  EXPECT_EQ(Header(reply, "X-Linked-Etag"), etag);
  EXPECT_EQ(Header(reply, "X-Linked-Size"), std::to_string(file.size));
  EXPECT_EQ(Header(reply, "X-Repo-Commit"), manifest_.commit.Hex());
  EXPECT_EQ(Header(reply, "Accept-Ranges"), "bytes");
  EXPECT_EQ(Header(reply, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(Header(reply, "Cache-Control"), "public, max-age=60");
  EXPECT_EQ(counting_->block_reads, 0);
}

TEST_F(DataPlaneTest, ResolveByCommitIsImmutable) {
  Reply reply = Get(ResolveTarget("sub/config.json", manifest_.commit.Hex()));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(Header(reply, "Cache-Control"), kImmutable);
  EXPECT_EQ(Drain(reply), files_["sub/config.json"]);
}

TEST_F(DataPlaneTest, ResolveEncodedRevisionWithSlashes) {
  Reply reply = Get(ResolveTarget("sub/config.json", "refs%2Fpr%2F1"));
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(Header(reply, "X-Repo-Commit"), manifest_.commit.Hex());
  EXPECT_EQ(Drain(reply), files_["sub/config.json"]);
}

TEST_F(DataPlaneTest, ResolveIfNoneMatchIsNotModifiedAndIfRangeMismatchSendsEverything) {
  const std::string etag = '"' + manifest_.files[0].sha256.Hex() + '"';
  Reply not_modified = Get(ResolveTarget("model.safetensors"), {{"If-None-Match", etag}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.body, nullptr);
  EXPECT_EQ(Header(not_modified, "X-Repo-Commit"), manifest_.commit.Hex());

  Reply full =
      Get(ResolveTarget("model.safetensors"), {{"Range", "bytes=0-9"}, {"If-Range", "\"stale\""}});
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(Drain(full), files_["model.safetensors"]);

  Reply partial =
      Get(ResolveTarget("model.safetensors"), {{"Range", "bytes=0-9"}, {"If-Range", etag}});
  ASSERT_EQ(partial.status, 206);
  EXPECT_EQ(Drain(partial), files_["model.safetensors"].substr(0, 10));
}

TEST_F(DataPlaneTest, ResolveOfUnknownThingsIsNotFoundWithHubErrorCodes) {
  ExpectError(Get("/acme/nope/resolve/main/config.json"), 404, "model_not_found", "RepoNotFound");
  ExpectError(Get(ResolveTarget("config.json", "v9")), 404, "revision_not_found",
              "RevisionNotFound");
  ExpectError(Get(ResolveTarget("nope.bin")), 404, "file_not_found", "EntryNotFound");
  ExpectError(Get(ResolveTarget("sub")), 404, "file_not_found", "EntryNotFound");
}

TEST_F(DataPlaneTest, ResolveBodyEndsWithAnErrorWhenABlockIsGone) {
  Reply reply = Get(ResolveTarget("model.safetensors"));
  ASSERT_EQ(reply.status, 200);
  ASSERT_TRUE(store_->blocks->Delete(noise_block_).value());
  auto first = reply.body->Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(AsString(first->bytes), raw_[header_block_]);
  auto second = reply.body->Next();
  ASSERT_TRUE(second);
  auto third = reply.body->Next();
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, Errc::kBlockNotFound);
}

TEST_F(DataPlaneTest, TraversalAndMalformedPathsAreBadRequests) {
  struct Case {
    std::string target;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"/acme/tiny-llama/resolve/main/../config.json", "bad_path"},
      {"/acme/tiny-llama/resolve/main/sub/../../x", "bad_path"},
      {"/acme/tiny-llama/resolve/main/%2e%2e/x", "bad_path"},
      {"/acme/tiny-llama/resolve/main/%2E%2E/x", "bad_path"},
      {"/acme/tiny-llama/resolve/main/sub/%2e", "bad_path"},
      {"/acme/tiny-llama/resolve/main//etc/passwd", "bad_path"},
      {"/acme/tiny-llama/resolve/main/%2Fetc%2Fpasswd", "bad_path"},
      {"/acme/tiny-llama/resolve/main/sub%2Fconfig.json", "bad_path"},
      {"/acme/tiny-llama/resolve/main/a%2Fb", "bad_path"},
      {"/acme/tiny-llama/resolve/main/a%5Cb", "bad_path"},
      {"/acme/tiny-llama/resolve/main/a%00b", "bad_path"},
      {"/acme/tiny-llama/resolve/main/%zz", "bad_request"},
      {"/acme/tiny-llama/resolve/main/a%2", "bad_request"},
      {"/acme/tiny-llama/resolve/..%2F..%2Fmain/x", "bad_request"},
      {"/acme%2Fx/tiny-llama/resolve/main/config.json", "bad_model_name"},
      {"/.acme/tiny-llama/resolve/main/config.json", "bad_model_name"},
      {"/v1/blocks/..", "bad_path"},
      {"/api/models/acme/tiny-llama/tree/main/%2e%2e", "bad_path"},
      {"/api/models/acme/tiny-llama/tree/main/sub%2F..%2F..", "bad_path"},
      {"/api/models/acme/tiny-llama/tree/main/%2Fsub", "bad_path"},
      {"relative/path", "bad_request"},
      // Not UTF-8: an overlong '.', a stray byte, raw bytes, a surrogate.
      {"/acme/tiny-llama/resolve/main/%c0%ae%c0%ae/config.json", "bad_path"},
      {"/acme/tiny-llama/resolve/main/%ff", "bad_path"},
      {"/acme/tiny-llama/resolve/main/\xfe\xff", "bad_path"},
      {"/acme/tiny-ll%e9ama/resolve/main/config.json", "bad_path"},
      {"/v1/blocks/%ed%a0%80", "bad_path"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    Reply reply = Get(c.target);
    EXPECT_EQ(reply.status, 400) << reply.text;
    const json::value body = JsonOf(reply);
    EXPECT_EQ(body.at("error").as_string(), c.code) << reply.text;
  }
  EXPECT_EQ(counting_->block_reads, 0);
}

TEST_F(DataPlaneTest, AnUnknownTargetIsQuotedInValidJsonEvenWithInvalidUtf8) {
  Reply reply = Get("/nothing?\xff\xfe=1");
  ExpectError(reply, 404, "file_not_found");
  const json::value body = JsonOf(reply);
  ASSERT_TRUE(body.is_object());
  EXPECT_NE(
      std::string_view(body.at("message").as_string()).find("/nothing?\xEF\xBF\xBD\xEF\xBF\xBD=1"),
      std::string_view::npos)
      << reply.text;
}

TEST_F(DataPlaneTest, OtherMethodsAreNotAllowed) {
  for (const std::string& target :
       {std::string("/v1/models"), "/v1/blocks/" + weights_block_.Hex(),
        ResolveTarget("sub/config.json"), std::string("/api/models/acme/tiny-llama"),
        std::string("/healthz"), std::string("/metrics")}) {
    SCOPED_TRACE(target);
    Reply reply = Answer(*plane_, Make("POST", target));
    ExpectError(reply, 405, "method_not_allowed");
    EXPECT_EQ(Header(reply, "Allow"), "GET, HEAD");
  }
  Reply reply = Answer(*plane_, Make("DELETE", "/api/models/acme/tiny-llama/paths-info/main"));
  ExpectError(reply, 405, "method_not_allowed");
  EXPECT_EQ(Header(reply, "Allow"), "POST");
}

TEST_F(DataPlaneTest, UnknownRouteIsNotFound) {
  for (const char* target : {"/", "/v1", "/v1/blocks", "/v2/models", "/acme/tiny-llama",
                             "/acme/tiny-llama/blob/main/x", "/api/models/a/b/c"}) {
    SCOPED_TRACE(target);
    Reply reply = Get(target);
    ExpectError(reply, 404, "file_not_found");
    EXPECT_EQ(reply.route, "other");
  }
}

TEST_F(DataPlaneTest, ServedByIsOnEveryReplyWhenConfigured) {
  DataPlane plane(*counting_, metrics_, {.served_by = "edge-7"});
  for (const char* target : {"/v1/models", "/healthz", "/nope", "/v1/blocks/x"}) {
    EXPECT_EQ(Header(Answer(plane, Make("GET", target)), "X-Served-By"), "edge-7") << target;
  }
  EXPECT_EQ(Header(Get("/healthz"), "X-Served-By"), "<absent>");
}

// ---- Hub API ------------------------------------------------------------------------------

TEST_F(DataPlaneTest, ModelInfoListsSiblingsWithBlobIds) {
  for (const char* target :
       {"/api/models/acme/tiny-llama", "/api/models/acme/tiny-llama/revision/main",
        "/api/models/acme/tiny-llama/revision/HEAD"}) {
    SCOPED_TRACE(target);
    Reply reply = Get(target);
    ASSERT_EQ(reply.status, 200) << reply.text;
    EXPECT_EQ(reply.route, "hub_api");
    const json::object info = JsonOf(reply).as_object();
    EXPECT_EQ(info.at("id").as_string(), kModel);
    EXPECT_EQ(info.at("modelId").as_string(), kModel);
    EXPECT_EQ(info.at("sha").as_string(), manifest_.commit.Hex());
    EXPECT_EQ(info.at("_id").as_string(), manifest_.commit.Hex());
    EXPECT_EQ(info.at("lastModified").as_string(), "2026-11-23T12:00:00.000Z");
    EXPECT_EQ(info.at("private").as_bool(), false);
    EXPECT_EQ(info.at("gated").as_bool(), false);
    EXPECT_EQ(info.at("library_name").as_string(), "transformers");
    const json::array& siblings = info.at("siblings").as_array();
    ASSERT_EQ(siblings.size(), manifest_.files.size());
    for (std::size_t i = 0; i < siblings.size(); ++i) {
      const ManifestFile& file = manifest_.files[i];
      const json::object& sibling = siblings[i].as_object();
      EXPECT_EQ(sibling.at("rfilename").as_string(), file.path);
      EXPECT_EQ(sibling.at("size").to_number<std::uint64_t>(), file.size);
      EXPECT_EQ(sibling.at("blobId").as_string(),
                Sha1Hex(GitObject("blob", http::internal::LfsPointer(file))));
    }
  }
}

TEST_F(DataPlaneTest, ModelInfoByCommitAndWithoutSafetensorsHasNoLibraryName) {
  Reply by_commit = Get("/api/models/acme/tiny-llama/revision/" + manifest_.commit.Hex());
  ASSERT_EQ(by_commit.status, 200);
  EXPECT_EQ(JsonOf(by_commit).at("sha").as_string(), manifest_.commit.Hex());

  Reply other = Get("/api/models/acme/other");
  ASSERT_EQ(other.status, 200);
  EXPECT_EQ(JsonOf(other).as_object().if_contains("library_name"), nullptr);
  EXPECT_EQ(JsonOf(other).at("lastModified").as_string(), "2026-11-24T08:00:00.5Z");
}

TEST_F(DataPlaneTest, ModelInfoOfUnknownModelOrRevisionCarriesHubErrorCode) {
  ExpectError(Get("/api/models/acme/nope"), 404, "model_not_found", "RepoNotFound");
  ExpectError(Get("/api/models/acme/tiny-llama/revision/v9"), 404, "revision_not_found",
              "RevisionNotFound");
}

TEST_F(DataPlaneTest, LfsPointerOidIsTheGitBlobIdOfThePointerText) {
  const ManifestFile& file = manifest_.files[1];
  const std::string pointer =
      "version https://git-lfs.github.com/spec/v1\noid sha256:" + file.sha256.Hex() +
      "\nsize 3000\n";
  EXPECT_EQ(http::internal::LfsPointer(file), pointer);
  EXPECT_EQ(http::internal::HexOf(http::internal::LfsPointerOid(file)),
            Sha1Hex("blob " + std::to_string(pointer.size()) + std::string(1, '\0') + pointer));
  // Known values from `git hash-object` and git's empty tree.
  EXPECT_EQ(http::internal::HexOf(http::internal::GitObjectId("blob", "hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(http::internal::HexOf(http::internal::GitTreeOid(Manifest{}, "")),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

TEST_F(DataPlaneTest, TreeOfRootListsFilesAndImmediateDirectories) {
  Reply reply = Get(TreeTarget("main"));
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(reply.route, "hub_api");
  const json::array entries = JsonOf(reply).as_array();
  ASSERT_EQ(entries.size(), 2u) << reply.text;

  const ManifestFile& weights = manifest_.files[0];
  const std::string pointer = http::internal::LfsPointer(weights);
  const json::value expected_file = {
      {"type", "file"},
      {"oid", Sha1Hex(GitObject("blob", pointer))},
      {"size", weights.size},
      {"path", "model.safetensors"},
      {"lfs",
       {{"oid", weights.sha256.Hex()}, {"size", weights.size}, {"pointerSize", pointer.size()}}}};
  EXPECT_EQ(entries[0], expected_file);

  // The directory's oid is the git tree of the pointer files below it.
  auto entry = [](std::string_view mode, std::string_view name, const std::string& sha1) {
    return std::string(mode) + ' ' + std::string(name) + '\0' + sha1;
  };
  const std::string vocab_blob =
      Sha1Binary(GitObject("blob", http::internal::LfsPointer(manifest_.files[2])));
  const std::string config_blob =
      Sha1Binary(GitObject("blob", http::internal::LfsPointer(manifest_.files[1])));
  const std::string deeper_tree =
      Sha1Binary(GitObject("tree", entry("100644", "vocab.txt", vocab_blob)));
  const std::string sub_tree = GitObject(
      "tree", entry("100644", "config.json", config_blob) + entry("40000", "deeper", deeper_tree));
  const json::value expected_directory = {
      {"type", "directory"}, {"oid", Sha1Hex(sub_tree)}, {"size", 0}, {"path", "sub"}};
  EXPECT_EQ(entries[1], expected_directory);
}

TEST_F(DataPlaneTest, RecursiveTreeListsEveryFileAndDirectoryBelow) {
  for (const char* query : {"?recursive=true", "?recursive=1", "?recursive=True&expand=false"}) {
    SCOPED_TRACE(query);
    Reply reply = Get(TreeTarget("main") + query);
    ASSERT_EQ(reply.status, 200) << reply.text;
    std::vector<std::string> listed;
    const json::value entries = JsonOf(reply);
    for (const json::value& entry : entries.as_array()) {
      listed.push_back(std::string(entry.at("type").as_string()) + " " +
                       std::string(entry.at("path").as_string()));
    }
    EXPECT_EQ(listed, (std::vector<std::string>{"file model.safetensors", "directory sub",
                                                "file sub/config.json", "directory sub/deeper",
                                                "file sub/deeper/vocab.txt"}));
  }
}

TEST_F(DataPlaneTest, TreeOfSubdirectoryListsItsChildren) {
  for (const std::string& target : {TreeTarget("main/sub"), TreeTarget("main/sub/"),
                                    TreeTarget(manifest_.commit.Hex() + "/sub?recursive=false")}) {
    SCOPED_TRACE(target);
    Reply reply = Get(target);
    ASSERT_EQ(reply.status, 200) << reply.text;
    const json::array entries = JsonOf(reply).as_array();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].at("path").as_string(), "sub/config.json");
    EXPECT_EQ(entries[0].at("size").to_number<std::uint64_t>(), 3000u);
    EXPECT_EQ(entries[1].at("path").as_string(), "sub/deeper");
    EXPECT_EQ(entries[1].at("type").as_string(), "directory");
  }
  // huggingface_hub sends the directory as one segment with '/' encoded.
  Reply encoded = Get(TreeTarget("main/sub%2Fdeeper"));
  ASSERT_EQ(encoded.status, 200) << encoded.text;
  ASSERT_EQ(encoded.text.find("sub/deeper/vocab.txt") != std::string::npos, true);
}

TEST_F(DataPlaneTest, TreeOfUnknownDirectoryIsEntryNotFound) {
  ExpectError(Get(TreeTarget("main/nope")), 404, "file_not_found", "EntryNotFound");
  ExpectError(Get(TreeTarget("main/sub/config.json")), 404, "file_not_found", "EntryNotFound");
  ExpectError(Get(TreeTarget("v9")), 404, "revision_not_found", "RevisionNotFound");
}

TEST_F(DataPlaneTest, PathsInfoAnswersJsonAndFormBodies) {
  Request json_request = Make("POST", "/api/models/acme/tiny-llama/paths-info/main",
                              {{"Content-Type", "application/json"}});
  json_request.body = R"({"paths":["sub/config.json","nope","sub"],"expand":true})";
  Reply reply = Answer(*plane_, json_request);
  ASSERT_EQ(reply.status, 200) << reply.text;
  const json::array entries = JsonOf(reply).as_array();
  ASSERT_EQ(entries.size(), 2u) << reply.text;
  EXPECT_EQ(entries[0].at("path").as_string(), "sub/config.json");
  EXPECT_EQ(entries[0].at("lfs").at("oid").as_string(), manifest_.files[1].sha256.Hex());
  EXPECT_EQ(entries[0].at("lastCommit").at("id").as_string(), manifest_.commit.Hex());
  EXPECT_EQ(entries[1].at("type").as_string(), "directory");

  Request form = Make("POST", "/api/models/acme/tiny-llama/paths-info/main",
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
  form.body = "paths=model.safetensors&paths=sub%2Fdeeper%2Fvocab.txt&expand=False";
  Reply form_reply = Answer(*plane_, form);
  ASSERT_EQ(form_reply.status, 200) << form_reply.text;
  const json::array form_entries = JsonOf(form_reply).as_array();
  ASSERT_EQ(form_entries.size(), 2u);
  EXPECT_EQ(form_entries[1].at("path").as_string(), "sub/deeper/vocab.txt");
  EXPECT_EQ(form_entries[1].as_object().if_contains("lastCommit"), nullptr);

  Request broken = json_request;
  broken.body = "{not json";
  ExpectError(Answer(*plane_, broken), 400, "bad_request");
}

// ---- health and metrics -------------------------------------------------------------------

TEST_F(DataPlaneTest, HealthAndReadiness) {
  Reply health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.route, "health");
  EXPECT_EQ(JsonOf(health).at("status").as_string(), "ok");

  EXPECT_EQ(Get("/readyz").status, 200);
  counting_->ready = false;
  Reply not_ready = Get("/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(JsonOf(not_ready).at("error").as_string(), "upstream_failed");
}

TEST_F(DataPlaneTest, MetricsRenderDeclaredFamiliesAndRecordedExchanges) {
  Request request = Make("GET", "/v1/blocks/x");
  http::Exchange exchange;
  exchange.request = &request;
  exchange.status = 206;
  exchange.route = "blocks";
  exchange.bytes_sent = 4096;
  exchange.complete = true;
  exchange.seconds = 0.002;
  RecordExchange(metrics_, exchange);
  RecordExchange(metrics_, exchange);

  Reply reply = Get("/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.route, "metrics");
  EXPECT_EQ(Header(reply, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const std::string_view line :
       {"# TYPE mei_http_requests_total counter\n", "# TYPE mei_http_sent_bytes_total counter\n",
        "# TYPE mei_http_request_duration_seconds histogram\n",
        "mei_http_requests_total{route=\"blocks\",status=\"206\"} 2\n",
        "mei_http_sent_bytes_total{route=\"blocks\"} 8192\n",
        "mei_http_request_duration_seconds_bucket{route=\"blocks\",le=\"0.0025\"} 2\n",
        "mei_http_request_duration_seconds_count{route=\"blocks\"} 2\n"}) {
    EXPECT_NE(reply.text.find(line), std::string::npos) << line << "\n" << reply.text;
  }
}

TEST(DataPlaneMetricsTest, RecordExchangeWorksWithoutADataPlane) {
  MetricsRegistry metrics;
  http::Exchange exchange;
  exchange.status = 200;
  exchange.route = "admin";
  RecordExchange(metrics, exchange);
  EXPECT_NE(metrics.Render().find("mei_http_requests_total{route=\"admin\",status=\"200\"} 1\n"),
            std::string::npos);
}

// ---- helpers ------------------------------------------------------------------------------

TEST(DataPlanePathTest, SegmentsAreDecodedOneByOne) {
  auto target = http::ParseTarget("/a/b%2Fc/%41%62?x=%2F&recursive=1");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->segments, (std::vector<std::string>{"a", "b/c", "Ab"}));
  EXPECT_EQ(target->query, "x=%2F&recursive=1");
  EXPECT_EQ(http::QueryValue(target->query, "x"), "/");
  EXPECT_EQ(http::QueryValue(target->query, "y"), std::nullopt);
  EXPECT_TRUE(http::ParseTarget("/").value().segments.empty());
  EXPECT_EQ(http::ParseTarget("/a/").value().segments, (std::vector<std::string>{"a"}));
  EXPECT_EQ(http::ParseTarget("/a//b").error().code, Errc::kBadPath);
  EXPECT_EQ(http::ParseTarget("/a/%2e").error().code, Errc::kBadPath);
  EXPECT_EQ(http::ParseTarget("/a/%g0").error().code, Errc::kBadRequest);
  // Segments must be UTF-8 once decoded (RFC 3629): no overlong forms, surrogates or stray bytes.
  EXPECT_EQ(http::ParseTarget("/caf%C3%A9/\xE2\x82\xAC").value().segments,
            (std::vector<std::string>{"caf\xC3\xA9", "\xE2\x82\xAC"}));
  for (const char* target : {"/a/%c0%ae", "/a/%e0%80%ae", "/a/%ed%a0%80", "/a/%f4%90%80%80",
                             "/a/%80", "/a/%c3", "/a/\xff", "/%fe/a"}) {
    SCOPED_TRACE(target);
    auto parsed = http::ParseTarget(target);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, Errc::kBadPath);
  }
}

TEST(DataPlaneAcceptEncodingTest, CodingsWithQValues) {
  using http::internal::AcceptsCoding;
  EXPECT_TRUE(AcceptsCoding("zstd", "zstd"));
  EXPECT_TRUE(AcceptsCoding("gzip,zstd;q=0.001", "zstd"));
  EXPECT_TRUE(AcceptsCoding(" ZSTD ; Q=1 ", "zstd"));
  EXPECT_FALSE(AcceptsCoding("zstd;q=0", "zstd"));
  EXPECT_FALSE(AcceptsCoding("zstd;q=0.00", "zstd"));
  EXPECT_FALSE(AcceptsCoding("zstd;q=bogus", "zstd"));
  EXPECT_FALSE(AcceptsCoding("zstdx, xzstd", "zstd"));
  EXPECT_FALSE(AcceptsCoding("*", "zstd"));
  EXPECT_FALSE(AcceptsCoding("", "zstd"));
}

}  // namespace
}  // namespace mei
