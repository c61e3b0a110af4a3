#include "common/http/internal/socket_write.h"

#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/assert.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/errc.hpp>
#include <cerrno>
#include <variant>

namespace mei::http::internal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

// Hands the socket as much of `rest` as its send buffer takes now, without waiting, and counts it
// in `written`: one sendmsg(2) with MSG_DONTWAIT (again after EINTR). An error is set in
// `written`; a full buffer is not one. Most writes of a response end here, costing one system call
// and neither a timer nor a change of the socket's options.
void SendNow(tcp::socket& socket, beast::buffers_suffix<Buffers>& rest, Written& written) {
  std::array<iovec, kMaxGatheredChunks + 1> vectors{};
  std::size_t count = 0;
  for (const net::const_buffer buffer : rest) {
    if (buffer.size() == 0) continue;
    vectors[count++] = iovec{const_cast<void*>(buffer.data()), buffer.size()};
  }
  if (count == 0) return;
  msghdr message{};
  message.msg_iov = vectors.data();
  message.msg_iovlen = count;
  ssize_t sent;
  do {
    sent = ::sendmsg(socket.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      written.error = error_code(errno, boost::system::system_category());
    }
    return;
  }
  written.bytes += static_cast<std::uint64_t>(sent);
  rest.consume(static_cast<std::size_t>(sent));
}

// Bytes one sendfile(2) call is asked for: Linux moves at most 0x7ffff000 at once anyway.
constexpr std::uint64_t kSendfileStepBytes = 1 << 30;

// A file region on its way to a socket: what is left of it and when it last moved.
struct RegionSend {
  tcp::socket& socket;
  int fd;
  off_t offset;
  std::uint64_t left;
  Written written;
  Clock::time_point progress;
  bool waited = false;      // the send has had to wait for the socket at least once
  bool file_ended = false;  // sendfile(2) found the file shorter than the region
};

// Sends what is left of the region with sendfile(2). When the socket's buffer is full (EAGAIN) it
// returns, unless `wait`, in which case it waits for the socket to drain and goes on; it ends with
// the region sent, or with send.written.error set.
net::awaitable<void> PumpRegion(RegionSend& send, bool wait) {
  while (send.left > 0) {
    const ssize_t sent =
        ::sendfile(send.socket.native_handle(), send.fd, &send.offset,
                   static_cast<std::size_t>(std::min(send.left, kSendfileStepBytes)));
    if (sent > 0) {
      send.written.bytes += static_cast<std::uint64_t>(sent);
      send.left -= static_cast<std::uint64_t>(sent);
      send.progress = Clock::now();
      continue;
    }
    if (sent == 0) {
      send.file_ended = true;
      send.written.error = boost::system::errc::make_error_code(boost::system::errc::io_error);
      co_return;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error != EAGAIN && error != EWOULDBLOCK) {
      send.written.error = error_code(error, boost::system::system_category());
      co_return;
    }
    if (!wait) co_return;
    send.waited = true;
    auto [waited] = co_await send.socket.async_wait(tcp::socket::wait_write, kAsTuple);
    if (waited) {
      send.written.error = waited;
      co_return;
    }
  }
}

// Returns once `idle` has passed since the send last made progress.
net::awaitable<void> WatchProgress(const RegionSend& send, Milliseconds idle) {
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    timer.expires_at(send.progress + idle);
    co_await timer.async_wait(net::use_awaitable);
    if (Clock::now() >= send.progress + idle) co_return;
  }
}

}  // namespace

void SetAbortiveClose(beast::tcp_stream& stream, bool abort) {
  error_code ignored;
  stream.socket().set_option(net::socket_base::linger(abort, 0), ignored);
}

net::awaitable<Written> WriteAll(beast::tcp_stream& stream, const Buffers& buffers,
                                 Milliseconds idle) {
  beast::buffers_suffix<Buffers> rest(buffers);
  Written written;
  SendNow(stream.socket(), rest, written);
  if (written.error) SetAbortiveClose(stream, true);
  if (written.error || beast::buffer_bytes(rest) == 0) co_return written;
  SetAbortiveClose(stream, true);
  while (beast::buffer_bytes(rest) > 0) {
    stream.expires_after(idle);
    auto [error, size] = co_await stream.async_write_some(rest, kAsTuple);
    written.bytes += size;
    rest.consume(size);
    if (error) {
      written.error = error;
      co_return written;
    }
  }
  SetAbortiveClose(stream, false);
  co_return written;
}

net::awaitable<Written> SendFileRegion(beast::tcp_stream& stream, std::string_view head,
                                       const FileRegion& region, Milliseconds idle) {
  Written written;
  tcp::socket& socket = stream.socket();
  if (!socket.native_non_blocking()) socket.native_non_blocking(true, written.error);
  if (written.error) co_return written;
  if (!head.empty()) {
    written = co_await WriteAll(stream, {net::buffer(head)}, idle);
    if (written.error) co_return written;
  }

  // Most regions fit the send buffer at once: the first try needs no timer. One that has to wait
  // is pumped against a watchdog (one timer for the whole region, not one for each wait), and the
  // socket is set to close with a reset meanwhile, as WriteAll's writes are.
  RegionSend send{socket,        region.fd, static_cast<off_t>(region.offset),
                  region.length, written,   Clock::now()};
  co_await PumpRegion(send, /*wait=*/false);
  if (send.left > 0 && !send.written.error) {
    using namespace net::experimental::awaitable_operators;
    SetAbortiveClose(stream, true);
    const std::variant<std::monostate, std::monostate> ended =
        co_await (PumpRegion(send, /*wait=*/true) || WatchProgress(send, idle));
    if (ended.index() == 1) {  // no progress for `idle`: the reset frees the socket's buffers
      send.written.error = beast::error::timeout;
      stream.close();
      co_return send.written;
    }
  }
  if (send.file_ended) {
    // The file ended early: a graceful close, so that the client keeps what it has.
    SetAbortiveClose(stream, false);
  } else if (send.written.error) {
    SetAbortiveClose(stream, true);
  } else if (send.waited) {
    SetAbortiveClose(stream, false);
  }
  co_return send.written;
}

net::awaitable<Written> WriteChunks(beast::tcp_stream& stream, std::string_view head,
                                    std::span<const Chunk> chunks, Milliseconds idle) {
  BOOST_ASSERT_MSG(!chunks.empty() && chunks.size() <= kMaxGatheredChunks,
                   "no chunk, or more than can be gathered");
  if (chunks.front().file) {
    BOOST_ASSERT_MSG(chunks.size() == 1 && chunks.front().bytes.empty(),
                     "a file chunk with bytes, or with other chunks");
    co_return co_await SendFileRegion(stream, head, *chunks.front().file, idle);
  }
  Buffers buffers{net::buffer(head)};
  for (const Chunk& chunk : chunks) {
    BOOST_ASSERT_MSG(!chunk.file, "a file chunk among byte chunks");
    buffers.push_back(net::buffer(chunk.bytes.data(), chunk.bytes.size()));
  }
  co_return co_await WriteAll(stream, buffers, idle);
}

Cork::Cork(int fd) : fd_(fd) {
  const int on = 1;
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

Cork::~Cork() {
  const int off = 0;
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

}  // namespace mei::http::internal
