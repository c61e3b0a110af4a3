// mei-get, the real binary, against a real `mei-origin serve` and real `mei-cache-node`s on
// loopback (and, where a node must misbehave, TestUpstreams over a copy of the origin's store):
// delta downloads of a fine-tune, resume after kill -9, failover when a node dies mid-download,
// corrupted blocks, the progress bar under a pseudo-terminal, and bad input.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
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

  // The distinct blocks of `manifest` that the device's block store holds, and their raw bytes.
  std::pair<std::uint64_t, std::uint64_t> HeldBlocks(const Manifest& manifest) const {
    std::uint64_t blocks = 0, bytes = 0;
    std::unordered_set<BlockId> seen;
    for (const ManifestFile& file : manifest.files) {
      for (const ManifestBlock& block : file.blocks) {
        const std::string hex = block.id.Hex();
        if (seen.insert(block.id).second && fs::exists(blocks_ / hex.substr(0, 2) / hex)) {
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

  // Starts mei-get (`argv`) and kills it with `signal` once the device's block store holds at
  // least `share` of `manifest`'s distinct bytes; returns its exit status.
  std::optional<int> KillWhenHolding(const std::vector<std::string>& argv, const Manifest& manifest,
                                     double share, int signal, const std::string& name) {
    testing::ChildProcess get =
        testing::ChildProcess::Start(argv, scratch_ / name, testing::LoopbackEnvironment());
    const double target = share * static_cast<double>(DistinctBytes(manifest));
    EXPECT_TRUE(testing::PollUntil([&] {
      return static_cast<double>(HeldBlocks(manifest).second) >= target;
    })) << get.Stderr();
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

  // What the fine-tune does not share with its base, counted once per distinct block.
  std::unordered_set<BlockId> in_base;
  for (const ManifestFile& file : base.files) {
    for (const ManifestBlock& block : file.blocks) in_base.insert(block.id);
  }
  std::unordered_set<BlockId> changed_blocks;
  std::uint64_t changed_bytes = 0;
  for (const ManifestFile& file : fine_tune.files) {
    for (const ManifestBlock& block : file.blocks) {
      if (!in_base.contains(block.id) && changed_blocks.insert(block.id).second) {
        changed_bytes += block.size;
      }
    }
  }
  ASSERT_GT(changed_bytes, 0u);
  ASSERT_LT(changed_bytes, DistinctBytes(fine_tune) / 4) << "the fine-tune should share its base";

  const auto sent_before =
      testing::MetricValue(node.Url("/metrics"), "mei_http_sent_bytes_total{route=\"blocks\"}");
  const auto delta = RunGet(GetArgs(node.Url(), "acme/ft-last", "ft", {"--json"}), "get-ft");
  ASSERT_EQ(delta.exit_code, 0) << delta.err;
  ExpectFilesMatch(fine_tune, scratch_ / "ft");
  const json::object summary = Summary(delta);

  const double allowed = static_cast<double>(changed_bytes) * 1.02 +
                         static_cast<double>(ManifestBytes("acme/ft-last"));
  EXPECT_LE(static_cast<double>(Number(summary, "wire_bytes")), allowed);
  EXPECT_EQ(Number(summary, "blocks_fetched"), changed_blocks.size());
  EXPECT_EQ(Number(summary, "fetched_raw_bytes"), changed_bytes);
  EXPECT_EQ(Number(summary, "reused_bytes"), DistinctBytes(fine_tune) - changed_bytes);
  // The node agrees: what it sent on the block route for this download is within the bound too.
  const auto sent_after =
      testing::MetricValue(node.Url("/metrics"), "mei_http_sent_bytes_total{route=\"blocks\"}");
  ASSERT_TRUE(sent_before && sent_after);
  EXPECT_LE(*sent_after - *sent_before, allowed);
  EXPECT_GT(*sent_after - *sent_before, 0);
}

TEST_F(MeiGetTest, KilledHalfwayThroughA512MiBModelTheRerunFetchesOnlyWhatIsMissing) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest big = ManifestOf("acme/big");
  const std::uint64_t total = DistinctBytes(big);
  ASSERT_GE(total, 500ull << 20);

  // Rate-limited so that the kill lands mid-download on any machine.
  const auto killed =
      KillWhenHolding(GetArgs(node.Url(), "acme/big", "big", {"--limit-rate", "96MiB", "--json"}),
                      big, 0.5, SIGKILL, "get-killed");
  EXPECT_EQ(killed, 128 + SIGKILL);
  const auto [held_blocks, held_bytes] = HeldBlocks(big);
  ASSERT_GE(held_bytes, total / 2);
  ASSERT_LT(held_bytes, total) << "the download finished before it was killed";
  EXPECT_FALSE(fs::exists(scratch_ / "big" / "model.safetensors"))
      << "a file appeared under its name before it was complete";

  const auto rerun = RunGet(GetArgs(node.Url(), "acme/big", "big", {"--json"}), "get-rerun");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  ExpectFilesMatch(big, scratch_ / "big");
  const json::object summary = Summary(rerun);
  const std::uint64_t missing = total - held_bytes;
  EXPECT_EQ(Number(summary, "blocks_reused"), held_blocks);
  EXPECT_EQ(Number(summary, "reused_bytes"), held_bytes);
  EXPECT_EQ(Number(summary, "fetched_raw_bytes"), missing);
  EXPECT_LE(static_cast<double>(Number(summary, "wire_bytes")),
            static_cast<double>(missing) * 1.02 + static_cast<double>(ManifestBytes("acme/big")));
}

TEST_F(MeiGetTest, FirstNodeKilledMidDownloadTheRestComesFromTheSecond) {
  ServedCacheNode first = StartNode("edge-a");
  ServedCacheNode second = StartNode("edge-b");
  const Manifest base = ManifestOf("acme/base");

  testing::ChildProcess get = testing::ChildProcess::Start(
      GetArgs(first.Url(), "acme/base", "base",
              {"--node", second.Url(), "--limit-rate", "24MiB", "--json"}),
      scratch_ / "get", testing::LoopbackEnvironment());
  const double quarter = 0.25 * static_cast<double>(DistinctBytes(base));
  ASSERT_TRUE(testing::PollUntil([&] {
    return static_cast<double>(HeldBlocks(base).second) >= quarter;
  })) << get.Stderr();
  first.process.Signal(SIGKILL);
  ASSERT_TRUE(first.process.WaitFor(kProcessDeadline));
  ASSERT_LT(HeldBlocks(base).second, DistinctBytes(base)) << "done before the node was killed";

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
  // Nothing that failed verification was kept on the device either.
  EXPECT_EQ(HeldBlocks(ManifestOf("acme/base")).first, 0u);
}

TEST_F(MeiGetTest, ABlockDamagedOnTheDevicesDiskIsFetchedAgain) {
  ServedCacheNode node = StartNode("edge-a");
  const Manifest base = ManifestOf("acme/base");
  ASSERT_EQ(RunGet(GetArgs(node.Url(), "acme/base", "first"), "get-first").exit_code, 0);

  const ManifestBlock& damaged = base.files.back().blocks.front();
  const std::string hex = damaged.id.Hex();
  const fs::path frame = blocks_ / hex.substr(0, 2) / hex;
  {
    std::fstream file(frame, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(frame) - 1));
    file.put('\x5a');
  }
  const auto run = RunGet(GetArgs(node.Url(), "acme/base", "second", {"--json"}), "get-second");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ExpectFilesMatch(base, scratch_ / "second");
  const json::object summary = Summary(run);
  EXPECT_EQ(Number(summary, "blocks_repaired"), 1u);
  EXPECT_EQ(Number(summary, "blocks_fetched"), 1u);
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
