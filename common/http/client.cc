#include "common/http/client.h"

#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <exception>
#include <mutex>
#include <vector>

#include "common/http/internal/response_head.h"
#include "common/http/internal/sink_body.h"
#include "common/http/message.h"

namespace mei::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

constexpr std::uint32_t kHeaderLimitBytes = 64 * 1024;
// 1xx responses skipped before the final one; more is a misbehaving upstream.
constexpr int kMaxInterimResponses = 8;
constexpr std::size_t kMaxIdlePerHost = 8;
constexpr std::size_t kMaxIdle = 64;

using RequestMessage = bhttp::request<bhttp::span_body<const char>>;
using ResponseParser = bhttp::response_parser<internal::SinkBody>;

// Kept-alive connections between requests, as bare file descriptors (each Fetch has its own
// io_context, so a socket object cannot outlive the call that opened it). At most kMaxIdle in
// all, kept in the order they were parked: a linear scan is cheaper than any index at this size.
class ConnectionPool {
 public:
  struct Idle {
    int fd = -1;
    bool v6 = false;
    Clock::time_point expiry;
  };

  // The most recently parked live connection to `authority`, or nullopt.
  std::optional<Idle> Take(const std::string& authority) {
    for (;;) {
      std::optional<Idle> idle;
      {
        std::lock_guard lock(mu_);
        const auto it = std::find_if(parked_.rbegin(), parked_.rend(), [&](const Parked& entry) {
          return entry.authority == authority;
        });
        if (it == parked_.rend()) return std::nullopt;
        idle = it->idle;
        parked_.erase(std::next(it).base());
      }
      if (idle->expiry > Clock::now() && !ClosedOrReadable(idle->fd)) return idle;
      ::close(idle->fd);
    }
  }

  // Parks `idle`. Expired connections are closed first; when the host already has
  // kMaxIdlePerHost, or the pool kMaxIdle, the oldest of those is closed to make room, so that
  // the newest connections (the likeliest to be alive and wanted) are the ones kept.
  void Give(std::string authority, Idle idle) {
    std::lock_guard lock(mu_);
    const Clock::time_point now = Clock::now();
    std::erase_if(parked_, [&](const Parked& entry) {
      if (entry.idle.expiry > now) return false;
      ::close(entry.idle.fd);
      return true;
    });
    const auto same_host = [&](const Parked& entry) { return entry.authority == authority; };
    auto victim = parked_.end();
    if (static_cast<std::size_t>(std::count_if(parked_.begin(), parked_.end(), same_host)) >=
        kMaxIdlePerHost) {
      victim = std::find_if(parked_.begin(), parked_.end(), same_host);
    } else if (parked_.size() >= kMaxIdle) {
      victim = parked_.begin();
    }
    if (victim != parked_.end()) {
      ::close(victim->idle.fd);
      parked_.erase(victim);
    }
    parked_.push_back({std::move(authority), idle});
  }

 private:
  struct Parked {
    std::string authority;
    Idle idle;
  };

  // An idle HTTP/1.1 connection has nothing to read: readability means the upstream closed it
  // (or sent bytes nobody asked for), either way it cannot carry another request.
  static bool ClosedOrReadable(int fd) {
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, 0) != 0;
  }

  std::mutex mu_;
  std::vector<Parked> parked_;  // oldest first
};

ConnectionPool& Pool() {
  static ConnectionPool* const pool = new ConnectionPool;  // never destroyed: Fetch may run late
  return *pool;
}

bool IsToken(std::string_view text) {
  return internal::IsSafeHeader(Header{std::string(text), ""});
}

// RFC 9110 section 9.2.2.
bool IsIdempotent(std::string_view method) {
  for (const std::string_view idempotent : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    if (method == idempotent) return true;
  }
  return false;
}

bool IsFramingField(std::string_view name) {
  for (const std::string_view field :
       {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive"}) {
    if (EqualsIgnoreCase(name, field)) return true;
  }
  return false;
}

// "host:port", "[::1]:port": the pool key, and the Host header when the port is not 80.
std::string Authority(const HttpUrl& url) {
  if (url.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", url.host, url.port);
  return fmt::format("{}:{}", url.host, url.port);
}

std::string HostHeader(const HttpUrl& url) {
  if (url.port != 80) return Authority(url);
  return url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
}

struct Target {
  const ClientRequest& request;
  const HttpUrl& url;
  const ClientOptions& options;
  std::optional<Clock::time_point> deadline;  // options.deadline from the start of the call
  ResponseSink* sink = nullptr;               // takes the final response's body, if it wants it
};

// Arms `stream` for one step of at most `step`, and never past the call's deadline.
void Expire(beast::tcp_stream& stream, const Target& target, std::chrono::milliseconds step) {
  const Clock::time_point at = Clock::now() + step;
  stream.expires_at(target.deadline ? std::min(at, *target.deadline) : at);
}

bool DeadlinePassed(const Target& target) {
  return target.deadline && Clock::now() >= *target.deadline;
}

Error Failed(const Target& target, std::string_view what) {
  return Error{Errc::kUpstreamFailed,
               fmt::format("{} {} failed: {}", target.request.method, target.request.url, what)};
}

Error TimedOut(const Target& target, std::string_view what) {
  return Error{Errc::kUpstreamTimeout,
               fmt::format("{} {} timed out: {}", target.request.method, target.request.url, what)};
}

bool IsClosed(const error_code& error) {
  return error == bhttp::error::end_of_stream || error == bhttp::error::partial_message ||
         error == net::error::eof || error == net::error::connection_reset ||
         error == net::error::connection_aborted || error == net::error::broken_pipe ||
         error == net::error::not_connected;
}

// Where an exchange failed: what it was doing and how far it got.
struct Failure {
  error_code error;
  bool sending = false;           // else receiving
  bool response_started = false;  // some response byte arrived
  bool header_done = false;
  std::uint64_t body_bytes = 0;
};

Error ErrorOf(const Target& target, const Failure& failure) {
  const error_code& error = failure.error;
  const long long idle_ms = target.options.idle_timeout.count();
  if (error == beast::error::timeout && DeadlinePassed(target)) {
    return TimedOut(
        target,
        fmt::format("the exchange did not complete within its deadline of {} ms ({})",
                    target.options.deadline.count(),
                    failure.header_done
                        ? fmt::format("{} bytes of the response body had come", failure.body_bytes)
                        : std::string("no complete response header had come")));
  }
  if (error == beast::error::timeout) {
    if (failure.sending) {
      return TimedOut(target, fmt::format("the upstream took no request bytes for {} ms", idle_ms));
    }
    if (!failure.header_done) {
      return TimedOut(target, fmt::format("no response header within {} ms", idle_ms));
    }
    return TimedOut(target, fmt::format("the response body stalled for {} ms after {} bytes",
                                        idle_ms, failure.body_bytes));
  }
  if (error == bhttp::error::body_limit) {
    return Failed(target, fmt::format("the response body is larger than the limit of {} bytes",
                                      target.options.max_body_bytes));
  }
  if (error == bhttp::error::header_limit) {
    return Failed(target,
                  fmt::format("the response header is larger than {} bytes", kHeaderLimitBytes));
  }
  if (IsClosed(error)) {
    if (failure.sending) {
      return Failed(target, fmt::format("the upstream closed the connection while the request was "
                                        "sent ({})",
                                        error.message()));
    }
    if (!failure.response_started) {
      return Failed(target, "the upstream closed the connection without responding");
    }
    if (failure.header_done) {
      return Failed(target, fmt::format("the upstream closed the connection after {} bytes of the "
                                        "response body, before its end",
                                        failure.body_bytes));
    }
    return Failed(target,
                  "the upstream closed the connection in the middle of the response header");
  }
  if (error.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
    return Failed(target,
                  fmt::format("the upstream sent a malformed response ({})", error.message()));
  }
  return Failed(target,
                fmt::format("{} failed ({})",
                            failure.sending ? "sending the request" : "reading the response",
                            error.message()));
}

// Connects `stream` to one of the addresses of the URL's host within connect_timeout.
net::awaitable<std::optional<Error>> Connect(const Target& target, beast::tcp_stream& stream) {
  std::vector<tcp::endpoint> endpoints;
  error_code error;
  const net::ip::address address = net::ip::make_address(target.url.host, error);
  if (!error) {
    endpoints.emplace_back(address, target.url.port);
  } else {
    // Synchronous: an asynchronous resolve would start a resolver thread for every call, and
    // could not be abandoned on a deadline either.
    tcp::resolver resolver(stream.get_executor());
    const auto results = resolver.resolve(target.url.host, std::to_string(target.url.port),
                                          tcp::resolver::numeric_service, error);
    if (error) {
      co_return Failed(target, fmt::format("could not resolve host \"{}\" ({})", target.url.host,
                                           error.message()));
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  Expire(stream, target, target.options.connect_timeout);
  auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, kAsTuple);
  if (connect_error == beast::error::timeout && DeadlinePassed(target)) {
    co_return TimedOut(target, fmt::format("no connection to {} within the deadline of {} ms",
                                           Authority(target.url), target.options.deadline.count()));
  }
  if (connect_error == beast::error::timeout) {
    co_return TimedOut(target,
                       fmt::format("no connection to {} within {} ms", Authority(target.url),
                                   target.options.connect_timeout.count()));
  }
  if (connect_error) {
    co_return Failed(target, fmt::format("could not connect to {} ({})", Authority(target.url),
                                         connect_error.message()));
  }
  stream.socket().set_option(tcp::no_delay(true), error);
  co_return std::nullopt;
}

// Puts a pooled connection into `stream`; false when there is none.
bool Adopt(std::optional<ConnectionPool::Idle> idle, beast::tcp_stream& stream) {
  if (!idle) return false;
  error_code error;
  stream.socket().assign(idle->v6 ? tcp::v6() : tcp::v4(), idle->fd, error);
  if (error) ::close(idle->fd);
  return !error;
}

void Park(beast::tcp_stream& stream, const Target& target) {
  tcp::socket socket = stream.release_socket();
  error_code error;
  const bool v6 = socket.local_endpoint(error).address().is_v6();
  if (error) return;
  const int fd = socket.release(error);
  if (error) return;
  Pool().Give(Authority(target.url), {fd, v6, Clock::now() + target.options.keep_alive});
}

// Writes `message` and reads the final response into `parser` on `stream`, each read and write
// within idle_timeout and all of them within the deadline. On success, `buffer` holds whatever the
// upstream sent past the response.
constexpr std::size_t kReadBufferBytes = 256 * 1024;

net::awaitable<std::optional<Failure>> Exchange(beast::tcp_stream& stream, RequestMessage& message,
                                                const Target& target,
                                                std::optional<ResponseParser>& parser,
                                                beast::flat_buffer& buffer) {
  const ClientOptions& options = target.options;
  bhttp::request_serializer<bhttp::span_body<const char>> serializer(message);
  while (!serializer.is_done()) {
    Expire(stream, target, options.idle_timeout);
    auto [error, size] = co_await bhttp::async_write_some(stream, serializer, kAsTuple);
    if (error) co_return Failure{.error = error, .sending = true};
  }
  bool response_started = false;
  for (int interim = 0; interim <= kMaxInterimResponses; ++interim) {
    parser.emplace();
    parser->get().body().sink = target.sink;
    parser->header_limit(kHeaderLimitBytes);
    parser->body_limit(options.max_body_bytes);
    if (message.method() == bhttp::verb::head) parser->skip(true);
    while (!parser->is_done()) {
      Expire(stream, target, options.idle_timeout);
      auto [error, size] = co_await bhttp::async_read_some(stream, buffer, *parser, kAsTuple);
      response_started = response_started || parser->got_some() || buffer.size() > 0;
      if (error) {
        const bool header_done = parser->is_header_done();
        co_return Failure{.error = error,
                          .response_started = response_started,
                          .header_done = header_done,
                          .body_bytes = header_done ? parser->get().body().received : 0};
      }
    }
    const int status = parser->get().result_int();
    if (status < 100 || status > 199 || status == 101) co_return std::nullopt;
  }
  co_return Failure{.error = bhttp::error::bad_status, .response_started = true};
}

net::awaitable<Result<ClientResponse>> Run(Target target) {
  const auto executor = co_await net::this_coro::executor;
  const ClientRequest& request = target.request;
  const bool keep_alive = target.options.keep_alive.count() > 0;

  RequestMessage message;
  message.version(11);
  message.method_string(request.method);
  message.target(target.url.target);
  message.set(bhttp::field::host, HostHeader(target.url));
  message.set(bhttp::field::user_agent, "mei");
  for (const auto& [name, value] : request.headers) {
    if (IsFramingField(name)) continue;
    if (EqualsIgnoreCase(name, "Host") || EqualsIgnoreCase(name, "User-Agent")) {
      message.set(name, value);
    } else {
      message.insert(name, value);
    }
  }
  if (!keep_alive) message.set(bhttp::field::connection, "close");
  message.body() = beast::span<const char>(request.body.data(), request.body.size());
  if (!request.body.empty() || request.method == "PUT" || request.method == "POST") {
    message.content_length(request.body.size());
  }

  for (int attempt = 0;; ++attempt) {
    beast::tcp_stream stream(executor);
    const bool reused =
        keep_alive && attempt == 0 && Adopt(Pool().Take(Authority(target.url)), stream);
    if (!reused) {
      if (std::optional<Error> error = co_await Connect(target, stream)) co_return *error;
    }

    std::optional<ResponseParser> parser;
    // Beast reads at most the buffer's free capacity per recv (512 bytes when it starts empty), so
    // a block body arrives in large reads only with room reserved up front.
    beast::flat_buffer buffer;
    buffer.reserve(kReadBufferBytes);
    const std::optional<Failure> failure =
        co_await Exchange(stream, message, target, parser, buffer);
    if (failure) {
      if (std::optional<Error>& refused = parser->get().body().refused) co_return *refused;
      // A kept-alive connection that the upstream closed just as it was reused.
      const bool stale = reused && !failure->response_started && IsClosed(failure->error);
      if (stale && IsIdempotent(request.method)) continue;
      co_return ErrorOf(target, *failure);
    }

    ClientResponse response;
    response.status = parser->get().result_int();
    for (const auto& field : parser->get()) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    const bool reusable = keep_alive && parser->keep_alive() && buffer.size() == 0;
    response.body = std::move(parser->release().body().text);
    if (reusable) Park(stream, target);
    co_return response;
  }
}

// kBadRequest when the method or a header could not be sent as given.
std::optional<Error> CheckRequest(const ClientRequest& request) {
  if (!IsToken(request.method)) {
    return Error{Errc::kBadRequest, fmt::format("method \"{}\" for {} is not an HTTP token",
                                                request.method, request.url)};
  }
  for (const auto& [name, value] : request.headers) {
    if (!internal::IsSafeHeader(Header{name, value})) {
      return Error{Errc::kBadRequest,
                   fmt::format("header \"{}\" for {} has a malformed name or a value with CR, LF "
                               "or NUL",
                               name, request.url)};
    }
  }
  return std::nullopt;
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::optional<std::string_view> ClientResponse::Header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (EqualsIgnoreCase(field, name)) return std::string_view(value);
  }
  return std::nullopt;
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  const auto malformed = [&](std::string_view why) {
    return Error{Errc::kBadRequest, fmt::format("URL \"{}\" {}", url, why)};
  };
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size() || !EqualsIgnoreCase(url.substr(0, kScheme.size()), kScheme)) {
    return malformed("is not an http:// URL (only plain http:// upstreams are supported)");
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return malformed("contains a space or a control character");
    }
  }
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('#'));
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  HttpUrl parsed;
  if (authority_end != std::string_view::npos) {
    const std::string_view target = rest.substr(authority_end);
    parsed.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
  }
  if (authority.find('@') != std::string_view::npos) {
    return malformed("has user info, which is not supported");
  }

  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return malformed("has an unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return malformed("has junk after its host");
    if (!after.empty()) port = after.substr(1);
    error_code error;
    net::ip::make_address_v6(std::string(host), error);
    if (error) return malformed("has a bracketed host that is not an IPv6 address");
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    host = authority.substr(0, colon);
    if (host.empty()) return malformed("has no host");
    if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) {
      return malformed("has a host that is neither a name nor an IPv4 address");
    }
  }
  if (port) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port->data(), port->data() + port->size(), value);
    if (port->empty() || error != std::errc() || end != port->data() + port->size() || value == 0 ||
        value > 65535) {
      return malformed("has a port that is not a number from 1 to 65535");
    }
    parsed.port = static_cast<std::uint16_t>(value);
  }
  parsed.host = std::string(host);
  return parsed;
}

namespace {

net::awaitable<Result<ClientResponse>> FetchOnStrand(ClientRequest request, ClientOptions options,
                                                     ResponseSink* sink) {
  Result<HttpUrl> url = ParseHttpUrl(request.url);
  if (!url) co_return url.error();
  if (std::optional<Error> invalid = CheckRequest(request)) co_return *invalid;
  std::optional<Clock::time_point> deadline;
  if (options.deadline.count() > 0) deadline = Clock::now() + options.deadline;
  std::optional<Result<ClientResponse>> outcome;
  try {
    outcome = co_await Run(Target{request, *url, options, deadline, sink});
  } catch (const std::exception& e) {
    outcome = Error{Errc::kInternal,
                    fmt::format("{} {} failed: {}", request.method, request.url, e.what())};
  }
  co_return std::move(*outcome);
}

}  // namespace

Result<ClientResponse> Fetch(const ClientRequest& request, const ClientOptions& options) {
  try {
    net::io_context io(1);
    std::optional<Result<ClientResponse>> outcome;
    net::co_spawn(io, FetchOnStrand(request, options, nullptr),
                  [&](std::exception_ptr exception, Result<ClientResponse> result) {
                    if (exception) std::rethrow_exception(exception);  // out of io.run()
                    outcome = std::move(result);
                  });
    io.run();
    if (!outcome) {
      return Error{Errc::kInternal,
                   fmt::format("{} {} ended without an outcome", request.method, request.url)};
    }
    return std::move(*outcome);
  } catch (const std::exception& e) {
    return Error{Errc::kInternal,
                 fmt::format("{} {} failed: {}", request.method, request.url, e.what())};
  } catch (...) {
    return Error{Errc::kInternal, fmt::format("{} {} failed", request.method, request.url)};
  }
}

net::awaitable<Result<ClientResponse>> FetchAsync(ClientRequest request, ClientOptions options,
                                                  ResponseSink* sink) {
  // The stream's socket and timer complete one at a time on a strand, whatever the caller's
  // executor (a server's multi-threaded worker pool, say).
  const auto executor = co_await net::this_coro::executor;
  co_return co_await net::co_spawn(net::make_strand(executor),
                                   FetchOnStrand(std::move(request), std::move(options), sink),
                                   net::use_awaitable);
}

}  // namespace mei::http
