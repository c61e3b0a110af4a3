// A `mei-cache-node` child process for integration tests, the small clients the tests use to
// talk to it (admin requests with its bearer token, single values read from /metrics), and the
// fixture the cache-node tests share: one synthetic model in an upstream store, TestUpstreams over
// it, and nodes with stores of their own under the test's scratch folder.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "common/manifest.h"
#include "common/store.h"
#include "tests/integration/process.h"
#include "tests/integration/test_upstream.h"

namespace mei::testing {

// A running `mei-cache-node`.
struct ServedCacheNode {
  ChildProcess process;
  std::string node_id;
  std::string endpoint;        // data plane, "127.0.0.1:40123"; "" if it never said where
  std::string admin_endpoint;  // admin API, "127.0.0.1:40124"
  std::string token;           // the admin bearer token it was given

  std::string Url(std::string_view target = "") const {
    return "http://" + endpoint + std::string(target);
  }
  std::string AdminUrl(std::string_view target) const {
    return "http://" + admin_endpoint + std::string(target);
  }
};

// Writes a token file under `scratch` and starts
//   mei-cache-node --store STORE --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --parent URL
//                  --node-id ID --admin-token-file F [--capacity 1GiB] EXTRA...
// (--capacity only when `extra_args` does not give one), then waits at most 60 s for its first
// stdout line "listening on http://HOST:PORT admin http://HOST:PORT"; ADD_FAILURE with its stderr
// if none comes (the endpoints stay empty). The token is `token`, or one made from the node id
// when that is empty.
ServedCacheNode StartCacheNode(const std::filesystem::path& store_dir,
                               const std::string& parent_url, const std::string& node_id,
                               const std::filesystem::path& scratch,
                               const std::vector<std::string>& extra_args = {},
                               std::string token = {});

// `method` `path` on the node's admin listener with "Authorization: Bearer <token>" and `body`
// (JSON). A transport failure is ADD_FAILURE and a response with status 0.
http::ClientResponse AdminRequest(const ServedCacheNode& node, const std::string& method,
                                  const std::string& path, const std::string& body = "");

// The value of the series `series` ("name" or "name{label=\"value\"}", exactly as rendered) in
// the Prometheus text at `metrics_url`; nullopt when the series is absent. ADD_FAILURE when the
// page cannot be fetched.
std::optional<double> MetricValue(const std::string& metrics_url, std::string_view series);

// GET `url` with `headers` on a connection of its own (never a pooled one): Fetch's result.
Result<http::ClientResponse> FetchOnce(
    const std::string& url, std::vector<std::pair<std::string, std::string>> headers = {});

// FetchOnce(url), with a transport failure as ADD_FAILURE and status 0.
http::ClientResponse Get(const std::string& url);

// EXPECTs a JSON error body {"error": CodeOf(code), "message": non-empty} with a JSON
// Content-Type.
void ExpectJsonError(const http::ClientResponse& response, Errc code);

// Calls `done` every 20 ms until it returns true (true) or `deadline` passes (false). Only for
// effects that a test can observe through an API and nothing else (a background prefetch, a
// metric), never to wait for something a latch in a TestUpstream can signal.
bool PollUntil(const std::function<bool()>& done,
               std::chrono::milliseconds deadline = std::chrono::seconds(60));

Sha256Digest Sha256OfString(std::string_view bytes);

// One node of a placement plan written by a test: it holds `blocks` (and plans `model`, when
// given, at revision main).
struct PlanEntry {
  std::string node_id;
  std::string url;
  std::vector<BlockId> blocks;
  std::string model;
};

// A mei.plan.v1 document (common/plan.h) with these nodes, and every block's peers being the
// nodes that list it.
std::string PlanJson(const std::vector<PlanEntry>& nodes);

// The block ids of `manifest`, each once, in file order.
std::vector<BlockId> UniqueBlocks(const Manifest& manifest);

// GET /admin/v1/status as an object (empty after ADD_FAILURE when it is not a 200 JSON object).
boost::json::object AdminStatus(const ServedCacheNode& node);

// The ids GET /admin/v1/blocks lists, in its order.
std::vector<BlockId> StoredBlockIds(const ServedCacheNode& node);

// mei-synth's base model (16 MiB) ingested twice into one upstream store: as acme/base (blocks of
// at most 4 MiB) and as acme/small (blocks of at most 256 KiB, for capacity tests). Every test gets
// its own scratch folder; nodes get their own stores in it.
class CacheNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // A TestUpstream over the suite's store; ADD_FAILURE and null when it cannot start.
  static std::unique_ptr<TestUpstream> StartUpstream(std::string name = "origin");

  // A node with its store at `store` (default scratch/<id>-store) and its output in
  // scratch/<scratch_name> (default <id>).
  ServedCacheNode StartNode(const std::string& node_id, const std::string& parent_url,
                            const std::vector<std::string>& extra_args = {},
                            std::filesystem::path store = {}, std::string scratch_name = {}) const;

  // The file `name` of the synthetic model as written by mei-synth.
  static std::filesystem::path Source(const std::string& name);
  static ManifestBlock LargestBlock(const Manifest& manifest);
  // The stored (frame) size of a block in the upstream store.
  static std::uint64_t StoredSize(const BlockId& id);

  // PUT /admin/v1/plan; EXPECTs 200.
  static void PutPlan(const ServedCacheNode& node, const std::string& plan);

  static inline std::filesystem::path dir_;
  static inline std::shared_ptr<Store> store_;
  static inline Manifest base_;
  static inline Manifest small_;
  std::filesystem::path scratch_;
};

}  // namespace mei::testing
