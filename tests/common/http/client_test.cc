#include "common/http/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/http/server.h"

namespace mei::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t kMiB = 1 << 20;

std::string Pattern(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i % 251);
  return bytes;
}

ServerOptions TestOptions() {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.io_threads = 2;
  options.worker_threads = 4;
  options.drain_timeout = 5s;
  return options;
}

std::unique_ptr<Server> StartOrDie(ServerOptions options, Handler handler) {
  auto server = Server::Start(std::move(options), std::move(handler));
  if (!server) {
    ADD_FAILURE() << server.error().message;
    return nullptr;
  }
  return std::move(*server);
}

std::string UrlOf(const Server& server, std::string_view target) {
  return "http://" + server.endpoint() + std::string(target);
}

Reply Hello(const Request& request) {
  return Reply::Text(200, "text/plain", "hello " + request.target);
}

ClientRequest Get(std::string url) {
  ClientRequest request;
  request.url = std::move(url);
  return request;
}

// A loopback upstream that misbehaves on purpose: its n-th accepted connection (from 0) runs
// scripts[n] (the last script for any later one) on a blocking socket, one connection at a time.
class RawUpstream {
 public:
  using Script = std::function<void(tcp::socket&)>;

  explicit RawUpstream(std::vector<Script> scripts)
      : scripts_(std::move(scripts)),
        acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }

  // Unblocks the listener and the script under way (its reads and writes fail), then joins.
  ~RawUpstream() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (current_fd_ >= 0) ::shutdown(current_fd_, SHUT_RDWR);
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }

  std::string Url(std::string_view target) const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
           std::string(target);
  }

  int connections() const { return connections_.load(); }

 private:
  void Serve() {
    for (std::size_t index = 0;; ++index) {
      tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      {
        std::lock_guard lock(mu_);
        if (error || stopping_) return;
        current_fd_ = socket.native_handle();
      }
      ++connections_;
      scripts_[std::min(index, scripts_.size() - 1)](socket);
      std::lock_guard lock(mu_);
      current_fd_ = -1;
    }
  }

  std::vector<Script> scripts_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::mutex mu_;
  bool stopping_ = false;
  int current_fd_ = -1;
};

// Reads one request head, byte by byte so that nothing after it is consumed; "" on an error.
std::string ReadHead(tcp::socket& socket) {
  std::string head;
  char c;
  boost::system::error_code error;
  while (!head.ends_with("\r\n\r\n")) {
    if (net::read(socket, net::buffer(&c, 1), error) != 1) return "";
    head.push_back(c);
  }
  return head;
}

std::string ReadBytes(tcp::socket& socket, std::size_t size) {
  std::string bytes(size, '\0');
  boost::system::error_code error;
  bytes.resize(net::read(socket, net::buffer(bytes), error));
  return bytes;
}

void Send(tcp::socket& socket, std::string_view bytes) {
  boost::system::error_code error;
  net::write(socket, net::buffer(bytes.data(), bytes.size()), error);
}

// Blocks until the client closes the connection (or the upstream is destroyed).
void WaitForClose(tcp::socket& socket) {
  char c;
  boost::system::error_code error;
  while (!error) socket.read_some(net::buffer(&c, 1), error);
}

std::string Ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

// The script of an upstream that reads a request head, sends `reply`, and then either waits for
// the client to close the connection (keep_open) or closes it at once.
RawUpstream::Script Replies(std::string reply, bool keep_open = true) {
  return [reply = std::move(reply), keep_open](tcp::socket& socket) {
    ReadHead(socket);
    Send(socket, reply);
    if (keep_open) WaitForClose(socket);
  };
}

constexpr std::string_view kChunkedHelloWorld =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

ClientOptions ShortIdle() {
  ClientOptions options;
  options.idle_timeout = 200ms;
  return options;
}

TEST(ClientTest, GetReturnsAMultiMebibyteBodyIntact) {
  const std::string body = Pattern(8 * kMiB + 13);
  auto server = StartOrDie(TestOptions(), [&](const Request&) {
    return Reply::Text(200, "application/octet-stream", body);
  });
  ASSERT_TRUE(server);
  const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/v1/blocks/x")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), std::to_string(body.size()));
  EXPECT_TRUE(response->body == body);
}

TEST(ClientTest, ResponseHeadersAreFoundCaseInsensitivelyFirstMatchFirst) {
  auto server = StartOrDie(TestOptions(), [](const Request& request) {
    Reply reply = Hello(request);
    reply.With("X-Mei-Raw-Size", "42").With("x-mei-raw-size", "7");
    return reply;
  });
  ASSERT_TRUE(server);
  const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/x")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->Header("x-mei-raw-size"), "42");
  EXPECT_EQ(response->Header("X-MEI-RAW-SIZE"), "42");
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("X-Missing"), std::nullopt);
  EXPECT_EQ(response->body, "hello /x");
}

TEST(ClientTest, NotFoundIsAResponseNotAnError) {
  auto server = StartOrDie(TestOptions(), [](const Request&) {
    return Reply::FromError({Errc::kBlockNotFound, "no such block"});
  });
  ASSERT_TRUE(server);
  const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/v1/blocks/x")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("\"block_not_found\""), std::string::npos) << response->body;
}

TEST(ClientTest, PutSendsItsBodyAndHeaders) {
  ServerOptions options = TestOptions();
  options.body_limit_bytes = 8 * kMiB;
  std::promise<Request> seen;
  auto server = StartOrDie(options, [&](const Request& request) {
    seen.set_value(request);
    return Reply::Json(201, "{}");
  });
  ASSERT_TRUE(server);
  ClientRequest request = Get(UrlOf(*server, "/admin/v1/plan?x=1"));
  request.method = "PUT";
  request.headers = {{"X-Mei-Client", "node-7"}, {"Content-Length", "1"}};
  request.body = Pattern(3 * kMiB + 1);
  const Result<ClientResponse> response = Fetch(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 201);
  const Request received = seen.get_future().get();
  EXPECT_EQ(received.method, "PUT");
  EXPECT_EQ(received.target, "/admin/v1/plan?x=1");
  EXPECT_EQ(received.Find("x-mei-client"), "node-7");
  EXPECT_EQ(received.Find("Host"), server->endpoint());
  EXPECT_TRUE(received.body == request.body);
}

TEST(ClientTest, PostWithoutBodySendsContentLengthZero) {
  std::promise<Request> seen;
  auto server = StartOrDie(TestOptions(), [&](const Request& request) {
    seen.set_value(request);
    return Reply::Json(200, "{}");
  });
  ASSERT_TRUE(server);
  ClientRequest request = Get(UrlOf(*server, "/admin/v1/purge"));
  request.method = "POST";
  const Result<ClientResponse> response = Fetch(request);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(seen.get_future().get().Find("Content-Length"), "0");
}

TEST(ClientTest, HeadGetsHeadersWithoutABodyAndLeavesTheConnectionUsable) {
  auto server = StartOrDie(TestOptions(), Hello);
  ASSERT_TRUE(server);
  ClientRequest head = Get(UrlOf(*server, "/x"));
  head.method = "HEAD";
  const Result<ClientResponse> response = Fetch(head);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), "8");
  EXPECT_EQ(response->body, "");
  const Result<ClientResponse> after = Fetch(Get(UrlOf(*server, "/x")));
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(after->body, "hello /x");
}

// Two Fetches in a row from a new server: the second must come over the first one's connection
// (the server sees the same client address).
void ExpectTheSecondFetchReusesTheFirstConnection() {
  auto server = StartOrDie(TestOptions(), [](const Request& request) {
    return Reply::Text(200, "text/plain", request.peer);
  });
  ASSERT_TRUE(server);
  const Result<ClientResponse> first = Fetch(Get(UrlOf(*server, "/a")));
  const Result<ClientResponse> second = Fetch(Get(UrlOf(*server, "/b")));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, second->body);
}

TEST(ClientTest, KeptAliveConnectionIsReusedByTheNextFetch) {
  ExpectTheSecondFetchReusesTheFirstConnection();
}

// Connections to upstreams that have gone away must not crowd live ones out of the pool.
TEST(ClientTest, ConnectionsToManyDeadUpstreamsDoNotStopReuse) {
  for (int i = 0; i < 100; ++i) {
    RawUpstream gone({Replies(Ok("bye"))});
    ASSERT_TRUE(Fetch(Get(gone.Url("/"))));
  }
  ExpectTheSecondFetchReusesTheFirstConnection();
}

TEST(ClientTest, ConcurrentFetchesFromManyThreadsAllSucceed) {
  const std::string body = Pattern(256 * 1024);
  auto server = StartOrDie(TestOptions(), [&](const Request&) {
    return Reply::Text(200, "application/octet-stream", body);
  });
  ASSERT_TRUE(server);
  constexpr int kThreads = 8;
  constexpr int kFetchesEach = 20;
  std::latch start(kThreads);
  std::atomic<int> intact{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kFetchesEach; ++i) {
        const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/x")));
        if (response && response->status == 200 && response->body == body) ++intact;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(intact.load(), kThreads * kFetchesEach);
}

TEST(ClientTest, Ipv6LoopbackUrlIsFetched) {
  ServerOptions options = TestOptions();
  options.listen = "[::1]:0";
  auto server = Server::Start(options, Hello);
  if (!server && server.error().code == Errc::kIo) GTEST_SKIP() << server.error().message;
  ASSERT_TRUE(server) << server.error().message;
  const Result<ClientResponse> response = Fetch(Get(UrlOf(**server, "/v6")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "hello /v6");
}

TEST(ClientTest, HostNameIsResolved) {
  auto server = StartOrDie(TestOptions(), Hello);
  ASSERT_TRUE(server);
  const std::string port = server->endpoint().substr(server->endpoint().rfind(':') + 1);
  const Result<ClientResponse> response = Fetch(Get("http://localhost:" + port + "/named"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "hello /named");
}

TEST(ClientTest, ChunkedBodyIsDecoded) {
  RawUpstream upstream({Replies(std::string(kChunkedHelloWorld))});
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/chunked")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "hello world");
}

TEST(ClientTest, BodyDelimitedByCloseIsReadToTheEnd) {
  RawUpstream upstream(
      {Replies("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", /*keep_open=*/false)});
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, "until the end");
}

TEST(ClientTest, InterimResponsesAreSkipped) {
  RawUpstream upstream({Replies("HTTP/1.1 100 Continue\r\n\r\n" + Ok("final"))});
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "final");
}

TEST(ClientTest, ConnectionRefusedIsUpstreamFailed) {
  std::string url;
  {
    net::io_context io;
    tcp::acceptor closed(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    url = "http://127.0.0.1:" + std::to_string(closed.local_endpoint().port()) + "/x";
  }
  ClientOptions options;
  options.connect_timeout = 60s;  // a refusal must not wait for the timeout
  const Result<ClientResponse> response = Fetch(Get(url), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamFailed);
  EXPECT_NE(response.error().message.find(url), std::string::npos) << response.error().message;
}

TEST(ClientTest, UpstreamThatNeverAnswersTimesOut) {
  RawUpstream upstream({Replies("")});
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), ShortIdle());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamTimeout) << response.error().message;
}

TEST(ClientTest, UpstreamThatStallsAfterTheHeaderTimesOut) {
  RawUpstream upstream(
      {Replies("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(10, 'x'))});
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), ShortIdle());
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamTimeout) << response.error().message;
  EXPECT_NE(response.error().message.find("after 10 bytes"), std::string::npos)
      << response.error().message;
}

// The pace of the upstream, not something waited for: a piece every 40 ms is never idle for
// anywhere near idle_timeout, yet the whole body takes longer than idle_timeout.
TEST(ClientTest, SlowSteadyUpstreamIsReadPastTheIdleTimeout) {
  constexpr int kPieces = 10;
  RawUpstream upstream({[](tcp::socket& socket) {
    ReadHead(socket);
    Send(socket, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kPieces) + "\r\n\r\n");
    for (int i = 0; i < kPieces; ++i) {
      std::this_thread::sleep_for(40ms);
      Send(socket, "x");
    }
    WaitForClose(socket);
  }});
  ClientOptions options;
  options.idle_timeout = 250ms;
  const auto start = std::chrono::steady_clock::now();
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), options);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->body, std::string(kPieces, 'x'));
  EXPECT_GT(std::chrono::steady_clock::now() - start, options.idle_timeout);
}

// A byte every 40 ms never leaves the connection idle for idle_timeout, and the body would take
// 40 s: the deadline for the whole call ends it, with what had come named in the message.
TEST(ClientTest, SteadyTrickleFailsAtTheDeadline) {
  RawUpstream upstream({[](tcp::socket& socket) {
    ReadHead(socket);
    Send(socket, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    for (int i = 0; i < 1000; ++i) {
      std::this_thread::sleep_for(40ms);
      boost::system::error_code error;
      net::write(socket, net::buffer("x", 1), error);
      if (error) return;  // the client gave up
    }
  }});
  ClientOptions options;
  options.idle_timeout = 250ms;
  options.deadline = 700ms;
  const auto start = std::chrono::steady_clock::now();
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamTimeout) << response.error().message;
  EXPECT_NE(response.error().message.find("deadline of 700 ms"), std::string::npos)
      << response.error().message;
  EXPECT_GE(elapsed, options.deadline);
  EXPECT_LT(elapsed, options.deadline + 2s);
}

// The deadline also bounds an upstream that accepts the connection and never answers, when it is
// shorter than the idle timeout.
TEST(ClientTest, DeadlineShorterThanTheIdleTimeoutEndsASilentExchange) {
  RawUpstream upstream({Replies("")});
  ClientOptions options;
  options.idle_timeout = 10s;
  options.deadline = 300ms;
  const auto start = std::chrono::steady_clock::now();
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamTimeout) << response.error().message;
  EXPECT_NE(response.error().message.find("no complete response header"), std::string::npos)
      << response.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ClientTest, MisbehavingUpstreamsAreUpstreamFailed) {
  const struct {
    std::string_view name;
    std::string reply;  // sent after the request head, then the connection is closed
  } kCases[] = {
      {"closed before answering", ""},
      {"closed mid-header", "HTTP/1.1 200 OK\r\nContent-Len"},
      {"closed mid-body",
       "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(500, 'x')},
      {"closed mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"},
      {"garbage", "garbage\r\n\r\n"},
      {"bad status line", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
      {"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    RawUpstream upstream({Replies(c.reply, /*keep_open=*/false)});
    const std::string url = upstream.Url("/v1/blocks/abc");
    const Result<ClientResponse> response = Fetch(Get(url));
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, Errc::kUpstreamFailed) << response.error().message;
    EXPECT_NE(response.error().message.find("GET " + url), std::string::npos)
        << response.error().message;
  }
}

TEST(ClientTest, BodyOverMaxBodyBytesIsUpstreamFailed) {
  auto server = StartOrDie(TestOptions(), [](const Request&) {
    return Reply::Text(200, "application/octet-stream", Pattern(2 * kMiB));
  });
  ASSERT_TRUE(server);
  ClientOptions options;
  options.max_body_bytes = kMiB;
  const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/big")), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamFailed);
  EXPECT_NE(response.error().message.find("larger than the limit"), std::string::npos)
      << response.error().message;

  options.max_body_bytes = 2 * kMiB;
  const Result<ClientResponse> exactly = Fetch(Get(UrlOf(*server, "/big")), options);
  ASSERT_TRUE(exactly) << exactly.error().message;
  EXPECT_EQ(exactly->body.size(), 2 * kMiB);
}

TEST(ClientTest, ChunkedBodyOverMaxBodyBytesIsUpstreamFailed) {
  RawUpstream upstream({Replies(std::string(kChunkedHelloWorld))});
  ClientOptions options;
  options.max_body_bytes = 8;
  const Result<ClientResponse> response = Fetch(Get(upstream.Url("/")), options);
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, Errc::kUpstreamFailed) << response.error().message;
}

// The upstream closes a kept-alive connection just as the next request arrives on it.
TEST(ClientTest, StaleKeptAliveConnectionIsRetriedOnceForIdempotentMethods) {
  RawUpstream upstream({
      [](tcp::socket& socket) {
        ReadHead(socket);
        Send(socket, Ok("first"));
        ReadHead(socket);
      },
      Replies(Ok("second")),
  });
  const Result<ClientResponse> first = Fetch(Get(upstream.Url("/")));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->body, "first");
  const Result<ClientResponse> second = Fetch(Get(upstream.Url("/")));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->body, "second");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(ClientTest, StaleKeptAliveConnectionIsNotRetriedForPost) {
  RawUpstream upstream({
      [](tcp::socket& socket) {
        ReadHead(socket);
        Send(socket, Ok("first"));
        ReadHead(socket);
        ReadBytes(socket, 3);
      },
      Replies(Ok("retried")),
  });
  const Result<ClientResponse> first = Fetch(Get(upstream.Url("/")));
  ASSERT_TRUE(first) << first.error().message;
  ClientRequest post = Get(upstream.Url("/admin/v1/pin"));
  post.method = "POST";
  post.body = "abc";
  const Result<ClientResponse> second = Fetch(post);
  ASSERT_FALSE(second) << second->body;
  EXPECT_EQ(second.error().code, Errc::kUpstreamFailed);
}

TEST(ClientTest, WithoutKeepAliveEachFetchAsksToCloseTheConnection) {
  std::promise<Request> seen;
  auto server = StartOrDie(TestOptions(), [&](const Request& request) {
    seen.set_value(request);
    return Hello(request);
  });
  ASSERT_TRUE(server);
  ClientOptions options;
  options.keep_alive = 0ms;
  const Result<ClientResponse> response = Fetch(Get(UrlOf(*server, "/x")), options);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(seen.get_future().get().Find("Connection"), "close");
}

TEST(ClientTest, UnsafeMethodOrHeaderIsBadRequest) {
  ClientRequest bad_method = Get("http://127.0.0.1:1/");
  bad_method.method = "GET /evil";
  ClientRequest bad_name = Get("http://127.0.0.1:1/");
  bad_name.headers = {{"Bad Name", "v"}};
  ClientRequest split = Get("http://127.0.0.1:1/");
  split.headers = {{"X-Split", "a\r\nSet-Cookie: x=1"}};
  for (const ClientRequest& request : {bad_method, bad_name, split}) {
    const Result<ClientResponse> response = Fetch(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, Errc::kBadRequest) << response.error().message;
  }
}

TEST(ParseHttpUrlTest, WellFormedUrlsAreTakenApart) {
  const struct {
    std::string_view url;
    std::string_view host;
    std::uint16_t port;
    std::string_view target;
  } kCases[] = {
      {"http://example.com", "example.com", 80, "/"},
      {"http://127.0.0.1:8088/v1/blocks/ab12?x=1", "127.0.0.1", 8088, "/v1/blocks/ab12?x=1"},
      {"http://[::1]:9/x", "::1", 9, "/x"},
      {"http://[fe80::1]/", "fe80::1", 80, "/"},
      {"HTTP://Node-3.cache_local:65535", "Node-3.cache_local", 65535, "/"},
      {"http://h?x=1", "h", 80, "/?x=1"},
      {"http://h/a/b#fragment", "h", 80, "/a/b"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.url);
    const Result<HttpUrl> url = ParseHttpUrl(c.url);
    ASSERT_TRUE(url) << url.error().message;
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->target, c.target);
  }
}

TEST(ParseHttpUrlTest, MalformedUrlsAreBadRequest) {
  const struct {
    std::string_view url;
    std::string_view why;  // in the message
  } kCases[] = {
      {"", "http://"},
      {"127.0.0.1:80/x", "http://"},
      {"https://example.com/", "http://"},
      {"ftp://example.com/", "http://"},
      {"http:/example.com/", "http://"},
      {"http://", "no host"},
      {"http:///x", "no host"},
      {"http://:80/", "no host"},
      {"http://user:pw@example.com/", "user info"},
      {"http://example.com:/", "port"},
      {"http://example.com:0/", "port"},
      {"http://example.com:65536/", "port"},
      {"http://example.com:80x/", "port"},
      {"http://example.com:-1/", "port"},
      {"http://[::1/", "IPv6"},
      {"http://[::1]x/", "junk"},
      {"http://[127.0.0.1]/", "IPv6"},
      {"http://[::1]:/", "port"},
      {"http://::1/", "no host"},
      {"http://exa$mple.com/", "host"},
      {"http://example.com/a b", "space"},
      {"http://example.com/a\r\nX-Evil: 1", "control"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.url);
    const Result<HttpUrl> url = ParseHttpUrl(c.url);
    ASSERT_FALSE(url);
    EXPECT_EQ(url.error().code, Errc::kBadRequest);
    EXPECT_NE(url.error().message.find(c.why), std::string::npos) << url.error().message;
    const Result<ClientResponse> response = Fetch(Get(std::string(c.url)));
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, Errc::kBadRequest);
  }
}

}  // namespace
}  // namespace mei::http
