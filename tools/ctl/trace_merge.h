// Gathering cache-node access logs into one trace (`meictl trace pull`): the pages one node sends
// for GET /admin/v1/trace, and the nodes' lines merged into time order.
//
// A node sends at most 64 MiB of lines per reply and then says X-Mei-Truncated; the rest is asked
// for from the time of the last line received. Lines carry the millisecond, so that second page
// starts with the lines of that same millisecond which the first one already had: TracePager drops
// them again, by content, and keeps any it had not seen.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tools/ctl/admin_client.h"

namespace mei::tools {

// One access-log line (common/access_record.h) and the time it carries.
struct TraceLine {
  std::chrono::system_clock::time_point time;
  std::string text;
};

// The pages of one node. Not thread-safe; one per node.
class TracePager {
 public:
  // `since`: what the first request asks from (as GET /admin/v1/trace?since= takes it), "" for
  // the whole log.
  explicit TracePager(std::string since) : since_(std::move(since)) {}

  // What the next request asks from.
  [[nodiscard]] const std::string& since() const { return since_; }

  // Takes one reply. True when another page must be asked for (the reply was truncated). Lines
  // that do not parse as access-log lines are dropped and counted. kBadRequest when a truncated
  // reply brought no line not seen before (more than a whole reply of lines in one millisecond),
  // since asking again could never get further.
  [[nodiscard]] Result<bool> Add(const TracePage& page);

  // The lines gathered so far, in the order the node sent them.
  [[nodiscard]] const std::vector<TraceLine>& lines() const { return lines_; }
  [[nodiscard]] std::vector<TraceLine> TakeLines() { return std::move(lines_); }

  [[nodiscard]] std::size_t pages() const { return pages_; }
  [[nodiscard]] std::size_t skipped() const { return skipped_; }

 private:
  std::string since_;
  std::vector<TraceLine> lines_;
  std::size_t pages_ = 0;
  std::size_t skipped_ = 0;
};

// Every node's lines in one list, ordered by time; lines of equal time keep the order of the nodes
// as given, then each node's own order. Thread-safe.
[[nodiscard]] std::vector<std::string> MergeByTime(std::vector<std::vector<TraceLine>> nodes);

}  // namespace mei::tools
