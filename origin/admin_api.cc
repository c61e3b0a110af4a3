#include "origin/admin_api.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/byte_size.h"
#include "common/http/admin_reply.h"
#include "common/http/target.h"
#include "origin/ingest.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using http::Reply;
using http::Request;

// What a POST /admin/v1/ingest body asks for.
struct IngestCall {
  IngestOptions options;
  std::vector<fs::path> paths;
};

Error BadField(std::string_view field, std::string_view what) {
  return {Errc::kBadRequest, fmt::format("\"{}\" must be {}", field, what)};
}

Result<std::vector<fs::path>> ParsePaths(const json::value& field) {
  const json::array* array = field.if_array();
  if (array == nullptr || array->empty()) {
    return BadField("paths", "a non-empty array of absolute paths on the origin");
  }
  std::vector<fs::path> paths;
  for (const json::value& entry : *array) {
    const json::string* text = entry.if_string();
    if (text == nullptr || text->empty() || text->find('\0') != json::string::npos) {
      return BadField("paths", "an array of absolute paths (non-empty strings)");
    }
    fs::path path{std::string_view(*text)};
    if (!path.is_absolute()) {
      return Error{Errc::kBadRequest, fmt::format("path {} is relative; paths must be absolute "
                                                  "on the origin's file system",
                                                  path.string())};
    }
    paths.push_back(std::move(path));
  }
  return paths;
}

Result<std::uint64_t> ParseMaxBlock(const json::value& field) {
  if (const json::string* text = field.if_string()) return ParseByteSize(*text);
  boost::system::error_code ec;
  const auto bytes = field.to_number<std::uint64_t>(ec);
  if (ec) return BadField("max_block", "a byte size such as \"4MiB\" or 4194304");
  return bytes;
}

// Reads the fields of an ingest body (see admin_api.h) and validates them as Ingest would, so
// that a bad request is answered before any file is read.
Result<IngestCall> ParseIngestCall(std::string_view body) {
  boost::system::error_code ec;
  const json::value value = json::parse(body, ec);
  const json::object* object = ec ? nullptr : value.if_object();
  if (object == nullptr) {
    return Error{Errc::kBadRequest,
                 "the body must be a JSON object with \"model\" and \"paths\" (and optionally "
                 "\"revision\", \"min_saving\", \"zstd_level\", \"max_block\")"};
  }
  IngestCall call;
  bool named_model = false;
  for (const auto& [key, field] : *object) {
    if (key == "model") {
      if (!field.is_string()) return BadField(key, "a string, \"org/name\"");
      call.options.model = std::string(field.get_string());
      named_model = true;
    } else if (key == "revision") {
      if (!field.is_string()) return BadField(key, "a string");
      call.options.revision = std::string(field.get_string());
    } else if (key == "paths") {
      auto paths = ParsePaths(field);
      if (!paths) return paths.error();
      call.paths = std::move(*paths);
    } else if (key == "min_saving") {
      call.options.encoding.min_saving = field.to_number<double>(ec);
      if (ec) return BadField(key, "a number from 0 to 1");
    } else if (key == "zstd_level") {
      call.options.encoding.zstd_level = field.to_number<int>(ec);
      if (ec) return BadField(key, "an integer");
    } else if (key == "max_block") {
      auto max_block = ParseMaxBlock(field);
      if (!max_block) return max_block.error();
      call.options.chunking.max_block = *max_block;
    } else if (key == "by_content") {
      if (!field.is_bool()) return BadField(key, "true or false");
      call.options.chunking.by_content_only = field.get_bool();
    } else {
      return Error{Errc::kBadRequest,
                   fmt::format("unknown field \"{}\"; an ingest takes \"model\", \"revision\", "
                               "\"paths\", \"min_saving\", \"zstd_level\", \"max_block\" and "
                               "\"by_content\"",
                               std::string_view(key))};
    }
  }
  if (!named_model) return BadField("model", "given, as \"org/name\"");
  if (call.paths.empty()) return BadField("paths", "given: the files and directories to ingest");
  if (auto valid = ValidateIngestOptions(call.options); !valid) return valid.error();
  return call;
}

Reply Status(const Store& store) {
  auto revisions = store.manifests->List();
  if (!revisions) return http::AdminError(revisions.error());
  json::array models;
  for (const ManifestStore::RevisionEntry& entry : *revisions) {
    models.push_back(json::object{
        {"model", entry.model}, {"revision", entry.revision}, {"commit", entry.commit}});
  }
  return http::AdminReply(Reply::Json(200, json::serialize(json::object{
                                               {"role", "origin"},
                                               {"models", std::move(models)},
                                               {"blocks", store.blocks->block_count()},
                                               {"stored_bytes", store.blocks->stored_bytes()},
                                           })));
}

}  // namespace

AdminApi::AdminApi(Store& store, http::AdminAuth auth) : store_(store), auth_(std::move(auth)) {}

Reply AdminApi::Handle(const Request& request) {
  auto route = http::AdminRoute(request, auth_, "mei-origin");
  if (Reply* refused = std::get_if<Reply>(&route)) return std::move(*refused);
  const std::string& name = std::get<std::string>(route);
  if (name == "status") {
    if (request.method != "GET" && request.method != "HEAD") {
      return http::AdminMethodNotAllowed(request, "GET");
    }
    return Status(store_);
  }
  if (name == "ingest") {
    return request.method == "POST" ? PostIngest(request)
                                    : http::AdminMethodNotAllowed(request, "POST");
  }
  return http::AdminError({Errc::kFileNotFound, "no admin route at " + request.target});
}

Reply AdminApi::PostIngest(const Request& request) {
  auto call = ParseIngestCall(request.body);
  if (!call) return http::AdminError(call.error());
  // The inputs are listed under the lock too, so that they are read as they are when the ingest
  // starts, not as they were when the call began to wait.
  std::lock_guard lock(ingest_mu_);
  auto files = CollectInputs(call->paths);
  if (!files) return http::AdminError(files.error());
  auto report = Ingest(store_, *files, call->options);
  if (!report) return http::AdminError(report.error());
  return http::AdminReply(Reply::Json(200, ToJson(*report)));
}

}  // namespace mei::origin
