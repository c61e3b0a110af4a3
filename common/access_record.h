// AccessRecord: one data-plane request as a cache node's access log records it, and the line
// format every reader shares (the node writes it; `meictl trace pull` merges it; placement learns
// demand from it). A line is one JSON object:
//
//   {"time":"2026-11-24T12:00:00.123Z","node":"edge-1","client":"phone-7","route":"resolve",
//    "model":"org/name","revision":"main","commit":"<hex>","path":"model.safetensors",
//    "block":"","bytes":1048576,"status":200,"cache":"HIT","upstream":"","duration_ms":12.5}
//
// with exactly these keys, "time" first, in UTC with millisecond precision. "route" is the data
// plane's route label (resolve, blocks, manifest, models, hub_api, health, metrics, other).
// Strings that are not valid UTF-8 (a client id from a header, a requested path) are written with
// U+FFFD in place of the bad bytes, so every line is valid JSON for any reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei {

// One request as the access log records it. Plain value type.
struct AccessRecord {
  std::chrono::system_clock::time_point time;  // logged to the millisecond
  // Empty when not applicable.
  std::string node, client, route, model, revision, commit, path, block;
  std::uint64_t bytes = 0;  // body bytes sent
  int status = 0;
  std::string cache;       // "HIT" | "MISS" | "PARTIAL" | "" (not a content route)
  std::string upstream;    // what filled misses: "parent", "peer:<node id>", or ""
  double duration_ms = 0;  // logged to the microsecond; negative or non-finite logged as 0
};

// The log line of `record`, without the trailing newline. Thread-safe.
[[nodiscard]] std::string FormatAccessRecord(const AccessRecord& record);

// Parses one line written by FormatAccessRecord (trailing "\n" or "\r\n" allowed). Every key must
// be present with its type; unknown keys are ignored. kBadRequest otherwise. Thread-safe.
[[nodiscard]] Result<AccessRecord> ParseAccessRecord(std::string_view line);

// The "time" of a line that starts the way FormatAccessRecord writes it, read without parsing the
// rest (to pass over old lines cheaply); nullopt for any other line. Thread-safe.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> AccessRecordTime(
    std::string_view line);

// "2026-11-24T12:00:00.123Z": UTC, milliseconds (truncated toward the past). Thread-safe.
[[nodiscard]] std::string FormatTimestamp(std::chrono::system_clock::time_point time);

// Parses an RFC 3339 date-time, "2026-11-24T12:00:00Z", with an optional fraction of any length
// (kept to the nanosecond) and "Z" or a numeric offset ("+02:00"), or Unix seconds, "1795521600"
// or "1795521600.25" (the forms GET /admin/v1/trace?since= accepts). kBadRequest otherwise.
// Thread-safe.
[[nodiscard]] Result<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text);

}  // namespace mei
