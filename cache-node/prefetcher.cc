#include "cache-node/prefetcher.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "common/run_blocking.h"

namespace mei::cache_node {
namespace {

constexpr std::size_t kFinishedJobsKept = 64;

bool Pending(const PrefetchJob& job) { return job.state == "queued" || job.state == "running"; }

}  // namespace

Prefetcher::Prefetcher(ManifestCache& manifests, BlockIndex& index, BlockFiller& filler,
                       std::uint64_t rate_bytes_per_second)
    : manifests_(manifests),
      index_(index),
      filler_(filler),
      rate_(rate_bytes_per_second),
      thread_([this] { Run(); }) {}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (PrefetchJob& job : jobs_) {
      if (job.state == "queued") job.state = "cancelled";
    }
  }
  changed_.notify_all();
  thread_.join();
}

void Prefetcher::Enqueue(std::string model, std::string revision) {
  {
    std::lock_guard lock(mu_);
    for (const PrefetchJob& job : jobs_) {
      if (Pending(job) && job.model == model && job.revision == revision) return;
    }
    PrefetchJob job;
    job.model = std::move(model);
    job.revision = std::move(revision);
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

std::vector<PrefetchJob> Prefetcher::Jobs() const {
  std::lock_guard lock(mu_);
  return {jobs_.begin(), jobs_.end()};
}

void Prefetcher::WaitIdle() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return !busy_ && std::none_of(jobs_.begin(), jobs_.end(), Pending); });
}

void Prefetcher::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] {
      return stopping_ || std::any_of(jobs_.begin(), jobs_.end(),
                                      [](const PrefetchJob& job) { return job.state == "queued"; });
    });
    if (stopping_) return;
    const auto next = std::find_if(jobs_.begin(), jobs_.end(),
                                   [](const PrefetchJob& job) { return job.state == "queued"; });
    next->state = "running";
    busy_ = true;
    const auto index = static_cast<std::size_t>(next - jobs_.begin());
    lock.unlock();
    RunJob(index);
    lock.lock();
    busy_ = false;
    // Forget the oldest finished jobs beyond the limit (they sit at the front).
    std::size_t finished = static_cast<std::size_t>(std::count_if(
        jobs_.begin(), jobs_.end(), [](const PrefetchJob& j) { return !Pending(j); }));
    while (finished > kFinishedJobsKept && !Pending(jobs_.front())) {
      jobs_.pop_front();
      --finished;
    }
    changed_.notify_all();
  }
}

// Jobs are only removed by Run() on this thread, so `index` stays valid while the job runs; its
// fields are updated under the lock for Jobs() to read.
void Prefetcher::RunJob(std::size_t index) {
  std::string model;
  std::string revision;
  {
    std::lock_guard lock(mu_);
    model = jobs_[index].model;
    revision = jobs_[index].revision;
  }
  auto finish = [&](std::string state, std::string error) {
    std::lock_guard lock(mu_);
    jobs_[index].state = std::move(state);
    jobs_[index].error = std::move(error);
  };
  auto manifest = RunBlocking(manifests_.Get(model, revision));
  if (!manifest) return finish("failed", manifest.error().message);

  // Each distinct block once, in file order (a file's blocks are then held front to back).
  std::vector<const ManifestBlock*> blocks;
  std::unordered_set<BlockId> seen;
  for (const ManifestFile& file : (*manifest)->files) {
    for (const ManifestBlock& block : file.blocks) {
      if (seen.insert(block.id).second) blocks.push_back(&block);
    }
  }
  {
    std::lock_guard lock(mu_);
    jobs_[index].commit = (*manifest)->commit.Hex();
    jobs_[index].blocks_total = blocks.size();
  }

  const auto started = std::chrono::steady_clock::now();
  std::uint64_t fetched_bytes = 0;
  for (const ManifestBlock* block : blocks) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        jobs_[index].state = "cancelled";
        return;
      }
    }
    if (!index_.Contains(block->id)) {
      auto filled = filler_.FillBlocking(block->id);
      if (!filled) return finish("failed", filled.error().message);
      if (!filled->empty()) fetched_bytes += block->size;
    }
    {
      std::lock_guard lock(mu_);
      ++jobs_[index].blocks_done;
      jobs_[index].bytes_fetched = fetched_bytes;
    }
    Pace(fetched_bytes, started);
  }
  finish("done", "");
}

void Prefetcher::Pace(std::uint64_t bytes, std::chrono::steady_clock::time_point started) {
  if (rate_ == 0 || bytes == 0) return;
  const auto due =
      started +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(rate_)));
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, due, [&] { return stopping_; });
}

}  // namespace mei::cache_node
