// mei-cache-node: an edge cache at a base station (docs/ARCHITECTURE.md). Every flag
// can also come from the environment (MEI_STORE, MEI_LISTEN, ...); the admin token only from a
// file (--admin-token-file / MEI_ADMIN_TOKEN_FILE) or MEI_ADMIN_TOKEN, never from a flag value.
#include <fmt/format.h>
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cache-node/block_index.h"
#include "cache-node/node.h"
#include "common/byte_size.h"
#include "common/http/admin_auth.h"

namespace {

using mei::cache_node::NodeOptions;

// "ID=URL", or a bare URL (its own id).
std::pair<std::string, std::string> ParsePeer(const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || text.compare(0, 7, "http://") == 0) return {text, text};
  return {text.substr(0, equals), text.substr(equals + 1)};
}

int Run(const NodeOptions& options) {
  // Block buffers are multi-MiB and allocated on many threads: with glibc's default of eight
  // arenas per core, each thread's arena keeps its freed blocks and resident memory grows with the
  // thread count instead of the blocks in flight.
  mallopt(M_ARENA_MAX, 2);
  // Registered before the node starts, so a SIGTERM that arrives during start-up still drains.
  boost::asio::io_context signals_context;
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);
  auto node = mei::cache_node::CacheNode::Start(options).value();
  std::printf("listening on http://%s admin http://%s\n", node->endpoint().c_str(),
              node->admin_endpoint().c_str());
  std::fflush(stdout);
  signals.async_wait([&](const boost::system::error_code&, int) { node->Drain(); });
  std::thread signal_thread([&] { signals_context.run(); });
  node->Wait();
  signals_context.stop();
  signal_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mei-cache-node: edge cache for model blocks at a base station"};
  NodeOptions options;
  std::string capacity = "10GiB";
  std::string policy = "lru";
  std::vector<std::string> peers;
  std::string token_file;
  std::string prefetch_rate = "0";
  std::string access_log_max = "64MiB";
  std::uint64_t revision_ttl_ms = 60'000;
  std::uint64_t connect_timeout_ms = 5'000;
  std::uint64_t upstream_timeout_ms = 30'000;
  std::uint64_t health_interval_ms = 5'000;
  std::uint64_t circuit_backoff_ms = 1'000;
  std::uint64_t circuit_max_backoff_ms = 60'000;
  std::uint64_t header_timeout_ms = 10'000;
  std::uint64_t idle_timeout_ms = 60'000;
  bool check_config = false;
  options.data_server.listen = "127.0.0.1:8090";
  options.admin_server.listen = "127.0.0.1:9090";
  // Workers decode and read the store; a request waiting for a fill holds none (a suspended
  // coroutine), so one per core is enough however many misses are in flight.
  options.data_server.worker_threads = std::max(2u, std::thread::hardware_concurrency());
  // Hot blocks are answered whole on the network threads (no trip to a worker): one per core.
  options.data_server.io_threads = std::max(1u, std::thread::hardware_concurrency());

  app.add_option("--store", options.store_dir, "Store directory (created if missing)")
      ->envname("MEI_STORE")
      ->required();
  app.add_option("--listen", options.data_server.listen, "Data plane HOST:PORT (0: any port)")
      ->envname("MEI_LISTEN")
      ->capture_default_str();
  app.add_option("--admin-listen", options.admin_server.listen, "Admin API HOST:PORT")
      ->envname("MEI_ADMIN_LISTEN")
      ->capture_default_str();
  app.add_option("--parent", options.parent_url, "Upstream to fill from: http://HOST:PORT")
      ->envname("MEI_PARENT")
      ->required();
  app.add_option("--peer", peers, "A sibling node, ID=URL (repeatable)")
      ->envname("MEI_PEERS")
      ->delimiter(',');
  app.add_option("--capacity", capacity, "Stored bytes to stay under, e.g. 20GiB")
      ->envname("MEI_CAPACITY")
      ->capture_default_str();
  app.add_option("--policy", policy, "Eviction policy: lru or sharing")
      ->envname("MEI_POLICY")
      ->capture_default_str();
  app.add_option("--high-watermark", options.capacity.high_watermark,
                 "Share of capacity that starts eviction")
      ->envname("MEI_HIGH_WATERMARK")
      ->capture_default_str();
  app.add_option("--low-watermark", options.capacity.low_watermark,
                 "Share of capacity eviction goes down to")
      ->envname("MEI_LOW_WATERMARK")
      ->capture_default_str();
  app.add_option("--node-id", options.node_id, "This node's id (as placement plans name it)")
      ->envname("MEI_NODE_ID")
      ->required();
  app.add_option("--admin-token-file", token_file,
                 "File holding the admin bearer token (or set MEI_ADMIN_TOKEN)")
      ->envname("MEI_ADMIN_TOKEN_FILE");
  app.add_option("--revision-ttl-ms", revision_ttl_ms, "How long a revision name is trusted")
      ->envname("MEI_REVISION_TTL_MS")
      ->capture_default_str();
  app.add_option("--connect-timeout-ms", connect_timeout_ms, "Upstream connect timeout")
      ->envname("MEI_CONNECT_TIMEOUT_MS")
      ->capture_default_str();
  app.add_option("--upstream-timeout-ms", upstream_timeout_ms,
                 "Deadline for one upstream request (a block, a manifest), connect to last byte")
      ->envname("MEI_UPSTREAM_TIMEOUT_MS")
      ->capture_default_str();
  app.add_option("--circuit-failures", options.circuit_failures,
                 "Upstream failures in a row that open its circuit: the upstream is skipped for "
                 "a backoff period, then one probe request may close it again (0: never open)")
      ->envname("MEI_CIRCUIT_FAILURES")
      ->capture_default_str();
  app.add_option("--circuit-backoff-ms", circuit_backoff_ms,
                 "How long an upstream's circuit first stays open; doubled by each failed probe")
      ->envname("MEI_CIRCUIT_BACKOFF_MS")
      ->capture_default_str();
  app.add_option("--circuit-max-backoff-ms", circuit_max_backoff_ms,
                 "The longest an upstream's circuit stays open")
      ->envname("MEI_CIRCUIT_MAX_BACKOFF_MS")
      ->capture_default_str();
  app.add_option("--circuit-jitter", options.circuit_jitter,
                 "Each open period is scaled by a random factor within 1 +- this share (< 1)")
      ->envname("MEI_CIRCUIT_JITTER")
      ->capture_default_str();
  app.add_option("--health-interval-ms", health_interval_ms,
                 "How often the parent is probed for /readyz (ready: its last answer was a "
                 "success within three intervals, or every block the plan pins is held); "
                 "at most 1 hour")
      ->envname("MEI_HEALTH_INTERVAL_MS")
      ->capture_default_str();
  app.add_option("--fill-concurrency", options.fill_concurrency,
                 "Block fills at once (upstream requests in flight; more wait in a queue)")
      ->envname("MEI_FILL_CONCURRENCY")
      ->capture_default_str();
  app.add_option("--prefetch-rate", prefetch_rate, "Prefetch bytes per second (0: unlimited)")
      ->envname("MEI_PREFETCH_RATE")
      ->capture_default_str();
  app.add_option("--access-log-dir", options.access_log_dir, "Access log directory")
      ->envname("MEI_ACCESS_LOG_DIR");
  app.add_option("--access-log-max-bytes", access_log_max, "Access log file size before rotation")
      ->envname("MEI_ACCESS_LOG_MAX_BYTES")
      ->capture_default_str();
  app.add_option("--access-log-files", options.access_log.max_files, "Access log files kept")
      ->envname("MEI_ACCESS_LOG_FILES")
      ->capture_default_str();
  app.add_option("--io-threads", options.data_server.io_threads,
                 "Network threads, which also answer hot blocks whole (default: one per core)")
      ->envname("MEI_IO_THREADS")
      ->capture_default_str();
  app.add_option("--workers", options.data_server.worker_threads,
                 "Threads for request handling, block reads and decoding (default: one per "
                 "core; requests waiting for a fill hold none)")
      ->envname("MEI_WORKERS")
      ->capture_default_str();
  app.add_option("--max-connections", options.data_server.max_connections,
                 "Connections beyond this get 503")
      ->envname("MEI_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--header-timeout-ms", header_timeout_ms, "Deadline for a request header")
      ->envname("MEI_HEADER_TIMEOUT_MS")
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", idle_timeout_ms, "Longest wait on one socket write")
      ->envname("MEI_IDLE_TIMEOUT_MS")
      ->capture_default_str();
  app.add_flag("--check-config", check_config,
               "Check the flags, the token and the store path, print the settings, and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    options.capacity.capacity_bytes = mei::ParseByteSize(capacity).value();
    options.capacity.policy = mei::cache_node::ParseEvictionPolicy(policy).value();
    options.prefetch_rate_bytes_per_second = mei::ParseByteSize(prefetch_rate).value();
    options.access_log.max_file_bytes = mei::ParseByteSize(access_log_max).value();
    for (const std::string& peer : peers) options.peers.insert(ParsePeer(peer));
    options.revision_ttl = std::chrono::milliseconds(revision_ttl_ms);
    options.upstream_connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
    options.upstream_timeout = std::chrono::milliseconds(upstream_timeout_ms);
    options.health_interval = std::chrono::milliseconds(health_interval_ms);
    options.circuit_backoff = std::chrono::milliseconds(circuit_backoff_ms);
    options.circuit_max_backoff = std::chrono::milliseconds(circuit_max_backoff_ms);
    options.data_server.header_timeout = std::chrono::milliseconds(header_timeout_ms);
    options.data_server.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
    options.admin_server.header_timeout = options.data_server.header_timeout;
    options.admin_server.worker_threads = 2;
    options.admin_server.max_connections = 64;
    options.admin_token = mei::http::ResolveAdminToken(token_file, "--admin-token-file").value();
    if (options.capacity.low_watermark <= 0 || options.capacity.high_watermark > 1 ||
        options.capacity.low_watermark > options.capacity.high_watermark) {
      throw std::runtime_error("watermarks must satisfy 0 < low <= high <= 1");
    }
    if (check_config) {
      mei::cache_node::CheckNodeOptions(options).value();
      fmt::print("node {}: store {}, data {}, admin {}, parent {}, {} peer(s), capacity {} ({})\n",
                 options.node_id, options.store_dir.string(), options.data_server.listen,
                 options.admin_server.listen, options.parent_url, options.peers.size(),
                 mei::FormatByteSize(options.capacity.capacity_bytes), policy);
      return 0;
    }
    return Run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mei-cache-node: %s\n", e.what());
    return 1;
  }
}
