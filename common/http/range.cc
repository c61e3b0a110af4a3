#include "common/http/range.h"

#include <charconv>
#include <string_view>
#include <system_error>

#include "common/http/message.h"

namespace mei::http {
namespace {

constexpr std::string_view kOws = " \t";

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view text) {
  const std::size_t begin = text.find_first_not_of(kOws);
  if (begin == std::string_view::npos) return {};
  const std::size_t end = text.find_last_not_of(kOws);
  return text.substr(begin, end - begin + 1);
}

// Reads 1*DIGIT from the front of `text` and removes it; nullopt when there is no digit or the
// number does not fit in 64 bits.
std::optional<std::uint64_t> TakeNumber(std::string_view& text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

// One range-spec as written: "first-last", "first-" (no last) or "-suffix" (no first).
struct RangeSpec {
  std::optional<std::uint64_t> first;
  std::optional<std::uint64_t> last;  // the suffix length when `first` is absent
};

// Parses one list element, already stripped of surrounding whitespace. nullopt: not a valid
// range-spec, including "5-1" (RFC 9110 14.1.1: last-pos less than first-pos is invalid).
std::optional<RangeSpec> ParseRangeSpec(std::string_view text) {
  RangeSpec spec;
  if (text.empty()) return std::nullopt;
  if (text.front() != '-') {
    spec.first = TakeNumber(text);
    if (!spec.first) return std::nullopt;
  }
  if (text.empty() || text.front() != '-') return std::nullopt;
  text.remove_prefix(1);
  if (!text.empty()) {
    spec.last = TakeNumber(text);
    if (!spec.last || !text.empty()) return std::nullopt;
  }
  if (!spec.first && !spec.last) return std::nullopt;  // "-"
  if (spec.first && spec.last && *spec.last < *spec.first) return std::nullopt;
  return spec;
}

// The bytes of a `length`-byte representation that `spec` selects, or nullopt when it selects
// none (RFC 9110 14.1.3: first-pos at or past the end, a zero suffix, or a zero length).
std::optional<ByteRange> Resolve(const RangeSpec& spec, std::uint64_t length) {
  if (length == 0) return std::nullopt;
  if (!spec.first) {
    const std::uint64_t suffix = *spec.last;
    if (suffix == 0) return std::nullopt;
    return ByteRange{suffix >= length ? 0 : length - suffix, length - 1};
  }
  if (*spec.first >= length) return std::nullopt;
  const std::uint64_t last = spec.last && *spec.last < length - 1 ? *spec.last : length - 1;
  return ByteRange{*spec.first, last};
}

}  // namespace

// Range requests, RFC 9110 section 14. The header is `ranges-specifier = range-unit "=" range-set`
// with the unit compared case-insensitively (14.1) and `range-set = 1#range-spec`, where a
// range-spec is "first-last", "first-" or "-suffix" (14.1.1). Per the list rule of section 5.6.1,
// whitespace may surround the commas and empty list elements are ignored ("bytes=0-1,," is one
// range), but there is no whitespace after "=". A header we cannot parse, or one whose unit is not
// "bytes", is ignored (14.2: the server answers as if there were no Range). Satisfiable ranges
// (14.1.3) keep their request order and are neither merged nor sorted; unsatisfiable ones are
// dropped, and 416 is for a set in which none is left (15.5.17). Section 14.2 lets a server
// ignore range sets that look like abuse; like nginx we answer with the whole representation
// when there are more than `max_ranges` ranges or when their sizes add up to more than the
// representation (overlaps that would make us send more than a 200 would).
RangeDecision DecideRange(std::optional<std::string_view> range_header, std::uint64_t length,
                          const RangeLimits& limits) {
  const RangeDecision full;
  if (!range_header) return full;
  std::string_view value = TrimOws(*range_header);
  constexpr std::string_view kUnit = "bytes";
  if (value.size() <= kUnit.size() || !EqualsIgnoreCase(value.substr(0, kUnit.size()), kUnit) ||
      value[kUnit.size()] != '=') {
    return full;
  }
  value.remove_prefix(kUnit.size() + 1);
  if (value.empty() || IsOws(value.front())) return full;

  RangeDecision partial{RangeDecision::Kind::kPartial, {}};
  std::size_t specs = 0;
  std::uint64_t total = 0;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view element = TrimOws(value.substr(0, comma));
    if (!element.empty()) {
      if (++specs > limits.max_ranges) return full;
      const std::optional<RangeSpec> spec = ParseRangeSpec(element);
      if (!spec) return full;
      if (const std::optional<ByteRange> range = Resolve(*spec, length)) {
        if (range->size() > length - total) return full;
        total += range->size();
        partial.ranges.push_back(*range);
      }
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  if (specs == 0) return full;
  if (partial.ranges.empty()) return RangeDecision{RangeDecision::Kind::kUnsatisfiable, {}};
  return partial;
}

namespace {

// An entity-tag (RFC 9110 8.8.3): `[ "W/" ] DQUOTE *etagc DQUOTE`. `opaque` keeps its quotes.
struct EntityTag {
  std::string_view opaque;
  bool weak = false;
};

// Reads one entity-tag from the front of `text` and removes it; nullopt when there is none.
std::optional<EntityTag> TakeEntityTag(std::string_view& text) {
  EntityTag tag;
  if (text.starts_with("W/")) {
    tag.weak = true;
    text.remove_prefix(2);
  }
  if (text.empty() || text.front() != '"') return std::nullopt;
  const std::size_t close = text.find('"', 1);
  if (close == std::string_view::npos) return std::nullopt;
  for (std::size_t i = 1; i < close; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x21 || c == 0x7f) return std::nullopt;  // etagc: no controls, no space
  }
  tag.opaque = text.substr(0, close + 1);
  text.remove_prefix(close + 1);
  return tag;
}

std::string_view WithoutWeakPrefix(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  return etag;
}

}  // namespace

// Conditional requests, RFC 9110 section 13. If-None-Match is `"*" / #entity-tag` and uses the
// weak comparison (13.1.2, 8.8.3.2: the opaque tags are equal, W/ or not). If-Range is
// `entity-tag / HTTP-date` and uses the strong comparison (13.1.5: both tags strong and equal);
// since we send no Last-Modified, a date never matches. A value we cannot parse is no match.
bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag) {
  std::string_view text = TrimOws(if_none_match);
  if (text == "*") return true;
  const std::string_view own = WithoutWeakPrefix(etag);
  while (true) {
    while (!text.empty() && (text.front() == ',' || IsOws(text.front()))) text.remove_prefix(1);
    if (text.empty()) return false;
    const std::optional<EntityTag> tag = TakeEntityTag(text);
    if (!tag) return false;
    if (tag->opaque == own) return true;
    text = TrimOws(text);
    if (!text.empty() && text.front() != ',') return false;
  }
}

bool IfRangeAllowsRange(std::optional<std::string_view> if_range, std::string_view etag) {
  if (!if_range) return true;
  std::string_view text = TrimOws(*if_range);
  const std::optional<EntityTag> tag = TakeEntityTag(text);
  return tag && !tag->weak && text.empty() && tag->opaque == etag;
}

}  // namespace mei::http
