// NodeFailover: the edge nodes one download may use, in the order the user gave them, and how each
// is doing. Before each attempt a download asks Order() where to try next: the nodes in good
// standing in the given order, then the ones that are down (a node that went away may be back, and
// a download should go on while any node can serve). A node is down once it failed
// kFailuresToDemote times in a row, or at once when it served a block that failed verification,
// and is in good standing again as soon as it serves something that verifies.
//
// Thread-safe: the download's connections report to one NodeFailover at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/http/data_plane_client.h"

namespace mei::tools {

class NodeFailover {
 public:
  static constexpr std::uint64_t kFailuresToDemote = 2;

  // What one node did during the download.
  struct NodeReport {
    http::RemoteNode node;
    std::uint64_t blocks = 0;      // blocks it served that verified
    std::uint64_t wire_bytes = 0;  // their bytes as sent (stored coding)
    std::uint64_t failures = 0;    // failed fetches, bad blocks included
    std::uint64_t bad_blocks = 0;  // blocks that failed verification
    bool down = false;
    std::string last_error;  // one sentence; "" when it never failed
  };

  // REQUIRES: `nodes` is not empty.
  explicit NodeFailover(std::vector<http::RemoteNode> nodes);

  // Indices of every node, those in good standing first, each group in the given order.
  [[nodiscard]] std::vector<std::size_t> Order() const;

  [[nodiscard]] const http::RemoteNode& node(std::size_t index) const;
  // Whether node `index` is down now.
  [[nodiscard]] bool down(std::size_t index) const;
  [[nodiscard]] std::size_t size() const { return reports_.size(); }

  // Node `index` served what was asked: `blocks` verified blocks of `wire_bytes` (0 and 0 for a
  // manifest).
  void Succeeded(std::size_t index, std::uint64_t blocks, std::uint64_t wire_bytes);

  // Node `index` failed: kIntegrity puts it down at once, anything else after kFailuresToDemote
  // in a row.
  void Failed(std::size_t index, const Error& error);

  [[nodiscard]] std::vector<NodeReport> Reports() const;

 private:
  mutable std::mutex mu_;
  std::vector<NodeReport> reports_;
  std::vector<std::uint64_t> consecutive_failures_;
};

}  // namespace mei::tools
