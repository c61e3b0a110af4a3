#include "common/http/data_plane_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <tuple>
#include <utility>

#include "common/codec.h"
#include "common/digest.h"

namespace mei::http {
namespace {

namespace json = boost::json;

// The largest raw block accepted from a node. Tensor blocks are at most max_block (4 MiB by
// default) and a GGUF or safetensors header block is rarely above a few tens of MiB; the cap keeps
// a node that announces a huge raw size from making the caller allocate it.
constexpr std::uint64_t kMaxRawBlockBytes = 256ull << 20;

// The codec of a Content-Encoding value; nullopt for a coding we did not ask for.
std::optional<Codec> CodecOfCoding(std::string_view coding) {
  if (coding.empty() || coding == "identity") return Codec::kRaw;
  if (coding == "zstd") return Codec::kZstd;
  if (coding == "x-mei-bg2-zstd") return Codec::kBg2Zstd;
  if (coding == "x-mei-bg4-zstd") return Codec::kBg4Zstd;
  return std::nullopt;
}

std::span<const std::byte> BytesOf(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

// The error a node's non-2xx reply stands for: a 404 keeps the node's own not-found code
// (from its JSON body) when it is one of `not_found`, else `fallback`; anything else is
// kUpstreamFailed.
Error ErrorOfReply(const RemoteNode& node, const ClientResponse& response, std::string_view what,
                   std::initializer_list<Errc> not_found, Errc fallback) {
  std::string message;
  std::optional<Errc> code;
  boost::system::error_code ec;
  const json::value body = json::parse(response.body, ec);
  if (const json::object* object = ec ? nullptr : body.if_object()) {
    if (const json::value* error = object->if_contains("error"); error && error->is_string()) {
      code = ErrcOfCode(error->get_string());
    }
    if (const json::value* text = object->if_contains("message"); text && text->is_string()) {
      message = std::string(text->get_string());
    }
  }
  if (response.status == 404) {
    for (const Errc candidate : not_found) {
      if (code == candidate) return Error{candidate, message};
    }
    return Error{fallback, fmt::format("{} has no {}", node.name, what)};
  }
  return Error{Errc::kUpstreamFailed,
               fmt::format("{} answered {} for {}{}{}", node.name, response.status, what,
                           message.empty() ? "" : ": ", message)};
}

ClientRequest GetRequest(std::string url, const FetchContext& context) {
  ClientRequest request;
  request.url = std::move(url);
  if (!context.client_id.empty()) request.headers.push_back({"X-Mei-Client", context.client_id});
  return request;
}

// A reply as fetched, its body counted in context.received_body_bytes.
Result<ClientResponse> Counted(Result<ClientResponse> response, const FetchContext& context) {
  if (response && context.received_body_bytes != nullptr) {
    context.received_body_bytes->fetch_add(response->body.size(), std::memory_order_relaxed);
  }
  return response;
}

ClientRequest BlockRequest(const RemoteNode& node, const BlockId& id, const FetchContext& context) {
  ClientRequest request = GetRequest(node.base_url + "/v1/blocks/" + id.Hex(), context);
  request.headers.push_back({"Accept-Encoding", std::string(kStoredCodings)});
  if (context.only_if_cached) request.headers.push_back({"Cache-Control", "only-if-cached"});
  return request;
}

// The block frame in a reply to BlockRequest, verified.
Result<std::vector<std::byte>> FrameOfReply(const RemoteNode& node, const BlockId& id,
                                            const FetchContext& context,
                                            Result<ClientResponse> response) {
  response = Counted(std::move(response), context);
  if (!response) return response.error();
  const std::string hex = id.Hex();
  const std::string what = "block " + hex;
  if (context.only_if_cached && response->status == 504) {
    return Error{Errc::kBlockNotFound, fmt::format("{} does not hold {}", node.name, what)};
  }
  if (response->status != 200) {
    return ErrorOfReply(node, *response, what, {Errc::kBlockNotFound}, Errc::kBlockNotFound);
  }

  const std::string_view coding = response->Header("Content-Encoding").value_or("");
  const std::optional<Codec> codec = CodecOfCoding(coding);
  if (!codec) {
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} sent {} in coding \"{}\", which was not asked for", node.name,
                             what, coding)};
  }
  const std::span<const std::byte> payload = BytesOf(response->body);
  std::uint64_t raw_size = payload.size();
  if (*codec != Codec::kRaw) {
    const std::string_view announced = response->Header("X-Mei-Raw-Size").value_or("");
    const auto [end, error] =
        std::from_chars(announced.data(), announced.data() + announced.size(), raw_size);
    if (error != std::errc() || end != announced.data() + announced.size()) {
      return Error{
          Errc::kUpstreamFailed,
          fmt::format("{} sent {} encoded without a valid X-Mei-Raw-Size", node.name, what)};
    }
  }

  if (raw_size > kMaxRawBlockBytes) {
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} announced {} as {} raw bytes, more than a block can hold",
                             node.name, what, raw_size)};
  }
  std::vector<std::byte> frame = FrameOf(*codec, raw_size, payload);
  Sha256Digest digest;
  if (*codec == Codec::kRaw) {
    digest = Sha256Of(payload);
  } else {
    thread_local BlockDecoder decoder;
    thread_local std::vector<std::byte> raw;
    raw.clear();
    if (auto decoded = decoder.Decode(frame, raw); !decoded) {
      return Error{Errc::kIntegrity, fmt::format("{} sent {} that does not decode: {}", node.name,
                                                 what, decoded.error().message)};
    }
    digest = Sha256Of(raw);
    if (raw.capacity() > (64u << 20)) raw = {};  // do not keep a huge buffer per thread
  }
  if (digest != id) {
    return Error{Errc::kIntegrity, fmt::format("{} sent bytes for {} whose SHA-256 is {}",
                                               node.name, what, digest.Hex())};
  }
  return frame;
}

ClientRequest ManifestRequest(const RemoteNode& node, std::string_view model,
                              std::string_view revision, const FetchContext& context) {
  return GetRequest(
      fmt::format("{}/v1/models/{}/revisions/{}/manifest", node.base_url, model, revision),
      context);
}

// The manifest in a reply to ManifestRequest, checked.
Result<Manifest> ManifestOfReply(const RemoteNode& node, std::string_view model,
                                 std::string_view revision, const FetchContext& context,
                                 Result<ClientResponse> response) {
  response = Counted(std::move(response), context);
  if (!response) return response.error();

  const std::string what = fmt::format("{} at {}", model, revision);
  if (response->status != 200) {
    return ErrorOfReply(node, *response, what, {Errc::kModelNotFound, Errc::kRevisionNotFound},
                        Errc::kRevisionNotFound);
  }
  auto manifest = ParseManifest(response->body);
  if (!manifest) {
    return Error{Errc::kBadManifest,
                 fmt::format("{} sent a manifest for {} that does not parse: {}", node.name, what,
                             manifest.error().message)};
  }
  if (manifest->model != model) {
    return Error{Errc::kBadManifest, fmt::format("{} sent the manifest of {} when asked for {}",
                                                 node.name, manifest->model, what)};
  }
  if (IsCommitHex(revision) && manifest->commit.Hex() != revision) {
    return Error{Errc::kBadManifest, fmt::format("{} sent commit {} when asked for {}", node.name,
                                                 manifest->commit.Hex(), what)};
  }
  return manifest;
}

}  // namespace

Result<std::vector<std::byte>> FetchBlockFrame(const RemoteNode& node, const BlockId& id,
                                               const FetchContext& context) {
  return FrameOfReply(node, id, context, Fetch(BlockRequest(node, id, context), context.client));
}

boost::asio::awaitable<Result<std::vector<std::byte>>> FetchBlockFrameAsync(RemoteNode node,
                                                                            BlockId id,
                                                                            FetchContext context) {
  Result<ClientResponse> response =
      co_await FetchAsync(BlockRequest(node, id, context), context.client);
  co_return FrameOfReply(node, id, context, std::move(response));
}

Result<Manifest> FetchManifest(const RemoteNode& node, std::string_view model,
                               std::string_view revision, const FetchContext& context) {
  return ManifestOfReply(node, model, revision, context,
                         Fetch(ManifestRequest(node, model, revision, context), context.client));
}

boost::asio::awaitable<Result<Manifest>> FetchManifestAsync(RemoteNode node, std::string model,
                                                            std::string revision,
                                                            FetchContext context) {
  Result<ClientResponse> response =
      co_await FetchAsync(ManifestRequest(node, model, revision, context), context.client);
  co_return ManifestOfReply(node, model, revision, context, std::move(response));
}

namespace {

// The entries in a reply to GET /v1/models, checked.
Result<std::vector<ManifestStore::RevisionEntry>> ModelListOfReply(
    const RemoteNode& node, const FetchContext& context, Result<ClientResponse> response) {
  response = Counted(std::move(response), context);
  if (!response) return response.error();
  if (response->status != 200) {
    return ErrorOfReply(node, *response, "the model list", {}, Errc::kUpstreamFailed);
  }
  const Error malformed{Errc::kUpstreamFailed,
                        node.name + " sent a model list that is not the expected JSON"};
  boost::system::error_code ec;
  const json::value body = json::parse(response->body, ec);
  const json::object* object = ec ? nullptr : body.if_object();
  const json::value* models = object ? object->if_contains("models") : nullptr;
  if (models == nullptr || !models->is_array()) return malformed;
  std::vector<ManifestStore::RevisionEntry> entries;
  for (const json::value& model : models->get_array()) {
    const json::object* m = model.if_object();
    const json::value* name = m ? m->if_contains("model") : nullptr;
    const json::value* revisions = m ? m->if_contains("revisions") : nullptr;
    if (name == nullptr || !name->is_string() || revisions == nullptr || !revisions->is_array()) {
      return malformed;
    }
    for (const json::value& revision : revisions->get_array()) {
      const json::object* r = revision.if_object();
      const json::value* rev = r ? r->if_contains("revision") : nullptr;
      const json::value* commit = r ? r->if_contains("commit") : nullptr;
      if (rev == nullptr || !rev->is_string() || commit == nullptr || !commit->is_string()) {
        return malformed;
      }
      entries.push_back({std::string(name->get_string()), std::string(rev->get_string()),
                         std::string(commit->get_string())});
    }
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.model, a.revision) < std::tie(b.model, b.revision);
  });
  return entries;
}

}  // namespace

Result<std::vector<ManifestStore::RevisionEntry>> FetchModelList(const RemoteNode& node,
                                                                 const FetchContext& context) {
  return ModelListOfReply(node, context,
                          Fetch(GetRequest(node.base_url + "/v1/models", context), context.client));
}

boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> FetchModelListAsync(
    RemoteNode node, FetchContext context) {
  Result<ClientResponse> response =
      co_await FetchAsync(GetRequest(node.base_url + "/v1/models", context), context.client);
  co_return ModelListOfReply(node, context, std::move(response));
}

}  // namespace mei::http
