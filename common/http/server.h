// Server: an HTTP/1.1 server on Boost.Beast with C++20 coroutines, shared by the origin and the
// cache node (after the Beast "awaitable" and "advanced server" examples).
//
// One coroutine per connection, on its own strand. Each request's header must arrive within
// header_timeout and fit header_limit_bytes (431 otherwise; slowloris connections are closed by
// the deadline); a request body over body_limit_bytes is 413. The handler and every
// BodySource::NextAsync() call run on a separate pool of worker threads, never on the I/O threads,
// so decoding never stalls other connections, and a handler or body that waits for the network (a
// cache node's fill) is a suspended coroutine that holds no thread: worker_threads is a CPU
// setting, not a limit on requests in flight. A QuickHandler, when given, is tried first on the
// I/O thread and answers what a lookup can (a hot block) without any thread switch. The handler's
// worker also produces the first chunk, and later chunks that need only a lookup
// (BodySource::TryNext: a hot block, a lookup of its entry) are produced on the I/O thread, which
// spares them two thread switches. Response bodies are written chunk by chunk, the next chunk
// produced only once the last write is done, so a response holds one chunk (or one run of small
// byte chunks, gathered into one write: internal/socket_write.h) however slowly its client reads;
// bytes go out with sendmsg(2), a file chunk
// (Chunk::file) with sendfile(2) on a corked socket (TCP_CORK: full segments, as nginx's
// tcp_nopush), from the page cache without a copy (a region that turns out to run past the end of
// its file ends the response like a body source's error). The I/O threads block SIGPIPE, which
// sendfile(2) would raise on a closed connection. Each write gets an idle timeout (never a deadline
// for the whole response: a phone on a slow link may take an hour); a write that makes no progress
// for that long resets the connection, which frees its socket buffers at once. A request whose body
// is framed by a Transfer-Encoding other than "chunked" alone is 400. Connections beyond
// max_connections get 503 and are closed. Keep-alive is honoured up to max_requests_per_connection.
// Drain() stops accepting, lets in-flight responses finish (up to drain_timeout), closes idle
// connections, and returns.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/errc.h"
#include "common/http/message.h"

namespace mei::http {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free one (see endpoint())
  unsigned io_threads = 1;      // each runs an io_context of its own; connections dealt in turn
  unsigned worker_threads = 4;  // handler calls and body production
  std::size_t max_connections = 4096;
  std::uint32_t header_limit_bytes = 16 * 1024;
  std::uint64_t body_limit_bytes = 1 << 20;
  // For a whole request header: from the accept for a connection's first request, from the
  // first byte of the next request on a kept-alive connection.
  std::chrono::milliseconds header_timeout{10'000};
  // The wait for a kept-alive connection's next request, for a request body, and per write (a
  // write that times out resets the connection).
  std::chrono::milliseconds idle_timeout{60'000};
  std::uint32_t max_requests_per_connection = 1000;
  std::chrono::milliseconds drain_timeout{30'000};
};

// Called on a worker thread for every request that parsed; may block on the disk or the CPU, never
// on the network. Must not throw.
using Handler = std::function<Reply(const Request&)>;
// A handler that may wait for the network (a cache node's fill, a manifest from its parent): a
// coroutine started on a worker, which holds no thread while it is suspended. The Request outlives
// the coroutine. Must not throw.
using AsyncHandler = std::function<boost::asio::awaitable<Reply>(const Request&)>;
// Tried on the I/O thread before the handler, for requests that need no more than a lookup (a hot
// block: nginx's cost, with no thread switch): the reply, or nullopt to have the handler answer on
// a worker. Must not block on the disk beyond a lookup, nor on the network; must not throw.
using QuickHandler = std::function<std::optional<Reply>(const Request&)>;

// Told about every finished response (on a worker or I/O thread): for metrics and access logs.
struct Exchange {
  const Request* request = nullptr;
  int status = 0;
  std::string route;
  const ReplyFacts* facts = nullptr;  // the reply's facts; null when no reply was planned
  std::uint64_t bytes_sent = 0;       // body bytes written
  bool complete = false;              // the whole body was written
  double seconds = 0;                 // from the end of the request header to the last byte
};
using ExchangeObserver = std::function<void(const Exchange&)>;

class Server {
 public:
  // Binds and starts serving on new threads. kBadRequest for a malformed listen address, kIo when
  // the address cannot be bound (with the OS's reason).
  [[nodiscard]] static Result<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler,
                                                             ExchangeObserver observer = {});
  [[nodiscard]] static Result<std::unique_ptr<Server>> Start(ServerOptions options,
                                                             AsyncHandler handler,
                                                             ExchangeObserver observer = {},
                                                             QuickHandler quick = {});
  ~Server();  // Drain(), then joins every thread

  // The bound address, "127.0.0.1:40123". Thread-safe.
  std::string endpoint() const;

  // Connections open now. Thread-safe.
  std::uint64_t open_connections() const;

  // Stops accepting, closes idle connections, waits for in-flight responses (at most
  // drain_timeout), then closes every connection and stops the threads. A handler or BodySource
  // call under way cannot be interrupted: Drain() returns after it does. Idempotent; thread-safe;
  // may be called from a signal handler's asio callback but not from a handler, a BodySource or an
  // ExchangeObserver.
  void Drain();

  // Blocks until Drain() has finished (from another thread, e.g. on SIGTERM).
  void Wait();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mei::http
