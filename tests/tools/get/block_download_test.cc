#include "tools/get/block_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/served_cache_node.h"
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
    return LaidOut(std::move(blocks));
  }

  ManifestBlock AddBlockOf(const std::vector<std::byte>& raw, std::uint8_t element_width = 0) {
    return {AddBlock(raw, element_width), 0, raw.size()};
  }

  BlockDownloadOptions Options(unsigned connections, unsigned pipeline = 4) const {
    BlockDownloadOptions options;
    options.connections = connections;
    options.pipeline = pipeline;
    options.retry_backoff = std::chrono::milliseconds(0);
    options.fetch = device_fetch_;
    return options;
  }

  // Downloads `blocks` (laid out) into out/blocks.bin.
  Result<void> Download(const std::vector<ManifestBlock>& blocks, NodeFailover& nodes,
                        const BlockDownloadOptions& options) {
    file_.reset();  // (unlocks it)
    file_.emplace(PartialOf("blocks.bin", blocks));
    needs_ = NeedsIn(*file_, blocks);
    return DownloadBlocks(needs_, nodes, options, progress_, stop_);
  }

  // out/blocks.bin holds every block of `blocks` at its offset.
  void ExpectWritten(const std::vector<ManifestBlock>& blocks) const {
    EXPECT_EQ(ReadBytes(file_->path()), BytesOf(blocks));
  }

  static std::uint64_t RawBytesOf(const std::vector<ManifestBlock>& blocks) {
    std::uint64_t bytes = 0;
    for (const ManifestBlock& block : blocks) bytes += block.size;
    return bytes;
  }

  DownloadProgress progress_;
  std::atomic<bool> stop_{false};
  std::size_t text_size_ = 4000;
  std::optional<PartialFile> file_;
  std::vector<BlockNeed> needs_;
};

TEST_F(BlockDownloadTest, FetchesEveryBlockOnceIntoItsPlaceVerified) {
  std::vector<ManifestBlock> blocks = AddTextBlocks(6);
  blocks.push_back(AddBlockOf(RandomBytes(3000, 1)));
  blocks.push_back(AddBlockOf(Bf16Weights(8 * 1024, 2), 2));
  blocks = LaidOut(blocks);
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});

  auto downloaded = Download(blocks, nodes, Options(3));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectWritten(blocks);
  EXPECT_EQ(progress_.blocks.load(), blocks.size());
  EXPECT_EQ(progress_.raw_bytes.load(), RawBytesOf(blocks));
  for (const ManifestBlock& block : blocks) {
    EXPECT_EQ(upstream.block_requests_for(block.id), 1u) << block.id.Hex();
  }
  const NodeFailover::NodeReport report = nodes.Reports()[0];
  EXPECT_EQ(report.blocks, blocks.size());
  EXPECT_EQ(report.failures, 0u);
  EXPECT_EQ(report.wire_bytes, progress_.wire_bytes.load());
  // Nothing went to the block store.
  EXPECT_TRUE(local_->List().empty());
}

TEST_F(BlockDownloadTest, ABlockGoesToEveryPlaceItHas) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(2);
  // blocks[0] at 0 and again after blocks[1].
  std::vector<ManifestBlock> layout = LaidOut({blocks[0], blocks[1], blocks[0]});
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});
  file_.emplace(PartialOf("blocks.bin", layout));
  needs_ = {{layout[0], {{&*file_, layout[0].offset}, {&*file_, layout[2].offset}}},
            {layout[1], {{&*file_, layout[1].offset}}}};

  auto downloaded = DownloadBlocks(needs_, nodes, Options(2), progress_, stop_);
  ASSERT_TRUE(downloaded) << downloaded.error().message;
  ExpectWritten(layout);
  EXPECT_EQ(upstream.block_requests(), 2u);
  EXPECT_EQ(progress_.blocks.load(), 2u);
}

TEST_F(BlockDownloadTest, CompressibleBlocksTravelCompressed) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(4);
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});

  auto downloaded = Download(blocks, nodes, Options(2));
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectWritten(blocks);
  EXPECT_GT(progress_.wire_bytes.load(), 0u);
  EXPECT_LT(progress_.wire_bytes.load(), RawBytesOf(blocks));
}

TEST_F(BlockDownloadTest, BlocksACorruptingNodeSendsAreRefusedAndFetchedFromTheNext) {
  std::vector<ManifestBlock> raw;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    raw.push_back(AddBlockOf(RandomBytes(5000 + seed, seed)));  // incompressible: stored raw
  }
  const struct {
    const char* name;
    std::vector<ManifestBlock> blocks;
  } cases[] = {{"compressed", AddTextBlocks(8)}, {"raw", LaidOut(raw)}};
  TestUpstream& corrupting = StartUpstream("corrupting");
  TestUpstream& honest = StartUpstream("honest");
  corrupting.CorruptBlocks(true);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    NodeFailover nodes({NodeOf(corrupting), NodeOf(honest)});
    const std::uint64_t asked_before = corrupting.block_requests();
    progress_.blocks = 0;

    // The honest node holds its first request until the corrupting one is down, so that the
    // corrupting one's connection is sure to have tried.
    honest.HoldBlocks();
    Result<void> downloaded = Error{Errc::kIo, "not run"};
    std::jthread download([&] { downloaded = Download(c.blocks, nodes, Options(1, 1)); });
    ASSERT_TRUE(mei::testing::PollUntil([&] { return nodes.down(0); }));
    honest.ReleaseBlocks();
    download.join();
    ASSERT_TRUE(downloaded) << downloaded.error().message;

    ExpectWritten(c.blocks);
    EXPECT_EQ(progress_.blocks.load(), c.blocks.size());
    const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
    EXPECT_EQ(reports[0].bad_blocks, 1u);
    EXPECT_EQ(reports[0].blocks, 0u);
    EXPECT_TRUE(reports[0].down);
    EXPECT_TRUE(reports[0].last_error.find("SHA-256") != std::string::npos ||
                reports[0].last_error.find("does not decode") != std::string::npos)
        << reports[0].last_error;
    EXPECT_EQ(reports[1].blocks, c.blocks.size());
    EXPECT_FALSE(reports[1].down);
    // Once down, the corrupting node is asked for nothing more.
    EXPECT_EQ(corrupting.block_requests() - asked_before, 1u);
  }
}

// A model of two files of small blocks end to end (and one big block between them), with the
// download's needs into partial files for it, for the runs on the resolve route.
class RunDownloadTest : public BlockDownloadTest {
 protected:
  void SetUp() override {
    BlockDownloadTest::SetUp();
    if (HasFatalFailure()) return;
    std::vector<BlockId> first, second;
    for (const ManifestBlock& block : AddTextBlocks(6)) first.push_back(block.id);
    first.push_back(AddBlock(RandomBytes(1 << 20, 5)));  // 1 MiB: not small, its own request
    for (const ManifestBlock& block : AddTextBlocks(3)) first.push_back(block.id);
    for (const ManifestBlock& block : AddTextBlocks(4)) second.push_back(block.id);
    manifest_ =
        AddModel(testing::kModel, "main", {{"a b/first.bin", first}, {"second.bin", second}});
    files_ = {&manifest_.files[0], &manifest_.files[1]};
    for (const ManifestFile* file : files_)
      partials_.push_back(PartialOf(file->path, file->blocks));
    needs_ = NeedsOf(files_, partials_);
  }

  BlockDownloadOptions RunOptions(unsigned connections) const {
    BlockDownloadOptions options = Options(connections);
    options.model = std::string(testing::kModel);
    options.commit = manifest_.commit.Hex();
    return options;
  }

  void ExpectFilesWritten() const {
    for (std::size_t i = 0; i < files_.size(); ++i) {
      EXPECT_EQ(ReadBytes(partials_[i].path()), BytesOf(*files_[i])) << files_[i]->path;
    }
  }

  Manifest manifest_;
  std::vector<const ManifestFile*> files_;
  std::vector<PartialFile> partials_;
};

TEST_F(RunDownloadTest, SmallBlocksEndToEndInAFileComeInOneRangeRequestWhenTheModelIsKnown) {
  TestUpstream& upstream = StartUpstream();
  const struct {
    const char* name;
    bool model_known;
    std::uint64_t ranges;
    std::uint64_t blocks;
  } cases[] = {
      // first.bin: a run of 6, the big block, a run of 3; second.bin: a run of 4.
      {"model_known", true, 3, 1},
      {"model_unknown", false, 0, 14},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::uint64_t ranges = upstream.requests("resolve");
    const std::uint64_t blocks = upstream.block_requests();
    NodeFailover nodes({NodeOf(upstream)});
    DownloadProgress progress;
    auto downloaded =
        DownloadBlocks(needs_, nodes, c.model_known ? RunOptions(2) : Options(2), progress, stop_);
    ASSERT_TRUE(downloaded) << downloaded.error().message;

    ExpectFilesWritten();
    EXPECT_EQ(upstream.requests("resolve") - ranges, c.ranges);
    EXPECT_EQ(upstream.block_requests() - blocks, c.blocks);
    EXPECT_EQ(progress.blocks.load(), needs_.size());
    EXPECT_EQ(nodes.Reports()[0].blocks, needs_.size());
    EXPECT_EQ(nodes.Reports()[0].failures, 0u);
  }
}

TEST_F(RunDownloadTest, ARunACorruptingNodeSendsIsAskedOfTheNextNodeBlockByBlock) {
  TestUpstream& corrupting = StartUpstream("corrupting");
  TestUpstream& honest = StartUpstream("honest");
  corrupting.CorruptBlocks(true);
  NodeFailover nodes({NodeOf(corrupting), NodeOf(honest)});
  BlockDownloadOptions options = RunOptions(1);
  options.pipeline = 1;
  honest.HoldBlocks();  // its block requests, until the corrupting node is down (as above)
  Result<void> downloaded = Error{Errc::kIo, "not run"};
  std::jthread download(
      [&] { downloaded = DownloadBlocks(needs_, nodes, options, progress_, stop_); });
  ASSERT_TRUE(mei::testing::PollUntil([&] { return nodes.down(0); }));
  honest.ReleaseBlocks();
  download.join();
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectFilesWritten();
  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  EXPECT_EQ(reports[0].blocks, 0u);
  EXPECT_EQ(reports[0].bad_blocks, 1u);
  EXPECT_TRUE(reports[0].down);
  EXPECT_EQ(reports[1].blocks, needs_.size());
  EXPECT_EQ(corrupting.requests("resolve") + corrupting.block_requests(), 1u);
}

TEST_F(BlockDownloadTest, EveryHealthyNodeServesAtOnce) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(16);
  TestUpstream& first = StartUpstream("first");
  TestUpstream& second = StartUpstream("second");
  // Both nodes hold their first requests until each has one: neither can serve the whole
  // download before the other starts.
  first.HoldBlocks();
  second.HoldBlocks();
  NodeFailover nodes({NodeOf(first), NodeOf(second)});
  Result<void> downloaded = Error{Errc::kIo, "not run"};
  std::jthread download([&] { downloaded = Download(blocks, nodes, Options(1, 1)); });
  ASSERT_TRUE(first.WaitForBlockRequests(1));
  ASSERT_TRUE(second.WaitForBlockRequests(1));
  first.ReleaseBlocks();
  second.ReleaseBlocks();
  download.join();

  ASSERT_TRUE(downloaded) << downloaded.error().message;
  ExpectWritten(blocks);
  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  EXPECT_GE(reports[0].blocks, 1u);
  EXPECT_GE(reports[1].blocks, 1u);
  EXPECT_EQ(reports[0].blocks + reports[1].blocks, blocks.size());
  EXPECT_EQ(first.block_requests() + second.block_requests(), blocks.size());
}

TEST_F(BlockDownloadTest, AStoppedFirstNodeIsPassedOverForTheSecond) {
  const std::vector<ManifestBlock> blocks = AddTextBlocks(5);
  TestUpstream& stopped = StartUpstream("stopped");
  TestUpstream& second = StartUpstream("second");
  stopped.Stop();
  NodeFailover nodes({NodeOf(stopped), NodeOf(second)});
  // The second node holds its first request until the stopped one is down, so that the stopped
  // one's connection is sure to try (and fail) twice before the second node has served it all.
  second.HoldBlocks();
  Result<void> downloaded = Error{Errc::kIo, "not run"};
  std::jthread download([&] { downloaded = Download(blocks, nodes, Options(1, 1)); });
  ASSERT_TRUE(mei::testing::PollUntil([&] { return nodes.down(0); }));
  second.ReleaseBlocks();
  download.join();
  ASSERT_TRUE(downloaded) << downloaded.error().message;

  ExpectWritten(blocks);
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

    progress_.blocks = 0;
    auto downloaded = Download({block}, nodes, options);
    ASSERT_FALSE(downloaded);
    EXPECT_EQ(downloaded.error().code, Errc::kUpstreamFailed);
    EXPECT_NE(downloaded.error().message.find(block.id.Hex()), std::string::npos)
        << downloaded.error().message;
    EXPECT_EQ(progress_.blocks.load(), 0u);
    EXPECT_EQ(first.block_requests_for(block.id) - first_before, 3u);
    EXPECT_EQ(second.block_requests_for(block.id) - second_before, 3u);
    first.CorruptBlocks(false);
    second.CorruptBlocks(false);
  }
}

TEST_F(BlockDownloadTest, AfterABlockNoNodeCanServeNoFurtherBlockIsTaken) {
  std::vector<ManifestBlock> blocks = {ManifestBlock{MissingBlock(), 0, 2000}};
  for (const ManifestBlock& block : AddTextBlocks(4)) blocks.push_back(block);
  blocks = LaidOut(blocks);
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});
  BlockDownloadOptions options = Options(1, 1);
  options.rounds = 1;

  auto downloaded = Download(blocks, nodes, options);
  ASSERT_FALSE(downloaded);
  EXPECT_NE(downloaded.error().message.find(blocks[0].id.Hex()), std::string::npos);
  EXPECT_EQ(upstream.block_requests(), 1u);
  EXPECT_EQ(progress_.blocks.load(), 0u);
}

TEST_F(BlockDownloadTest, ConnectionsIsHowManyBlocksTheNodeWorksOnAtOnce) {
  for (const unsigned connections : {1u, 2u, 4u}) {
    SCOPED_TRACE(connections);
    const std::vector<ManifestBlock> blocks = AddTextBlocks(2 * connections + 1);
    TestUpstream& upstream = StartUpstream();
    upstream.HoldBlocks();
    NodeFailover nodes({NodeOf(upstream)});
    DownloadProgress progress;
    PartialFile file = PartialOf("blocks-" + std::to_string(connections), blocks);
    const std::vector<BlockNeed> needs = NeedsIn(file, blocks);
    Result<void> downloaded = Error{Errc::kIo, "not run"};
    std::jthread download(
        [&] { downloaded = DownloadBlocks(needs, nodes, Options(connections), progress, stop_); });

    ASSERT_TRUE(upstream.WaitForBlockRequests(connections));
    // Each connection has its first request at the gate and the next ones queued behind it (a
    // node answers a connection's requests in turn), and nothing is fetched yet.
    EXPECT_EQ(upstream.block_requests(), connections);
    EXPECT_EQ(progress.blocks.load(), 0u);
    upstream.ReleaseBlocks();
    download.join();

    ASSERT_TRUE(downloaded) << downloaded.error().message;
    EXPECT_EQ(progress.blocks.load(), blocks.size());
    EXPECT_EQ(upstream.block_requests(), blocks.size());
    EXPECT_EQ(ReadBytes(file.path()), BytesOf(blocks));
  }
}

TEST_F(BlockDownloadTest, StopEndsTheDownloadAtOnceAbandoningTheFetchesInFlight) {
  constexpr unsigned kConnections = 3;
  const std::vector<ManifestBlock> blocks = AddTextBlocks(3 * kConnections);
  TestUpstream& upstream = StartUpstream();
  upstream.HoldBlocks();
  NodeFailover nodes({NodeOf(upstream)});
  Result<void> downloaded = Error{Errc::kIo, "not run"};
  // One request in flight a connection, so that what the node is asked for is known.
  std::jthread download([&] { downloaded = Download(blocks, nodes, Options(kConnections, 1)); });

  ASSERT_TRUE(upstream.WaitForBlockRequests(kConnections));
  const auto stopped = std::chrono::steady_clock::now();
  stop_.store(true);
  download.join();  // while the node still holds every request
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, std::chrono::seconds(5));
  upstream.ReleaseBlocks();

  EXPECT_TRUE(downloaded) << downloaded.error().message;
  EXPECT_EQ(progress_.blocks.load(), 0u);
  EXPECT_EQ(upstream.block_requests(), kConnections);
}

TEST_F(BlockDownloadTest, AnEmptyBlockListFetchesNothing) {
  TestUpstream& upstream = StartUpstream();
  NodeFailover nodes({NodeOf(upstream)});
  auto downloaded = DownloadBlocks({}, nodes, Options(4), progress_, stop_);
  EXPECT_TRUE(downloaded) << downloaded.error().message;
  EXPECT_EQ(upstream.block_requests(), 0u);
  EXPECT_EQ(progress_.blocks.load(), 0u);
}

}  // namespace
}  // namespace mei::tools
