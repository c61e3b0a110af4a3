// BlockConnection against a scripted node on a loopback socket: the test decides, byte for byte,
// what the node answers and when it closes, which a real server would not do on cue.
#include "tools/get/block_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace mei::tools {
namespace {

using namespace std::chrono_literals;

BlockId IdOf(std::string_view text) {
  return Sha256Of(std::as_bytes(std::span(text.data(), text.size())));
}

// A listening socket on 127.0.0.1 whose connections are handed, one at a time, to a script.
class ScriptedNode {
 public:
  // `script` gets each accepted connection in turn (and closes it, or the node does after).
  explicit ScriptedNode(std::function<void(int fd, int connection)> script)
      : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_, 8), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      for (int n = 0;; ++n) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0) return;
        script_(fd, n);
        ::close(fd);
      }
    });
  }
  ~ScriptedNode() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }

  http::RemoteNode node() const {
    const std::string url = "http://127.0.0.1:" + std::to_string(port_);
    return {url, url};
  }

  // Reads from `fd` until `count` whole request headers have come; the requests' targets.
  static std::vector<std::string> ReadRequests(int fd, std::size_t count) {
    std::string received;
    std::vector<std::string> targets;
    char buffer[4096];
    while (targets.size() < count) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<std::size_t>(n));
      std::size_t end;
      while ((end = received.find("\r\n\r\n")) != std::string::npos) {
        const std::string head = received.substr(0, end);
        targets.push_back(head.substr(4, head.find(' ', 4) - 4));
        received.erase(0, end + 4);
      }
    }
    return targets;
  }

  static void Send(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  std::function<void(int, int)> script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// Keeps what it is given.
class Recorder final : public ReplySink {
 public:
  Result<void> OnHead(const ReplyHead& head) override {
    head_ = head;
    return {};
  }
  Result<void> OnBody(std::span<const std::byte> bytes) override {
    body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    ++pieces_;
    return refuse_body_ ? Result<void>(Error{Errc::kIntegrity, "refused"}) : Result<void>();
  }

  ReplyHead head_;
  std::string body_;
  int pieces_ = 0;
  bool refuse_body_ = false;
};

std::string Reply(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

BlockConnectionOptions Quick() {
  BlockConnectionOptions options;
  options.connect_timeout = 2s;
  options.idle_timeout = 5s;
  options.client_id = "device-7";
  return options;
}

TEST(BlockConnectionTest, PipelinedRepliesAreReadInOrderWhateverTheirFraming) {
  std::vector<std::string> targets;
  ScriptedNode scripted([&](int fd, int) {
    targets = ScriptedNode::ReadRequests(fd, 3);
    // Two replies in one write, the second chunked and coded, then a third in dribbles.
    ScriptedNode::Send(fd, Reply("first") +
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                               "Content-Encoding: zstd\r\nX-Mei-Raw-Size: 99\r\n\r\n"
                               "3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n");
    const std::string third = Reply(std::string(300'000, 'z'));
    for (std::size_t at = 0; at < third.size(); at += 70'000) {
      ScriptedNode::Send(fd, std::string_view(third).substr(at, 70'000));
      std::this_thread::sleep_for(5ms);
    }
    ScriptedNode::ReadRequests(fd, 1);  // until the client closes
  });
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> counted{0};
  BlockConnectionOptions options = Quick();
  options.received_body_bytes = &counted;
  BlockConnection connection(scripted.node(), options, stop);
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(connection.Send(IdOf(id)));
  EXPECT_EQ(connection.in_flight(), 3u);

  Recorder first, second, third;
  ASSERT_TRUE(connection.Receive(first));
  ASSERT_TRUE(connection.Receive(second));
  ASSERT_TRUE(connection.Receive(third));
  EXPECT_EQ(connection.in_flight(), 0u);
  EXPECT_EQ(first.head_.status, 200);
  EXPECT_EQ(first.head_.content_length, 5u);
  EXPECT_EQ(first.body_, "first");
  EXPECT_EQ(second.head_.content_length, std::nullopt);
  EXPECT_EQ(second.head_.content_encoding, "zstd");
  EXPECT_EQ(second.head_.raw_size, "99");
  EXPECT_EQ(second.body_, "second");
  EXPECT_EQ(third.body_, std::string(300'000, 'z'));
  EXPECT_GT(third.pieces_, 1);  // handed over as it came, not gathered
  EXPECT_EQ(counted.load(), 5u + 6u + 300'000u);
  connection.Close();
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0], "/v1/blocks/" + IdOf("a").Hex());
  EXPECT_EQ(targets[2], "/v1/blocks/" + IdOf("c").Hex());
}

TEST(BlockConnectionTest, AReplyThatClosesTheConnectionLosesTheRequestsBehindIt) {
  ScriptedNode scripted([](int fd, int) {
    ScriptedNode::ReadRequests(fd, 2);
    ScriptedNode::Send(fd, Reply("only", "Connection: close\r\n"));
  });
  std::atomic<bool> stop{false};
  BlockConnection connection(scripted.node(), Quick(), stop);
  ASSERT_TRUE(connection.Send(IdOf("a")));
  ASSERT_TRUE(connection.Send(IdOf("b")));
  Recorder reply;
  ASSERT_TRUE(connection.Receive(reply));
  EXPECT_EQ(reply.body_, "only");
  EXPECT_EQ(connection.in_flight(), 0u);
}

TEST(BlockConnectionTest, AConnectionClosedUnansweredAfterEarlierRepliesCostsTheNodeNothing) {
  ScriptedNode scripted([](int fd, int connection) {
    if (connection == 0) {
      ScriptedNode::ReadRequests(fd, 2);
      ScriptedNode::Send(fd, Reply("one"));  // and closes, the second request unanswered
    } else {
      ScriptedNode::ReadRequests(fd, 1);  // a fresh connection that closes at once: the node's
    }                                     // fault
  });
  std::atomic<bool> stop{false};
  BlockConnection connection(scripted.node(), Quick(), stop);
  ASSERT_TRUE(connection.Send(IdOf("a")));
  ASSERT_TRUE(connection.Send(IdOf("b")));
  Recorder one, two;
  ASSERT_TRUE(connection.Receive(one));
  auto lost = connection.Receive(two);
  ASSERT_FALSE(lost);
  EXPECT_TRUE(lost.error().unanswered) << lost.error().error.message;
  EXPECT_EQ(connection.in_flight(), 0u);

  ASSERT_TRUE(connection.Send(IdOf("b")));  // reconnects
  auto failed = connection.Receive(two);
  ASSERT_FALSE(failed);
  EXPECT_FALSE(failed.error().unanswered);
  EXPECT_EQ(failed.error().error.code, Errc::kUpstreamFailed);
  EXPECT_NE(failed.error().error.message.find("without replying"), std::string::npos);
}

TEST(BlockConnectionTest, AReplyThatStallsTimesOutAndAStopEndsTheWaitAtOnce) {
  std::atomic<bool> release{false};
  ScriptedNode scripted([&](int fd, int) {
    ScriptedNode::ReadRequests(fd, 1);
    ScriptedNode::Send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    while (!release.load()) std::this_thread::sleep_for(10ms);
  });
  std::atomic<bool> stop{false};
  BlockConnectionOptions options = Quick();
  options.idle_timeout = 300ms;
  BlockConnection connection(scripted.node(), options, stop);
  ASSERT_TRUE(connection.Send(IdOf("a")));
  Recorder reply;
  auto stalled = connection.Receive(reply);
  ASSERT_FALSE(stalled);
  EXPECT_EQ(stalled.error().error.code, Errc::kUpstreamTimeout);
  EXPECT_EQ(reply.body_, "abc");

  options.idle_timeout = 60s;
  BlockConnection patient(scripted.node(), options, stop);
  ASSERT_TRUE(patient.Send(IdOf("a")));
  std::jthread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.store(true);
  });
  const auto began = std::chrono::steady_clock::now();
  EXPECT_FALSE(patient.Receive(reply));
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s);
  release.store(true);
}

TEST(BlockConnectionTest, ASinkThatRefusesTheBodyAbandonsTheReplyAndTheConnection) {
  ScriptedNode scripted([](int fd, int) {
    ScriptedNode::ReadRequests(fd, 2);
    ScriptedNode::Send(fd, Reply("bad") + Reply("good"));
  });
  std::atomic<bool> stop{false};
  BlockConnection connection(scripted.node(), Quick(), stop);
  ASSERT_TRUE(connection.Send(IdOf("a")));
  ASSERT_TRUE(connection.Send(IdOf("b")));
  Recorder refusing;
  refusing.refuse_body_ = true;
  auto refused = connection.Receive(refusing);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.code, Errc::kIntegrity);
  EXPECT_FALSE(refused.error().unanswered);
  EXPECT_EQ(connection.in_flight(), 0u);
}

TEST(BlockConnectionTest, ANodeThatRefusesConnectionsFailsTheSend) {
  http::RemoteNode node;
  {
    ScriptedNode gone([](int, int) {});
    node = gone.node();
  }
  std::atomic<bool> stop{false};
  BlockConnection connection(node, Quick(), stop);
  auto sent = connection.Send(IdOf("a"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, Errc::kUpstreamFailed);
  EXPECT_NE(sent.error().message.find("could not connect"), std::string::npos)
      << sent.error().message;
  EXPECT_EQ(connection.in_flight(), 0u);
}

}  // namespace
}  // namespace mei::tools
