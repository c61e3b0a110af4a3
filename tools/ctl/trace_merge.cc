#include "tools/ctl/trace_merge.h"

#include <algorithm>
#include <unordered_map>

#include "common/access_record.h"

namespace mei::tools {

Result<bool> TracePager::Add(const TracePage& page) {
  // The lines already held at the time the previous page ended on, which this page repeats.
  std::unordered_map<std::string_view, std::size_t> repeated;
  const bool continued = pages_ > 0 && !lines_.empty();
  const auto boundary = continued ? lines_.back().time : std::chrono::system_clock::time_point{};
  if (continued) {
    for (auto line = lines_.rbegin(); line != lines_.rend() && line->time == boundary; ++line) {
      ++repeated[line->text];
    }
  }
  ++pages_;
  const std::size_t held = lines_.size();
  std::vector<TraceLine> fresh;
  for (const std::string& text : page.lines) {
    auto record = ParseAccessRecord(text);
    if (!record) {
      ++skipped_;
      continue;
    }
    if (continued && record->time == boundary) {
      if (auto seen = repeated.find(text); seen != repeated.end() && seen->second > 0) {
        --seen->second;
        continue;
      }
    }
    fresh.push_back({record->time, text});
  }
  for (TraceLine& line : fresh) lines_.push_back(std::move(line));
  if (!page.truncated) return false;
  if (lines_.size() == held) {
    return Error{Errc::kBadRequest,
                 "the node cut its trace reply short and the next one brought no new line (more "
                 "than a whole reply of log lines in one millisecond)"};
  }
  since_ = FormatTimestamp(lines_.back().time);
  return true;
}

std::vector<std::string> MergeByTime(std::vector<std::vector<TraceLine>> nodes) {
  std::vector<TraceLine> all;
  for (auto& lines : nodes) {
    for (TraceLine& line : lines) all.push_back(std::move(line));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const TraceLine& a, const TraceLine& b) { return a.time < b.time; });
  std::vector<std::string> merged;
  merged.reserve(all.size());
  for (TraceLine& line : all) merged.push_back(std::move(line.text));
  return merged;
}

}  // namespace mei::tools
