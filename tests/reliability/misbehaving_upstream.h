// MisbehavingUpstream: a parent that answers block requests badly on purpose, for the tests of a
// cache node's fill path under upstream faults (issue 8).
//
// A raw-socket HTTP/1.1 server on 127.0.0.1 (a port the kernel picks), one thread per connection,
// that reads one request head and, for GET /v1/blocks/{id} of a block its store holds, answers 200
// with the block's raw bytes announced in Content-Length (so that a complete body would verify),
// then misbehaves by its fault:
//   kTrickle            sends the body a few bytes at a time, one piece per interval: never idle
//                       for long, never done within any sane deadline;
//   kStallAfterHeaders  sends nothing more and holds the connection until the client leaves;
//   kCloseMidBody       sends the first part of the body and closes the connection (after Hold(),
//                       only once Release() is called, so that a test can gather waiters first);
//   kSilent             answers nothing at all, to any request: a peer that accepts connections
//                       and never answers; it holds each connection until the client leaves;
//   kCorruptMidBody     sends the first part of the body (after Hold(), waits for Release()),
//                       then the rest with its last byte flipped, and closes: a whole body of
//                       the announced length whose SHA-256 is wrong.
// Any other request gets a 404 with a JSON error body. Every reply says "Connection: close".
//
// Thread-safe: the counters and Hold/Release may be used from any thread while connections are
// served. The destructor shuts every connection down and joins every thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/store.h"

namespace mei::testing {

class MisbehavingUpstream {
 public:
  enum class Fault { kTrickle, kStallAfterHeaders, kCloseMidBody, kSilent, kCorruptMidBody };

  struct Options {
    Fault fault = Fault::kTrickle;
    std::size_t trickle_bytes = 16;                   // kTrickle: bytes per piece
    std::chrono::milliseconds trickle_interval{100};  // kTrickle: pause between pieces
    double close_after_share = 0.5;  // kCloseMidBody, kCorruptMidBody: share sent before Hold
  };

  // Listens on 127.0.0.1:0 and serves the blocks of `store` badly. ADD_FAILURE and null when it
  // cannot listen. REQUIRES: store non-null.
  static std::unique_ptr<MisbehavingUpstream> Start(std::shared_ptr<Store> store, Options options);
  ~MisbehavingUpstream();

  MisbehavingUpstream(const MisbehavingUpstream&) = delete;
  MisbehavingUpstream& operator=(const MisbehavingUpstream&) = delete;

  // "http://127.0.0.1:PORT", no trailing '/'.
  std::string Url() const;
  std::uint16_t port() const { return port_; }

  // Connections accepted so far.
  std::uint64_t connections() const;

  // Requests for a block this upstream holds, counted when their head has been read.
  std::uint64_t block_requests() const;
  // Body bytes sent on all connections so far.
  std::uint64_t body_bytes_sent() const;
  // Connections accepted and not yet finished: a client that gave up closes its end, and the
  // connection's thread notices on its next pause or write.
  std::size_t open_connections() const;

  // Blocks until at least `count` block requests have come; after `deadline`, ADD_FAILURE saying
  // how many came and false.
  bool WaitForBlockRequests(std::uint64_t count,
                            std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // kCloseMidBody, kCorruptMidBody: from now on, a connection that has sent its part of the body
  // waits for Release() before it closes (or sends the rest).
  void Hold();
  // Lets held connections close, and later ones close at once.
  void Release();

 private:
  MisbehavingUpstream(std::shared_ptr<Store> store, Options options, int listen_fd,
                      std::uint16_t port);
  void Accept();
  void Serve(int fd);
  void Misbehave(int fd, const std::string& body);
  // Sends all of `bytes` (counted in body_bytes_sent when `body`); false when the client is gone
  // or the upstream is stopping.
  bool SendAll(int fd, std::string_view bytes, bool body);
  // Waits up to `pause` for the client to close its end (or the upstream to stop), reading and
  // dropping anything else it sends; true when the connection is over. A negative pause waits
  // for as long as it takes.
  bool WaitForHangUp(int fd, std::chrono::milliseconds pause);

  const std::shared_ptr<Store> store_;
  const Options options_;
  const int listen_fd_;
  const std::uint16_t port_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool holding_ = false;
  std::uint64_t connections_accepted_ = 0;
  std::uint64_t block_requests_ = 0;
  std::uint64_t body_bytes_sent_ = 0;
  std::set<int> open_fds_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;  // last: started once everything above exists
};

}  // namespace mei::testing
