#include "common/http/server.h"

#include <netinet/tcp.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/assert.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/container/static_vector.hpp>
#include <boost/system/errc.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "common/http/internal/endpoint.h"
#include "common/http/internal/response_head.h"
#include "common/http/internal/socket_write.h"

namespace mei::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

using internal::Cork;
using internal::SendFileRegion;
using internal::WriteAll;
using internal::WriteChunks;
using internal::Written;

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

// Bytes read at once while waiting for the next request on a kept-alive connection.
constexpr std::size_t kReadSize = 16 * 1024;
// After an error reply, unread request bytes are discarded for at most this long (and this many
// bytes) before closing, so that the close does not turn into a reset that destroys the reply
// before the client has read it (the "lingering close" of Apache and nginx).
constexpr Milliseconds kLingerTimeout{1000};
constexpr std::uint64_t kLingerLimitBytes = 1 << 20;
// A connection over max_connections gets this long to take its 503.
constexpr Milliseconds kRejectTimeout{1000};
// accept() failing for a reason other than shutdown (EMFILE, ENOBUFS) is retried after this.
constexpr Milliseconds kAcceptBackoff{50};

// sendfile(2) has no MSG_NOSIGNAL: on a connection the peer has closed it raises SIGPIPE, whose
// default action ends the process. The I/O threads, the only ones that write to sockets, block
// it: the write fails with EPIPE, and the signal stays pending on the thread, never delivered.
void BlockBrokenPipeSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

// Shuts down sending, discards what the client still sends (bounded), then closes.
net::awaitable<void> LingeringClose(beast::tcp_stream& stream, Milliseconds timeout) {
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(timeout);
  std::vector<char> scratch(kReadSize);
  std::uint64_t discarded = 0;
  while (discarded < kLingerLimitBytes) {
    auto [error, size] = co_await stream.async_read_some(net::buffer(scratch), kAsTuple);
    if (error) break;
    discarded += size;
  }
  stream.close();
}

void Close(beast::tcp_stream& stream) {
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

struct Produced {
  Chunk chunk;
  std::optional<Error> error;
};

// BodySource::TryNext() on the calling (I/O) thread: the chunk, or nullopt when the source needs a
// worker. A throwing source is a failed body, as in Produce.
std::optional<Produced> TryProduce(BodySource* body) {
  try {
    std::optional<Result<Chunk>> next = body->TryNext();
    if (!next) return std::nullopt;
    if (!*next) return Produced{Chunk{}, next->error()};
    return Produced{std::move(**next), std::nullopt};
  } catch (const std::exception& e) {
    return Produced{Chunk{},
                    Error{Errc::kInternal, std::string("the body source failed: ") + e.what()}};
  } catch (...) {
    return Produced{Chunk{}, Error{Errc::kInternal, "the body source failed"}};
  }
}

// One BodySource::NextAsync() call; runs on a worker thread, suspended while the source waits.
net::awaitable<Produced> Produce(BodySource* body) {
  Produced produced;
  try {
    Result<Chunk> next = co_await body->NextAsync();
    if (next) {
      produced.chunk = std::move(*next);
    } else {
      produced.error = next.error();
    }
  } catch (const std::exception& e) {
    produced.error = Error{Errc::kInternal, std::string("the body source failed: ") + e.what()};
  } catch (...) {
    produced.error = Error{Errc::kInternal, "the body source failed"};
  }
  co_return produced;
}

// What a worker made of a request: the handler's reply and, when the reply streams a body that
// will be sent, the body's first chunk, so that a request costs one trip to the workers.
struct Handled {
  Reply reply;
  std::optional<Produced> first;
};

// The handler call, then the body's first chunk; runs on a worker thread. A throwing handler is a
// bug, answered with a 500.
net::awaitable<Handled> CallHandler(const AsyncHandler* handler, const Request* request,
                                    bool head) {
  Handled handled;
  try {
    handled.reply = co_await (*handler)(*request);
  } catch (...) {
    handled.reply = Reply::FromError({Errc::kInternal, "the request handler failed"});
  }
  const Reply& reply = handled.reply;
  if (reply.body && !head && reply.status >= 200 && reply.status <= 599 &&
      internal::StatusHasBody(reply.status)) {
    handled.first = co_await Produce(reply.body.get());
  }
  co_return handled;
}

// The quick handler's reply and, when it can be had by a lookup, its first chunk, on the calling
// (I/O) thread; nullopt when there is no quick handler or it leaves the request to the handler.
std::optional<Handled> CallQuick(const QuickHandler& quick, const Request& request, bool head) {
  if (!quick) return std::nullopt;
  std::optional<Reply> reply;
  try {
    reply = quick(request);
  } catch (...) {
    return std::nullopt;  // the handler answers, and reports whatever is wrong
  }
  if (!reply) return std::nullopt;
  Handled handled{std::move(*reply), std::nullopt};
  if (handled.reply.body && !head && handled.reply.status >= 200 && handled.reply.status <= 599 &&
      internal::StatusHasBody(handled.reply.status)) {
    handled.first = TryProduce(handled.reply.body.get());
  }
  return handled;
}

std::string PeerOf(const tcp::socket& socket) {
  error_code error;
  const tcp::endpoint endpoint = socket.remote_endpoint(error);
  return error ? std::string("unknown") : internal::FormatEndpoint(endpoint);
}

// The error reply for a request that could not be read, or nullopt when the connection should
// just be closed (the client went away, or the header deadline passed).
std::optional<Error> ReadError(const error_code& error, const ServerOptions& options) {
  namespace http = beast::http;
  if (error == http::error::header_limit) {
    return Error{Errc::kHeaderTooLarge, "the request header exceeds " +
                                            std::to_string(options.header_limit_bytes) + " bytes"};
  }
  if (error == http::error::body_limit) {
    return Error{Errc::kPayloadTooLarge,
                 "the request body exceeds " + std::to_string(options.body_limit_bytes) + " bytes"};
  }
  if (error.category() == http::make_error_code(http::error::bad_method).category() &&
      error != http::error::end_of_stream && error != http::error::partial_message) {
    return Error{Errc::kBadRequest, "malformed HTTP request: " + error.message()};
  }
  return std::nullopt;
}

Request ToRequest(beast::http::request<beast::http::string_body>&& message, std::string peer) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  request.body = std::move(message.body());
  request.peer = std::move(peer);
  return request;
}

// RFC 9112 section 6.1: a request body is framed by Content-Length or by the chunked coding, last.
// Beast decodes "chunked" alone; for any other list ("gzip, chunked", or "chunked, gzip", whose
// length cannot be known at all) it would take the bytes that follow for the next request, the
// start of request smuggling. Such a request gets 400 and the connection is closed, as section
// 6.3 requires for a chunked coding that is not the final one.
std::optional<Error> UnsupportedFraming(
    const beast::http::request<beast::http::string_body>& message) {
  const auto [begin, end] = message.equal_range(beast::http::field::transfer_encoding);
  if (begin == end) return std::nullopt;
  std::string codings;
  for (auto field = begin; field != end; ++field) {
    if (field != begin) codings += ',';
    codings += field->value();
  }
  const std::size_t first = codings.find_first_not_of(" \t");
  const std::size_t last = codings.find_last_not_of(" \t");
  const std::string_view coding = first == std::string::npos
                                      ? std::string_view()
                                      : std::string_view(codings).substr(first, last - first + 1);
  if (EqualsIgnoreCase(coding, "chunked")) return std::nullopt;
  return Error{Errc::kBadRequest,
               "a request body must come with Content-Length or \"Transfer-Encoding: chunked\" "
               "alone"};
}

bool ExpectsContinue(const beast::http::request<beast::http::string_body>& message) {
  const auto expect = message.find(beast::http::field::expect);
  return message.version() >= 11 && expect != message.end() &&
         EqualsIgnoreCase(expect->value(), "100-continue");
}

// `count` io_contexts, each to be run by one thread.
std::vector<std::unique_ptr<net::io_context>> MakeIoContexts(unsigned count) {
  std::vector<std::unique_ptr<net::io_context>> ios;
  for (unsigned i = 0; i < count; ++i) ios.push_back(std::make_unique<net::io_context>(1));
  return ios;
}

}  // namespace

struct Server::Impl {
  // One accepted socket. `reading` says the session waits for or reads a request, which Drain()
  // may cancel; both are touched only on the stream's strand.
  struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool reading = false;
  };

  // Keeps a coroutine counted (and its connection registered) while the coroutine frame lives:
  // Drain() stops the threads only once every lease is gone.
  class Lease {
   public:
    Lease(Impl* impl, std::shared_ptr<Connection> connection, bool counted)
        : impl_(impl), connection_(std::move(connection)), counted_(counted) {}
    Lease(Lease&& other) noexcept
        : impl_(std::exchange(other.impl_, nullptr)),
          connection_(std::move(other.connection_)),
          counted_(other.counted_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (impl_ != nullptr) impl_->Release(connection_, counted_);
    }
    Connection& connection() const { return *connection_; }

   private:
    Impl* impl_;
    std::shared_ptr<Connection> connection_;
    bool counted_;
  };

  // What Respond() did, for the observer and for keep-alive.
  struct Outcome {
    int status = 0;
    std::uint64_t body_bytes = 0;
    bool complete = false;  // every body byte was written
    bool reusable = false;  // the connection may carry another request
  };

  enum class State { kRunning, kDraining, kDrained };

  Impl(ServerOptions server_options, AsyncHandler request_handler,
       ExchangeObserver exchange_observer, QuickHandler quick_handler)
      : options(std::move(server_options)),
        handler(std::move(request_handler)),
        observer(std::move(exchange_observer)),
        quick(std::move(quick_handler)),
        ios(MakeIoContexts(std::max(1u, options.io_threads))),
        workers(std::max(1u, options.worker_threads)) {}

  Lease Register(std::shared_ptr<Connection> connection, bool counted);
  void Release(const std::shared_ptr<Connection>& connection, bool counted);
  template <class F>
  void PostToEachConnection(F f);

  net::awaitable<void> Accept(Lease lease);
  net::awaitable<void> Serve(Lease lease);
  net::awaitable<void> Reject(Lease lease);
  net::awaitable<void> AnswerError(beast::tcp_stream& stream, const Error& error,
                                   const Request& request, Clock::time_point started);
  net::awaitable<Outcome> Respond(beast::tcp_stream& stream, Reply reply,
                                  std::optional<Produced> first, bool head, bool keep_alive);
  net::awaitable<Outcome> Stream(beast::tcp_stream& stream, const Reply& reply, Chunk first,
                                 bool keep_alive);
  void Observe(const Request& request, const std::string& route, const ReplyFacts* facts,
               const Outcome& outcome, Clock::time_point started) const;
  void RunIo(net::io_context& io);
  void Drain();

  const ServerOptions options;
  const AsyncHandler handler;
  const ExchangeObserver observer;
  const QuickHandler quick;

  // One io_context per I/O thread, each connection on one of them (round robin), as nginx gives
  // each connection to one worker process: a connection's completions never wake another thread.
  // Declared before everything that holds work or sockets on them, so destroyed last.
  std::vector<std::unique_ptr<net::io_context>> ios;
  net::thread_pool workers;
  net::strand<net::io_context::executor_type> accept_strand{net::make_strand(*ios.front())};
  tcp::acceptor acceptor{accept_strand};
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::size_t next_io = 0;  // the io_context of the next connection; on accept_strand
  std::string endpoint;

  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<bool> draining{false};

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::unordered_set<std::shared_ptr<Connection>> connections;  // guarded by mutex
  std::size_t live_tasks = 0;                                   // guarded by mutex
  State state = State::kRunning;                                // guarded by mutex
};

Server::Impl::Lease Server::Impl::Register(std::shared_ptr<Connection> connection, bool counted) {
  std::lock_guard lock(mutex);
  if (connection) connections.insert(connection);
  ++live_tasks;
  if (counted) open_connections.fetch_add(1);
  return Lease(this, std::move(connection), counted);
}

void Server::Impl::Release(const std::shared_ptr<Connection>& connection, bool counted) {
  {
    std::lock_guard lock(mutex);
    if (connection) connections.erase(connection);
    --live_tasks;
    if (counted) open_connections.fetch_sub(1);
  }
  changed.notify_all();
}

template <class F>
void Server::Impl::PostToEachConnection(F f) {
  std::vector<std::shared_ptr<Connection>> snapshot;
  {
    std::lock_guard lock(mutex);
    snapshot.assign(connections.begin(), connections.end());
  }
  for (std::shared_ptr<Connection>& connection : snapshot) {
    auto executor = connection->stream.get_executor();
    net::post(executor, [connection = std::move(connection), f] { f(*connection); });
  }
}

net::awaitable<void> Server::Impl::Accept([[maybe_unused]] Lease lease) {
  for (;;) {
    net::io_context& io = *ios[next_io++ % ios.size()];
    auto [error, socket] = co_await acceptor.async_accept(net::make_strand(io), kAsTuple);
    if (draining.load() || !acceptor.is_open()) break;
    if (error) {
      net::steady_timer backoff(accept_strand, kAcceptBackoff);
      co_await backoff.async_wait(kAsTuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const bool over_cap = open_connections.load() >= options.max_connections;
    Lease connection_lease =
        Register(std::make_shared<Connection>(tcp::socket(std::move(socket))), !over_cap);
    auto executor = connection_lease.connection().stream.get_executor();
    if (over_cap) {
      net::co_spawn(executor, Reject(std::move(connection_lease)), net::detached);
    } else {
      net::co_spawn(executor, Serve(std::move(connection_lease)), net::detached);
    }
  }
}

// Answers a connection over max_connections with a 503 without reading its request.
net::awaitable<void> Server::Impl::Reject(Lease lease) {
  beast::tcp_stream& stream = lease.connection().stream;
  const Clock::time_point started = Clock::now();
  const Milliseconds timeout = std::min(options.idle_timeout, kRejectTimeout);
  const Reply reply = Reply::FromError(
      {Errc::kOverloaded, "the server has too many open connections; retry later"});
  const std::string head = internal::FormatResponseHead(reply, /*keep_alive=*/false);
  const Written written =
      co_await WriteAll(stream, {net::buffer(head), net::buffer(reply.text)}, timeout);
  Request request;
  request.peer = PeerOf(stream.socket());
  const bool complete = !written.error;
  Observe(request, reply.route, /*facts=*/nullptr,
          {reply.status, complete ? reply.text.size() : 0, complete, /*reusable=*/false}, started);
  co_await LingeringClose(stream, timeout);
}

// The session: one coroutine per connection, on the connection's strand, reading one request at
// a time. The first request's header must arrive within header_timeout of the accept. Between
// kept-alive requests the session waits up to idle_timeout for the first byte of the next one,
// and from that byte on the whole header must arrive within header_timeout. A request body is
// read within idle_timeout (bodies are small: body_limit_bytes).
net::awaitable<void> Server::Impl::Serve(Lease lease) {
  Connection& connection = lease.connection();
  beast::tcp_stream& stream = connection.stream;
  const std::string peer = PeerOf(stream.socket());
  beast::flat_buffer buffer;
  std::uint32_t served = 0;
  stream.expires_after(options.header_timeout);
  for (;;) {
    if (draining.load()) break;
    connection.reading = true;
    if (served > 0) {
      if (buffer.size() == 0) {
        stream.expires_after(options.idle_timeout);
        auto [error, size] = co_await stream.async_read_some(buffer.prepare(kReadSize), kAsTuple);
        if (error) break;
        buffer.commit(size);
      }
      stream.expires_after(options.header_timeout);
    }
    beast::http::request_parser<beast::http::string_body> parser;
    parser.header_limit(options.header_limit_bytes);
    parser.body_limit(options.body_limit_bytes);
    error_code error;
    std::tie(error, std::ignore) =
        co_await beast::http::async_read_header(stream, buffer, parser, kAsTuple);
    const Clock::time_point started = Clock::now();
    // An answer for a request that will not be handled: framing we refuse, or a read error.
    std::optional<Error> refused;
    if (!error) refused = UnsupportedFraming(parser.get());
    if (!error && !refused && !parser.is_done()) {
      if (ExpectsContinue(parser.get())) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        error = (co_await WriteAll(stream, {net::buffer(kContinue)}, options.idle_timeout)).error;
      }
      if (!error) {
        stream.expires_after(options.idle_timeout);
        std::tie(error, std::ignore) =
            co_await beast::http::async_read(stream, buffer, parser, kAsTuple);
      }
    }
    connection.reading = false;
    if (error || refused) {
      Request partial;
      partial.peer = peer;
      if (parser.is_header_done()) {
        partial.method = std::string(parser.get().method_string());
        partial.target = std::string(parser.get().target());
      }
      if (!refused) refused = ReadError(error, options);
      if (refused) {
        co_await AnswerError(stream, *refused, partial, started);
      } else {
        Close(stream);
      }
      co_return;
    }

    ++served;
    const bool head = parser.get().method() == beast::http::verb::head;
    const bool wants_keep_alive =
        parser.get().keep_alive() && served < options.max_requests_per_connection;
    const Request request = ToRequest(parser.release(), peer);
    std::optional<Handled> quick_handled = CallQuick(quick, request, head);
    if (!quick_handled) {
      quick_handled = co_await net::co_spawn(workers, CallHandler(&handler, &request, head),
                                             net::use_awaitable);
    }
    Handled& handled = *quick_handled;
    const std::string route = handled.reply.route;
    const ReplyFacts facts = std::move(handled.reply.facts);
    const Outcome outcome =
        co_await Respond(stream, std::move(handled.reply), std::move(handled.first), head,
                         wants_keep_alive && !draining.load());
    Observe(request, route, &facts, outcome, started);
    if (!outcome.reusable) break;
  }
  Close(stream);
}

// Answers a request that will not be handled with `error`, then closes the connection.
net::awaitable<void> Server::Impl::AnswerError(beast::tcp_stream& stream, const Error& error,
                                               const Request& request, Clock::time_point started) {
  const Reply reply = Reply::FromError(error);
  const std::string head = internal::FormatResponseHead(reply, /*keep_alive=*/false);
  // A reply to HEAD has no body, even an error reply (RFC 9110 section 9.3.2): a client reads the
  // next response right after the head, so a body would be taken for one.
  const std::string_view body = request.method == "HEAD" ? std::string_view() : reply.text;
  const Written written =
      co_await WriteAll(stream, {net::buffer(head), net::buffer(body)}, options.idle_timeout);
  const bool complete = !written.error;
  Observe(request, reply.route, /*facts=*/nullptr,
          {reply.status, complete ? body.size() : 0, complete, /*reusable=*/false}, started);
  co_await LingeringClose(stream, std::min(options.idle_timeout, kLingerTimeout));
}

// Sends `reply`. A streamed body's first chunk is produced before the head is written (by the
// worker that called the handler: `first`; here when it did not), so a body source that fails at
// once (a missing block, an unreachable upstream) still gets a proper error reply, and the head
// and the first chunk leave together (in one write, or for a file chunk in the
// corked segments that sendfile fills: SendFileRegion).
net::awaitable<Server::Impl::Outcome> Server::Impl::Respond(beast::tcp_stream& stream, Reply reply,
                                                            std::optional<Produced> first,
                                                            bool head, bool keep_alive) {
  if (reply.status < 200 || reply.status > 599) {
    reply = Reply::FromError(
        {Errc::kInternal, "the handler answered with status " + std::to_string(reply.status)});
  }
  const bool has_body = !head && internal::StatusHasBody(reply.status);
  if (has_body && reply.body) {
    if (!first) {
      first = co_await net::co_spawn(workers, Produce(reply.body.get()), net::use_awaitable);
    }
    const std::uint64_t size = first->chunk.size();
    if (first->error) {
      reply = Reply::FromError(*first->error);
    } else if (size > reply.content_length || (size == 0 && reply.content_length != 0)) {
      reply =
          Reply::FromError({Errc::kInternal, "the body does not match its Content-Length of " +
                                                 std::to_string(reply.content_length) + " bytes"});
    } else if (size != 0) {
      co_return co_await Stream(stream, reply, std::move(first->chunk), keep_alive);
    } else {
      reply.text.clear();  // an empty streamed body
    }
  } else if (has_body && reply.text.size() != reply.content_length) {
    reply = Reply::FromError({Errc::kInternal, "the reply text does not match its Content-Length"});
  }

  const std::string response_head = internal::FormatResponseHead(reply, keep_alive);
  const std::string_view text = has_body ? std::string_view(reply.text) : std::string_view();
  const Written written = co_await WriteAll(stream, {net::buffer(response_head), net::buffer(text)},
                                            options.idle_timeout);
  Outcome outcome;
  outcome.status = reply.status;
  outcome.body_bytes = std::max(written.bytes, response_head.size()) - response_head.size();
  outcome.complete = !written.error;
  outcome.reusable = outcome.complete && keep_alive;
  co_return outcome;
}

// Streams a body chunk by chunk: byte chunks with WriteAll, file chunks with sendfile(2)
// (SendFileRegion), both under the idle timeout. Chunks are produced by BodySource::TryNext on
// this I/O thread when the source can answer with a lookup, as for a hot raw block; else by
// NextAsync on a worker. A file region is written alone; byte chunks that follow one another at
// once (a file's small blocks, held inline) are gathered into one write, up to kMaxGatheredChunks
// and kMaxGatheredBytes. Each write is completed, and its chunks released, before the next chunk
// is asked for, so a response holds at most one block, or one run of small ones, however slowly
// its client reads: a slow reader costs its socket buffers and that, never a block queued behind
// another. Storage reads still overlap network writes: the kernel's send buffer keeps the link
// busy while the next chunk is produced, and file bodies read blocks ahead within a budget for
// the whole process (internal/block_body.h). After the last byte the source is asked once more,
// and must report its end: a source that fails, ends early or runs past content_length closes the
// connection (the head is already sent, so closing is the only way left to tell the client); so
// does a file region that ends early.
//
// The socket is corked (TCP_CORK), as nginx's tcp_nopush does, while chunks follow one another
// without a wait: TCP then sends only full segments, so the head leaves with the first body bytes,
// a sendfile that the send buffer cuts short leaves no small segment behind, and a file's small
// blocks travel together. Without it, every socket having TCP_NODELAY, each piece handed to TCP
// went out at once: serving a hot file took about a third more CPU than nginx (loopback, 2 cores)
// and ran at 0.7x its speed. It is uncorked, which pushes what was written, before a chunk that
// must be waited for (produced on a worker) and at the end.
net::awaitable<Server::Impl::Outcome> Server::Impl::Stream(beast::tcp_stream& stream,
                                                           const Reply& reply, Chunk first,
                                                           bool keep_alive) {
  const std::string response_head = internal::FormatResponseHead(reply, keep_alive);
  std::string_view pending_head = response_head;
  BodySource* const body = reply.body.get();
  const int socket = stream.socket().native_handle();
  Outcome outcome;
  outcome.status = reply.status;
  bool ended_cleanly = false;
  // The next write: one file chunk, or a run of byte chunks. `taken` counts the body bytes of
  // every chunk taken so far, written or not.
  boost::container::static_vector<Chunk, internal::kMaxGatheredChunks> batch;
  std::uint64_t taken = first.size();
  batch.push_back(std::move(first));
  std::optional<Produced> next;  // produced and not taken yet
  bool needs_worker = false;     // TryProduce could not produce the next chunk
  std::optional<Cork> cork(std::in_place, socket);
  for (;;) {
    std::uint64_t gathered = batch.front().size();
    while (!batch.front().file && batch.size() < batch.capacity()) {
      next = TryProduce(body);
      if (!next) {
        needs_worker = true;
        break;
      }
      const Chunk& chunk = next->chunk;
      if (next->error || chunk.file || chunk.size() == 0 ||
          chunk.size() > reply.content_length - taken ||
          gathered + chunk.size() > internal::kMaxGatheredBytes) {
        break;  // taken, if at all, after this write
      }
      taken += chunk.size();
      gathered += chunk.size();
      batch.push_back(std::move(next->chunk));
      next.reset();
    }
    const Written written = co_await WriteChunks(stream, pending_head,
                                                 std::span<const Chunk>(batch.data(), batch.size()),
                                                 options.idle_timeout);
    outcome.body_bytes += std::max(written.bytes, pending_head.size()) - pending_head.size();
    pending_head = {};
    batch.clear();
    if (written.error) break;
    if (!next && !needs_worker) next = TryProduce(body);
    if (!next) {
      cork.reset();
      next = co_await net::co_spawn(workers, Produce(body), net::use_awaitable);
      cork.emplace(socket);
    }
    needs_worker = false;
    if (next->error) break;
    const std::uint64_t size = next->chunk.size();
    if (size == 0) {
      ended_cleanly = outcome.body_bytes == reply.content_length;
      break;
    }
    if (size > reply.content_length - taken) break;
    taken += size;
    batch.push_back(std::move(next->chunk));
    next.reset();
  }
  outcome.complete = outcome.body_bytes == reply.content_length;
  outcome.reusable = ended_cleanly && keep_alive;
  co_return outcome;
}

void Server::Impl::Observe(const Request& request, const std::string& route,
                           const ReplyFacts* facts, const Outcome& outcome,
                           Clock::time_point started) const {
  if (!observer) return;
  Exchange exchange;
  exchange.request = &request;
  exchange.status = outcome.status;
  exchange.route = route;
  exchange.facts = facts;
  exchange.bytes_sent = outcome.body_bytes;
  exchange.complete = outcome.complete;
  exchange.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  try {
    observer(exchange);
  } catch (...) {
    // An observer is for metrics and logs; its failure must not take the connection down.
  }
}

void Server::Impl::RunIo(net::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      // A session's failure ends that session (its lease still releases); keep serving others.
    }
  }
}

// Draining happens in steps, each waiting on the registry under `mutex`:
//   1. `draining` is set, the acceptor is closed on its strand, and every connection that waits
//      for or reads a request has that read cancelled. A session checks `draining` on its strand
//      before each request, so one registered after the snapshot sees the flag and ends.
//   2. Sessions in the middle of a response finish it (with the Connection: close they already
//      announced, or by ending after it) within drain_timeout.
//   3. Past drain_timeout every remaining socket is closed; a session blocked in the handler or a
//      BodySource ends when that call returns.
//   4. Once no lease is left (no coroutine can touch the sockets or this object any more) the
//      io_context stops and every thread is joined.
void Server::Impl::Drain() {
  BOOST_ASSERT_MSG(
      std::none_of(ios.begin(), ios.end(),
                   [](const auto& io) { return io->get_executor().running_in_this_thread(); }) &&
          !workers.get_executor().running_in_this_thread(),
      "Drain() on an I/O or worker thread would join itself");
  {
    std::unique_lock lock(mutex);
    if (state != State::kRunning) {
      changed.wait(lock, [&] { return state == State::kDrained; });
      return;
    }
    state = State::kDraining;
  }
  draining.store(true);
  net::post(accept_strand, [this] {
    error_code ignored;
    acceptor.close(ignored);
  });
  PostToEachConnection([](Connection& connection) {
    if (connection.reading) connection.stream.cancel();
  });
  bool finished = false;
  {
    std::unique_lock lock(mutex);
    finished = changed.wait_for(lock, options.drain_timeout, [&] { return connections.empty(); });
  }
  if (!finished) PostToEachConnection([](Connection& connection) { connection.stream.close(); });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return live_tasks == 0; });
  }
  work.clear();
  for (const auto& io : ios) io->stop();
  for (std::thread& thread : io_threads) thread.join();
  workers.join();
  {
    std::lock_guard lock(mutex);
    state = State::kDrained;
  }
  changed.notify_all();
}

namespace {

net::awaitable<Reply> CallSync(std::shared_ptr<const Handler> handler, const Request* request) {
  co_return (*handler)(*request);
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler,
                                              ExchangeObserver observer) {
  if (!handler) return Error{Errc::kBadRequest, "the server needs a request handler"};
  auto sync = std::make_shared<const Handler>(std::move(handler));
  return Start(std::move(options),
               AsyncHandler([sync](const Request& request) { return CallSync(sync, &request); }),
               std::move(observer));
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, AsyncHandler handler,
                                              ExchangeObserver observer, QuickHandler quick) {
  const Result<tcp::endpoint> endpoint = internal::ParseListen(options.listen);
  if (!endpoint) return endpoint.error();
  if (!handler) return Error{Errc::kBadRequest, "the server needs a request handler"};
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler), std::move(observer),
                                     std::move(quick));

  const auto failed = [&](std::string_view step, const error_code& error) {
    return Error{Errc::kIo, "cannot " + std::string(step) + " " + impl->options.listen + ": " +
                                error.message()};
  };
  error_code error;
  if (impl->acceptor.open(endpoint->protocol(), error)) return failed("open a socket for", error);
  if (impl->acceptor.set_option(tcp::acceptor::reuse_address(true), error)) {
    return failed("set SO_REUSEADDR on", error);
  }
  if (impl->acceptor.bind(*endpoint, error)) return failed("bind", error);
  if (impl->acceptor.listen(net::socket_base::max_listen_connections, error)) {
    return failed("listen on", error);
  }
  const tcp::endpoint bound = impl->acceptor.local_endpoint(error);
  if (error) return failed("read the address of", error);
  impl->endpoint = internal::FormatEndpoint(bound);

  Impl* raw = impl.get();
  net::co_spawn(impl->accept_strand, impl->Accept(impl->Register(nullptr, false)), net::detached);
  for (const auto& io : impl->ios) {
    impl->work.push_back(net::make_work_guard(*io));
    impl->io_threads.emplace_back([raw, context = io.get()] {
      BlockBrokenPipeSignal();
      raw->RunIo(*context);
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Drain(); }

std::string Server::endpoint() const { return impl_->endpoint; }

std::uint64_t Server::open_connections() const { return impl_->open_connections.load(); }

void Server::Drain() { impl_->Drain(); }

void Server::Wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [&] { return impl_->state == Impl::State::kDrained; });
}

}  // namespace mei::http
