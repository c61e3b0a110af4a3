// meictl: the operator's command line for MEI-CDN. It talks to the admin API of one or many cache
// nodes at once (status, ls, prefetch, pin, unpin, purge, plan, trace) and to the origin (ingest,
// models). The admin token comes from --token-file or MEI_ADMIN_TOKEN, never from a flag value.
// tools/ctl/README.md has every command, the topology file and examples.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/access_record.h"
#include "common/http/admin_auth.h"
#include "tools/ctl/block_commands.h"
#include "tools/ctl/exit_code.h"
#include "tools/ctl/ls_command.h"
#include "tools/ctl/node_list.h"
#include "tools/ctl/origin_commands.h"
#include "tools/ctl/plan_commands.h"
#include "tools/ctl/prefetch_command.h"
#include "tools/ctl/session.h"
#include "tools/ctl/status_command.h"
#include "tools/ctl/trace_command.h"

namespace {

namespace fs = std::filesystem;
namespace ctl = mei::tools;

constexpr std::string_view kTopologyHelp =
    "Topology file (--topology): one node a line, \"ID ADMIN-URL\"; '#' starts a comment line.\n"
    "  edge-a  http://10.0.0.5:9091\n"
    "  edge-b  http://10.0.0.6:9091\n";

// Bad input on the command line: exit 2, before anything is sent.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class T>
T Checked(mei::Result<T> result) {
  if (!result) throw UsageError(result.error().message);
  return std::move(*result);
}

struct GlobalFlags {
  std::vector<std::string> nodes;
  fs::path topology;
  fs::path token_file;
  std::uint64_t timeout_ms = 10'000;
  bool json = false;
};

mei::http::ClientOptions ClientOptionsOf(const GlobalFlags& flags) {
  mei::http::ClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(flags.timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(flags.timeout_ms);
  return options;
}

// The nodes from --topology, then those of --node, in the order given.
std::vector<ctl::NodeAddress> NodesOf(const GlobalFlags& flags) {
  std::vector<ctl::NodeAddress> nodes;
  if (!flags.topology.empty()) nodes = Checked(ctl::LoadTopology(flags.topology));
  for (const std::string& text : flags.nodes) nodes.push_back(Checked(ctl::ParseNodeFlag(text)));
  if (nodes.empty()) throw UsageError("no nodes: give --node URL (repeatable) or --topology FILE");
  return nodes;
}

// REQUIRES: everything else on the command line is checked, so that a missing token is the only
// thing left to report.
ctl::Session SessionOf(const GlobalFlags& flags, std::vector<ctl::NodeAddress> nodes) {
  return ctl::Session{std::move(nodes),
                      Checked(mei::http::ResolveAdminToken(flags.token_file, "--token-file")),
                      ClientOptionsOf(flags), flags.json};
}

// The URL of `flag` (--origin, --origin-admin), checked.
std::string UrlOf(std::string_view flag, const std::string& text) {
  auto url = ctl::ParseBaseUrl(text);
  if (!url) throw UsageError(std::string(flag) + ": " + url.error().message);
  return std::move(*url);
}

CLI::App* AddSubcommand(CLI::App& parent, const std::string& name, const std::string& what) {
  CLI::App* command = parent.add_subcommand(name, what);
  command->fallthrough();
  return command;
}

// --block ID, one value per occurrence so that a positional MODEL after it stays positional.
void AddBlockOptions(CLI::App* command, std::string& model, std::vector<std::string>& blocks) {
  command->add_option("model", model, "MODEL[@REV] (revision main by default)");
  command->add_option("--block", blocks, "A block id, 64 hex digits (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"meictl: look at and manage MEI-CDN cache nodes and the origin"};
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(std::string(kTopologyHelp) + "\n" + std::string(ctl::ExitCodeHelp()));

  GlobalFlags flags;
  app.add_option("--node", flags.nodes,
                 "A node's admin API, URL or ID=URL, e.g. edge-a=http://10.0.0.5:9091 "
                 "(repeatable)")
      ->allow_extra_args(false);
  app.add_option("--topology", flags.topology, "File of nodes, \"ID ADMIN-URL\" a line");
  app.add_option("--token-file", flags.token_file,
                 "File holding the admin token (else MEI_ADMIN_TOKEN)");
  app.add_option("--timeout-ms", flags.timeout_ms,
                 "Connect timeout, and longest wait for the next bytes of a reply")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", flags.json, "Print one JSON document on stdout instead of tables");

  CLI::App* status = AddSubcommand(app, "status", "Capacity, use, hit ratio, models and upstreams");

  bool list_blocks = false;
  CLI::App* ls = AddSubcommand(app, "ls", "The models (or --blocks) each node holds");
  ls->add_flag("--blocks", list_blocks, "List the stored blocks instead of the models");

  std::string model;
  bool wait = false;
  std::uint64_t wait_s = 3600;
  CLI::App* prefetch = AddSubcommand(app, "prefetch", "Fill a model revision in the background");
  prefetch->add_option("model", model, "MODEL[@REV] (revision main by default)")->required();
  prefetch->add_flag("--wait", wait, "Wait until every node's prefetch job has ended");
  prefetch->add_option("--timeout", wait_s, "With --wait: seconds to wait at most")
      ->capture_default_str();

  std::vector<std::string> blocks;
  CLI::App* pin = AddSubcommand(app, "pin", "Keep a model's blocks (or --block IDs) from eviction");
  AddBlockOptions(pin, model, blocks);
  CLI::App* unpin = AddSubcommand(app, "unpin", "Undo pin");
  AddBlockOptions(unpin, model, blocks);
  CLI::App* purge =
      AddSubcommand(app, "purge", "Delete a model's blocks (or --block IDs) that are not pinned");
  AddBlockOptions(purge, model, blocks);

  fs::path plan_file;
  CLI::App* plan = AddSubcommand(app, "plan", "Placement plans on the nodes");
  plan->require_subcommand(1);
  CLI::App* plan_apply =
      AddSubcommand(*plan, "apply", "Validate a mei.plan.v1 file and put it on every node");
  plan_apply->add_option("file", plan_file, "Plan JSON (mei-placement solve --out)")->required();
  CLI::App* plan_show = AddSubcommand(*plan, "show", "The plan each node holds");

  std::string since;
  fs::path trace_out;
  CLI::App* trace = AddSubcommand(app, "trace", "Access logs of the nodes");
  trace->require_subcommand(1);
  CLI::App* trace_pull = AddSubcommand(
      *trace, "pull", "Merge the nodes' access logs into one trace for mei-placement fit");
  trace_pull->add_option("--since", since, "From this time on: RFC 3339 or Unix seconds");
  trace_pull->add_option("--out", trace_out, "Trace file to write (JSON lines)")->required();

  std::string origin_admin;
  std::vector<std::string> paths;
  mei::tools::IngestRequest ingest_request;
  double min_saving = 0;
  int zstd_level = 0;
  std::string max_block;
  std::uint64_t ingest_s = 6 * 3600;
  CLI::App* ingest = AddSubcommand(app, "ingest", "Ingest model files on the origin");
  ingest->footer(
      "PATHs are read by the origin, on its own machine: they must exist there. A relative PATH "
      "is made absolute from the current directory.\n\n" +
      std::string(ctl::ExitCodeHelp()));
  ingest->add_option("--origin-admin", origin_admin, "The origin's admin API, http://HOST:PORT")
      ->required();
  ingest->add_option("model", model, "MODEL[@REV] (revision main by default)")->required();
  ingest->add_option("paths", paths, "Files or folders on the origin's machine")->required();
  CLI::Option* min_saving_option =
      ingest->add_option("--min-saving", min_saving,
                         "Keep a codec only if it saves this share (default: the origin's)");
  CLI::Option* zstd_level_option =
      ingest->add_option("--zstd-level", zstd_level, "zstd level (default: the origin's)");
  CLI::Option* max_block_option = ingest->add_option(
      "--max-block", max_block, "Largest tensor block, e.g. 4MiB (default: the origin's)");
  ingest->add_option("--timeout", ingest_s, "Seconds to wait for the origin to finish")
      ->capture_default_str();

  std::string origin;
  CLI::App* models = AddSubcommand(app, "models", "The models and revisions the origin serves");
  models->add_option("--origin", origin, "The origin's data plane, http://HOST:PORT")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : static_cast<int>(ctl::ExitCode::kUsage);
  }

  try {
    if (*models) {
      return ctl::RunModelList(UrlOf("--origin", origin), ClientOptionsOf(flags), flags.json);
    }
    if (*ingest) {
      const ctl::NodeAddress address{"origin", UrlOf("--origin-admin", origin_admin)};
      ingest_request.model = Checked(mei::ParseModelRef(model));
      ingest_request.paths = ctl::AbsolutePaths(paths, fs::current_path());
      if (min_saving_option->count() > 0) ingest_request.min_saving = min_saving;
      if (zstd_level_option->count() > 0) ingest_request.zstd_level = zstd_level;
      if (max_block_option->count() > 0) ingest_request.max_block = max_block;
      return ctl::RunIngest(SessionOf(flags, {address}), ingest_request,
                            std::chrono::seconds(ingest_s));
    }

    std::vector<ctl::NodeAddress> nodes = NodesOf(flags);
    if (*status) return ctl::RunStatus(SessionOf(flags, std::move(nodes)));
    if (*ls) return ctl::RunLs(SessionOf(flags, std::move(nodes)), list_blocks);
    if (*prefetch) {
      const mei::ModelRef ref = Checked(mei::ParseModelRef(model));
      return ctl::RunPrefetch(SessionOf(flags, std::move(nodes)), ref, wait,
                              std::chrono::seconds(wait_s));
    }
    for (const auto& [command, action] :
         {std::pair{pin, ctl::BlockAction::kPin}, std::pair{unpin, ctl::BlockAction::kUnpin},
          std::pair{purge, ctl::BlockAction::kPurge}}) {
      if (!*command) continue;
      const ctl::BlockSelection selection = Checked(ctl::ParseBlockSelection(model, blocks));
      return ctl::RunBlockAction(SessionOf(flags, std::move(nodes)), action, selection);
    }
    if (*plan_apply) {
      const mei::Plan parsed = Checked(ctl::LoadPlanFile(plan_file));
      return ctl::RunPlanApply(SessionOf(flags, std::move(nodes)), parsed);
    }
    if (*plan_show) return ctl::RunPlanShow(SessionOf(flags, std::move(nodes)));
    if (*trace_pull) {
      std::string from;
      if (!since.empty()) {
        auto time = mei::ParseTimestamp(since);
        if (!time) throw UsageError("--since: " + time.error().message);
        from = mei::FormatTimestamp(*time);
      }
      const fs::path folder = fs::absolute(trace_out).parent_path();
      if (!fs::is_directory(folder)) {
        throw UsageError("--out: the folder " + folder.string() + " does not exist");
      }
      return ctl::RunTracePull(SessionOf(flags, std::move(nodes)), from, trace_out);
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "meictl: %s\n", e.what());
    return static_cast<int>(ctl::ExitCode::kUsage);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "meictl: %s\n", e.what());
    return static_cast<int>(ctl::ExitCode::kNodeFailed);
  }
  return static_cast<int>(ctl::ExitCode::kUsage);
}
