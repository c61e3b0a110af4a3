#include "origin/serve.h"

#include <malloc.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "common/http/data_plane.h"
#include "common/metrics.h"
#include "common/store.h"

namespace mei::origin {

Result<int> Serve(const ServeOptions& options) {
  // Block buffers are multi-MiB and allocated on many threads: with glibc's default of eight
  // arenas per core, each thread's arena keeps its freed blocks and resident memory grows with the
  // thread count instead of the blocks in flight.
  mallopt(M_ARENA_MAX, 2);
  StoreOptions store_options;
  store_options.create_if_missing = false;
  auto store = OpenStore(options.store_dir, store_options);
  if (!store) return store.error();
  StoreContent content(*store);
  MetricsRegistry metrics;
  DataPlane data_plane(content, metrics);

  // Registered before the server starts, so a SIGTERM that arrives during start-up still drains.
  boost::asio::io_context signals_context;
  boost::asio::signal_set signals(signals_context, SIGINT, SIGTERM);

  auto server = http::Server::Start(
      options.server, [&](const http::Request& request) { return data_plane.Handle(request); },
      [&](const http::Exchange& exchange) { RecordExchange(metrics, exchange); });
  if (!server) return server.error();
  metrics.SetCallbackGauge(
      "mei_http_open_connections", "Open client connections.",
      [s = server->get()] { return static_cast<double>(s->open_connections()); });

  std::printf("listening on http://%s\n", (*server)->endpoint().c_str());
  std::fflush(stdout);
  signals.async_wait([&](const boost::system::error_code&, int) { (*server)->Drain(); });
  std::thread signal_thread([&] { signals_context.run(); });
  (*server)->Wait();
  signals_context.stop();
  signal_thread.join();
  return 0;
}

}  // namespace mei::origin
