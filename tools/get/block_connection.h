// BlockConnection: one kept-alive HTTP/1.1 connection from mei-get to a node, over which block
// requests are pipelined (RFC 9112 section 9.3.2): several GET /v1/blocks/{id} go out before the
// first reply is read, and the replies are read in order, each body handed to a ReplySink piece by
// piece as it arrives (never buffered whole here), so that a block can be hashed and written to
// its file while it lands.
//
// A blocking socket of its own, connected on the first Send. The connect gets connect_timeout;
// every wait for the socket gets idle_timeout (a stalled node fails, a slow steady one does not),
// and is cut into short waits so that `stop` (Ctrl-C) ends it within a tenth of a second.
// Replies are framed by Boost.Beast's parser (Content-Length, chunked, or up to the close).
//
// Not thread-safe: one per thread. Move-only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "common/http/data_plane_client.h"

namespace mei::tools {

// A reply's status line and the headers a block download reads.
struct ReplyHead {
  int status = 0;
  std::optional<std::uint64_t> content_length;  // nullopt: chunked, or up to the close
  std::string content_encoding;                 // "" for none
  std::string raw_size;                         // X-Mei-Raw-Size, "" for none
  std::string content_range;                    // "" for none
};

// Where the body of one reply goes. An error from either call abandons the reply, and with it the
// connection (the rest of the body is never read).
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  [[nodiscard]] virtual Result<void> OnHead(const ReplyHead& head) = 0;
  [[nodiscard]] virtual Result<void> OnBody(std::span<const std::byte> bytes) = 0;
};

struct BlockConnectionOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};
  std::string client_id;  // X-Mei-Client; "" for none
  // Counts every body byte received, when set (the download's wire bytes). Must outlive the
  // connection.
  std::atomic<std::uint64_t>* received_body_bytes = nullptr;
};

class BlockConnection {
 public:
  // What went wrong with a Receive that failed: the node's fault, or a connection that the node
  // closed before it answered anything on it, after answering earlier requests on it (a kept-alive
  // connection it timed out, or one past its request limit): then the requests still in flight
  // were never looked at and may be sent again at no cost to the node's standing.
  struct Failure {
    Error error;
    bool unanswered = false;
  };

  // `stop` is read during every wait; it must outlive the connection.
  BlockConnection(http::RemoteNode node, BlockConnectionOptions options,
                  const std::atomic<bool>& stop);
  ~BlockConnection();
  BlockConnection(BlockConnection&& other) noexcept;
  BlockConnection& operator=(BlockConnection&&) = delete;
  BlockConnection(const BlockConnection&) = delete;
  BlockConnection& operator=(const BlockConnection&) = delete;

  // Sends GET /v1/blocks/{id} asking for the stored codings (http::kStoredCodings), connecting
  // first when no connection is open. kUpstreamFailed / kUpstreamTimeout when the connect or the
  // write fails; the connection is closed then, and every request in flight is lost.
  [[nodiscard]] Result<void> Send(const BlockId& id);

  // Sends GET `target` (an origin-form path, already percent-encoded) for the bytes
  // [first, last] (Range, RFC 9110 section 14.2), as Send does.
  [[nodiscard]] Result<void> SendRange(std::string_view target, std::uint64_t first,
                                       std::uint64_t last);

  // Reads the reply to the oldest request in flight, its body into `sink`. On failure the
  // connection is closed and every request in flight is lost. A reply that ends the connection
  // (Connection: close) succeeds, and the requests sent after it are lost: in_flight() is 0 then.
  // REQUIRES: in_flight() > 0.
  [[nodiscard]] boost::system::result<void, Failure> Receive(ReplySink& sink);

  // Requests sent whose replies have not been read.
  [[nodiscard]] std::size_t in_flight() const { return in_flight_; }

  [[nodiscard]] const http::RemoteNode& node() const { return node_; }

  // Closes the connection, if any; the requests in flight are lost.
  void Close();

 private:
  class Parser;

  [[nodiscard]] Result<void> Connect();
  [[nodiscard]] Result<void> SendRequest(std::string_view target, std::string_view headers);
  // Waits until the socket is ready for `events` (POLLIN/POLLOUT), for at most `timeout`.
  [[nodiscard]] Result<void> Wait(short events, std::chrono::milliseconds timeout,
                                  std::string_view what);
  [[nodiscard]] Error Broken(std::string_view what, int error) const;

  http::RemoteNode node_;
  BlockConnectionOptions options_;
  const std::atomic<bool>& stop_;
  std::string host_header_;
  std::string host_;
  std::string port_;
  int fd_ = -1;
  std::size_t in_flight_ = 0;
  std::uint64_t answered_ = 0;  // replies read on the open connection
  std::vector<char> buffer_;    // received bytes not parsed yet: [begin_, end_)
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace mei::tools
