// The client side of the data-plane API (data_plane.h): what a cache node fills from its
// parent and peers with, and what the device client downloads with. Each call is one request
// through mei::http::Fetch (blocking) or FetchAsync (a coroutine; kept-alive connections, per-step
// deadlines either way), and everything that comes back is checked before it is returned: a block
// against its SHA-256, a manifest against the commit and model asked for.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "common/http/received_block.h"
#include "common/manifest.h"
#include "common/store.h"

namespace mei::http {

// One server of the data-plane API (an origin or a cache node), by its base URL.
struct RemoteNode {
  std::string name;      // a label for messages, metrics and logs: "parent", "peer:edge-b", a URL
  std::string base_url;  // "http://127.0.0.1:8088", no trailing '/'
};

// What a fetch sends besides the request itself.
struct FetchContext {
  std::string client_id;  // X-Mei-Client: who fetches, for the server's access log ("" for none)
  ClientOptions client;
  // When set, the body bytes of every reply received (whatever its status) are added to it: what a
  // download cost on the wire. Must outlive the calls.
  std::atomic<std::uint64_t>* received_body_bytes = nullptr;
  // Block fetches send "Cache-Control: only-if-cached" (RFC 9111 section 5.2.1.7): a cache node
  // answers from what it holds and never fills the block from its own upstreams. Cache nodes ask
  // their peers this way, so that two peers that each expect the other to hold a block do not
  // fill it from each other in a loop. The node's 504 for a block it lacks is kBlockNotFound.
  bool only_if_cached = false;
};

// The Accept-Encoding value that asks for blocks in their stored codings.
inline constexpr std::string_view kStoredCodings = "zstd, x-mei-bg2-zstd, x-mei-bg4-zstd";

// The codec of a block reply's Content-Encoding value ("" and "identity": raw); nullopt for a
// coding kStoredCodings does not ask for. Thread-safe.
[[nodiscard]] std::optional<Codec> CodecOfCoding(std::string_view coding);

// GET /v1/blocks/{id} asking for the stored codings, so a compressed block travels compressed,
// with the payload handed to `receiver` as it arrives (cut-through: a cache node forwards it to
// its clients meanwhile). Returns once the whole announced payload went to the receiver; checking
// what it is (ReceivedBlock::Finish) is the receiver's part. kBlockNotFound on a 404 (and on a 504
// when context.only_if_cached); kUpstreamFailed for a coding not asked for, a reply without
// Content-Length, an encoded one without a valid X-Mei-Raw-Size or a raw size no block can have;
// kUpstreamFailed / kUpstreamTimeout for other failures, including a body cut short after some of
// it went to the receiver; and the receiver's own errors. Thread-safe.
[[nodiscard]] boost::asio::awaitable<Result<void>> FetchBlockAsync(RemoteNode node, BlockId id,
                                                                   FetchContext context,
                                                                   BlockReceiver& receiver);

// FetchBlockAsync into a ReceivedBlock, finished: the block as a stored frame (common/codec.h),
// verified (the payload decodes to exactly the announced raw size and the SHA-256 of the raw
// bytes is `id`; kIntegrity otherwise, and nothing is returned).
[[nodiscard]] boost::asio::awaitable<Result<std::vector<std::byte>>> FetchBlockFrameAsync(
    RemoteNode node, BlockId id, FetchContext context);

// FetchBlockFrameAsync for a plain thread, which it blocks. Thread-safe.
[[nodiscard]] Result<std::vector<std::byte>> FetchBlockFrame(const RemoteNode& node,
                                                             const BlockId& id,
                                                             const FetchContext& context);

// GET /v1/models/{model}/revisions/{revision}/manifest, parsed and checked (ParseManifest checks
// the commit). kModelNotFound / kRevisionNotFound as the node says; kBadManifest for a reply that
// does not parse, or a model or commit other than the one asked for. Blocking; thread-safe.
[[nodiscard]] Result<Manifest> FetchManifest(const RemoteNode& node, std::string_view model,
                                             std::string_view revision,
                                             const FetchContext& context);

// FetchManifest as a coroutine (as FetchBlockFrameAsync).
[[nodiscard]] boost::asio::awaitable<Result<Manifest>> FetchManifestAsync(RemoteNode node,
                                                                          std::string model,
                                                                          std::string revision,
                                                                          FetchContext context);

// GET /v1/models: every (model, revision, commit) the node knows, sorted as ManifestStore::List
// sorts. kUpstreamFailed for a reply that is not the expected JSON. Blocking; thread-safe.
[[nodiscard]] Result<std::vector<ManifestStore::RevisionEntry>> FetchModelList(
    const RemoteNode& node, const FetchContext& context);

// FetchModelList as a coroutine (as FetchBlockFrameAsync).
[[nodiscard]] boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>>
FetchModelListAsync(RemoteNode node, FetchContext context);

}  // namespace mei::http
