// Accept-Encoding, per RFC 9110 section 12.5.3: which content codings a client takes.
//
// Only explicitly listed codings count. "*" is not taken to cover the MEI codings
// (x-mei-bg2-zstd, x-mei-bg4-zstd), which no client understands unless it asks for them by name,
// nor zstd, so that a generic client never receives a coding it did not name. Header-only; used
// by data_plane.cc.
#pragma once

#include <string_view>

#include "common/http/message.h"

namespace mei::http::internal {

inline std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// True when a qvalue ("1", "0.5", "0.000") is above zero. A malformed one is treated as zero.
inline bool QValueIsPositive(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return false;
  if (q.size() > 1 && (q[1] != '.' || q.size() > 5)) return false;
  bool positive = q[0] == '1';
  for (std::size_t i = 2; i < q.size(); ++i) {
    if (q[i] < '0' || q[i] > '9') return false;
    positive = positive || q[i] != '0';
  }
  return positive;
}

// True when `accept_encoding` lists `coding` (case-insensitively) with a q-value above zero; the
// first listing of a coding decides.
inline bool AcceptsCoding(std::string_view accept_encoding, std::string_view coding) {
  while (!accept_encoding.empty()) {
    const std::size_t comma = accept_encoding.find(',');
    const std::string_view element = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    const std::size_t semicolon = element.find(';');
    if (!EqualsIgnoreCase(TrimOws(element.substr(0, semicolon)), coding)) continue;
    std::string_view parameters =
        semicolon == std::string_view::npos ? std::string_view() : element.substr(semicolon + 1);
    bool accepted = true;
    while (!parameters.empty()) {
      const std::size_t next = parameters.find(';');
      const std::string_view parameter = TrimOws(parameters.substr(0, next));
      parameters =
          next == std::string_view::npos ? std::string_view() : parameters.substr(next + 1);
      const std::size_t equals = parameter.find('=');
      if (equals != std::string_view::npos &&
          EqualsIgnoreCase(TrimOws(parameter.substr(0, equals)), "q")) {
        accepted = QValueIsPositive(TrimOws(parameter.substr(equals + 1)));
      }
    }
    return accepted;
  }
  return false;
}

}  // namespace mei::http::internal
