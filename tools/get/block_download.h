// DownloadBlocks: fetches the blocks a download lacks into the local block store, over several
// connections, falling back node by node.
//
// `connections` threads take blocks in file order from a shared cursor. For each block a thread
// asks NodeFailover for the order of nodes and tries them in turn: FetchBlockFrame asks for the
// stored coding (a compressed block travels compressed) and verifies the block's SHA-256 before
// anything is kept, so a bad copy from one node is refused and the next node asked. A verified
// frame goes straight into the local store, which is what makes a killed download resumable. When
// every node failed for a block, the thread waits (retry_backoff, doubling) and goes round again,
// `rounds` times in all; then the download stops: threads finish the fetches they are in, take no
// new block, and the first such error is returned.
//
// Blocking; the counters in `progress` may be read from another thread while it runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "common/errc.h"
#include "common/http/data_plane_client.h"
#include "common/manifest.h"
#include "tools/get/local_block_store.h"
#include "tools/get/node_failover.h"

namespace mei::tools {

// What a download has done so far. Written by the download's threads, readable from any thread.
struct DownloadProgress {
  std::atomic<std::uint64_t> blocks{0};      // blocks fetched and stored
  std::atomic<std::uint64_t> raw_bytes{0};   // their raw size
  std::atomic<std::uint64_t> wire_bytes{0};  // every reply body received, manifests included
};

struct BlockDownloadOptions {
  unsigned connections = 4;            // threads, each with its own kept-alive connections
  std::uint64_t rate_limit_bytes = 0;  // wire bytes per second for the whole download; 0: none
  unsigned rounds = 3;                 // times every node is tried for one block
  std::chrono::milliseconds retry_backoff{500};
  http::FetchContext fetch;  // its received_body_bytes is set to progress.wire_bytes
};

// Fetches `blocks` (distinct) into `store`. When `stop` is set from another thread (Ctrl-C), it
// returns as soon as the fetches in flight are stored, without an error: the caller who set it
// knows the download is incomplete. Errors: for the first block no node could serve,
// kUpstreamFailed naming the block and every node's reason in the last round; kIo / kStoreFull
// from the local store.
[[nodiscard]] Result<void> DownloadBlocks(std::span<const ManifestBlock> blocks,
                                          NodeFailover& nodes, const LocalBlockStore& store,
                                          BlockDownloadOptions options, DownloadProgress& progress,
                                          const std::atomic<bool>& stop);

}  // namespace mei::tools
