#include "tools/ctl/report.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>

#include "tools/ctl/exit_code.h"

namespace mei::tools {

namespace json = boost::json;

json::object JsonReport(std::string_view command, std::span<const NodeOutcome> outcomes,
                        json::object extra) {
  json::array nodes;
  for (const NodeOutcome& outcome : outcomes) {
    json::object node{{"node", outcome.node.Name()},
                      {"url", outcome.node.url},
                      {"ok", outcome.reply.has_value()}};
    if (outcome.reply) {
      node["reply"] = *outcome.reply;
    } else {
      const NodeError& error = outcome.reply.error();
      node["error"] = json::object{{"kind", NameOf(error.failure)},
                                   {"http_status", error.http_status},
                                   {"code", error.code},
                                   {"message", error.message}};
    }
    nodes.push_back(std::move(node));
  }
  json::object document{{"command", command}, {"nodes", std::move(nodes)}};
  for (auto& [key, value] : extra) document[key] = std::move(value);
  return document;
}

std::string FailureLines(std::span<const NodeOutcome> outcomes) {
  std::string lines;
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) {
      lines += fmt::format("{}: {}\n", outcome.node.Label(), Describe(outcome.reply.error()));
    }
  }
  return lines;
}

int Report(const Session& session, std::string_view command, std::span<const NodeOutcome> outcomes,
           std::string_view text, json::object extra) {
  if (session.json) {
    const std::string document =
        json::serialize(JsonReport(command, outcomes, std::move(extra))) + "\n";
    std::fwrite(document.data(), 1, document.size(), stdout);
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::fflush(stdout);
  const std::string failures = FailureLines(outcomes);
  std::fwrite(failures.data(), 1, failures.size(), stderr);
  return static_cast<int>(ExitCodeOf(outcomes));
}

}  // namespace mei::tools
