#include "common/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "common/manifest.h"

namespace mei {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxNodeIdBytes = 128;

Error Bad(std::string message) { return Error{Errc::kBadRequest, std::move(message)}; }

Result<void> ValidateNodeId(std::string_view id) {
  if (id.empty()) return Bad("plan has a node with an empty id");
  if (id.size() > kMaxNodeIdBytes) {
    return Bad(fmt::format("plan node id \"{}...\" is longer than {} bytes", id.substr(0, 16),
                           kMaxNodeIdBytes));
  }
  for (char c : id) {
    if (c <= ' ' || c > '~') {
      return Bad(
          fmt::format("plan node id \"{}\" has a character that is not printable ASCII", id));
    }
  }
  return {};
}

Result<void> ValidateNode(const std::string& id, const PlanNode& node) {
  if (auto ok = ValidateNodeId(id); !ok) return ok;
  if (!node.url.empty() && !node.url.starts_with("http://") && !node.url.starts_with("https://")) {
    return Bad(fmt::format("plan node \"{}\" has url \"{}\", which is neither empty nor http(s)",
                           id, node.url));
  }
  std::set<std::pair<std::string_view, std::string_view>> models;
  for (const PlanModel& m : node.models) {
    if (auto ok = ValidateModelName(m.model); !ok) {
      return Bad(fmt::format("plan node \"{}\": {}", id, ok.error().message));
    }
    if (auto ok = ValidateRevisionName(m.revision); !ok) {
      return Bad(fmt::format("plan node \"{}\", model {}: {}", id, m.model, ok.error().message));
    }
    if (!models.emplace(m.model, m.revision).second) {
      return Bad(fmt::format("plan node \"{}\" lists {}@{} twice", id, m.model, m.revision));
    }
  }
  std::vector<BlockId> blocks = node.blocks;
  std::sort(blocks.begin(), blocks.end());
  if (auto dup = std::adjacent_find(blocks.begin(), blocks.end()); dup != blocks.end()) {
    return Bad(fmt::format("plan node \"{}\" lists block {} twice", id, dup->Hex()));
  }
  return {};
}

Result<std::string> StringField(const json::object& o, std::string_view key,
                                std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return Bad(fmt::format("{} has no \"{}\"", where, key));
  if (!v->is_string()) return Bad(fmt::format("{}.{} is not a string", where, key));
  return std::string(v->get_string());
}

Result<const json::object*> ObjectField(const json::object& o, std::string_view key,
                                        std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return Bad(fmt::format("{} has no \"{}\"", where, key));
  if (!v->is_object()) return Bad(fmt::format("{}.{} is not an object", where, key));
  return &v->get_object();
}

Result<const json::array*> ArrayField(const json::object& o, std::string_view key,
                                      std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return Bad(fmt::format("{} has no \"{}\"", where, key));
  if (!v->is_array()) return Bad(fmt::format("{}.{} is not an array", where, key));
  return &v->get_array();
}

Result<void> OnlyKeys(const json::object& o, std::initializer_list<std::string_view> keys,
                      std::string_view where) {
  for (const auto& [key, value] : o) {
    if (std::find(keys.begin(), keys.end(), std::string_view(key)) == keys.end()) {
      return Bad(fmt::format("{} has an unknown key \"{}\"", where, std::string_view(key)));
    }
  }
  return {};
}

Result<BlockId> BlockIdFrom(const json::value& v, std::string_view where) {
  if (!v.is_string()) return Bad(fmt::format("{} is not a string", where));
  auto id = Sha256Digest::FromHex(v.get_string());
  if (!id) return Bad(fmt::format("{} is not a block id (64 lowercase hex digits)", where));
  return *id;
}

Result<PlanModel> ParseModel(const json::value& v, std::string_view where) {
  if (!v.is_object()) return Bad(fmt::format("{} is not an object", where));
  const json::object& o = v.get_object();
  if (auto ok = OnlyKeys(o, {"model", "revision", "commit"}, where); !ok) return ok.error();
  PlanModel m;
  auto model = StringField(o, "model", where);
  if (!model) return model.error();
  m.model = std::move(*model);
  auto revision = StringField(o, "revision", where);
  if (!revision) return revision.error();
  m.revision = std::move(*revision);
  auto commit = StringField(o, "commit", where);
  if (!commit) return commit.error();
  if (!commit->empty()) {
    auto id = Sha256Digest::FromHex(*commit);
    if (!id) return Bad(fmt::format("{}.commit is neither empty nor 64 lowercase hex", where));
    m.commit = *id;
  }
  return m;
}

Result<PlanNode> ParseNode(const json::value& v, std::string_view where) {
  if (!v.is_object()) return Bad(fmt::format("{} is not an object", where));
  const json::object& o = v.get_object();
  if (auto ok = OnlyKeys(o, {"url", "capacity", "models", "blocks"}, where); !ok) {
    return ok.error();
  }
  PlanNode node;
  auto url = StringField(o, "url", where);
  if (!url) return url.error();
  node.url = std::move(*url);
  const json::value* capacity = o.if_contains("capacity");
  if (capacity == nullptr) return Bad(fmt::format("{} has no \"capacity\"", where));
  if (capacity->is_uint64()) {
    node.capacity = capacity->get_uint64();
  } else if (capacity->is_int64() && capacity->get_int64() >= 0) {
    node.capacity = static_cast<std::uint64_t>(capacity->get_int64());
  } else {
    return Bad(fmt::format("{}.capacity is not a non-negative integer", where));
  }
  auto models = ArrayField(o, "models", where);
  if (!models) return models.error();
  for (std::size_t i = 0; i < (*models)->size(); ++i) {
    auto m = ParseModel((**models)[i], fmt::format("{}.models[{}]", where, i));
    if (!m) return m.error();
    node.models.push_back(std::move(*m));
  }
  auto blocks = ArrayField(o, "blocks", where);
  if (!blocks) return blocks.error();
  node.blocks.reserve((*blocks)->size());
  for (std::size_t i = 0; i < (*blocks)->size(); ++i) {
    auto id = BlockIdFrom((**blocks)[i], fmt::format("{}.blocks[{}]", where, i));
    if (!id) return id.error();
    node.blocks.push_back(*id);
  }
  return node;
}

}  // namespace

void FillPeers(Plan& plan) {
  plan.peers.clear();
  for (const auto& [id, node] : plan.nodes) {
    for (const BlockId& block : node.blocks) plan.peers[block].push_back(id);
  }
}

Result<void> ValidatePlan(const Plan& plan) {
  if (plan.created.empty()) return Bad("plan has an empty \"created\"");
  if (plan.algorithm.empty()) return Bad("plan has an empty \"algorithm\"");
  for (const auto& [id, node] : plan.nodes) {
    if (auto ok = ValidateNode(id, node); !ok) return ok;
  }
  for (const auto& [block, holders] : plan.peers) {
    std::set<std::string_view> seen;
    for (const std::string& holder : holders) {
      auto node = plan.nodes.find(holder);
      if (node == plan.nodes.end()) {
        return Bad(
            fmt::format("plan peers of block {} name \"{}\", which is not a node of the plan",
                        block.Hex(), holder));
      }
      const auto& blocks = node->second.blocks;
      if (std::find(blocks.begin(), blocks.end(), block) == blocks.end()) {
        return Bad(fmt::format("plan peers of block {} name \"{}\", which does not hold it",
                               block.Hex(), holder));
      }
      if (!seen.insert(holder).second) {
        return Bad(fmt::format("plan peers of block {} name \"{}\" twice", block.Hex(), holder));
      }
    }
  }
  return {};
}

Result<Plan> ParsePlan(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return Bad(fmt::format("plan is not valid JSON: {}", ec.message()));
  if (!root.is_object()) return Bad("plan is not a JSON object");
  const json::object& o = root.get_object();
  if (auto ok = OnlyKeys(o, {"schema", "created", "algorithm", "nodes", "peers"}, "plan"); !ok) {
    return ok.error();
  }
  auto schema = StringField(o, "schema", "plan");
  if (!schema) return schema.error();
  if (*schema != kPlanSchema) {
    return Bad(fmt::format("plan schema is \"{}\", expected \"{}\"", *schema, kPlanSchema));
  }
  Plan plan;
  auto created = StringField(o, "created", "plan");
  if (!created) return created.error();
  plan.created = std::move(*created);
  auto algorithm = StringField(o, "algorithm", "plan");
  if (!algorithm) return algorithm.error();
  plan.algorithm = std::move(*algorithm);
  auto nodes = ObjectField(o, "nodes", "plan");
  if (!nodes) return nodes.error();
  for (const auto& [id, value] : **nodes) {
    auto node = ParseNode(value, fmt::format("plan.nodes[\"{}\"]", std::string_view(id)));
    if (!node) return node.error();
    plan.nodes.emplace(std::string(id), std::move(*node));
  }
  auto peers = ObjectField(o, "peers", "plan");
  if (!peers) return peers.error();
  for (const auto& [key, value] : **peers) {
    auto block =
        BlockIdFrom(json::value(key), fmt::format("plan.peers key \"{}\"", std::string_view(key)));
    if (!block) return block.error();
    if (!value.is_array()) {
      return Bad(fmt::format("plan.peers[\"{}\"] is not an array", std::string_view(key)));
    }
    std::vector<std::string> holders;
    for (const json::value& holder : value.get_array()) {
      if (!holder.is_string()) {
        return Bad(fmt::format("plan.peers[\"{}\"] has an entry that is not a string",
                               std::string_view(key)));
      }
      holders.emplace_back(holder.get_string());
    }
    plan.peers.emplace(*block, std::move(holders));
  }
  if (auto ok = ValidatePlan(plan); !ok) return ok.error();
  return plan;
}

std::string ToJson(const Plan& plan) {
  json::object o;
  o["schema"] = kPlanSchema;
  o["created"] = plan.created;
  o["algorithm"] = plan.algorithm;
  json::object nodes;
  for (const auto& [id, node] : plan.nodes) {
    json::object n;
    n["url"] = node.url;
    n["capacity"] = node.capacity;
    json::array models;
    for (const PlanModel& m : node.models) {
      models.emplace_back(json::object{{"model", m.model},
                                       {"revision", m.revision},
                                       {"commit", m.commit ? m.commit->Hex() : std::string()}});
    }
    n["models"] = std::move(models);
    json::array blocks;
    blocks.reserve(node.blocks.size());
    for (const BlockId& block : node.blocks) blocks.emplace_back(block.Hex());
    n["blocks"] = std::move(blocks);
    nodes[id] = std::move(n);
  }
  o["nodes"] = std::move(nodes);
  json::object peers;
  for (const auto& [block, holders] : plan.peers) {
    json::array h;
    for (const std::string& holder : holders) h.emplace_back(holder);
    peers[block.Hex()] = std::move(h);
  }
  o["peers"] = std::move(peers);
  return json::serialize(o);
}

}  // namespace mei
