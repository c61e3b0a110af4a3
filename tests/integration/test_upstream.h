// TestUpstream: an origin served from inside the test process on a real loopback socket, for the
// cache-node integration tests. It is the shared data plane (mei::DataPlane over a StoreContent)
// behind a handler that
//   - counts requests by route, and block requests by block id and by the X-Mei-Client that sent
//     them (the cache node's id), so a test can prove where a node filled from;
//   - can hold block requests at a gate until the test releases it, so a test can keep fills in
//     flight for as long as it needs them (coalescing, kill -9 during fills, idle timeouts);
//   - can corrupt block and file replies (blocks, whole files and ranges of them): the same
//     status, headers and length, with one byte flipped;
//   - can be stopped and started again on the same port (an origin that goes away and comes back).
//
// Thread-safe: the counters and switches may be used from the test thread while the server's
// worker threads answer requests.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/block_id.h"
#include "common/http/data_plane.h"
#include "common/http/server.h"
#include "common/metrics.h"
#include "common/store.h"

namespace mei::testing {

// Opens a store that an upstream (or several: a corrupting peer and an honest parent) serves.
// ADD_FAILURE and null when it cannot be opened. The store must not be open elsewhere (RocksDB's
// lock): ingest into it first.
std::shared_ptr<Store> OpenUpstreamStore(const std::filesystem::path& dir);

class TestUpstream {
 public:
  // Serves `store` on 127.0.0.1:`port` (0: a free port), with X-Served-By `name`. ADD_FAILURE and
  // null when the server cannot start.
  static std::unique_ptr<TestUpstream> Start(std::shared_ptr<Store> store, std::string name,
                                             std::uint16_t port = 0);
  ~TestUpstream();  // releases held requests, then stops the server

  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  // "http://127.0.0.1:PORT", no trailing '/'. The same across Stop() and Restart().
  std::string Url() const;
  std::uint16_t port() const { return port_; }

  // Releases held requests and stops the server: connections are refused until Restart().
  void Stop();
  // Serves again on the same port. ADD_FAILURE and false when it cannot bind it.
  bool Restart();

  // Block requests (GET or HEAD /v1/blocks/{id}) that arrived, counted before any hold.
  std::uint64_t block_requests() const { return block_requests_.load(); }
  std::uint64_t block_requests_for(const BlockId& id) const;
  // Block requests whose X-Mei-Client header was `client` (a cache node sends its node id).
  std::uint64_t block_requests_from(std::string_view client) const;
  // Answered requests by the data plane's route label ("blocks", "manifest", "resolve", "models",
  // "hub_api", "health", ...).
  std::uint64_t requests(std::string_view route) const;

  // From now on, block requests wait at a gate until ReleaseBlocks().
  void HoldBlocks();
  // Opens the gate: held requests go on, and later ones are not held.
  void ReleaseBlocks();
  // Blocks until at least `count` block requests have arrived (held or not). After `deadline`,
  // ADD_FAILURE saying how many came and false, so a test fails instead of hanging.
  bool WaitForBlockRequests(std::uint64_t count,
                            std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // Whether block and file replies (200 or 206 with a body, on the blocks and resolve routes)
  // get one byte flipped from now on.
  void CorruptBlocks(bool corrupt) { corrupt_.store(corrupt); }

 private:
  TestUpstream(std::shared_ptr<Store> store, std::string name);
  http::Reply Handle(const http::Request& request);
  bool Listen(std::uint16_t port);

  std::shared_ptr<Store> store_;
  StoreContent content_;
  MetricsRegistry metrics_;
  DataPlane data_plane_;
  std::uint16_t port_ = 0;

  std::atomic<std::uint64_t> block_requests_{0};
  std::atomic<bool> corrupt_{false};

  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool holding_ = false;
  std::map<BlockId, std::uint64_t> by_block_;
  std::map<std::string, std::uint64_t, std::less<>> by_client_;
  std::map<std::string, std::uint64_t, std::less<>> by_route_;

  std::unique_ptr<http::Server> server_;  // last: stopped first
};

}  // namespace mei::testing
