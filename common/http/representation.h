// Answers GET and HEAD for one representation (a block or a whole file) with full HTTP semantics:
// ETag, Accept-Ranges, conditional requests (304), single ranges (206 with Content-Range),
// multiple ranges (206 multipart/byteranges), unsatisfiable ranges (416), and If-Range.
//
// The caller says what the representation is and how to stream any one byte range of it; this
// decides the status and headers and composes the body, so the blocks route and the resolve route
// share one implementation of RFC 9110.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/http/message.h"
#include "common/http/range.h"

namespace mei::http {

struct Representation {
  std::uint64_t length = 0;
  std::string etag;  // quoted, strong: "\"<sha256 hex>\""
  std::string content_type = "application/octet-stream";
  std::vector<Header> headers;  // extra headers for every answer (Cache-Control, X-Repo-Commit...)
  // A body of exactly range.size() bytes: the representation's bytes [first, last]. Only
  // constructs the body (it may be called on a server's I/O thread); reading waits for Next.
  std::function<std::unique_ptr<BodySource>(ByteRange range)> open_range;
};

// The reply to `request` (GET or HEAD; the caller rejects other methods) for `representation`.
// Reads the request's Range, If-None-Match and If-Range headers. Multipart bodies use a fresh
// random boundary of 32 hex digits per reply: it is in no part header, and a client that reads
// each part by its Content-Range does not scan the part's bytes for it. Bodies are opened lazily:
// a HEAD request or a 304/416 answer never calls open_range.
[[nodiscard]] Reply AnswerRepresentation(const Request& request,
                                         const Representation& representation,
                                         const RangeLimits& limits = {});

}  // namespace mei::http
