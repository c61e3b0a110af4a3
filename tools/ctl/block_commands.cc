#include "tools/ctl/block_commands.h"

#include <boost/json.hpp>

#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {

namespace json = boost::json;

std::string_view NameOf(BlockAction action) {
  switch (action) {
    case BlockAction::kPin:
      return "pin";
    case BlockAction::kUnpin:
      return "unpin";
    case BlockAction::kPurge:
      break;
  }
  return "purge";
}

std::string RenderBlockAction(BlockAction action, std::span<const NodeOutcome> outcomes) {
  // The reply keys counted, and their column headers.
  std::vector<std::pair<std::string_view, std::string_view>> counts;
  switch (action) {
    case BlockAction::kPin:
      counts = {{"pinned", "PINNED"}};
      break;
    case BlockAction::kUnpin:
      counts = {{"unpinned", "UNPINNED"}};
      break;
    case BlockAction::kPurge:
      counts = {
          {"purged", "PURGED"}, {"kept_pinned", "KEPT PINNED"}, {"kept_shared", "KEPT SHARED"}};
      break;
  }
  std::vector<Column> columns = {{"NODE"}};
  for (const auto& [key, header] : counts) columns.push_back({std::string(header), Align::kRight});
  Table table(std::move(columns));
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    std::vector<std::string> row = {outcome.node.Name()};
    for (const auto& [key, header] : counts) {
      row.push_back(std::to_string(UintAt(AsObject(*outcome.reply), key)));
    }
    table.AddRow(std::move(row));
  }
  return table.empty() ? "" : table.Render();
}

int RunBlockAction(const Session& session, BlockAction action, const BlockSelection& selection) {
  const auto outcomes = CallEachNode(session, [&](const AdminClient& client) {
    switch (action) {
      case BlockAction::kPin:
        return AsValue(client.Pin(selection));
      case BlockAction::kUnpin:
        return AsValue(client.Unpin(selection));
      case BlockAction::kPurge:
        break;
    }
    return AsValue(client.Purge(selection));
  });
  return Report(session, NameOf(action), outcomes, RenderBlockAction(action, outcomes),
                json::object{{"target", Describe(selection)}});
}

}  // namespace mei::tools
