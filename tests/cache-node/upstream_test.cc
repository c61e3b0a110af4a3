#include "cache-node/upstream.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/http/data_plane.h"
#include "common/http/server.h"
#include "common/run_blocking.h"
#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::Bf16Weights;
using testing::kModel;
using testing::RandomBytes;
using testing::TextBytes;

class UpstreamTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    raw_block_ = AddBlock(RandomBytes(3000, 1));
    zstd_block_ = AddBlock(TextBytes(4000));
    bg2_block_ = AddBlock(Bf16Weights(8 * 1024, 2), 2);
    manifest_ = AddModel(kModel, "main", {{"model.bin", {raw_block_, bg2_block_}}});
  }

  void TearDown() override {
    rewriting_.reset();
    UpstreamFixture::TearDown();
  }

  // The upstream store's data plane behind a handler that rewrites every reply with `rewrite`.
  Upstream StartRewriting(std::function<void(http::Reply&)> rewrite) {
    content_ = std::make_unique<StoreContent>(*upstream_store_);
    plane_ = std::make_unique<DataPlane>(*content_, metrics_);
    auto server = http::Server::Start({}, [this, rewrite](const http::Request& request) {
      http::Reply reply = RunBlocking(plane_->Handle(request));
      rewrite(reply);
      return reply;
    });
    EXPECT_TRUE(server) << server.error().message;
    rewriting_ = std::move(*server);
    return Upstream{"rewriting", "http://" + rewriting_->endpoint()};
  }

  Upstream Parent(mei::testing::TestUpstream& upstream) const {
    return Upstream{"parent", upstream.Url()};
  }

  // What the stored frame of `id` decodes to, verified like FetchBlockFrame's caller would.
  static std::vector<std::byte> Decode(const std::vector<std::byte>& frame) {
    BlockDecoder decoder;
    std::vector<std::byte> raw;
    auto decoded = decoder.Decode(frame, raw);
    EXPECT_TRUE(decoded) << decoded.error().message;
    return raw;
  }

  struct CodecCase {
    const char* name;
    BlockId id;
    Codec codec;  // how the frame travelled and is to be stored
  };
  std::vector<CodecCase> CodecCases() const {
    return {{"raw", raw_block_, Codec::kRaw},
            {"zstd", zstd_block_, Codec::kZstd},
            {"bg2_zstd", bg2_block_, Codec::kBg2Zstd}};
  }

  BlockId raw_block_, zstd_block_, bg2_block_;
  Manifest manifest_;
  MetricsRegistry metrics_;
  std::unique_ptr<StoreContent> content_;
  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<http::Server> rewriting_;  // last: stopped first
};

TEST_F(UpstreamTest, FetchBlockFrameReturnsTheStoredCodingVerifiedForEveryCodec) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    const BlockId& id = c.id;
    auto frame = FetchBlockFrame(Parent(upstream), id, fetch_);
    ASSERT_TRUE(frame) << frame.error().message;
    auto view = ParseFrame(*frame);
    ASSERT_TRUE(view) << view.error().message;
    EXPECT_EQ(view->header.codec, c.codec);
    EXPECT_EQ(view->header.raw_size, raw_.at(id).size());
    const std::vector<std::byte> raw = Decode(*frame);
    EXPECT_EQ(BlockIdOf(raw), id);
    EXPECT_EQ(raw, raw_.at(id));
  }
  EXPECT_EQ(upstream.block_requests_from("node-a"), CodecCases().size());
}

TEST_F(UpstreamTest, FetchBlockFrameOfACorruptedReplyIsAnIntegrityError) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  upstream.CorruptBlocks(true);
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    auto frame = FetchBlockFrame(Parent(upstream), c.id, fetch_);
    ASSERT_FALSE(frame);
    EXPECT_EQ(frame.error().code, Errc::kIntegrity) << frame.error().message;
  }
}

TEST_F(UpstreamTest, FetchBlockFrameOfABlockTheUpstreamLacksIsBlockNotFound) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  auto frame = FetchBlockFrame(Parent(upstream), MissingBlock(), fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kBlockNotFound) << frame.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameOfAServerErrorIsUpstreamFailed) {
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    reply = http::Reply::FromError(Error{Errc::kStorage, "the disk is on fire"});
  });
  auto frame = FetchBlockFrame(upstream, raw_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameOfAnEncodedReplyWithoutRawSizeIsUpstreamFailed) {
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    std::erase_if(reply.headers, [](const http::Header& header) {
      return http::EqualsIgnoreCase(header.name, "X-Mei-Raw-Size");
    });
  });
  auto frame = FetchBlockFrame(upstream, bg2_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  // A raw reply needs no raw size: its length is the raw size.
  auto raw = FetchBlockFrame(upstream, raw_block_, fetch_);
  EXPECT_TRUE(raw) << raw.error().message;
}

TEST_F(UpstreamTest, FetchBlockFrameRefusesAnAnnouncedRawSizeNoBlockCanHave) {
  // An upstream that claims 2 GiB for a small zstd payload must not make the node allocate it.
  const Upstream upstream = StartRewriting([](http::Reply& reply) {
    for (http::Header& header : reply.headers) {
      if (http::EqualsIgnoreCase(header.name, "X-Mei-Raw-Size")) header.value = "2147483648";
    }
  });
  auto frame = FetchBlockFrame(upstream, bg2_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  EXPECT_NE(frame.error().message.find("more than a block can hold"), std::string::npos);
}

TEST_F(UpstreamTest, FetchFromAnUnreachableUpstreamIsUpstreamFailed) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  const Upstream parent = Parent(upstream);
  upstream.Stop();
  auto frame = FetchBlockFrame(parent, raw_block_, fetch_);
  ASSERT_FALSE(frame);
  EXPECT_EQ(frame.error().code, Errc::kUpstreamFailed) << frame.error().message;
  auto manifest = FetchManifest(parent, kModel, "main", fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kUpstreamFailed) << manifest.error().message;
}

TEST_F(UpstreamTest, FetchManifestByNameOrCommitReturnsTheCheckedManifest) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const std::string& revision : {std::string("main"), manifest_.commit.Hex()}) {
    SCOPED_TRACE(revision);
    auto manifest = FetchManifest(Parent(upstream), kModel, revision, fetch_);
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->commit, manifest_.commit);
    EXPECT_EQ(manifest->files, manifest_.files);
  }
}

TEST_F(UpstreamTest, FetchManifestPassesTheUpstreamsNotFoundCodeThrough) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  for (const NotFoundCase& c : NotFoundCases()) {
    SCOPED_TRACE(c.model + "@" + c.revision);
    auto manifest = FetchManifest(Parent(upstream), c.model, c.revision, fetch_);
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().code, c.code) << manifest.error().message;
  }
}

TEST_F(UpstreamTest, FetchManifestOfAnotherCommitThanAskedIsBadManifest) {
  Manifest other = manifest_;
  other.created = "2026-11-24T12:00:00Z";
  other.commit = CommitOf(other);
  ASSERT_NE(other.commit, manifest_.commit);
  const std::string other_json = ToJson(other);
  const Upstream upstream = StartRewriting([&other_json](http::Reply& reply) {
    if (reply.route == "manifest") reply = http::Reply::Json(200, other_json);
  });
  auto manifest = FetchManifest(upstream, kModel, manifest_.commit.Hex(), fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kBadManifest) << manifest.error().message;
}

TEST_F(UpstreamTest, FetchManifestOfAnotherModelThanAskedIsBadManifest) {
  Manifest other = manifest_;
  other.model = "acme/other";
  other.commit = CommitOf(other);
  const std::string other_json = ToJson(other);
  const Upstream upstream = StartRewriting([&other_json](http::Reply& reply) {
    if (reply.route == "manifest") reply = http::Reply::Json(200, other_json);
  });
  auto manifest = FetchManifest(upstream, kModel, "main", fetch_);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kBadManifest) << manifest.error().message;
}

// Regression: FetchManifest took every 64-byte revision for a commit, while the store and
// ValidateRevisionName take only 64 lowercase hex digits for one.
TEST_F(UpstreamTest, FetchManifestOfA64CharacterRevisionNameThatIsNoCommitWorks) {
  const std::string name(64, 'x');  // a valid revision name, not 64 hex digits
  const Manifest named = AddModel(kModel, name, {{"model.bin", {raw_block_, bg2_block_}}});
  mei::testing::TestUpstream& upstream = StartUpstream();
  auto manifest = FetchManifest(Parent(upstream), kModel, name, fetch_);
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->commit, named.commit);
}

TEST(UpstreamHealthTest, ThreeConsecutiveFailuresMakeAnUpstreamUnreachableUntilASuccess) {
  UpstreamHealth health;
  EXPECT_TRUE(health.Reachable("parent"));  // never seen
  const Error failure{Errc::kUpstreamFailed, "connection refused"};
  const struct {
    bool ok;
    std::uint64_t successes, failures, consecutive;
    bool reachable;
  } steps[] = {
      {false, 0, 1, 1, true},  {false, 0, 2, 2, true}, {false, 0, 3, 3, false},
      {false, 0, 4, 4, false}, {true, 1, 4, 0, true},  {false, 1, 5, 1, true},
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    health.Record("parent", steps[i].ok ? Result<void>{} : Result<void>{failure});
    const UpstreamHealth::Entry entry = health.Snapshot().at("parent");
    EXPECT_EQ(entry.successes, steps[i].successes);
    EXPECT_EQ(entry.failures, steps[i].failures);
    EXPECT_EQ(entry.consecutive_failures, steps[i].consecutive);
    EXPECT_EQ(entry.last_error, steps[i].ok ? "" : "connection refused");
    EXPECT_EQ(health.Reachable("parent"), steps[i].reachable);
  }
  EXPECT_EQ(health.Snapshot().size(), 1u);
  EXPECT_TRUE(health.Reachable("peer:b"));
}

TEST(UpstreamHealthTest, ReachableHonoursTheGivenThreshold) {
  UpstreamHealth health;
  health.Record("parent", Error{Errc::kUpstreamTimeout, "timed out"});
  EXPECT_FALSE(health.Reachable("parent", 1));
  EXPECT_TRUE(health.Reachable("parent", 2));
}

}  // namespace
}  // namespace mei::cache_node
