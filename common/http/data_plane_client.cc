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
#include "common/run_blocking.h"

namespace mei::http {

std::optional<Codec> CodecOfCoding(std::string_view coding) {
  if (coding.empty() || coding == "identity") return Codec::kRaw;
  if (coding == "zstd") return Codec::kZstd;
  if (coding == "x-mei-bg2-zstd") return Codec::kBg2Zstd;
  if (coding == "x-mei-bg4-zstd") return Codec::kBg4Zstd;
  return std::nullopt;
}

namespace {

namespace json = boost::json;

// The largest raw block accepted from a node. Tensor blocks are at most max_block (4 MiB by
// default) and a GGUF or safetensors header block is rarely above a few tens of MiB; the cap keeps
// a node that announces a huge raw size from making the caller allocate it.
constexpr std::uint64_t kMaxRawBlockBytes = 256ull << 20;

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

// Passes a block reply's payload to a BlockReceiver as it arrives, once its head is checked: a
// coding that was asked for, a Content-Length, a raw size a block can have.
class BlockSink final : public ResponseSink {
 public:
  BlockSink(const RemoteNode& node, const BlockId& id, BlockReceiver& receiver)
      : node_(node), id_(id), receiver_(receiver) {}

  Result<bool> Start(const ClientResponse& head,
                     std::optional<std::uint64_t> content_length) override {
    if (head.status != 200) return false;  // collected: the error's JSON
    started_ = true;
    const std::string what = "block " + id_.Hex();
    const std::string_view coding = head.Header("Content-Encoding").value_or("");
    const std::optional<Codec> codec = CodecOfCoding(coding);
    if (!codec) {
      return Error{Errc::kUpstreamFailed,
                   fmt::format("{} sent {} in coding \"{}\", which was not asked for", node_.name,
                               what, coding)};
    }
    if (!content_length) {
      return Error{Errc::kUpstreamFailed,
                   fmt::format("{} sent {} without a Content-Length", node_.name, what)};
    }
    std::uint64_t raw_size = *content_length;
    if (*codec != Codec::kRaw) {
      const std::string_view announced = head.Header("X-Mei-Raw-Size").value_or("");
      const auto [end, error] =
          std::from_chars(announced.data(), announced.data() + announced.size(), raw_size);
      if (error != std::errc() || end != announced.data() + announced.size()) {
        return Error{
            Errc::kUpstreamFailed,
            fmt::format("{} sent {} encoded without a valid X-Mei-Raw-Size", node_.name, what)};
      }
    }
    if (raw_size > kMaxRawBlockBytes) {
      return Error{Errc::kUpstreamFailed,
                   fmt::format("{} announced {} as {} raw bytes, more than a block can hold",
                               node_.name, what, raw_size)};
    }
    if (auto begun = receiver_.Begin(*codec, raw_size, *content_length); !begun) {
      return begun.error();
    }
    return true;
  }

  Result<void> Append(std::span<const std::byte> bytes) override {
    appended_ += bytes.size();
    return receiver_.Append(bytes);
  }

  // Whether a 200's payload went to the receiver, and how many of its bytes.
  bool started() const { return started_; }
  std::uint64_t appended() const { return appended_; }

 private:
  const RemoteNode& node_;
  const BlockId& id_;
  BlockReceiver& receiver_;
  bool started_ = false;
  std::uint64_t appended_ = 0;
};

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

boost::asio::awaitable<Result<void>> FetchBlockAsync(RemoteNode node, BlockId id,
                                                     FetchContext context,
                                                     BlockReceiver& receiver) {
  BlockSink sink(node, id, receiver);
  Result<ClientResponse> response =
      co_await FetchAsync(BlockRequest(node, id, context), context.client, &sink);
  if (!response) co_return response.error();
  if (response->status == 200 && !sink.started()) {  // a body-less 200: an empty block
    if (auto started = sink.Start(*response, 0); !started) co_return started.error();
  }
  if (context.received_body_bytes != nullptr) {
    context.received_body_bytes->fetch_add(sink.started() ? sink.appended() : response->body.size(),
                                           std::memory_order_relaxed);
  }
  if (sink.started()) co_return Result<void>{};
  const std::string what = "block " + id.Hex();
  if (context.only_if_cached && response->status == 504) {
    co_return Error{Errc::kBlockNotFound, fmt::format("{} does not hold {}", node.name, what)};
  }
  co_return ErrorOfReply(node, *response, what, {Errc::kBlockNotFound}, Errc::kBlockNotFound);
}

boost::asio::awaitable<Result<std::vector<std::byte>>> FetchBlockFrameAsync(RemoteNode node,
                                                                            BlockId id,
                                                                            FetchContext context) {
  ReceivedBlock block(id, node.name);
  if (auto fetched = co_await FetchBlockAsync(node, id, context, block); !fetched) {
    co_return fetched.error();
  }
  if (auto verified = block.Finish(); !verified) co_return verified.error();
  const std::span<const std::byte> frame = block.frame();
  co_return std::vector<std::byte>(frame.begin(), frame.end());
}

Result<std::vector<std::byte>> FetchBlockFrame(const RemoteNode& node, const BlockId& id,
                                               const FetchContext& context) {
  return RunBlocking(FetchBlockFrameAsync(node, id, context));
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
