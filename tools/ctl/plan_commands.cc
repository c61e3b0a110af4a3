#include "tools/ctl/plan_commands.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "common/text_file.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

// "acme/base@main, acme/chat@v2" for a plan node's "models"; "-" for none.
std::string ModelList(const json::object& plan_node) {
  std::string text;
  for (const json::value& entry : ArrayAt(plan_node, "models")) {
    const json::object& model = AsObject(entry);
    if (!text.empty()) text += ", ";
    text += StringAt(model, "model") + "@" + StringAt(model, "revision");
  }
  return text.empty() ? "-" : text;
}

}  // namespace

Result<Plan> LoadPlanFile(const std::filesystem::path& path) {
  auto text = ReadTextFile(path);
  if (!text) return text.error();
  auto plan = ParsePlan(*text);
  if (!plan) {
    return Error{plan.error().code, fmt::format("{}: {}", path.string(), plan.error().message)};
  }
  return plan;
}

std::string RenderPlanApply(std::span<const NodeOutcome> outcomes) {
  Table table({{"NODE"}, {"ASSIGNED"}, {"MODELS", Align::kRight}, {"BLOCKS", Align::kRight}});
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::object& reply = AsObject(*outcome.reply);
    const bool assigned = BoolAt(reply, "assigned");
    table.AddRow(
        {outcome.node.Name(), assigned ? "yes" : "no (the plan has no entry for this node's id)",
         std::to_string(UintAt(reply, "models")), std::to_string(UintAt(reply, "blocks"))});
  }
  return table.empty() ? "" : table.Render();
}

std::string RenderPlanShow(std::span<const NodeOutcome> outcomes) {
  Table table(
      {{"NODE"}, {"ALGORITHM"}, {"CREATED"}, {"PLAN NODES", Align::kRight}, {"MODELS HERE"}});
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    if (outcome.reply->is_null()) {
      table.AddRow({outcome.node.Name(), "none", "-", "-", "-"});
      continue;
    }
    const json::object& plan = AsObject(*outcome.reply);
    const json::object& nodes = ObjectAt(plan, "nodes");
    std::string here = "-";
    if (const json::value* own = nodes.if_contains(outcome.node.id))
      here = ModelList(AsObject(*own));
    table.AddRow({outcome.node.Name(), StringAt(plan, "algorithm"), StringAt(plan, "created"),
                  std::to_string(nodes.size()), here});
  }
  return table.empty() ? "" : table.Render();
}

int RunPlanApply(const Session& session, const Plan& plan) {
  const std::string body = ToJson(plan);
  const auto outcomes = CallEachNode(
      session, [&](const AdminClient& client) { return AsValue(client.PutPlan(body)); });
  return Report(session, "plan apply", outcomes, RenderPlanApply(outcomes),
                json::object{{"algorithm", plan.algorithm}, {"created", plan.created}});
}

int RunPlanShow(const Session& session) {
  const auto outcomes =
      CallEachNode(session, [](const AdminClient& client) -> NodeResult<json::value> {
        auto plan = client.GetPlan();
        if (!plan) return plan.error();
        if (!*plan) return json::value(nullptr);
        return json::value(std::move(**plan));
      });
  return Report(session, "plan show", outcomes, RenderPlanShow(outcomes));
}

}  // namespace mei::tools
