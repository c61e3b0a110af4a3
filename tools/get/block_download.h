// DownloadBlocks: fetches the blocks a download lacks from the nodes, straight into the files
// being written, over a few pipelined keep-alive connections to every node at once.
//
// Each node gets `connections` threads, each with its own BlockConnection that keeps `pipeline`
// requests in flight. The threads take work from one shared queue, in file order, so a faster
// node serves more of it and a device in reach of two nodes downloads from both at once. A block
// of a tensor file (safetensors, GGUF) is one request on the block route, in its stored coding;
// the content-defined chunks (16-256 KiB) of other files (pickles, ONNX, tokenizers) that lie end
// to end go as runs of up to 4 MiB, one Range request on the resolve route each, so that small
// blocks cost no more requests than big ones. Raw bytes are hashed and written to every place
// their block goes as they
// land (pwrite in pieces of at most 256 KiB, no copy of a whole block in memory), a compressed
// block is decoded first; nothing counts as fetched before its SHA-256 is its id. A place that
// received bytes that then failed is simply written again by the next attempt, and what a failed
// run had not verified is asked again block by block.
//
// Node failover follows NodeFailover: the threads of a node that is down take only the blocks that
// every node in good standing has failed in the current round (so a download goes on while any
// node can serve). A block that every node failed is tried again after retry_backoff (doubling),
// `rounds` rounds in all; then the download stops and fails naming the block. A connection that
// the node closed before answering anything on it (an idle keep-alive, a request limit) costs the
// node nothing: its requests are simply asked again.
//
// Blocking; the counters in `progress` may be read from another thread while it runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "common/errc.h"
#include "common/http/data_plane_client.h"
#include "tools/get/download_plan.h"
#include "tools/get/node_failover.h"

namespace mei::tools {

// What a download has done so far. Written by the download's threads, readable from any thread.
struct DownloadProgress {
  std::atomic<std::uint64_t> blocks{0};      // blocks fetched and written
  std::atomic<std::uint64_t> raw_bytes{0};   // their raw size
  std::atomic<std::uint64_t> wire_bytes{0};  // every reply body received, manifests included
};

struct BlockDownloadOptions {
  unsigned connections = 4;            // per node
  unsigned pipeline = 4;               // requests in flight on each connection
  std::uint64_t rate_limit_bytes = 0;  // wire bytes per second for the whole download; 0: none
  unsigned rounds = 3;                 // times every node is tried for one block
  std::chrono::milliseconds retry_backoff{500};
  // client_id, client.connect_timeout and client.idle_timeout are used; received_body_bytes is set
  // to progress.wire_bytes.
  http::FetchContext fetch;
  // The model and its commit, for fetching runs of small blocks by range on the resolve route
  // (/{model}/resolve/{commit}/{path}); empty: every block on the block route.
  std::string model;
  std::string commit;
};

// Fetches `needs` (distinct blocks) into their places. When `stop` is set from another thread
// (Ctrl-C), it returns within a tenth of a second, without an error, abandoning the fetches in
// flight: the caller who set it knows the download is incomplete. Errors: for the first block no
// node could serve, kUpstreamFailed naming the block and every node's reason in the last round;
// kIo / kStoreFull when a file cannot be written.
[[nodiscard]] Result<void> DownloadBlocks(std::span<const BlockNeed> needs, NodeFailover& nodes,
                                          BlockDownloadOptions options, DownloadProgress& progress,
                                          const std::atomic<bool>& stop);

}  // namespace mei::tools
