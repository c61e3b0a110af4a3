#include "common/http/admin_auth.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <span>
#include <utility>

namespace mei::http {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n";
// Room for trailing whitespace after the longest acceptable token.
constexpr std::size_t kMaxTokenFileSize = kMaxAdminTokenSize + 64;

std::string_view Trim(std::string_view s) {
  const std::size_t first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const std::size_t last = s.find_last_not_of(kWhitespace);
  return s.substr(first, last - first + 1);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
           return lower(x) == lower(y);
         });
}

Sha256Digest DigestOf(std::string_view text) {
  return Sha256Of(std::as_bytes(std::span<const char>(text.data(), text.size())));
}

Error Unauthorized(std::string message) { return Error{Errc::kUnauthorized, std::move(message)}; }

Error Io(const std::filesystem::path& file, std::string_view what, int error) {
  return Error{Errc::kIo, fmt::format("admin token file {}: {}: {}", file.string(), what,
                                      std::strerror(error))};
}

}  // namespace

Result<void> ValidateAdminToken(std::string_view token) {
  if (token.size() < kMinAdminTokenSize) {
    return Error{Errc::kBadRequest,
                 fmt::format("the admin token has {} characters; it needs at least {}",
                             token.size(), kMinAdminTokenSize)};
  }
  if (token.size() > kMaxAdminTokenSize) {
    return Error{Errc::kBadRequest,
                 fmt::format("the admin token is longer than {} characters", kMaxAdminTokenSize)};
  }
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c >= 0x21 && c <= 0x7E; })) {
    return Error{Errc::kBadRequest,
                 "the admin token holds a space, a control character or a non-ASCII byte"};
  }
  return {};
}

Result<std::string> LoadAdminToken(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Io(file, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return Io(file, "cannot stat", error);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{Errc::kIo,
                 fmt::format("admin token file {} is not a regular file", file.string())};
  }
  std::string content(kMaxTokenFileSize + 1, '\0');
  std::size_t size = 0;
  while (size < content.size()) {
    const ssize_t got = ::read(fd, content.data() + size, content.size() - size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      OPENSSL_cleanse(content.data(), content.size());
      return Io(file, "cannot read", error);
    }
    if (got == 0) break;
    size += static_cast<std::size_t>(got);
  }
  ::close(fd);
  std::string_view text(content.data(), size);
  Result<std::string> result = Error{};
  if (size > kMaxTokenFileSize) {
    result = Error{Errc::kIo, fmt::format("admin token file {} is larger than {} bytes",
                                          file.string(), kMaxTokenFileSize)};
  } else if (const std::string_view token = text.substr(0, text.find_last_not_of(kWhitespace) + 1);
             token.empty()) {
    result = Error{Errc::kBadRequest, fmt::format("admin token file {} is empty", file.string())};
  } else if (auto valid = ValidateAdminToken(token); !valid) {
    result = Error{Errc::kBadRequest,
                   fmt::format("admin token file {}: {}", file.string(), valid.error().message)};
  } else {
    result = std::string(token);
  }
  OPENSSL_cleanse(content.data(), content.size());
  return result;
}

Result<std::string> ResolveAdminToken(const std::filesystem::path& file,
                                      std::string_view file_flag) {
  if (!file.empty()) return LoadAdminToken(file);
  const char* token = std::getenv("MEI_ADMIN_TOKEN");
  if (token == nullptr || *token == '\0') {
    return Error{Errc::kBadRequest,
                 fmt::format("no admin token: give {} FILE or set MEI_ADMIN_TOKEN", file_flag)};
  }
  if (auto valid = ValidateAdminToken(token); !valid) return valid.error();
  return std::string(token);
}

Result<std::string> GenerateAdminToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return Error{Errc::kInternal, "the random generator could not make an admin token"};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  token.reserve(2 * sizeof(bytes));
  for (const unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 0xF]);
  }
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return token;
}

std::string RedactAuthorization(std::string_view authorization_header) {
  const std::string_view value = Trim(authorization_header);
  if (value.empty()) return "";
  // Only well-known schemes are kept: an arbitrary first word could be part of a secret.
  const std::string_view scheme = value.substr(0, value.find_first_of(kWhitespace));
  for (const std::string_view known : {"Bearer", "Basic"}) {
    if (EqualsIgnoringCase(scheme, known)) return std::string(known) + " [redacted]";
  }
  return "[redacted]";
}

AdminAuth::AdminAuth(std::string token) : token_digest_(DigestOf(token)) {
  OPENSSL_cleanse(token.data(), token.size());
}

Result<void> AdminAuth::Check(std::string_view authorization_header) const {
  const std::string_view value = Trim(authorization_header);
  if (value.empty()) {
    return Unauthorized("the admin API needs an \"Authorization: Bearer <token>\" header");
  }
  const std::size_t space = value.find_first_of(kWhitespace);
  if (space == std::string_view::npos || !EqualsIgnoringCase(value.substr(0, space), "Bearer")) {
    return Unauthorized("the Authorization header must be \"Bearer <token>\"");
  }
  const std::string_view presented = Trim(value.substr(space));
  // An empty token never matches: the constructor's REQUIRES aside, nothing empty gets here.
  if (presented.empty()) return Unauthorized("the Authorization header carries no bearer token");
  const Sha256Digest presented_digest = DigestOf(presented);
  if (CRYPTO_memcmp(presented_digest.Binary().data(), token_digest_.Binary().data(),
                    Sha256Digest::kSize) != 0) {
    return Unauthorized("the bearer token is not the admin token");
  }
  return {};
}

}  // namespace mei::http
