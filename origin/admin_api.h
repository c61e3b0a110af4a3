// AdminApi: the origin's operator API, served on a listener of its own by `mei-origin serve
// --admin-listen`, so that a model is published while the origin serves.
//
//   GET  /admin/v1/status   {"role": "origin", "models": [{"model", "revision", "commit"}...],
//                           "blocks": N, "stored_bytes": N}: every revision name in the store,
//                           and the number and stored (frame) bytes of its blocks
//   POST /admin/v1/ingest   {"model": "org/name", "revision": "main", "paths": ["/abs/path"...],
//                           "min_saving": 0.05, "zstd_level": 1, "max_block": "4MiB"}: ingests
//                           the files and directories at `paths` as `mei-origin ingest` does
//                           (CollectInputs, then Ingest into the open store) and answers 200 with
//                           its report, ToJson(IngestReport), once the revision is published
//
// The ingest body: "model" and "paths" are required; "revision" defaults to "main"; "min_saving"
// (a number from 0 to 1), "zstd_level" (an integer from kMinIngestZstdLevel to
// kMaxIngestZstdLevel) and "max_block" (a byte size, "4MiB" or 4194304) default as on the command
// line. Paths name files on the origin's own file system and must be absolute. Any other field is
// refused, so that a misspelt option is never silently ignored. Statuses: 400 for a body that is
// not such an object, a relative path, a bad model or revision name, an input that is neither a
// file nor a directory, or a file that its format's parser rejects (with the parser's message);
// 404 when a path does not exist; 507 when the disk is full. A failed ingest publishes nothing:
// the revision keeps the commit it had. The call returns when the ingest is done, minutes for a
// large model; ingests run one at a time (a second one waits for the first), while the data plane
// keeps serving and sees the new revision as soon as the call returns.
//
// Every request needs "Authorization: Bearer <token>" (401 with WWW-Authenticate otherwise,
// compared in constant time). An unknown route is 404, a known one with another method 405 with
// Allow. Errors are JSON {"error", "message"} as on the data plane.
#pragma once

#include <mutex>

#include "common/http/admin_auth.h"
#include "common/http/message.h"
#include "common/store.h"

namespace mei::origin {

class AdminApi {
 public:
  // REQUIRES: `store` outlives the AdminApi.
  AdminApi(Store& store, http::AdminAuth auth);

  // Answers one admin request. Thread-safe; blocks for as long as an ingest takes (call it from
  // the server's worker threads).
  [[nodiscard]] http::Reply Handle(const http::Request& request);

 private:
  http::Reply PostIngest(const http::Request& request);

  Store& store_;
  const http::AdminAuth auth_;
  std::mutex ingest_mu_;  // one ingest at a time
};

}  // namespace mei::origin
