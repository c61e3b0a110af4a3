// The status line and header fields of a response, as the server writes them (RFC 9112 section 4
// and RFC 9110 sections 6.6.1, 8.6, 15). Header-only; used by server.cc and its tests.
#pragma once

#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "common/http/message.h"

namespace mei::http::internal {

// Whether a response with `status` carries a body (and a Content-Length): not 1xx, 204 or 304.
[[nodiscard]] inline bool StatusHasBody(int status) {
  return status >= 200 && status != 204 && status != 304;
}

// An IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 section 5.6.7), independent of the
// C locale.
[[nodiscard]] inline std::string HttpDate(std::time_t time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&time, &tm);
  char text[64];
  const int size = std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                                 kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(text, size > 0 ? static_cast<std::size_t>(size) : 0);
}

// A field name is a token (RFC 9110 section 5.1); a value holds no CR, LF or NUL. Anything else
// could split the response, so such a header is dropped.
[[nodiscard]] inline bool IsSafeHeader(const Header& header) {
  if (header.name.empty()) return false;
  for (const char c : header.name) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token) return false;
  }
  return header.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// Fields that the server alone sets.
[[nodiscard]] inline bool IsServerField(std::string_view name) {
  for (const std::string_view field :
       {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date", "Server"}) {
    if (EqualsIgnoreCase(name, field)) return true;
  }
  return false;
}

// "HTTP/1.1 <status> <reason>", Server, Date, the reply's own headers (minus the server's fields
// and unsafe ones), Content-Length (when the status has a body; also for HEAD), Connection.
[[nodiscard]] inline std::string FormatResponseHead(const Reply& reply, bool keep_alive,
                                                    std::time_t now = std::time(nullptr)) {
  namespace beast_http = boost::beast::http;
  const auto append = [](std::string& head, std::string_view name, std::string_view value) {
    head.append(name).append(": ").append(value).append("\r\n");
  };
  std::string head;
  head.reserve(256);
  head.append("HTTP/1.1 ").append(std::to_string(reply.status)).append(" ");
  const beast_http::status status = beast_http::int_to_status(static_cast<unsigned>(reply.status));
  if (status != beast_http::status::unknown) head.append(beast_http::obsolete_reason(status));
  head.append("\r\n");
  append(head, "Server", "mei");
  append(head, "Date", HttpDate(now));
  for (const Header& header : reply.headers) {
    if (IsSafeHeader(header) && !IsServerField(header.name)) {
      append(head, header.name, header.value);
    }
  }
  if (StatusHasBody(reply.status)) {
    append(head, "Content-Length", std::to_string(reply.content_length));
  }
  append(head, "Connection", keep_alive ? "keep-alive" : "close");
  head.append("\r\n");
  return head;
}

}  // namespace mei::http::internal
