// The HTTP request and reply as the data plane sees them, independent of sockets.
//
// Request handling is a function from a Request to a Reply plan (status, headers, body source), so
// HTTP semantics are unit-testable without a network; the server (server.h) does the I/O.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei::http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;           // "GET", "HEAD", ...
  std::string target;           // as received: "/v1/blocks/ab12...?x=1" (percent-encoded)
  std::vector<Header> headers;  // in arrival order
  std::string body;             // request body (bounded by the server's limit)
  std::string peer;             // "127.0.0.1:50412"

  // The value of the first header called `name` (ASCII case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> Find(std::string_view name) const;
};

// Bytes [offset, offset + length) of an open file. The fd must stay open while the owner of the
// chunk that carries the region lives.
struct FileRegion {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// A piece of a response body: `bytes`, or, when `file` is set, that file region (`bytes` then
// empty). Either stays valid while `owner` lives: an owned buffer, a pinned RocksDB value
// (StoredBlock), or whatever keeps a segment file open, so stored payloads are sent without a
// copy (file regions with sendfile(2), see server.h).
struct Chunk {
  std::span<const std::byte> bytes;
  std::shared_ptr<const void> owner;
  std::optional<FileRegion> file = std::nullopt;

  // The chunk's size in bytes: file->length for a file region, else bytes.size().
  [[nodiscard]] std::uint64_t size() const { return file ? file->length : bytes.size(); }
};

// Produces a body piece by piece. Next() may block on the disk or the CPU (RocksDB reads, zstd
// decoding): the server calls it off the I/O threads, never twice at once for one body. A source
// that may have to wait for the network (a block being filled from upstream) overrides NextAsync,
// which the server calls instead, so that the wait holds no thread.
class BodySource {
 public:
  virtual ~BodySource() = default;

  // The next chunk, or an empty chunk (size() == 0) once the body is complete. An error ends the
  // response early (the headers are already sent, so the server closes the connection).
  [[nodiscard]] virtual Result<Chunk> Next() = 0;

  // Next() as a coroutine, resumed on the caller's executor; while it waits for the network it
  // holds no thread. What the server calls (on a worker). Default: Next().
  [[nodiscard]] virtual boost::asio::awaitable<Result<Chunk>> NextAsync();

  // The next chunk when it can be had without blocking (a lookup, no decoding, no network), or
  // nullopt when it needs NextAsync() on a worker thread. The server tries this on its I/O thread
  // first, which spares a hot raw block two thread switches. Default: nullopt.
  [[nodiscard]] virtual std::optional<Result<Chunk>> TryNext() { return std::nullopt; }
};

// What an access log records about a reply besides its status and size (the cache node's access
// log); the data plane fills in what applies to the route, the rest stays empty.
struct ReplyFacts {
  std::string model;
  std::string revision;  // as asked: a name or a commit
  std::string commit;
  std::string path;
  std::string block;     // block id hex
  std::string cache;     // "HIT" | "MISS" | "PARTIAL" from a caching content source, else ""
  std::string upstream;  // where a cache fills what it lacks: "parent", "peer:<node id>", or ""
};

// What to answer. The server sends `status`, `headers`, and a Content-Length of
// `content_length`; then, unless the request was HEAD or the status has no body (204, 304),
// either `text` (when `body` is null) or exactly content_length bytes from `body`.
struct Reply {
  int status = 200;
  std::vector<Header> headers;  // never Content-Length, Connection or Date: the server sets those
  std::uint64_t content_length = 0;
  std::string text;                  // small bodies: JSON, Prometheus text
  std::unique_ptr<BodySource> body;  // streamed bodies
  std::string route = "other";       // a low-cardinality label for metrics and the access log
  ReplyFacts facts;                  // for the access log only; never sent

  // A small body with its Content-Type; content_length = text.size().
  [[nodiscard]] static Reply Text(int status, std::string content_type, std::string text);
  // application/json
  [[nodiscard]] static Reply Json(int status, std::string json);
  // {"error": CodeOf(code), "message": message} with HttpStatusOf(code); bytes of the message
  // that are not well-formed UTF-8 become U+FFFD, so the body is always valid JSON.
  [[nodiscard]] static Reply FromError(const Error& error);

  Reply& With(std::string name, std::string value);  // appends a header; returns *this
  // The value of the first header called `name` (case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string_view> Find(std::string_view name) const;
};

// ASCII case-insensitive equality, for header names.
[[nodiscard]] bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace mei::http
