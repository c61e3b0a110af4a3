// Request targets as the data plane reads them: the path split into percent-decoded segments, and
// the query string kept for the few routes that read one.
//
// Each segment is decoded on its own (RFC 3986 section 2.4), so "%2F" inside a segment stays part
// of that segment instead of becoming a separator; the routes decide what a '/' inside a segment
// means (allowed in a revision such as "refs%2Fpr%2F1", a 400 inside a file path component).
// Header-only; used by the data plane and the admin APIs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "common/internal/utf8.h"

namespace mei::http {

struct Target {
  std::vector<std::string> segments;  // decoded; the leading '/' and a trailing '/' dropped
  std::string query;                  // after '?', still encoded; empty when there is none
};

inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (either case); with `plus_is_space` also '+' (form encoding). kBadRequest
// for a '%' not followed by two hex digits.
[[nodiscard]] inline Result<std::string> PercentDecode(std::string_view text,
                                                       bool plus_is_space = false) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      const int high = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return Error{Errc::kBadRequest, "the request target has a malformed percent escape"};
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

// Splits and decodes a request target ("/a/b%20c?x=1"). kBadRequest when it does not start with
// '/' or has a malformed escape; kBadPath when a decoded segment is "." or "..", is not valid UTF-8
// (RFC 3629: "%c0%ae", an overlong '.', is no '.' but no character either; manifests are JSON, so
// no name they hold can be invalid UTF-8), or a segment is empty ("//"), except for one trailing
// '/'.
[[nodiscard]] inline Result<Target> ParseTarget(std::string_view target) {
  Target parsed;
  if (const std::size_t question = target.find('?'); question != std::string_view::npos) {
    parsed.query = std::string(target.substr(question + 1));
    target = target.substr(0, question);
  }
  if (target.empty() || target.front() != '/') {
    return Error{Errc::kBadRequest, "the request target is not an absolute path"};
  }
  target.remove_prefix(1);
  if (!target.empty() && target.back() == '/') target.remove_suffix(1);
  if (target.empty()) return parsed;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = target.find('/', start);
    const std::string_view raw = target.substr(start, slash - start);
    auto segment = PercentDecode(raw);
    if (!segment) return segment.error();
    if (segment->empty() || *segment == "." || *segment == "..") {
      return Error{Errc::kBadPath, "the request path has an empty, \".\" or \"..\" segment"};
    }
    if (!mei::internal::IsValidUtf8(*segment)) {
      return Error{Errc::kBadPath, "the request path is not valid UTF-8"};
    }
    parsed.segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parsed;
}

// Every decoded value of `key` in a query or form body ("a=1&b=2&a=3"), in order. A key without
// '=' has the empty value; pairs that do not decode are skipped.
[[nodiscard]] inline std::vector<std::string> QueryValues(std::string_view query,
                                                          std::string_view key) {
  std::vector<std::string> values;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    auto name = PercentDecode(pair.substr(0, equals), /*plus_is_space=*/true);
    if (!name || *name != key) continue;
    if (equals == std::string_view::npos) {
      values.emplace_back();
    } else if (auto value = PercentDecode(pair.substr(equals + 1), /*plus_is_space=*/true)) {
      values.push_back(std::move(*value));
    }
  }
  return values;
}

// The first value of `key` (see QueryValues), or nullopt.
[[nodiscard]] inline std::optional<std::string> QueryValue(std::string_view query,
                                                           std::string_view key) {
  std::vector<std::string> values = QueryValues(query, key);
  if (values.empty()) return std::nullopt;
  return std::move(values.front());
}

// "true", "True", "1" and the like: the spellings of a boolean query flag that clients send
// (Python's requests sends "True", JavaScript "true").
[[nodiscard]] inline bool IsTrueFlag(std::string_view value) {
  if (value == "1") return true;
  if (value.size() != 4) return false;
  static constexpr std::string_view kTrue = "true";
  for (std::size_t i = 0; i < 4; ++i) {
    const char c = value[i] >= 'A' && value[i] <= 'Z' ? static_cast<char>(value[i] + 32) : value[i];
    if (c != kTrue[i]) return false;
  }
  return true;
}

}  // namespace mei::http
