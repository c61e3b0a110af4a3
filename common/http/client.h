// The HTTP/1.1 client for upstream fetches: FetchAsync, a coroutine (a cache node filling a miss
// from its parent or a peer, holding no thread while it waits), and Fetch, the same exchange run to
// completion on the calling thread (command-line tools, background threads).
//
// Each exchange runs Beast's asynchronous operations (Fetch: on an io_context of its own, on the
// calling thread), with a deadline per step: the connect gets connect_timeout, and every single
// read and write gets idle_timeout, so a stalled upstream fails. A slow but steady one fails only
// when the caller sets a deadline for the whole exchange (a cache node filling a block does: a
// trickle of a byte a second would otherwise hold the fill and its waiters for days). The response
// body is parsed straight into ClientResponse::body (reserved to its Content-Length when one is
// announced) and never copied afterwards; chunked and Content-Length bodies are both handled, and
// at most max_body_bytes are accepted.
//
// Connections are kept alive and reused: after a complete response that allows it, the socket is
// parked in a small process-wide pool per host:port (at most 8 per host and 64 in all, the oldest
// making room for the newest; each for at most keep_alive) and the next Fetch to that host:port
// takes it. A parked connection that the upstream has closed is dropped before use; one that turns
// out closed after the request was sent (no response byte came back) is retried once on a fresh
// connection when the method is idempotent (RFC 9110 section 9.2.2), and fails otherwise.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errc.h"

namespace mei::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  // For each read and each write: a stalled upstream fails, a slow steady one does not.
  std::chrono::milliseconds idle_timeout{30000};
  // For the whole call: connect, request and every byte of the response, however steadily they
  // come (kUpstreamTimeout when it passes). Zero: no deadline, only the per-step timeouts.
  std::chrono::milliseconds deadline{0};
  std::uint64_t max_body_bytes = 64ull << 20;  // larger bodies fail with kUpstreamFailed
  // How long a connection may wait in the pool for its next request; zero sends
  // "Connection: close" and uses one connection per request.
  std::chrono::milliseconds keep_alive{15000};
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute http://host:port/target (IPv4, IPv6 [::1], names)
  // Sent in this order after Host and "User-Agent: mei" (a Host or User-Agent here replaces the
  // default). Content-Length, Transfer-Encoding, Connection and Keep-Alive are dropped: Fetch
  // frames the message itself. A name that is not a token or a value with CR, LF or NUL is
  // kBadRequest.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when non-empty or method is PUT/POST
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;                                          // empty for HEAD, 204 and 304

  // The value of the first header called `name` (ASCII case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> Header(std::string_view name) const;
};

// Sends one request and reads the whole response. Non-2xx statuses are responses, not errors:
// the caller decides. Thread-safe (the connection pool is guarded by a mutex); blocks the calling
// thread. Name resolution (for hosts that are not IP literals) is bounded by the system resolver's
// own timeouts, not by connect_timeout.
// Errors: malformed URL, method or header -> kBadRequest; connection refused or reset, connection
// closed before the response was complete, malformed response, body over max_body_bytes ->
// kUpstreamFailed; connect or idle timeout, or the deadline -> kUpstreamTimeout. The message names
// the method and URL and says what happened, in one sentence. Never throws.
[[nodiscard]] Result<ClientResponse> Fetch(const ClientRequest& request,
                                           const ClientOptions& options = {});

// Takes a response body as it arrives, instead of ClientResponse::body (FetchAsync's `sink`): what
// lets a cache node forward a block's bytes to its clients while the rest is still on the wire.
// Called on the exchange's strand, one call at a time; must not block.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;

  // The final response's head (status and headers; body empty) arrived, announcing
  // `content_length` body bytes (nullopt: chunked or until close). True to have the body passed
  // to Append (ClientResponse::body then stays empty), false to have it collected into
  // ClientResponse::body as usual (an error reply's JSON, say). Not called for a response without
  // a body (HEAD, 204, 304). An error aborts the exchange and is what FetchAsync returns.
  [[nodiscard]] virtual Result<bool> Start(const ClientResponse& head,
                                           std::optional<std::uint64_t> content_length) = 0;
  // The next bytes of the body, in order. An error aborts the exchange (the connection is closed)
  // and is what FetchAsync returns.
  [[nodiscard]] virtual Result<void> Append(std::span<const std::byte> bytes) = 0;
};

// Fetch as a coroutine: the exchange runs on a strand of the caller's executor and the caller's
// thread is free while it waits on the network, so a few threads carry any number of fetches.
// Same semantics, errors and connection pool as Fetch. With a `sink`, the body goes to it as it
// arrives (see ResponseSink); a body that ends early after some of it went to the sink is an
// error as always, which the sink's owner must take as "the bytes so far are not a whole body".
// REQUIRES: `sink`, when given, outlives the call. Never throws.
[[nodiscard]] boost::asio::awaitable<Result<ClientResponse>> FetchAsync(
    ClientRequest request, ClientOptions options = {}, ResponseSink* sink = nullptr);

// An http:// URL taken apart.
struct HttpUrl {
  std::string host;  // "127.0.0.1", "::1" (without brackets), "node-3.cache"
  std::uint16_t port = 80;
  std::string target = "/";  // origin-form: path and query, never empty, no fragment
};

// Parses "http://host[:port][/path][?query][#fragment]" (scheme case-insensitive; the fragment is
// dropped). kBadRequest, saying why, for any other scheme, user info, an empty or malformed host
// (IPv6 literals must be bracketed), a port that is not 1-65535, or spaces and control
// characters. Thread-safe.
[[nodiscard]] Result<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace mei::http
