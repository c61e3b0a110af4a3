#include "tests/integration/served_cache_node.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "common/digest.h"
#include "tests/integration/served_origin.h"

namespace mei::testing {

namespace fs = std::filesystem;

ServedCacheNode StartCacheNode(const fs::path& store_dir, const std::string& parent_url,
                               const std::string& node_id, const fs::path& scratch,
                               const std::vector<std::string>& extra_args, std::string token) {
  fs::create_directories(scratch);
  if (token.empty()) token = "test-admin-token-" + node_id + "-5f3c9a1e";
  const fs::path token_file = scratch / "admin-token";
  WriteTokenFile(token_file, token);

  std::vector<std::string> argv = {BinaryPath("cache-node/mei-cache-node").string(),
                                   "--store",
                                   store_dir.string(),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--admin-listen",
                                   "127.0.0.1:0",
                                   "--parent",
                                   parent_url,
                                   "--node-id",
                                   node_id,
                                   "--admin-token-file",
                                   token_file.string()};
  if (std::find(extra_args.begin(), extra_args.end(), "--capacity") == extra_args.end()) {
    argv.insert(argv.end(), {"--capacity", "1GiB"});
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  ServedCacheNode node{ChildProcess::Start(argv, scratch), node_id, "", "", token};

  const auto line = node.process.ReadLine(std::chrono::seconds(60));
  std::istringstream words(line.value_or(""));
  std::string listening, on, data_url, admin, admin_url;
  words >> listening >> on >> data_url >> admin >> admin_url;
  constexpr std::string_view kScheme = "http://";
  if (listening != "listening" || on != "on" || admin != "admin" ||
      !data_url.starts_with(kScheme) || !admin_url.starts_with(kScheme)) {
    ADD_FAILURE() << "mei-cache-node did not say where it listens (line: "
                  << line.value_or("<none>") << "); stderr: " << node.process.Stderr();
    return node;
  }
  node.endpoint = data_url.substr(kScheme.size());
  node.admin_endpoint = admin_url.substr(kScheme.size());
  return node;
}

http::ClientResponse AdminRequest(const ServedCacheNode& node, const std::string& method,
                                  const std::string& path, const std::string& body) {
  http::ClientRequest request;
  request.method = method;
  request.url = node.AdminUrl(path);
  request.headers = {{"Authorization", "Bearer " + node.token}};
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  request.body = body;
  auto response = http::Fetch(request);
  if (!response) {
    ADD_FAILURE() << method << " " << path << " on node " << node.node_id << ": "
                  << response.error().message;
    return {};
  }
  return std::move(*response);
}

std::optional<double> MetricValue(const std::string& metrics_url, std::string_view series) {
  auto response = FetchOnce(metrics_url);
  if (!response || response->status != 200) {
    ADD_FAILURE() << "cannot read " << metrics_url << ": "
                  << (response ? std::to_string(response->status) : response.error().message);
    return std::nullopt;
  }
  std::istringstream lines(response->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

Result<http::ClientResponse> FetchOnce(const std::string& url,
                                       std::vector<std::pair<std::string, std::string>> headers) {
  http::ClientRequest request;
  request.url = url;
  request.headers = std::move(headers);
  http::ClientOptions options;
  options.keep_alive = std::chrono::milliseconds(0);
  return http::Fetch(request, options);
}

http::ClientResponse Get(const std::string& url) {
  auto response = FetchOnce(url);
  if (!response) {
    ADD_FAILURE() << "GET " << url << ": " << response.error().message;
    return {};
  }
  return std::move(*response);
}

void ExpectJsonError(const http::ClientResponse& response, Errc code) {
  EXPECT_NE(response.Header("Content-Type").value_or("").find("application/json"),
            std::string_view::npos)
      << response.status << " " << response.body;
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(response.body, ec);
  const boost::json::object* object = ec ? nullptr : body.if_object();
  ASSERT_TRUE(object) << "not a JSON object: " << response.body;
  const boost::json::value* error = object->if_contains("error");
  const boost::json::value* message = object->if_contains("message");
  EXPECT_TRUE(error && error->is_string() && error->get_string() == CodeOf(code))
      << "expected error \"" << CodeOf(code) << "\": " << response.body;
  EXPECT_TRUE(message && message->is_string() && !message->get_string().empty()) << response.body;
}

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

Sha256Digest Sha256OfString(std::string_view bytes) {
  return Sha256Of(std::as_bytes(std::span(bytes)));
}

std::string PlanJson(const std::vector<PlanEntry>& nodes) {
  boost::json::object plan_nodes;
  std::map<std::string, boost::json::array> peers;
  for (const PlanEntry& entry : nodes) {
    boost::json::array models;
    if (!entry.model.empty()) {
      models.push_back({{"model", entry.model}, {"revision", "main"}, {"commit", ""}});
    }
    boost::json::array blocks;
    for (const BlockId& id : entry.blocks) {
      blocks.push_back(boost::json::string(id.Hex()));
      peers[id.Hex()].push_back(boost::json::string(entry.node_id));
    }
    plan_nodes[entry.node_id] = {{"url", entry.url},
                                 {"capacity", 1ull << 30},
                                 {"models", std::move(models)},
                                 {"blocks", std::move(blocks)}};
  }
  boost::json::object peer_object;
  for (auto& [id, holders] : peers) peer_object[id] = std::move(holders);
  return boost::json::serialize(boost::json::object{{"schema", "mei.plan.v1"},
                                                    {"created", "2026-01-01T00:00:00Z"},
                                                    {"algorithm", "test"},
                                                    {"nodes", std::move(plan_nodes)},
                                                    {"peers", std::move(peer_object)}});
}

void CacheNodeTest::SetUpTestSuite() {
  dir_ = fs::path(::testing::TempDir()) / ("cache_node_" + std::to_string(getpid()));
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  if (!Synthesize(dir_ / "models", "16MiB", "base", dir_ / "synth")) return;
  const fs::path store = dir_ / "origin-store";
  if (Ingest(store, "acme/base", dir_ / "models" / "base", dir_ / "ingest").empty()) return;
  auto small = RunProcess(
      {BinaryPath("origin/mei-origin").string(), "ingest", "--store", store.string(), "--model",
       "acme/small", "--max-block", "256KiB", "--json", (dir_ / "models" / "base").string()},
      dir_ / "ingest-small");
  if (small.exit_code != 0) {
    ADD_FAILURE() << "ingest of acme/small failed: " << small.err;
    return;
  }
  auto opened = OpenUpstreamStore(store);
  if (!opened) return;
  auto base = opened->manifests->Get("acme/base", "main");
  auto small_manifest = opened->manifests->Get("acme/small", "main");
  if (!base || !small_manifest) {
    ADD_FAILURE() << "the upstream store lacks the ingested manifests";
    return;
  }
  base_ = std::move(*base);
  small_ = std::move(*small_manifest);
  store_ = std::move(opened);
}

void CacheNodeTest::TearDownTestSuite() {
  store_.reset();
  fs::remove_all(dir_);
}

void CacheNodeTest::SetUp() {
  ASSERT_TRUE(store_) << "the upstream store was not made (see above)";
  scratch_ = dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::create_directories(scratch_);
}

std::unique_ptr<TestUpstream> CacheNodeTest::StartUpstream(std::string name) {
  return TestUpstream::Start(store_, std::move(name));
}

ServedCacheNode CacheNodeTest::StartNode(const std::string& node_id, const std::string& parent_url,
                                         const std::vector<std::string>& extra_args, fs::path store,
                                         std::string scratch_name) const {
  if (store.empty()) store = scratch_ / (node_id + "-store");
  if (scratch_name.empty()) scratch_name = node_id;
  return StartCacheNode(store, parent_url, node_id, scratch_ / scratch_name, extra_args);
}

fs::path CacheNodeTest::Source(const std::string& name) { return dir_ / "models" / "base" / name; }

std::vector<BlockId> UniqueBlocks(const Manifest& manifest) {
  std::vector<BlockId> ids;
  std::unordered_set<BlockId> seen;
  for (const ManifestFile& file : manifest.files) {
    for (const ManifestBlock& block : file.blocks) {
      if (seen.insert(block.id).second) ids.push_back(block.id);
    }
  }
  return ids;
}

ManifestBlock CacheNodeTest::LargestBlock(const Manifest& manifest) {
  ManifestBlock largest;
  for (const ManifestFile& file : manifest.files) {
    for (const ManifestBlock& block : file.blocks) {
      if (block.size > largest.size) largest = block;
    }
  }
  return largest;
}

std::uint64_t CacheNodeTest::StoredSize(const BlockId& id) {
  auto meta = store_->blocks->Meta(id);
  if (!meta) {
    ADD_FAILURE() << "block " << id.Hex() << " is not in the upstream store";
    return 0;
  }
  return meta->stored_size;
}

boost::json::object AdminStatus(const ServedCacheNode& node) {
  const http::ClientResponse response = AdminRequest(node, "GET", "/admin/v1/status");
  boost::system::error_code ec;
  boost::json::value status = boost::json::parse(response.body, ec);
  if (response.status != 200 || ec || !status.is_object()) {
    ADD_FAILURE() << "GET /admin/v1/status: " << response.status << " " << response.body;
    return {};
  }
  return std::move(status.as_object());
}

std::vector<BlockId> StoredBlockIds(const ServedCacheNode& node) {
  const http::ClientResponse response = AdminRequest(node, "GET", "/admin/v1/blocks");
  boost::system::error_code ec;
  const boost::json::value list = boost::json::parse(response.body, ec);
  std::vector<BlockId> ids;
  if (response.status != 200 || ec || !list.is_object() || !list.at("blocks").is_array()) {
    ADD_FAILURE() << "GET /admin/v1/blocks: " << response.status << " " << response.body;
    return ids;
  }
  for (const boost::json::value& block : list.at("blocks").as_array()) {
    auto id = BlockId::FromHex(block.at("id").as_string());
    if (id) {
      ids.push_back(*id);
    } else {
      ADD_FAILURE() << "GET /admin/v1/blocks lists a malformed id: " << block;
    }
  }
  return ids;
}

void CacheNodeTest::PutPlan(const ServedCacheNode& node, const std::string& plan) {
  const http::ClientResponse response = AdminRequest(node, "PUT", "/admin/v1/plan", plan);
  EXPECT_EQ(response.status, 200) << response.body << "\nplan: " << plan;
}

}  // namespace mei::testing
