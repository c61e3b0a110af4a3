#include "tools/ctl/node_list.h"

#include <fmt/format.h>

#include <set>

#include "common/http/client.h"
#include "common/text_file.h"

namespace mei::tools {
namespace {

constexpr std::string_view kSpace = " \t\r";

}  // namespace

Result<std::string> ParseBaseUrl(std::string_view text) {
  if (auto url = http::ParseHttpUrl(text); !url) return url.error();
  std::string url(text);
  while (url.ends_with('/')) url.pop_back();
  return url;
}

std::string NodeAddress::Label() const {
  return id.empty() ? url : fmt::format("{} ({})", id, url);
}

Result<NodeAddress> ParseNodeFlag(std::string_view text) {
  NodeAddress node;
  std::string_view url = text;
  // "ID=URL" when what comes before the first '=' is not itself the start of a URL (a bare URL
  // may have a '=' in its query).
  const std::size_t equals = text.find('=');
  if (equals != std::string_view::npos &&
      text.substr(0, equals).find("://") == std::string_view::npos) {
    node.id = std::string(text.substr(0, equals));
    url = text.substr(equals + 1);
    if (node.id.empty() || node.id.find_first_of(kSpace) != std::string::npos) {
      return Error{Errc::kBadRequest,
                   fmt::format("--node \"{}\" has an empty or blank id before '='", text)};
    }
  }
  auto checked = ParseBaseUrl(url);
  if (!checked) {
    return Error{Errc::kBadRequest, fmt::format("--node: {}", checked.error().message)};
  }
  node.url = std::move(*checked);
  return node;
}

Result<std::vector<NodeAddress>> ParseTopology(std::string_view text) {
  std::vector<NodeAddress> nodes;
  std::set<std::string, std::less<>> ids;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);

    std::vector<std::string_view> words;
    while (true) {
      const std::size_t start = line.find_first_not_of(kSpace);
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      const std::size_t stop = std::min(line.find_first_of(kSpace), line.size());
      words.push_back(line.substr(0, stop));
      line.remove_prefix(stop);
    }
    if (words.empty() || words.front().starts_with('#')) continue;
    if (words.size() != 2) {
      return Error{Errc::kBadRequest, fmt::format("line {}: expected \"ID URL\", got {} word(s)",
                                                  number, words.size())};
    }
    auto url = ParseBaseUrl(words[1]);
    if (!url) {
      return Error{Errc::kBadRequest, fmt::format("line {}: {}", number, url.error().message)};
    }
    if (!ids.emplace(words[0]).second) {
      return Error{Errc::kBadRequest,
                   fmt::format("line {}: node {} is named twice", number, words[0])};
    }
    nodes.push_back({std::string(words[0]), std::move(*url)});
  }
  if (nodes.empty()) return Error{Errc::kBadRequest, "it names no node (one \"ID URL\" a line)"};
  return nodes;
}

Result<std::vector<NodeAddress>> LoadTopology(const std::filesystem::path& path) {
  auto text = ReadTextFile(path);
  if (!text) return text.error();
  auto nodes = ParseTopology(*text);
  if (!nodes) {
    return Error{nodes.error().code, fmt::format("{}: {}", path.string(), nodes.error().message)};
  }
  return nodes;
}

}  // namespace mei::tools
