// An `mei-origin serve` child over a store made from mei-synth output, and what the tests that
// drive it with stock HTTP clients (curl, wget, aria2c, node) share: finding the tools, keeping
// them off proxies, reading curl's header dumps, hashing slices of source files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "tests/integration/process.h"

namespace mei::testing {

// The path of `tool` on $PATH. When it is missing: ADD_FAILURE saying that scripts/setup --test
// installs it, and nullopt (callers ASSERT on it: a missing tool fails, it never skips).
std::optional<std::filesystem::path> RequireTool(const std::string& tool);

// Environment changes that keep stock clients off any configured proxy, so that every request
// goes straight to 127.0.0.1.
EnvironmentChanges LoopbackEnvironment();

// SHA-256 of the bytes [offset, offset + length) of a file, clamped to its end.
Sha256Digest Sha256OfFile(const std::filesystem::path& path, std::uint64_t offset = 0,
                          std::uint64_t length = std::numeric_limits<std::uint64_t>::max());

// Writes the first `length` bytes of `source` to `target` (a partial download to resume).
void CopyPrefix(const std::filesystem::path& source, const std::filesystem::path& target,
                std::uint64_t length);

// mei-synth --out OUT --size SIZE --variants VARIANTS --seed 3; ADD_FAILURE unless it exits 0.
bool Synthesize(const std::filesystem::path& out, const std::string& size,
                const std::string& variants, const std::filesystem::path& scratch);

// mei-origin ingest --store STORE --model MODEL --json INPUT; the published commit (64 hex
// digits), or "" after ADD_FAILURE.
std::string Ingest(const std::filesystem::path& store, const std::string& model,
                   const std::filesystem::path& input, const std::filesystem::path& scratch);

// A running `mei-origin serve`.
struct ServedOrigin {
  ChildProcess process;
  std::string endpoint;  // "127.0.0.1:40123", from its "listening on" line; "" if it never came
  std::uint16_t port = 0;
  std::string admin_endpoint;  // the admin API's, when the line names one; else ""
  std::string token;           // the admin bearer token StartOriginWithAdmin gave it; else ""

  std::string Url(std::string_view target) const {
    return "http://" + endpoint + std::string(target);
  }
  std::string AdminUrl(std::string_view target) const {
    return "http://" + admin_endpoint + std::string(target);
  }
};

// Starts `mei-origin serve --store STORE --listen 127.0.0.1:0 EXTRA...` and waits at most 60 s for
// its first line, "listening on http://HOST:PORT" or "listening on http://HOST:PORT admin
// http://HOST:PORT" (then admin_endpoint is set); ADD_FAILURE with its stderr if none comes.
ServedOrigin StartOrigin(const std::filesystem::path& store, const std::filesystem::path& scratch,
                         const std::vector<std::string>& extra_args = {},
                         const EnvironmentChanges& environment = {});

// Writes `token` and a newline to `file` (created with its folders), readable by its owner only:
// an --admin-token-file.
void WriteTokenFile(const std::filesystem::path& file, const std::string& token);

// Writes a token file under `scratch` and starts StartOrigin(STORE, SCRATCH, {--admin-listen
// 127.0.0.1:0 --admin-token-file FILE EXTRA...}), with MEI_ADMIN_TOKEN unset; `token` is set.
ServedOrigin StartOriginWithAdmin(const std::filesystem::path& store,
                                  const std::filesystem::path& scratch,
                                  const std::vector<std::string>& extra_args = {});

// One response head, as curl -D writes it.
struct ResponseHead {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;

  // The first header called `name` (case-insensitive), or nullopt.
  std::optional<std::string> Find(std::string_view name) const;
};

// The last response head in a curl -D (or -I) dump: after 1xx heads and redirects, the final one.
ResponseHead ParseHeadDump(std::string_view dump);

}  // namespace mei::testing
