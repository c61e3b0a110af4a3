// admin_token_probe: one admin-token check, for hostile_client_test's constant-time test, which
// runs this program under `valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect=*MeasuredCheck*` and compares the instructions counted inside MeasuredCheck.
//
//   admin_token_probe [--naive] ADMIN_TOKEN_FILE PRESENTED_TOKEN_FILE
//
// Checks "Authorization: Bearer <presented token>" with mei::http::AdminAuth against the admin
// token; with --naive, compares the two tokens with std::string equality instead (a compare that
// stops at the first difference and at a length mismatch: the test's proof that its measurement
// sees such leaks). The check runs once unmeasured first, so that one-time work (OpenSSL's CPU
// detection and algorithm fetch, the allocator's first chunks) is not counted. Exit status: 0
// accepted, 1 refused, 2 usage or unreadable file.
//
// The tokens come from files into buffers of one fixed capacity, so that nothing else in the
// process moves with their lengths: the command line (on the stack) is the same length for every
// pair of tokens, and so are the heap chunks. Otherwise the check's own instruction count would
// vary by a few instructions with where OpenSSL's algorithm names land relative to a page boundary
// (glibc's AVX2 strcmp takes another path near one), which says nothing about the compare.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/http/admin_auth.h"

namespace {

[[gnu::noinline]] bool MeasuredCheck(const mei::http::AdminAuth& auth, const std::string& header) {
  return static_cast<bool>(auth.Check(header));
}

[[gnu::noinline]] bool MeasuredNaiveCheck(const std::string& token, const std::string& presented) {
  return token == presented;
}

// The content of `path` without its trailing newline, in a buffer of kBufferBytes; nullopt when
// it cannot be read or does not fit.
constexpr std::size_t kBufferBytes = 8192;

std::optional<std::string> ReadToken(const char* path) {
  std::string token;
  token.reserve(kBufferBytes);
  std::ifstream in(path, std::ios::binary);
  for (char c; in.get(c);) {
    if (token.size() + 1 >= kBufferBytes) return std::nullopt;
    token.push_back(c);
  }
  if (!in.eof()) return std::nullopt;
  if (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  const bool naive = argc == 4 && std::strcmp(argv[1], "--naive") == 0;
  if (argc != (naive ? 4 : 3)) {
    std::fprintf(stderr,
                 "usage: admin_token_probe [--naive] ADMIN_TOKEN_FILE PRESENTED_TOKEN_FILE\n");
    return 2;
  }
  std::optional<std::string> token = ReadToken(argv[naive ? 2 : 1]);
  const std::optional<std::string> presented = ReadToken(argv[naive ? 3 : 2]);
  if (!token || !presented) {
    std::fprintf(stderr, "admin_token_probe: cannot read the tokens\n");
    return 2;
  }
  bool accepted = false;
  if (naive) {
    accepted = *token == *presented;
    accepted = MeasuredNaiveCheck(*token, *presented);
  } else {
    const mei::http::AdminAuth auth(std::move(*token));
    std::string header;
    header.reserve(kBufferBytes);
    header.append("Bearer ").append(*presented);
    accepted = static_cast<bool>(auth.Check(header));
    accepted = MeasuredCheck(auth, header);
  }
  return accepted ? 0 : 1;
}
