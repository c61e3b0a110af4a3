#include "cache-node/admin_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <unordered_set>
#include <utility>
#include <variant>

#include "common/codec.h"
#include "common/http/admin_reply.h"
#include "common/http/target.h"
#include "common/plan.h"

namespace mei::cache_node {
namespace {

namespace json = boost::json;
using http::Reply;
using http::Request;

constexpr std::uint64_t kTraceReplyLimit = 64ull << 20;

Reply JsonReply(int status, const json::value& value) {
  return http::AdminReply(Reply::Json(status, json::serialize(value)));
}

std::string IsoTime(std::chrono::system_clock::time_point time) {
  if (time == std::chrono::system_clock::time_point{}) return "";
  return FormatTimestamp(time);
}

// The block ids a pin/unpin/purge body names: {"blocks": [hex...]} or {"model", "revision"}
// (revision defaults to "main"), whose manifest is looked up (and fetched when not held).
struct Selection {
  std::vector<BlockId> blocks;
  std::optional<Manifest> manifest;  // when a model was named
};

// A coroutine: naming a model may fetch its manifest from the parent.
boost::asio::awaitable<Result<Selection>> SelectBlocks(const Request& request,
                                                       ManifestCache& manifests) {
  boost::system::error_code ec;
  const json::value body = json::parse(request.body, ec);
  const json::object* object = ec ? nullptr : body.if_object();
  if (object == nullptr) {
    co_return Error{
        Errc::kBadRequest,
        "the body must be a JSON object with \"model\" (and \"revision\") or \"blocks\""};
  }
  Selection selection;
  if (const json::value* blocks = object->if_contains("blocks")) {
    const json::array* array = blocks->if_array();
    if (array == nullptr) co_return Error{Errc::kBadRequest, "\"blocks\" must be an array of ids"};
    for (const json::value& entry : *array) {
      if (!entry.is_string()) co_return Error{Errc::kBadRequest, "a block id must be a string"};
      auto id = BlockId::FromHex(entry.get_string());
      if (!id) co_return id.error();
      selection.blocks.push_back(*id);
    }
    co_return selection;
  }
  const json::value* model = object->if_contains("model");
  if (model == nullptr || !model->is_string()) {
    co_return Error{Errc::kBadRequest, "the body names neither \"model\" nor \"blocks\""};
  }
  std::string revision = "main";
  if (const json::value* given = object->if_contains("revision")) {
    if (!given->is_string()) co_return Error{Errc::kBadRequest, "\"revision\" must be a string"};
    revision = std::string(given->get_string());
  }
  const std::string name(model->get_string());
  if (auto valid = ValidateModelName(name); !valid) co_return valid.error();
  if (auto valid = ValidateRevisionName(revision); !valid) co_return valid.error();
  auto manifest = co_await manifests.Get(name, revision);
  if (!manifest) co_return manifest.error();
  std::unordered_set<BlockId> seen;
  for (const ManifestFile& file : (*manifest)->files) {
    for (const ManifestBlock& block : file.blocks) {
      if (seen.insert(block.id).second) selection.blocks.push_back(block.id);
    }
  }
  selection.manifest = **manifest;
  co_return selection;
}

// Every manifest the node knows, once per commit.
std::vector<Manifest> KnownManifests(const AdminContext& context) {
  std::vector<Manifest> manifests;
  auto revisions = context.store.manifests->List();
  if (!revisions) return manifests;
  std::set<std::string> commits;
  for (const ManifestStore::RevisionEntry& entry : *revisions) {
    if (!commits.insert(entry.commit).second) continue;
    auto manifest = context.store.manifests->Get(entry.model, entry.commit);
    if (manifest) manifests.push_back(std::move(*manifest));
  }
  return manifests;
}

json::object Holding(const AdminContext& context, const Manifest& manifest) {
  std::unordered_set<BlockId> seen;
  std::uint64_t blocks = 0, held = 0, bytes = 0, held_bytes = 0;
  for (const ManifestFile& file : manifest.files) {
    for (const ManifestBlock& block : file.blocks) {
      if (!seen.insert(block.id).second) continue;
      ++blocks;
      bytes += block.size;
      if (context.index.Contains(block.id)) {
        ++held;
        held_bytes += block.size;
      }
    }
  }
  return json::object{
      {"blocks", blocks},
      {"held_blocks", held},
      {"bytes", bytes},
      {"held_bytes", held_bytes},
      {"complete", bytes == 0 ? 1.0 : static_cast<double>(held_bytes) / static_cast<double>(bytes)},
  };
}

json::array ModelsJson(const AdminContext& context) {
  json::array models;
  auto revisions = context.store.manifests->List();
  if (!revisions) return models;
  const PlanNode own = context.plan.Own();
  for (const ManifestStore::RevisionEntry& entry : *revisions) {
    auto manifest = context.store.manifests->Get(entry.model, entry.commit);
    if (!manifest) continue;
    json::object model = Holding(context, *manifest);
    model["model"] = entry.model;
    model["revision"] = entry.revision;
    model["commit"] = entry.commit;
    model["planned"] = std::any_of(own.models.begin(), own.models.end(), [&](const PlanModel& m) {
      return m.model == entry.model && m.revision == entry.revision;
    });
    models.push_back(std::move(model));
  }
  return models;
}

json::value JobJson(const PrefetchJob& job) {
  return json::object{{"model", job.model},
                      {"revision", job.revision},
                      {"state", job.state},
                      {"commit", job.commit},
                      {"blocks", job.blocks_total},
                      {"blocks_done", job.blocks_done},
                      {"bytes_fetched", job.bytes_fetched},
                      {"error", job.error}};
}

json::object UpstreamJson(const AdminContext& context, const Upstream& upstream,
                          const UpstreamHealth::Entry& health) {
  return json::object{
      {"name", upstream.name},
      {"url", upstream.base_url},
      {"reachable", context.health.Reachable(upstream.name)},
      {"circuit", NameOf(health.circuit)},
      {"open_until", health.circuit == CircuitState::kClosed ? "" : IsoTime(health.open_until)},
      {"opens", health.opens},
      {"skips", health.skips},
      {"successes", health.successes},
      {"failures", health.failures},
      {"consecutive_failures", health.consecutive_failures},
      {"last_error", health.last_error},
      {"last_success", IsoTime(health.last_success)},
      {"last_failure", IsoTime(health.last_failure)},
  };
}

// The parent and the --peer nodes, then any other upstream the node has used (a peer whose URL
// only a plan gives), each with its health.
json::array UpstreamsJson(const AdminContext& context) {
  std::map<std::string, UpstreamHealth::Entry> health = context.health.Snapshot();
  json::array upstreams;
  for (const Upstream& upstream : context.upstreams) {
    const auto found = health.find(upstream.name);
    upstreams.push_back(UpstreamJson(
        context, upstream, found == health.end() ? UpstreamHealth::Entry{} : found->second));
    if (found != health.end()) health.erase(found);
  }
  const std::optional<Plan> plan = context.plan.Get();
  for (const auto& [name, entry] : health) {
    std::string url;
    constexpr std::string_view kPeer = "peer:";
    if (plan && name.starts_with(kPeer)) {
      if (const auto node = plan->nodes.find(name.substr(kPeer.size()));
          node != plan->nodes.end()) {
        url = node->second.url;
      }
    }
    upstreams.push_back(UpstreamJson(context, Upstream{name, url}, entry));
  }
  return upstreams;
}

Reply Status(const AdminContext& context) {
  const BlockIndex::Stats stats = context.index.stats();
  const std::uint64_t hits = context.counters.hits.load();
  const std::uint64_t misses = context.counters.misses.load();
  const std::uint64_t partials = context.counters.partials.load();
  const std::uint64_t requests = hits + misses + partials;

  json::array jobs;
  for (const PrefetchJob& job : context.prefetcher.Jobs()) jobs.push_back(JobJson(job));

  json::value plan = nullptr;
  if (const std::optional<Plan> current = context.plan.Get()) {
    const PlanNode own = context.plan.Own();
    plan = json::object{{"algorithm", current->algorithm},
                        {"created", current->created},
                        {"models", own.models.size()},
                        {"blocks", own.blocks.size()}};
  }
  return JsonReply(
      200, json::object{
               {"node_id", context.node_id},
               {"capacity_bytes", stats.capacity_bytes},
               {"used_bytes", stats.used_bytes},
               {"blocks", stats.blocks},
               // The store's own count: equal to "blocks" unless the index lost track of a block.
               {"stored_blocks", context.store.blocks->block_count()},
               {"pinned_blocks", stats.pinned_blocks},
               {"evictions", stats.evictions},
               {"evicted_bytes", stats.evicted_bytes},
               {"requests", json::object{{"hit", hits}, {"miss", misses}, {"partial", partials}}},
               {"hit_ratio",
                requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests)},
               {"fills_in_flight", context.filler.in_flight()},
               {"models", ModelsJson(context)},
               {"upstreams", UpstreamsJson(context)},
               {"prefetch", std::move(jobs)},
               {"plan", std::move(plan)},
           });
}

Reply Blocks(const AdminContext& context) {
  json::array blocks;
  for (const auto& [id, meta] : context.index.List()) {
    blocks.push_back(json::object{{"id", id.Hex()},
                                  {"raw_size", meta.raw_size},
                                  {"stored_size", meta.stored_size},
                                  {"codec", NameOf(meta.codec)},
                                  {"last_access_ms", meta.last_access_ms},
                                  {"hits", meta.hits},
                                  {"pinned", context.index.IsPinned(id)}});
  }
  return JsonReply(200, json::object{{"blocks", std::move(blocks)}});
}

Reply Prefetch(const AdminContext& context, const Request& request) {
  boost::system::error_code ec;
  const json::value body = json::parse(request.body, ec);
  const json::object* object = ec ? nullptr : body.if_object();
  const json::value* model = object ? object->if_contains("model") : nullptr;
  if (model == nullptr || !model->is_string()) {
    return http::AdminError(
        {Errc::kBadRequest, "the body must be a JSON object with a \"model\" string"});
  }
  std::string revision = "main";
  if (const json::value* given = object->if_contains("revision")) {
    if (!given->is_string())
      return http::AdminError({Errc::kBadRequest, "\"revision\" must be a string"});
    revision = std::string(given->get_string());
  }
  const std::string name(model->get_string());
  if (auto valid = ValidateModelName(name); !valid) return http::AdminError(valid.error());
  if (auto valid = ValidateRevisionName(revision); !valid) return http::AdminError(valid.error());
  context.prefetcher.Enqueue(name, revision);
  return JsonReply(202, json::object{{"queued", true}, {"model", name}, {"revision", revision}});
}

Reply Pin(const AdminContext& context, const Result<Selection>& selection, bool pin) {
  if (!selection) return http::AdminError(selection.error());
  auto changed =
      pin ? context.index.Pin(selection->blocks) : context.index.Unpin(selection->blocks);
  if (!changed) return http::AdminError(changed.error());
  return JsonReply(200, json::object{{pin ? "pinned" : "unpinned", selection->blocks.size()}});
}

Reply Purge(const AdminContext& context, const Result<Selection>& selection) {
  if (!selection) return http::AdminError(selection.error());
  // A model's blocks that another known model also uses stay: purging a fine-tune must not take
  // its base's shared tensors from under the base.
  std::unordered_set<BlockId> keep;
  if (selection->manifest) {
    for (const Manifest& other : KnownManifests(context)) {
      if (other.commit == selection->manifest->commit) continue;
      for (const ManifestFile& file : other.files) {
        for (const ManifestBlock& block : file.blocks) keep.insert(block.id);
      }
    }
  }
  std::uint64_t purged = 0, pinned = 0, shared = 0;
  for (const BlockId& id : selection->blocks) {
    if (keep.contains(id)) {
      ++shared;
      continue;
    }
    auto outcome = context.index.Purge(id);
    if (!outcome) return http::AdminError(outcome.error());
    if (*outcome == BlockIndex::Purged::kDeleted) ++purged;
    if (*outcome == BlockIndex::Purged::kPinned) ++pinned;
  }
  return JsonReply(
      200, json::object{{"purged", purged}, {"kept_pinned", pinned}, {"kept_shared", shared}});
}

Reply Trace(const AdminContext& context, const Request& request) {
  auto target = http::ParseTarget(request.target);
  if (!target) return http::AdminError(target.error());
  const auto since_text = http::QueryValue(target->query, "since");
  std::chrono::system_clock::time_point since{};
  if (since_text) {
    auto parsed = ParseTimestamp(*since_text);
    if (!parsed) return http::AdminError(parsed.error());
    since = *parsed;
  }
  std::string lines;
  bool truncated = false;
  auto exported = context.access_log.ExportSince(since, [&](std::string_view line) {
    if (lines.size() + line.size() + 1 > kTraceReplyLimit) {
      truncated = true;
      return false;
    }
    lines.append(line);
    lines.push_back('\n');
    return true;
  });
  if (!exported) return http::AdminError(exported.error());
  Reply reply = http::AdminReply(Reply::Text(200, "application/x-ndjson", std::move(lines)));
  // A client pulls the rest by asking again from the time of the last line it got.
  if (truncated) reply.With("X-Mei-Truncated", "true");
  return reply;
}

}  // namespace

AdminApi::AdminApi(AdminContext context, http::AdminAuth auth)
    : context_(std::move(context)), auth_(std::move(auth)) {}

void AdminApi::Apply(Plan plan) {
  context_.plan.Set(std::move(plan));
  const PlanNode own = context_.plan.Own();
  context_.index.SetPlanPins(own.blocks);
  for (const PlanModel& model : own.models) {
    context_.prefetcher.Enqueue(model.model, model.commit ? model.commit->Hex() : model.revision);
  }
  if (context_.models_changed) context_.models_changed();
}

boost::asio::awaitable<http::Reply> AdminApi::Handle(const http::Request& request) {
  auto route = http::AdminRoute(request, auth_, "mei-cache-node");
  if (Reply* refused = std::get_if<Reply>(&route)) co_return std::move(*refused);
  const std::string name = std::get<std::string>(route);
  if (request.method == "POST" && (name == "pin" || name == "unpin" || name == "purge")) {
    // Naming a model may fetch its manifest from the parent: the coroutine waits, no thread does.
    const Result<Selection> selection = co_await SelectBlocks(request, context_.manifests);
    if (name == "purge") co_return Purge(context_, selection);
    co_return Pin(context_, selection, name == "pin");
  }
  co_return HandleOther(request, name);
}

http::Reply AdminApi::HandleOther(const http::Request& request, const std::string& name) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (name == "status") return get ? Status(context_) : http::AdminMethodNotAllowed(request, "GET");
  if (name == "blocks") return get ? Blocks(context_) : http::AdminMethodNotAllowed(request, "GET");
  if (name == "models") {
    return get ? JsonReply(200, json::object{{"models", ModelsJson(context_)}})
               : http::AdminMethodNotAllowed(request, "GET");
  }
  if (name == "trace")
    return get ? Trace(context_, request) : http::AdminMethodNotAllowed(request, "GET");
  if (name == "prefetch") {
    return post ? Prefetch(context_, request) : http::AdminMethodNotAllowed(request, "POST");
  }
  if (name == "pin" || name == "unpin" || name == "purge") {  // POST is Handle's
    return http::AdminMethodNotAllowed(request, "POST");
  }
  if (name == "plan") {
    if (get) {
      const std::optional<Plan> plan = context_.plan.Get();
      if (!plan)
        return http::AdminError({Errc::kFileNotFound, "no plan has been put on this node"});
      return http::AdminReply(Reply::Json(200, ToJson(*plan)));
    }
    if (request.method != "PUT") return http::AdminMethodNotAllowed(request, "GET, PUT");
    auto plan = ParsePlan(request.body);
    if (!plan) return http::AdminError(plan.error());
    std::lock_guard lock(plan_mu_);
    if (auto saved = context_.store.plan->Put("plan", request.body); !saved) {
      return http::AdminError(saved.error());
    }
    const bool assigned = plan->nodes.contains(context_.node_id);
    Apply(std::move(*plan));
    const PlanNode own = context_.plan.Own();
    return JsonReply(200, json::object{{"assigned", assigned},
                                       {"models", own.models.size()},
                                       {"blocks", own.blocks.size()}});
  }
  return http::AdminError({Errc::kFileNotFound, "no admin route at " + request.target});
}

}  // namespace mei::cache_node
