#include "tools/get/block_connection.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <cstring>
#include <utility>

namespace mei::tools {
namespace {

namespace beast_http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBufferBytes = 256 * 1024;  // one read; stays in a core's L2 cache
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::chrono::milliseconds kStopCheck{100};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

}  // namespace

// Beast's response parser, driven by hand: the head and each piece of the body go to the sink as
// they are parsed, straight from the connection's buffer.
class BlockConnection::Parser final : public beast_http::basic_parser<false> {
 public:
  Parser(ReplySink& sink, std::atomic<std::uint64_t>* counted) : sink_(sink), counted_(counted) {
    eager(true);
    header_limit(kHeaderLimit);
    body_limit(boost::none);
  }

  // What the sink refused the reply for, if it did.
  std::optional<Error> sink_error;

 private:
  void on_request_impl(beast_http::verb, boost::beast::string_view, boost::beast::string_view, int,
                       boost::system::error_code& ec) override {
    ec = beast_http::error::bad_method;  // a response parser never sees a request line
  }

  void on_response_impl(int code, boost::beast::string_view, int,
                        boost::system::error_code&) override {
    head_.status = code;
  }

  void on_field_impl(beast_http::field name, boost::beast::string_view name_text,
                     boost::beast::string_view value, boost::system::error_code&) override {
    if (name == beast_http::field::content_encoding) {
      head_.content_encoding.assign(value.data(), value.size());
    } else if (name == beast_http::field::content_range) {
      head_.content_range.assign(value.data(), value.size());
    } else if (EqualsIgnoringCase({name_text.data(), name_text.size()}, "X-Mei-Raw-Size")) {
      head_.raw_size.assign(value.data(), value.size());
    }
  }

  void on_header_impl(boost::system::error_code& ec) override {
    const auto length = content_length();
    if (length) head_.content_length = *length;
    Refused(sink_.OnHead(head_), ec);
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         boost::system::error_code&) override {}

  std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code& ec) override {
    if (counted_ != nullptr) counted_->fetch_add(body.size(), std::memory_order_relaxed);
    Refused(sink_.OnBody(std::as_bytes(std::span(body.data(), body.size()))), ec);
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::system::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::system::error_code& ec) override {
    return on_body_impl(body, ec);
  }

  void on_finish_impl(boost::system::error_code&) override {}

  void Refused(const Result<void>& result, boost::system::error_code& ec) {
    if (result) return;
    sink_error = result.error();
    ec = boost::system::errc::make_error_code(boost::system::errc::operation_canceled);
  }

  ReplySink& sink_;
  std::atomic<std::uint64_t>* counted_;
  ReplyHead head_;
};

BlockConnection::BlockConnection(http::RemoteNode node, BlockConnectionOptions options,
                                 const std::atomic<bool>& stop)
    : node_(std::move(node)), options_(std::move(options)), stop_(stop) {
  if (auto url = http::ParseHttpUrl(node_.base_url)) {
    host_ = url->host;
    port_ = std::to_string(url->port);
    const bool v6 = host_.find(':') != std::string::npos;
    host_header_ = (v6 ? "[" + host_ + "]" : host_) + ":" + port_;
  }
}

BlockConnection::~BlockConnection() { Close(); }

BlockConnection::BlockConnection(BlockConnection&& other) noexcept
    : node_(std::move(other.node_)),
      options_(std::move(other.options_)),
      stop_(other.stop_),
      host_header_(std::move(other.host_header_)),
      host_(std::move(other.host_)),
      port_(std::move(other.port_)),
      fd_(std::exchange(other.fd_, -1)),
      in_flight_(std::exchange(other.in_flight_, 0)),
      answered_(other.answered_),
      buffer_(std::move(other.buffer_)),
      begin_(other.begin_),
      end_(other.end_) {}

void BlockConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  in_flight_ = 0;
  answered_ = 0;
  begin_ = end_ = 0;
}

Error BlockConnection::Broken(std::string_view what, int error) const {
  return Error{error == ETIMEDOUT ? Errc::kUpstreamTimeout : Errc::kUpstreamFailed,
               fmt::format("{}: {}", node_.name, what)};
}

Result<void> BlockConnection::Wait(short events, std::chrono::milliseconds timeout,
                                   std::string_view what) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (stop_.load(std::memory_order_relaxed)) return Broken("interrupted", EINTR);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Broken(fmt::format("{} for {} ms", what, timeout.count()), ETIMEDOUT);
    }
    pollfd ready{fd_, events, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(std::min(left, kStopCheck).count()));
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return Broken(fmt::format("poll: {}", std::strerror(errno)), 0);
  }
}

Result<void> BlockConnection::Connect() {
  if (host_.empty()) return Broken("not an http://host:port URL", 0);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found); rc != 0) {
    return Broken(fmt::format("could not resolve host \"{}\" ({})", host_, ::gai_strerror(rc)), 0);
  }
  std::string reason = "no address";
  int last_error = 0;
  for (const addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last_error = errno;
      reason = std::strerror(errno);
      continue;
    }
    int error = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      fd_ = fd;
      const Result<void> waited = Wait(POLLOUT, options_.connect_timeout, "no connection");
      fd_ = -1;
      if (!waited) {
        ::close(fd);
        ::freeaddrinfo(found);
        return waited.error();
      }
      socklen_t length = sizeof(error);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    }
    if (error != 0) {
      ::close(fd);
      last_error = error;
      reason = std::strerror(error);
      continue;
    }
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    fd_ = fd;
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) {
    return Broken(fmt::format("could not connect to {} ({})", host_header_, reason), last_error);
  }
  if (buffer_.size() != kBufferBytes) buffer_.resize(kBufferBytes);
  begin_ = end_ = 0;
  answered_ = 0;
  return {};
}

Result<void> BlockConnection::Send(const BlockId& id) {
  return SendRequest("/v1/blocks/" + id.Hex(),
                     fmt::format("Accept-Encoding: {}\r\n", http::kStoredCodings));
}

Result<void> BlockConnection::SendRange(std::string_view target, std::uint64_t first,
                                        std::uint64_t last) {
  return SendRequest(target, fmt::format("Range: bytes={}-{}\r\n", first, last));
}

Result<void> BlockConnection::SendRequest(std::string_view target, std::string_view headers) {
  if (fd_ < 0) {
    if (auto connected = Connect(); !connected) return connected;
  }
  std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mei-get\r\n{}",
                                    target, host_header_, headers);
  if (!options_.client_id.empty()) {
    request += fmt::format("X-Mei-Client: {}\r\n", options_.client_id);
  }
  request += "\r\n";
  std::string_view left = request;
  while (!left.empty()) {
    const ssize_t sent = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
    if (sent >= 0) {
      left.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    const int error = errno;
    if (error == EINTR) continue;
    Result<void> failed = Broken(fmt::format("sending a request: {}", std::strerror(error)), 0);
    if (error == EAGAIN || error == EWOULDBLOCK) {
      failed = Wait(POLLOUT, options_.idle_timeout, "the node took no request bytes");
      if (failed) continue;
    }
    Close();
    return failed;
  }
  ++in_flight_;
  return {};
}

boost::system::result<void, BlockConnection::Failure> BlockConnection::Receive(ReplySink& sink) {
  Parser parser(sink, options_.received_body_bytes);
  bool received = false;  // any byte of this reply
  const auto fail = [&](Error error) -> boost::system::result<void, Failure> {
    const bool unanswered = !received && answered_ > 0 && !parser.sink_error;
    Close();
    return Failure{std::move(error), unanswered};
  };
  for (;;) {
    if (begin_ < end_) {
      boost::system::error_code ec;
      const std::size_t used =
          parser.put(boost::asio::const_buffer(buffer_.data() + begin_, end_ - begin_), ec);
      begin_ += used;
      if (parser.sink_error) return fail(*parser.sink_error);
      if (ec && ec != beast_http::error::need_more) {
        return fail(Broken(fmt::format("a malformed reply ({})", ec.message()), 0));
      }
      if (parser.is_done()) break;
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (end_ == buffer_.size()) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    const ssize_t got = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (got > 0) {
      received = true;
      end_ += static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0) {
      if (parser.need_eof()) {
        boost::system::error_code ec;
        parser.put_eof(ec);
        if (parser.sink_error) return fail(*parser.sink_error);
        if (!ec && parser.is_done()) break;
      }
      return fail(Broken(received ? "the node closed the connection in the middle of a reply"
                                  : "the node closed the connection without replying",
                         0));
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return fail(Broken(fmt::format("receiving a reply: {}", std::strerror(errno)), 0));
    }
    if (auto waited =
            Wait(POLLIN, options_.idle_timeout, received ? "the reply stalled" : "no reply");
        !waited) {
      return fail(waited.error());
    }
  }
  ++answered_;
  --in_flight_;
  if (!parser.keep_alive()) Close();
  return {};
}

}  // namespace mei::tools
