// mei-get, the real binary, against a real `mei-origin serve` and real `mei-cache-node`s on
// loopback (and, where a node must misbehave, TestUpstreams over a copy of the origin's store):
// delta downloads of a fine-tune that read the base's blocks from the base's files, files edited
// after a download, resume after kill -9 and Ctrl-C, two nodes serving one download, failover when
// a node dies mid-download, corrupted blocks, the progress bar under a pseudo-terminal, and bad
// input.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/http/data_plane_client.h"
#include "common/manifest.h"
#include "tests/integration/process.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"
#include "tests/integration/test_upstream.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::ServedCacheNode;

constexpr std::chrono::seconds kProcessDeadline{120};

// Origin store with acme/base and acme/ft-last (a fine-tune whose last layers differ) of 64 MiB,
// and acme/big (512 MiB), served by one `mei-origin serve` for the suite. A copy of the small
// models' store is opened in-process for TestUpstreams that must corrupt or stop at will.
class MeiGetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::path(::testing::TempDir()) / ("mei_get_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!testing::Synthesize(dir_ / "models", "64MiB", "base,ft-last", dir_ / "synth") ||
        !testing::Synthesize(dir_ / "big", "512MiB", "base", dir_ / "synth")) {
      return;
    }
    for (const auto& [model, folder] :
         {std::pair{"acme/base", "models/base"}, std::pair{"acme/ft-last", "models/ft-last"},
          std::pair{"acme/big", "big/base"}}) {
      if (testing::Ingest(dir_ / "store", model, dir_ / folder, dir_ / "ingest").empty()) return;
    }
    if (testing::Ingest(dir_ / "copy", "acme/base", dir_ / "models/base", dir_ / "ingest")
            .empty()) {
      return;
    }
    copy_ = testing::OpenUpstreamStore(dir_ / "copy");
    origin_.emplace(testing::StartOrigin(dir_ / "store", dir_ / "origin"));
  }

  static void TearDownTestSuite() {
    if (origin_) {
      origin_->process.Signal(SIGTERM);
      EXPECT_EQ(origin_->process.WaitFor(std::chrono::seconds(60)), 0) << origin_->process.Stderr();
      origin_.reset();
    }
    copy_.reset();
    fs::remove_all(dir_);
  }

  void SetUp() override {
    ASSERT_TRUE(origin_ && !origin_->endpoint.empty()) << "the suite's origin did not start";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    scratch_ = dir_ / info->name();
    fs::create_directories(scratch_);
    blocks_ = scratch_ / "device-blocks";
  }

  ServedCacheNode StartNode(const std::string& id) const {
    return testing::StartCacheNode(scratch_ / (id + "-store"), origin_->Url(""), id, scratch_ / id);
  }

  // The mei-get command line for `node_url` and `model`, into scratch/<out> with the test's block
  // store, then `extra`.
  std::vector<std::string> GetArgs(const std::string& node_url, const std::string& model,
                                   const std::string& out,
                                   const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> argv = {testing::BinaryPath("tools/get/mei-get").string(),
                                     node_url,
                                     model,
                                     "--out",
                                     (scratch_ / out).string(),
                                     "--blocks",
                                     blocks_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  testing::ProcessResult RunGet(const std::vector<std::string>& argv, const std::string& name) {
    return testing::RunProcess(argv, scratch_ / name, testing::LoopbackEnvironment());
  }

  // The --json summary a run printed; ADD_FAILURE and an empty object if it is not one.
  static json::object Summary(const testing::ProcessResult& run) {
    boost::system::error_code ec;
    json::value value = json::parse(run.out, ec);
    if (ec || !value.is_object()) {
      ADD_FAILURE() << "not a JSON summary: " << run.out << "\nstderr: " << run.err;
      return {};
    }
    return value.as_object();
  }

  static std::uint64_t Number(const json::object& summary, std::string_view key) {
    const json::value* value = summary.if_contains(key);
    if (value == nullptr || !value->is_number()) {
      ADD_FAILURE() << "summary has no number " << key << ": " << json::serialize(summary);
      return 0;
    }
    return value->to_number<std::uint64_t>();
  }

  static Manifest ManifestOf(const std::string& model) {
    auto manifest =
        http::FetchManifest({"origin", origin_->Url("")}, model, "main", http::FetchContext{});
    EXPECT_TRUE(manifest) << manifest.error().message;
    return manifest ? *manifest : Manifest{};
  }

  // The size of the manifest's body as the data plane sends it.
  static std::uint64_t ManifestBytes(const std::string& model) {
    return testing::Get(origin_->Url("/v1/models/" + model + "/revisions/main/manifest"))
        .body.size();
  }

  // Every file of `manifest` under `out` has the manifest's size and SHA-256, and no temporary
  // (".name.tmp-*") is left beside it.
  static void ExpectFilesMatch(const Manifest& manifest, const fs::path& out) {
    for (const ManifestFile& file : manifest.files) {
      const fs::path path = out / file.path;
      ASSERT_TRUE(fs::exists(path)) << path;
      EXPECT_EQ(fs::file_size(path), file.size) << path;
      EXPECT_EQ(testing::Sha256OfFile(path), file.sha256) << path;
    }
    ExpectNoTemporaries(out);
  }

  static void ExpectNoTemporaries(const fs::path& out) {
    if (!fs::exists(out)) return;
    for (const auto& entry : fs::recursive_directory_iterator(out)) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    }
  }

  // The regular files in the device's block store other than the file index: block frames.
  std::vector<fs::path> FramesInTheBlockStore() const {
    std::vector<fs::path> frames;
    if (!fs::exists(blocks_)) return frames;
    for (const auto& entry : fs::recursive_directory_iterator(blocks_)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && !name.starts_with("file-index")) frames.push_back(entry);
    }
    return frames;
  }

  // The distinct blocks of `manifest` whose bytes are in place in the partial files under `out`
  // (.<name>.mei-part), and their raw bytes.
  static std::pair<std::uint64_t, std::uint64_t> HeldInPartials(const Manifest& manifest,
                                                                const fs::path& out) {
    std::uint64_t blocks = 0, bytes = 0;
    std::unordered_set<BlockId> seen;
    for (const ManifestFile& file : manifest.files) {
      const fs::path final_path = out / file.path;
      const fs::path partial =
          final_path.parent_path() / ("." + final_path.filename().string() + ".mei-part");
      if (!fs::exists(partial)) continue;
      for (const ManifestBlock& block : file.blocks) {
        if (!seen.contains(block.id) &&
            testing::Sha256OfFile(partial, block.offset, block.size) == block.id) {
          seen.insert(block.id);
          ++blocks;
          bytes += block.size;
        }
      }
    }
    return {blocks, bytes};
  }

  static std::uint64_t DistinctBytes(const Manifest& manifest) {
    std::uint64_t bytes = 0;
    std::unordered_set<BlockId> seen;
    for (const ManifestFile& file : manifest.files) {
      for (const ManifestBlock& block : file.blocks) {
        if (seen.insert(block.id).second) bytes += block.size;
      }
    }
    return bytes;
  }

  // The distinct blocks of `of` that are not in `base`, and their raw bytes.
  static std::pair<std::uint64_t, std::uint64_t> BlocksNotIn(const Manifest& of,
                                                             const Manifest& base) {
    std::unordered_set<BlockId> in_base;
    for (const ManifestFile& file : base.files) {
      for (const ManifestBlock& block : file.blocks) in_base.insert(block.id);
    }
    std::unordered_set<BlockId> seen;
    std::uint64_t blocks = 0, bytes = 0;
    for (const ManifestFile& file : of.files) {
      for (const ManifestBlock& block : file.blocks) {
        if (!in_base.contains(block.id) && seen.insert(block.id).second) {
          ++blocks;
          bytes += block.size;
        }
      }
    }
    return {blocks, bytes};
  }

  // Body bytes `node` has sent on its block route and its file route (where mei-get asks for runs
  // of small blocks by range).
  static double SentBytes(const ServedCacheNode& node) {
    double sent = 0;
    for (const char* route : {"blocks", "resolve"}) {
      const std::string series = std::string("mei_http_sent_bytes_total{route=\"") + route + "\"}";
      sent += testing::MetricValue(node.Url("/metrics"), series).value_or(0);
    }
    return sent;
  }

  // Starts mei-get (`argv`) and sends it `signal` once `ready()`; returns its exit status.
  std::optional<int> KillWhen(const std::vector<std::string>& argv,
                              const std::function<bool()>& ready, int signal,
                              const std::string& name) {
    testing::ChildProcess get =
        testing::ChildProcess::Start(argv, scratch_ / name, testing::LoopbackEnvironment());
    EXPECT_TRUE(testing::PollUntil(ready)) << get.Stderr();
    get.Signal(signal);
    return get.WaitFor(kProcessDeadline);
  }

  static inline fs::path dir_;
  static inline std::optional<testing::ServedOrigin> origin_;
  static inline std::shared_ptr<Store> copy_;
  fs::path scratch_;
  fs::path blocks_;
};

TEST_F(MeiGetTest, FineTuneWithItsBasePresentTransfersOnlyTheChangedTensorsBlocks) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest base = ManifestOf("acme/base");
  const Manifest fine_tune = ManifestOf("acme/ft-last");

  const auto first = RunGet(GetArgs(node.Url(), "acme/base", "base", {"--json"}), "get-base");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ExpectFilesMatch(base, scratch_ / "base");
  // The files are the device's only copy: no block frame beside them.
  EXPECT_EQ(FramesInTheBlockStore(), std::vector<fs::path>{});

  const auto [changed_blocks, changed_bytes] = BlocksNotIn(fine_tune, base);
  ASSERT_GT(changed_bytes, 0u);
  ASSERT_LT(changed_bytes, DistinctBytes(fine_tune) / 4) << "the fine-tune should share its base";

  const double sent_before = SentBytes(node);
  const auto delta = RunGet(GetArgs(node.Url(), "acme/ft-last", "ft", {"--json"}), "get-ft");
  ASSERT_EQ(delta.exit_code, 0) << delta.err;
  ExpectFilesMatch(fine_tune, scratch_ / "ft");
  const json::object summary = Summary(delta);

  const double allowed = static_cast<double>(changed_bytes) * 1.02 +
                         static_cast<double>(ManifestBytes("acme/ft-last"));
  EXPECT_LE(static_cast<double>(Number(summary, "wire_bytes")), allowed);
  EXPECT_EQ(Number(summary, "blocks_fetched"), changed_blocks);
  EXPECT_EQ(Number(summary, "fetched_raw_bytes"), changed_bytes);
  EXPECT_EQ(Number(summary, "reused_bytes"), DistinctBytes(fine_tune) - changed_bytes);
  EXPECT_EQ(Number(summary, "blocks_repaired"), 0u);
  // The node agrees: what it sent for this download is the changed blocks.
  const double sent = SentBytes(node) - sent_before;
  EXPECT_LE(sent, allowed);
  EXPECT_GE(sent, static_cast<double>(changed_bytes) * 0.5);  // raw blocks; compressed ones less
  // The shared blocks came out of the base's files: nothing else on the device held them.
  EXPECT_EQ(FramesInTheBlockStore(), std::vector<fs::path>{});
}

TEST_F(MeiGetTest, ABaseFileWithAFlippedByteGivesThatBlockNoMoreAndItIsFetched) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest base = ManifestOf("acme/base");
  const Manifest fine_tune = ManifestOf("acme/ft-last");
  ASSERT_EQ(RunGet(GetArgs(node.Url(), "acme/base", "base"), "get-base").exit_code, 0);

  // A byte flipped in the first tensor block of the base's weights, which the fine-tune shares,
  // and the file's modification time put back: only the block's SHA-256 can tell.
  const ManifestFile& weights = base.files[1];
  ASSERT_EQ(weights.path, "model.safetensors");
  const ManifestBlock& flipped = weights.blocks[1];
  const auto [changed_blocks, changed_bytes] = BlocksNotIn(fine_tune, base);
  const fs::path path = scratch_ / "base" / weights.path;
  const auto mtime = fs::last_write_time(path);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(flipped.offset + 17));
    char byte = 0;
    ASSERT_TRUE(file.get(byte));
    file.seekp(static_cast<std::streamoff>(flipped.offset + 17));
    ASSERT_TRUE(file.put(static_cast<char>(byte ^ 0x01)));
  }
  fs::last_write_time(path, mtime);

  const auto delta = RunGet(GetArgs(node.Url(), "acme/ft-last", "ft", {"--json"}), "get-ft");
  ASSERT_EQ(delta.exit_code, 0) << delta.err;
  ExpectFilesMatch(fine_tune, scratch_ / "ft");
  const json::object summary = Summary(delta);
  EXPECT_EQ(Number(summary, "blocks_repaired"), 1u);
  EXPECT_EQ(Number(summary, "blocks_fetched"), changed_blocks + 1);
  EXPECT_EQ(Number(summary, "fetched_raw_bytes"), changed_bytes + flipped.size);
}

TEST_F(MeiGetTest, ABaseFileWithANewSizeOrTimeIsNotReadAndItsBlocksAreFetched) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest base = ManifestOf("acme/base");
  const Manifest fine_tune = ManifestOf("acme/ft-last");
  // What the fine-tune can take from the base's other files than model.safetensors.
  Manifest others = base;
  others.files.erase(others.files.begin() + 1);
  const std::uint64_t to_fetch = BlocksNotIn(fine_tune, others).second;
  ASSERT_GT(to_fetch, BlocksNotIn(fine_tune, base).second);

  for (const std::string change : {"time", "size"}) {
    SCOPED_TRACE(change);
    ASSERT_EQ(RunGet(GetArgs(node.Url(), "acme/base", "base-" + change), "get-" + change).exit_code,
              0);
    const fs::path path = scratch_ / ("base-" + change) / "model.safetensors";
    if (change == "time") {
      fs::last_write_time(path, fs::last_write_time(path) + std::chrono::seconds(10));
    } else {
      std::ofstream(path, std::ios::binary | std::ios::app).put('\0');
    }
    const auto delta =
        RunGet(GetArgs(node.Url(), "acme/ft-last", "ft-" + change, {"--json"}), "ft-" + change);
    ASSERT_EQ(delta.exit_code, 0) << delta.err;
    ExpectFilesMatch(fine_tune, scratch_ / ("ft-" + change));
    const json::object summary = Summary(delta);
    EXPECT_EQ(Number(summary, "fetched_raw_bytes"), to_fetch);
    EXPECT_EQ(Number(summary, "blocks_repaired"), 0u);  // never read, so never found bad
    fs::remove_all(scratch_ / ("base-" + change));
    fs::remove_all(scratch_ / ("ft-" + change));
  }
}

TEST_F(MeiGetTest, KilledHalfwayThroughA512MiBModelTheRerunFetchesOnlyWhatIsMissing) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest big = ManifestOf("acme/big");
  const std::uint64_t total = DistinctBytes(big);
  ASSERT_GE(total, 500ull << 20);

  // Interrupted by kill -9 (nothing can be cleaned up) and by Ctrl-C (exit 130), each rate-limited
  // so that the signal lands mid-download on any machine.
  for (const int signal : {SIGKILL, SIGINT}) {
    SCOPED_TRACE(signal);
    const std::string out = "big-" + std::to_string(signal);
    const double sent_before = SentBytes(node);
    const auto killed = KillWhen(
        GetArgs(node.Url(), "acme/big", out, {"--limit-rate", "96MiB", "--json"}),
        [&] { return SentBytes(node) - sent_before >= 0.5 * total; }, signal, "get-killed-" + out);
    EXPECT_EQ(killed, signal == SIGKILL ? 128 + SIGKILL : 130);
    EXPECT_FALSE(fs::exists(scratch_ / out / "model.safetensors"))
        << "a file appeared under its name before it was complete";
    // What the killed run kept: the blocks in place in its partial files, verified here.
    const auto [held_blocks, held_bytes] = HeldInPartials(big, scratch_ / out);
    ASSERT_GE(held_bytes, total / 3);
    ASSERT_LT(held_bytes, total) << "the download finished before it was killed";

    const auto rerun = RunGet(GetArgs(node.Url(), "acme/big", out, {"--json"}), "rerun-" + out);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    ExpectFilesMatch(big, scratch_ / out);
    const json::object summary = Summary(rerun);
    const std::uint64_t missing = total - held_bytes;
    EXPECT_EQ(Number(summary, "blocks_reused"), held_blocks);
    EXPECT_EQ(Number(summary, "reused_bytes"), held_bytes);
    EXPECT_EQ(Number(summary, "fetched_raw_bytes"), missing);
    EXPECT_LE(static_cast<double>(Number(summary, "wire_bytes")),
              static_cast<double>(missing) * 1.02 + static_cast<double>(ManifestBytes("acme/big")));
    EXPECT_EQ(FramesInTheBlockStore(), std::vector<fs::path>{});
    fs::remove_all(scratch_ / out);
  }
}

TEST_F(MeiGetTest, TwoNodesServeOneDownloadAtOnce) {
  ServedCacheNode first = StartNode("edge-a");
  ServedCacheNode second = StartNode("edge-b");
  const Manifest base = ManifestOf("acme/base");

  const auto run =
      RunGet(GetArgs(first.Url(), "acme/base", "base", {"--node", second.Url(), "--json"}), "get");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectFilesMatch(base, scratch_ / "base");
  const json::object summary = Summary(run);
  const json::array& nodes = summary.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), 2u);
  const auto blocks = [&](std::size_t i) {
    return nodes[i].at("blocks").to_number<std::uint64_t>();
  };
  EXPECT_GT(blocks(0), 0u);
  EXPECT_GT(blocks(1), 0u);
  EXPECT_EQ(blocks(0) + blocks(1), Number(summary, "blocks_fetched"));
  EXPECT_EQ(nodes[0].at("failures").to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(nodes[1].at("failures").to_number<std::uint64_t>(), 0u);
  // And each node counted what it sent.
  EXPECT_GT(SentBytes(first), 0);
  EXPECT_GT(SentBytes(second), 0);
}

TEST_F(MeiGetTest, FirstNodeKilledMidDownloadTheRestComesFromTheSecond) {
  ServedCacheNode first = StartNode("edge-a");
  ServedCacheNode second = StartNode("edge-b");
  const Manifest base = ManifestOf("acme/base");
  const double total = static_cast<double>(DistinctBytes(base));

  testing::ChildProcess get = testing::ChildProcess::Start(
      GetArgs(first.Url(), "acme/base", "base",
              {"--node", second.Url(), "--limit-rate", "24MiB", "--json"}),
      scratch_ / "get", testing::LoopbackEnvironment());
  double sent_by_first = 0;
  ASSERT_TRUE(testing::PollUntil([&] {
    sent_by_first = SentBytes(first);
    return sent_by_first + SentBytes(second) >= 0.25 * total && sent_by_first > 0;
  })) << get.Stderr();
  first.process.Signal(SIGKILL);
  ASSERT_TRUE(first.process.WaitFor(kProcessDeadline));
  ASSERT_LT(sent_by_first + SentBytes(second), total) << "done before the node was killed";

  std::string out;
  while (auto line = get.ReadLine(kProcessDeadline)) out += *line;
  ASSERT_EQ(get.WaitFor(kProcessDeadline), 0) << get.Stderr();
  ExpectFilesMatch(base, scratch_ / "base");
  boost::system::error_code ec;
  const json::value summary = json::parse(out, ec);
  ASSERT_FALSE(ec) << out;
  const json::array& nodes = summary.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_GT(nodes[0].at("blocks").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(nodes[1].at("blocks").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(nodes[0].at("failures").to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(nodes[0].at("blocks").to_number<std::uint64_t>() +
                nodes[1].at("blocks").to_number<std::uint64_t>(),
            summary.at("blocks_fetched").to_number<std::uint64_t>());
}

TEST_F(MeiGetTest, BlocksACorruptingNodeSendsAreRefusedAndFetchedFromTheNextNode) {
  auto corrupting = testing::TestUpstream::Start(copy_, "corrupting");
  auto honest = testing::TestUpstream::Start(copy_, "honest");
  ASSERT_TRUE(corrupting && honest);
  corrupting->CorruptBlocks(true);
  const Manifest base = ManifestOf("acme/base");

  const auto run = RunGet(
      GetArgs(corrupting->Url(), "acme/base", "base", {"--node", honest->Url(), "--json"}), "get");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectFilesMatch(base, scratch_ / "base");
  const json::object summary = Summary(run);
  const json::array& nodes = summary.at("nodes").as_array();
  EXPECT_GE(nodes[0].at("bad_blocks").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(nodes[0].at("blocks").to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(nodes[1].at("blocks").to_number<std::uint64_t>(), Number(summary, "blocks_fetched"));
}

TEST_F(MeiGetTest, OnlyACorruptingNodeFailsWithAClearMessageAndWritesNoFile) {
  auto corrupting = testing::TestUpstream::Start(copy_, "corrupting");
  ASSERT_TRUE(corrupting);
  corrupting->CorruptBlocks(true);

  const auto run = RunGet(GetArgs(corrupting->Url(), "acme/base", "base"), "get");
  EXPECT_EQ(run.exit_code, 1);
  // The message names the block, the node, and what was wrong with what it sent.
  EXPECT_NE(run.err.find("no node could serve block"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(corrupting->Url() + " sent "), std::string::npos) << run.err;
  EXPECT_TRUE(run.err.find("SHA-256") != std::string::npos ||
              run.err.find("does not decode") != std::string::npos)
      << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_FALSE(fs::exists(scratch_ / "base" / "model.safetensors"));
  ExpectNoTemporaries(scratch_ / "base");

  // Nothing that failed verification is taken later: a run from an honest node reuses nothing.
  corrupting->CorruptBlocks(false);
  const auto again =
      RunGet(GetArgs(corrupting->Url(), "acme/base", "base", {"--json"}), "get-again");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ExpectFilesMatch(ManifestOf("acme/base"), scratch_ / "base");
  EXPECT_EQ(Number(Summary(again), "blocks_reused"), 0u);
}

TEST_F(MeiGetTest, AProgressBarIsDrawnOnATerminalAndNoControlCharacterOtherwise) {
  const auto script = testing::RequireTool("script");
  ASSERT_TRUE(script);
  ServedCacheNode node = StartNode("edge-a");
  std::string command;
  for (const std::string& arg :
       GetArgs(node.Url(), "acme/base", "tty", {"--limit-rate", "24MiB"})) {
    command += "'" + arg + "' ";
  }
  // script(1) runs the command on a pseudo-terminal and copies what it drew to our stdout.
  const auto tty = RunGet({script->string(), "-qefc", command, "/dev/null"}, "tty");
  ASSERT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_NE(tty.out.find("\r["), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("%"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("ETA"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("MiB/s"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\x1b[K"), std::string::npos) << tty.out;

  fs::remove_all(blocks_);
  const auto piped =
      RunGet(GetArgs(node.Url(), "acme/base", "piped", {"--limit-rate", "24MiB"}), "piped");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_NE(piped.out.find("on the wire"), std::string::npos) << piped.out;
  for (const std::string* text : {&piped.out, &piped.err}) {
    for (const char c : *text) {
      EXPECT_TRUE(c == '\n' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f))
          << "control character " << static_cast<int>(c) << " in: " << *text;
    }
  }
}

TEST_F(MeiGetTest, BadInputIsOneSentenceAndAnExitCodeScriptsCanTell) {
  ServedCacheNode node = StartNode("edge-a");
  const struct {
    std::vector<std::string> argv;
    int exit_code;
    std::string_view says;
  } cases[] = {
      {GetArgs(node.Url(), "not-a-model", "x"), 2, "not-a-model"},
      {GetArgs(node.Url(), "acme/base@", "x"), 2, "no revision"},
      {GetArgs("ftp://127.0.0.1:1", "acme/base", "x"), 2, "ftp"},
      {GetArgs(node.Url(), "acme/base", "x", {"--files", "*.bin"}), 2, "*.bin"},
      {GetArgs(node.Url(), "acme/nope", "x"), 1, "acme/nope"},
      {GetArgs(node.Url(), "acme/base@v9", "x"), 1, "v9"},
      {GetArgs("http://127.0.0.1:1", "acme/base", "x"), 1, "no node gave the manifest"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto run = RunGet(c.argv, "case-" + std::to_string(n++));
    EXPECT_EQ(run.exit_code, c.exit_code) << c.argv[1] << " " << c.argv[2] << ": " << run.err;
    EXPECT_NE(run.err.find(c.says), std::string::npos) << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
    EXPECT_FALSE(fs::exists(scratch_ / "x" / "model.safetensors"));
  }
}

}  // namespace
}  // namespace mei
