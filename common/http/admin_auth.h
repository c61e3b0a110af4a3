// Bearer-token authentication of the admin APIs of the cache node and the origin (RFC 6750
// section 2.1; docs/ARCHITECTURE.md, "Admin APIs"). The token comes from a file or the
// environment, never from a command line, and never appears in an error message or a log line:
// messages name the problem, not the value.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/errc.h"

namespace mei::http {

inline constexpr std::size_t kMinAdminTokenSize = 16;
inline constexpr std::size_t kMaxAdminTokenSize = 4096;

// A token is acceptable when it has kMinAdminTokenSize to kMaxAdminTokenSize characters, all
// visible ASCII (0x21-0x7E: no spaces, so that "Bearer <token>" can carry it). kBadRequest
// otherwise, with a message that does not contain the token. Thread-safe.
[[nodiscard]] Result<void> ValidateAdminToken(std::string_view token);

// Reads the admin token from `file`, dropping trailing whitespace (the newline an editor or
// `echo` adds, "\r\n" too), then validates it as ValidateAdminToken does. kIo when the file
// cannot be read or is larger than kMaxAdminTokenSize plus some whitespace; kBadRequest when it
// is empty or the token is unacceptable. Messages name the file, never its content. Thread-safe.
[[nodiscard]] Result<std::string> LoadAdminToken(const std::filesystem::path& file);

// The admin token a program was given: from `file` when it is non-empty (LoadAdminToken), else
// from the environment variable MEI_ADMIN_TOKEN (validated as ValidateAdminToken does). When
// neither is there: kBadRequest "no admin token: give <file_flag> FILE or set MEI_ADMIN_TOKEN".
// Thread-safe as long as nobody changes the environment meanwhile.
[[nodiscard]] Result<std::string> ResolveAdminToken(const std::filesystem::path& file,
                                                    std::string_view file_flag);

// A fresh token: 32 bytes from OpenSSL's RAND_bytes as 64 lowercase hex digits, for deployments
// that have none. kInternal if the generator fails. Thread-safe.
[[nodiscard]] Result<std::string> GenerateAdminToken();

// An Authorization header value fit for a log: the scheme kept ("Bearer [redacted]"), the
// credentials never; "[redacted]" when there is no recognisable scheme; "" for "". Thread-safe.
[[nodiscard]] std::string RedactAuthorization(std::string_view authorization_header);

// Checks Authorization header values against the admin token. Only the SHA-256 of the token is
// kept, and a presented token is compared by the SHA-256 of it with CRYPTO_memcmp, so neither
// the content nor the length of the token shows in the time a check takes.
//
// Immutable after construction: Check may be called from any number of threads at once. Copyable.
class AdminAuth {
 public:
  // REQUIRES: `token` is non-empty (LoadAdminToken or ValidateAdminToken vouch for it). The
  // argument's buffer is wiped once hashed.
  explicit AdminAuth(std::string token);

  // Accepts exactly "Bearer <token>": the scheme in any letter case, one or more spaces, then the
  // token (surrounding whitespace ignored). Anything else, an empty value included, is
  // kUnauthorized with a message that never repeats the value.
  [[nodiscard]] Result<void> Check(std::string_view authorization_header) const;

 private:
  Sha256Digest token_digest_;
};

}  // namespace mei::http
