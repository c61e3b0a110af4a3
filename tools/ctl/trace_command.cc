#include "tools/ctl/trace_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>

#include "common/atomic_file.h"
#include "tools/ctl/exit_code.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"
#include "tools/ctl/trace_merge.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

// A node whose log needs more pages than this is not paged further (64 GiB of lines).
constexpr std::size_t kMaxPages = 1024;

NodeResult<json::value> PullNode(const AdminClient& client, const std::string& since,
                                 std::vector<TraceLine>& lines) {
  TracePager pager(since);
  for (bool more = true; more;) {
    if (pager.pages() == kMaxPages) {
      return NodeError{NodeFailure::kFailed, 0, "",
                       fmt::format("the trace needs more than {} replies", kMaxPages)};
    }
    auto page = client.Trace(pager.since());
    if (!page) return page.error();
    auto added = pager.Add(*page);
    if (!added) return NodeError{NodeFailure::kBadReply, 200, "", added.error().message};
    more = *added;
  }
  json::object reply{
      {"lines", pager.lines().size()}, {"pages", pager.pages()}, {"skipped", pager.skipped()}};
  lines = pager.TakeLines();
  return json::value(std::move(reply));
}

Result<void> WriteTrace(const std::filesystem::path& out, const std::vector<std::string>& lines) {
  auto file = AtomicFile::Create(out);
  if (!file) return file.error();
  for (const std::string& line : lines) {
    if (auto appended = file->Append(line); !appended) return appended;
    if (auto appended = file->Append("\n"); !appended) return appended;
  }
  return file->Commit();
}

}  // namespace

std::string RenderTracePull(std::span<const NodeOutcome> outcomes) {
  Table table({{"NODE"}, {"LINES", Align::kRight}, {"PAGES", Align::kRight}});
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::object& reply = AsObject(*outcome.reply);
    table.AddRow({outcome.node.Name(), std::to_string(UintAt(reply, "lines")),
                  std::to_string(UintAt(reply, "pages"))});
  }
  return table.empty() ? "" : table.Render();
}

int RunTracePull(const Session& session, const std::string& since,
                 const std::filesystem::path& out) {
  std::vector<std::vector<TraceLine>> lines(session.nodes.size());
  const auto outcomes = CallEachNodeAt(session, [&](std::size_t index, const AdminClient& client) {
    return PullNode(client, since, lines[index]);
  });
  const bool any = std::any_of(outcomes.begin(), outcomes.end(), [](const NodeOutcome& outcome) {
    return outcome.reply.has_value();
  });
  const std::vector<std::string> merged = MergeByTime(std::move(lines));
  Result<void> written = Error{Errc::kUpstreamFailed, "no node answered, so nothing was written"};
  if (any) written = WriteTrace(out, merged);

  std::string text = RenderTracePull(outcomes);
  if (written) text += fmt::format("wrote {} lines to {}\n", merged.size(), out.string());
  int code = Report(session, "trace pull", outcomes, text,
                    json::object{{"out", out.string()},
                                 {"lines", written ? merged.size() : 0},
                                 {"written", written.has_value()}});
  if (!written) {
    std::fprintf(stderr, "meictl: %s\n", written.error().message.c_str());
    if (code == static_cast<int>(ExitCode::kOk)) code = static_cast<int>(ExitCode::kNodeFailed);
  }
  return code;
}

}  // namespace mei::tools
