#include "common/http/range.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace mei::http {

void PrintTo(const ByteRange& range, std::ostream* out) {
  *out << range.first << "-" << range.last;
}

namespace {

using Kind = RangeDecision::Kind;

struct PartialCase {
  std::string header;
  std::uint64_t length;
  std::vector<ByteRange> ranges;
};

TEST(DecideRangeTest, SatisfiableRangesAreClampedAndKeptInRequestOrder) {
  const std::vector<PartialCase> cases = {
      {"bytes=0-4", 10, {{0, 4}}},                     // single
      {"bytes=9-9", 10, {{9, 9}}},                     // last byte
      {"bytes=-3", 10, {{7, 9}}},                      // suffix
      {"bytes=6-", 10, {{6, 9}}},                      // open
      {"bytes=0-", 10, {{0, 9}}},                      // open from the start
      {"bytes=-20", 10, {{0, 9}}},                     // suffix longer than the file
      {"bytes=-10", 10, {{0, 9}}},                     // suffix as long as the file
      {"bytes=0-100", 10, {{0, 9}}},                   // last past the end is clamped
      {"bytes=0-18446744073709551615", 10, {{0, 9}}},  // largest last-pos
      {"bytes=-18446744073709551615", 10, {{0, 9}}},   // largest suffix
      {"bytes=0-0,-1", 10, {{0, 0}, {9, 9}}},          // multi
      {"bytes=5-8,0-1", 10, {{5, 8}, {0, 1}}},         // out of order, not sorted
      {"bytes=0-2,1-3", 10, {{0, 2}, {1, 3}}},         // overlapping, not merged
      {"bytes=0-1,2-3", 10, {{0, 1}, {2, 3}}},         // adjacent, not merged
      {"bytes=0-4,5-9", 10, {{0, 4}, {5, 9}}},         // sizes add up to the length
      {"BYTES=0-1", 10, {{0, 1}}},                     // the unit is case-insensitive
      {"Bytes=0-1", 10, {{0, 1}}},                     //
      {"bytes=0-1 , 3-4", 10, {{0, 1}, {3, 4}}},       // whitespace around commas
      {"bytes=0-1,\t3-4", 10, {{0, 1}, {3, 4}}},       //
      {"  bytes=0-1  ", 10, {{0, 1}}},                 // around the field value
      {"bytes=0-1,,", 10, {{0, 1}}},                   // empty elements (RFC 9110 5.6.1.2)
      {"bytes=,0-1", 10, {{0, 1}}},                    //
      {"bytes=0-1, ,3-4", 10, {{0, 1}, {3, 4}}},       //
      {"bytes=0-1,20-30", 10, {{0, 1}}},               // mixed: unsatisfiable dropped
      {"bytes=20-30,-0,3-4", 10, {{3, 4}}},            //
      {"bytes=10-,9-", 10, {{9, 9}}},                  // first == length dropped
      {"bytes=0-0", 1, {{0, 0}}},                      // one-byte representation
      {"bytes=00-01", 10, {{0, 1}}},                   // leading zeros are digits
  };
  for (const PartialCase& c : cases) {
    SCOPED_TRACE(c.header + " of " + std::to_string(c.length));
    const RangeDecision decision = DecideRange(c.header, c.length);
    EXPECT_EQ(decision.kind, Kind::kPartial);
    EXPECT_EQ(decision.ranges, c.ranges);
  }
}

struct KindCase {
  std::string header;
  std::uint64_t length;
};

TEST(DecideRangeTest, RangesThatSelectNoByteAreUnsatisfiable) {
  const std::vector<KindCase> cases = {
      {"bytes=10-", 10},        // first == length
      {"bytes=10-20", 10},      // past the end
      {"bytes=50-60,70-", 10},  // every range past the end
      {"bytes=-0", 10},         // empty suffix
      {"bytes=-0,10-", 10},     //
      {"bytes=0-0", 0},         // zero-length representation
      {"bytes=0-", 0},          //
      {"bytes=-5", 0},          //
      {"bytes=0-0,-1", 0},      //
  };
  for (const KindCase& c : cases) {
    SCOPED_TRACE(c.header + " of " + std::to_string(c.length));
    const RangeDecision decision = DecideRange(c.header, c.length);
    EXPECT_EQ(decision.kind, Kind::kUnsatisfiable);
    EXPECT_TRUE(decision.ranges.empty());
  }
}

TEST(DecideRangeTest, MalformedHeadersAreIgnored) {
  const std::vector<std::string> headers = {
      "",
      "bytes",
      "bytes=",
      "bytes=,",
      "bytes= ,",
      "bytes=a-b",
      "bytes=0-b",
      "bytes=5-1",      // last before first
      "bytes=0-1,5-1",  // one invalid range invalidates the set
      "bytes=20-10",    // invalid, not unsatisfiable
      "bytes=-",
      "bytes=--1",
      "bytes=0--1",
      "bytes=-1-2",
      "bytes=1-2-3",
      "bytes=+1-2",
      "bytes=0x1-2",
      "bytes=1",
      "bytes=1 -2",  // no whitespace inside a range
      "bytes=1- 2",
      "bytes= 0-1",  // no whitespace after '='
      "bytes =0-1",
      "bytes:0-1",
      "bytes 0-1",
      "bytes=0-1;",
      "bytes=0-1,a",
      "bytes=0-1 2-3",
      "items=0-1",  // unknown unit
      "byte=0-1",
      "bytesx=0-1",
      "=0-1",
      "bytes=18446744073709551616-",  // 2^64 overflows
      "bytes=0-18446744073709551616",
      "bytes=-18446744073709551616",
      "bytes=0-99999999999999999999999999999999",
  };
  for (const std::string& header : headers) {
    SCOPED_TRACE("\"" + header + "\"");
    const RangeDecision decision = DecideRange(header, 10);
    EXPECT_EQ(decision.kind, Kind::kFull);
    EXPECT_TRUE(decision.ranges.empty());
  }
}

TEST(DecideRangeTest, AbsentHeaderMeansFull) {
  EXPECT_EQ(DecideRange(std::nullopt, 10).kind, Kind::kFull);
  EXPECT_EQ(DecideRange(std::nullopt, 0).kind, Kind::kFull);
}

std::string ManyRanges(std::size_t count) {
  std::string header = "bytes=";
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) header += ",";
    header += std::to_string(i) + "-" + std::to_string(i);
  }
  return header;
}

TEST(DecideRangeTest, MoreRangesThanTheLimitMeanFull) {
  const RangeDecision at_limit = DecideRange(ManyRanges(64), 1000);
  EXPECT_EQ(at_limit.kind, Kind::kPartial);
  EXPECT_EQ(at_limit.ranges.size(), 64u);
  EXPECT_EQ(at_limit.ranges.back(), (ByteRange{63, 63}));

  EXPECT_EQ(DecideRange(ManyRanges(65), 1000).kind, Kind::kFull);
  EXPECT_EQ(DecideRange(ManyRanges(3), 1000, RangeLimits{.max_ranges = 2}).kind, Kind::kFull);
  EXPECT_EQ(DecideRange(ManyRanges(2), 1000, RangeLimits{.max_ranges = 2}).kind, Kind::kPartial);
}

TEST(DecideRangeTest, RangesAddingUpToMoreThanTheLengthMeanFull) {
  const std::vector<KindCase> cases = {
      {"bytes=0-,0-", 10},
      {"bytes=0-5,5-9", 10},
      {"bytes=-6,-6", 10},
      {"bytes=0-9,0-0", 10},
      {"bytes=0-0,0-0", 1},
      {"bytes=0-18446744073709551615,0-18446744073709551615", 18446744073709551615u},
  };
  for (const KindCase& c : cases) {
    SCOPED_TRACE(c.header + " of " + std::to_string(c.length));
    EXPECT_EQ(DecideRange(c.header, c.length).kind, Kind::kFull);
  }
}

TEST(DecideRangeTest, HugeRepresentationRangesDoNotOverflow) {
  constexpr std::uint64_t kMax = 18446744073709551615u;
  const RangeDecision whole = DecideRange("bytes=0-", kMax);
  ASSERT_EQ(whole.kind, Kind::kPartial);
  EXPECT_EQ(whole.ranges, (std::vector<ByteRange>{{0, kMax - 1}}));
  EXPECT_EQ(whole.ranges.front().size(), kMax);

  const RangeDecision suffix = DecideRange("bytes=-1", kMax);
  ASSERT_EQ(suffix.kind, Kind::kPartial);
  EXPECT_EQ(suffix.ranges, (std::vector<ByteRange>{{kMax - 1, kMax - 1}}));
}

struct ConditionalCase {
  std::string header;
  std::string etag;
  bool expected;
};

TEST(IfNoneMatchTest, MatchesByWeakComparison) {
  const std::vector<ConditionalCase> cases = {
      {R"("abc")", R"("abc")", true},
      {"*", R"("abc")", true},
      {" * ", R"("abc")", true},
      {R"(W/"abc")", R"("abc")", true},  // weak tag, strong etag
      {R"("abc")", R"(W/"abc")", true},  // strong tag, weak etag
      {R"(W/"abc")", R"(W/"abc")", true},
      {R"("x", "abc")", R"("abc")", true},  // list
      {R"("x",W/"abc")", R"("abc")", true},
      {"  \"x\" ,\t\"abc\"  ", R"("abc")", true},  // whitespace and a tab
      {R"("x",,"abc")", R"("abc")", true},         // empty element
      {R"("a,b")", R"("a,b")", true},              // comma inside a tag
      {R"("abd")", R"("abc")", false},
      {R"("ab")", R"("abc")", false},
      {R"("x", "y")", R"("abc")", false},
      {"abc", R"("abc")", false},         // unquoted
      {R"("abc)", R"("abc")", false},     // unterminated
      {R"(w/"abc")", R"("abc")", false},  // W/ is case-sensitive
      {"", R"("abc")", false},
      {"**", R"("abc")", false},
      {R"("x" junk, "abc")", R"("abc")", false},  // garbage ends the list
      {R"("a c")", R"("a c")", false},            // space is not an etagc
  };
  for (const ConditionalCase& c : cases) {
    SCOPED_TRACE("If-None-Match: " + c.header + " vs ETag: " + c.etag);
    EXPECT_EQ(IfNoneMatchMatches(c.header, c.etag), c.expected);
  }
}

struct IfRangeCase {
  std::optional<std::string> header;
  std::string etag;
  bool expected;
};

TEST(IfRangeTest, AllowsRangeOnlyForAStrongMatchOrNoHeader) {
  const std::vector<IfRangeCase> cases = {
      {std::nullopt, R"("abc")", true},
      {R"("abc")", R"("abc")", true},
      {R"( "abc" )", R"("abc")", true},
      {R"(W/"abc")", R"("abc")", false},  // weak tags never match strongly
      {R"("abc")", R"(W/"abc")", false},
      {R"(W/"abc")", R"(W/"abc")", false},
      {R"("abd")", R"("abc")", false},
      {"Wed, 21 Oct 2015 07:28:00 GMT", R"("abc")", false},  // an HTTP-date
      {"garbage", R"("abc")", false},
      {"abc", R"("abc")", false},
      {"", R"("abc")", false},
      {"*", R"("abc")", false},
      {R"("abc", "abc")", R"("abc")", false},  // a list is not an If-Range value
      {R"("abc)", R"("abc")", false},
  };
  for (const IfRangeCase& c : cases) {
    SCOPED_TRACE("If-Range: " + c.header.value_or("(absent)") + " vs ETag: " + c.etag);
    const std::optional<std::string_view> header =
        c.header ? std::optional<std::string_view>(*c.header) : std::nullopt;
    EXPECT_EQ(IfRangeAllowsRange(header, c.etag), c.expected);
  }
}

}  // namespace
}  // namespace mei::http
