// Fuzz target: the HTTP request path, raw bytes into a real server.
//
// Each input is what a client writes on one connection: one or several (pipelined) requests, or
// garbage. LLVMFuzzerInitialize starts the real mei::http::Server on a loopback port, wired as the
// origin wires it (origin/serve.cc): DataPlane::Handle as the handler, RecordExchange as the
// observer, over a real Store (RocksDB in a temporary directory) holding the fuzz model
// (fuzz_model.h: safetensors, GGUF and other files, blocks in every codec). Every input goes to a
// fresh connection, whose write side is then shut down, and the reply is read until the server
// closes the connection.
//
// Why a socket and not a parse-from-buffer seam: the server reads each request with Beast inside
// its per-connection coroutine, straight from the stream (header deadline, Expect: 100-continue,
// keep-alive, error replies and lingering close are all in that loop), and has no function that
// turns a buffer into a Request. Splitting one out would change the server for the fuzzer's sake
// and would still leave that loop unfuzzed; over loopback the whole path (Beast's parser with the
// server's limits, the session loop, routing, ranges, stored codings, the Hub API, body streaming
// from RocksDB, the response writer) runs for real at a few hundred to a few thousand inputs a
// second, which is plenty for a 30-second CI run. The only departures from the origin's settings
// are smaller header and body limits (2 KiB instead of 16 KiB and 1 MiB), so that the 431 and 413
// paths are within reach of small inputs, and short timeouts.
//
// What counts as a bug (besides sanitizer reports): the server neither answering nor closing
// within 5 s of the client's end of input; a reply that is not well-formed HTTP/1.1 (parsed with
// Beast, the k-th final response taken as the answer to the k-th complete request, so HEAD
// replies have no body); a reply with a body but no Content-Length; a body cut short although the
// server closed cleanly; more replies than requests plus one error reply; any 5xx status (the
// store is healthy, so a 500 means a handler threw or a body disagreed with its Content-Length).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/http/data_plane.h"
#include "common/http/server.h"
#include "common/metrics.h"
#include "common/store.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_model.h"

namespace mei::fuzz {
namespace {

namespace beast_http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr auto kExchangeDeadline = std::chrono::seconds(5);

// Everything the server needs, built once and torn down at exit (members are destroyed in
// reverse order: the server drains before the data plane and the store go).
struct ServedModel {
  std::filesystem::path dir;
  Store store;
  std::unique_ptr<StoreContent> content;
  MetricsRegistry metrics;
  std::unique_ptr<DataPlane> data_plane;
  std::unique_ptr<http::Server> server;
  sockaddr_in address{};
};

ServedModel* served = nullptr;

template <class T>
T ValueOrThrow(Result<T> result, std::string_view what) {
  if (!result) throw std::runtime_error(std::string(what) + ": " + result.error().message);
  return std::move(*result);
}

void StartServer() {
  auto model = std::make_unique<ServedModel>();
  std::string pattern = (std::filesystem::temp_directory_path() / "mei_fuzz_http_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create " + pattern);
  model->dir = pattern;
  model->store = ValueOrThrow(OpenStore(model->dir / "store"), "open the store");

  EncodedModel encoded = EncodeFuzzModel();
  for (const auto& [id, frame] : encoded.frames) {
    ValueOrThrow(model->store.blocks->Put(id, frame), "store a block");
  }
  const Result<void> put = model->store.manifests->Put(encoded.manifest);
  if (!put) throw std::runtime_error("store the manifest: " + put.error().message);
  encoded.manifest.revision = "v1.0";
  const Result<void> put_v1 = model->store.manifests->Put(encoded.manifest);
  if (!put_v1) throw std::runtime_error("store the manifest: " + put_v1.error().message);

  model->content = std::make_unique<StoreContent>(model->store);
  model->data_plane = std::make_unique<DataPlane>(*model->content, model->metrics);
  http::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.worker_threads = 2;
  options.header_limit_bytes = kFuzzHeaderLimitBytes;
  options.body_limit_bytes = kFuzzBodyLimitBytes;
  options.header_timeout = std::chrono::seconds(5);
  options.idle_timeout = std::chrono::seconds(5);
  options.drain_timeout = std::chrono::seconds(5);
  DataPlane& data_plane = *model->data_plane;
  MetricsRegistry& metrics = model->metrics;
  model->server = ValueOrThrow(
      http::Server::Start(
          options,
          [&data_plane](const http::Request& request) { return data_plane.Handle(request); },
          [&metrics](const http::Exchange& exchange) { RecordExchange(metrics, exchange); }),
      "start the server");

  const std::string endpoint = model->server->endpoint();
  model->address.sin_family = AF_INET;
  model->address.sin_port =
      htons(static_cast<std::uint16_t>(std::stoul(endpoint.substr(endpoint.rfind(':') + 1))));
  model->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  served = model.release();
}

void StopServer() {
  if (served == nullptr) return;
  const std::filesystem::path dir = served->dir;
  delete served;
  served = nullptr;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `fd`'s events until `deadline`; false on timeout. libFuzzer's timers interrupt
// system calls (EINTR), which is no reason to stop waiting.
bool Poll(pollfd& fd, Clock::time_point deadline) {
  for (;;) {
    const int polled = poll(&fd, 1, RemainingMs(deadline));
    if (polled == 1) return true;
    FUZZ_CHECK(polled == 0 || errno == EINTR, "poll: %s", std::strerror(errno));
    if (polled == 0 && Clock::now() >= deadline) return false;
  }
}

struct Received {
  std::string bytes;
  bool clean_close = false;  // the server closed (FIN), rather than reset the connection
};

// One connection: writes `input`, shuts down the write side, reads until the server closes.
Received Exchange(std::string_view input) {
  const Clock::time_point deadline = Clock::now() + kExchangeDeadline;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  FUZZ_CHECK(fd >= 0, "socket: %s", std::strerror(errno));
  // Thousands of connections a second leave thousands of TIME_WAITs behind (the side that sends
  // the first FIN keeps one for 60 s), more than the ephemeral ports of one address unless the
  // kernel reuses them (net.ipv4.tcp_tw_reuse). So each connection comes from the next of 65536
  // loopback addresses, 127.1.x.y, and never runs out of ports. A close before the server's FIN
  // resets the connection, which leaves no TIME_WAIT at all.
  static std::uint32_t next_source = 0;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | (next_source++ & 0xffff));
  FUZZ_CHECK(bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) == 0,
             "bind to a 127.1.x.y address: %s", std::strerror(errno));
  const linger abort_on_close{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  const sockaddr_in& address = served->address;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    FUZZ_CHECK(errno == EINPROGRESS, "connect: %s", std::strerror(errno));
    pollfd writable{fd, POLLOUT, 0};
    FUZZ_CHECK(Poll(writable, deadline), "the server does not accept within 5 s");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    FUZZ_CHECK(error == 0, "connect: %s", std::strerror(error));
  }

  Received received;
  std::size_t sent = 0;
  bool writing = !input.empty();
  if (!writing) shutdown(fd, SHUT_WR);
  for (;;) {
    pollfd ready{fd, static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), 0};
    FUZZ_CHECK(Poll(ready, deadline),
               "the server neither answered nor closed within 5 s of %zu of %zu request bytes "
               "(%zu reply bytes so far)",
               sent, input.size(), received.bytes.size());
    if (writing && (ready.revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == input.size()) {
        writing = false;  // all sent, or the server stopped reading (it may still answer)
        shutdown(fd, SHUT_WR);
      }
    }
    if ((ready.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      char buffer[16 * 1024];
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        received.bytes.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        received.clean_close = true;
        break;
      }
      if (errno == EAGAIN || errno == EINTR) continue;
      break;  // reset: what was sent may be incomplete
    }
  }
  close(fd);

  // The session ends (and releases the connection) just after it closes the socket; wait for it,
  // so that each input's work is done before the next one starts.
  while (served->server->open_connections() != 0) {
    FUZZ_CHECK(Clock::now() < deadline, "a connection is still open 5 s after the exchange");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return received;
}

// The requests in `input` as the server reads them, parsed with the server's limits.
struct Requests {
  std::vector<beast_http::verb> methods;  // of the requests whose header was read, in order
  // False when the parse stopped at a header that the server may read either way: Beast applies
  // header_limit to the bytes one parse step sees, not to the whole header, so a header somewhat
  // over the limit is accepted or refused (431) depending on how the bytes arrive. Replies past
  // `methods` are then not checked.
  bool certain = true;
};

Requests ParseRequests(std::string_view input) {
  Requests requests;
  while (!input.empty()) {
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(kFuzzHeaderLimitBytes);
    parser.body_limit(kFuzzBodyLimitBytes);
    boost::system::error_code error;
    std::size_t header_bytes = 0;  // until the header is done, the parser stops after it
    while (!parser.is_done() && !input.empty()) {
      const bool in_header = !parser.is_header_done();
      const std::size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), error);
      input.remove_prefix(used);
      if (in_header) header_bytes += used;
      if (parser.is_header_done()) parser.eager(true);
      if (error || used == 0) break;
    }
    if (error == beast_http::error::header_limit ||
        (parser.is_header_done() && header_bytes > kFuzzHeaderLimitBytes)) {
      requests.certain = false;
      break;
    }
    // The server answers a request once it has read its header, even when the body that follows
    // is cut short or refused; a reply to HEAD then still has no body.
    if (parser.is_header_done()) requests.methods.push_back(parser.get().method());
    if (!parser.is_done()) break;
  }
  return requests;
}

void CheckReplies(std::string_view input, const Received& received) {
  const Requests requests = ParseRequests(input);
  const std::vector<beast_http::verb>& methods = requests.methods;
  // MEI_FUZZ_TRACE=1 prints what each input got, e.g. to see what a crash input does.
  static const bool trace = std::getenv("MEI_FUZZ_TRACE") != nullptr;
  if (trace) {
    std::fprintf(stderr, "%zu request bytes, %zu request headers%s, %zu reply bytes, %s\n",
                 input.size(), methods.size(), requests.certain ? "" : " (then uncertain)",
                 received.bytes.size(), received.clean_close ? "closed" : "reset");
  }
  std::string_view rest = received.bytes;
  std::size_t finals = 0;
  while (!rest.empty()) {
    if (!requests.certain && finals >= methods.size()) {
      // Whether the server read the next request or refused it (431), it answered it somehow.
      FUZZ_CHECK(rest.starts_with("HTTP/1.1 ") && rest.size() >= 12 && rest[9] < '5',
                 "reply %zu does not start with an HTTP/1.1 status line below 500", finals + 1);
      return;
    }
    beast_http::response_parser<beast_http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(std::uint64_t{1} << 32);
    parser.eager(true);
    const bool head = finals < methods.size() && methods[finals] == beast_http::verb::head;
    if (head) parser.skip(true);
    boost::system::error_code error;
    while (!parser.is_done() && !rest.empty()) {
      const std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), error);
      rest.remove_prefix(used);
      if (error == beast_http::error::need_more && used > 0) continue;
      if (error) break;
      if (used == 0) break;
    }
    if (!parser.is_done()) {
      FUZZ_CHECK(!error || error == beast_http::error::need_more, "reply %zu is not HTTP: %s",
                 finals + 1, error.message().c_str());
      FUZZ_CHECK(!received.clean_close,
                 "reply %zu is cut short although the server closed cleanly (%zu bytes left)",
                 finals + 1, rest.size());
      return;
    }
    const beast_http::response<beast_http::string_body>& reply = parser.get();
    const unsigned status = reply.result_int();
    if (trace) {
      std::fprintf(stderr, "  reply %u, %zu body bytes%s\n", status, reply.body().size(),
                   head ? " (to HEAD)" : "");
    }
    if (status >= 100 && status < 200) continue;  // 100 Continue before the final reply
    ++finals;
    FUZZ_CHECK(status < 500, "reply %zu has status %u: %s", finals, status, reply.body().c_str());
    FUZZ_CHECK(finals <= methods.size() + 1, "%zu replies to %zu requests", finals, methods.size());
    if (status != 204 && status != 304) {
      FUZZ_CHECK(parser.content_length().has_value() || head, "reply %zu (%u) has no length",
                 finals, status);
      FUZZ_CHECK(reply.find(beast_http::field::content_length) != reply.end(),
                 "reply %zu (%u) has no Content-Length", finals, status);
    }
  }
}

}  // namespace
}  // namespace mei::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  try {
    mei::fuzz::StartServer();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_http_server: cannot start: %s\n", e.what());
    std::exit(1);
  }
  std::atexit(mei::fuzz::StopServer);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const mei::fuzz::Received received = mei::fuzz::Exchange(input);
  mei::fuzz::CheckReplies(input, received);
  return 0;
}
