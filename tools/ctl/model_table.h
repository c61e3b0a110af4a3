// The table of the model revisions a cache node knows and how much of each it holds, from the
// "models" array of GET /admin/v1/status or /admin/v1/models (used by `status` and `ls`).
#pragma once

#include <boost/json/array.hpp>

#include "tools/ctl/table.h"

namespace mei::tools {

// Columns MODEL, REVISION, COMMIT (shortened), SIZE, HELD, COMPLETE, PLANNED; one row per entry
// of `models`, in their order. Thread-safe.
[[nodiscard]] Table ModelTable(const boost::json::array& models);

}  // namespace mei::tools
