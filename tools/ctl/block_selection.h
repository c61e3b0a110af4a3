// What `meictl pin`, `unpin` and `purge` act on: one model revision (MODEL[@REV]) or a list of
// block ids (--block ID, repeatable), and the admin API body that names it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/manifest.h"

namespace mei::tools {

struct BlockSelection {
  std::optional<ModelRef> model;  // set, or blocks non-empty, never both
  std::vector<BlockId> blocks;
};

// From the command line: `model` is the MODEL[@REV] argument ("" when absent) and `blocks` the
// --block values. kBadRequest unless exactly one of the two is given; the errors of ParseModelRef
// and of a block id that is not 64 lowercase hex digits otherwise. Thread-safe.
[[nodiscard]] Result<BlockSelection> ParseBlockSelection(std::string_view model,
                                                         const std::vector<std::string>& blocks);

// The body of POST /admin/v1/{pin,unpin,purge}: {"model","revision"} or {"blocks":[ids]}.
[[nodiscard]] std::string SelectionBody(const BlockSelection& selection);

// "acme/base@main", or "3 blocks", for messages.
[[nodiscard]] std::string Describe(const BlockSelection& selection);

}  // namespace mei::tools
