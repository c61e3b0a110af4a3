#include "tools/ctl/node_error.h"

#include <fmt/format.h>

#include <stdexcept>

namespace mei::tools {

std::string_view NameOf(NodeFailure failure) {
  switch (failure) {
    case NodeFailure::kUnreachable:
      return "unreachable";
    case NodeFailure::kTokenRefused:
      return "token refused";
    case NodeFailure::kErrorReply:
      return "error reply";
    case NodeFailure::kBadReply:
      return "bad reply";
    case NodeFailure::kFailed:
      break;
  }
  return "failed";
}

std::string Describe(const NodeError& error) {
  if (error.failure == NodeFailure::kErrorReply) {
    return fmt::format("{} {}{}: {}", NameOf(error.failure), error.http_status,
                       error.code.empty() ? "" : fmt::format(" ({})", error.code), error.message);
  }
  return fmt::format("{}: {}", NameOf(error.failure), error.message);
}

NodeError UnreachableError(std::string_view method, std::string_view url, Error error) {
  std::string message = std::move(error.message);
  const std::string prefix = fmt::format("{} {} ", method, url);
  if (message.starts_with(prefix)) message.erase(0, prefix.size());
  if (message.starts_with("failed: ")) message.erase(0, 8);
  return {NodeFailure::kUnreachable, 0, "", std::move(message)};
}

void throw_exception_from_error(const NodeError& error, const boost::source_location&) {
  throw std::runtime_error(Describe(error));
}

}  // namespace mei::tools
