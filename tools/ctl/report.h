// How a finished meictl command is printed: tables on stdout, or with --json one JSON document on
// stdout and nothing else there; either way one line per failed node on stderr. The document:
//
//   {"command": "status",
//    "nodes": [{"node": "edge-a", "url": "http://...", "ok": true, "reply": {...}},
//              {"node": "edge-b", "url": "http://...", "ok": false,
//               "error": {"kind": "unreachable", "http_status": 0, "code": "",
//                         "message": "could not connect to ..."}}],
//    ...keys of the command}
//
// "node" is the node's id when one was given, else its URL; "kind" is NameOf(NodeFailure).
#pragma once

#include <boost/json/object.hpp>
#include <span>
#include <string>
#include <string_view>

#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The --json document of `command` (format above), with the keys of `extra` added at the top
// level. Thread-safe.
[[nodiscard]] boost::json::object JsonReport(std::string_view command,
                                             std::span<const NodeOutcome> outcomes,
                                             boost::json::object extra = {});

// "edge-b (http://10.0.0.6:9091): unreachable: could not connect to ...\n" for every node that
// failed, in node order; "" when none did. Thread-safe.
[[nodiscard]] std::string FailureLines(std::span<const NodeOutcome> outcomes);

// Prints the end of `command` and returns its exit code (ExitCodeOf): the JsonReport (with
// session.json) or `text` on stdout, then the FailureLines on stderr.
[[nodiscard]] int Report(const Session& session, std::string_view command,
                         std::span<const NodeOutcome> outcomes, std::string_view text,
                         boost::json::object extra = {});

}  // namespace mei::tools
