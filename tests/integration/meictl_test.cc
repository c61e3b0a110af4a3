// `meictl` run as a real process against two `mei-cache-node` processes in front of one
// `mei-origin serve`, over real sockets on 127.0.0.1. Every command's effect is checked through
// the nodes' own admin API (AdminRequest), and its exit code and output as a script sees them.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/http/data_plane_client.h"
#include "common/manifest.h"
#include "common/plan.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::AdminRequest;
using testing::BinaryPath;
using testing::ProcessResult;
using testing::ServedCacheNode;

// One token for both nodes: meictl sends the same token to every node it is given.
constexpr std::string_view kToken = "meictl-test-admin-token-3b9e07d2";
constexpr std::string_view kModel = "acme/base";

json::object ParseObject(const std::string& text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << text;
    return {};
  }
  return std::move(value.as_object());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The origin's store holds acme/base (mei-synth's 16 MiB base model) and is served for the whole
// suite; every test gets two fresh nodes, bs-0 and bs-1 (the ids `mei-placement gen` gives two
// base stations), with stores of their own.
class MeictlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::path(::testing::TempDir()) / ("meictl_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!testing::Synthesize(dir_ / "models", "16MiB", "base", dir_ / "synth")) return;
    const fs::path store = dir_ / "origin-store";
    if (testing::Ingest(store, std::string(kModel), dir_ / "models" / "base", dir_ / "ingest")
            .empty()) {
      return;
    }
    origin_ = std::make_unique<testing::ServedOrigin>(
        testing::StartOriginWithAdmin(store, dir_ / "origin"));
  }

  static void TearDownTestSuite() {
    origin_.reset();
    fs::remove_all(dir_);
  }

  void SetUp() override {
    ASSERT_TRUE(origin_ && !origin_->endpoint.empty()) << "the origin did not start (see above)";
    scratch_ = dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(scratch_);
    token_file_ = scratch_ / "admin-token";
    testing::WriteTokenFile(token_file_, std::string(kToken));
    for (const char* id : {"bs-0", "bs-1"}) nodes_.push_back(StartNode(id));
    for (const ServedCacheNode& node : nodes_) ASSERT_FALSE(node.admin_endpoint.empty());
  }

  // Every node gets the same token, the one in token_file_.
  ServedCacheNode StartNode(const std::string& id) const {
    return testing::StartCacheNode(scratch_ / (id + "-store"), origin_->Url(""), id, scratch_ / id,
                                   {}, std::string(kToken));
  }

  // "bs-0=http://127.0.0.1:PORT", as --node takes it.
  std::string NodeFlag(std::size_t i) const {
    return nodes_[i].node_id + "=" + nodes_[i].AdminUrl("");
  }

  // meictl --node bs-0=URL --node bs-1=URL --token-file F ARGS..., with MEI_ADMIN_TOKEN unset.
  ProcessResult Meictl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"--node",    NodeFlag(0),    "--node",
                                     NodeFlag(1), "--token-file", token_file_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv);
  }

  // meictl ARGS... as given.
  ProcessResult Run(std::vector<std::string> args,
                    const testing::EnvironmentChanges& environment = {"MEI_ADMIN_TOKEN"}) const {
    args.insert(args.begin(), BinaryPath("tools/ctl/meictl").string());
    return testing::RunProcess(args, scratch_ / "meictl", environment);
  }

  static json::object Status(const ServedCacheNode& node) {
    const http::ClientResponse response = AdminRequest(node, "GET", "/admin/v1/status");
    EXPECT_EQ(response.status, 200) << response.body;
    return ParseObject(response.body);
  }

  // The node's entry for acme/base@main in its status "models", or an empty object.
  static json::object HeldModel(const ServedCacheNode& node) {
    const json::object status = Status(node);
    if (const json::value* models = status.if_contains("models"); models && models->is_array()) {
      for (const json::value& model : models->get_array()) {
        if (model.at("model").as_string() == kModel && model.at("revision") == "main") {
          return model.as_object();
        }
      }
    }
    return {};
  }

  static std::vector<std::string> StoredBlocks(const ServedCacheNode& node) {
    const json::object list = ParseObject(AdminRequest(node, "GET", "/admin/v1/blocks").body);
    std::vector<std::string> ids;
    if (const json::value* blocks = list.if_contains("blocks"); blocks && blocks->is_array()) {
      for (const json::value& block : blocks->get_array()) {
        ids.emplace_back(block.at("id").as_string());
      }
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  static std::string OriginManifest() {
    return testing::Get(origin_->Url("/v1/models/acme/base/revisions/main/manifest")).body;
  }

  fs::path WriteFile(const std::string& name, const std::string& text) const {
    std::ofstream(scratch_ / name, std::ios::trunc) << text;
    return scratch_ / name;
  }

  static inline fs::path dir_;
  static inline std::unique_ptr<testing::ServedOrigin> origin_;
  fs::path scratch_;
  fs::path token_file_;
  std::vector<ServedCacheNode> nodes_;
};

TEST_F(MeictlTest, StatusShowsEveryNodeInATableAndAsJson) {
  const ProcessResult table = Meictl({"status"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.err, "");
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_GE(lines.size(), 3u) << table.out;
  EXPECT_TRUE(lines[0].starts_with("NODE  CAPACITY")) << table.out;
  EXPECT_TRUE(lines[1].starts_with("bs-0  1.00 GiB")) << table.out;
  EXPECT_TRUE(lines[2].starts_with("bs-1  1.00 GiB")) << table.out;
  EXPECT_TRUE(Contains(lines[1], "parent: closed")) << table.out;

  // Global options after the subcommand, and the nodes from a topology file.
  const fs::path topology =
      WriteFile("nodes.txt", "# the test's nodes\nbs-0 " + nodes_[0].AdminUrl("") + "\nbs-1 " +
                                 nodes_[1].AdminUrl("") + "\n");
  const ProcessResult document = Run(
      {"status", "--json", "--topology", topology.string(), "--token-file", token_file_.string()});
  EXPECT_EQ(document.exit_code, 0) << document.err;
  json::object report = ParseObject(document.out);
  EXPECT_EQ(report["command"], "status");
  const json::array& entries = report["nodes"].as_array();
  ASSERT_EQ(entries.size(), 2u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const json::object& entry = entries[i].as_object();
    EXPECT_EQ(entry.at("node").as_string(), nodes_[i].node_id);
    EXPECT_EQ(entry.at("url").as_string(), nodes_[i].AdminUrl(""));
    EXPECT_EQ(entry.at("ok"), true);
    const json::object own = Status(nodes_[i]);
    EXPECT_EQ(entry.at("reply").at("node_id"), own.at("node_id"));
    EXPECT_EQ(entry.at("reply").at("capacity_bytes"), own.at("capacity_bytes"));
  }
}

TEST_F(MeictlTest, PrefetchWaitLeavesTheWholeModelOnBothNodes) {
  const ProcessResult prefetch = Meictl({"prefetch", "acme/base", "--wait", "--timeout", "120"});
  EXPECT_EQ(prefetch.exit_code, 0) << prefetch.err;
  const std::vector<std::string> lines = Lines(prefetch.out);
  ASSERT_EQ(lines.size(), 3u) << prefetch.out;
  EXPECT_TRUE(lines[1].starts_with("bs-0  done")) << prefetch.out;
  EXPECT_TRUE(lines[2].ends_with("100.0%")) << prefetch.out;
  for (const ServedCacheNode& node : nodes_) {
    const json::object held = HeldModel(node);
    ASSERT_FALSE(held.empty()) << node.node_id << " does not know acme/base";
    EXPECT_EQ(held.at("complete").to_number<double>(), 1.0) << node.node_id;
    EXPECT_EQ(held.at("held_blocks"), held.at("blocks")) << node.node_id;
  }
}

TEST_F(MeictlTest, PinnedBlocksSurviveAPurgeThatRemovesTheRest) {
  ASSERT_EQ(Meictl({"prefetch", "acme/base", "--wait"}).exit_code, 0);
  const std::vector<std::string> all = StoredBlocks(nodes_[0]);
  ASSERT_GT(all.size(), 4u);

  // A whole model, pinned and unpinned.
  const ProcessResult pin_model = Meictl({"pin", "acme/base@main"});
  EXPECT_EQ(pin_model.exit_code, 0) << pin_model.err;
  for (const ServedCacheNode& node : nodes_) {
    EXPECT_EQ(Status(node).at("pinned_blocks"), all.size()) << node.node_id;
  }
  EXPECT_EQ(Meictl({"unpin", "acme/base"}).exit_code, 0);
  for (const ServedCacheNode& node : nodes_) EXPECT_EQ(Status(node).at("pinned_blocks"), 0);

  // Two blocks by id, then a purge of the model.
  const std::vector<std::string> kept = {all[1], all[3]};
  const ProcessResult pin = Meictl({"pin", "--block", kept[0], "--block", kept[1]});
  EXPECT_EQ(pin.exit_code, 0) << pin.err;
  EXPECT_EQ(pin.out, "NODE  PINNED\nbs-0       2\nbs-1       2\n");
  for (const ServedCacheNode& node : nodes_) EXPECT_EQ(Status(node).at("pinned_blocks"), 2);

  const ProcessResult purge = Meictl({"purge", "acme/base", "--json"});
  EXPECT_EQ(purge.exit_code, 0) << purge.err;
  json::object report = ParseObject(purge.out);
  for (const json::value& entry : report["nodes"].as_array()) {
    EXPECT_EQ(entry.at("reply").at("purged"), all.size() - 2);
    EXPECT_EQ(entry.at("reply").at("kept_pinned"), 2);
  }
  for (const ServedCacheNode& node : nodes_) {
    EXPECT_EQ(StoredBlocks(node), kept) << node.node_id;
    EXPECT_EQ(HeldModel(node).at("held_blocks"), 2);
  }
}

TEST_F(MeictlTest, PlanApplyValidatesThenPutsTheSamePlanOnEveryNode) {
  const fs::path bad = WriteFile("bad-plan.json", R"({"schema":"mei.plan.v1"})");
  const ProcessResult refused = Meictl({"plan", "apply", bad.string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(Lines(refused.err).size(), 1u) << refused.err;
  EXPECT_TRUE(refused.err.starts_with("meictl: " + bad.string() + ": ")) << refused.err;
  for (const ServedCacheNode& node : nodes_) {
    EXPECT_EQ(AdminRequest(node, "GET", "/admin/v1/plan").status, 404) << "a bad plan was sent";
  }

  auto manifest = ParseManifest(OriginManifest());
  ASSERT_TRUE(manifest) << manifest.error().message;
  const BlockId block = manifest->files.front().blocks.front().id;
  const std::string plan_json =
      testing::PlanJson({{"bs-0", nodes_[0].Url(), {block}, std::string(kModel)}});
  const fs::path file = WriteFile("plan.json", plan_json);
  const ProcessResult apply = Meictl({"plan", "apply", file.string()});
  EXPECT_EQ(apply.exit_code, 0) << apply.err;
  const std::vector<std::string> lines = Lines(apply.out);
  ASSERT_EQ(lines.size(), 3u) << apply.out;
  EXPECT_TRUE(lines[1].starts_with("bs-0  yes")) << apply.out;
  EXPECT_TRUE(lines[2].starts_with("bs-1  no")) << apply.out;

  const Plan expected = ParsePlan(plan_json).value();
  for (const ServedCacheNode& node : nodes_) {
    const http::ClientResponse held = AdminRequest(node, "GET", "/admin/v1/plan");
    ASSERT_EQ(held.status, 200) << held.body;
    auto plan = ParsePlan(held.body);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(*plan, expected) << node.node_id;
  }
  // bs-0 prefetches the model the plan gives it, in the background, and pins the plan's block.
  EXPECT_TRUE(testing::PollUntil([&] { return Status(nodes_[0]).at("pinned_blocks") == 1; }));
  EXPECT_EQ(HeldModel(nodes_[0]).at("planned"), true);
  EXPECT_EQ(Status(nodes_[1]).at("pinned_blocks"), 0);

  const ProcessResult show = Meictl({"plan", "show", "--json"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  json::object report = ParseObject(show.out);
  for (const json::value& entry : report["nodes"].as_array()) {
    EXPECT_EQ(entry.at("reply").at("algorithm"), "test");
  }
}

TEST_F(MeictlTest, TracePullMergesBothNodesLogsIntoATraceThatFitReads) {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (const char* path : {"config.json", "tokenizer.json"}) {
      auto got = testing::FetchOnce(nodes_[i].Url("/acme/base/resolve/main/") + path,
                                    {{"X-Mei-Client", "phone-" + std::to_string(i)}});
      ASSERT_TRUE(got && got->status == 200);
    }
  }
  // The access-log line is written once the response is sent; wait for the nodes to have them.
  std::size_t logged = 0;
  for (const ServedCacheNode& node : nodes_) {
    ASSERT_TRUE(testing::PollUntil(
        [&] { return Lines(AdminRequest(node, "GET", "/admin/v1/trace").body).size() >= 2; }));
    logged += Lines(AdminRequest(node, "GET", "/admin/v1/trace").body).size();
  }

  const fs::path trace = scratch_ / "trace.jsonl";
  const ProcessResult pull = Meictl({"trace", "pull", "--out", trace.string()});
  EXPECT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_TRUE(Contains(pull.out, "wrote " + std::to_string(logged) + " lines to " + trace.string()))
      << pull.out;
  std::ifstream in(trace);
  std::stringstream text;
  text << in.rdbuf();
  const std::vector<std::string> lines = Lines(text.str());
  EXPECT_EQ(lines.size(), logged);
  std::string previous;
  std::set<std::string> nodes;
  for (const std::string& line : lines) {
    const json::object record = ParseObject(line);
    const std::string time(record.at("time").as_string());
    EXPECT_LE(previous, time) << "lines out of time order";
    previous = time;
    nodes.emplace(record.at("node").as_string());
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"bs-0", "bs-1"}));

  // --since after every line: nothing.
  const ProcessResult later =
      Meictl({"trace", "pull", "--since", "2199-01-01T00:00:00Z", "--out", trace.string()});
  EXPECT_EQ(later.exit_code, 0) << later.err;
  EXPECT_TRUE(Contains(later.out, "wrote 0 lines")) << later.out;
  EXPECT_EQ(fs::file_size(trace), 0u);

  // mei-placement fit reads the merged trace: a scenario with nodes bs-0 and bs-1, and the
  // catalog from the origin's manifest.
  ASSERT_EQ(Meictl({"trace", "pull", "--out", trace.string()}).exit_code, 0);
  const fs::path scenario = scratch_ / "scenario.json";
  const fs::path manifest = WriteFile("manifest.json", OriginManifest());
  const std::string placement = BinaryPath("placement/mei-placement").string();
  const ProcessResult gen =
      testing::RunProcess({placement, "gen", "--base-stations", "2", "--users", "2", "--families",
                           "1", "--models-per-family", "1", "--out", scenario.string()},
                          scratch_ / "gen");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const ProcessResult fit =
      testing::RunProcess({placement, "fit", "--scenario", scenario.string(), "--manifest",
                           manifest.string(), "--trace", trace.string(), "--cell-rate", "1e9",
                           "--out", (scratch_ / "fitted.json").string()},
                          scratch_ / "fit");
  EXPECT_EQ(fit.exit_code, 0) << fit.err;
  EXPECT_TRUE(Contains(fit.out, ": 2 requests -> ")) << fit.out << fit.err;
}

TEST_F(MeictlTest, AWrongTokenIsRefusedByEveryNodeWithExit3) {
  const fs::path wrong = scratch_ / "wrong-token";
  testing::WriteTokenFile(wrong, "meictl-test-wrong-token-99aa00bb");
  const ProcessResult status =
      Run({"--node", NodeFlag(0), "--node", NodeFlag(1), "--token-file", wrong.string(), "status"});
  EXPECT_EQ(status.exit_code, 3) << status.err;
  EXPECT_EQ(status.out, "");
  const std::vector<std::string> lines = Lines(status.err);
  ASSERT_EQ(lines.size(), 2u) << status.err;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_TRUE(lines[i].starts_with(nodes_[i].node_id + " (" + nodes_[i].AdminUrl("") +
                                     "): token refused"))
        << lines[i];
  }
  EXPECT_FALSE(Contains(status.err, "meictl-test-wrong-token")) << "the token was printed";
  EXPECT_FALSE(Contains(status.err, kToken));

  // The same from the environment, and for a command that changes something.
  const ProcessResult pin = Run({"--node", NodeFlag(0), "pin", "acme/base"},
                                {"MEI_ADMIN_TOKEN=meictl-test-wrong-token-99aa00bb"});
  EXPECT_EQ(pin.exit_code, 3) << pin.err;
  EXPECT_EQ(Status(nodes_[0]).at("pinned_blocks"), 0);
}

TEST_F(MeictlTest, AStoppedNodeIsReportedUnreachableWhileTheOtherAnswers) {
  nodes_[1].process.Signal(SIGKILL);
  ASSERT_TRUE(nodes_[1].process.WaitFor(std::chrono::seconds(30)));

  const ProcessResult status = Meictl({"status"});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_TRUE(status.err.starts_with("bs-1 (" + nodes_[1].AdminUrl("") + "): unreachable: "))
      << status.err;
  EXPECT_EQ(Lines(status.err).size(), 1u) << status.err;
  EXPECT_TRUE(Contains(status.out, "\nbs-0  1.00 GiB")) << status.out;
  EXPECT_FALSE(Contains(status.out, "bs-1  ")) << status.out;

  const ProcessResult prefetch = Meictl({"prefetch", "acme/base", "--wait", "--json"});
  EXPECT_EQ(prefetch.exit_code, 1);
  json::object report = ParseObject(prefetch.out);
  const json::array& entries = report["nodes"].as_array();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].at("ok"), true);
  EXPECT_EQ(entries[1].at("ok"), false);
  EXPECT_EQ(entries[1].at("error").at("kind"), "unreachable");
  EXPECT_EQ(HeldModel(nodes_[0]).at("complete").to_number<double>(), 1.0);
}

TEST_F(MeictlTest, BadInputExits2WithOneSentenceAndSendsNothing) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    bool with_token;
    std::string error;  // stderr starts with it
  };
  const std::vector<Case> cases = {
      {"no token",
       {"--node", NodeFlag(0), "pin", "acme/base"},
       false,
       "meictl: no admin token: give --token-file FILE or set MEI_ADMIN_TOKEN\n"},
      {"no nodes", {"status"}, true, "meictl: no nodes: give --node URL"},
      {"bad model", {"--node", NodeFlag(0), "pin", "acme"}, true, "meictl: "},
      {"bad revision", {"--node", NodeFlag(0), "prefetch", "acme/base@"}, true, "meictl: "},
      {"bad block", {"--node", NodeFlag(0), "purge", "--block", "xyz"}, true, "meictl: --block"},
      {"unknown flag", {"--node", NodeFlag(0), "status", "--bogus"}, true, ""},
      {"no subcommand", {"--node", NodeFlag(0)}, true, ""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    if (c.with_token) args.insert(args.begin(), {"--token-file", token_file_.string()});
    const ProcessResult result = Run(args);
    EXPECT_EQ(result.exit_code, 2) << c.name << ": " << result.err;
    EXPECT_EQ(result.out, "") << c.name;
    EXPECT_TRUE(result.err.starts_with(c.error)) << c.name << ": " << result.err;
    if (!c.error.empty()) {
      EXPECT_EQ(Lines(result.err).size(), 1u) << c.name << ": " << result.err;
    }
  }
  EXPECT_EQ(Status(nodes_[0]).at("pinned_blocks"), 0);
  EXPECT_TRUE(HeldModel(nodes_[0]).empty()) << "something was prefetched";
}

TEST_F(MeictlTest, IngestThroughTheOriginsAdminApiThenModelsListsIt) {
  ASSERT_FALSE(origin_->admin_endpoint.empty());
  // A relative PATH is made absolute from meictl's current directory (the test's).
  const std::string relative = fs::relative(dir_ / "models" / "base", fs::current_path()).string();
  const ProcessResult ingest =
      Run({"ingest", "--origin-admin", origin_->AdminUrl(""), "acme/copy@v2", relative},
          {"MEI_ADMIN_TOKEN=" + origin_->token});
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_TRUE(ingest.out.starts_with("acme/copy@v2: commit ")) << ingest.out;
  const std::string commit =
      Lines(ingest.out).at(0).substr(std::string("acme/copy@v2: commit ").size());

  // The origin's own data plane serves it.
  auto models = http::FetchModelList({"origin", origin_->Url("")}, {});
  ASSERT_TRUE(models) << models.error().message;
  EXPECT_TRUE(std::any_of(models->begin(), models->end(), [&](const auto& entry) {
    return entry.model == "acme/copy" && entry.revision == "v2" && entry.commit == commit;
  }));

  const ProcessResult list = Run({"models", "--origin", origin_->Url("")});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, "\nacme/copy  v2        " + commit + "\n")) << list.out;

  const ProcessResult refused =
      Run({"ingest", "--origin-admin", origin_->AdminUrl(""), "acme/copy@v3", relative},
          {"MEI_ADMIN_TOKEN=meictl-test-wrong-token-99aa00bb"});
  EXPECT_EQ(refused.exit_code, 3) << refused.err;
  EXPECT_TRUE(refused.err.starts_with("origin (" + origin_->AdminUrl("") + "): token refused"))
      << refused.err;
}

}  // namespace
}  // namespace mei
