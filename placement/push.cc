#include "placement/push.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

namespace mei::placement {

Result<PushTarget> ParsePushTarget(std::string_view text) {
  const auto equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return Error{
        Errc::kBadRequest,
        fmt::format("--admin \"{}\" is not ID=URL (e.g. bs-0=http://10.0.0.5:9090)", text)};
  }
  PushTarget target{std::string(text.substr(0, equals)), std::string(text.substr(equals + 1))};
  if (auto url = http::ParseHttpUrl(target.admin_url); !url) {
    return Error{Errc::kBadRequest,
                 fmt::format("--admin {}: {}", target.node_id, url.error().message)};
  }
  while (target.admin_url.ends_with('/')) target.admin_url.pop_back();
  return target;
}

Result<void> CheckPushTargets(const Plan& plan, std::span<const PushTarget> targets) {
  for (const PushTarget& target : targets) {
    if (!plan.nodes.contains(target.node_id)) {
      return Error{Errc::kBadRequest,
                   fmt::format("the plan has no node {}; its nodes are the ones it was solved for",
                               target.node_id)};
    }
  }
  for (const auto& [node_id, node] : plan.nodes) {
    // An init-capture, not [&]: clang before 16 cannot capture a structured binding.
    const bool given =
        std::any_of(targets.begin(), targets.end(),
                    [&id = node_id](const PushTarget& t) { return t.node_id == id; });
    if (!given) {
      return Error{Errc::kBadRequest,
                   fmt::format("no admin URL for node {}; give --admin {}=http://HOST:PORT",
                               node_id, node_id)};
    }
  }
  return {};
}

std::vector<PushOutcome> PushPlan(const Plan& plan, std::span<const PushTarget> targets,
                                  const std::string& token, const http::ClientOptions& options) {
  const std::string body = ToJson(plan);
  std::vector<PushOutcome> outcomes;
  for (const PushTarget& target : targets) {
    http::ClientRequest request;
    request.method = "PUT";
    request.url = target.admin_url + "/admin/v1/plan";
    request.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
    request.body = body;
    auto response = http::Fetch(request, options);
    if (!response) {
      outcomes.push_back({target.node_id, response.error()});
      continue;
    }
    if (response->status != 200) {
      std::string message;
      boost::system::error_code ec;
      const boost::json::value reply = boost::json::parse(response->body, ec);
      if (const auto* object = ec ? nullptr : reply.if_object()) {
        if (const auto* text = object->if_contains("message"); text && text->is_string()) {
          message = std::string(text->get_string());
        }
      }
      const Errc code = response->status == 401 ? Errc::kUnauthorized : Errc::kUpstreamFailed;
      outcomes.push_back(
          {target.node_id,
           Error{code, fmt::format("node {} answered {}{}{}", target.node_id, response->status,
                                   message.empty() ? "" : ": ", message)}});
      continue;
    }
    outcomes.push_back({target.node_id, std::move(response->body)});
  }
  return outcomes;
}

}  // namespace mei::placement
