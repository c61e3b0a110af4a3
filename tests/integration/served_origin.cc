#include "tests/integration/served_origin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

namespace mei::testing {

namespace fs = std::filesystem;

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::optional<fs::path> RequireTool(const std::string& tool) {
  auto path = FindOnPath(tool);
  if (!path) {
    ADD_FAILURE() << tool << " is not on PATH; scripts/setup --test installs it (and the other "
                  << "tools the integration tests drive)";
  }
  return path;
}

EnvironmentChanges LoopbackEnvironment() {
  return {"http_proxy",
          "HTTP_PROXY",
          "https_proxy",
          "HTTPS_PROXY",
          "all_proxy",
          "ALL_PROXY",
          "no_proxy=127.0.0.1,localhost",
          "NO_PROXY=127.0.0.1,localhost"};
}

Sha256Digest Sha256OfFile(const fs::path& path, std::uint64_t offset, std::uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  Sha256Hasher hasher;
  std::vector<char> buffer(1 << 20);
  while (length > 0 && in) {
    in.read(buffer.data(),
            static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), length)));
    const auto got = static_cast<std::uint64_t>(in.gcount());
    if (got == 0) break;
    hasher.Update(std::as_bytes(std::span(buffer.data(), got)));
    length -= got;
  }
  return hasher.Finish();
}

void CopyPrefix(const fs::path& source, const fs::path& target, std::uint64_t length) {
  std::ifstream in(source, std::ios::binary);
  std::vector<char> prefix(length);
  in.read(prefix.data(), static_cast<std::streamsize>(length));
  ASSERT_EQ(static_cast<std::uint64_t>(in.gcount()), length) << source;
  std::ofstream(target, std::ios::binary | std::ios::trunc)
      .write(prefix.data(), static_cast<std::streamsize>(length));
}

bool Synthesize(const fs::path& out, const std::string& size, const std::string& variants,
                const fs::path& scratch) {
  auto synth = RunProcess({BinaryPath("tools/synth/mei-synth").string(), "--out", out.string(),
                           "--size", size, "--variants", variants, "--seed", "3"},
                          scratch);
  EXPECT_EQ(synth.exit_code, 0) << synth.err;
  return synth.exit_code == 0;
}

std::string Ingest(const fs::path& store, const std::string& model, const fs::path& input,
                   const fs::path& scratch) {
  auto ingest = RunProcess({BinaryPath("origin/mei-origin").string(), "ingest", "--store",
                            store.string(), "--model", model, "--json", input.string()},
                           scratch);
  if (ingest.exit_code != 0) {
    ADD_FAILURE() << "ingest of " << model << " failed: " << ingest.err;
    return "";
  }
  boost::system::error_code ec;
  const auto report = boost::json::parse(ingest.out, ec);
  if (ec || !report.is_object() || !report.as_object().contains("commit")) {
    ADD_FAILURE() << "ingest report is not the expected JSON: " << ingest.out;
    return "";
  }
  return std::string(report.at("commit").as_string());
}

ServedOrigin StartOrigin(const fs::path& store, const fs::path& scratch,
                         const std::vector<std::string>& extra_args,
                         const EnvironmentChanges& environment) {
  std::vector<std::string> argv = {BinaryPath("origin/mei-origin").string(),
                                   "serve",
                                   "--store",
                                   store.string(),
                                   "--listen",
                                   "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  ServedOrigin origin{ChildProcess::Start(argv, scratch, environment), "", 0, "", ""};
  const auto line = origin.process.ReadLine(std::chrono::seconds(60));
  std::istringstream words(line.value_or(""));
  std::string listening, on, url, admin, admin_url, rest;
  words >> listening >> on >> url >> admin >> admin_url >> rest;
  constexpr std::string_view kScheme = "http://";
  const bool with_admin = !admin.empty();
  if (listening != "listening" || on != "on" || !url.starts_with(kScheme) || !rest.empty() ||
      (with_admin && (admin != "admin" || !admin_url.starts_with(kScheme)))) {
    ADD_FAILURE() << "mei-origin serve did not say where it listens (line: "
                  << line.value_or("<none>") << "); stderr: " << origin.process.Stderr();
    return origin;
  }
  origin.endpoint = url.substr(kScheme.size());
  if (with_admin) origin.admin_endpoint = admin_url.substr(kScheme.size());
  const auto colon = origin.endpoint.rfind(':');
  const std::string_view port = std::string_view(origin.endpoint).substr(colon + 1);
  if (colon == std::string::npos ||
      std::from_chars(port.data(), port.data() + port.size(), origin.port).ec != std::errc() ||
      origin.port == 0 || origin.endpoint.rfind("127.0.0.1:", 0) != 0) {
    ADD_FAILURE() << "unexpected listening line: " << *line;
    origin.endpoint.clear();
  }
  return origin;
}

void WriteTokenFile(const fs::path& file, const std::string& token) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::trunc) << token << "\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
}

ServedOrigin StartOriginWithAdmin(const fs::path& store, const fs::path& scratch,
                                  const std::vector<std::string>& extra_args) {
  const std::string token = "test-origin-admin-token-7e2d41c9";
  const fs::path token_file = scratch / "admin-token";
  WriteTokenFile(token_file, token);
  std::vector<std::string> args = {"--admin-listen", "127.0.0.1:0", "--admin-token-file",
                                   token_file.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ServedOrigin origin = StartOrigin(store, scratch, args, {"MEI_ADMIN_TOKEN"});
  origin.token = token;
  if (!origin.endpoint.empty() && origin.admin_endpoint.empty()) {
    ADD_FAILURE() << "mei-origin serve --admin-listen did not say where its admin API listens";
  }
  return origin;
}

std::optional<std::string> ResponseHead::Find(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

ResponseHead ParseHeadDump(std::string_view dump) {
  ResponseHead head;
  std::size_t position = 0;
  while (position < dump.size()) {
    std::size_t end = dump.find('\n', position);
    if (end == std::string_view::npos) end = dump.size();
    std::string_view line = dump.substr(position, end - position);
    position = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {
      head = ResponseHead();
      const auto space = line.find(' ');
      if (space != std::string_view::npos) {
        std::from_chars(line.data() + space + 1, line.data() + line.size(), head.status);
      }
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    head.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return head;
}

}  // namespace mei::testing
