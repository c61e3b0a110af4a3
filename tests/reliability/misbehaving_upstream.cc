#include "tests/reliability/misbehaving_upstream.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

#include "common/block_id.h"

namespace mei::testing {
namespace {

constexpr std::size_t kHeadLimitBytes = 64 * 1024;
constexpr std::string_view kBlockPrefix = "/v1/blocks/";

// The request head: everything up to and including the blank line; nullopt when the client left
// or sent more than kHeadLimitBytes without one.
std::optional<std::string> ReadHead(int fd) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > kHeadLimitBytes) return std::nullopt;
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return std::nullopt;
    head.append(buffer, static_cast<std::size_t>(got));
  }
  return head;
}

// The block a "GET /v1/blocks/{id} HTTP/1.1" request line asks for, or nullopt.
std::optional<BlockId> RequestedBlock(const std::string& head) {
  std::istringstream line(head.substr(0, head.find("\r\n")));
  std::string method, target;
  line >> method >> target;
  if (method != "GET" || !target.starts_with(kBlockPrefix)) return std::nullopt;
  auto id = BlockId::FromHex(target.substr(kBlockPrefix.size()));
  if (!id) return std::nullopt;
  return *id;
}

std::string NotFound() {
  const std::string body =
      R"({"error": "block_not_found", "message": "this upstream only serves blocks it holds"})";
  return "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

std::unique_ptr<MisbehavingUpstream> MisbehavingUpstream::Start(std::shared_ptr<Store> store,
                                                                Options options) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return nullptr;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "the misbehaving upstream cannot listen on 127.0.0.1: "
                  << std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<MisbehavingUpstream>(
      new MisbehavingUpstream(std::move(store), options, fd, ntohs(address.sin_port)));
}

MisbehavingUpstream::MisbehavingUpstream(std::shared_ptr<Store> store, Options options,
                                         int listen_fd, std::uint16_t port)
    : store_(std::move(store)), options_(options), listen_fd_(listen_fd), port_(port) {
  acceptor_ = std::thread([this] { Accept(); });
}

MisbehavingUpstream::~MisbehavingUpstream() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  changed_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  // No thread is added once the acceptor has returned.
  for (std::thread& connection : connections_) connection.join();
  ::close(listen_fd_);
}

std::string MisbehavingUpstream::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::uint64_t MisbehavingUpstream::connections() const {
  std::lock_guard lock(mu_);
  return connections_accepted_;
}

std::uint64_t MisbehavingUpstream::block_requests() const {
  std::lock_guard lock(mu_);
  return block_requests_;
}

std::uint64_t MisbehavingUpstream::body_bytes_sent() const {
  std::lock_guard lock(mu_);
  return body_bytes_sent_;
}

std::size_t MisbehavingUpstream::open_connections() const {
  std::lock_guard lock(mu_);
  return open_fds_.size();
}

bool MisbehavingUpstream::WaitForBlockRequests(std::uint64_t count,
                                               std::chrono::milliseconds deadline) {
  std::unique_lock lock(mu_);
  if (changed_.wait_for(lock, deadline, [&] { return block_requests_ >= count; })) return true;
  ADD_FAILURE() << "expected " << count << " block requests at the misbehaving upstream within "
                << deadline.count() << " ms; " << block_requests_ << " came";
  return false;
}

void MisbehavingUpstream::Hold() {
  std::lock_guard lock(mu_);
  holding_ = true;
}

void MisbehavingUpstream::Release() {
  {
    std::lock_guard lock(mu_);
    holding_ = false;
  }
  changed_.notify_all();
}

void MisbehavingUpstream::Accept() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard lock(mu_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      ADD_FAILURE() << "accept on the misbehaving upstream: " << std::strerror(errno);
      return;
    }
    ++connections_accepted_;
    open_fds_.insert(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void MisbehavingUpstream::Serve(int fd) {
  const std::optional<std::string> head = ReadHead(fd);
  const std::optional<BlockId> id = head ? RequestedBlock(*head) : std::nullopt;
  std::vector<std::byte> raw;
  if (id && store_->blocks->ReadRaw(*id, raw)) {
    {
      std::lock_guard lock(mu_);
      ++block_requests_;
    }
    changed_.notify_all();
    Misbehave(fd, std::string(reinterpret_cast<const char*>(raw.data()), raw.size()));
  } else if (head && options_.fault == Fault::kSilent) {
    WaitForHangUp(fd, std::chrono::milliseconds(-1));
  } else if (head) {
    SendAll(fd, NotFound(), false);
  }
  {
    std::lock_guard lock(mu_);
    open_fds_.erase(fd);
  }
  // An orderly close (FIN), after which the client reads what was sent and then the end.
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
  changed_.notify_all();
}

void MisbehavingUpstream::Misbehave(int fd, const std::string& body) {
  if (options_.fault == Fault::kSilent) {
    WaitForHangUp(fd, std::chrono::milliseconds(-1));
    return;
  }
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (!SendAll(fd, head, false)) return;
  switch (options_.fault) {
    case Fault::kTrickle:
      for (std::size_t sent = 0; sent < body.size(); sent += options_.trickle_bytes) {
        const std::string_view piece = std::string_view(body).substr(sent, options_.trickle_bytes);
        if (!SendAll(fd, piece, true) || WaitForHangUp(fd, options_.trickle_interval)) return;
      }
      return;
    case Fault::kStallAfterHeaders:
      WaitForHangUp(fd, std::chrono::milliseconds(-1));
      return;
    case Fault::kSilent:
      return;
    case Fault::kCloseMidBody:
    case Fault::kCorruptMidBody: {
      const auto share = static_cast<std::size_t>(static_cast<double>(body.size()) *
                                                  std::clamp(options_.close_after_share, 0.0, 1.0));
      const std::size_t part = std::min(share, body.empty() ? 0 : body.size() - 1);
      if (!SendAll(fd, std::string_view(body).substr(0, part), true)) return;
      {
        std::unique_lock lock(mu_);
        changed_.wait(lock, [&] { return !holding_ || stopping_; });
      }
      if (options_.fault == Fault::kCloseMidBody) return;
      std::string rest = body.substr(part);
      rest.back() = static_cast<char>(rest.back() ^ 0x01);
      SendAll(fd, rest, true);
      return;
    }
  }
}

bool MisbehavingUpstream::SendAll(int fd, std::string_view bytes, bool body) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
    std::lock_guard lock(mu_);
    if (body) body_bytes_sent_ += static_cast<std::uint64_t>(sent);
  }
  std::lock_guard lock(mu_);
  return !stopping_;
}

bool MisbehavingUpstream::WaitForHangUp(int fd, std::chrono::milliseconds pause) {
  const auto until = std::chrono::steady_clock::now() + pause;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return true;
    }
    int timeout_ms = -1;
    if (pause.count() >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      timeout_ms = static_cast<int>(left.count());
    }
    pollfd entry{fd, POLLIN | POLLRDHUP, 0};
    const int ready = ::poll(&entry, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return true;
    if (ready == 0) return false;
    if ((entry.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) return true;
    char scratch[4096];
    if (::recv(fd, scratch, sizeof scratch, 0) <= 0) return true;
  }
}

}  // namespace mei::testing
