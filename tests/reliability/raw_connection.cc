#include "tests/reliability/raw_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

namespace mei::testing {
namespace {

namespace beast_http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadSize = 256 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
    return lower(x) == lower(y);
  });
}

int MillisecondsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 1 << 30));
}

// The parsed head (and body, if any) of `parser`'s message.
RawResponse ResponseOf(beast_http::response_parser<beast_http::string_body>& parser) {
  RawResponse response;
  auto& message = parser.get();
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.keep_alive = message.keep_alive();
  response.body = std::move(message.body());
  return response;
}

}  // namespace

std::optional<std::string_view> RawResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::string RequestText(std::string_view method, std::string_view target,
                        std::string_view headers) {
  std::string text;
  text.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
  text.append(headers).append("\r\n");
  return text;
}

RawConnection::RawConnection(std::string_view endpoint, int receive_buffer_bytes) {
  const std::size_t colon = endpoint.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  std::uint16_t port = 0;
  const std::string host(endpoint.substr(0, colon));
  if (colon == std::string_view::npos ||
      std::from_chars(endpoint.data() + colon + 1, endpoint.data() + endpoint.size(), port).ec !=
          std::errc() ||
      ::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ADD_FAILURE() << "not an IPv4 HOST:PORT: " << endpoint;
    return;
  }
  address.sin_port = htons(port);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return;
  }
  if (receive_buffer_bytes > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                                               sizeof(receive_buffer_bytes)) != 0) {
    ADD_FAILURE() << "SO_RCVBUF: " << std::strerror(errno);
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "connect to " << endpoint << ": " << std::strerror(errno);
    Close();
  }
}

RawConnection::~RawConnection() { Close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      pending_(std::move(other.pending_)),
      ending_(other.ending_) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    pending_ = std::move(other.pending_);
    ending_ = other.ending_;
  }
  return *this;
}

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return bytes.empty();
}

std::size_t RawConnection::Fill(Clock::time_point deadline, std::size_t limit) {
  if (fd_ < 0 || ending_ != Ending::kOpen) return 0;
  char buffer[kReadSize];
  limit = std::min(limit, sizeof(buffer));
  for (;;) {
    pollfd polled{fd_, POLLIN, 0};
    const int ready = ::poll(&polled, 1, MillisecondsUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return 0;
    const ssize_t got = ::recv(fd_, buffer, limit, MSG_DONTWAIT);
    if (got > 0) {
      pending_.append(buffer, static_cast<std::size_t>(got));
      return static_cast<std::size_t>(got);
    }
    if (got == 0) {
      ending_ = Ending::kClosed;
      return 0;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    ending_ = errno == ECONNRESET ? Ending::kReset : Ending::kClosed;
    return 0;
  }
}

std::optional<RawResponse> RawConnection::Read(std::chrono::milliseconds timeout,
                                               bool head_request) {
  return ParseResponse(Clock::now() + timeout, head_request, /*head_only=*/false);
}

std::optional<RawResponse> RawConnection::ReadHead(std::chrono::milliseconds timeout) {
  return ParseResponse(Clock::now() + timeout, /*head_request=*/false, /*head_only=*/true);
}

std::optional<RawResponse> RawConnection::ParseResponse(Clock::time_point deadline,
                                                        bool head_request, bool head_only) {
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(!head_only);
  if (head_request) parser.skip(true);
  const auto done = [&] { return head_only ? parser.is_header_done() : parser.is_done(); };
  while (!done()) {
    if (!pending_.empty()) {
      boost::system::error_code error;
      const std::size_t used = parser.put(boost::asio::buffer(pending_), error);
      pending_.erase(0, used);
      if (error && error != beast_http::error::need_more) return std::nullopt;
      if (!error && used > 0) continue;
    }
    if (Fill(deadline, kReadSize) == 0) {
      if (head_only || ending_ == Ending::kOpen || !parser.is_header_done()) return std::nullopt;
      boost::system::error_code error;
      parser.put_eof(error);  // a body that ends with the connection
      if (error) return std::nullopt;
    }
  }
  return ResponseOf(parser);
}

std::size_t RawConnection::ReadSome(std::size_t limit, std::string& out,
                                    std::chrono::milliseconds timeout) {
  if (pending_.empty()) Fill(Clock::now() + timeout, limit);
  const std::size_t take = std::min(limit, pending_.size());
  out.append(pending_, 0, take);
  pending_.erase(0, take);
  return take;
}

RawConnection::Ending RawConnection::ReadToEnd(std::chrono::milliseconds timeout,
                                               std::string* rest) {
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    if (rest != nullptr) rest->append(pending_);
    pending_.clear();
    if (Fill(deadline, kReadSize) == 0 && (ending_ != Ending::kOpen || Clock::now() >= deadline)) {
      return ending_;
    }
  }
}

RawConnection::Ending RawConnection::WaitForPeerEnd(std::chrono::milliseconds timeout) const {
  if (ending_ != Ending::kOpen) return ending_;
  if (fd_ < 0) return Ending::kOpen;
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    pollfd polled{fd_, POLLRDHUP, 0};
    const int ready = ::poll(&polled, 1, MillisecondsUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return Ending::kOpen;
    if ((polled.revents & POLLERR) != 0) return Ending::kReset;
    if ((polled.revents & (POLLRDHUP | POLLHUP)) != 0) return Ending::kClosed;
  }
}

}  // namespace mei::testing
