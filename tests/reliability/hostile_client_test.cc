// Hostile clients (issue 8) against real processes over raw sockets: a `mei-cache-node` that fills
// from a `mei-origin serve` parent, and that origin itself, which runs the same HTTP server and
// data plane over its own store. Each case checks the exact status and JSON error body, whether
// the connection is closed or kept as promised, and that a well-behaved client is served bytes
// whose SHA-256 equals the source file's while (or right after) the hostile one does its worst:
//   - request lines and headers over the 16 KiB limit are 431 and close; just under it is served;
//   - Range values that are huge, negative or overflow 64 bits get the answer range.h documents;
//     thousands of ranges, or ranges adding up to more than the file, get the file once (200), so
//     a reply is never larger than the file plus its framing;
//   - path traversal in every encoding, in every route, is refused, never answered with a 200;
//     invalid UTF-8 in a path is a 400 whose body is still valid JSON;
//   - a body on a GET is read and dropped, never taken for the next request; framing that could
//     smuggle a request (Transfer-Encoding other than chunked alone) is 400 and closes;
//   - pipelined requests followed by garbage get their answers, then a 400, then the close;
//   - slowloris connections (half a header, or a header dripped a byte at a time) are closed by
//     the header deadline;
//   - slow readers (1 byte a second through a tiny window) hold at most one block each in the
//     node's memory (VmRSS) and are reset by the idle timeout;
//   - the admin APIs refuse every request without exactly the bearer token (none, wrong, a prefix,
//     trailing bytes, Basic, two headers, the token in the query string) with 401 before the route
//     runs, and the token never reaches a log;
//   - AdminAuth::Check executes the same instructions (counted by valgrind's callgrind) wherever a
//     presented token differs from the admin token and whatever the admin token's length, while a
//     naive compare visibly does not.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/block_id.h"
#include "common/digest.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "common/manifest.h"
#include "tests/integration/process.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"
#include "tests/reliability/raw_connection.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::kServerPatience;
using testing::RawConnection;
using testing::RawResponse;
using testing::RequestText;
using Ending = RawConnection::Ending;

constexpr char kModel[] = "acme/base";
constexpr char kResolve[] = "/acme/base/resolve/main/";
constexpr milliseconds kHeaderTimeout{2000};
constexpr milliseconds kIdleTimeout{4000};
constexpr std::size_t kHeaderLimitBytes = 16 * 1024;  // the servers' default
constexpr std::uint64_t kBodyLimitBytes = 1 << 20;    // the servers' default
constexpr std::size_t kMaxRanges = 64;                // range.h's RangeLimits
// Multipart framing of one part: "\r\n--" boundary (32) "\r\nContent-Type: ..." "Content-Range:
// bytes a-b/len\r\n\r\n" is about 130 bytes for a file under 10 GB; 160 bounds it.
constexpr std::size_t kPartFramingBytes = 160;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

double MiB(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

double SecondsSince(steady_clock::time_point start) {
  return std::chrono::duration<double>(steady_clock::now() - start).count();
}

// A well-behaved client: GET `url` whole on a connection of its own is 200 with exactly the bytes
// of `source`.
void ExpectServed(const std::string& url, const fs::path& source) {
  http::ClientRequest request;
  request.url = url;
  http::ClientOptions options;
  options.keep_alive = milliseconds(0);
  options.max_body_bytes = 1ull << 30;
  options.idle_timeout = kServerPatience;
  const auto response = http::Fetch(request, options);
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200) << response->body.substr(0, 300);
  EXPECT_EQ(testing::Sha256OfString(response->body), testing::Sha256OfFile(source))
      << "a well-behaved client got other bytes than " << source;
}

http::ClientResponse AsClientResponse(const RawResponse& response) {
  return http::ClientResponse{response.status, response.headers, response.body};
}

// EXPECTs `response` to be the JSON error `status` with error code `code` (ExpectJsonError: a
// JSON object, so the body is valid UTF-8) that does not quote `secret` when one is given.
void ExpectError(const std::optional<RawResponse>& response, int status, Errc code,
                 std::string_view secret = {}) {
  ASSERT_TRUE(response) << "no well-formed response";
  EXPECT_EQ(response->status, status) << response->body;
  testing::ExpectJsonError(AsClientResponse(*response), code);
  if (!secret.empty()) {
    EXPECT_EQ(response->body.find(secret), std::string::npos) << "the reply quotes the secret";
  }
}

// The deployment every data-plane and admin test drives, started once per test process on first
// use: mei-synth's 16 MiB base ingested as acme/base into the origin's store, `mei-origin serve`
// with its admin API over it, and a `mei-cache-node` with that origin as its parent. Both run
// with a 2 s header deadline and a 4 s idle timeout.
struct Deployment {
  fs::path dir;
  testing::ServedOrigin origin;
  testing::ServedCacheNode node;

  fs::path Source(std::string_view file) const { return dir / "models" / "base" / file; }
};

Deployment* deployment = nullptr;

class DeploymentEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (deployment == nullptr) return;
    const fs::path dir = deployment->dir;
    delete deployment;
    deployment = nullptr;
    fs::remove_all(dir);
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new DeploymentEnvironment);

std::vector<std::string> TimeoutFlags() {
  return {"--header-timeout-ms", std::to_string(kHeaderTimeout.count()), "--idle-timeout-ms",
          std::to_string(kIdleTimeout.count())};
}

// The shared deployment, started on the first call; null after ADD_FAILURE when it cannot be.
const Deployment* Shared() {
  static bool tried = false;
  if (tried) return deployment;
  tried = true;
  const fs::path dir = fs::path(::testing::TempDir()) / ("hostile_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (!testing::Synthesize(dir / "models", "16MiB", "base", dir / "synth")) return nullptr;
  if (testing::Ingest(dir / "origin-store", kModel, dir / "models" / "base", dir / "ingest")
          .empty()) {
    return nullptr;
  }
  auto origin = testing::StartOriginWithAdmin(dir / "origin-store", dir / "origin", TimeoutFlags());
  if (origin.endpoint.empty() || origin.admin_endpoint.empty()) return nullptr;
  std::vector<std::string> node_flags = TimeoutFlags();
  node_flags.insert(node_flags.end(), {"--access-log-dir", (dir / "access-log").string()});
  auto node = testing::StartCacheNode(dir / "node-store", origin.Url(""), "edge-hostile",
                                      dir / "node", node_flags);
  if (node.endpoint.empty()) return nullptr;
  deployment = new Deployment{dir, std::move(origin), std::move(node)};
  return deployment;
}

enum class ServerKind { kCacheNode, kOrigin };

std::string NameOf(ServerKind kind) {
  return kind == ServerKind::kCacheNode ? "CacheNode" : "Origin";
}

void PrintTo(ServerKind kind, std::ostream* out) { *out << NameOf(kind); }

// The hostile cases are run against the cache node and against the origin.
class HostileClientTest : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    deployment_ = Shared();
    ASSERT_TRUE(deployment_) << "the deployment did not start (see above)";
    endpoint_ = GetParam() == ServerKind::kCacheNode ? deployment_->node.endpoint
                                                     : deployment_->origin.endpoint;
  }

  fs::path Source(std::string_view file) const { return deployment_->Source(file); }

  // A well-behaved client on a connection of its own: GET `file` is 200 with exactly the bytes
  // of the source file.
  void ExpectWellBehavedClientServed(std::string_view file = "tokenizer.json") const {
    ExpectServed("http://" + endpoint_ + kResolve + std::string(file), Source(file));
  }

  // EXPECTs a 200 carrying all of `file`, by SHA-256.
  void ExpectWholeFile(const std::optional<RawResponse>& response, std::string_view file) const {
    ASSERT_TRUE(response) << "no well-formed response";
    EXPECT_EQ(response->status, 200) << response->body.substr(0, 300);
    EXPECT_EQ(response->body.size(), fs::file_size(Source(file)));
    EXPECT_EQ(testing::Sha256OfString(response->body), testing::Sha256OfFile(Source(file)));
  }

  const Deployment* deployment_ = nullptr;
  std::string endpoint_;
};

INSTANTIATE_TEST_SUITE_P(Servers, HostileClientTest,
                         ::testing::Values(ServerKind::kCacheNode, ServerKind::kOrigin),
                         [](const auto& info) { return NameOf(info.param); });

TEST_P(HostileClientTest, OversizedRequestLinesAndHeadersAre431AndCloseWhileOthersAreServed) {
  std::string many_fields;
  for (int i = 0; i < 400; ++i)
    many_fields += "X-Field-" + std::to_string(i) + ": " + std::string(60, 'f') + "\r\n";
  struct Case {
    std::string name;
    std::string request;
  };
  const std::vector<Case> cases = {
      {"request line", RequestText("GET", "/" + std::string(20'000, 'a'))},
      {"one field", RequestText("GET", "/healthz", "X-Big: " + std::string(17'000, 'b') + "\r\n")},
      {"many fields", RequestText("GET", "/healthz", many_fields)},
      {"field without end", "GET /healthz HTTP/1.1\r\nX-Endless: " + std::string(64 * 1024, 'e')},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawConnection hostile(endpoint_);
    ASSERT_TRUE(hostile.Send(c.request));
    const std::optional<RawResponse> response = hostile.Read();
    ExpectError(response, 431, Errc::kHeaderTooLarge);
    EXPECT_FALSE(response && response->keep_alive);
    ExpectWellBehavedClientServed("config.json");  // while the hostile connection is still open
    // The rest of what it sent is read and dropped, then the server closes: FIN, not a reset that
    // could destroy the 431 before the client read it.
    EXPECT_EQ(hostile.ReadToEnd(kServerPatience), Ending::kClosed);
  }

  // The limit holds for every request of a kept-alive connection.
  RawConnection kept(endpoint_);
  ASSERT_TRUE(kept.Send(RequestText("GET", std::string(kResolve) + "config.json")));
  ExpectWholeFile(kept.Read(), "config.json");
  ASSERT_TRUE(
      kept.Send(RequestText("GET", "/healthz", "X-Big: " + std::string(17'000, 'b') + "\r\n")));
  ExpectError(kept.Read(), 431, Errc::kHeaderTooLarge);
  EXPECT_EQ(kept.ReadToEnd(kServerPatience), Ending::kClosed);
  ExpectWellBehavedClientServed();
}

TEST_P(HostileClientTest, AHeaderJustUnderTheLimitIsServed) {
  const std::string target = std::string(kResolve) + "tokenizer.json";
  const std::string bare = RequestText("GET", target, "X-Pad: \r\n");
  const std::string request = RequestText(
      "GET", target, "X-Pad: " + std::string(kHeaderLimitBytes - bare.size() - 64, 'p') + "\r\n");
  ASSERT_LT(request.size(), kHeaderLimitBytes);
  ASSERT_GT(request.size(), kHeaderLimitBytes - 128);
  RawConnection client(endpoint_);
  ASSERT_TRUE(client.Send(request));
  const std::optional<RawResponse> response = client.Read();
  ExpectWholeFile(response, "tokenizer.json");
  EXPECT_TRUE(response && response->keep_alive);
}

// The bytes [first, last] of a multipart/byteranges part.
struct Part {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::string bytes;
};

// The parts of a multipart/byteranges body (RFC 9110 section 14.6) with `boundary`; ADD_FAILURE
// and what was parsed so far when the body is not well-formed.
std::vector<Part> ParseByteranges(std::string_view body, std::string_view boundary,
                                  std::uint64_t length) {
  std::vector<Part> parts;
  const std::string delimiter = "\r\n--" + std::string(boundary);
  const std::string range_prefix = "Content-Range: bytes ";
  std::size_t at = 0;
  for (;;) {
    if (body.compare(at, delimiter.size(), delimiter) != 0) {
      ADD_FAILURE() << "no boundary at byte " << at;
      return parts;
    }
    at += delimiter.size();
    if (body.substr(at) == "--\r\n") return parts;
    const std::size_t head_end = body.find("\r\n\r\n", at);
    const std::size_t range_at = body.find(range_prefix, at);
    if (head_end == std::string_view::npos || range_at == std::string_view::npos ||
        range_at > head_end) {
      ADD_FAILURE() << "a part without Content-Range at byte " << at;
      return parts;
    }
    Part part;
    const char* p = body.data() + range_at + range_prefix.size();
    const char* end = body.data() + head_end;
    auto [dash, e1] = std::from_chars(p, end, part.first);
    auto [slash, e2] = std::from_chars(dash + 1, end, part.last);
    std::uint64_t total = 0;
    auto [stop, e3] = std::from_chars(slash + 1, end, total);
    if (e1 != std::errc() || e2 != std::errc() || e3 != std::errc() || *dash != '-' ||
        *slash != '/' || total != length || part.last < part.first) {
      ADD_FAILURE() << "malformed Content-Range: " << body.substr(range_at, head_end - range_at);
      return parts;
    }
    at = head_end + 4;
    part.bytes = std::string(body.substr(at, part.last - part.first + 1));
    at += part.bytes.size();
    parts.push_back(std::move(part));
  }
}

// What a Range case must get: 200 with the whole file, 206 with [first, last], or 416.
struct RangeCase {
  std::string header;
  int status;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

TEST_P(HostileClientTest, HugeNegativeAndOverflowingRangesGetTheAnswerRangeHDocuments) {
  const std::string file = "tokenizer.json";
  const std::string source = ReadAll(Source(file));
  const std::uint64_t length = source.size();
  const std::string max = "18446744073709551615";   // 2^64 - 1: fits, and is clamped
  const std::string over = "18446744073709551616";  // 2^64: does not fit, so the header is ignored
  const std::vector<RangeCase> cases = {
      {"bytes=0-" + max, 206, 0, length - 1},
      {"bytes=" + std::to_string(length - 1) + "-" + max, 206, length - 1, length - 1},
      {"bytes=-" + max, 206, 0, length - 1},
      {"bytes=0-" + over, 200},
      {"bytes=" + over + "-", 200},
      {"bytes=-" + over, 200},
      {"bytes=0-" + std::string(40, '9'), 200},
      {"bytes=" + std::string(400, '9') + "-", 200},
      {"bytes=-1-5", 200},
      {"bytes=5--1", 200},
      {"bytes=--5", 200},
      {"bytes=-5-", 200},
      {"bytes=0x10-0x20", 200},
      {"bytes=1e3-2e3", 200},
      {"bytes=" + max + "-", 416},
      {"bytes=" + max + "-" + max, 416},
      {"bytes=" + std::to_string(length) + "-", 416},
      {"bytes=-0", 416},
      {"bytes=0-0", 206, 0, 0},
  };
  RawConnection client(endpoint_);
  for (const RangeCase& c : cases) {
    SCOPED_TRACE(c.header);
    ASSERT_TRUE(client.Send(RequestText("GET", kResolve + file, "Range: " + c.header + "\r\n")));
    const std::optional<RawResponse> response = client.Read();
    ASSERT_TRUE(response);
    EXPECT_TRUE(response->keep_alive);
    if (c.status == 416) {
      ExpectError(response, 416, Errc::kRangeNotSatisfiable);
      EXPECT_EQ(response->Header("Content-Range"), "bytes */" + std::to_string(length));
    } else if (c.status == 206) {
      EXPECT_EQ(response->status, 206);
      EXPECT_EQ(response->Header("Content-Range"), "bytes " + std::to_string(c.first) + "-" +
                                                       std::to_string(c.last) + "/" +
                                                       std::to_string(length));
      EXPECT_TRUE(response->body == source.substr(c.first, c.last - c.first + 1))
          << "206 with other bytes than [" << c.first << ", " << c.last << "]";
    } else {
      ExpectWholeFile(response, file);
      EXPECT_FALSE(response->Header("Content-Range"));
    }
  }
  ExpectWellBehavedClientServed();
}

// Promise (range.h, after nginx): a Range header with more than 64 ranges, or whose ranges add up
// to more than the file, gets the whole file with 200, so no Range header makes a reply larger
// than the file plus one head; up to 64 ranges get a multipart/byteranges 206 whose framing is
// under 160 bytes a part. A Range header is bounded by the 16 KiB header limit like any other.
TEST_P(HostileClientTest, ThousandsOfRangesGetTheFileOnceAndAtMostSixtyFourPartsAreFramed) {
  const std::string file = "tokenizer.json";
  const std::string source = ReadAll(Source(file));
  const std::uint64_t length = source.size();
  const auto repeated = [](std::string_view range, std::size_t count) {
    std::string header = "bytes=";
    for (std::size_t i = 0; i < count; ++i) header.append(i ? "," : "").append(range);
    return header;
  };
  RawConnection client(endpoint_);
  for (const std::string& header :
       {repeated("0-0", 3500), repeated("-1", 4500), repeated("1-2", kMaxRanges + 1)}) {
    SCOPED_TRACE(header.substr(0, 40) + "... (" + std::to_string(header.size()) + " bytes)");
    ASSERT_TRUE(client.Send(RequestText("GET", kResolve + file, "Range: " + header + "\r\n")));
    const std::optional<RawResponse> response = client.Read();
    ExpectWholeFile(response, file);
  }

  // 64 single bytes spread over the file: 206 multipart, each part right, framing bounded.
  std::string header = "bytes=";
  std::vector<std::uint64_t> offsets;
  for (std::size_t i = 0; i < kMaxRanges; ++i) {
    offsets.push_back(i * (length / kMaxRanges) + i % 7);
    header.append(i ? "," : "")
        .append(std::to_string(offsets.back()) + "-" + std::to_string(offsets.back()));
  }
  ASSERT_TRUE(client.Send(RequestText("GET", kResolve + file, "Range: " + header + "\r\n")));
  const std::optional<RawResponse> multipart = client.Read();
  ASSERT_TRUE(multipart);
  EXPECT_EQ(multipart->status, 206);
  const std::string_view type = multipart->Header("Content-Type").value_or("");
  const std::string boundary_key = "multipart/byteranges; boundary=";
  ASSERT_TRUE(type.starts_with(boundary_key)) << type;
  EXPECT_LE(multipart->body.size(), kMaxRanges * (1 + kPartFramingBytes));
  const std::vector<Part> parts =
      ParseByteranges(multipart->body, type.substr(boundary_key.size()), length);
  ASSERT_EQ(parts.size(), kMaxRanges);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].first, offsets[i]);
    EXPECT_EQ(parts[i].last, offsets[i]);
    EXPECT_EQ(parts[i].bytes, source.substr(offsets[i], 1)) << "part " << i;
  }

  // A Range header past the header limit is refused like any other oversized header.
  ASSERT_TRUE(
      client.Send(RequestText("GET", kResolve + file, "Range: " + repeated("0-0", 5000) + "\r\n")));
  ExpectError(client.Read(), 431, Errc::kHeaderTooLarge);
  EXPECT_EQ(client.ReadToEnd(kServerPatience), Ending::kClosed);
  ExpectWellBehavedClientServed();
}

TEST_P(HostileClientTest, OverlappingRangesAreServedOnlyWhileTheyAddUpToNoMoreThanTheFile) {
  const std::string file = "tokenizer.json";
  const std::string source = ReadAll(Source(file));
  const std::uint64_t length = source.size();
  const std::string half = std::to_string(length / 2 - 1);
  const std::string just_over = std::to_string(length / 2);
  struct Case {
    std::string header;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> parts;  // empty: the whole file, 200
  };
  const std::vector<Case> cases = {
      {"bytes=0-99,50-149", {{0, 99}, {50, 149}}},
      {"bytes=-100,-100,-100",
       {{length - 100, length - 1}, {length - 100, length - 1}, {length - 100, length - 1}}},
      {"bytes=0-" + half + ",0-" + half, {{0, length / 2 - 1}, {0, length / 2 - 1}}},
      {"bytes=0-" + just_over + ",0-" + just_over, {}},
      {"bytes=0-,0-", {}},
      {"bytes=0-,1-", {}},
      {"bytes=-" + std::to_string(length) + ",0-0", {}},
  };
  RawConnection client(endpoint_);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    ASSERT_TRUE(client.Send(RequestText("GET", kResolve + file, "Range: " + c.header + "\r\n")));
    const std::optional<RawResponse> response = client.Read();
    if (c.parts.empty()) {
      ExpectWholeFile(response, file);
      continue;
    }
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 206);
    const std::string_view type = response->Header("Content-Type").value_or("");
    const std::string boundary_key = "multipart/byteranges; boundary=";
    ASSERT_TRUE(type.starts_with(boundary_key)) << type;
    std::uint64_t payload = 0;
    for (const auto& [first, last] : c.parts) payload += last - first + 1;
    EXPECT_LE(payload, length);
    EXPECT_LE(response->body.size(), payload + c.parts.size() * kPartFramingBytes);
    const std::vector<Part> parts =
        ParseByteranges(response->body, type.substr(boundary_key.size()), length);
    ASSERT_EQ(parts.size(), c.parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      EXPECT_EQ(parts[i].first, c.parts[i].first);
      EXPECT_EQ(parts[i].last, c.parts[i].second);
      EXPECT_TRUE(parts[i].bytes ==
                  source.substr(parts[i].first, parts[i].last - parts[i].first + 1))
          << "part " << i << " holds other bytes";
    }
  }
  ExpectWellBehavedClientServed();
}

struct PathCase {
  std::string target;
  int status;
  Errc code;
};

// Sends every case on one kept-alive connection: each is refused with its status and code, the
// connection stays open (an error reply is a reply), and nothing is a 200.
void ExpectRefused(const std::string& endpoint, const std::vector<PathCase>& cases) {
  RawConnection client(endpoint);
  for (const PathCase& c : cases) {
    SCOPED_TRACE(c.target);
    ASSERT_TRUE(client.Send(RequestText("GET", c.target)));
    const std::optional<RawResponse> response = client.Read();
    ExpectError(response, c.status, c.code);
    ASSERT_TRUE(response);
    EXPECT_TRUE(response->keep_alive);
    EXPECT_EQ(response->body.find("root:"), std::string::npos);
  }
}

TEST_P(HostileClientTest, PathTraversalInEveryEncodingAndEveryRouteIsRefused) {
  auto manifest =
      testing::Get("http://" + endpoint_ + "/v1/models/acme/base/revisions/main/manifest");
  ASSERT_EQ(manifest.status, 200) << manifest.body;
  auto parsed = ParseManifest(manifest.body);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::string id = parsed->files.front().blocks.front().id.Hex();
  std::string upper_id = id;
  std::transform(upper_id.begin(), upper_id.end(), upper_id.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });

  const std::string p = kResolve;
  const std::vector<PathCase> cases = {
      // A file path in the resolve route.
      {p + "../config.json", 400, Errc::kBadPath},
      {p + "sub/../../config.json", 400, Errc::kBadPath},
      {p + "%2e%2e/config.json", 400, Errc::kBadPath},
      {p + "%2E%2e%2fconfig.json", 400, Errc::kBadPath},
      {p + "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400, Errc::kBadPath},
      {p + "..%5cconfig.json", 400, Errc::kBadPath},
      {p + "..%5c..%5cetc%5cpasswd", 400, Errc::kBadPath},
      {p + "%c0%ae%c0%ae/config.json", 400, Errc::kBadPath},
      {p + "%c0%ae%c0%ae%c0%afconfig.json", 400, Errc::kBadPath},
      {p + "%e0%80%ae%e0%80%ae/config.json", 400, Errc::kBadPath},
      {p + "config.json%00.png", 400, Errc::kBadPath},
      {p + "%00", 400, Errc::kBadPath},
      {p + "/etc/passwd", 400, Errc::kBadPath},
      {p + "%2fetc%2fpasswd", 400, Errc::kBadPath},
      {p + "%2e", 400, Errc::kBadPath},
      {p + "sub/./config.json", 400, Errc::kBadPath},
      // Decoded once, never twice: "%252e%252e" is the name "%2e%2e", which no file has.
      {p + "%252e%252e/config.json", 404, Errc::kFileNotFound},
      {p + "%252e%252e%252fconfig.json", 404, Errc::kFileNotFound},
      // The model name.
      {"/../base/resolve/main/config.json", 400, Errc::kBadPath},
      {"/%2e%2e/base/resolve/main/config.json", 400, Errc::kBadPath},
      {"/acme/..%2f..%2fetc/resolve/main/config.json", 400, Errc::kBadModelName},
      {"/acme%2f..%2f..%2fetc/base/resolve/main/config.json", 400, Errc::kBadModelName},
      {"/acme/..%5cbase/resolve/main/config.json", 400, Errc::kBadModelName},
      {"/acme/ba%00se/resolve/main/config.json", 400, Errc::kBadModelName},
      {"/acme/%c0%ae%c0%ae/resolve/main/config.json", 400, Errc::kBadPath},
      {"/v1/models/acme/%2e%2e/revisions/main/manifest", 400, Errc::kBadPath},
      {"/api/models/acme/..%2fbase", 400, Errc::kBadModelName},
      // The revision.
      {"/acme/base/resolve/..%2f..%2fmain/config.json", 400, Errc::kBadRequest},
      {"/acme/base/resolve/%2e%2e/config.json", 400, Errc::kBadPath},
      {"/acme/base/resolve/main%00/config.json", 400, Errc::kBadRequest},
      {"/acme/base/resolve/%252e%252e/config.json", 400, Errc::kBadRequest},
      {"/acme/base/resolve/main%5c..%5c..%5cx/config.json", 400, Errc::kBadRequest},
      {"/v1/models/acme/base/revisions/..%2f..%2fmain/manifest", 400, Errc::kBadRequest},
      {"/v1/models/acme/base/revisions/%2e%2e/manifest", 400, Errc::kBadPath},
      {"/api/models/acme/base/revision/..%2fmain", 400, Errc::kBadRequest},
      // The block id.
      {"/v1/blocks/..%2f..%2fetc%2fpasswd", 400, Errc::kBadBlockId},
      {"/v1/blocks/%2e%2e", 400, Errc::kBadPath},
      {"/v1/blocks/" + id.substr(0, 62) + "%2e%2e", 400, Errc::kBadBlockId},
      {"/v1/blocks/" + id + "%00", 400, Errc::kBadBlockId},
      {"/v1/blocks/" + id + "%2f..", 400, Errc::kBadBlockId},
      {"/v1/blocks/" + upper_id, 400, Errc::kBadBlockId},
      {"/v1/blocks/%c0%ae%c0%ae", 400, Errc::kBadPath},
      // The tree path.
      {"/api/models/acme/base/tree/main/..%2f..%2fetc", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/%2e%2e", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/sub%2F..%2F..%2F", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/%5c..%5c..", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/%2fetc", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/%c0%ae%c0%ae", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/a%00b", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/%2e%2e%2f%2e%2e", 400, Errc::kBadRequest},
      {"/api/models/acme/base/tree/main/%252e%252e", 404, Errc::kFileNotFound},
  };
  ExpectRefused(endpoint_, cases);

  // What decodes to a real name once is served: decoding is exact, not merely strict.
  RawConnection client(endpoint_);
  ASSERT_TRUE(client.Send(RequestText("GET", p + "config%2ejson")));
  ExpectWholeFile(client.Read(), "config.json");
  ASSERT_TRUE(client.Send(RequestText("GET", "/v1/blocks/" + id)));
  const std::optional<RawResponse> block = client.Read();
  ASSERT_TRUE(block);
  EXPECT_EQ(block->status, 200);
  EXPECT_EQ(testing::Sha256OfString(block->body).Hex(), id);
  ExpectWellBehavedClientServed();
}

TEST_P(HostileClientTest, InvalidUtf8InAPathIs400WithAValidJsonBody) {
  const std::string p = kResolve;
  const std::vector<PathCase> cases = {
      {p + "\xff\xfe.json", 400, Errc::kBadPath},  // raw bytes, not escaped
      {p + "%ff%fe.json", 400, Errc::kBadPath},
      {p + "%c3%28.json", 400, Errc::kBadPath},        // a lead byte without its continuation
      {p + "%ed%a0%80.json", 400, Errc::kBadPath},     // a UTF-16 surrogate
      {p + "%f4%90%80%80.json", 400, Errc::kBadPath},  // above U+10FFFF
      {p + "%80", 400, Errc::kBadPath},                // a lone continuation byte
      {p + "sub/%fe/config.json", 400, Errc::kBadPath},
      {"/acme/b%ffse/resolve/main/config.json", 400, Errc::kBadPath},
      {"/acme/base/resolve/ma%ffin/config.json", 400, Errc::kBadPath},
      {"/v1/blocks/%ff", 400, Errc::kBadPath},
      {"/v1/models/acme/base/revisions/%ff/manifest", 400, Errc::kBadPath},
      {"/api/models/acme/base/tree/main/%ff", 400, Errc::kBadPath},
      {"/api/models/acme/b\xc0\xafse", 400, Errc::kBadPath},
      // Well-formed UTF-8 that names nothing is a plain 404, quoted in valid JSON.
      {p + "caf%c3%a9.json", 404, Errc::kFileNotFound},
      // A route that does not exist quotes the target in its 404: invalid bytes become U+FFFD.
      {"/nothing/here?\xfe\xff", 404, Errc::kFileNotFound},
  };
  ExpectRefused(endpoint_, cases);
  ExpectWellBehavedClientServed();
}

TEST_P(HostileClientTest, ABodyOnAGetIsReadAndDroppedNeverTakenForTheNextRequest) {
  const std::string smuggled = RequestText("GET", std::string(kResolve) + "config.json");
  const std::string last =
      RequestText("GET", std::string(kResolve) + "tokenizer.json", "Connection: close\r\n");
  const std::string hex_size = [&] {
    char text[16];
    const auto [end, ec] = std::to_chars(text, text + sizeof(text), smuggled.size(), 16);
    return std::string(text, end);
  }();
  struct Case {
    std::string name;
    std::string first;  // a GET /healthz with a body that looks like a request
  };
  const std::vector<Case> cases = {
      {"Content-Length", "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: " +
                             std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled},
      {"chunked", "GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      hex_size + "\r\n" + smuggled + "\r\n0\r\n\r\n"},
      {"a body of the largest size",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(kBodyLimitBytes) +
           "\r\n\r\n" + smuggled + std::string(kBodyLimitBytes - smuggled.size(), 'x')},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawConnection client(endpoint_);
    ASSERT_TRUE(client.Send(c.first + last));
    const std::optional<RawResponse> health = client.Read();
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, R"({"status":"ok"})");
    ExpectWholeFile(client.Read(), "tokenizer.json");
    std::string rest;
    EXPECT_EQ(client.ReadToEnd(kServerPatience, &rest), Ending::kClosed);
    EXPECT_EQ(rest, "") << "a third response: the body was taken for a request";
  }

  // Framing that one parser could read one way and another the other way is refused: 400, and
  // the connection is closed before whatever follows could be taken for a request.
  const std::vector<Case> refused = {
      {"chunked not last",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"},
      {"an unknown coding",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
      {"identity", "GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: identity\r\n\r\n"},
      {"two Transfer-Encodings",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n"},
      {"both Content-Length and chunked",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: " +
           std::to_string(smuggled.size() + 5) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"two Content-Lengths",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n"},
      {"a negative Content-Length",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\n"},
      {"an overflowing Content-Length",
       "GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 18446744073709551616\r\n\r\n"},
  };
  for (const Case& c : refused) {
    SCOPED_TRACE(c.name);
    RawConnection client(endpoint_);
    ASSERT_TRUE(client.Send(c.first + smuggled));
    const std::optional<RawResponse> response = client.Read();
    ExpectError(response, 400, Errc::kBadRequest);
    EXPECT_FALSE(response && response->keep_alive);
    std::string rest;
    EXPECT_EQ(client.ReadToEnd(kServerPatience, &rest), Ending::kClosed);
    EXPECT_EQ(rest, "") << "the bytes after the refused request were answered";
  }

  // A body over the limit is 413 as soon as its Content-Length is read; the body is never awaited.
  RawConnection large(endpoint_);
  ASSERT_TRUE(large.Send("GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: " +
                         std::to_string(kBodyLimitBytes + 1) + "\r\n\r\n"));
  const std::optional<RawResponse> too_large = large.Read();
  ExpectError(too_large, 413, Errc::kPayloadTooLarge);
  EXPECT_FALSE(too_large && too_large->keep_alive);
  EXPECT_EQ(large.ReadToEnd(kServerPatience), Ending::kClosed);
  ExpectWellBehavedClientServed();
}

TEST_P(HostileClientTest, PipelinedRequestsGetTheirAnswersInOrderAndGarbageAfterThemA400AndAClose) {
  // Fifty pipelined requests in one write are answered in order, each with its own bytes.
  std::string fifty;
  for (int i = 0; i < 25; ++i) {
    fifty += RequestText("GET", std::string(kResolve) + "config.json");
    fifty += RequestText("HEAD", std::string(kResolve) + "tokenizer.json");
  }
  RawConnection pipelined(endpoint_);
  ASSERT_TRUE(pipelined.Send(fifty));
  const std::string tokenizer_length = std::to_string(fs::file_size(Source("tokenizer.json")));
  for (int i = 0; i < 25; ++i) {
    SCOPED_TRACE("pair " + std::to_string(i));
    ExpectWholeFile(pipelined.Read(), "config.json");
    const std::optional<RawResponse> head = pipelined.Read(kServerPatience, /*head_request=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("Content-Length"), tokenizer_length);
  }

  const std::string good = RequestText("GET", std::string(kResolve) + "tokenizer.json");
  struct Case {
    std::string name;
    std::string garbage;
  };
  const std::vector<Case> cases = {
      {"a TLS ClientHello",
       std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(500, '\x42')},
      {"words", "GARBAGE GARBAGE\r\n\r\n"},
      {"NUL bytes", std::string(4096, '\0')},
      {"a request line without a version", "GET /healthz\r\n\r\n"},
      {"a space in the target", "GET /heal thz HTTP/1.1\r\nHost: test\r\n\r\n"},
      {"a header without a colon", "GET /healthz HTTP/1.1\r\nHost test\r\n\r\n"},
      {"a bare LF line", "GET /healthz HTTP/1.1\nHost: test\n\nxx"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawConnection client(endpoint_);
    ASSERT_TRUE(client.Send(good + good + c.garbage));
    ExpectWholeFile(client.Read(), "tokenizer.json");
    ExpectWholeFile(client.Read(), "tokenizer.json");
    const std::optional<RawResponse> refused = client.Read();
    ExpectError(refused, 400, Errc::kBadRequest);
    EXPECT_FALSE(refused && refused->keep_alive);
    EXPECT_EQ(client.ReadToEnd(kServerPatience), Ending::kClosed);

    RawConnection alone(endpoint_);  // garbage as the very first bytes of a connection
    ASSERT_TRUE(alone.Send(c.garbage));
    ExpectError(alone.Read(), 400, Errc::kBadRequest);
    EXPECT_EQ(alone.ReadToEnd(kServerPatience), Ending::kClosed);
  }
  ExpectWellBehavedClientServed();
}

// 48 connections send half a header and stall; 8 more drip a header one byte every 100 ms, never
// ending it. The header deadline (2 s) is for the whole header, so both kinds are closed when it
// passes, not before, while a well-behaved client is served.
TEST_P(HostileClientTest, SlowlorisConnectionsAreClosedAtTheHeaderDeadlineWhileOthersAreServed) {
  constexpr int kStalled = 48;
  constexpr int kDripping = 8;
  constexpr milliseconds kDrip{100};
  struct Slow {
    RawConnection connection;
    steady_clock::time_point opened;
    std::optional<double> ended_after_seconds;
    bool drips;
  };
  std::vector<Slow> slow;
  const std::string header = "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Long: ";
  for (int i = 0; i < kStalled + kDripping; ++i) {
    slow.push_back({RawConnection(endpoint_), steady_clock::now(), std::nullopt, i >= kStalled});
    ASSERT_TRUE(
        slow.back().connection.Send(slow.back().drips ? header : "GET /healthz HTTP/1.1\r\nHo"));
  }
  ExpectWellBehavedClientServed();

  const steady_clock::time_point deadline = steady_clock::now() + kHeaderTimeout + kServerPatience;
  std::size_t open = slow.size();
  while (open > 0 && steady_clock::now() < deadline) {
    for (Slow& s : slow) {
      if (s.ended_after_seconds) continue;
      if (s.connection.WaitForPeerEnd(milliseconds(0)) != Ending::kOpen) {
        s.ended_after_seconds = SecondsSince(s.opened);
        --open;
      } else if (s.drips) {
        s.connection.Send("x");
      }
    }
    std::this_thread::sleep_for(kDrip);  // the drip's pace
  }
  EXPECT_EQ(open, 0u) << open << " slow connections are still open";
  const double header_seconds = std::chrono::duration<double>(kHeaderTimeout).count();
  for (Slow& s : slow) {
    if (!s.ended_after_seconds) continue;
    EXPECT_GE(*s.ended_after_seconds, header_seconds - 0.25)
        << (s.drips ? "a dripping" : "a stalled") << " connection was closed before the deadline";
    std::string rest;
    const Ending ending = s.connection.ReadToEnd(kServerPatience, &rest);
    // A drip may cross the server's FIN and draw a reset; a stalled connection just sees the FIN.
    EXPECT_EQ(ending, s.drips && ending == Ending::kReset ? Ending::kReset : Ending::kClosed);
    EXPECT_EQ(rest, "") << "a slow header got a reply";
  }
  ExpectWellBehavedClientServed();
  EXPECT_EQ(testing::Get("http://" + endpoint_ + "/healthz").status, 200);
}

// The value of `key` ("VmRSS:") in /proc/PID/status, in bytes; 0 if it cannot be read.
std::uint64_t StatusBytes(pid_t pid, std::string_view key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(key)) return std::stoull(line.substr(key.size())) * 1024;  // "... kB"
  }
  return 0;
}

// Removes a folder when it goes out of scope: declared before the processes that use it, so that
// they are gone first.
struct ScratchDir {
  fs::path path;
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// Sets an environment variable for the processes started while it lives.
struct ScopedEnvironment {
  ScopedEnvironment(const char* name, const char* value) : name(name) { setenv(name, value, 1); }
  ~ScopedEnvironment() { unsetenv(name); }
  const char* name;
};

// One slow reader: a range of the file from the start of a block of its own to the end.
struct SlowReader {
  RawConnection connection;
  std::uint64_t offset = 0;
  std::uint64_t first_block_bytes = 0;
  std::string body;  // what it has read of its body
  steady_clock::time_point asked;
  std::optional<double> ended_after_seconds;
  Ending ending = Ending::kOpen;
};

// Thirty-two clients ask the node for the 256 MiB file, each from a block of its own to the end,
// then read one byte a second through a 4 KiB receive window, while a well-behaved client
// downloads the whole file. Promise: a slow reader costs the node its socket buffers (kernel
// memory, outside the process's RSS) and the one block it is being sent. So while they read, the
// node's VmRSS grows by less than the sum of those blocks plus, each counted as a largest block:
// the blocks read ahead for the whole process (internal/block_body.h's ReadAheadBudget, 4), the
// scratch buffers of the decoders kept for reuse (DecoderPool, 4), and two for the well-behaved
// client; plus 16 MiB for everything else. The node runs with glibc's mmap threshold fixed at
// 128 KiB, so that a freed block goes back to the kernel and VmRSS counts what the node holds
// rather than what its allocator keeps for later. Then the idle timeout (6 s here) resets every
// reader: the kernel frees the buffers at once, and the client sees a reset, not a FIN queued
// behind bytes it never reads. The node keeps serving throughout, and every byte each reader got
// is the file's.
TEST(SlowReaderTest, OneBytePerSecondReadersHoldAtMostABlockEachAndAreResetAtTheIdleTimeout) {
  constexpr std::size_t kReaders = 32;
  constexpr int kReceiveBufferBytes = 4096;
  constexpr milliseconds kSlowIdleTimeout{6000};
  constexpr int kHeldSeconds = 3;
  constexpr std::uint64_t kReadAheadBlocks = 4;
  constexpr std::uint64_t kPooledDecoderBlocks = 4;
  constexpr std::uint64_t kWellBehavedBlocks = 2;
  constexpr std::uint64_t kSlackBytes = 16ull << 20;

  const ScratchDir dir{fs::path(::testing::TempDir()) /
                       ("hostile_slow_" + std::to_string(getpid()))};
  fs::remove_all(dir.path);
  fs::create_directories(dir.path);
  ASSERT_TRUE(testing::Synthesize(dir.path / "models", "256MiB", "base", dir.path / "synth"));
  const std::string commit = testing::Ingest(dir.path / "origin-store", kModel,
                                             dir.path / "models" / "base", dir.path / "ingest");
  ASSERT_FALSE(commit.empty());
  auto origin = testing::StartOrigin(dir.path / "origin-store", dir.path / "origin");
  ASSERT_FALSE(origin.endpoint.empty());
  const fs::path source = dir.path / "models" / "base" / "model.safetensors";
  const std::uint64_t length = fs::file_size(source);
  const std::string target = "/acme/base/resolve/" + commit + "/model.safetensors";
  const std::vector<std::string> flags = {
      "--idle-timeout-ms", std::to_string(kSlowIdleTimeout.count()), "--capacity", "2GiB"};

  // A node that holds the whole file, restarted so that every block is read from its segment
  // files (small ones from RocksDB's tables, not a memtable) and its allocator starts afresh.
  std::optional<ScopedEnvironment> malloc_tuning;
  malloc_tuning.emplace("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072");
  {
    auto warm = testing::StartCacheNode(dir.path / "node-store", origin.Url(""), "edge-slow",
                                        dir.path / "node-warm", flags);
    ASSERT_FALSE(warm.endpoint.empty());
    ExpectServed(warm.Url(target), source);
    warm.process.Signal(SIGTERM);
    ASSERT_EQ(warm.process.WaitFor(seconds(60)), 0) << warm.process.Stderr();
  }
  auto node = testing::StartCacheNode(dir.path / "node-store", origin.Url(""), "edge-slow",
                                      dir.path / "node", flags);
  malloc_tuning.reset();
  ASSERT_FALSE(node.endpoint.empty());
  const pid_t pid = node.process.pid();

  const http::ClientResponse manifest_reply =
      testing::Get(node.Url("/v1/models/acme/base/revisions/" + commit + "/manifest"));
  ASSERT_EQ(manifest_reply.status, 200) << manifest_reply.body;
  const auto manifest = ParseManifest(manifest_reply.body);
  ASSERT_TRUE(manifest) << manifest.error().message;
  const auto file =
      std::find_if(manifest->files.begin(), manifest->files.end(),
                   [](const ManifestFile& f) { return f.path == "model.safetensors"; });
  ASSERT_NE(file, manifest->files.end());
  const std::vector<ManifestBlock>& blocks = file->blocks;

  // Each reader starts at a block and would be sent the next one after it: pairs of neighbouring
  // blocks that no other reader touches, the largest pairs first.
  std::vector<std::size_t> pairs(blocks.size() - 1);
  for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i] = i;
  std::stable_sort(pairs.begin(), pairs.end(), [&](std::size_t a, std::size_t b) {
    return blocks[a].size + blocks[a + 1].size > blocks[b].size + blocks[b + 1].size;
  });
  std::vector<bool> taken(blocks.size(), false);
  std::vector<std::size_t> starts;
  for (const std::size_t i : pairs) {
    if (starts.size() == kReaders) break;
    if (taken[i] || taken[i + 1]) continue;
    taken[i] = taken[i + 1] = true;
    starts.push_back(i);
  }
  ASSERT_EQ(starts.size(), kReaders);
  std::uint64_t largest = 0;
  for (const ManifestBlock& block : blocks) largest = std::max(largest, block.size);

  ExpectServed(node.Url("/acme/base/resolve/" + commit + "/config.json"),
               dir.path / "models" / "base" / "config.json");
  const std::uint64_t rss_before = StatusBytes(pid, "VmRSS:");
  ASSERT_GT(rss_before, 0u);

  std::vector<SlowReader> readers;
  std::uint64_t held_blocks = 0;
  for (const std::size_t start : starts) {
    SlowReader reader{.connection = RawConnection(node.endpoint, kReceiveBufferBytes),
                      .offset = blocks[start].offset,
                      .first_block_bytes = blocks[start].size,
                      .body = {},
                      .asked = steady_clock::now(),
                      .ended_after_seconds = std::nullopt,
                      .ending = Ending::kOpen};
    held_blocks += reader.first_block_bytes;
    ASSERT_TRUE(reader.connection.Send(
        RequestText("GET", target, "Range: bytes=" + std::to_string(reader.offset) + "-\r\n")));
    reader.asked = steady_clock::now();
    readers.push_back(std::move(reader));
  }
  for (SlowReader& reader : readers) {
    const std::optional<RawResponse> head = reader.connection.ReadHead();
    ASSERT_TRUE(head) << "no response head for the reader at " << reader.offset;
    EXPECT_EQ(head->status, 206);
    EXPECT_EQ(head->Header("Content-Range"), "bytes " + std::to_string(reader.offset) + "-" +
                                                 std::to_string(length - 1) + "/" +
                                                 std::to_string(length));
  }

  std::thread well_behaved([&] { ExpectServed(node.Url(target), source); });
  std::uint64_t rss_peak = StatusBytes(pid, "VmRSS:");
  for (int second = 0; second < kHeldSeconds; ++second) {
    std::this_thread::sleep_for(seconds(1));  // the readers' pace
    for (SlowReader& reader : readers) reader.connection.ReadSome(1, reader.body, milliseconds(0));
    rss_peak = std::max(rss_peak, StatusBytes(pid, "VmRSS:"));
  }
  const std::uint64_t growth = rss_peak > rss_before ? rss_peak - rss_before : 0;
  const std::uint64_t blocks_bound =
      held_blocks + (kReadAheadBlocks + kPooledDecoderBlocks + kWellBehavedBlocks) * largest +
      kSlackBytes;
#ifdef MEI_SANITIZED
  // ASan's quarantine keeps freed blocks resident (591 MiB measured against 177 MiB without it),
  // so in a sanitizer build the bound only has to catch readers holding the whole file each.
  const std::uint64_t bound = std::max(blocks_bound, std::uint64_t{1} << 30);
#else
  const std::uint64_t bound = blocks_bound;
#endif
  std::printf(
      "%zu slow readers: node RSS %.1f MiB before, %.1f MiB at most while they read (+%.1f MiB); "
      "the blocks they are sent add up to %.1f MiB (largest block %.1f MiB); bound %.1f MiB\n",
      readers.size(), MiB(rss_before), MiB(rss_peak), MiB(growth), MiB(held_blocks), MiB(largest),
      MiB(bound));
  EXPECT_LT(growth, bound) << "slow readers hold more than the block each is being sent";

  // Reading on at a byte a second until the idle timeout resets each of them.
  const steady_clock::time_point deadline =
      steady_clock::now() + kSlowIdleTimeout + kServerPatience;
  std::size_t open = readers.size();
  while (open > 0 && steady_clock::now() < deadline) {
    for (SlowReader& reader : readers) {
      if (reader.ended_after_seconds) continue;
      reader.ending = reader.connection.WaitForPeerEnd(milliseconds(0));
      if (reader.ending != Ending::kOpen) {
        reader.ended_after_seconds = SecondsSince(reader.asked);
        --open;
      } else {
        reader.connection.ReadSome(1, reader.body, milliseconds(0));
      }
    }
    if (open > 0) std::this_thread::sleep_for(seconds(1));  // the readers' pace
  }
  well_behaved.join();
  EXPECT_EQ(open, 0u) << open << " slow readers are still connected";
  const double idle_seconds = std::chrono::duration<double>(kSlowIdleTimeout).count();
  for (SlowReader& reader : readers) {
    SCOPED_TRACE("the reader at " + std::to_string(reader.offset));
    if (!reader.ended_after_seconds) continue;
    EXPECT_EQ(reader.ending, Ending::kReset);
    EXPECT_GE(*reader.ended_after_seconds, idle_seconds - 0.5) << "cut before the idle timeout";
    EXPECT_EQ(reader.connection.ReadToEnd(kServerPatience, &reader.body), Ending::kReset);
    ASSERT_FALSE(reader.body.empty());
    EXPECT_EQ(testing::Sha256OfString(reader.body),
              testing::Sha256OfFile(source, reader.offset, reader.body.size()))
        << "a slow reader got other bytes than the file's";
  }
  EXPECT_EQ(testing::Get(node.Url("/healthz")).status, 200);
  ExpectServed(node.Url("/acme/base/resolve/" + commit + "/tokenizer.json"),
               dir.path / "models" / "base" / "tokenizer.json");
  node.process.Signal(SIGTERM);
  EXPECT_EQ(node.process.WaitFor(seconds(60)), 0) << node.process.Stderr();
  origin.process.Signal(SIGTERM);
  EXPECT_EQ(origin.process.WaitFor(seconds(60)), 0) << origin.process.Stderr();
}

std::string Base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<const unsigned char*>(text.data()),
                                   static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(size));
  return out;
}

// `token` with the byte at `index` replaced by another visible ASCII character.
std::string WithByteChanged(std::string token, std::size_t index) {
  token[index] = token[index] == 'z' ? 'y' : 'z';
  return token;
}

// The admin listeners of the cache node and of the origin, with their tokens.
class HostileAdminTest : public HostileClientTest {
 protected:
  void SetUp() override {
    HostileClientTest::SetUp();
    if (HasFatalFailure()) return;
    const bool node = GetParam() == ServerKind::kCacheNode;
    admin_endpoint_ = node ? deployment_->node.admin_endpoint : deployment_->origin.admin_endpoint;
    token_ = node ? deployment_->node.token : deployment_->origin.token;
  }

  // `method` /admin/v1/status (or `target`) with `headers` and `body` on `connection`.
  std::optional<RawResponse> Ask(RawConnection& connection, std::string_view headers,
                                 std::string_view target = "/admin/v1/status",
                                 std::string_view method = "GET", std::string_view body = "") {
    std::string request =
        RequestText(method, target,
                    std::string(headers) +
                        (body.empty() ? std::string()
                                      : "Content-Type: application/json\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n"));
    request += body;
    if (!connection.Send(request)) return std::nullopt;
    return connection.Read();
  }

  // EXPECTs the 401 an admin listener answers to a request it refuses.
  void ExpectRefused(const std::optional<RawResponse>& response) const {
    ExpectError(response, 401, Errc::kUnauthorized, token_);
    if (!response) return;
    EXPECT_TRUE(response->Header("WWW-Authenticate").value_or("").starts_with("Bearer realm="));
    EXPECT_TRUE(response->keep_alive);
    for (const char* field : {"stored_bytes", "capacity_bytes", "models"}) {
      EXPECT_EQ(response->body.find(field), std::string::npos) << "the status leaked: " << field;
    }
  }

  std::string admin_endpoint_;
  std::string token_;
};

INSTANTIATE_TEST_SUITE_P(Servers, HostileAdminTest,
                         ::testing::Values(ServerKind::kCacheNode, ServerKind::kOrigin),
                         [](const auto& info) { return NameOf(info.param); });

TEST_P(HostileAdminTest, RequestsWithoutExactlyTheBearerTokenAre401BeforeTheRouteRuns) {
  const std::string& t = token_;
  std::string other_case = t;
  std::transform(other_case.begin(), other_case.end(), other_case.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  ASSERT_NE(other_case, t) << "the test token needs a lowercase letter";
  const auto bearer = [](std::string_view value) {
    return "Authorization: Bearer " + std::string(value) + "\r\n";
  };
  struct Case {
    std::string name;
    std::string headers;
  };
  const std::vector<Case> cases = {
      {"no Authorization", ""},
      {"an empty Authorization", "Authorization: \r\n"},
      {"the scheme alone", "Authorization: Bearer\r\n"},
      {"the scheme and spaces", "Authorization: Bearer    \r\n"},
      {"the first byte wrong", bearer(WithByteChanged(t, 0))},
      {"the last byte wrong", bearer(WithByteChanged(t, t.size() - 1))},
      {"a trailing byte", bearer(t + "x")},
      {"trailing bytes after a comma", bearer(t + ",x")},
      {"trailing bytes after a space", bearer(t + " x")},
      {"a prefix", bearer(t.substr(0, t.size() - 1))},
      {"the first 8 bytes", bearer(t.substr(0, 8))},
      {"a byte before it", bearer("x" + t)},
      {"another letter case", bearer(other_case)},
      {"Basic with the token as password", "Authorization: Basic " + Base64("admin:" + t) + "\r\n"},
      {"Basic with the token as user", "Authorization: Basic " + Base64(t + ":") + "\r\n"},
      {"Basic with the bare token", "Authorization: Basic " + t + "\r\n"},
      {"no scheme", "Authorization: " + t + "\r\n"},
      {"another scheme", "Authorization: Token " + t + "\r\n"},
      {"Proxy-Authorization", "Proxy-Authorization: Bearer " + t + "\r\n"},
      {"a header of its own", "X-Admin-Token: " + t + "\r\n"},
      {"the right header, then a wrong one", bearer(t) + bearer(WithByteChanged(t, 0))},
      {"a wrong header, then the right one", bearer(WithByteChanged(t, 0)) + bearer(t)},
      {"the right header twice", bearer(t) + bearer(t)},
  };
  RawConnection connection(admin_endpoint_);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ExpectRefused(Ask(connection, c.headers));
  }

  // A refused request never reaches its route: a purge (node) or an ingest (origin) with a wrong
  // token changes nothing.
  if (GetParam() == ServerKind::kCacheNode) {
    ExpectWellBehavedClientServed();  // the node now holds the tokenizer's blocks
    const std::vector<BlockId> held = testing::StoredBlockIds(deployment_->node);
    ASSERT_FALSE(held.empty());
    ExpectRefused(Ask(connection, bearer(WithByteChanged(t, t.size() - 1)), "/admin/v1/purge",
                      "POST", R"({"model": "acme/base", "revision": "main"})"));
    EXPECT_EQ(testing::StoredBlockIds(deployment_->node), held);
  } else {
    const std::string body = boost::json::serialize(boost::json::object{
        {"model", "acme/intruder"},
        {"paths", boost::json::array{(deployment_->dir / "models" / "base").string()}}});
    ExpectRefused(
        Ask(connection, bearer(t.substr(0, t.size() - 1)), "/admin/v1/ingest", "POST", body));
    const std::optional<RawResponse> status = Ask(connection, bearer(t));
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 200) << status->body;
    EXPECT_EQ(status->body.find("acme/intruder"), std::string::npos) << status->body;
  }

  // The token itself passes: the scheme in any letter case, any number of spaces before the
  // token, optional whitespace after it (RFC 9110 section 5.5 strips it from field values).
  for (const std::string& headers : {bearer(t), "Authorization: bearer " + t + "\r\n",
                                     "Authorization: BEARER    " + t + " \t\r\n"}) {
    SCOPED_TRACE(headers);
    const std::optional<RawResponse> response = Ask(connection, headers);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200) << response->body;
  }
}

// A token in a URL ends up in proxy logs, browser histories and Referer headers, so the admin APIs
// never take one from the query string (RFC 6750 section 2.3 allows it; we do not). The token never
// reaches a log either: not the processes' stderr, not the access log, not the trace API.
TEST(HostileAdminLogTest, TheTokenInTheQueryStringIsRefusedAndNeverLogged) {
  const Deployment* shared = Shared();
  ASSERT_TRUE(shared) << "the deployment did not start (see above)";
  for (const auto& [admin_endpoint, token] :
       {std::pair{shared->node.admin_endpoint, shared->node.token},
        std::pair{shared->origin.admin_endpoint, shared->origin.token}}) {
    SCOPED_TRACE(admin_endpoint);
    RawConnection connection(admin_endpoint);
    for (const std::string& target :
         {"/admin/v1/status?access_token=" + token, "/admin/v1/status?token=" + token,
          "/admin/v1/status?authorization=Bearer%20" + token, "/admin/v1/status?" + token,
          "/admin/v1/" + token}) {
      SCOPED_TRACE(target);
      ASSERT_TRUE(connection.Send(RequestText("GET", target)));
      const std::optional<RawResponse> response = connection.Read();
      ExpectError(response, 401, Errc::kUnauthorized, token);
    }
  }
  // The data plane takes no token, but a client may still put one in a URL it asks for.
  for (const std::string& endpoint : {shared->node.endpoint, shared->origin.endpoint}) {
    for (const std::string& target :
         {"/healthz?access_token=" + shared->node.token,
          std::string(kResolve) + "config.json?token=" + shared->node.token}) {
      EXPECT_EQ(testing::Get("http://" + endpoint + target).status, 200) << target;
    }
  }

  // A request's line is written once its reply has gone out, so the client may ask for the trace
  // before the line is there.
  http::ClientResponse trace;
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        trace = testing::AdminRequest(shared->node, "GET", "/admin/v1/trace?since=0");
        return trace.status == 200 && trace.body.find("config.json") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << "the trace lacks the requests: " << trace.status << " " << trace.body;
  EXPECT_EQ(trace.body.find(shared->node.token), std::string::npos) << "the token is in the trace";
  for (const fs::directory_entry& file :
       fs::recursive_directory_iterator(shared->dir / "access-log")) {
    if (!file.is_regular_file()) continue;
    EXPECT_EQ(ReadAll(file.path()).find(shared->node.token), std::string::npos) << file.path();
  }
  EXPECT_EQ(shared->node.process.Stderr().find(shared->node.token), std::string::npos);
  EXPECT_EQ(shared->origin.process.Stderr().find(shared->origin.token), std::string::npos);
  for (const std::string& endpoint : {shared->node.endpoint, shared->origin.endpoint}) {
    const http::ClientResponse metrics = testing::Get("http://" + endpoint + "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_EQ(metrics.body.find(shared->node.token), std::string::npos);
    EXPECT_EQ(metrics.body.find(shared->origin.token), std::string::npos);
  }
}

// valgrind cannot run a sanitizer build's binaries (it refuses their debug information), so the
// instruction counts are taken in the ordinary build only, which CI runs.
#ifndef MEI_SANITIZED
// Callgrind's count of the instructions executed inside the probe's measured compare: AdminAuth's
// Check of "Bearer `presented`" against `token`, or with `naive` std::string equality. 0 after
// ADD_FAILURE when valgrind is missing or the probe does not run as expected.
std::uint64_t CompareInstructions(const std::string& token, const std::string& presented,
                                  bool naive = false) {
  static const std::optional<fs::path> valgrind = testing::RequireTool("valgrind");
  if (!valgrind) return 0;
  static std::atomic<int> run{0};
  char run_name[64];
  std::snprintf(run_name, sizeof(run_name), "hostile_callgrind_%08d_%06d",
                static_cast<int>(getpid()),
                run++);  // every probe's paths are as long
  const fs::path scratch = fs::path(::testing::TempDir()) / run_name;
  fs::create_directories(scratch);
  const fs::path out = scratch / "callgrind.out";
  std::vector<std::string> argv = {
      valgrind->string(),
      "--tool=callgrind",
      "--callgrind-out-file=" + out.string(),
      "--collect-atstart=no",
      naive ? "--toggle-collect=*MeasuredNaiveCheck*" : "--toggle-collect=*MeasuredCheck*",
      testing::BinaryPath("tests/reliability/admin_token_probe").string()};
  if (naive) argv.push_back("--naive");
  std::ofstream(scratch / "admin") << token;
  std::ofstream(scratch / "client") << presented;
  argv.insert(argv.end(), {(scratch / "admin").string(), (scratch / "client").string()});
  const testing::ProcessResult result = testing::RunProcess(argv, scratch);
  const int expected_exit = token == presented ? 0 : 1;
  if (result.exit_code != expected_exit) {
    ADD_FAILURE() << "the probe under callgrind exited " << result.exit_code << ": " << result.err;
    return 0;
  }
  std::istringstream lines(ReadAll(out));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("summary: ")) {
      const std::uint64_t count = std::stoull(line.substr(9));
      fs::remove_all(scratch);
      return count;
    }
  }
  ADD_FAILURE() << "no summary line in " << out;
  return 0;
}

// Counts for (admin token, presented token) pairs, measured in parallel.
std::vector<std::uint64_t> CompareInstructionsOf(
    const std::vector<std::pair<std::string, std::string>>& pairs, bool naive = false) {
  std::vector<std::future<std::uint64_t>> counts;
  for (const auto& [token, presented] : pairs) {
    counts.push_back(
        std::async(std::launch::async, [&token = token, &presented = presented, naive] {
          return CompareInstructions(token, presented, naive);
        }));
  }
  std::vector<std::uint64_t> result;
  for (std::future<std::uint64_t>& count : counts) result.push_back(count.get());
  return result;
}

// The token is compared by the SHA-256 of each side with CRYPTO_memcmp (admin_auth.h), so the
// instructions a refused check executes depend on neither where a presented token first differs
// from the admin token nor the admin token's length. Deterministic: instructions are counted, not
// timed. (They do depend on the presented token's own length, which the client knows anyway:
// that many bytes are hashed.)
TEST(AdminTokenCompareTest, ARefusedCheckExecutesTheSameInstructionsWhereverTheTokensDiffer) {
  const std::string token(64, 'k');
  const std::string presented = WithByteChanged(token, 0);
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {token, presented},  // the first byte differs
      {token, WithByteChanged(token, 31)},
      {token, WithByteChanged(token, 63)},  // the last byte differs
      {token, std::string(64, 'q')},        // every byte differs
      // The admin token's length does not show: the same presented token against shorter and
      // longer admin tokens, and against one it is a prefix of.
      {std::string(16, 'k'), presented},
      {std::string(4096, 'k'), presented},
      {presented + "k", presented},
  };
  const std::vector<std::uint64_t> counts = CompareInstructionsOf(pairs);
  ASSERT_GT(counts.front(), 0u);
  for (std::size_t i = 1; i < pairs.size(); ++i) {
    EXPECT_EQ(counts[i], counts.front())
        << "a " << pairs[i].first.size() << "-byte admin token checked against \""
        << pairs[i].second.substr(0, 20) << "...\"";
  }
}

// The measurement sees what a leaky compare gives away: std::string equality stops at a length
// mismatch and executes fewer instructions the earlier the tokens differ.
TEST(AdminTokenCompareTest, TheCountSeesTheLeaksOfANaiveCompare) {
  const std::string token(256, 'k');
  const std::vector<std::uint64_t> counts =
      CompareInstructionsOf({{token, WithByteChanged(token, 0)},
                             {token, WithByteChanged(token, 255)},
                             {token, token.substr(0, 255)}},
                            /*naive=*/true);
  ASSERT_GT(counts[0], 0u);
  EXPECT_LT(counts[0], counts[1]) << "the first byte differs vs the last";
  EXPECT_LT(counts[2], counts[0]) << "another length vs the first byte differs";
}

#endif  // MEI_SANITIZED

}  // namespace
}  // namespace mei
