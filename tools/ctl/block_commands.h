// `meictl pin`, `unpin` and `purge`: POST /admin/v1/{pin,unpin,purge} on every node with one
// model revision or a list of block ids (block_selection.h). A pinned block is never evicted;
// purge deletes what is not pinned (and keeps a model's blocks that another known model uses).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "tools/ctl/block_selection.h"
#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

enum class BlockAction { kPin, kUnpin, kPurge };

// "pin", "unpin", "purge": the command and the route.
[[nodiscard]] std::string_view NameOf(BlockAction action);

// The text form: a table with a row per node that answered, NODE and PINNED / UNPINNED, or NODE,
// PURGED, KEPT PINNED, KEPT SHARED. Thread-safe.
[[nodiscard]] std::string RenderBlockAction(BlockAction action,
                                            std::span<const NodeOutcome> outcomes);

// Runs the command and prints it (report.h). Returns the exit code.
[[nodiscard]] int RunBlockAction(const Session& session, BlockAction action,
                                 const BlockSelection& selection);

}  // namespace mei::tools
