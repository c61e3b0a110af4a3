#include "tools/get/model_download.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <thread>
#include <unordered_set>
#include <utility>

#include "common/byte_size.h"
#include "tools/get/block_sources.h"
#include "tools/get/file_index.h"
#include "tools/get/local_block_store.h"
#include "tools/get/partial_file.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

// The manifest from the first node that gives one; not-found answers end the search.
Result<Manifest> ManifestFromNodes(const ModelRef& ref, NodeFailover& nodes,
                                   const http::FetchContext& fetch) {
  std::vector<std::string> reasons;
  for (const std::size_t index : nodes.Order()) {
    auto manifest = http::FetchManifest(nodes.node(index), ref.model, ref.revision, fetch);
    if (manifest) {
      nodes.Succeeded(index, 0, 0);
      return manifest;
    }
    const Errc code = manifest.error().code;
    if (code == Errc::kModelNotFound || code == Errc::kRevisionNotFound) {
      return Error{code,
                   fmt::format("{} says: {}", nodes.node(index).name, manifest.error().message)};
    }
    nodes.Failed(index, manifest.error());
    reasons.push_back(manifest.error().message);
  }
  return Error{Errc::kUpstreamFailed,
               fmt::format("no node gave the manifest of {}@{}: {}", ref.model, ref.revision,
                           fmt::join(reasons, "; "))};
}

const Error kInterrupted{Errc::kUpstreamFailed,
                         "interrupted; the blocks fetched so far are kept, so the same command "
                         "resumes"};

// Removes from the block store every frame whose block a complete indexed file holds.
void PruneStore(const LocalBlockStore& store, const FileIndex& index) {
  std::unordered_set<BlockId> held;
  for (const auto& [path, entry] : index.entries()) {
    if (entry.partial || !FileIndex::IsFresh(entry)) continue;
    for (const ManifestBlock& block : entry.blocks) held.insert(block.id);
  }
  for (const BlockId& id : store.List()) {
    if (held.contains(id)) store.Remove(id);
  }
}

// Puts each of `partials` (whose blocks are all in) under its name, and the files in the index
// in place of the partials.
Result<void> CommitFiles(const std::vector<const ManifestFile*>& files,
                         std::vector<PartialFile>& partials, FileIndex& index) {
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (auto committed = partials[i].Commit(); !committed) return committed;
    index.Remove(partials[i].path());
    auto entry = FileIndex::EntryOf(partials[i].final_path(), *files[i]);
    if (!entry) return entry.error();
    index.Put(std::move(*entry));
  }
  return index.Save();
}

}  // namespace

Result<DownloadSummary> DownloadModel(const ModelDownloadOptions& options,
                                      DownloadProgress& progress, const std::atomic<bool>& stop,
                                      const PlanObserver& on_plan) {
  const auto started = std::chrono::steady_clock::now();
  auto store = LocalBlockStore::Open(options.block_store);
  if (!store) return store.error();
  FileIndex index = FileIndex::Open(store->root() / "file-index");
  index.DropStale();
  NodeFailover nodes(options.nodes);
  http::FetchContext fetch = options.blocks.fetch;
  fetch.received_body_bytes = &progress.wire_bytes;

  auto manifest = ManifestFromNodes(options.ref, nodes, fetch);
  if (!manifest) return manifest.error();
  auto selected = SelectFiles(*manifest, options.file_globs);
  if (!selected) return selected.error();
  const std::filesystem::path out_dir =
      std::filesystem::absolute(options.out_dir).lexically_normal();
  OutputState output = CheckOutput(*selected, out_dir, index);
  if (stop.load()) return kInterrupted;

  DownloadPlan plan;
  plan.files = std::move(output.to_write);
  plan.up_to_date = std::move(output.up_to_date);
  std::vector<PartialFile> partials;
  partials.reserve(plan.files.size());
  for (const ManifestFile* file : plan.files) {
    auto partial = PartialFile::Open(out_dir / file->path, file->size);
    if (!partial) return partial.error();
    partials.push_back(std::move(*partial));
    plan.file_bytes += file->size;
  }

  const unsigned threads =
      std::clamp(std::thread::hardware_concurrency(), 1u, std::max(options.blocks.connections, 1u));
  auto local = CopyLocalBlocks(NeedsOf(plan.files, partials), index, *store, threads, stop);
  if (!local) return local.error();
  for (const std::filesystem::path& bad : local->bad_files) index.Remove(bad);
  for (std::size_t i = 0; i < plan.files.size(); ++i) {
    const ManifestFile& file = *plan.files[i];
    index.Put(IndexedFile{.path = partials[i].path(),
                          .size = file.size,
                          .partial = true,
                          .sha256 = file.sha256,
                          .blocks = file.blocks});
  }
  if (auto saved = index.Save(); !saved) return saved.error();
  plan.to_fetch = std::move(local->missing);
  for (const BlockNeed& need : plan.to_fetch) plan.fetch_bytes += need.block.size;
  plan.reused_blocks = local->reused_blocks;
  plan.reused_bytes = local->reused_bytes;
  plan.repaired_blocks = local->repaired_blocks;
  if (on_plan) on_plan(plan);
  if (stop.load()) return kInterrupted;

  BlockDownloadOptions blocks = options.blocks;
  blocks.model = manifest->model;
  blocks.commit = manifest->commit.Hex();
  if (auto fetched = DownloadBlocks(plan.to_fetch, nodes, blocks, progress, stop); !fetched) {
    return fetched.error();
  }
  if (stop.load()) return kInterrupted;

  if (auto committed = CommitFiles(plan.files, partials, index); !committed) {
    return committed.error();
  }
  PruneStore(*store, index);

  DownloadSummary summary;
  summary.model = manifest->model;
  summary.revision = manifest->revision;
  summary.commit = manifest->commit.Hex();
  summary.out_dir = options.out_dir;
  summary.files_written = plan.files.size();
  summary.files_up_to_date = plan.up_to_date.size();
  summary.file_bytes = plan.file_bytes;
  summary.blocks_fetched = progress.blocks.load();
  summary.fetched_raw_bytes = progress.raw_bytes.load();
  summary.wire_bytes = progress.wire_bytes.load();
  summary.blocks_reused = plan.reused_blocks;
  summary.reused_bytes = plan.reused_bytes;
  summary.blocks_repaired = plan.repaired_blocks;
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.nodes = nodes.Reports();
  return summary;
}

std::string FormatSummary(const DownloadSummary& s) {
  std::string text = fmt::format("{}@{} (commit {}) -> {}\n", s.model, s.revision,
                                 s.commit.substr(0, 12), s.out_dir.string());
  const double rate = s.seconds > 0 ? static_cast<double>(s.wire_bytes) / s.seconds : 0;
  text += fmt::format("  {} file{} written, {}", s.files_written, s.files_written == 1 ? "" : "s",
                      FormatByteSize(s.file_bytes));
  if (s.files_up_to_date > 0) text += fmt::format(" ({} already up to date)", s.files_up_to_date);
  text +=
      fmt::format("\n  fetched {} in {} block{} as {} on the wire; reused {} in {} local block{}\n",
                  FormatByteSize(s.fetched_raw_bytes), s.blocks_fetched,
                  s.blocks_fetched == 1 ? "" : "s", FormatByteSize(s.wire_bytes),
                  FormatByteSize(s.reused_bytes), s.blocks_reused, s.blocks_reused == 1 ? "" : "s");
  text += fmt::format("  {:.2f} s, {}/s on the wire", s.seconds,
                      FormatByteSize(static_cast<std::uint64_t>(rate)));
  if (s.blocks_repaired > 0) text += fmt::format("; {} block(s) fetched again", s.blocks_repaired);
  text += '\n';
  for (const NodeFailover::NodeReport& node : s.nodes) {
    if (node.blocks == 0 && node.failures == 0) continue;
    text += fmt::format("  {}: {} block{}, {}", node.node.name, node.blocks,
                        node.blocks == 1 ? "" : "s", FormatByteSize(node.wire_bytes));
    if (node.failures > 0) {
      text += fmt::format("; {} failure{}", node.failures, node.failures == 1 ? "" : "s");
      if (node.bad_blocks > 0) text += fmt::format(" ({} bad block(s) refused)", node.bad_blocks);
      text += fmt::format(", last: {}", node.last_error);
    }
    text += '\n';
  }
  return text;
}

std::string SummaryJson(const DownloadSummary& s) {
  json::array nodes;
  for (const NodeFailover::NodeReport& node : s.nodes) {
    nodes.push_back(json::object{{"url", node.node.base_url},
                                 {"blocks", node.blocks},
                                 {"wire_bytes", node.wire_bytes},
                                 {"failures", node.failures},
                                 {"bad_blocks", node.bad_blocks},
                                 {"down", node.down},
                                 {"last_error", node.last_error}});
  }
  return json::serialize(json::object{
      {"model", s.model},
      {"revision", s.revision},
      {"commit", s.commit},
      {"out", s.out_dir.string()},
      {"files_written", s.files_written},
      {"files_up_to_date", s.files_up_to_date},
      {"file_bytes", s.file_bytes},
      {"blocks_fetched", s.blocks_fetched},
      {"fetched_raw_bytes", s.fetched_raw_bytes},
      {"wire_bytes", s.wire_bytes},
      {"blocks_reused", s.blocks_reused},
      {"reused_bytes", s.reused_bytes},
      {"blocks_repaired", s.blocks_repaired},
      {"seconds", s.seconds},
      {"nodes", std::move(nodes)},
  });
}

}  // namespace mei::tools
