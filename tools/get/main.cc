// mei-get: the device client (tools/get/README.md). Downloads a model revision from edge nodes,
// fetching only the blocks the device does not already hold in its files, over pipelined
// connections to every node at once, falling back node by node, verifying every block, resuming
// after an interruption.
//
// Exit status: 0 the files are complete and verified; 1 the download failed (every node failed,
// the model is unknown, a file would not verify, the local disk); 2 bad usage or input;
// 130 interrupted (Ctrl-C or SIGTERM; run the same command again to resume).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "common/byte_size.h"
#include "common/http/client.h"
#include "tools/get/local_block_store.h"
#include "tools/get/model_download.h"
#include "tools/get/progress_bar.h"

namespace {

namespace fs = std::filesystem;
namespace tools = mei::tools;

constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int kInterrupted = 130;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnSignal(int) { g_stop.store(true); }

// A node URL as given ("http://host:port", a trailing '/' dropped), checked.
mei::http::RemoteNode NodeOf(std::string url) {
  while (url.size() > 1 && url.back() == '/') url.pop_back();
  auto parsed = mei::http::ParseHttpUrl(url);
  if (!parsed) throw std::invalid_argument(parsed.error().message);
  if (parsed->target != "/") {
    throw std::invalid_argument("node URL " + url + " must have no path (http://host:port)");
  }
  return {url, url};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mei-get: download a model from MEI-CDN edge nodes, fetching only the blocks this device "
      "lacks"};
  app.footer(
      "Exit status: 0 done and verified; 1 the download failed; 2 bad usage or input; "
      "130 interrupted (run the same command again to resume).");
  std::string node_url;
  std::string model_text;
  std::vector<std::string> more_nodes;
  std::string out_dir;
  std::string block_store;
  std::vector<std::string> files;
  unsigned connections = 4;
  std::string limit_rate = "0";
  std::uint64_t timeout_ms = 30'000;
  std::string client_id;
  bool json = false;
  bool quiet = false;
  app.add_option("NODE_URL", node_url, "Edge node (or origin) to download from, http://host:port")
      ->required();
  app.add_option("MODEL", model_text, "Model and revision, org/name[@rev] (rev: main)")->required();
  app.add_option("--out,-o", out_dir, "Folder to write the files into (default: ./<name>)");
  app.add_option("--node", more_nodes,
                 "Another node to download from at the same time, and to fall back to "
                 "(repeatable)");
  app.add_option("--connections,-c", connections, "Parallel connections to each node")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--files", files,
                 "Only files matching this glob, e.g. '*.safetensors' (repeatable)");
  app.add_option("--blocks", block_store,
                 "Local block store and file index (default: ~/.cache/mei/blocks, or "
                 "$MEI_CACHE_DIR/blocks)")
      ->envname("MEI_BLOCKS");
  app.add_option("--limit-rate", limit_rate,
                 "At most this many bytes a second on the wire (0: no limit), e.g. 20MiB")
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "Give up on a node that sends nothing for this long")
      ->capture_default_str();
  app.add_option("--client-id", client_id, "Sent as X-Mei-Client, for the nodes' access logs")
      ->envname("MEI_CLIENT_ID");
  app.add_flag("--json", json, "Print the summary as one JSON object");
  app.add_flag("--quiet,-q", quiet, "No progress bar and no summary (errors only)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }

  tools::ModelDownloadOptions options;
  try {
    options.ref = mei::ParseModelRef(model_text).value();
    options.nodes.push_back(NodeOf(node_url));
    for (const std::string& url : more_nodes) options.nodes.push_back(NodeOf(url));
    const std::string name = options.ref.model.substr(options.ref.model.find('/') + 1);
    options.out_dir = out_dir.empty() ? fs::path(name) : fs::path(out_dir);
    options.block_store =
        block_store.empty() ? tools::DefaultBlockStorePath().value() : fs::path(block_store);
    options.file_globs = files;
    options.blocks.connections = connections;
    options.blocks.rate_limit_bytes = mei::ParseByteSize(limit_rate).value();
    options.blocks.fetch.client_id = client_id;
    options.blocks.fetch.client.idle_timeout = std::chrono::milliseconds(timeout_ms);
    options.blocks.fetch.client.connect_timeout =
        std::min(std::chrono::milliseconds(timeout_ms), std::chrono::milliseconds(5000));
    options.blocks.fetch.client.max_body_bytes = 512ull << 20;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mei-get: {}\n", e.what());
    return kUsage;
  }

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  tools::ProgressBar bar(stderr);
  tools::DownloadProgress progress;
  auto summary =
      tools::DownloadModel(options, progress, g_stop, [&](const tools::DownloadPlan& plan) {
        if (!quiet && plan.fetch_bytes > 0) bar.Start(&progress.raw_bytes, plan.fetch_bytes);
      });
  bar.Stop();
  if (g_stop.load()) {
    fmt::print(stderr,
               "mei-get: interrupted; {} fetched so far is kept, run the same command to resume\n",
               mei::FormatByteSize(progress.raw_bytes.load()));
    return kInterrupted;
  }
  if (!summary) {
    fmt::print(stderr, "mei-get: {}\n", summary.error().message);
    return summary.error().code == mei::Errc::kBadRequest ? kUsage : kFailed;
  }
  if (json) {
    fmt::print("{}\n", tools::SummaryJson(*summary));
  } else if (!quiet) {
    fmt::print("{}", tools::FormatSummary(*summary));
  }
  return 0;
}
