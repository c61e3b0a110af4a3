// Upstreams: where a cache node fills what it lacks (its parent, an origin or a regional node, and
// the peers a placement plan names), and their health.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/data_plane_client.h"

namespace mei::cache_node {

// One node to fill from: the parent ("parent") or a peer ("peer:<node id>"), the label used in
// metrics and the access log. The fetches themselves are the data-plane client's.
using Upstream = http::RemoteNode;
using http::FetchBlockFrame;
using http::FetchContext;
using http::FetchManifest;
using http::FetchModelList;

// How each upstream has been doing, for the admin status and /readyz. Thread-safe.
class UpstreamHealth {
 public:
  struct Entry {
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::uint64_t consecutive_failures = 0;
    std::string last_error;  // one sentence, "" when the last fetch worked
    std::chrono::system_clock::time_point last_success{};
    std::chrono::system_clock::time_point last_failure{};
  };

  // A fetch from `upstream` worked or failed. Every error counts as a failure: callers record a
  // 404 (the upstream answered) as a success or not at all.
  void Record(const std::string& upstream, const Result<void>& outcome);

  // Every upstream seen, by name.
  std::map<std::string, Entry> Snapshot() const;

  // The entry of `upstream`, or nullopt when it was never recorded.
  std::optional<Entry> Of(const std::string& upstream) const;

  // False once `upstream` failed at least `threshold` times in a row.
  bool Reachable(const std::string& upstream, std::uint64_t threshold = 3) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mei::cache_node
