#include "common/access_record.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <utility>

namespace mei {
namespace {

namespace json = boost::json;
using std::chrono::system_clock;

constexpr std::string_view kTimePrefix = R"({"time":")";
// system_clock counts nanoseconds in 64 bits on libstdc++ (until 2262); stay well inside.
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2200;
constexpr std::int64_t kMaxUnixSeconds = 7'258'118'400;  // 2200-01-01T00:00:00Z

Error Bad(std::string message) { return Error{Errc::kBadRequest, std::move(message)}; }

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0. Follows RFC 3629
// section 4: no overlong forms, no surrogates, nothing above U+10FFFF; the lead byte sets the
// length and narrows the range of the second byte.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto at = [&](std::size_t i) -> unsigned {
    return i < s.size() ? static_cast<unsigned char>(s[i]) : 0;
  };
  const unsigned lead = at(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned low = 0x80;
  unsigned high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (at(1) < low || at(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (at(i) < 0x80 || at(i) > 0xBF) return 0;
  }
  return length;
}

// `s` with every byte that does not start a well-formed UTF-8 sequence replaced by U+FFFD.
json::string ValidUtf8(std::string_view s) {
  json::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const std::size_t length = Utf8SequenceLength(s);
    if (length == 0) {
      out.append("\xEF\xBF\xBD");
      s.remove_prefix(1);
    } else {
      out.append(s.substr(0, length));
      s.remove_prefix(length);
    }
  }
  return out;
}

// Fixed-width decimal digits at s[pos, pos + width), or nullopt.
std::optional<int> Digits(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos + width > s.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// Nanoseconds from the digits after a decimal point (beyond nine digits they are dropped).
std::int64_t FractionNanoseconds(std::string_view digits) {
  std::int64_t nanoseconds = 0;
  for (std::size_t i = 0; i < 9; ++i) {
    nanoseconds = nanoseconds * 10 + (i < digits.size() ? digits[i] - '0' : 0);
  }
  return nanoseconds;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

system_clock::time_point FromNanoseconds(std::int64_t nanoseconds) {
  return system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(std::chrono::nanoseconds(nanoseconds)));
}

Result<system_clock::time_point> ParseUnixSeconds(std::string_view text) {
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (!AllDigits(whole) || (dot != std::string_view::npos && !AllDigits(fraction))) {
    return Bad("a time must be RFC 3339 (2026-11-24T12:00:00Z) or Unix seconds");
  }
  std::int64_t seconds = 0;
  for (const char c : whole) {
    seconds = seconds * 10 + (c - '0');
    if (seconds > kMaxUnixSeconds) return Bad("a time in Unix seconds is out of range");
  }
  return FromNanoseconds(seconds * 1'000'000'000 + FractionNanoseconds(fraction));
}

// RFC 3339 section 5.6 date-time: full-date "T" partial-time time-offset.
Result<system_clock::time_point> ParseRfc3339(std::string_view text) {
  const Error shape = Bad("a time must be RFC 3339 (2026-11-24T12:00:00Z) or Unix seconds");
  const auto year = Digits(text, 0, 4);
  const auto month = Digits(text, 5, 2);
  const auto day = Digits(text, 8, 2);
  const auto hour = Digits(text, 11, 2);
  const auto minute = Digits(text, 14, 2);
  const auto second = Digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return shape;
  }
  std::size_t pos = 19;
  std::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    const std::size_t end = std::min(text.find_first_not_of("0123456789", pos + 1), text.size());
    fraction = text.substr(pos + 1, end - pos - 1);
    if (fraction.empty()) return shape;
    pos = end;
  }
  std::int64_t offset_minutes = 0;
  const std::string_view zone = text.substr(std::min(pos, text.size()));
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const auto offset_hours = Digits(zone, 1, 2);
    const auto offset_minute = Digits(zone, 4, 2);
    if (!offset_hours || !offset_minute || *offset_hours > 23 || *offset_minute > 59) return shape;
    offset_minutes = (*offset_hours * 60 + *offset_minute) * (zone[0] == '-' ? -1 : 1);
  } else {
    return shape;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  // Second 60 is a leap second (RFC 3339 section 5.7); it lands on the next minute's second 0.
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) {
    return Bad("a time names a date or time of day that does not exist");
  }
  if (*year < kMinYear || *year > kMaxYear) {
    return Bad(fmt::format("a time must fall in the years {} to {}", kMinYear, kMaxYear));
  }
  const std::int64_t seconds = std::chrono::sys_days(date).time_since_epoch().count() * 86'400 +
                               *hour * 3'600 + *minute * 60 + *second - offset_minutes * 60;
  return FromNanoseconds(seconds * 1'000'000'000 + FractionNanoseconds(fraction));
}

}  // namespace

std::string FormatTimestamp(system_clock::time_point time) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(time);
  const auto days = std::chrono::floor<std::chrono::days>(ms);
  const std::chrono::year_month_day date(days);
  const std::chrono::hh_mm_ss clock(ms - days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     clock.hours().count(), clock.minutes().count(), clock.seconds().count(),
                     clock.subseconds().count());
}

Result<system_clock::time_point> ParseTimestamp(std::string_view text) {
  if (text.empty()) return Bad("a time is empty");
  if (text.size() > 64) return Bad("a time is longer than 64 characters");
  if (text.find('-') == std::string_view::npos) return ParseUnixSeconds(text);
  return ParseRfc3339(text);
}

std::string FormatAccessRecord(const AccessRecord& record) {
  // Microseconds are as fine as a request duration means anything; the shortest decimal form of
  // the rounded value keeps lines short.
  const double duration_ms = std::isfinite(record.duration_ms) && record.duration_ms > 0
                                 ? std::round(record.duration_ms * 1000.0) / 1000.0
                                 : 0.0;
  // Insertion order is serialization order: "time" first lets a reader filter by time cheaply.
  json::object o;
  o.reserve(14);
  o["time"] = FormatTimestamp(record.time);
  o["node"] = ValidUtf8(record.node);
  o["client"] = ValidUtf8(record.client);
  o["route"] = ValidUtf8(record.route);
  o["model"] = ValidUtf8(record.model);
  o["revision"] = ValidUtf8(record.revision);
  o["commit"] = ValidUtf8(record.commit);
  o["path"] = ValidUtf8(record.path);
  o["block"] = ValidUtf8(record.block);
  o["bytes"] = record.bytes;
  o["status"] = record.status;
  o["cache"] = ValidUtf8(record.cache);
  o["upstream"] = ValidUtf8(record.upstream);
  o["duration_ms"] = duration_ms;
  return json::serialize(o);
}

Result<AccessRecord> ParseAccessRecord(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  boost::system::error_code ec;
  const json::value value = json::parse(json::string_view(line.data(), line.size()), ec);
  if (ec) return Bad("access log line is not JSON: " + ec.message());
  if (!value.is_object()) return Bad("access log line is not a JSON object");
  const json::object& o = value.get_object();

  const auto string_field = [&](std::string_view key, std::string& out) -> Result<void> {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
      return Bad(fmt::format("access log line has no string \"{}\"", key));
    }
    out.assign(v->get_string().data(), v->get_string().size());
    return {};
  };
  AccessRecord record;
  std::string time;
  const std::pair<std::string_view, std::string*> strings[] = {
      {"time", &time},
      {"node", &record.node},
      {"client", &record.client},
      {"route", &record.route},
      {"model", &record.model},
      {"revision", &record.revision},
      {"commit", &record.commit},
      {"path", &record.path},
      {"block", &record.block},
      {"cache", &record.cache},
      {"upstream", &record.upstream},
  };
  for (const auto& [key, out] : strings) {
    if (auto read = string_field(key, *out); !read) return read.error();
  }
  auto parsed_time = ParseTimestamp(time);
  if (!parsed_time) return Bad("access log line: " + parsed_time.error().message);
  record.time = *parsed_time;

  const json::value* bytes = o.if_contains("bytes");
  if (bytes != nullptr && bytes->is_uint64()) {
    record.bytes = bytes->get_uint64();
  } else if (bytes != nullptr && bytes->is_int64() && bytes->get_int64() >= 0) {
    record.bytes = static_cast<std::uint64_t>(bytes->get_int64());
  } else {
    return Bad("access log line has no non-negative integer \"bytes\"");
  }
  const json::value* status = o.if_contains("status");
  if (status == nullptr || !status->is_int64() || status->get_int64() < 0 ||
      status->get_int64() > std::numeric_limits<int>::max()) {
    return Bad("access log line has no integer \"status\"");
  }
  record.status = static_cast<int>(status->get_int64());
  const json::value* duration = o.if_contains("duration_ms");
  if (duration == nullptr || !duration->is_number()) {
    return Bad("access log line has no number \"duration_ms\"");
  }
  record.duration_ms = duration->to_number<double>();
  return record;
}

std::optional<system_clock::time_point> AccessRecordTime(std::string_view line) {
  if (!line.starts_with(kTimePrefix)) return std::nullopt;
  line.remove_prefix(kTimePrefix.size());
  const std::size_t end = line.find('"');
  if (end == std::string_view::npos) return std::nullopt;
  auto time = ParseTimestamp(line.substr(0, end));
  if (!time) return std::nullopt;
  return *time;
}

}  // namespace mei
