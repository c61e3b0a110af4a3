// The commands that talk to the origin rather than to cache nodes:
//   `meictl ingest --origin-admin URL MODEL[@REV] PATH...`: POST /admin/v1/ingest on the origin's
//     admin listener (`mei-origin serve --admin-listen`); the paths are on the origin's machine.
//     The origin answers once the ingest is done, which may take minutes.
//   `meictl models --origin URL`: GET /v1/models on the data plane (no token needed); a table of
//     model, revision and commit.
// Both print as the node commands do (report.h), with one entry named "origin".
#pragma once

#include <chrono>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/http/client.h"
#include "tools/ctl/admin_client.h"
#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The PATH arguments as the origin needs them: absolute, a relative one resolved against `cwd`
// and made lexically normal ("a/../b" is "b"). Thread-safe.
[[nodiscard]] std::vector<std::string> AbsolutePaths(const std::vector<std::string>& paths,
                                                     const std::filesystem::path& cwd);

// The text forms. Thread-safe.
[[nodiscard]] std::string RenderIngest(std::span<const NodeOutcome> outcomes);
[[nodiscard]] std::string RenderModelList(std::span<const NodeOutcome> outcomes);

// REQUIRES: session.nodes is the origin's admin URL alone. Waits at most `wait` for the reply.
[[nodiscard]] int RunIngest(const Session& session, const IngestRequest& request,
                            std::chrono::milliseconds wait);

// `origin_url` is the origin's data-plane base URL.
[[nodiscard]] int RunModelList(const std::string& origin_url, const http::ClientOptions& client,
                               bool json);

}  // namespace mei::tools
