// Fuzz target: the Range header parser (common/http/range.h) and the replies built from it
// (common/http/representation.h), in process.
//
// The input is text: its first line is a Range header value; a second and third line, when
// present, are If-Range and If-None-Match values. For representations of several lengths (empty,
// one byte, small, and 2^40 and 2^64-1 bytes for the arithmetic), DecideRange must keep its
// contract: partial answers hold 1..max_ranges ranges inside the representation whose sizes add
// up to at most its length; the other kinds hold none. For the small lengths the GET reply is
// drained: its body must be exactly Content-Length bytes and exactly the bytes the ranges select
// (a single part, or the multipart/byteranges framing around each), and HEAD must answer the same
// head without a body.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http/message.h"
#include "common/http/range.h"
#include "common/http/representation.h"
#include "tests/fuzz/fuzz_check.h"

namespace mei::http {
namespace {

using ull = unsigned long long;

constexpr std::string_view kEtag = "\"0123abcd\"";

std::byte ByteAt(std::uint64_t offset) { return static_cast<std::byte>(offset * 31 + 7); }

// Bytes [first, last] of the representation, in chunks of at most 100 bytes.
class PatternRange final : public BodySource {
 public:
  explicit PatternRange(ByteRange range) : next_(range.first), end_(range.last + 1) {}

  Result<Chunk> Next() override {
    const std::uint64_t size = std::min<std::uint64_t>(100, end_ - next_);
    auto bytes = std::make_shared<std::vector<std::byte>>();
    for (std::uint64_t i = 0; i < size; ++i) bytes->push_back(ByteAt(next_ + i));
    next_ += size;
    return Chunk{std::span<const std::byte>(*bytes), bytes};
  }

 private:
  std::uint64_t next_;
  std::uint64_t end_;
};

std::string PatternText(ByteRange range) {
  std::string text;
  for (std::uint64_t i = range.first; i <= range.last; ++i) {
    text += static_cast<char>(ByteAt(i));
  }
  return text;
}

void CheckDecision(const RangeDecision& decision, std::uint64_t length, std::size_t max_ranges) {
  if (decision.kind != RangeDecision::Kind::kPartial) {
    FUZZ_CHECK(decision.ranges.empty(), "a non-partial decision holds %zu ranges",
               decision.ranges.size());
    return;
  }
  FUZZ_CHECK(!decision.ranges.empty() && decision.ranges.size() <= max_ranges,
             "a partial decision holds %zu ranges (at most %zu allowed)", decision.ranges.size(),
             max_ranges);
  std::uint64_t total = 0;
  for (const ByteRange& range : decision.ranges) {
    FUZZ_CHECK(range.first <= range.last && range.last < length,
               "range %llu-%llu of a %llu-byte representation", static_cast<ull>(range.first),
               static_cast<ull>(range.last), static_cast<ull>(length));
    FUZZ_CHECK(range.size() <= length - total, "ranges add up to more than %llu bytes",
               static_cast<ull>(length));
    total += range.size();
  }
}

std::string Drain(BodySource& body, std::uint64_t content_length) {
  std::string text;
  for (;;) {
    Result<Chunk> chunk = body.Next();
    FUZZ_CHECK(chunk.has_value(), "the body failed: %s", chunk.error().message.c_str());
    if (chunk->bytes.empty()) break;
    text.append(reinterpret_cast<const char*>(chunk->bytes.data()), chunk->bytes.size());
    FUZZ_CHECK(text.size() <= content_length, "the body runs past its %llu bytes",
               static_cast<ull>(content_length));
  }
  return text;
}

// The body a reply must carry for `decision`: the ranged bytes, framed as RFC 9110 14.6 says when
// there are several.
std::string ExpectedBody(const RangeDecision& decision, std::uint64_t length, const Reply& reply) {
  if (decision.kind == RangeDecision::Kind::kFull) {
    return length == 0 ? std::string() : PatternText({0, length - 1});
  }
  if (decision.ranges.size() == 1) return PatternText(decision.ranges.front());
  const std::string_view content_type = reply.Find("Content-Type").value_or("");
  constexpr std::string_view kPrefix = "multipart/byteranges; boundary=";
  FUZZ_CHECK(content_type.starts_with(kPrefix), "a multipart reply of type %.*s",
             static_cast<int>(content_type.size()), content_type.data());
  const std::string boundary(content_type.substr(kPrefix.size()));
  std::string body;
  for (const ByteRange& range : decision.ranges) {
    body += "\r\n--" + boundary +
            "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes " +
            std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
            std::to_string(length) + "\r\n\r\n" + PatternText(range);
  }
  return body + "\r\n--" + boundary + "--\r\n";
}

void CheckReplies(std::string_view range, std::optional<std::string_view> if_range,
                  std::optional<std::string_view> if_none_match, std::uint64_t length) {
  Representation representation;
  representation.length = length;
  representation.etag = std::string(kEtag);
  representation.open_range = [](ByteRange r) -> std::unique_ptr<BodySource> {
    return std::make_unique<PatternRange>(r);
  };
  Request get;
  get.method = "GET";
  get.target = "/fuzz";
  get.headers.push_back({"Range", std::string(range)});
  if (if_range) get.headers.push_back({"If-Range", std::string(*if_range)});
  if (if_none_match) get.headers.push_back({"If-None-Match", std::string(*if_none_match)});
  Request head = get;
  head.method = "HEAD";

  Reply reply = AnswerRepresentation(get, representation);
  const Reply head_reply = AnswerRepresentation(head, representation);
  FUZZ_CHECK(head_reply.status == reply.status && !head_reply.body,
             "HEAD answers %d (body %d), GET %d", head_reply.status, head_reply.body != nullptr,
             reply.status);
  if (if_none_match && IfNoneMatchMatches(*if_none_match, kEtag)) {
    FUZZ_CHECK(reply.status == 304 && !reply.body, "a matching If-None-Match answers %d",
               reply.status);
    return;
  }
  const RangeDecision decision =
      IfRangeAllowsRange(if_range, kEtag) ? DecideRange(range, length) : RangeDecision{};
  switch (decision.kind) {
    case RangeDecision::Kind::kUnsatisfiable:
      FUZZ_CHECK(reply.status == 416 && !reply.body, "unsatisfiable, answered %d", reply.status);
      FUZZ_CHECK(reply.Find("Content-Range") == "bytes */" + std::to_string(length),
                 "416 without Content-Range bytes */length");
      return;
    case RangeDecision::Kind::kFull:
      FUZZ_CHECK(reply.status == 200, "full, answered %d", reply.status);
      FUZZ_CHECK(reply.content_length == length, "a 200 of %llu bytes for %llu",
                 static_cast<ull>(reply.content_length), static_cast<ull>(length));
      break;
    case RangeDecision::Kind::kPartial:
      FUZZ_CHECK(reply.status == 206, "partial, answered %d", reply.status);
      break;
  }
  FUZZ_CHECK(head_reply.content_length == reply.content_length, "HEAD says %llu bytes, GET %llu",
             static_cast<ull>(head_reply.content_length), static_cast<ull>(reply.content_length));
  const std::string body = reply.body ? Drain(*reply.body, reply.content_length) : std::string();
  FUZZ_CHECK(body.size() == reply.content_length, "a body of %zu bytes for Content-Length %llu",
             body.size(), static_cast<ull>(reply.content_length));
  FUZZ_CHECK(body == ExpectedBody(decision, length, reply), "the body is not the ranged bytes");
}

}  // namespace
}  // namespace mei::http

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei::http;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  for (std::size_t begin = 0; lines.size() < 3;) {
    const std::size_t end = input.find('\n', begin);
    lines.push_back(input.substr(begin, end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  const std::string_view range = lines[0];
  const std::optional<std::string_view> if_range =
      lines.size() > 1 ? std::optional(lines[1]) : std::nullopt;
  const std::optional<std::string_view> if_none_match =
      lines.size() > 2 ? std::optional(lines[2]) : std::nullopt;

  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (const std::uint64_t length : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{10},
                                     std::uint64_t{1000}, std::uint64_t{1} << 40, kMax}) {
    CheckDecision(DecideRange(range, length), length, RangeLimits{}.max_ranges);
    CheckDecision(DecideRange(range, length, RangeLimits{.max_ranges = 2}), length, 2);
    if (length <= 1000) CheckReplies(range, if_range, if_none_match, length);
  }
  return 0;
}
