#include "tools/ctl/origin_commands.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/byte_size.h"
#include "common/errc.h"
#include "common/http/data_plane_client.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

NodeResult<json::value> ModelList(const http::RemoteNode& origin,
                                  const http::ClientOptions& client) {
  auto entries = http::FetchModelList(origin, {"", client});
  if (!entries) {
    Error error = entries.error();
    const std::string url = origin.base_url + "/v1/models";
    if (error.message.starts_with("GET " + url + " ")) {
      return UnreachableError("GET", url, std::move(error));
    }
    return NodeError{NodeFailure::kErrorReply, 0, std::string(CodeOf(error.code)),
                     std::move(error.message)};
  }
  json::array models;
  for (const ManifestStore::RevisionEntry& entry : *entries) {
    models.push_back(json::object{
        {"model", entry.model}, {"revision", entry.revision}, {"commit", entry.commit}});
  }
  return json::value(json::object{{"models", std::move(models)}});
}

}  // namespace

std::vector<std::string> AbsolutePaths(const std::vector<std::string>& paths,
                                       const std::filesystem::path& cwd) {
  std::vector<std::string> absolute;
  for (const std::string& path : paths) {
    const std::filesystem::path given(path);
    absolute.push_back((given.is_absolute() ? given : cwd / given).lexically_normal().string());
  }
  return absolute;
}

std::string RenderIngest(std::span<const NodeOutcome> outcomes) {
  std::string text;
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::object& r = AsObject(*outcome.reply);
    text += fmt::format(
        "{}@{}: commit {}\n"
        "  {} files, {} tensors, {} blocks ({} new)\n"
        "  raw {} ({} new, {} deduplicated), stored {}, {:.1f} s\n",
        StringAt(r, "model"), StringAt(r, "revision"), StringAt(r, "commit"), UintAt(r, "files"),
        UintAt(r, "tensors"), UintAt(r, "blocks"), UintAt(r, "new_blocks"),
        FormatByteSize(UintAt(r, "raw_bytes")), FormatByteSize(UintAt(r, "new_raw_bytes")),
        FormatByteSize(UintAt(r, "dedup_raw_bytes")), FormatByteSize(UintAt(r, "stored_bytes")),
        NumberAt(r, "seconds"));
    // By how the files were cut; an origin from before the split sends none.
    if (const json::value* formats = r.if_contains("formats")) {
      for (const auto& [name, value] : AsObject(*formats)) {
        const json::object& format = AsObject(value);
        text +=
            fmt::format("  {}: {} files, {} tensors, {} blocks, raw {} ({} deduplicated)\n",
                        std::string_view(name), UintAt(format, "files"), UintAt(format, "tensors"),
                        UintAt(format, "blocks"), FormatByteSize(UintAt(format, "raw_bytes")),
                        FormatByteSize(UintAt(format, "dedup_raw_bytes")));
      }
    }
    if (const json::value* notes = r.if_contains("notes"); notes != nullptr && notes->is_array()) {
      for (const json::value& note : notes->get_array()) {
        if (note.is_string())
          text += fmt::format("  note: {}\n", std::string_view(note.get_string()));
      }
    }
  }
  return text;
}

std::string RenderModelList(std::span<const NodeOutcome> outcomes) {
  Table table({{"MODEL"}, {"REVISION"}, {"COMMIT"}});
  bool answered = false;
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    answered = true;
    for (const json::value& entry : ArrayAt(AsObject(*outcome.reply), "models")) {
      const json::object& model = AsObject(entry);
      table.AddRow(
          {StringAt(model, "model"), StringAt(model, "revision"), StringAt(model, "commit")});
    }
  }
  return answered ? table.Render() : "";
}

int RunIngest(const Session& session, const IngestRequest& request,
              std::chrono::milliseconds wait) {
  const auto outcomes = CallEachNode(
      session, [&](const AdminClient& client) { return AsValue(client.Ingest(request, wait)); });
  return Report(session, "ingest", outcomes, RenderIngest(outcomes));
}

int RunModelList(const std::string& origin_url, const http::ClientOptions& client, bool json) {
  const NodeAddress origin{"origin", origin_url};
  const std::vector<NodeOutcome> outcomes = {{origin, ModelList({origin.id, origin.url}, client)}};
  return Report(Session{{origin}, "", client, json}, "models", outcomes, RenderModelList(outcomes));
}

}  // namespace mei::tools
