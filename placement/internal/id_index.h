// Ids to indices for a topology and a catalog, built once so that reading a long trace or demand
// is not a quadratic scan. Not thread-safe to build, thread-compatible to read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "placement/catalog.h"
#include "placement/topology.h"

namespace mei::placement::internal {

class IdIndex {
 public:
  IdIndex(const Topology& topology, const Catalog& catalog) {
    for (std::uint32_t u = 0; u < topology.users.size(); ++u) users_[topology.users[u].id] = u;
    for (std::uint32_t n = 0; n < topology.nodes.size(); ++n) nodes_[topology.nodes[n].id] = n;
    for (std::uint32_t i = 0; i < catalog.models.size(); ++i) {
      const CatalogModel& m = catalog.models[i];
      models_[{m.model, m.revision}] = i;
      if (m.commit) models_.emplace(std::make_pair(m.model, m.commit->Hex()), i);
    }
  }

  std::optional<std::uint32_t> User(const std::string& id) const { return Find(users_, id); }
  std::optional<std::uint32_t> Node(const std::string& id) const { return Find(nodes_, id); }
  // `revision` is a revision name or a commit hex; empty means "main".
  std::optional<std::uint32_t> Model(const std::string& model, const std::string& revision) const {
    auto it = models_.find({model, revision.empty() ? std::string("main") : revision});
    if (it == models_.end()) return std::nullopt;
    return it->second;
  }
  void AddUser(const std::string& id, std::uint32_t index) { users_[id] = index; }

 private:
  static std::optional<std::uint32_t> Find(
      const std::unordered_map<std::string, std::uint32_t>& map, const std::string& id) {
    auto it = map.find(id);
    if (it == map.end()) return std::nullopt;
    return it->second;
  }

  std::unordered_map<std::string, std::uint32_t> users_;
  std::unordered_map<std::string, std::uint32_t> nodes_;
  std::map<std::pair<std::string, std::string>, std::uint32_t> models_;
};

}  // namespace mei::placement::internal
