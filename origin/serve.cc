#include "origin/serve.h"

#include <fmt/format.h>
#include <malloc.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "common/http/admin_auth.h"
#include "common/http/data_plane.h"
#include "common/metrics.h"
#include "common/store.h"
#include "origin/admin_api.h"

namespace mei::origin {
namespace {

// The admin listener: few connections, and enough workers that a status call is answered while
// ingests run or wait for each other.
http::ServerOptions AdminServerOptions(const ServeOptions& options) {
  http::ServerOptions admin;
  admin.listen = options.admin_listen;
  admin.worker_threads = 4;
  admin.max_connections = 64;
  admin.header_timeout = options.server.header_timeout;
  admin.idle_timeout = options.server.idle_timeout;
  return admin;
}

}  // namespace

Result<int> Serve(const ServeOptions& options) {
  // Block buffers are multi-MiB and allocated on many threads: with glibc's default of eight
  // arenas per core, each thread's arena keeps its freed blocks and resident memory grows with the
  // thread count instead of the blocks in flight.
  mallopt(M_ARENA_MAX, 2);
  const bool admin_on = !options.admin_listen.empty();
  if (admin_on) {
    if (auto valid = http::ValidateAdminToken(options.admin_token); !valid) return valid.error();
  }
  StoreOptions store_options;
  store_options.create_if_missing = admin_on;
  auto store = OpenStore(options.store_dir, store_options);
  if (!store) return store.error();
  // Blocks dropped here are missing from the manifests that name them: the operator ingests
  // those files again.
  if (const std::string repaired = DescribeRecovery(store->blocks->recovery()); !repaired.empty()) {
    fmt::print(stderr, "mei-origin: {}\n", repaired);
  }
  StoreContent content(*store);
  MetricsRegistry metrics;
  DataPlane data_plane(content, metrics);
  std::unique_ptr<AdminApi> admin;
  if (admin_on) admin = std::make_unique<AdminApi>(*store, http::AdminAuth(options.admin_token));

  // Registered before the servers start, so a SIGTERM that arrives during start-up still drains.
  boost::asio::io_context signals_context;
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);

  auto server = http::Server::Start(
      options.server, [&](const http::Request& request) { return data_plane.Handle(request); },
      [&](const http::Exchange& exchange) { RecordExchange(metrics, exchange); },
      [&](const http::Request& request) { return data_plane.TryHandle(request); });
  if (!server) return server.error();
  metrics.SetCallbackGauge(
      "mei_http_open_connections", "Open client connections.",
      [s = server->get()] { return static_cast<double>(s->open_connections()); });
  std::unique_ptr<http::Server> admin_server;
  if (admin) {
    auto started = http::Server::Start(
        AdminServerOptions(options),
        [&](const http::Request& request) { return admin->Handle(request); },
        [&](const http::Exchange& exchange) { RecordExchange(metrics, exchange); });
    if (!started) return started.error();
    admin_server = std::move(*started);
    std::printf("listening on http://%s admin http://%s\n", (*server)->endpoint().c_str(),
                admin_server->endpoint().c_str());
  } else {
    std::printf("listening on http://%s\n", (*server)->endpoint().c_str());
  }
  std::fflush(stdout);

  // Both listeners drain at once: an ingest under way holds the admin listener's drain until it
  // is done, and must not hold back the data plane's.
  signals.async_wait([&](const boost::system::error_code&, int) {
    std::thread admin_drain([&] {
      if (admin_server) admin_server->Drain();
    });
    (*server)->Drain();
    admin_drain.join();
  });
  std::thread signal_thread([&] { signals_context.run(); });
  (*server)->Wait();
  if (admin_server) admin_server->Wait();
  signals_context.stop();
  signal_thread.join();
  return 0;
}

}  // namespace mei::origin
