// DownloadModel: what `mei-get NODE MODEL[@REV]` does, as a library call.
//
//   1. The manifest, from the first node that gives one (a node that fails is passed over; a node
//      that says the model or revision does not exist ends the download: that is an answer).
//   2. The files asked for, less those already complete in the output folder (download_plan.h).
//      Each of the rest is written as a partial file beside its name (partial_file.h).
//   3. The blocks the device already has are copied in from where they are, each verified: the
//      partial an interrupted run left, the files the file index names (a fine-tune's download
//      takes its base's blocks from the base's files), the block store (block_sources.h).
//   4. The rest from the nodes, over pipelined connections to every node at once, verified and
//      written into place as they land (block_download.h).
//   5. Each file fsynced once and renamed to its name; the file index records the files written
//      (file_index.h), and the block store gives up the frames those files now hold.
//
// The index records the partial files before anything is fetched, so an interrupted download's
// blocks are found again by the next run, into the same folder or another.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/http/data_plane_client.h"
#include "common/manifest.h"
#include "tools/get/block_download.h"
#include "tools/get/download_plan.h"
#include "tools/get/node_failover.h"

namespace mei::tools {

struct ModelDownloadOptions {
  std::vector<http::RemoteNode> nodes;  // in the order to try them; not empty
  ModelRef ref;
  std::filesystem::path out_dir;
  std::filesystem::path block_store;    // the block store, and the file index in it
  std::vector<std::string> file_globs;  // empty: every file
  BlockDownloadOptions blocks;
};

// What a download did, for the summary.
struct DownloadSummary {
  std::string model;
  std::string revision;
  std::string commit;
  std::filesystem::path out_dir;
  std::uint64_t files_written = 0;
  std::uint64_t files_up_to_date = 0;  // already complete in the output folder
  std::uint64_t file_bytes = 0;        // size of the files written
  std::uint64_t blocks_fetched = 0;
  std::uint64_t fetched_raw_bytes = 0;  // raw size of the blocks fetched
  std::uint64_t wire_bytes = 0;         // reply bodies received: blocks as sent, and the manifest
  std::uint64_t blocks_reused = 0;      // found on the device: a partial, another file, the store
  std::uint64_t reused_bytes = 0;
  std::uint64_t blocks_repaired = 0;  // fetched because a local copy failed to verify
  double seconds = 0;
  std::vector<NodeFailover::NodeReport> nodes;
};

// Called once the plan is known (the local copies made), before any block is fetched (to start a
// progress bar).
using PlanObserver = std::function<void(const DownloadPlan& plan)>;

// Runs the download. `progress` counts as it goes; `stop` set from another thread (Ctrl-C) ends it
// early with kUpstreamFailed "interrupted", the blocks written so far kept in the partial files.
// Errors say what failed in one sentence: the manifest (kModelNotFound, kRevisionNotFound, or
// every node's reason), a --files pattern that matches nothing (kBadRequest), a block no node could
// serve, the local disk (kIo, kStoreFull). Blocking.
[[nodiscard]] Result<DownloadSummary> DownloadModel(const ModelDownloadOptions& options,
                                                    DownloadProgress& progress,
                                                    const std::atomic<bool>& stop,
                                                    const PlanObserver& on_plan = {});

// The summary for a person: a few lines, sizes human, e.g.
//   acme/base@main (commit 3f2a9c1e0b7d) -> ./base
//     3 files, 512.0 MiB: fetched 384.0 MiB as 301.2 MiB on the wire, reused 128.0 MiB from local
//     blocks; 4.2 s, 71.5 MiB/s on the wire
//     from http://127.0.0.1:9090: 96 blocks; http://127.0.0.1:9092: 2 blocks, 1 bad block refused
[[nodiscard]] std::string FormatSummary(const DownloadSummary& summary);

// The summary as one JSON object (every field of DownloadSummary; nodes as an array of objects).
[[nodiscard]] std::string SummaryJson(const DownloadSummary& summary);

}  // namespace mei::tools
