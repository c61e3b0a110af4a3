#include "tools/get/model_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/get/download_fixture.h"
#include "tools/get/file_index.h"
#include "tools/get/partial_file.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

using mei::testing::TestUpstream;
using testing::Bf16Weights;
using testing::kModel;
using testing::RandomBytes;
using testing::TextBytes;

class ModelDownloadTest : public testing::DownloadFixture {
 protected:
  void SetUp() override {
    DownloadFixture::SetUp();
    if (HasFatalFailure()) return;
    config_ = AddBlock(TextBytes(700));
    weights_a_ = AddBlock(Bf16Weights(8 * 1024, 1), 2);
    weights_b_ = AddBlock(Bf16Weights(6 * 1024, 2), 2);
    random_ = AddBlock(RandomBytes(5000, 3));
    // weights_a_ twice in one file, weights_b_ in two files: 4 distinct blocks.
    manifest_ = AddModel(kModel, "main",
                         {{"config.json", {config_}},
                          {"model-00001.safetensors", {weights_a_, weights_b_, weights_a_}},
                          {"nested/model-00002.safetensors", {weights_b_, random_}}});
    distinct_bytes_ = raw_.at(config_).size() + raw_.at(weights_a_).size() +
                      raw_.at(weights_b_).size() + raw_.at(random_).size();
  }

  ModelDownloadOptions Options(const std::vector<const TestUpstream*>& upstreams) const {
    ModelDownloadOptions options;
    for (const TestUpstream* upstream : upstreams) options.nodes.push_back(NodeOf(*upstream));
    options.ref = ModelRef{std::string(kModel), "main"};
    options.out_dir = out_;
    options.block_store = local_->root();
    options.blocks.connections = 2;
    options.blocks.retry_backoff = std::chrono::milliseconds(0);
    options.blocks.fetch = device_fetch_;
    return options;
  }

  Result<DownloadSummary> Run(const ModelDownloadOptions& options,
                              const PlanObserver& on_plan = {}) {
    DownloadProgress progress;
    return DownloadModel(options, progress, stop_, on_plan);
  }

  // Requests for blocks `upstream` answered: one block each, or a run of blocks by range.
  static std::uint64_t Requests(const TestUpstream& upstream) {
    return upstream.block_requests() + upstream.requests("resolve");
  }

  // A download from `upstream` into `out_dir`; when it succeeds, the files are checked.
  Result<DownloadSummary> RunInto(const TestUpstream& upstream,
                                  const std::filesystem::path& out_dir) {
    ModelDownloadOptions options = Options({&upstream});
    options.out_dir = out_dir;
    auto summary = Run(options);
    if (summary) ExpectFilesAsInTheManifest(out_dir);
    return summary;
  }

  void ExpectFilesAsInTheManifest(const std::filesystem::path& out_dir) const {
    std::set<std::string> paths;
    for (const ManifestFile& file : manifest_.files) {
      paths.insert(file.path);
      EXPECT_EQ(ReadBytes(out_dir / file.path), BytesOf(file)) << file.path;
    }
    EXPECT_EQ(FilesUnder(out_dir), paths);  // and nothing else: no partial file
  }

  std::uint64_t FileBytes() const {
    std::uint64_t bytes = 0;
    for (const ManifestFile& file : manifest_.files) bytes += file.size;
    return bytes;
  }

  static constexpr std::uint64_t kDistinctBlocks = 4;
  BlockId config_, weights_a_, weights_b_, random_;
  Manifest manifest_;
  std::uint64_t distinct_bytes_ = 0;
  std::atomic<bool> stop_{false};
};

TEST_F(ModelDownloadTest, WritesEveryFileByteIdenticalFetchingEachBlockOnce) {
  TestUpstream& upstream = StartUpstream();
  auto summary = Run(Options({&upstream}));
  ASSERT_TRUE(summary) << summary.error().message;

  ExpectFilesAsInTheManifest(out_);
  // config.json and random_ alone; model-00001's weights_a_ and weights_b_, end to end, in one
  // range request; each block once.
  EXPECT_EQ(Requests(upstream), 3u);
  for (const BlockId& id : {config_, random_}) EXPECT_EQ(upstream.block_requests_for(id), 1u);
  EXPECT_EQ(summary->model, kModel);
  EXPECT_EQ(summary->revision, "main");
  EXPECT_EQ(summary->commit, manifest_.commit.Hex());
  EXPECT_EQ(summary->out_dir, out_);
  EXPECT_EQ(summary->files_written, manifest_.files.size());
  EXPECT_EQ(summary->files_up_to_date, 0u);
  EXPECT_EQ(summary->file_bytes, FileBytes());
  EXPECT_EQ(summary->blocks_fetched, kDistinctBlocks);
  EXPECT_EQ(summary->blocks_reused, 0u);
  EXPECT_EQ(summary->fetched_raw_bytes, distinct_bytes_);
  EXPECT_EQ(summary->reused_bytes, 0u);
  EXPECT_EQ(summary->blocks_repaired, 0u);
  ASSERT_EQ(summary->nodes.size(), 1u);
  EXPECT_EQ(summary->nodes[0].blocks, kDistinctBlocks);
  // The wire carried the blocks as stored, and the manifest besides.
  EXPECT_GT(summary->wire_bytes, summary->nodes[0].wire_bytes);
  EXPECT_GE(summary->seconds, 0.0);
}

TEST_F(ModelDownloadTest, TheFilesAreIndexedAndTheBlockStoreHoldsNoCopyOfThem) {
  TestUpstream& upstream = StartUpstream();
  ASSERT_TRUE(Run(Options({&upstream})));

  EXPECT_TRUE(local_->List().empty());
  const FileIndex index = FileIndex::Open(local_->root() / "file-index");
  ASSERT_EQ(index.entries().size(), manifest_.files.size());
  for (const ManifestFile& file : manifest_.files) {
    const IndexedFile* entry = index.Find(out_ / file.path);
    ASSERT_NE(entry, nullptr) << file.path;
    EXPECT_FALSE(entry->partial);
    EXPECT_EQ(entry->size, file.size);
    EXPECT_EQ(entry->sha256, file.sha256);
    EXPECT_EQ(entry->blocks, file.blocks);
    EXPECT_TRUE(FileIndex::IsFresh(*entry));
  }
}

TEST_F(ModelDownloadTest, ASecondRunFetchesNothingAndFindsEveryFileUpToDate) {
  TestUpstream& upstream = StartUpstream();
  ASSERT_TRUE(Run(Options({&upstream})));
  const std::uint64_t requests = Requests(upstream);

  auto again = Run(Options({&upstream}));
  ASSERT_TRUE(again) << again.error().message;
  ExpectFilesAsInTheManifest(out_);
  EXPECT_EQ(Requests(upstream), requests);
  EXPECT_EQ(again->blocks_fetched, 0u);
  EXPECT_EQ(again->fetched_raw_bytes, 0u);
  EXPECT_EQ(again->files_up_to_date, manifest_.files.size());
  EXPECT_EQ(again->files_written, 0u);
  EXPECT_EQ(again->file_bytes, 0u);
}

TEST_F(ModelDownloadTest, ARunIntoAnotherFolderCopiesEveryBlockFromTheFirstRunsFiles) {
  TestUpstream& upstream = StartUpstream();
  ASSERT_TRUE(Run(Options({&upstream})));
  const std::uint64_t requests = Requests(upstream);

  auto again = RunInto(upstream, dir_ / "another");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(Requests(upstream), requests);
  EXPECT_EQ(again->blocks_fetched, 0u);
  EXPECT_EQ(again->blocks_reused, kDistinctBlocks);
  EXPECT_EQ(again->reused_bytes, distinct_bytes_);
  EXPECT_EQ(again->files_written, manifest_.files.size());
  EXPECT_EQ(again->files_up_to_date, 0u);
}

TEST_F(ModelDownloadTest, AFileEditedInPlaceIsNoSourceAndItsBlockIsFetchedAgain) {
  TestUpstream& upstream = StartUpstream();
  ASSERT_TRUE(Run(Options({&upstream})));

  // A byte of config.json flipped, its size and modification time kept: the index still takes
  // the file for what it was, and only the block's SHA-256 tells.
  const std::filesystem::path edited = out_ / "config.json";
  const auto mtime = std::filesystem::last_write_time(edited);
  std::vector<std::byte> bytes = *ReadBytes(edited);
  bytes[3] ^= std::byte{0x20};
  WriteBytes(edited, bytes);
  std::filesystem::last_write_time(edited, mtime);
  const std::uint64_t requests = Requests(upstream);

  auto again = RunInto(upstream, dir_ / "another");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->blocks_fetched, 1u);
  EXPECT_EQ(again->blocks_repaired, 1u);
  EXPECT_EQ(again->blocks_reused, kDistinctBlocks - 1);
  EXPECT_EQ(upstream.block_requests_for(config_), 2u);
  EXPECT_EQ(Requests(upstream), requests + 1);
  // The edited file is out of the index.
  EXPECT_EQ(FileIndex::Open(local_->root() / "file-index").Find(edited), nullptr);
}

TEST_F(ModelDownloadTest, AFileWithANewSizeOrTimeIsNoSource) {
  TestUpstream& upstream = StartUpstream();
  for (const char* change : {"time", "size"}) {
    SCOPED_TRACE(change);
    const std::filesystem::path first = dir_ / (std::string("first-") + change);
    const std::filesystem::path second = dir_ / (std::string("second-") + change);
    ASSERT_TRUE(RunInto(upstream, first));
    const std::filesystem::path changed = first / "nested/model-00002.safetensors";
    if (std::string_view(change) == "time") {
      std::filesystem::last_write_time(
          changed, std::filesystem::last_write_time(changed) + std::chrono::seconds(5));
    } else {
      std::vector<std::byte> bytes = *ReadBytes(changed);
      bytes.push_back(std::byte{0});
      WriteBytes(changed, bytes);
    }
    const std::uint64_t requests_for_random = upstream.block_requests_for(random_);

    auto again = RunInto(upstream, second);
    ASSERT_TRUE(again) << again.error().message;
    // random_ is only in the changed file: fetched (the file is not even read: nothing to
    // repair); weights_b_ is in model-00001 too.
    EXPECT_EQ(again->blocks_fetched, 1u);
    EXPECT_EQ(again->blocks_repaired, 0u);
    EXPECT_EQ(upstream.block_requests_for(random_), requests_for_random + 1);
    std::filesystem::remove_all(first);
    std::filesystem::remove_all(second);
  }
}

TEST_F(ModelDownloadTest, BlocksInTheBlockStoreAreCopiedOutAndTheFramesThenRemoved) {
  TestUpstream& upstream = StartUpstream();
  StoreLocally(weights_a_);
  StoreLocally(weights_b_);
  StoreLocally(random_);
  DamageLocally(random_);

  auto summary = Run(Options({&upstream}));
  ASSERT_TRUE(summary) << summary.error().message;
  ExpectFilesAsInTheManifest(out_);
  EXPECT_EQ(summary->blocks_reused, 2u);
  EXPECT_EQ(summary->blocks_fetched, 2u);  // config_, and random_ whose frame was damaged
  EXPECT_EQ(summary->blocks_repaired, 1u);
  EXPECT_EQ(upstream.block_requests_for(weights_a_), 0u);
  EXPECT_EQ(upstream.block_requests_for(weights_b_), 0u);
  // Every frame's block is in a file now: the store keeps none of them.
  EXPECT_TRUE(local_->List().empty());
}

TEST_F(ModelDownloadTest, APartialFileLeftByAnInterruptedRunIsResumed) {
  TestUpstream& upstream = StartUpstream();
  // What a run killed while writing model-00001.safetensors left: its first two blocks in place,
  // the third never written; and a partial of nested/ that holds bytes that are no block.
  const ManifestFile& first = manifest_.files[1];
  const ManifestFile& nested = manifest_.files[2];
  std::vector<std::byte> bytes = BytesOf(first);
  bytes.resize(first.blocks[2].offset);
  WriteBytes(PartialFile::PathFor(out_ / first.path), bytes);
  std::filesystem::resize_file(PartialFile::PathFor(out_ / first.path), first.size);
  WriteBytes(PartialFile::PathFor(out_ / nested.path), RandomBytes(nested.size, 77));

  auto summary = Run(Options({&upstream}));
  ASSERT_TRUE(summary) << summary.error().message;
  ExpectFilesAsInTheManifest(out_);
  // weights_a_ and weights_b_ were in place (weights_a_'s second place is filled from its
  // first); config_ and random_ are fetched.
  EXPECT_EQ(summary->blocks_reused, 2u);
  EXPECT_EQ(summary->blocks_fetched, 2u);
  EXPECT_EQ(summary->blocks_repaired, 0u);
  EXPECT_EQ(upstream.block_requests_for(weights_a_), 0u);
  EXPECT_EQ(upstream.block_requests_for(weights_b_), 0u);
  EXPECT_EQ(upstream.block_requests_for(random_), 1u);
}

TEST_F(ModelDownloadTest, AnInterruptedRunsPartialFilesAreIndexedForOtherFolders) {
  TestUpstream& upstream = StartUpstream();
  // The download stops once the plan is made: nothing is fetched, the partials stay, indexed.
  ModelDownloadOptions options = Options({&upstream});
  auto stopped = Run(options, [&](const DownloadPlan&) { stop_.store(true); });
  ASSERT_FALSE(stopped);
  EXPECT_NE(stopped.error().message.find("interrupted"), std::string::npos);
  stop_.store(false);
  const FileIndex index = FileIndex::Open(local_->root() / "file-index");
  for (const ManifestFile& file : manifest_.files) {
    const IndexedFile* entry = index.Find(PartialFile::PathFor(out_ / file.path));
    ASSERT_NE(entry, nullptr) << file.path;
    EXPECT_TRUE(entry->partial);
    EXPECT_EQ(entry->blocks, file.blocks);
  }
  // As if its first file had arrived before the stop.
  const ManifestFile& config = manifest_.files[0];
  WriteBytes(PartialFile::PathFor(out_ / config.path), BytesOf(config));

  auto summary = RunInto(upstream, dir_ / "another");
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->blocks_reused, 1u);
  EXPECT_EQ(upstream.block_requests_for(config_), 0u);
  EXPECT_EQ(summary->blocks_fetched, kDistinctBlocks - 1);
}

TEST_F(ModelDownloadTest, OnlyTheFilesTheGlobsSelectAreWritten) {
  TestUpstream& upstream = StartUpstream();
  ModelDownloadOptions options = Options({&upstream});
  options.file_globs = {"*.json"};
  auto summary = Run(options);
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{"config.json"});
  EXPECT_EQ(summary->blocks_fetched, 1u);
  EXPECT_EQ(Requests(upstream), 1u);
}

TEST_F(ModelDownloadTest, AGlobThatMatchesNothingIsABadRequestAndFetchesNoBlock) {
  TestUpstream& upstream = StartUpstream();
  ModelDownloadOptions options = Options({&upstream});
  options.file_globs = {"*.gguf"};
  auto summary = Run(options);
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().code, Errc::kBadRequest);
  EXPECT_NE(summary.error().message.find("*.gguf"), std::string::npos);
  EXPECT_EQ(Requests(upstream), 0u);
}

TEST_F(ModelDownloadTest, AModelOrRevisionTheFirstNodeDoesNotKnowEndsTheDownload) {
  TestUpstream& first = StartUpstream("first");
  TestUpstream& second = StartUpstream("second");
  for (const NotFoundCase& c : NotFoundCases()) {
    SCOPED_TRACE(c.model + "@" + c.revision);
    ModelDownloadOptions options = Options({&first, &second});
    options.ref = ModelRef{c.model, c.revision};
    auto summary = Run(options);
    ASSERT_FALSE(summary);
    EXPECT_EQ(summary.error().code, c.code) << summary.error().message;
  }
  EXPECT_EQ(second.requests("manifest"), 0u);  // a not-found is an answer, not a failure
  EXPECT_EQ(Requests(first) + Requests(second), 0u);
  EXPECT_FALSE(std::filesystem::exists(out_));
}

TEST_F(ModelDownloadTest, TheManifestAndBlocksComeFromTheSecondNodeWhenTheFirstIsStopped) {
  TestUpstream& stopped = StartUpstream("stopped");
  TestUpstream& second = StartUpstream("second");
  stopped.Stop();
  auto summary = Run(Options({&stopped, &second}));
  ASSERT_TRUE(summary) << summary.error().message;
  ExpectFilesAsInTheManifest(out_);
  // (How many requests depends on whether the stopped node's connection took a run first: its
  // blocks are then asked again one by one.)
  EXPECT_LE(Requests(second), kDistinctBlocks);
  ASSERT_EQ(summary->nodes.size(), 2u);
  EXPECT_EQ(summary->nodes[0].blocks, 0u);
  EXPECT_GE(summary->nodes[0].failures, 1u);
  EXPECT_EQ(summary->nodes[1].blocks, kDistinctBlocks);
}

TEST_F(ModelDownloadTest, ThePlanIsObservedBeforeAnyBlockIsFetched) {
  TestUpstream& upstream = StartUpstream();
  int calls = 0;
  auto summary = Run(Options({&upstream}), [&](const DownloadPlan& plan) {
    ++calls;
    EXPECT_EQ(Requests(upstream), 0u);
    EXPECT_EQ(plan.to_fetch.size(), kDistinctBlocks);
    EXPECT_EQ(plan.fetch_bytes, distinct_bytes_);
    EXPECT_EQ(plan.files.size(), manifest_.files.size());
  });
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(calls, 1);
}

TEST_F(ModelDownloadTest, AStopSetBeforehandEndsItInterruptedWithNoFileWritten) {
  TestUpstream& upstream = StartUpstream();
  stop_.store(true);
  auto summary = Run(Options({&upstream}));
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().code, Errc::kUpstreamFailed);
  EXPECT_NE(summary.error().message.find("interrupted"), std::string::npos);
  EXPECT_EQ(Requests(upstream), 0u);
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

// The summary of a download whose first node corrupts every block it sends.
class DownloadSummaryTest : public ModelDownloadTest {
 protected:
  void SetUp() override {
    ModelDownloadTest::SetUp();
    if (HasFatalFailure()) return;
    corrupting_ = &StartUpstream("corrupting");
    honest_ = &StartUpstream("honest");
    corrupting_->CorruptBlocks(true);
    // The honest node holds its block requests until the corrupting one has been asked for a
    // block, so that the corrupting one is sure to have tried (else the honest node's connections
    // may take all four blocks first).
    honest_->HoldBlocks();
    Result<DownloadSummary> summary = Error{Errc::kIo, "not run"};
    std::jthread download([&] { summary = Run(Options({corrupting_, honest_})); });
    const bool asked = corrupting_->WaitForBlockRequests(1);
    honest_->ReleaseBlocks();
    download.join();
    ASSERT_TRUE(asked);
    ASSERT_TRUE(summary) << summary.error().message;
    summary_ = std::move(*summary);
  }

  TestUpstream* corrupting_ = nullptr;
  TestUpstream* honest_ = nullptr;
  DownloadSummary summary_;
};

TEST_F(DownloadSummaryTest, SummaryJsonHoldsEveryFieldOfTheSummary) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(SummaryJson(summary_), ec);
  ASSERT_FALSE(ec) << ec.message();
  const json::object& o = parsed.as_object();
  EXPECT_EQ(o.at("model").as_string(), summary_.model);
  EXPECT_EQ(o.at("revision").as_string(), summary_.revision);
  EXPECT_EQ(o.at("commit").as_string(), manifest_.commit.Hex());
  EXPECT_EQ(o.at("out").as_string(), out_.string());
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("files_written")), manifest_.files.size());
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("files_up_to_date")), 0u);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("file_bytes")), FileBytes());
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("blocks_fetched")), kDistinctBlocks);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("fetched_raw_bytes")), distinct_bytes_);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("wire_bytes")), summary_.wire_bytes);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("blocks_reused")), 0u);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("reused_bytes")), 0u);
  EXPECT_EQ(json::value_to<std::uint64_t>(o.at("blocks_repaired")), 0u);
  EXPECT_DOUBLE_EQ(json::value_to<double>(o.at("seconds")), summary_.seconds);

  const json::array& nodes = o.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), 2u);
  const json::object& bad = nodes[0].as_object();
  EXPECT_EQ(bad.at("url").as_string(), corrupting_->Url());
  EXPECT_EQ(json::value_to<std::uint64_t>(bad.at("blocks")), 0u);
  EXPECT_EQ(json::value_to<std::uint64_t>(bad.at("wire_bytes")), 0u);
  EXPECT_GE(json::value_to<std::uint64_t>(bad.at("failures")), 1u);
  EXPECT_GE(json::value_to<std::uint64_t>(bad.at("bad_blocks")), 1u);
  EXPECT_TRUE(bad.at("down").as_bool());
  EXPECT_NE(bad.at("last_error").as_string(), "");
  const json::object& good = nodes[1].as_object();
  EXPECT_EQ(good.at("url").as_string(), honest_->Url());
  EXPECT_EQ(json::value_to<std::uint64_t>(good.at("blocks")), kDistinctBlocks);
  EXPECT_EQ(json::value_to<std::uint64_t>(good.at("wire_bytes")), summary_.nodes[1].wire_bytes);
  EXPECT_EQ(json::value_to<std::uint64_t>(good.at("failures")), 0u);
  EXPECT_FALSE(good.at("down").as_bool());
  EXPECT_EQ(good.at("last_error").as_string(), "");
}

TEST_F(DownloadSummaryTest, FormatSummaryNamesTheModelCommitFolderAndTheNodesThatServed) {
  const std::string text = FormatSummary(summary_);
  EXPECT_TRUE(text.starts_with(std::string(kModel) + "@main (commit " +
                               manifest_.commit.Hex().substr(0, 12) + ") -> " + out_.string() +
                               "\n"))
      << text;
  EXPECT_NE(text.find("3 files written"), std::string::npos) << text;
  EXPECT_NE(text.find(" in 4 blocks "), std::string::npos) << text;
  EXPECT_NE(text.find(honest_->Url() + ": 4 blocks"), std::string::npos) << text;
  EXPECT_NE(text.find("bad block(s) refused"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("\n")) << text;
}

}  // namespace
}  // namespace mei::tools
