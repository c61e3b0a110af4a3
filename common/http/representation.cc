#include "common/http/representation.h"

#include <fmt/format.h>

#include <atomic>
#include <cstddef>
#include <random>
#include <utility>

#include "common/run_blocking.h"

namespace mei::http {
namespace {

using OpenRange = std::function<std::unique_ptr<BodySource>(ByteRange range)>;

// Streams one byte range of a representation. The range is opened on the first Next(), so that a
// reply that is never sent (HEAD, an aborted connection) never touches the store; every chunk is
// checked against the range's size, so that a short or long source cannot make the reply
// disagree with the Content-Length already sent.
class RangeSource final : public BodySource {
 public:
  RangeSource(std::shared_ptr<const OpenRange> open_range, ByteRange range)
      : open_range_(std::move(open_range)), range_(range) {}

  Result<Chunk> Next() override { return RunBlocking(NextAsync()); }

  boost::asio::awaitable<Result<Chunk>> NextAsync() override {
    if (done_) co_return Chunk{};
    if (std::optional<Error> failed = Open()) co_return *failed;
    Result<Chunk> chunk = co_await source_->NextAsync();
    co_return Account(std::move(chunk));
  }

  // Opens the range here too (open_range only constructs a body), so that a hot block's first
  // chunk is had on the I/O thread like the rest.
  std::optional<Result<Chunk>> TryNext() override {
    if (done_) return Result<Chunk>(Chunk{});
    if (std::optional<Error> failed = Open()) return Result<Chunk>(*failed);
    std::optional<Result<Chunk>> chunk = source_->TryNext();
    if (!chunk) return std::nullopt;
    return Account(std::move(*chunk));
  }

 private:
  // The range's body, opened on first use; an error when open_range gives none.
  std::optional<Error> Open() {
    if (source_) return std::nullopt;
    if (*open_range_) source_ = (*open_range_)(range_);
    if (source_) return std::nullopt;
    return Error{Errc::kInternal,
                 fmt::format("bytes {}-{} of the representation could not be opened", range_.first,
                             range_.last)};
  }

  // Checks `chunk` against what is left of the range and counts it.
  Result<Chunk> Account(Result<Chunk> chunk) {
    if (!chunk) return chunk;
    const std::uint64_t size = chunk->size();
    if (size == 0) {
      if (sent_ != range_.size()) {
        return Error{Errc::kInternal, fmt::format("bytes {}-{} of the representation ended after "
                                                  "{} of {} bytes",
                                                  range_.first, range_.last, sent_, range_.size())};
      }
      done_ = true;
      source_.reset();
      return chunk;
    }
    if (size > range_.size() - sent_) {
      return Error{Errc::kInternal,
                   fmt::format("bytes {}-{} of the representation produced more than {} bytes",
                               range_.first, range_.last, range_.size())};
    }
    sent_ += size;
    return chunk;
  }

  std::shared_ptr<const OpenRange> open_range_;
  ByteRange range_;
  std::unique_ptr<BodySource> source_;
  std::uint64_t sent_ = 0;
  bool done_ = false;
};

// A multipart/byteranges body (RFC 9110 14.6): framing text, then each part's bytes. The
// framing is built up front (it decides the Content-Length); each part is opened only when the
// body reaches it.
class MultipartSource final : public BodySource {
 public:
  // A piece of the body: framing text when `text` is set, else the bytes of `range`.
  struct Piece {
    std::shared_ptr<const std::string> text;
    ByteRange range;
  };

  MultipartSource(std::shared_ptr<const OpenRange> open_range, std::vector<Piece> pieces)
      : open_range_(std::move(open_range)), pieces_(std::move(pieces)) {}

  Result<Chunk> Next() override { return RunBlocking(NextAsync()); }

  boost::asio::awaitable<Result<Chunk>> NextAsync() override {
    while (next_ < pieces_.size()) {
      const Piece& piece = pieces_[next_];
      if (piece.text) {
        ++next_;
        co_return Chunk{std::as_bytes(std::span(*piece.text)), piece.text};
      }
      if (!part_) part_ = std::make_unique<RangeSource>(open_range_, piece.range);
      Result<Chunk> chunk = co_await part_->NextAsync();
      if (!chunk || chunk->size() != 0) co_return chunk;
      part_.reset();
      ++next_;
    }
    co_return Chunk{};
  }

 private:
  std::shared_ptr<const OpenRange> open_range_;
  std::vector<Piece> pieces_;
  std::size_t next_ = 0;
  std::unique_ptr<RangeSource> part_;
};

std::uint64_t Mix(std::uint64_t x) {  // the SplitMix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 32 hex digits, different for every reply and not guessable from the content: a per-process
// random seed mixed with a counter. Thread-safe.
std::string NewBoundary() {
  static const std::uint64_t seed = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t high = Mix(seed + n * 0x9e3779b97f4a7c15ULL);
  return fmt::format("{:016x}{:016x}", high, Mix(high ^ seed));
}

std::string ContentRange(ByteRange range, std::uint64_t length) {
  return fmt::format("bytes {}-{}/{}", range.first, range.last, length);
}

void AddCommonHeaders(Reply& reply, const Representation& representation) {
  reply.With("ETag", representation.etag).With("Accept-Ranges", "bytes");
  for (const Header& header : representation.headers) reply.headers.push_back(header);
}

Reply Multipart(const Representation& representation, const std::vector<ByteRange>& ranges,
                std::shared_ptr<const OpenRange> open_range, bool with_body) {
  const std::string boundary = NewBoundary();
  std::vector<MultipartSource::Piece> pieces;
  pieces.reserve(2 * ranges.size() + 1);
  std::uint64_t length = 0;
  for (const ByteRange& range : ranges) {
    auto text = std::make_shared<const std::string>(
        fmt::format("\r\n--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n", boundary,
                    representation.content_type, ContentRange(range, representation.length)));
    length += text->size() + range.size();
    pieces.push_back({std::move(text), {}});
    pieces.push_back({nullptr, range});
  }
  auto close = std::make_shared<const std::string>(fmt::format("\r\n--{}--\r\n", boundary));
  length += close->size();
  pieces.push_back({std::move(close), {}});

  Reply reply;
  reply.status = 206;
  reply.With("Content-Type", "multipart/byteranges; boundary=" + boundary);
  reply.content_length = length;
  if (with_body) reply.body = std::make_unique<MultipartSource>(open_range, std::move(pieces));
  return reply;
}

}  // namespace

// Evaluation order per RFC 9110 13.2.2: If-None-Match first (304, 15.4.5, keeps ETag and the
// cache headers a 200 would carry), then If-Range, then Range (14.2). HEAD answers with the
// headers GET would (9.3.2), ranges included, as nginx does; it never gets a body source.
Reply AnswerRepresentation(const Request& request, const Representation& representation,
                           const RangeLimits& limits) {
  if (const auto if_none_match = request.Find("If-None-Match");
      if_none_match && IfNoneMatchMatches(*if_none_match, representation.etag)) {
    Reply reply;
    reply.status = 304;
    AddCommonHeaders(reply, representation);
    return reply;
  }

  const bool head = request.method == "HEAD";
  RangeDecision decision;
  if ((head || request.method == "GET") &&
      IfRangeAllowsRange(request.Find("If-Range"), representation.etag)) {
    decision = DecideRange(request.Find("Range"), representation.length, limits);
  }
  const auto open_range = std::make_shared<const OpenRange>(representation.open_range);

  Reply reply;
  switch (decision.kind) {
    case RangeDecision::Kind::kUnsatisfiable:
      reply = Reply::FromError(Error{
          Errc::kRangeNotSatisfiable,
          fmt::format("no requested byte range starts within the {} bytes of the representation",
                      representation.length)});
      reply.status = 416;
      reply.With("Content-Range", fmt::format("bytes */{}", representation.length));
      break;
    case RangeDecision::Kind::kPartial:
      if (decision.ranges.size() > 1) {
        reply = Multipart(representation, decision.ranges, open_range, !head);
        break;
      }
      reply.status = 206;
      reply.With("Content-Type", representation.content_type)
          .With("Content-Range", ContentRange(decision.ranges.front(), representation.length));
      reply.content_length = decision.ranges.front().size();
      if (!head) reply.body = std::make_unique<RangeSource>(open_range, decision.ranges.front());
      break;
    case RangeDecision::Kind::kFull:
      reply.status = 200;
      reply.With("Content-Type", representation.content_type);
      reply.content_length = representation.length;
      if (!head && representation.length > 0) {
        reply.body =
            std::make_unique<RangeSource>(open_range, ByteRange{0, representation.length - 1});
      }
      break;
  }
  AddCommonHeaders(reply, representation);
  return reply;
}

}  // namespace mei::http
