// Topology: the edge nodes, the users (or cells) and the links between them.
//
// A user reaches some nodes, each at a link rate in bytes per second; a download of s bytes from
// node n to user u takes s / rate(u, n). A request is served within the deadline when that time is
// at most `deadline_s`. Objects refer to each other by index into `nodes` and `users`; ids are
// for files and logs. Plain values; thread-compatible.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei::placement {

struct Node {
  std::string id;   // "bs-0"
  std::string url;  // data-plane base URL; empty in a simulation
  std::uint64_t capacity_bytes = 0;
  double x = 0, y = 0;  // metres, for generated scenarios and plots
};

struct Link {
  std::uint32_t node = 0;       // index into Topology::nodes
  double rate_bytes_per_s = 0;  // > 0
};

struct User {
  std::string id;  // "u-17" or a cell "cell:bs-3"
  double x = 0, y = 0;
  std::vector<Link> links;  // at most one per node, fastest first
};

struct Topology {
  std::vector<Node> nodes;
  std::vector<User> users;
  double origin_rate_bytes_per_s = 0;  // from the origin through a node to a user (> 0)
  double deadline_s = 0;               // a hit must be downloadable within this time (> 0)

  [[nodiscard]] std::optional<std::uint32_t> FindNode(std::string_view id) const;
  [[nodiscard]] std::optional<std::uint32_t> FindUser(std::string_view id) const;
};

// Checks the origin rate and the deadline (> 0), ids (non-empty, unique), link rates and targets,
// and sorts each user's links fastest first. kBadRequest naming the first problem.
[[nodiscard]] Result<void> NormalizeTopology(Topology& topology);

// JSON: {"deadline_s":.., "origin_rate":.., "nodes":[{"id","url","capacity","x","y"}],
//        "users":[{"id","x","y","links":[{"node":"bs-0","rate":..}]}]}. Rates in bytes/s.
[[nodiscard]] boost::json::value ToJsonValue(const Topology& topology);
[[nodiscard]] Result<Topology> TopologyFromJson(const boost::json::value& json);

}  // namespace mei::placement
