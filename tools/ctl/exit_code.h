// The exit codes of meictl, which scripts may rely on:
//   0  every node did what was asked
//   1  at least one node failed (unreachable, an error reply, a failed prefetch), or a local file
//      could not be written
//   2  usage or bad input: bad flags, a bad MODEL[@REV] or block id, a plan file that does not
//      validate, no admin token; nothing was sent
//   3  at least one node refused the admin token (401); this wins over 1
#pragma once

#include <span>
#include <string_view>

#include "tools/ctl/fan_out.h"

namespace mei::tools {

enum class ExitCode : int {
  kOk = 0,
  kNodeFailed = 1,
  kUsage = 2,
  kTokenRefused = 3,
};

// The exit code of a command whose nodes ended as `outcomes`: kTokenRefused if any node refused
// the token, else kNodeFailed if any failed, else kOk (also for no outcomes). Thread-safe.
[[nodiscard]] ExitCode ExitCodeOf(std::span<const NodeOutcome> outcomes);

// The exit codes above, as the footer of `meictl --help` prints them.
[[nodiscard]] std::string_view ExitCodeHelp();

}  // namespace mei::tools
