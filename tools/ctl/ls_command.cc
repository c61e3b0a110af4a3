#include "tools/ctl/ls_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <functional>

#include "common/byte_size.h"
#include "tools/ctl/model_table.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

Table BlockTable(const json::array& blocks) {
  Table table({{"BLOCK"},
               {"RAW", Align::kRight},
               {"STORED", Align::kRight},
               {"CODEC"},
               {"HITS", Align::kRight},
               {"PINNED"}});
  for (const json::value& entry : blocks) {
    const json::object& block = AsObject(entry);
    table.AddRow({StringAt(block, "id"), FormatByteSize(UintAt(block, "raw_size")),
                  FormatByteSize(UintAt(block, "stored_size")), StringAt(block, "codec"),
                  std::to_string(UintAt(block, "hits")),
                  std::string(YesNo(BoolAt(block, "pinned")))});
  }
  return table;
}

// Per node that answered: "LABEL: 3 <noun>s" and the table of its reply's `key` array.
std::string RenderPerNode(std::span<const NodeOutcome> outcomes, std::string_view key,
                          std::string_view noun,
                          const std::function<Table(const json::array&)>& make_table) {
  std::string text;
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::array& entries = ArrayAt(AsObject(*outcome.reply), key);
    if (!text.empty()) text += "\n";
    text += fmt::format("{}: {}\n", outcome.node.Label(), CountOf(entries.size(), noun));
    if (!entries.empty()) text += make_table(entries).Render("  ");
  }
  return text;
}

}  // namespace

std::string RenderModels(std::span<const NodeOutcome> outcomes) {
  return RenderPerNode(outcomes, "models", "model", ModelTable);
}

std::string RenderBlocks(std::span<const NodeOutcome> outcomes) {
  return RenderPerNode(outcomes, "blocks", "block", BlockTable);
}

int RunLs(const Session& session, bool blocks) {
  const auto outcomes = CallEachNode(session, [blocks](const AdminClient& client) {
    return AsValue(blocks ? client.Blocks() : client.Models());
  });
  return Report(session, "ls", outcomes, blocks ? RenderBlocks(outcomes) : RenderModels(outcomes));
}

}  // namespace mei::tools
