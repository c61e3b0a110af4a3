#include "tools/ctl/prefetch_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <thread>

#include "common/byte_size.h"
#include "tools/ctl/reply_fields.h"
#include "tools/ctl/report.h"
#include "tools/ctl/table.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

constexpr std::chrono::milliseconds kFirstPoll{100};
constexpr std::chrono::milliseconds kLongestPoll{1000};

std::string NameOf(const ModelRef& model) { return model.model + "@" + model.revision; }

// The status's entry for `model` in its "models" array, or an empty object.
json::object HeldModel(const json::object& status, const ModelRef& model) {
  for (const json::value& entry : ArrayAt(status, "models")) {
    const json::object& held = AsObject(entry);
    if (StringAt(held, "model") == model.model && StringAt(held, "revision") == model.revision) {
      return held;
    }
  }
  return {};
}

// Polls the node's status until its job for `model` is finished: {"job", "model"} (the job, and
// the node's models entry for the revision then). kFailed when the job did not end "done" or the
// deadline passed first.
NodeResult<json::value> WaitForJob(const AdminClient& client, const ModelRef& model,
                                   std::chrono::steady_clock::time_point deadline) {
  std::chrono::milliseconds pause = kFirstPoll;
  while (true) {
    auto status = client.Status();
    if (!status) return status.error();
    if (const auto job = FindPrefetchJob(*status, model); job && IsFinished(*job)) {
      if (StringAt(*job, "state") != "done") {
        const std::string why = StringAt(*job, "error");
        return NodeError{NodeFailure::kFailed, 0, "",
                         fmt::format("the prefetch of {} ended {}{}{}", NameOf(model),
                                     StringAt(*job, "state"), why.empty() ? "" : ": ", why)};
      }
      return json::value(json::object{{"job", *job}, {"model", HeldModel(*status, model)}});
    }
    if (std::chrono::steady_clock::now() + pause > deadline) {
      return NodeError{
          NodeFailure::kFailed, 0, "",
          fmt::format("the prefetch of {} had not ended when --timeout ran out", NameOf(model))};
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kLongestPoll);
  }
}

}  // namespace

std::optional<json::object> FindPrefetchJob(const json::object& status, const ModelRef& model) {
  std::optional<json::object> found;
  for (const json::value& entry : ArrayAt(status, "prefetch")) {
    const json::object& job = AsObject(entry);
    if (StringAt(job, "model") == model.model && StringAt(job, "revision") == model.revision) {
      found = job;
    }
  }
  return found;
}

bool IsFinished(const json::object& job) {
  const std::string state = StringAt(job, "state");
  return state == "done" || state == "failed" || state == "cancelled";
}

std::string RenderPrefetch(std::span<const NodeOutcome> outcomes, bool waited) {
  if (!waited) {
    std::string text;
    for (const NodeOutcome& outcome : outcomes) {
      if (!outcome.reply) continue;
      const json::object& reply = AsObject(*outcome.reply);
      text += fmt::format("{}: queued {}@{}\n", outcome.node.Name(), StringAt(reply, "model"),
                          StringAt(reply, "revision"));
    }
    return text;
  }
  Table table({{"NODE"},
               {"STATE"},
               {"BLOCKS", Align::kRight},
               {"FETCHED", Align::kRight},
               {"COMPLETE", Align::kRight}});
  for (const NodeOutcome& outcome : outcomes) {
    if (!outcome.reply) continue;
    const json::object& job = ObjectAt(AsObject(*outcome.reply), "job");
    const json::object& model = ObjectAt(AsObject(*outcome.reply), "model");
    table.AddRow({outcome.node.Name(), StringAt(job, "state"),
                  fmt::format("{}/{}", UintAt(job, "blocks_done"), UintAt(job, "blocks")),
                  FormatByteSize(UintAt(job, "bytes_fetched")),
                  FormatPercent(NumberAt(model, "complete"))});
  }
  return table.empty() ? "" : table.Render();
}

int RunPrefetch(const Session& session, const ModelRef& model, bool wait,
                std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto outcomes = CallEachNode(session, [&](const AdminClient& client) {
    auto queued = client.Prefetch(model);
    if (!queued || !wait) return AsValue(std::move(queued));
    return WaitForJob(client, model, deadline);
  });
  return Report(session, "prefetch", outcomes, RenderPrefetch(outcomes, wait),
                json::object{{"target", NameOf(model)}, {"waited", wait}});
}

}  // namespace mei::tools
