// Access records for tests of the access-log line format and of what reads and writes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/access_record.h"

namespace mei::testing {

// 2026-11-24T12:00:00Z.
inline const std::chrono::system_clock::time_point kNoon =
    std::chrono::system_clock::time_point(std::chrono::seconds(1'795'521'600));

// Every field set, with strings that need escaping and the largest byte count.
inline AccessRecord FullRecord() {
  AccessRecord r;
  r.time = kNoon + std::chrono::milliseconds(123);
  r.node = "edge-1";
  r.client = "phone \"7\" \\ tab\t newline\n";
  r.route = "resolve";
  r.model = "org/name";
  r.revision = "main";
  r.commit = std::string(64, 'c');
  r.path = "weights/模型-00001.safetensors";
  r.block = std::string(64, 'b');
  r.bytes = 18'446'744'073'709'551'615ull;
  r.status = 206;
  r.cache = "PARTIAL";
  r.upstream = "peer:edge-2";
  r.duration_ms = 12.345;
  return r;
}

// A block hit whose `bytes` numbers it, so tests can tell which lines survived.
inline AccessRecord Numbered(std::uint64_t n, std::chrono::system_clock::time_point time = kNoon) {
  AccessRecord r;
  r.time = time;
  r.node = "edge-1";
  r.route = "blocks";
  r.block = std::string(64, 'a');
  r.bytes = n;
  r.status = 200;
  r.cache = "HIT";
  r.duration_ms = 0.5;
  return r;
}

}  // namespace mei::testing
