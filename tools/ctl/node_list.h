// The nodes a meictl command talks to: each one's admin API base URL, and its id when the operator
// gave one. From `--node URL` or `--node ID=URL` (repeatable) and from a topology file.
//
// A topology file names one node a line, its id and its admin URL separated by white space;
// blank lines and lines starting with '#' are skipped:
//
//   # edge nodes of region west
//   edge-a  http://10.0.0.5:9091
//   edge-b  http://10.0.0.6:9091
//
// (placement's topology files carry data-plane URLs, not admin ones, so meictl has its own.)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei::tools {

struct NodeAddress {
  std::string id;   // "edge-a"; empty when the node was given as a bare URL
  std::string url;  // admin API base URL, "http://10.0.0.5:9091", without a trailing '/'

  // How messages and the "node" field of --json name the node: its id, else its URL.
  [[nodiscard]] std::string Name() const { return id.empty() ? url : id; }
  // "edge-a (http://10.0.0.5:9091)", or the URL alone when there is no id.
  [[nodiscard]] std::string Label() const;
};

// A base URL as meictl takes it (--node, --origin, a topology line): checked with
// mei::http::ParseHttpUrl (kBadRequest saying why), returned without trailing '/'. Thread-safe.
[[nodiscard]] Result<std::string> ParseBaseUrl(std::string_view text);

// Parses a --node value: "http://HOST:PORT[/prefix]" or "ID=http://HOST:PORT[/prefix]".
// kBadRequest, saying why, for an empty id or a URL that mei::http::ParseHttpUrl rejects.
// Thread-safe.
[[nodiscard]] Result<NodeAddress> ParseNodeFlag(std::string_view text);

// Parses a topology file's text (format above). kBadRequest "line N: ..." for a line that is not
// "ID URL", a bad URL or a repeated id, and for a file that names no node. Thread-safe.
[[nodiscard]] Result<std::vector<NodeAddress>> ParseTopology(std::string_view text);

// Reads and parses the topology file at `path`; errors name the file. Thread-safe.
[[nodiscard]] Result<std::vector<NodeAddress>> LoadTopology(const std::filesystem::path& path);

}  // namespace mei::tools
