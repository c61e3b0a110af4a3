// DataPlane: the read API that the origin and every cache node serve alike
// (docs/ARCHITECTURE.md, "HTTP APIs"), so a device or a child cache can point at either. Every
// GET route also answers HEAD.
//
//   GET      /v1/models                                    models and revisions known (a node:
//                                                          its parent's list, else what it holds)
//   GET      /v1/models/{org}/{name}/revisions/{rev}/manifest   manifest JSON; rev = name or commit
//   GET,HEAD /v1/blocks/{id}                               one block's raw bytes (ranges; stored
//                                                          zstd frames sent as is on request)
//   GET,HEAD /{org}/{name}/resolve/{rev}/{path...}         a whole file, Hugging Face compatible
//   GET      /api/models/{org}/{name}[/revision/{rev}]     Hub model info (sha, siblings)
//   GET      /api/models/{org}/{name}/tree/{rev}[/{path}]  Hub file listing (?recursive=true)
//   POST     /api/models/{org}/{name}/paths-info/{rev}     Hub entries for given paths (JSON or
//                                                          form body; @huggingface/hub asks it
//                                                          before downloading into its cache)
//   GET      /healthz, /readyz, /metrics
//
// A block sent in its stored coding carries X-Mei-Raw-Size (its raw length), so that a cache
// node or mei-get can frame and verify it. A compressed block that another reply has decoded is
// held only as its raw bytes until no reply needs it, and meanwhile goes out raw (identity) to a
// client that asked for its stored coding. A caching content source (Lookup) adds X-Cache: HIT,
// MISS or PARTIAL to block and file replies; every reply carries ReplyFacts for the access log.
//
// Errors are JSON {"error", "message"} with the status of the code; on the Hub routes a 404 also
// carries X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound. A target that matches no
// route is 404 "file_not_found"; a known route with another method is 405 with Allow. Path
// segments are percent-decoded one by one, and a decoded segment that is "." or "..", or
// contains '/' where a file path component is expected, is a 400. (The tree route's directory is
// the exception: huggingface_hub sends it as one %2F-encoded segment; the joined path is still
// checked by ValidateFilePath.) On the Hub routes the revision "HEAD" means "main", as the Hub's
// default branch.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/message.h"
#include "common/http/server.h"
#include "common/manifest.h"
#include "common/metrics.h"
#include "common/store.h"

namespace mei {

// Where the data plane gets manifests and blocks. The origin reads its store; a cache node also
// fills misses from upstream. The reads are coroutines, resumed on the caller's executor (a
// server's worker): they may block on the disk or the CPU, and a read that waits for the network
// (a fill, a manifest from the parent) suspends and holds no thread meanwhile. Thread-safe.
// The raw bytes of a block that is on its way (a cache filling it from upstream), readable as
// they arrive: cut-through. Not thread-safe: one per body.
class BlockReader {
 public:
  virtual ~BlockReader() = default;

  // At most `max` raw bytes of the block from `offset` on, as soon as some have arrived (the
  // coroutine suspends until then, holding no thread). The last byte of the span asked for, byte
  // offset + max - 1, comes only once the whole block is verified: a body that asks for exactly
  // its part of each block never completes with bytes of a wrong one. Errors: the fill's failure
  // when it found no good copy; and, once this reader has taken bytes of an answer that then failed
  // verification or was cut short, that failure on every later call (kIntegrity or
  // kUpstreamFailed): what it sent is wrong, and the body must end with an error so that the
  // client's transfer is cut short. A reader that took nothing yet is served from the next upstream
  // instead. kInternal for an offset past the block's end.
  [[nodiscard]] virtual boost::asio::awaitable<Result<http::Chunk>> Read(std::uint64_t offset,
                                                                         std::uint64_t max) = 0;
  // The block's raw size, once the first Read returned a chunk.
  [[nodiscard]] virtual std::uint64_t raw_size() const = 0;
};

class ContentSource {
 public:
  virtual ~ContentSource() = default;

  [[nodiscard]] virtual boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>>
  ListRevisions() = 0;
  // `revision` is a name or a 64-hex commit (ManifestStore::Get semantics).
  [[nodiscard]] virtual boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> GetManifest(
      std::string model, std::string revision) = 0;
  // The stored block (StoredBlock: located, or in memory and checksum verified); kBlockNotFound
  // when it cannot be had.
  [[nodiscard]] virtual boost::asio::awaitable<Result<StoredBlock>> GetBlock(BlockId id) = 0;
  // The stored block when it is held here and can be had by a store lookup alone (no fill, no
  // network; called on an I/O thread), else nullopt. Default: nullopt.
  [[nodiscard]] virtual std::optional<StoredBlock> TryGetBlock(const BlockId& id) {
    (void)id;
    return std::nullopt;
  }
  // For /readyz: can requests be answered? Not ready is 503 with the error's JSON. The origin is
  // ready when its store is readable; a cache node as cache-node/readiness.h says.
  [[nodiscard]] virtual Result<void> Ready() = 0;

  // A cache's answer to "are these blocks here?": status "HIT" (all), "MISS" (none) or "PARTIAL",
  // and the upstream a miss would be filled from ("parent", "peer:<id>"; "" on a hit).
  struct CacheLookup {
    std::string status;
    std::string upstream;
  };
  // nullopt (the default) for a source that is not a cache: no X-Cache header is sent. Must not
  // block on the network.
  [[nodiscard]] virtual std::optional<CacheLookup> Lookup(std::span<const BlockId> ids) {
    (void)ids;
    return std::nullopt;
  }

  // A reader of block `id` as it is filled (starting the fill when none is under way), for a cache
  // that forwards a missing block's bytes while they arrive; null when the block is held (read it
  // with GetBlock) or the source does not stream. Must not block. Default: null.
  [[nodiscard]] virtual std::unique_ptr<BlockReader> StreamBlock(const BlockId& id) {
    (void)id;
    return nullptr;
  }

  // A reader of block `id`, which the caller will read soon (a file body ahead of what it sends):
  // the block's fill starts now, and the reader keeps its bytes in memory until read, so that they
  // are sent as they came in rather than read back from the store. Null when the block is held,
  // the source does not stream, or the cache has as many fills under way as it allows (read the
  // block as usual when its turn comes); then there is nothing more to hint either. Must not
  // block. Default: WillNeed of the block, and null.
  [[nodiscard]] virtual std::unique_ptr<BlockReader> StreamAhead(const BlockId& id) {
    WillNeed(std::span<const BlockId>(&id, 1));
    return nullptr;
  }

  // A hint that `ids` will be read soon, in this order (a file body reading ahead): a cache starts
  // filling the missing ones in parallel. Must not block. Default: nothing.
  virtual void WillNeed(std::span<const BlockId> ids) { (void)ids; }
};

// Whether `store` answers reads: a point lookup in its block metadata (of an id no block has, so
// it reads no value). kStorage (RocksDB's reason) when it fails. The origin's readiness, and part
// of a cache node's. Thread-safe.
[[nodiscard]] Result<void> CheckReadable(const Store& store);

// A ContentSource over a local Store and nothing else (the origin).
class StoreContent final : public ContentSource {
 public:
  explicit StoreContent(Store& store) : store_(store) {}  // REQUIRES: store outlives this

  boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> ListRevisions()
      override;
  boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> GetManifest(
      std::string model, std::string revision) override;
  boost::asio::awaitable<Result<StoredBlock>> GetBlock(BlockId id) override;
  std::optional<StoredBlock> TryGetBlock(const BlockId& id) override;
  Result<void> Ready() override;

 private:
  Store& store_;
};

struct DataPlaneOptions {
  std::string served_by;  // X-Served-By value on every reply (node id); empty: no header
};

namespace http::internal {
class LiveBlocks;
}

class DataPlane {
 public:
  // REQUIRES: content and metrics outlive the data plane, and the data plane outlives every
  // reply it made (bodies share the blocks it holds live).
  DataPlane(ContentSource& content, MetricsRegistry& metrics, DataPlaneOptions options = {});
  ~DataPlane();

  // Answers one request: a coroutine for the server's AsyncHandler, suspended while the content
  // source waits for the network; `request` must outlive it. Thread-safe.
  [[nodiscard]] boost::asio::awaitable<http::Reply> Handle(const http::Request& request) const;
  // Handle's reply when a lookup is all it takes (a GET or HEAD of a block held here), for the
  // server's QuickHandler on its I/O thread; nullopt otherwise. Thread-safe.
  [[nodiscard]] std::optional<http::Reply> TryHandle(const http::Request& request) const;

 private:
  ContentSource& content_;
  MetricsRegistry& metrics_;
  DataPlaneOptions options_;
  std::unique_ptr<http::internal::LiveBlocks> live_;  // blocks being sent, shared by all replies
};

// Declares the HTTP metrics of a server (requests by route and status, bytes sent, latency
// histogram) in `metrics`; idempotent. Called by DataPlane's constructor.
void DeclareHttpMetrics(MetricsRegistry& metrics);

// Records one finished exchange: mei_http_requests_total{route,status}, mei_http_sent_bytes_total
// {route}, mei_http_request_duration_seconds{route}. Declares them first when needed, so a server
// without a DataPlane (the admin listener) may record too. Thread-safe.
void RecordExchange(MetricsRegistry& metrics, const http::Exchange& exchange);

}  // namespace mei
