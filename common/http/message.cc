#include "common/http/message.h"

#include <boost/json.hpp>

#include "common/internal/utf8.h"

namespace mei::http {
namespace {

// `text` with every byte that does not begin a well-formed UTF-8 sequence replaced by U+FFFD, so
// that a message quoting what a client sent (a path, a target) still makes a valid JSON text
// (RFC 8259 section 8.1).
std::string WithValidUtf8(std::string_view text) {
  if (mei::internal::IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t length = 0;  // of the well-formed sequence at i: its shortest valid prefix
    for (std::size_t n = 1; n <= 4 && i + n <= text.size(); ++n) {
      if (mei::internal::IsValidUtf8(text.substr(i, n))) {
        length = n;
        break;
      }
    }
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::string_view> FindIn(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& header : headers) {
    if (EqualsIgnoreCase(header.name, name)) return std::string_view(header.value);
  }
  return std::nullopt;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> Request::Find(std::string_view name) const {
  return FindIn(headers, name);
}

std::optional<std::string_view> Reply::Find(std::string_view name) const {
  return FindIn(headers, name);
}

Reply Reply::Text(int status, std::string content_type, std::string text) {
  Reply reply;
  reply.status = status;
  reply.headers.push_back({"Content-Type", std::move(content_type)});
  reply.content_length = text.size();
  reply.text = std::move(text);
  return reply;
}

Reply Reply::Json(int status, std::string json) {
  return Text(status, "application/json", std::move(json));
}

Reply Reply::FromError(const Error& error) {
  boost::json::object body;
  body["error"] = CodeOf(error.code);
  body["message"] = WithValidUtf8(error.message);
  return Json(HttpStatusOf(error.code), boost::json::serialize(body));
}

Reply& Reply::With(std::string name, std::string value) {
  headers.push_back({std::move(name), std::move(value)});
  return *this;
}

boost::asio::awaitable<Result<Chunk>> BodySource::NextAsync() { co_return Next(); }

}  // namespace mei::http
