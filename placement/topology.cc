#include "placement/topology.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <unordered_set>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;
using internal::JsonFields;

// The optional "x" and "y" of a node or user (0 when absent).
Result<void> ReadPosition(const JsonFields& fields, double& x, double& y) {
  auto px = fields.NumberOr("x", 0);
  if (!px) return px.error();
  auto py = fields.NumberOr("y", 0);
  if (!py) return py.error();
  x = *px;
  y = *py;
  return {};
}

}  // namespace

std::optional<std::uint32_t> Topology::FindNode(std::string_view id) const {
  for (std::uint32_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].id == id) return n;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> Topology::FindUser(std::string_view id) const {
  for (std::uint32_t u = 0; u < users.size(); ++u) {
    if (users[u].id == id) return u;
  }
  return std::nullopt;
}

Result<void> NormalizeTopology(Topology& topology) {
  if (!(topology.origin_rate_bytes_per_s > 0)) {
    return BadInput("topology origin_rate is not positive");
  }
  if (!(topology.deadline_s > 0)) return BadInput("topology deadline_s is not positive");
  std::unordered_set<std::string_view> ids;
  for (const Node& node : topology.nodes) {
    if (node.id.empty()) return BadInput("topology has a node with an empty id");
    if (!ids.insert(node.id).second) {
      return BadInput(fmt::format("topology has node \"{}\" twice", node.id));
    }
  }
  ids.clear();
  for (User& user : topology.users) {
    if (user.id.empty()) return BadInput("topology has a user with an empty id");
    if (!ids.insert(user.id).second) {
      return BadInput(fmt::format("topology has user \"{}\" twice", user.id));
    }
    std::unordered_set<std::uint32_t> linked;
    for (const Link& link : user.links) {
      if (link.node >= topology.nodes.size()) {
        return BadInput(fmt::format("user \"{}\" links to a node that does not exist", user.id));
      }
      if (!(link.rate_bytes_per_s > 0)) {
        return BadInput(fmt::format("user \"{}\" has a link rate that is not positive", user.id));
      }
      if (!linked.insert(link.node).second) {
        return BadInput(fmt::format("user \"{}\" links to node \"{}\" twice", user.id,
                                    topology.nodes[link.node].id));
      }
    }
    std::stable_sort(user.links.begin(), user.links.end(), [](const Link& a, const Link& b) {
      return a.rate_bytes_per_s > b.rate_bytes_per_s;
    });
  }
  return {};
}

json::value ToJsonValue(const Topology& topology) {
  json::object o;
  o["deadline_s"] = topology.deadline_s;
  o["origin_rate"] = topology.origin_rate_bytes_per_s;
  json::array nodes;
  for (const Node& node : topology.nodes) {
    nodes.emplace_back(json::object{{"id", node.id},
                                    {"url", node.url},
                                    {"capacity", node.capacity_bytes},
                                    {"x", node.x},
                                    {"y", node.y}});
  }
  o["nodes"] = std::move(nodes);
  json::array users;
  for (const User& user : topology.users) {
    json::array links;
    for (const Link& link : user.links) {
      links.emplace_back(
          json::object{{"node", topology.nodes[link.node].id}, {"rate", link.rate_bytes_per_s}});
    }
    users.emplace_back(
        json::object{{"id", user.id}, {"x", user.x}, {"y", user.y}, {"links", std::move(links)}});
  }
  o["users"] = std::move(users);
  return o;
}

Result<Topology> TopologyFromJson(const json::value& value) {
  auto fields = JsonFields::Of(value, "topology");
  if (!fields) return fields.error();
  Topology t;
  auto deadline = fields->Positive("deadline_s");
  if (!deadline) return deadline.error();
  t.deadline_s = *deadline;
  auto origin = fields->Positive("origin_rate");
  if (!origin) return origin.error();
  t.origin_rate_bytes_per_s = *origin;
  auto nodes = fields->Array("nodes");
  if (!nodes) return nodes.error();
  for (std::size_t i = 0; i < (*nodes)->size(); ++i) {
    auto n = JsonFields::Of((**nodes)[i], fmt::format("topology.nodes[{}]", i));
    if (!n) return n.error();
    Node node;
    auto id = n->String("id");
    if (!id) return id.error();
    node.id = std::move(*id);
    node.url = n->StringOr("url", "");
    auto capacity = n->Field("capacity");
    if (!capacity) return capacity.error();
    if ((*capacity)->is_number() && (*capacity)->to_number<double>() < 0) {
      return BadInput(fmt::format("node \"{}\" has a negative capacity", node.id));
    }
    auto bytes = n->Uint("capacity");
    if (!bytes) return bytes.error();
    node.capacity_bytes = *bytes;
    if (auto ok = ReadPosition(*n, node.x, node.y); !ok) return ok.error();
    t.nodes.push_back(std::move(node));
  }
  auto users = fields->Array("users");
  if (!users) return users.error();
  for (std::size_t i = 0; i < (*users)->size(); ++i) {
    auto u = JsonFields::Of((**users)[i], fmt::format("topology.users[{}]", i));
    if (!u) return u.error();
    User user;
    auto id = u->String("id");
    if (!id) return id.error();
    user.id = std::move(*id);
    if (auto ok = ReadPosition(*u, user.x, user.y); !ok) return ok.error();
    auto links = u->Array("links");
    if (!links) return links.error();
    for (std::size_t k = 0; k < (*links)->size(); ++k) {
      auto l = JsonFields::Of((**links)[k], fmt::format("user \"{}\" links[{}]", user.id, k));
      if (!l) return l.error();
      auto node_id = l->String("node");
      if (!node_id) return node_id.error();
      auto node = t.FindNode(*node_id);
      if (!node) {
        return BadInput(fmt::format("user \"{}\" links to unknown node \"{}\"", user.id, *node_id));
      }
      auto rate = l->Positive("rate");
      if (!rate) return rate.error();
      user.links.push_back(Link{*node, *rate});
    }
    t.users.push_back(std::move(user));
  }
  if (auto ok = NormalizeTopology(t); !ok) return ok.error();
  return t;
}

}  // namespace mei::placement
