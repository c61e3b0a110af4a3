#include "common/http/representation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mei::http {
namespace {

constexpr std::string_view kEtag = R"("0123abcd")";

// Yields bytes [range.first, range.last] of a shared string, `chunk_size` bytes at a time; can
// be told to stop early, overrun, or fail after its first chunk.
class StringSource final : public BodySource {
 public:
  enum class Fault { kNone, kShort, kLong, kError };

  StringSource(std::shared_ptr<const std::string> data, ByteRange range, std::size_t chunk_size,
               Fault fault)
      : data_(std::move(data)),
        next_(range.first),
        end_(range.last + 1),
        chunk_size_(chunk_size),
        fault_(fault) {
    if (fault_ == Fault::kShort) end_ -= 1;
    if (fault_ == Fault::kLong) end_ += 1;
  }

  Result<Chunk> Next() override {
    if (fault_ == Fault::kError && next_ != end_ && produced_any_) {
      return Error{Errc::kUpstreamFailed, "the parent went away"};
    }
    if (next_ == end_) return Chunk{};
    const std::size_t size = std::min<std::size_t>(chunk_size_, end_ - next_);
    const auto bytes = std::as_bytes(std::span(*data_)).subspan(next_, size);
    next_ += size;
    produced_any_ = true;
    return Chunk{bytes, data_};
  }

 private:
  std::shared_ptr<const std::string> data_;
  std::size_t next_;
  std::size_t end_;
  std::size_t chunk_size_;
  Fault fault_;
  bool produced_any_ = false;
};

// A representation over an in-memory string that records every open_range call.
struct FakeFile {
  explicit FakeFile(std::string content, StringSource::Fault fault = StringSource::Fault::kNone)
      : data(std::make_shared<const std::string>(std::move(content))),
        opened(std::make_shared<std::vector<ByteRange>>()) {
    // The content is padded so that a kLong source can read past the representation's end.
    auto padded = std::make_shared<const std::string>(*data + "!");
    representation.length = data->size();
    representation.etag = std::string(kEtag);
    representation.content_type = "text/plain";
    representation.headers = {{"Cache-Control", "public, max-age=31536000, immutable"},
                              {"X-Repo-Commit", "c0ffee"}};
    representation.open_range = [padded, opened = opened, fault](ByteRange range) {
      opened->push_back(range);
      return std::make_unique<StringSource>(padded, range, 3, fault);
    };
  }

  std::shared_ptr<const std::string> data;
  std::shared_ptr<std::vector<ByteRange>> opened;
  Representation representation;
};

Request Get(std::vector<Header> headers = {}, std::string method = "GET") {
  Request request;
  request.method = std::move(method);
  request.target = "/acme/tiny/resolve/main/config.json";
  request.headers = std::move(headers);
  return request;
}

Request Head(std::vector<Header> headers = {}) { return Get(std::move(headers), "HEAD"); }

// The whole body of `reply`, from its source, or the first error.
Result<std::string> Drain(Reply& reply) {
  if (!reply.body) return reply.text;
  std::string out;
  for (int i = 0; i < 100000; ++i) {
    Result<Chunk> chunk = reply.body->Next();
    if (!chunk) return chunk.error();
    if (chunk->bytes.empty()) return out;
    out.append(reinterpret_cast<const char*>(chunk->bytes.data()), chunk->bytes.size());
  }
  return Error{Errc::kInternal, "the body never ended"};
}

std::string HeaderOr(const Reply& reply, std::string_view name) {
  return std::string(reply.Find(name).value_or("(absent)"));
}

void ExpectCommonHeaders(const Reply& reply) {
  EXPECT_EQ(HeaderOr(reply, "ETag"), kEtag);
  EXPECT_EQ(HeaderOr(reply, "Accept-Ranges"), "bytes");
  EXPECT_EQ(HeaderOr(reply, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(HeaderOr(reply, "X-Repo-Commit"), "c0ffee");
  EXPECT_EQ(reply.route, "other");
}

// The boundary of a multipart reply, or "" when the Content-Type is not multipart/byteranges.
std::string BoundaryOf(const Reply& reply) {
  const std::string type = HeaderOr(reply, "Content-Type");
  const std::string prefix = "multipart/byteranges; boundary=";
  if (!type.starts_with(prefix)) return "";
  return type.substr(prefix.size());
}

TEST(AnswerRepresentationTest, GetWithoutRangeSendsTheWholeBody) {
  FakeFile file("0123456789");
  Reply reply = AnswerRepresentation(Get(), file.representation);
  EXPECT_EQ(reply.status, 200);
  ExpectCommonHeaders(reply);
  EXPECT_EQ(HeaderOr(reply, "Content-Type"), "text/plain");
  EXPECT_FALSE(reply.Find("Content-Range"));
  EXPECT_EQ(reply.content_length, 10u);
  EXPECT_TRUE(file.opened->empty()) << "the body must be opened lazily";
  ASSERT_TRUE(reply.body);
  const Result<std::string> body = Drain(reply);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(*body, "0123456789");
  EXPECT_EQ(*file.opened, (std::vector<ByteRange>{{0, 9}}));
}

TEST(AnswerRepresentationTest, SingleRangeIs206WithContentRange) {
  struct Case {
    std::string range;
    std::string content_range;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"bytes=2-5", "bytes 2-5/10", "2345"},       {"bytes=-3", "bytes 7-9/10", "789"},
      {"bytes=8-", "bytes 8-9/10", "89"},          {"bytes=0-99", "bytes 0-9/10", "0123456789"},
      {"bytes=-50", "bytes 0-9/10", "0123456789"}, {"bytes=3-3,40-", "bytes 3-3/10", "3"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.range);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"Range", c.range}}), file.representation);
    EXPECT_EQ(reply.status, 206);
    ExpectCommonHeaders(reply);
    EXPECT_EQ(HeaderOr(reply, "Content-Type"), "text/plain");
    EXPECT_EQ(HeaderOr(reply, "Content-Range"), c.content_range);
    EXPECT_EQ(reply.content_length, c.body.size());
    EXPECT_TRUE(file.opened->empty());
    const Result<std::string> body = Drain(reply);
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(*body, c.body);
    EXPECT_EQ(file.opened->size(), 1u);
  }
}

TEST(AnswerRepresentationTest, MultipleRangesAreMultipartByteranges) {
  FakeFile file("0123456789");
  Reply reply = AnswerRepresentation(Get({{"Range", "bytes=0-1, -2,4-8"}}), file.representation);
  EXPECT_EQ(reply.status, 206);
  ExpectCommonHeaders(reply);
  EXPECT_FALSE(reply.Find("Content-Range"));
  const std::string b = BoundaryOf(reply);
  ASSERT_EQ(b.size(), 32u) << HeaderOr(reply, "Content-Type");
  EXPECT_EQ(b.find_first_not_of("0123456789abcdef"), std::string::npos) << b;

  const std::string expected =
      "\r\n--" + b + "\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01" +
      "\r\n--" + b + "\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89" +
      "\r\n--" + b + "\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-8/10\r\n\r\n45678" +
      "\r\n--" + b + "--\r\n";
  EXPECT_EQ(reply.content_length, expected.size());
  const Result<std::string> body = Drain(reply);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(*body, expected);
  EXPECT_EQ(*file.opened, (std::vector<ByteRange>{{0, 1}, {8, 9}, {4, 8}}));
}

TEST(AnswerRepresentationTest, MultipartContentLengthEqualsTheBytesProduced) {
  const std::vector<std::string> ranges = {"bytes=0-0,9-9", "bytes=0-4,5-9", "bytes=1-2,1-2,1-2",
                                           "bytes=7-,0-2", "bytes=0-0,-1,50-"};
  for (const std::string& range : ranges) {
    SCOPED_TRACE(range);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"Range", range}}), file.representation);
    ASSERT_EQ(reply.status, 206);
    ASSERT_FALSE(BoundaryOf(reply).empty());
    const Result<std::string> body = Drain(reply);
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(reply.content_length, body->size());
  }
}

TEST(AnswerRepresentationTest, EveryMultipartReplyHasItsOwnBoundary) {
  FakeFile file("0123456789");
  const Reply first = AnswerRepresentation(Get({{"Range", "bytes=0-0,2-2"}}), file.representation);
  const Reply second = AnswerRepresentation(Get({{"Range", "bytes=0-0,2-2"}}), file.representation);
  EXPECT_NE(BoundaryOf(first), BoundaryOf(second));
  EXPECT_EQ(BoundaryOf(first).size(), BoundaryOf(second).size());
}

TEST(AnswerRepresentationTest, MultipartOpensEachPartOnlyWhenReached) {
  FakeFile file("0123456789");
  Reply reply = AnswerRepresentation(Get({{"Range", "bytes=0-1,5-6"}}), file.representation);
  ASSERT_TRUE(reply.body);
  EXPECT_TRUE(file.opened->empty());
  ASSERT_TRUE(reply.body->Next());  // the first part's header
  EXPECT_TRUE(file.opened->empty());
  ASSERT_TRUE(reply.body->Next());  // the first part's bytes
  EXPECT_EQ(*file.opened, (std::vector<ByteRange>{{0, 1}}));
  ASSERT_TRUE(reply.body->Next());  // the second part's header
  EXPECT_EQ(file.opened->size(), 1u);
  ASSERT_TRUE(reply.body->Next());
  EXPECT_EQ(*file.opened, (std::vector<ByteRange>{{0, 1}, {5, 6}}));
}

TEST(AnswerRepresentationTest, HeadHasTheHeadersOfGetAndNeverOpensTheBody) {
  const std::vector<std::optional<std::string>> ranges = {std::nullopt, "bytes=2-5",
                                                          "bytes=0-1,4-5", "bytes=50-", "nonsense"};
  for (const std::optional<std::string>& range : ranges) {
    SCOPED_TRACE(range.value_or("(no Range)"));
    std::vector<Header> headers;
    if (range) headers.push_back({"Range", *range});
    FakeFile file("0123456789");
    const Reply get = AnswerRepresentation(Get(headers), file.representation);
    const Reply head = AnswerRepresentation(Head(headers), file.representation);
    EXPECT_EQ(head.status, get.status);
    EXPECT_EQ(head.content_length, get.content_length);
    ASSERT_EQ(head.headers.size(), get.headers.size());
    for (std::size_t i = 0; i < get.headers.size(); ++i) {
      EXPECT_EQ(head.headers[i].name, get.headers[i].name);
      if (head.headers[i].name == "Content-Type" && !BoundaryOf(get).empty()) {
        EXPECT_EQ(BoundaryOf(head).size(), BoundaryOf(get).size());
      } else {
        EXPECT_EQ(head.headers[i].value, get.headers[i].value);
      }
    }
    EXPECT_FALSE(head.body);
    EXPECT_TRUE(file.opened->empty());
  }
}

TEST(AnswerRepresentationTest, MatchingIfNoneMatchIs304WithoutBody) {
  const std::vector<std::string> values = {std::string(kEtag), "*", R"(W/"0123abcd")",
                                           R"("other", "0123abcd")", R"( "x" ,W/"0123abcd")"};
  for (const std::string& value : values) {
    for (const bool head : {false, true}) {
      SCOPED_TRACE(value + (head ? " HEAD" : " GET"));
      FakeFile file("0123456789");
      const std::vector<Header> headers = {{"If-None-Match", value}, {"Range", "bytes=0-1"}};
      Reply reply = AnswerRepresentation(head ? Head(headers) : Get(headers), file.representation);
      EXPECT_EQ(reply.status, 304);
      ExpectCommonHeaders(reply);
      EXPECT_FALSE(reply.Find("Content-Type"));
      EXPECT_FALSE(reply.Find("Content-Range"));
      EXPECT_EQ(reply.content_length, 0u);
      EXPECT_FALSE(reply.body);
      EXPECT_TRUE(reply.text.empty());
      EXPECT_TRUE(file.opened->empty());
    }
  }
}

TEST(AnswerRepresentationTest, NonMatchingIfNoneMatchSendsTheBody) {
  for (const std::string value : {R"("other")", R"("0123abc")", "0123abcd", ""}) {
    SCOPED_TRACE(value);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"If-None-Match", value}}), file.representation);
    EXPECT_EQ(reply.status, 200);
    const Result<std::string> body = Drain(reply);
    ASSERT_TRUE(body);
    EXPECT_EQ(*body, "0123456789");
  }
}

TEST(AnswerRepresentationTest, IfRangeDecidesBetweenPartAndWhole) {
  struct Case {
    std::string if_range;
    int status;
    std::string body;
  };
  const std::vector<Case> cases = {
      {std::string(kEtag), 206, "23"},   {R"(W/"0123abcd")", 200, "0123456789"},
      {R"("other")", 200, "0123456789"}, {"Wed, 21 Oct 2015 07:28:00 GMT", 200, "0123456789"},
      {"garbage", 200, "0123456789"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.if_range);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"Range", "bytes=2-3"}, {"If-Range", c.if_range}}),
                                       file.representation);
    EXPECT_EQ(reply.status, c.status);
    EXPECT_EQ(reply.content_length, c.body.size());
    EXPECT_EQ(reply.Find("Content-Range").has_value(), c.status == 206);
    const Result<std::string> body = Drain(reply);
    ASSERT_TRUE(body) << body.error().message;
    EXPECT_EQ(*body, c.body);
  }
}

TEST(AnswerRepresentationTest, UnsatisfiableRangeIs416WithContentRangeStar) {
  for (const std::string range : {"bytes=10-", "bytes=20-30,40-", "bytes=-0"}) {
    SCOPED_TRACE(range);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"Range", range}}), file.representation);
    EXPECT_EQ(reply.status, 416);
    ExpectCommonHeaders(reply);
    EXPECT_EQ(HeaderOr(reply, "Content-Range"), "bytes */10");
    EXPECT_EQ(HeaderOr(reply, "Content-Type"), "application/json");
    EXPECT_FALSE(reply.body);
    EXPECT_EQ(reply.content_length, reply.text.size());
    EXPECT_NE(reply.text.find(R"("error":"range_not_satisfiable")"), std::string::npos)
        << reply.text;
    EXPECT_TRUE(file.opened->empty());
  }
}

TEST(AnswerRepresentationTest, MalformedOrExcessiveRangesSendTheWholeBody) {
  for (const std::string range : {"bytes=5-1", "items=0-1", "bytes=0-,0-", "bytes=x"}) {
    SCOPED_TRACE(range);
    FakeFile file("0123456789");
    Reply reply = AnswerRepresentation(Get({{"Range", range}}), file.representation);
    EXPECT_EQ(reply.status, 200);
    EXPECT_FALSE(reply.Find("Content-Range"));
    const Result<std::string> body = Drain(reply);
    ASSERT_TRUE(body);
    EXPECT_EQ(*body, "0123456789");
  }
  FakeFile file("0123456789");
  Reply reply = AnswerRepresentation(Get({{"Range", "bytes=0-0,2-2,4-4"}}), file.representation,
                                     RangeLimits{.max_ranges = 2});
  EXPECT_EQ(reply.status, 200);
}

TEST(AnswerRepresentationTest, RangeIsIgnoredForOtherMethods) {
  FakeFile file("0123456789");
  const Reply reply =
      AnswerRepresentation(Get({{"Range", "bytes=0-1"}}, "POST"), file.representation);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_length, 10u);
}

TEST(AnswerRepresentationTest, ZeroLengthRepresentationIs200WithoutBodyAndRangesAre416) {
  FakeFile file("");
  Reply full = AnswerRepresentation(Get(), file.representation);
  EXPECT_EQ(full.status, 200);
  ExpectCommonHeaders(full);
  EXPECT_EQ(HeaderOr(full, "Content-Type"), "text/plain");
  EXPECT_EQ(full.content_length, 0u);
  const Result<std::string> body = Drain(full);
  ASSERT_TRUE(body);
  EXPECT_TRUE(body->empty());

  for (const std::string range : {"bytes=0-", "bytes=-1", "bytes=0-0,1-1"}) {
    SCOPED_TRACE(range);
    const Reply ranged = AnswerRepresentation(Get({{"Range", range}}), file.representation);
    EXPECT_EQ(ranged.status, 416);
    EXPECT_EQ(HeaderOr(ranged, "Content-Range"), "bytes */0");
  }
  EXPECT_TRUE(file.opened->empty());
}

TEST(AnswerRepresentationTest, ReplyOutlivesTheRepresentation) {
  Reply reply;
  std::shared_ptr<std::vector<ByteRange>> opened;
  {
    FakeFile file("0123456789");
    opened = file.opened;
    reply = AnswerRepresentation(Get({{"Range", "bytes=0-0,-1"}}), file.representation);
  }
  const Result<std::string> body = Drain(reply);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_NE(body->find("\r\n\r\n0\r\n"), std::string::npos);
  EXPECT_EQ(opened->size(), 2u);
}

TEST(AnswerRepresentationTest, SourcesOfTheWrongSizeAreInternalErrors) {
  for (const auto fault : {StringSource::Fault::kShort, StringSource::Fault::kLong}) {
    for (const std::string range : {"", "bytes=2-6", "bytes=0-1,4-8"}) {
      SCOPED_TRACE(range + (fault == StringSource::Fault::kShort ? " short" : " long"));
      FakeFile file("0123456789", fault);
      std::vector<Header> headers;
      if (!range.empty()) headers.push_back({"Range", range});
      Reply reply = AnswerRepresentation(Get(headers), file.representation);
      const Result<std::string> body = Drain(reply);
      ASSERT_FALSE(body);
      EXPECT_EQ(body.error().code, Errc::kInternal);
    }
  }
}

TEST(AnswerRepresentationTest, OverlongSourceFailsBeforeExceedingTheContentLength) {
  for (const std::string range : {"", "bytes=2-6", "bytes=0-1,4-8"}) {
    SCOPED_TRACE(range);
    FakeFile file("0123456789", StringSource::Fault::kLong);
    std::vector<Header> headers;
    if (!range.empty()) headers.push_back({"Range", range});
    Reply reply = AnswerRepresentation(Get(headers), file.representation);
    ASSERT_TRUE(reply.body);
    std::uint64_t yielded = 0;
    std::optional<Error> error;
    while (!error) {
      Result<Chunk> chunk = reply.body->Next();
      if (!chunk) {
        error = chunk.error();
      } else {
        ASSERT_FALSE(chunk->bytes.empty()) << "the body ended without an error";
        yielded += chunk->size();
      }
    }
    EXPECT_EQ(error->code, Errc::kInternal);
    EXPECT_LE(yielded, reply.content_length);
  }
}

TEST(AnswerRepresentationTest, PartErrorsPassThrough) {
  for (const std::string range : {"", "bytes=2-8", "bytes=0-1,3-8"}) {
    SCOPED_TRACE(range);
    FakeFile file("0123456789", StringSource::Fault::kError);
    std::vector<Header> headers;
    if (!range.empty()) headers.push_back({"Range", range});
    Reply reply = AnswerRepresentation(Get(headers), file.representation);
    const Result<std::string> body = Drain(reply);
    ASSERT_FALSE(body);
    EXPECT_EQ(body.error().code, Errc::kUpstreamFailed);
  }
}

TEST(AnswerRepresentationTest, MissingOpenRangeIsAnInternalErrorWhenTheBodyIsRead) {
  Representation representation;
  representation.length = 4;
  representation.etag = std::string(kEtag);
  Reply reply = AnswerRepresentation(Get(), representation);
  EXPECT_EQ(reply.status, 200);
  const Result<std::string> body = Drain(reply);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, Errc::kInternal);
}

}  // namespace
}  // namespace mei::http
