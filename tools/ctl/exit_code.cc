#include "tools/ctl/exit_code.h"

#include <algorithm>

namespace mei::tools {

ExitCode ExitCodeOf(std::span<const NodeOutcome> outcomes) {
  const auto refused = [](const NodeOutcome& outcome) {
    return !outcome.reply && outcome.reply.error().failure == NodeFailure::kTokenRefused;
  };
  if (std::any_of(outcomes.begin(), outcomes.end(), refused)) return ExitCode::kTokenRefused;
  const auto failed = [](const NodeOutcome& outcome) { return !outcome.reply; };
  if (std::any_of(outcomes.begin(), outcomes.end(), failed)) return ExitCode::kNodeFailed;
  return ExitCode::kOk;
}

std::string_view ExitCodeHelp() {
  return "Exit codes:\n"
         "  0  every node did what was asked\n"
         "  1  at least one node failed (unreachable, an error reply, a failed prefetch),\n"
         "     or a local file could not be written\n"
         "  2  usage or bad input (bad flags, MODEL[@REV] or block id, a plan that does not\n"
         "     validate, no admin token); nothing was sent\n"
         "  3  at least one node refused the admin token (401)";
}

}  // namespace mei::tools
