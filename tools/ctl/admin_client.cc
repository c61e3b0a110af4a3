#include "tools/ctl/admin_client.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <utility>

namespace mei::tools {
namespace {

namespace json = boost::json;

// A trace reply holds at most 64 MiB of lines (the node cuts it there and says so).
constexpr std::uint64_t kMaxTraceReplyBytes = (64ull << 20) + (1ull << 20);

// The error a non-2xx reply stands for, with the node's {"error","message"} when it sent one.
NodeError ErrorOfReply(std::string_view method, std::string_view target,
                       const http::ClientResponse& response) {
  if (response.status == 401) {
    return {NodeFailure::kTokenRefused, 401, "unauthorized",
            "the node answered 401; check --token-file or MEI_ADMIN_TOKEN"};
  }
  NodeError error{NodeFailure::kErrorReply, response.status, "", ""};
  boost::system::error_code ec;
  const json::value body = json::parse(response.body, ec);
  if (const json::object* object = ec ? nullptr : body.if_object()) {
    if (const json::value* code = object->if_contains("error"); code && code->is_string()) {
      error.code = std::string(code->get_string());
    }
    if (const json::value* text = object->if_contains("message"); text && text->is_string()) {
      error.message = std::string(text->get_string());
    }
  }
  if (error.message.empty()) {
    error.message = fmt::format("{} {} answered without an error message", method, target);
  }
  return error;
}

}  // namespace

AdminClient::AdminClient(NodeAddress node, std::string token, http::ClientOptions options)
    : node_(std::move(node)), token_(std::move(token)), options_(options) {}

NodeResult<http::ClientResponse> AdminClient::Send(std::string method, std::string_view target,
                                                   std::string body,
                                                   const http::ClientOptions& options) const {
  http::ClientRequest request;
  request.method = std::move(method);
  request.url = node_.url + std::string(target);
  request.headers = {{"Authorization", "Bearer " + token_}};
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  auto response = http::Fetch(request, options);
  if (!response) {
    return UnreachableError(request.method, request.url, response.error());
  }
  if (response->status < 200 || response->status > 299) {
    return ErrorOfReply(request.method, target, *response);
  }
  return std::move(*response);
}

NodeResult<json::object> AdminClient::Call(std::string method, std::string_view target,
                                           std::string body,
                                           const http::ClientOptions& options) const {
  const std::string what = method + " " + std::string(target);
  auto response = Send(std::move(method), target, std::move(body), options);
  if (!response) return response.error();
  boost::system::error_code ec;
  json::value reply = json::parse(response->body, ec);
  if (ec || !reply.is_object()) {
    return NodeError{NodeFailure::kBadReply, response->status, "",
                     fmt::format("the reply to {} is not a JSON object", what)};
  }
  return std::move(reply.as_object());
}

NodeResult<json::object> AdminClient::Status() const {
  return Call("GET", "/admin/v1/status", "", options_);
}

NodeResult<json::object> AdminClient::Models() const {
  return Call("GET", "/admin/v1/models", "", options_);
}

NodeResult<json::object> AdminClient::Blocks() const {
  return Call("GET", "/admin/v1/blocks", "", options_);
}

NodeResult<json::object> AdminClient::Prefetch(const ModelRef& model) const {
  return Call("POST", "/admin/v1/prefetch",
              json::serialize(json::object{{"model", model.model}, {"revision", model.revision}}),
              options_);
}

NodeResult<json::object> AdminClient::Pin(const BlockSelection& selection) const {
  return Call("POST", "/admin/v1/pin", SelectionBody(selection), options_);
}

NodeResult<json::object> AdminClient::Unpin(const BlockSelection& selection) const {
  return Call("POST", "/admin/v1/unpin", SelectionBody(selection), options_);
}

NodeResult<json::object> AdminClient::Purge(const BlockSelection& selection) const {
  return Call("POST", "/admin/v1/purge", SelectionBody(selection), options_);
}

NodeResult<json::object> AdminClient::PutPlan(std::string_view plan_json) const {
  return Call("PUT", "/admin/v1/plan", std::string(plan_json), options_);
}

NodeResult<std::optional<json::object>> AdminClient::GetPlan() const {
  auto plan = Call("GET", "/admin/v1/plan", "", options_);
  if (!plan) {
    if (plan.error().http_status == 404) return std::optional<json::object>();
    return plan.error();
  }
  return std::optional<json::object>(std::move(*plan));
}

NodeResult<TracePage> AdminClient::Trace(std::string_view since) const {
  http::ClientOptions options = options_;
  options.max_body_bytes = kMaxTraceReplyBytes;
  std::string target = "/admin/v1/trace";
  if (!since.empty()) target += "?since=" + std::string(since);
  auto response = Send("GET", target, "", options);
  if (!response) return response.error();
  TracePage page;
  page.truncated = response->Header("X-Mei-Truncated") == "true";
  std::string_view body = response->body;
  while (!body.empty()) {
    const std::size_t end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!line.empty()) page.lines.emplace_back(line);
  }
  return page;
}

NodeResult<json::object> AdminClient::Ingest(const IngestRequest& request,
                                             std::chrono::milliseconds wait) const {
  json::object body{{"model", request.model.model}, {"revision", request.model.revision}};
  json::array paths;
  for (const std::string& path : request.paths) paths.push_back(json::string(path));
  body["paths"] = std::move(paths);
  if (request.min_saving) body["min_saving"] = *request.min_saving;
  if (request.zstd_level) body["zstd_level"] = *request.zstd_level;
  if (request.max_block) body["max_block"] = *request.max_block;
  http::ClientOptions options = options_;
  options.idle_timeout = wait;
  return Call("POST", "/admin/v1/ingest", json::serialize(body), options);
}

}  // namespace mei::tools
