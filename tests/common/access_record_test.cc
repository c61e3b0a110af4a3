#include "common/access_record.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "tests/common/access_record_examples.h"

namespace mei {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;
using testing::FullRecord;
using testing::kNoon;
using testing::Numbered;

TEST(AccessRecordTest, LineHasExactlyTheContractKeysTimeFirst) {
  const std::string line = FormatAccessRecord(FullRecord());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(line.starts_with(R"({"time":"2026-11-24T12:00:00.123Z",)")) << line;
  const boost::json::value value = boost::json::parse(line);
  std::vector<std::string> keys;
  for (const auto& entry : value.as_object()) keys.emplace_back(entry.key());
  const std::vector<std::string> expected = {
      "time", "node",  "client", "route",  "model", "revision", "commit",
      "path", "block", "bytes",  "status", "cache", "upstream", "duration_ms"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(value.at("upstream").as_string(), "peer:edge-2");
  EXPECT_EQ(value.at("status").as_int64(), 206);
}

TEST(AccessRecordTest, InvalidUtf8IsReplacedSoEveryLineIsJson) {
  AccessRecord record = Numbered(1);
  const std::string bad_byte = "\xFF";
  const std::string overlong = "\xC0\xAF";
  const std::string surrogate = "\xED\xA0\x80";
  const std::string above_max = "\xF4\x90\x80\x80";
  const std::string emoji = "\xF0\x9F\x98\x80";
  const std::string cut_short = "\xE6\xA8";
  record.path = "a" + bad_byte + "b" + overlong + "c" + surrogate + "d" + above_max + emoji +
                std::string(1, '\0') + cut_short;
  record.client = "ok-ü";
  const std::string line = FormatAccessRecord(record);
  auto parsed = ParseAccessRecord(line);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(parsed->path, "a" + r + "b" + r + r + "c" + r + r + r + "d" + r + r + r + r + emoji +
                              std::string(1, '\0') + r + r);
  EXPECT_EQ(parsed->client, "ok-ü");
}

TEST(AccessRecordTest, NonFiniteOrNegativeDurationIsLoggedAsZero) {
  for (const double duration :
       {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    AccessRecord record = Numbered(1);
    record.duration_ms = duration;
    auto parsed = ParseAccessRecord(FormatAccessRecord(record));
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(parsed->duration_ms, 0.0) << duration;
  }
}

TEST(ParseAccessRecordTest, RejectsLinesThatDoNotHoldARecord) {
  const std::string good = FormatAccessRecord(Numbered(7));
  ASSERT_TRUE(ParseAccessRecord(good).has_value());
  ASSERT_TRUE(ParseAccessRecord(good + "\n").has_value());
  ASSERT_TRUE(ParseAccessRecord(good + "\r\n").has_value());
  const auto without = [&](std::string_view key) {
    boost::json::object o = boost::json::parse(good).as_object();
    o.erase(key);
    return boost::json::serialize(o);
  };
  const auto with = [&](std::string_view key, boost::json::value value) {
    boost::json::object o = boost::json::parse(good).as_object();
    o[key] = std::move(value);
    return boost::json::serialize(o);
  };
  const std::string bad[] = {
      "",
      "[]",
      "not json",
      good.substr(0, good.size() - 1),
      without("time"),
      without("upstream"),
      without("duration_ms"),
      with("time", "yesterday"),
      with("node", 5),
      with("bytes", -1),
      with("bytes", "12"),
      with("status", 200.5),
      with("status", 1ll << 40),
      with("duration_ms", "fast"),
  };
  for (const std::string& line : bad) {
    auto parsed = ParseAccessRecord(line);
    ASSERT_FALSE(parsed.has_value()) << line;
    EXPECT_EQ(parsed.error().code, Errc::kBadRequest);
  }
  auto extra = ParseAccessRecord(with("future_field", true));
  ASSERT_TRUE(extra.has_value());
  EXPECT_EQ(extra->bytes, 7u);
}

TEST(FormatTimestampTest, IsUtcTruncatedToTheMillisecond) {
  EXPECT_EQ(FormatTimestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(kNoon + std::chrono::microseconds(123'999)),
            "2026-11-24T12:00:00.123Z");
  EXPECT_EQ(FormatTimestamp(kNoon + seconds(86'399) + milliseconds(999)),
            "2026-11-25T11:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(system_clock::time_point(seconds(951'782'400))),
            "2000-02-29T00:00:00.000Z");
}

TEST(ParseTimestampTest, AcceptsRfc3339AndUnixSeconds) {
  struct Case {
    std::string_view text;
    system_clock::time_point expected;
  };
  const Case cases[] = {
      {"2026-11-24T12:00:00Z", kNoon},
      {"2026-11-24t12:00:00z", kNoon},
      {"2026-11-24T12:00:00.123Z", kNoon + milliseconds(123)},
      {"2026-11-24T12:00:00.5Z", kNoon + milliseconds(500)},
      {"2026-11-24T12:00:00.000001Z", kNoon + std::chrono::microseconds(1)},
      {"2026-11-24T12:00:00.1234567899Z", kNoon + std::chrono::nanoseconds(123'456'789)},
      {"2026-11-24T14:00:00+02:00", kNoon},
      {"2026-11-24T11:30:00-00:30", kNoon},
      {"2026-11-24T12:00:00+00:00", kNoon},
      {"2026-12-31T23:59:60Z", system_clock::time_point(seconds(1'798'761'600))},
      {"1970-01-01T00:00:00Z", system_clock::time_point{}},
      {"1795521600", kNoon},
      {"1795521600.25", kNoon + milliseconds(250)},
      {"0", system_clock::time_point{}},
  };
  for (const Case& c : cases) {
    auto parsed = ParseTimestamp(c.text);
    ASSERT_TRUE(parsed.has_value()) << c.text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, c.expected) << c.text;
  }
}

TEST(ParseTimestampTest, RejectsEverythingElse) {
  const std::string_view bad[] = {
      "",
      " 2026-11-24T12:00:00Z",
      "2026-11-24T12:00:00Z ",
      "2026-11-24",
      "2026-11-24T12:00:00",
      "2026-11-24 12:00:00Z",
      "2026-11-24T12:00Z",
      "2026-11-24T12:00:00.Z",
      "2026-11-24T12:00:00+0200",
      "2026-11-24T12:00:00+24:00",
      "2026-13-01T00:00:00Z",
      "2026-02-29T00:00:00Z",
      "2026-11-31T00:00:00Z",
      "2026-11-24T24:00:00Z",
      "2026-11-24T12:60:00Z",
      "2026-11-24T12:00:61Z",
      "1969-12-31T23:59:59Z",
      "9999-01-01T00:00:00Z",
      "-5",
      "1e9",
      "12ab",
      "1795521600.",
      ".5",
      "99999999999",
      "184467440737095516160000",
  };
  for (const std::string_view text : bad) {
    auto parsed = ParseTimestamp(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code, Errc::kBadRequest) << text;
  }
}

TEST(ParseTimestampTest, ReadsBackWhatFormatTimestampWrites) {
  for (const auto time : {kNoon, kNoon + milliseconds(1), kNoon + milliseconds(999),
                          system_clock::time_point(seconds(951'782'400))}) {
    auto parsed = ParseTimestamp(FormatTimestamp(time));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, time);
  }
}

TEST(AccessRecordTimeTest, ReadsTheLeadingTimeAndNothingElse) {
  EXPECT_EQ(AccessRecordTime(FormatAccessRecord(FullRecord())), kNoon + milliseconds(123));
  EXPECT_EQ(AccessRecordTime(R"({"node":"x","time":"2026-11-24T12:00:00Z"})"), std::nullopt);
  EXPECT_EQ(AccessRecordTime(R"({"time":"noon"})"), std::nullopt);
  EXPECT_EQ(AccessRecordTime(""), std::nullopt);
}

}  // namespace
}  // namespace mei
