#include "common/http/data_plane.h"

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/http/internal/accept_encoding.h"
#include "common/http/internal/block_body.h"
#include "common/http/internal/hub_api.h"
#include "common/http/range.h"
#include "common/http/representation.h"
#include "common/http/target.h"

namespace mei {

boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>>
StoreContent::ListRevisions() {
  co_return store_.manifests->List();
}

boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> StoreContent::GetManifest(
    std::string model, std::string revision) {
  co_return store_.manifests->GetShared(model, revision);
}

boost::asio::awaitable<Result<StoredBlock>> StoreContent::GetBlock(BlockId id) {
  co_return store_.blocks->Get(id);
}

std::optional<StoredBlock> StoreContent::TryGetBlock(const BlockId& id) {
  auto block = store_.blocks->Get(id);
  if (!block) return std::nullopt;  // absent or damaged: GetBlock on a worker says which
  return std::move(*block);
}

Result<void> CheckReadable(const Store& store) {
  if (auto has = store.blocks->Has(BlockId{}); !has) return has.error();
  return {};
}

Result<void> StoreContent::Ready() { return CheckReadable(store_); }

namespace {

namespace json = boost::json;
namespace net = boost::asio;
using http::ByteRange;
using http::Reply;
using http::Request;
using http::Target;

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "public, max-age=60";
constexpr std::string_view kGetHead = "GET, HEAD";

constexpr std::string_view kRequestsTotal = "mei_http_requests_total";
constexpr std::string_view kSentBytesTotal = "mei_http_sent_bytes_total";
constexpr std::string_view kRequestSeconds = "mei_http_request_duration_seconds";

// Which API a route belongs to: the Hub's routes also say what was not found in X-Error-Code,
// which huggingface_hub and @huggingface/hub turn into their own exception types.
enum class Api { kMei, kHub };

std::string Quoted(std::string_view text) { return '"' + std::string(text) + '"'; }

Reply ErrorReply(const Error& error, std::string_view route, Api api = Api::kMei) {
  Reply reply = Reply::FromError(error);
  reply.route = std::string(route);
  if (api == Api::kHub) {
    switch (error.code) {
      case Errc::kModelNotFound:
        reply.With("X-Error-Code", "RepoNotFound");
        break;
      case Errc::kRevisionNotFound:
        reply.With("X-Error-Code", "RevisionNotFound");
        break;
      case Errc::kFileNotFound:
        reply.With("X-Error-Code", "EntryNotFound");
        break;
      default:
        break;
    }
  }
  return reply;
}

bool IsGetOrHead(const Request& request) {
  return request.method == "GET" || request.method == "HEAD";
}

Reply MethodNotAllowed(const Request& request, std::string_view route,
                       std::string_view allow = kGetHead) {
  Reply reply = ErrorReply(
      {Errc::kMethodNotAllowed, request.method + " is not allowed here; use " + std::string(allow)},
      route);
  reply.With("Allow", std::string(allow));
  return reply;
}

Reply NoSuchRoute(const Request& request) {
  return ErrorReply({Errc::kFileNotFound, "nothing is served at " + request.target}, "other");
}

Reply NotModified(std::string etag, std::string_view cache_control, std::string_view route) {
  Reply reply;
  reply.status = 304;
  reply.route = std::string(route);
  reply.With("ETag", std::move(etag)).With("Cache-Control", std::string(cache_control));
  return reply;
}

bool RequestMatchesEtag(const Request& request, std::string_view etag) {
  const auto if_none_match = request.Find("If-None-Match");
  return if_none_match && http::IfNoneMatchMatches(*if_none_match, etag);
}

// "org/name" from two path segments. kBadModelName unless ValidateModelName passes (a '/'
// decoded inside either segment makes three components and fails too).
Result<std::string> ModelOf(const std::string& org, const std::string& name) {
  std::string model = org + '/' + name;
  if (auto valid = ValidateModelName(model); !valid) return valid.error();
  return model;
}

// A revision segment; the Hub's "HEAD" means the default branch. kBadRequest when invalid.
Result<std::string> RevisionOf(std::string revision, Api api) {
  if (api == Api::kHub && revision == "HEAD") revision = "main";
  if (auto valid = ValidateRevisionName(revision); !valid) return valid.error();
  return revision;
}

// A file path from path segments [first, end). Each segment is one component, so a '/' decoded
// inside one is a 400, unless `allow_encoded_slash` (the Hub's tree route, whose clients send the
// directory as one %2F-encoded segment). Then ValidateFilePath on the whole path.
Result<std::string> FilePathOf(const std::vector<std::string>& segments, std::size_t first,
                               bool allow_encoded_slash) {
  std::string path;
  for (std::size_t i = first; i < segments.size(); ++i) {
    if (!allow_encoded_slash && segments[i].find('/') != std::string::npos) {
      return Error{Errc::kBadPath, "a file path component contains an encoded '/'"};
    }
    if (i > first) path += '/';
    path += segments[i];
  }
  if (auto valid = ValidateFilePath(path); !valid) return valid.error();
  return path;
}

// A commit lookup can be cached for ever; a revision name moves, so it is revalidated.
std::string_view CacheControlFor(const Manifest& manifest, std::string_view revision) {
  return revision == manifest.commit.Hex() ? kImmutable : kRevalidate;
}

// The content coding that sends a stored payload as is, or "" for raw.
std::string_view CodingOf(Codec codec) {
  switch (codec) {
    case Codec::kZstd:
      return "zstd";
    case Codec::kBg2Zstd:
      return "x-mei-bg2-zstd";
    case Codec::kBg4Zstd:
      return "x-mei-bg4-zstd";
    case Codec::kRaw:
      break;
  }
  return "";
}

// Whether the request says "Cache-Control: only-if-cached" (directive names are case-insensitive).
bool OnlyIfCached(const http::Request& request) {
  std::string value(request.Find("Cache-Control").value_or(""));
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return value.find("only-if-cached") != std::string::npos;
}

// X-Cache and the access log's cache facts from a caching content source's lookup.
void NoteCacheState(ContentSource& content, std::span<const BlockId> ids, Reply& reply) {
  std::optional<ContentSource::CacheLookup> lookup = content.Lookup(ids);
  if (!lookup) return;
  reply.With("X-Cache", lookup->status);
  reply.facts.cache = std::move(lookup->status);
  reply.facts.upstream = std::move(lookup->upstream);
}

void NoteManifest(const Manifest& manifest, std::string_view revision, Reply& reply) {
  reply.facts.model = manifest.model;
  reply.facts.revision = std::string(revision);
  reply.facts.commit = manifest.commit.Hex();
}

class Router {
 public:
  Router(ContentSource& content, http::internal::LiveBlocks& live, MetricsRegistry& metrics,
         const Request& request)
      : content_(content), live_(live), metrics_(metrics), request_(request) {}

  net::awaitable<Reply> Route() {
    auto target = http::ParseTarget(request_.target);
    if (!target) co_return ErrorReply(target.error(), "other");
    target_ = std::move(*target);
    const std::vector<std::string>& s = target_.segments;
    if (s.size() == 1 && s[0] == "healthz") co_return Health();
    if (s.size() == 1 && s[0] == "readyz") co_return Readiness();
    if (s.size() == 1 && s[0] == "metrics") co_return Metrics();
    if (s.size() == 2 && s[0] == "v1" && s[1] == "models") co_return co_await Models();
    if (s.size() == 7 && s[0] == "v1" && s[1] == "models" && s[4] == "revisions" &&
        s[6] == "manifest") {
      co_return co_await ManifestOf(s[2], s[3], s[5]);
    }
    if (s.size() == 3 && s[0] == "v1" && s[1] == "blocks") co_return co_await Block(s[2]);
    if (s.size() >= 4 && s[0] == "api" && s[1] == "models") {
      if (s.size() == 4) co_return co_await ModelInfo(s[2], s[3], "main");
      if (s.size() == 6 && s[4] == "revision") co_return co_await ModelInfo(s[2], s[3], s[5]);
      if (s.size() >= 6 && s[4] == "tree") co_return co_await Tree(s[2], s[3], s[5]);
      if (s.size() == 6 && s[4] == "paths-info") co_return co_await PathsInfo(s[2], s[3], s[5]);
    }
    if (s.size() >= 5 && s[2] == "resolve") co_return co_await Resolve(s[0], s[1], s[3]);
    co_return NoSuchRoute(request_);
  }

 private:
  Reply Health() {
    if (!IsGetOrHead(request_)) return MethodNotAllowed(request_, "health");
    Reply reply = Reply::Json(200, R"({"status":"ok"})");
    reply.route = "health";
    return reply;
  }

  Reply Readiness() {
    if (!IsGetOrHead(request_)) return MethodNotAllowed(request_, "health");
    if (auto ready = content_.Ready(); !ready) {
      Reply reply = ErrorReply(ready.error(), "health");
      reply.status = 503;
      return reply;
    }
    Reply reply = Reply::Json(200, R"({"status":"ready"})");
    reply.route = "health";
    return reply;
  }

  Reply Metrics() {
    if (!IsGetOrHead(request_)) return MethodNotAllowed(request_, "metrics");
    Reply reply = Reply::Text(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render());
    reply.route = "metrics";
    return reply;
  }

  net::awaitable<Reply> Models() {
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, "models");
    auto revisions = co_await content_.ListRevisions();
    if (!revisions) co_return ErrorReply(revisions.error(), "models");
    // Entries come sorted by model, so each model's revisions are adjacent.
    json::array models;
    json::array* revisions_of_model = nullptr;
    for (const ManifestStore::RevisionEntry& entry : *revisions) {
      if (revisions_of_model == nullptr ||
          models.back().as_object()["model"].as_string() != entry.model) {
        models.push_back(json::object{{"model", entry.model}, {"revisions", json::array()}});
        revisions_of_model = &models.back().as_object()["revisions"].as_array();
      }
      revisions_of_model->push_back(
          json::object{{"revision", entry.revision}, {"commit", entry.commit}});
    }
    Reply reply = Reply::Json(200, json::serialize(json::object{{"models", std::move(models)}}));
    reply.route = "models";
    co_return reply;
  }

  // The manifest of {org}/{name} at a revision segment; kBadModelName or kBadRequest for
  // segments that do not validate, else what the content source says.
  net::awaitable<Result<std::shared_ptr<const Manifest>>> FindManifest(
      const std::string& org, const std::string& name, const std::string& revision_segment,
      Api api) {
    auto model = ModelOf(org, name);
    if (!model) co_return model.error();
    auto revision = RevisionOf(revision_segment, api);
    if (!revision) co_return revision.error();
    co_return co_await content_.GetManifest(std::move(*model), std::move(*revision));
  }

  net::awaitable<Reply> ManifestOf(const std::string& org, const std::string& name,
                                   const std::string& rev) {
    constexpr std::string_view kRoute = "manifest";
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, kRoute);
    auto found = co_await FindManifest(org, name, rev, Api::kMei);
    if (!found) co_return ErrorReply(found.error(), kRoute);
    const Manifest& manifest = **found;
    std::string etag = Quoted(manifest.commit.Hex());
    const std::string_view cache_control = CacheControlFor(manifest, rev);
    if (RequestMatchesEtag(request_, etag)) co_return NotModified(etag, cache_control, kRoute);
    Reply reply = Reply::Json(200, ToJson(manifest));
    reply.route = std::string(kRoute);
    reply.With("ETag", std::move(etag)).With("Cache-Control", std::string(cache_control));
    NoteManifest(manifest, rev, reply);
    co_return reply;
  }

  // A block's raw bytes through AnswerRepresentation (ranges, 304, 416), unless the client
  // asked, without a Range, for the coding the block is stored in: then the stored payload goes
  // out as is, with Content-Encoding, and nothing is decoded.
  net::awaitable<Reply> Block(const std::string& id_segment) {
    constexpr std::string_view kRoute = "blocks";
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, kRoute);
    auto id = BlockId::FromHex(id_segment);
    if (!id) co_return ErrorReply(id.error(), kRoute);
    Reply cache_state;  // looked up before GetBlock, which fills what a cache lacks
    NoteCacheState(content_, std::span<const BlockId>(&*id, 1), cache_state);
    if (OnlyIfCached(request_)) {
      // RFC 9111 section 5.2.1.7: answer from what is held, or 504; never fill.
      const auto lookup = content_.Lookup(std::span<const BlockId>(&*id, 1));
      if (lookup && lookup->status != "HIT") {
        Reply reply = ErrorReply(
            {Errc::kUpstreamTimeout, "block " + id_segment + " is not held here (only-if-cached)"},
            kRoute);
        reply.facts = std::move(cache_state.facts);
        reply.facts.cache.clear();  // nothing was served: neither a hit nor a miss of a client
        reply.facts.block = id_segment;
        co_return reply;
      }
    }
    auto live = co_await live_.Get(content_, *id);
    if (!live) {
      Reply reply = ErrorReply(live.error(), kRoute);
      reply.facts = std::move(cache_state.facts);
      reply.facts.block = id_segment;
      co_return reply;
    }
    co_return BlockReply(id_segment, std::move(*live), std::move(cache_state));
  }

 public:
  // Block's reply for a GET or HEAD of a block held here, had by a lookup alone (the server's
  // QuickHandler, on its I/O thread); nullopt for any other request, which Route answers.
  std::optional<Reply> TryBlock() {
    auto target = http::ParseTarget(request_.target);
    if (!target || !IsGetOrHead(request_)) return std::nullopt;
    const std::vector<std::string>& s = target->segments;
    if (s.size() != 3 || s[0] != "v1" || s[1] != "blocks") return std::nullopt;
    auto id = BlockId::FromHex(s[2]);
    if (!id) return std::nullopt;
    std::shared_ptr<http::internal::SharedBlock> block = live_.TryGet(content_, *id);
    if (!block) return std::nullopt;
    Reply cache_state;
    NoteCacheState(content_, std::span<const BlockId>(&*id, 1), cache_state);
    return BlockReply(s[2], std::move(block), std::move(cache_state));
  }

 private:
  // The reply that sends `block` (see Block), with the cache state's headers and facts.
  Reply BlockReply(const std::string& id_segment,
                   std::shared_ptr<http::internal::SharedBlock> block, Reply cache_state) {
    constexpr std::string_view kRoute = "blocks";
    const std::string etag = Quoted(id_segment);

    const std::string_view coding = CodingOf(block->header().codec);
    // A block that another reply has decoded meanwhile no longer has its stored payload at hand;
    // it goes out decoded (identity is always an acceptable coding).
    const bool as_stored =
        !coding.empty() && !request_.Find("Range") &&
        http::internal::AcceptsCoding(request_.Find("Accept-Encoding").value_or(""), coding);
    std::optional<http::Chunk> payload = as_stored ? block->Payload() : std::nullopt;
    Reply reply;
    if (payload && RequestMatchesEtag(request_, etag)) {
      reply = NotModified(etag, kImmutable, kRoute);
    } else if (payload) {
      reply.status = 200;
      reply.content_length = payload->size();
      reply.With("Content-Type", "application/octet-stream")
          .With("Content-Encoding", std::string(coding))
          .With("X-Mei-Raw-Size", std::to_string(block->header().raw_size))
          .With("ETag", etag)
          .With("Cache-Control", std::string(kImmutable));
      if (request_.method != "HEAD") {
        reply.body = std::make_unique<http::internal::ChunkBody>(std::move(*payload));
      }
    } else {
      http::Representation representation;
      representation.length = block->header().raw_size;
      representation.etag = etag;
      representation.headers = {{"Cache-Control", std::string(kImmutable)}};
      representation.open_range = [block](ByteRange range) -> std::unique_ptr<http::BodySource> {
        return std::make_unique<http::internal::BlockRangeBody>(block, range);
      };
      reply = http::AnswerRepresentation(request_, representation);
    }
    reply.With("Vary", "Accept-Encoding");
    for (http::Header& header : cache_state.headers) reply.headers.push_back(std::move(header));
    reply.route = std::string(kRoute);
    reply.facts = std::move(cache_state.facts);
    reply.facts.block = id_segment;
    return reply;
  }

  // A whole file, Hugging Face Hub compatible (huggingface_hub reads X-Repo-Commit and the
  // X-Linked-* headers from a HEAD request before downloading).
  net::awaitable<Reply> Resolve(const std::string& org, const std::string& name,
                                const std::string& rev) {
    constexpr std::string_view kRoute = "resolve";
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, kRoute);
    auto path = FilePathOf(target_.segments, 4, /*allow_encoded_slash=*/false);
    if (!path) co_return ErrorReply(path.error(), kRoute, Api::kHub);
    auto found = co_await FindManifest(org, name, rev, Api::kHub);
    if (!found) co_return ErrorReply(found.error(), kRoute, Api::kHub);
    const std::shared_ptr<const Manifest> manifest = std::move(*found);
    const auto file =
        std::lower_bound(manifest->files.begin(), manifest->files.end(), *path,
                         [](const ManifestFile& f, const std::string& p) { return f.path < p; });
    if (file == manifest->files.end() || file->path != *path) {
      co_return ErrorReply({Errc::kFileNotFound, "no file \"" + *path + "\" in " + manifest->model +
                                                     " at " + manifest->revision},
                           kRoute, Api::kHub);
    }
    std::shared_ptr<const ManifestFile> shared_file(manifest, &*file);

    http::Representation representation;
    representation.length = file->size;
    representation.etag = Quoted(file->sha256.Hex());
    representation.headers = {
        {"Cache-Control", std::string(CacheControlFor(*manifest, rev))},
        {"X-Repo-Commit", manifest->commit.Hex()},
        {"X-Linked-Etag", representation.etag},
        {"X-Linked-Size", std::to_string(file->size)},
    };
    representation.open_range = [&content = content_, &live = live_, shared_file](
                                    ByteRange range) -> std::unique_ptr<http::BodySource> {
      return std::make_unique<http::internal::FileRangeBody>(content, live, shared_file, range);
    };
    Reply reply = http::AnswerRepresentation(request_, representation);
    reply.route = std::string(kRoute);
    std::vector<BlockId> ids;
    ids.reserve(file->blocks.size());
    for (const ManifestBlock& block : file->blocks) ids.push_back(block.id);
    NoteCacheState(content_, ids, reply);
    NoteManifest(*manifest, rev, reply);
    reply.facts.path = *path;
    co_return reply;
  }

  net::awaitable<Reply> ModelInfo(const std::string& org, const std::string& name,
                                  const std::string& rev) {
    constexpr std::string_view kRoute = "hub_api";
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, kRoute);
    auto found = co_await FindManifest(org, name, rev, Api::kHub);
    if (!found) co_return ErrorReply(found.error(), kRoute, Api::kHub);
    const Manifest& manifest = **found;
    Reply reply = Reply::Json(200, http::internal::ModelInfoJson(manifest));
    reply.route = std::string(kRoute);
    NoteManifest(manifest, rev, reply);
    co_return reply;
  }

  net::awaitable<Reply> Tree(const std::string& org, const std::string& name,
                             const std::string& rev) {
    constexpr std::string_view kRoute = "hub_api";
    if (!IsGetOrHead(request_)) co_return MethodNotAllowed(request_, kRoute);
    std::string directory;
    if (target_.segments.size() > 6) {
      auto path = FilePathOf(target_.segments, 6, /*allow_encoded_slash=*/true);
      if (!path) co_return ErrorReply(path.error(), kRoute, Api::kHub);
      directory = std::move(*path);
    }
    auto found = co_await FindManifest(org, name, rev, Api::kHub);
    if (!found) co_return ErrorReply(found.error(), kRoute, Api::kHub);
    const Manifest& manifest = **found;
    const auto recursive = http::QueryValue(target_.query, "recursive");
    auto tree =
        http::internal::TreeJson(manifest, directory, recursive && http::IsTrueFlag(*recursive));
    if (!tree) co_return ErrorReply(tree.error(), kRoute, Api::kHub);
    Reply reply = Reply::Json(200, std::move(*tree));
    reply.route = std::string(kRoute);
    co_return reply;
  }

  // POST /api/models/{org}/{name}/paths-info/{rev} with {"paths": [...], "expand": bool} as JSON
  // (@huggingface/hub) or as a form (huggingface_hub): what the JS client asks before it
  // downloads a file into its cache.
  net::awaitable<Reply> PathsInfo(const std::string& org, const std::string& name,
                                  const std::string& rev) {
    constexpr std::string_view kRoute = "hub_api";
    if (request_.method != "POST") co_return MethodNotAllowed(request_, kRoute, "POST");
    std::vector<std::string> paths;
    bool expand = false;
    const std::string_view content_type = request_.Find("Content-Type").value_or("");
    if (content_type.starts_with("application/json")) {
      boost::system::error_code ec;
      const json::value body = json::parse(request_.body, ec);
      const json::object* object = ec ? nullptr : body.if_object();
      if (object == nullptr) {
        co_return ErrorReply({Errc::kBadRequest, "the paths-info body is not a JSON object"},
                             kRoute);
      }
      if (const json::value* list = object->if_contains("paths")) {
        if (list->is_string()) paths.emplace_back(list->get_string());
        if (const json::array* array = list->if_array()) {
          for (const json::value& path : *array) {
            if (path.is_string()) paths.emplace_back(path.get_string());
          }
        }
      }
      if (const json::value* flag = object->if_contains("expand")) {
        expand = flag->is_bool() && flag->get_bool();
      }
    } else {
      paths = http::QueryValues(request_.body, "paths");
      const auto flag = http::QueryValue(request_.body, "expand");
      expand = flag && http::IsTrueFlag(*flag);
    }
    auto found = co_await FindManifest(org, name, rev, Api::kHub);
    if (!found) co_return ErrorReply(found.error(), kRoute, Api::kHub);
    const Manifest& manifest = **found;
    Reply reply = Reply::Json(200, http::internal::PathsInfoJson(manifest, paths, expand));
    reply.route = std::string(kRoute);
    co_return reply;
  }

  ContentSource& content_;
  http::internal::LiveBlocks& live_;
  MetricsRegistry& metrics_;
  const Request& request_;
  Target target_;
};

}  // namespace

DataPlane::~DataPlane() = default;

DataPlane::DataPlane(ContentSource& content, MetricsRegistry& metrics, DataPlaneOptions options)
    : content_(content),
      metrics_(metrics),
      options_(std::move(options)),
      live_(std::make_unique<http::internal::LiveBlocks>()) {
  DeclareHttpMetrics(metrics_);
}

boost::asio::awaitable<http::Reply> DataPlane::Handle(const http::Request& request) const {
  Router router(content_, *live_, metrics_, request);
  Reply reply = co_await router.Route();
  if (!options_.served_by.empty()) reply.With("X-Served-By", options_.served_by);
  co_return reply;
}

std::optional<http::Reply> DataPlane::TryHandle(const http::Request& request) const {
  Router router(content_, *live_, metrics_, request);
  std::optional<Reply> reply = router.TryBlock();
  if (reply && !options_.served_by.empty()) reply->With("X-Served-By", options_.served_by);
  return reply;
}

void DeclareHttpMetrics(MetricsRegistry& metrics) {
  metrics.Declare(std::string(kRequestsTotal), MetricType::kCounter,
                  "HTTP requests answered, by route and status.");
  metrics.Declare(std::string(kSentBytesTotal), MetricType::kCounter,
                  "HTTP response body bytes sent, by route.");
  metrics.Declare(std::string(kRequestSeconds), MetricType::kHistogram,
                  "Time from the end of a request's header to the last byte of its response, by "
                  "route.");
}

void RecordExchange(MetricsRegistry& metrics, const http::Exchange& exchange) {
  DeclareHttpMetrics(metrics);  // idempotent: servers without a DataPlane may record too
  const Labels route = {{"route", exchange.route}};
  metrics.Add(kRequestsTotal,
              {{"route", exchange.route}, {"status", std::to_string(exchange.status)}});
  metrics.Add(kSentBytesTotal, route, static_cast<double>(exchange.bytes_sent));
  metrics.Observe(kRequestSeconds, route, exchange.seconds);
}

}  // namespace mei
