// `mei-origin serve`: the data-plane API over the origin's store, until SIGTERM or SIGINT.
#pragma once

#include <filesystem>

#include "common/errc.h"
#include "common/http/server.h"

namespace mei::origin {

struct ServeOptions {
  std::filesystem::path store_dir;
  http::ServerOptions server;
};

// Opens the store, starts the server, prints "listening on http://HOST:PORT" (one line, flushed)
// to stdout, and serves until SIGTERM or SIGINT, then drains in-flight responses and returns 0.
// kStorage when the store cannot be opened, kIo when the address cannot be bound.
[[nodiscard]] Result<int> Serve(const ServeOptions& options);

}  // namespace mei::origin
