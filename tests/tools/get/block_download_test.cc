#include "tools/get/block_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/codec.h"
#include "tests/tools/get/download_fixture.h"

namespace mei::tools {
namespace {

using mei::testing::TestUpstream;
using testing::Bf16Weights;
using testing::RandomBytes;
using testing::TextBytes;

class BlockDownloadTest : public testing::DownloadFixture {
 protected:
  // `count` blocks of repetitive text (stored zstd, so they travel smaller than raw), each of a
  // size no block added before has, so each is new.
  std::vector<ManifestBlock> AddTextBlocks(std::size_t count) {
    std::vector<ManifestBlock> blocks;
    for (std::size_t i = 0; i < count; ++i) {
      text_size_ += 100;
      blocks.push_back({AddBlock(TextBytes(text_size_)), 0, text_size_});
    }
    return blocks;
  }

  ManifestBlock AddBlockOf(const std::vector<std::byte>& raw, std::uint8_t element_width = 0) {
    return {AddBlock(raw, element_width), 0, raw.size()};
  }

  BlockDownloadOptions Options(unsigned connections) const {
    BlockDownloadOptions options;
    options.connections = connections;
    options.retry_backoff = std::chrono::milliseconds(0);
    options.fetch = device_fetch_;
    return options;
  }

  Result<void> Download(const std::vector<ManifestBlock>& blocks, NodeFailover& nodes,
                        const BlockDownloadOptions& options) {
    return DownloadBlocks(blocks, nodes, *local_, options, progress_, stop_);
  }

  // Every block of `blocks` is in the local store and decodes to its raw bytes.
  void ExpectStoredAndVerified(const std::vector<ManifestBlock>& blocks) {
    BlockDecoder decoder;
    for (const ManifestBlock& block : blocks) {
      auto frame = local_->ReadFrame(block.id);
      ASSERT_TRUE(frame) << frame.error().message;
      std::vector<std::byte> raw;
      ASSERT_TRUE(decoder.Decode(*frame, raw));
      EXPECT_EQ(raw, raw_.at(block.id)) << block.id.Hex();
    }
  }

  std::size_t CountStored(const std::vector<ManifestBlock>& blocks) const {
    std::size_t stored = 0;
    for (const ManifestBlock& block : blocks) stored += local_->Contains(block.id) ? 1 : 0;
    return stored;
  }

  static std::uint64_t RawBytesOf(const std::vector<ManifestBlock>& blocks) {
    std::uint64_t bytes = 0;
    for (const ManifestBlock& block : blocks) bytes += block.size;
    return bytes;
  }

  DownloadProgress progress_;
  std::atomic<bool> stop_{false};
  std::size_t text_size_ = 4000;
};

TEST_F(BlockDownloadTest, FetchesEveryBlockOnceIntoTheStoreVerified) {
  std::vector<ManifestBlock> blocks = AddTextBlocks(6);
  blocks.push_back(AddBlockOf(RandomBytes(3000, 1)));
  blocks.push_back(AddBlockOf(Bf16Weights(8 * 1024, 2), 2));
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});

  auto downloaded = Download(blocks, nodes, Options(3));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectStoredAndVerified(blocks);
  EXPECT_EQ(progress_.blocks.load(), blocks.size());
  EXPECT_EQ(progress_.raw_bytes.load(), RawBytesOf(blocks));
  for (const ManifestBlock& block : blocks) {
    EXPECT_EQ(upstream.block_requests_for(block.id), 1u) << block.id.Hex();
  }
  const NodeFailover::NodeReport report = nodes.Reports()[0];
  EXPECT_EQ(report.blocks, blocks.size());
  EXPECT_EQ(report.failures, 0u);
  EXPECT_EQ(report.wire_bytes, progress_.wire_bytes.load());
  EXPECT_TRUE(std::filesystem::is_empty(local_->root() / "tmp"));
}

TEST_F(BlockDownloadTest, CompressibleBlocksTravelCompressed) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(4);
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});

  auto downloaded = Download(blocks, nodes, Options(2));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  EXPECT_GT(progress_.wire_bytes.load(), 0u);
  EXPECT_LT(progress_.wire_bytes.load(), RawBytesOf(blocks));
  for (const ManifestBlock& block : blocks) {
    auto frame = local_->ReadFrame(block.id);
    ASSERT_TRUE(frame) << frame.error().message;
    EXPECT_EQ(*frame, UpstreamFrame(block.id));  // stored as the node stores it
  }
}

TEST_F(BlockDownloadTest, BlocksACorruptingNodeSendsAreRefusedAndFetchedFromTheNext) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(8);
  TestUpstream& corrupting = StartUpstream("corrupting");
  TestUpstream& honest = StartUpstream("honest");
  corrupting.CorruptBlocks(true);
  NodeFailover nodes({NodeOf(corrupting), NodeOf(honest)});

  auto downloaded = Download(blocks, nodes, Options(2));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectStoredAndVerified(blocks);
  EXPECT_EQ(progress_.blocks.load(), blocks.size());
  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  EXPECT_GE(reports[0].bad_blocks, 1u);
  EXPECT_EQ(reports[0].blocks, 0u);
  EXPECT_TRUE(reports[0].down);
  EXPECT_NE(reports[0].last_error, "");
  EXPECT_EQ(reports[1].blocks, blocks.size());
  EXPECT_FALSE(reports[1].down);
  // Once down, the corrupting node is asked for no more than what was in flight.
  EXPECT_LE(corrupting.block_requests(), 2u);
}

TEST_F(BlockDownloadTest, AStoppedFirstNodeIsPassedOverForTheSecond) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(5);
  TestUpstream& stopped = StartUpstream("stopped");
  TestUpstream& second = StartUpstream("second");
  stopped.Stop();
  NodeFailover nodes({NodeOf(stopped), NodeOf(second)});

  auto downloaded = Download(blocks, nodes, Options(1));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectStoredAndVerified(blocks);
  EXPECT_EQ(second.block_requests(), blocks.size());
  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  EXPECT_EQ(reports[0].blocks, 0u);
  EXPECT_EQ(reports[0].failures, NodeFailover::kFailuresToDemote);
  EXPECT_TRUE(reports[0].down);
  EXPECT_EQ(reports[1].blocks, blocks.size());
}

TEST_F(BlockDownloadTest, ABlockNoNodeCanServeFailsNamingItAfterEveryRound) {
  struct Case {
    const char* name;
    std::function<void(TestUpstream&)> spoil;  // applied to both nodes
    bool in_upstream;                          // whether the nodes hold the block at all
  };
  const std::vector<Case> cases = {
      {"corrupting_nodes", [](TestUpstream& u) { u.CorruptBlocks(true); }, true},
      {"nodes_without_it", [](TestUpstream&) {}, false},
  };
  TestUpstream& first = StartUpstream("first");
  TestUpstream& second = StartUpstream("second");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    c.spoil(first);
    c.spoil(second);
    const ManifestBlock block =
        c.in_upstream ? AddBlockOf(RandomBytes(2000, 11)) : ManifestBlock{MissingBlock(), 0, 2000};
    const std::uint64_t first_before = first.block_requests_for(block.id);
    const std::uint64_t second_before = second.block_requests_for(block.id);
    NodeFailover nodes({NodeOf(first), NodeOf(second)});
    BlockDownloadOptions options = Options(1);
    options.rounds = 3;

    auto downloaded = Download({block}, nodes, options);
    ASSERT_FALSE(downloaded);
    EXPECT_EQ(downloaded.error().code, Errc::kUpstreamFailed);
    EXPECT_NE(downloaded.error().message.find(block.id.Hex()), std::string::npos)
        << downloaded.error().message;
    EXPECT_FALSE(local_->Contains(block.id));
    EXPECT_EQ(first.block_requests_for(block.id) - first_before, 3u);
    EXPECT_EQ(second.block_requests_for(block.id) - second_before, 3u);
    first.CorruptBlocks(false);
    second.CorruptBlocks(false);
  }
}

TEST_F(BlockDownloadTest, AfterABlockNoNodeCanServeNoFurtherBlockIsTaken) {
  std::vector<ManifestBlock> blocks = {ManifestBlock{MissingBlock(), 0, 2000}};
  for (const ManifestBlock& block : AddTextBlocks(4)) blocks.push_back(block);
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});
  BlockDownloadOptions options = Options(1);
  options.rounds = 1;

  auto downloaded = Download(blocks, nodes, options);
  ASSERT_FALSE(downloaded);
  EXPECT_NE(downloaded.error().message.find(blocks[0].id.Hex()), std::string::npos);
  EXPECT_EQ(upstream.block_requests(), 1u);
  EXPECT_EQ(CountStored(blocks), 0u);
}

TEST_F(BlockDownloadTest, ConnectionsIsHowManyBlocksAreInFlightAtOnce) {
  for (const unsigned connections : {1u, 2u, 4u}) {
    SCOPED_TRACE(connections);
    const std::vector<ManifestBlock> blocks = AddTextBlocks(2 * connections + 1);
    TestUpstream& upstream = StartUpstream();
    upstream.HoldBlocks();
    NodeFailover nodes({NodeOf(upstream)});
    DownloadProgress progress;
    Result<void> downloaded = Error{Errc::kIo, "not run"};
    std::jthread download([&] {
      downloaded = DownloadBlocks(blocks, nodes, *local_, Options(connections), progress, stop_);
    });

    ASSERT_TRUE(upstream.WaitForBlockRequests(connections));
    // Every connection is waiting at the gate, and none of them is a block fetched already.
    EXPECT_EQ(upstream.block_requests(), connections);
    EXPECT_EQ(progress.blocks.load(), 0u);
    upstream.ReleaseBlocks();
    download.join();

    ASSERT_TRUE(downloaded) << downloaded.error().message;
    EXPECT_EQ(progress.blocks.load(), blocks.size());
    EXPECT_EQ(upstream.block_requests(), blocks.size());
    ExpectStoredAndVerified(blocks);
  }
}

TEST_F(BlockDownloadTest, StopEndsTheDownloadOnceTheFetchesInFlightAreStored) {
  constexpr unsigned kConnections = 3;
  const std::vector<ManifestBlock> blocks = AddTextBlocks(3 * kConnections);
  TestUpstream& upstream = StartUpstream();
  upstream.HoldBlocks();
  NodeFailover nodes({NodeOf(upstream)});
  Result<void> downloaded = Error{Errc::kIo, "not run"};
  std::jthread download([&] { downloaded = Download(blocks, nodes, Options(kConnections)); });

  ASSERT_TRUE(upstream.WaitForBlockRequests(kConnections));
  stop_.store(true);
  upstream.ReleaseBlocks();
  download.join();

  EXPECT_TRUE(downloaded) << downloaded.error().message;
  EXPECT_EQ(progress_.blocks.load(), kConnections);
  EXPECT_EQ(CountStored(blocks), kConnections);
  EXPECT_EQ(upstream.block_requests(), kConnections);
}

TEST_F(BlockDownloadTest, AnEmptyBlockListFetchesNothing) {
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});
  auto downloaded = Download({}, nodes, Options(4));
  EXPECT_TRUE(downloaded) << downloaded.error().message;
  EXPECT_EQ(upstream.block_requests(), 0u);
  EXPECT_EQ(progress_.blocks.load(), 0u);
}

}  // namespace
}  // namespace mei::tools
