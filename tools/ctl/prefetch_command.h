// `meictl prefetch MODEL[@REV] [--wait]`: POST /admin/v1/prefetch on every node, which queues a
// background fill of the revision (202). With --wait, each node's status is then polled until its
// job for that revision is done (or failed, or cancelled), at most `timeout` in all; a job that
// does not end well fails that node.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <span>
#include <string>

#include "common/manifest.h"
#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The prefetch job for `model` in a node's GET /admin/v1/status reply: the last one listed for
// that model and revision (the node lists finished jobs first, then pending ones, each oldest
// first), or nullopt. Thread-safe.
[[nodiscard]] std::optional<boost::json::object> FindPrefetchJob(const boost::json::object& status,
                                                                 const ModelRef& model);

// Whether a job's "state" is final: done, failed or cancelled. Thread-safe.
[[nodiscard]] bool IsFinished(const boost::json::object& job);

// The text form: without --wait "queued MODEL@REV" per node; with it a table NODE, STATE, BLOCKS,
// FETCHED, COMPLETE (how much of the revision the node holds once the job ended). Thread-safe.
[[nodiscard]] std::string RenderPrefetch(std::span<const NodeOutcome> outcomes, bool waited);

// Runs the command and prints it (report.h). Returns the exit code.
[[nodiscard]] int RunPrefetch(const Session& session, const ModelRef& model, bool wait,
                              std::chrono::seconds timeout);

}  // namespace mei::tools
