// `mei-origin serve`: the data-plane API over the origin's store, and optionally the admin API
// (admin_api.h) on a second listener, until SIGTERM or SIGINT.
#pragma once

#include <filesystem>
#include <string>

#include "common/errc.h"
#include "common/http/server.h"

namespace mei::origin {

struct ServeOptions {
  std::filesystem::path store_dir;
  http::ServerOptions server;
  // HOST:PORT of the admin API (port 0: any free port); empty: no admin API. Its listener takes
  // the timeouts of `server`, and threads and a connection cap of its own.
  std::string admin_listen;
  // The admin bearer token; when admin_listen is set it must pass http::ValidateAdminToken, or
  // Serve refuses to start.
  std::string admin_token;
};

// Opens the store, starts the server(s), prints one line, flushed, to stdout:
//   listening on http://HOST:PORT                            (no admin API)
//   listening on http://HOST:PORT admin http://HOST:PORT     (with it)
// and serves until SIGTERM or SIGINT, then drains in-flight responses (an ingest under way
// finishes first) and returns 0. The store must exist unless the admin API is on, in which case
// an empty one is created: models then arrive through POST /admin/v1/ingest.
// kBadRequest for an unacceptable admin token, kStorage when the store cannot be opened, kIo when
// an address cannot be bound.
[[nodiscard]] Result<int> Serve(const ServeOptions& options);

}  // namespace mei::origin
