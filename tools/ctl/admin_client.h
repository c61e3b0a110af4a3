// AdminClient: the admin API of one node (a cache node, or the origin for ingest), as typed
// blocking calls (cache-node/admin_api.h has the routes and bodies). Every call sends
// "Authorization: Bearer <token>" and turns whatever comes back into the node's JSON reply or a
// NodeError: no reply (unreachable), 401 (token refused), another error status with the node's
// {"error","message"} (error reply), or a 2xx body that is not the promised JSON (bad reply).
//
// Immutable after construction: calls may run on any number of threads at once. The token is kept
// for the Authorization header only and never appears in a NodeError.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http/client.h"
#include "common/manifest.h"
#include "common/plan.h"
#include "tools/ctl/block_selection.h"
#include "tools/ctl/node_error.h"
#include "tools/ctl/node_list.h"

namespace mei::tools {

// One reply of GET /admin/v1/trace: access-log lines (without their '\n'), oldest first.
struct TracePage {
  std::vector<std::string> lines;
  bool truncated = false;  // X-Mei-Truncated: ask again from the time of the last line
};

// POST /admin/v1/ingest on the origin's admin listener. `paths` are absolute paths on the
// origin's machine.
struct IngestRequest {
  ModelRef model;
  std::vector<std::string> paths;
  std::optional<double> min_saving;
  std::optional<int> zstd_level;
  std::optional<std::string> max_block;  // a byte size as the origin parses it: "4MiB"
};

class AdminClient {
 public:
  // REQUIRES: `token` is non-empty.
  AdminClient(NodeAddress node, std::string token, http::ClientOptions options);

  [[nodiscard]] const NodeAddress& node() const { return node_; }

  // GET /admin/v1/status, /models and /blocks: the node's reply object.
  [[nodiscard]] NodeResult<boost::json::object> Status() const;
  [[nodiscard]] NodeResult<boost::json::object> Models() const;
  [[nodiscard]] NodeResult<boost::json::object> Blocks() const;

  // POST /admin/v1/prefetch: {"queued", "model", "revision"} (the node answers 202).
  [[nodiscard]] NodeResult<boost::json::object> Prefetch(const ModelRef& model) const;

  // POST /admin/v1/pin, /unpin, /purge: {"pinned": n}, {"unpinned": n},
  // {"purged", "kept_pinned", "kept_shared"}.
  [[nodiscard]] NodeResult<boost::json::object> Pin(const BlockSelection& selection) const;
  [[nodiscard]] NodeResult<boost::json::object> Unpin(const BlockSelection& selection) const;
  [[nodiscard]] NodeResult<boost::json::object> Purge(const BlockSelection& selection) const;

  // PUT /admin/v1/plan with `plan_json` (a mei.plan.v1 document): {"assigned", "models",
  // "blocks"}.
  [[nodiscard]] NodeResult<boost::json::object> PutPlan(std::string_view plan_json) const;

  // GET /admin/v1/plan: the plan in force, or nullopt when the node has none (its 404).
  [[nodiscard]] NodeResult<std::optional<boost::json::object>> GetPlan() const;

  // GET /admin/v1/trace?since=`since` (RFC 3339 or Unix seconds; "" for every line).
  [[nodiscard]] NodeResult<TracePage> Trace(std::string_view since) const;

  // POST /admin/v1/ingest (origin only), waiting up to `wait` for the reply, which comes only
  // once the ingest is done: {"model", "revision", "commit", "files", ...}.
  [[nodiscard]] NodeResult<boost::json::object> Ingest(const IngestRequest& request,
                                                       std::chrono::milliseconds wait) const;

 private:
  [[nodiscard]] NodeResult<http::ClientResponse> Send(std::string method, std::string_view target,
                                                      std::string body,
                                                      const http::ClientOptions& options) const;
  [[nodiscard]] NodeResult<boost::json::object> Call(std::string method, std::string_view target,
                                                     std::string body,
                                                     const http::ClientOptions& options) const;

  NodeAddress node_;
  std::string token_;
  http::ClientOptions options_;
};

}  // namespace mei::tools
