#include "placement/trace.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include "common/access_record.h"
#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Parsed {
  TraceRecord record;
  bool counts = true;  // false for access-log lines that are not whole-model requests
};

Result<TraceRecord> FromFields(std::string_view time, std::string_view user, std::string_view node,
                               std::string_view model, std::string_view revision) {
  TraceRecord r;
  auto t = ParseTraceTime(time);
  if (!t) return t.error();
  r.time_s = *t;
  if (user.empty()) return BadInput("the user is empty");
  if (node.empty()) return BadInput("the node is empty");
  if (model.empty()) return BadInput("the model is empty");
  r.user = user;
  r.node = node;
  r.model = model;
  r.revision = revision.empty() ? "main" : std::string(revision);
  return r;
}

Result<Parsed> ParseCsvLine(std::string_view line) {
  std::vector<std::string_view> cells;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    cells.push_back(Trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (cells.size() != 4 && cells.size() != 5) {
    return BadInput(
        fmt::format("expected 5 comma-separated fields (time,user,node,model,revision)"
                    ", found {}",
                    cells.size()));
  }
  auto r = FromFields(cells[0], cells[1], cells[2], cells[3], cells.size() == 5 ? cells[4] : "");
  if (!r) return r.error();
  return Parsed{std::move(*r), true};
}

Result<std::string_view> JsonString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return BadInput(fmt::format("\"{}\" is missing or not a string", key));
  }
  return std::string_view(v->get_string());
}

Result<Parsed> ParseJsonLine(std::string_view line) {
  boost::system::error_code ec;
  json::value value = json::parse(line, ec);
  if (ec || !value.is_object()) return BadInput("not a JSON object");
  const json::object& o = value.get_object();
  const json::value* time = o.if_contains("time");
  if (time == nullptr) return BadInput("\"time\" is missing");
  std::string time_text;
  if (time->is_string()) {
    time_text = time->get_string();
  } else if (time->is_number()) {
    time_text = fmt::format("{}", time->to_number<double>());
  } else {
    return BadInput("\"time\" is neither a string nor a number");
  }
  auto node = JsonString(o, "node");
  if (!node) return node.error();
  auto model = JsonString(o, "model");
  if (!model) return model.error();
  auto user = o.contains("user") ? JsonString(o, "user") : JsonString(o, "cell");
  if (!user) return BadInput("\"user\" (or \"cell\") is missing or not a string");
  auto revision = o.contains("revision") ? JsonString(o, "revision") : std::string_view();
  if (!revision) return revision.error();
  auto r = FromFields(time_text, *user, *node, *model, *revision);
  if (!r) return r.error();
  return Parsed{std::move(*r), true};
}

// A cache node's access-log line (common/access_record.h): only manifest and resolve requests
// that succeeded count as model requests.
Result<Parsed> ParseAccessLogLine(std::string_view line) {
  auto access = ParseAccessRecord(line);
  if (!access) return BadInput(access.error().message);
  if ((access->route != "manifest" && access->route != "resolve") || access->status >= 400) {
    return Parsed{TraceRecord{}, false};
  }
  TraceRecord r;
  r.time_s = std::chrono::duration<double>(access->time.time_since_epoch()).count();
  if (access->client.empty()) return BadInput("the client is empty");
  if (access->node.empty()) return BadInput("the node is empty");
  if (access->model.empty()) return BadInput("the model is empty");
  r.user = std::move(access->client);
  r.node = std::move(access->node);
  r.model = std::move(access->model);
  r.revision = access->revision.empty() ? "main" : std::move(access->revision);
  return Parsed{std::move(r), true};
}

// Access-log lines are JSON objects with a "route" (trace JSON lines have none).
bool IsAccessLogLine(std::string_view line) {
  return line.front() == '{' && line.find("\"route\"") != std::string_view::npos;
}

}  // namespace

Result<double> ParseTraceTime(std::string_view text) {
  text = Trim(text);
  double seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && end == text.data() + text.size() && std::isfinite(seconds)) {
    return seconds;
  }
  auto time = ParseTimestamp(text);
  if (!time) {
    return BadInput(fmt::format("time \"{}\" is neither seconds nor RFC 3339", text));
  }
  return std::chrono::duration<double>(time->time_since_epoch()).count();
}

Result<Trace> ParseTrace(std::string_view text, const TraceReadOptions& options) {
  Trace trace;
  // Access logs: the last counted time per (client, node, model, revision).
  std::map<std::tuple<std::string, std::string, std::string, std::string>, double> last_seen;
  std::size_t number = 0;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = Trim(text.substr(start, end - start));
    start = end + 1;
    ++number;
    if (line.empty() || line.front() == '#') continue;
    if (number == 1 && line.starts_with("time")) continue;
    const bool access_log = IsAccessLogLine(line);
    auto parsed = access_log            ? ParseAccessLogLine(line)
                  : line.front() == '{' ? ParseJsonLine(line)
                                        : ParseCsvLine(line);
    if (!parsed) {
      std::string message = fmt::format("line {}: {}", number, parsed.error().message);
      if (!options.skip_bad) return BadInput(std::move(message));
      if (trace.skipped++ == 0) trace.first_skipped = std::move(message);
      continue;
    }
    if (!parsed->counts) continue;
    TraceRecord& r = parsed->record;
    r.line = number;
    if (access_log) {
      auto key = std::make_tuple(r.user, r.node, r.model, r.revision);
      auto [it, added] = last_seen.emplace(key, r.time_s);
      const double previous = it->second;
      it->second = r.time_s;
      if (!added && r.time_s - previous < options.session_gap_s) continue;
    }
    trace.records.push_back(std::move(r));
  }
  return trace;
}

std::string ToCsv(const std::vector<TraceRecord>& records) {
  std::string out = "time,user,node,model,revision\n";
  for (const TraceRecord& r : records) {
    out += fmt::format("{:.3f},{},{},{},{}\n", r.time_s, r.user, r.node, r.model, r.revision);
  }
  return out;
}

}  // namespace mei::placement
