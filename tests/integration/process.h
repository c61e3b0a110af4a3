// Runs the project's binaries as real child processes for integration tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mei::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  std::uint64_t max_rss_bytes = 0;  // peak resident set of the child
  double seconds = 0;
};

// Runs `argv` (argv[0] a path) to completion with stdin from /dev/null, capturing stdout and
// stderr through files under `scratch`. Aborts the test (ADD_FAILURE) if it cannot start.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::filesystem::path& scratch);

// Path of a binary built by this project, e.g. BinaryPath("origin/mei-origin").
std::filesystem::path BinaryPath(const std::string& relative);

}  // namespace mei::testing
