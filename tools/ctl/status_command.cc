#include "tools/ctl/status_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "common/byte_size.h"
#include "tools/ctl/model_table.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

// "closed", "open" or "half_open"; from a node that predates circuits, "yes" or "no" for
// whether the upstream is reachable.
std::string CircuitOf(const json::object& upstream) {
  const std::string circuit = StringAt(upstream, "circuit");
  return circuit.empty() ? std::string(YesNo(BoolAt(upstream, "reachable"))) : circuit;
}

// "parent: closed, peer:edge-b: open"; "-" for none.
std::string Upstreams(const json::array& upstreams) {
  std::string text;
  for (const json::value& entry : upstreams) {
    const json::object& upstream = AsObject(entry);
    if (!text.empty()) text += ", ";
    text += fmt::format("{}: {}", StringAt(upstream, "name"), CircuitOf(upstream));
  }
  return text.empty() ? "-" : text;
}

// Whether an upstream's circuit is not closed or ever opened: then the node's upstreams are
// listed in full.
bool CircuitTripped(const json::object& upstream) {
  const std::string circuit = StringAt(upstream, "circuit");
  return (!circuit.empty() && circuit != "closed") || UintAt(upstream, "opens") > 0;
}

Table UpstreamTable(const json::array& upstreams) {
  Table table({{"UPSTREAM"},
               {"URL"},
               {"CIRCUIT"},
               {"FAILURES IN A ROW", Align::kRight},
               {"OPENS", Align::kRight},
               {"SKIPS", Align::kRight},
               {"OPEN UNTIL"},
               {"LAST ERROR"}});
  for (const json::value& entry : upstreams) {
    const json::object& upstream = AsObject(entry);
    const std::string open_until = StringAt(upstream, "open_until");
    const std::string error = StringAt(upstream, "last_error");
    table.AddRow({StringAt(upstream, "name"), StringAt(upstream, "url"), CircuitOf(upstream),
                  std::to_string(UintAt(upstream, "consecutive_failures")),
                  std::to_string(UintAt(upstream, "opens")),
                  std::to_string(UintAt(upstream, "skips")), open_until.empty() ? "-" : open_until,
                  error.empty() ? "-" : error});
  }
  return table;
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
    const json::array& upstreams = ArrayAt(status, "upstreams");
    if (std::any_of(upstreams.begin(), upstreams.end(),
                    [](const json::value& entry) { return CircuitTripped(AsObject(entry)); })) {
      details += fmt::format("{} upstreams:\n{}", name, UpstreamTable(upstreams).Render("  "));
    }
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
