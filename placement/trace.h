// Trace: requests for whole models, read from a trace file or from cache-node access logs.
//
// Three line formats, recognised per line:
//   - CSV `time,user,node,model,revision` (an optional header line starting with "time", as the
//     input's first line; the revision may be empty or absent, meaning "main");
//   - JSON lines {"time", "user" (or "cell"), "node", "model", "revision"};
//   - cache-node access-log lines (JSON with a "route", read as common/access_record.h defines
//     them): only "manifest" and "resolve" routes with a status below 400 count, and the lines
//     one client sends for one model through one node within `session_gap_s` of each other are
//     one request (a download resolves every file).
// Times are seconds (a number) or RFC 3339 ("2026-11-24T12:00:00.123Z", common/access_record.h).
// Empty lines and lines starting with '#' are ignored. Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei::placement {

struct TraceRecord {
  double time_s = 0;  // seconds since the epoch (or since the trace start)
  std::string user;   // user or cell id; a client address for access logs
  std::string node;   // node id the request went to
  std::string model;
  std::string revision;  // never empty ("main" when the line had none)
  std::size_t line = 0;  // 1-based line number in the input, for messages
};

struct TraceReadOptions {
  bool skip_bad = false;        // read past malformed lines (counted) instead of failing
  double session_gap_s = 60.0;  // access logs: lines closer than this are one request
};

struct Trace {
  std::vector<TraceRecord> records;  // in input order
  std::size_t skipped = 0;           // malformed lines read past with skip_bad
  std::string first_skipped;         // the message of the first of them
};

// Parses `text`. Without skip_bad, the first malformed line fails the whole read with kBadRequest
// and "line N: <what is wrong>". Never throws.
[[nodiscard]] Result<Trace> ParseTrace(std::string_view text, const TraceReadOptions& options);

// A plain number of seconds, or the seconds since the epoch of an RFC 3339 date-time as
// ParseTimestamp (common/access_record.h) reads it.
// kBadRequest otherwise.
[[nodiscard]] Result<double> ParseTraceTime(std::string_view text);

// The trace as CSV with a header, one record a line; ParseTrace reads it back.
[[nodiscard]] std::string ToCsv(const std::vector<TraceRecord>& records);

}  // namespace mei::placement
