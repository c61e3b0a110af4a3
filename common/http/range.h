// Byte ranges and conditional requests, per RFC 9110 section 14 (ranges) and section 13
// (If-None-Match, If-Range).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace mei::http {

// An inclusive byte range [first, last] of a representation, as RFC 9110 writes them.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t size() const { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

struct RangeDecision {
  enum class Kind {
    kFull,           // send the whole representation with 200 (no Range, a malformed one, too
                     // many ranges, or ranges adding up to more than the representation)
    kPartial,        // send `ranges` with 206 (one range: Content-Range; several: multipart)
    kUnsatisfiable,  // 416 with Content-Range: bytes */length
  };
  Kind kind = Kind::kFull;
  std::vector<ByteRange> ranges;  // kPartial only: clamped to the length, in request order
};

struct RangeLimits {
  std::size_t max_ranges = 64;  // more than this many ranges -> kFull, as nginx does
};

// Decides how to answer a `Range` header (nullopt: none was sent) for a representation of
// `length` bytes. Only the "bytes" unit is understood; any other unit or a syntax error means the
// header is ignored (kFull), as RFC 9110 14.2 requires. Suffix ("-500") and open ("9500-") ranges
// are supported; a last-byte past the end is clamped; ranges that start at or past the end are
// unsatisfiable, and if every range is, the answer is kUnsatisfiable. A zero-length
// representation can satisfy no range. Pure; thread-safe.
[[nodiscard]] RangeDecision DecideRange(std::optional<std::string_view> range_header,
                                        std::uint64_t length, const RangeLimits& limits = {});

// True when an If-None-Match header value matches `etag` (a quoted entity tag such as "\"ab\""),
// by weak comparison: "*" matches, W/ prefixes are ignored, lists are comma-separated. For GET and
// HEAD a match means 304 Not Modified.
[[nodiscard]] bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag);

// True when a Range may be honoured given an If-Range header value (nullopt: none sent): the
// header is absent, or it is an entity tag strongly equal to `etag`. A weak tag or an HTTP date
// (we send no Last-Modified) is not a match: then the whole representation is sent with 200.
[[nodiscard]] bool IfRangeAllowsRange(std::optional<std::string_view> if_range,
                                      std::string_view etag);

}  // namespace mei::http
