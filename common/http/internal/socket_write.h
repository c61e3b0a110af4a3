// Writing a response to a client's socket: bytes with sendmsg(2), file regions with sendfile(2).
// What the socket's send buffer takes at once is written at once, with no timer and no wait; the
// rest waits for the client under an idle timeout. Used by server.cc.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/http/message.h"

namespace mei::http::internal {

struct Written {
  boost::system::error_code error;
  std::uint64_t bytes = 0;  // including the response head
};

// Byte chunks written together, in one sendmsg(2): a file's small blocks (held inline, a few KiB
// each) come in runs, and a system call for each cost a hot download a tenth of its CPU.
inline constexpr std::size_t kMaxGatheredChunks = 16;
inline constexpr std::uint64_t kMaxGatheredBytes = 256 * 1024;

// A response head and the byte chunks that follow it: a constant buffer sequence for Asio.
// (No std::initializer_list constructor: GCC 12 cannot keep a list's array, a temporary, across
// a co_await.)
class Buffers {
 public:
  Buffers(boost::asio::const_buffer first) { push_back(first); }  // NOLINT: braced lists
  Buffers(boost::asio::const_buffer first, boost::asio::const_buffer second) {
    push_back(first);
    push_back(second);
  }
  // REQUIRES: fewer than kMaxGatheredChunks + 1 buffers so far.
  void push_back(boost::asio::const_buffer buffer) { items_.at(count_++) = buffer; }
  const boost::asio::const_buffer* begin() const { return items_.data(); }
  const boost::asio::const_buffer* end() const { return items_.data() + count_; }

 private:
  std::array<boost::asio::const_buffer, kMaxGatheredChunks + 1> items_{};
  std::size_t count_ = 0;
};

// Makes closing the socket send a reset (SO_LINGER with a zero timeout) or, with `abort` false,
// the usual FIN after what is still queued.
void SetAbortiveClose(boost::beast::tcp_stream& stream, bool abort);

// Writes `buffers` completely, or until an error. What the socket's buffer takes at once is sent
// at once (one sendmsg(2) with MSG_DONTWAIT). For the rest, each write_some gets `idle`, so a slow
// reader may take as long as it likes as long as it keeps taking bytes, and while it is under way
// the socket is set to close with a reset: when `idle` passes without progress the stream's timer
// closes it, and the reset frees the kernel's send buffer at once and tells the client that the
// response was cut (nginx's reset_timedout_connection). A plain close would leave the unsent
// bytes and the FIN queued behind a window the client never opens, holding the buffer long after
// the server gave up. A write that completes restores the graceful close.
[[nodiscard]] boost::asio::awaitable<Written> WriteAll(boost::beast::tcp_stream& stream,
                                                       const Buffers& buffers,
                                                       std::chrono::milliseconds idle);

// Writes `head`, then the bytes of `region` with sendfile(2), so they go from the page cache to
// the socket without a copy through user space; `written` counts both, exactly as WriteAll would.
// The socket is non-blocking: when sendfile(2) finds its buffer full (EAGAIN), the coroutine waits
// for it to drain, and a write that makes no progress for `idle` is cut as in WriteAll (the
// socket, set to close with a reset meanwhile, is closed: beast::error::timeout). A file shorter
// than the region (sendfile(2) returns 0 early) ends the write with an error but the graceful
// close, like a body source's error, so the client keeps the bytes that were sent.
// REQUIRES: the I/O thread blocks SIGPIPE (sendfile(2) has no MSG_NOSIGNAL).
[[nodiscard]] boost::asio::awaitable<Written> SendFileRegion(boost::beast::tcp_stream& stream,
                                                             std::string_view head,
                                                             const FileRegion& region,
                                                             std::chrono::milliseconds idle);

// Writes `head` and then `chunks`: a file region alone (SendFileRegion), or byte chunks together
// (WriteAll). REQUIRES: `chunks` is one file chunk, or at most kMaxGatheredChunks byte chunks.
[[nodiscard]] boost::asio::awaitable<Written> WriteChunks(boost::beast::tcp_stream& stream,
                                                          std::string_view head,
                                                          std::span<const Chunk> chunks,
                                                          std::chrono::milliseconds idle);

// TCP_CORK on a socket for as long as it lives. Errors are ignored: an uncorked socket only sends
// smaller segments.
class Cork {
 public:
  explicit Cork(int fd);
  ~Cork();
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;

 private:
  const int fd_;
};

}  // namespace mei::http::internal
