#include "tools/ctl/status_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/byte_size.h"
#include "tools/ctl/model_table.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

// "parent: yes, peer:edge-b: no"; "-" for none.
std::string Upstreams(const json::array& upstreams) {
  std::string text;
  for (const json::value& entry : upstreams) {
    const json::object& upstream = AsObject(entry);
    if (!text.empty()) text += ", ";
    text += fmt::format("{}: {}", StringAt(upstream, "name"), YesNo(BoolAt(upstream, "reachable")));
  }
  return text.empty() ? "-" : text;
}

// "greedy, 2 models"; "-" without a plan.
std::string PlanSummary(const json::object& status) {
  const json::object& plan = ObjectAt(status, "plan");
  if (plan.empty()) return "-";
  return fmt::format("{}, {}", StringAt(plan, "algorithm"),
                     CountOf(UintAt(plan, "models"), "model"));
}

Table PrefetchTable(const json::array& jobs) {
  Table table({{"MODEL"},
               {"REVISION"},
               {"STATE"},
               {"BLOCKS", Align::kRight},
               {"FETCHED", Align::kRight},
               {"ERROR"}});
  for (const json::value& entry : jobs) {
    const json::object& job = AsObject(entry);
    const std::string error = StringAt(job, "error");
    table.AddRow({StringAt(job, "model"), StringAt(job, "revision"), StringAt(job, "state"),
                  fmt::format("{}/{}", UintAt(job, "blocks_done"), UintAt(job, "blocks")),
                  FormatByteSize(UintAt(job, "bytes_fetched")), error.empty() ? "-" : error});
  }
  return table;
}

}  // namespace

std::string RenderStatus(std::span<const NodeOutcome> outcomes) {
  Table summary({{"NODE"},
                 {"CAPACITY", Align::kRight},
                 {"USED", Align::kRight},
                 {"BLOCKS", Align::kRight},
                 {"PINNED", Align::kRight},
                 {"HIT RATIO", Align::kRight},
                 {"REQUESTS", Align::kRight},
                 {"PLAN"},
                 {"UPSTREAMS"}});
  std::string details;
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::object& status = AsObject(*outcome.reply);
    std::string name = StringAt(status, "node_id");
    if (name.empty()) name = outcome.node.Name();
    const json::object& requests = ObjectAt(status, "requests");
    const std::uint64_t capacity = UintAt(status, "capacity_bytes");
    summary.AddRow(
        {name, FormatByteSize(capacity), FormatShare(UintAt(status, "used_bytes"), capacity),
         std::to_string(UintAt(status, "blocks")), std::to_string(UintAt(status, "pinned_blocks")),
         FormatPercent(NumberAt(status, "hit_ratio")),
         std::to_string(UintAt(requests, "hit") + UintAt(requests, "miss") +
                        UintAt(requests, "partial")),
         PlanSummary(status), Upstreams(ArrayAt(status, "upstreams"))});

    const json::array& models = ArrayAt(status, "models");
    details += fmt::format("\n{} models:{}", name, models.empty() ? " none\n" : "\n");
    if (!models.empty()) details += ModelTable(models).Render("  ");
    const json::array& jobs = ArrayAt(status, "prefetch");
    if (!jobs.empty())
      details += fmt::format("{} prefetch:\n{}", name, PrefetchTable(jobs).Render("  "));
  }
  if (summary.empty()) return "";
  return summary.Render() + details;
}

int RunStatus(const Session& session) {
  const auto outcomes =
      CallEachNode(session, [](const AdminClient& client) { return AsValue(client.Status()); });
  return Report(session, "status", outcomes, RenderStatus(outcomes));
}

}  // namespace mei::tools
