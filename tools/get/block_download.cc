#include "tools/get/block_download.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/codec.h"

namespace mei::tools {
namespace {

using Clock = std::chrono::steady_clock;

// Keeps the download's wire bytes at or under a rate: each fetch books its bytes on a shared
// timeline and waits until the timeline reaches them. Thread-safe.
class Pacer {
 public:
  explicit Pacer(std::uint64_t bytes_per_second) : rate_(bytes_per_second) {}

  void Account(std::uint64_t bytes) {
    if (rate_ == 0) return;
    Clock::time_point until;
    {
      std::lock_guard lock(mu_);
      const Clock::time_point now = Clock::now();
      if (booked_until_ < now) booked_until_ = now;
      booked_until_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(rate_)));
      until = booked_until_;
    }
    std::this_thread::sleep_until(until);
  }

 private:
  const std::uint64_t rate_;
  std::mutex mu_;
  Clock::time_point booked_until_{};
};

// One download: the shared cursor, the first fatal error, and the threads' common state.
class Download {
 public:
  Download(std::span<const ManifestBlock> blocks, NodeFailover& nodes, const LocalBlockStore& store,
           const BlockDownloadOptions& options, DownloadProgress& progress,
           const std::atomic<bool>& stop)
      : blocks_(blocks),
        nodes_(nodes),
        store_(store),
        options_(options),
        progress_(progress),
        stop_(stop),
        pacer_(options.rate_limit_bytes) {}

  void Work() {
    while (!failed_.load() && !stop_.load()) {
      const std::size_t next = cursor_.fetch_add(1);
      if (next >= blocks_.size()) return;
      if (auto fetched = FetchOne(blocks_[next]); !fetched) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = fetched.error();
        failed_.store(true);
      }
    }
  }

  Result<void> Outcome() const {
    if (error_) return *error_;
    return {};
  }

 private:
  Result<void> FetchOne(const ManifestBlock& block) {
    std::chrono::milliseconds backoff = options_.retry_backoff;
    std::vector<std::string> reasons;
    unsigned attempts = 0;
    for (unsigned round = 0; round < std::max(options_.rounds, 1u); ++round) {
      if (round > 0) {
        std::this_thread::sleep_for(backoff);
        backoff *= 2;
      }
      reasons.clear();
      for (const std::size_t index : nodes_.Order()) {
        if (stop_.load() || failed_.load()) return {};
        const http::RemoteNode& node = nodes_.node(index);
        ++attempts;
        auto frame = http::FetchBlockFrame(node, block.id, options_.fetch);
        if (!frame) {
          nodes_.Failed(index, frame.error());
          reasons.push_back(frame.error().message);
          continue;
        }
        const std::uint64_t wire = frame->size() - kFrameHeaderSize;
        nodes_.Succeeded(index, 1, wire);
        if (auto stored = store_.Put(block.id, *frame); !stored) return stored.error();
        progress_.blocks.fetch_add(1);
        progress_.raw_bytes.fetch_add(block.size);
        pacer_.Account(wire);
        return {};
      }
    }
    return Error{Errc::kUpstreamFailed,
                 fmt::format("no node could serve block {} ({} attempts); last round: {}",
                             block.id.Hex(), attempts, fmt::join(reasons, "; "))};
  }

  const std::span<const ManifestBlock> blocks_;
  NodeFailover& nodes_;
  const LocalBlockStore& store_;
  const BlockDownloadOptions& options_;
  DownloadProgress& progress_;
  const std::atomic<bool>& stop_;
  Pacer pacer_;
  std::atomic<std::size_t> cursor_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::optional<Error> error_;
};

}  // namespace

Result<void> DownloadBlocks(std::span<const ManifestBlock> blocks, NodeFailover& nodes,
                            const LocalBlockStore& store, BlockDownloadOptions options,
                            DownloadProgress& progress, const std::atomic<bool>& stop) {
  options.fetch.received_body_bytes = &progress.wire_bytes;
  Download download(blocks, nodes, store, options, progress, stop);
  const std::size_t threads = std::min<std::size_t>(std::max(options.connections, 1u),
                                                    std::max<std::size_t>(blocks.size(), 1));
  std::vector<std::jthread> workers;
  workers.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers.emplace_back([&] { download.Work(); });
  workers.clear();  // joins
  return download.Outcome();
}

}  // namespace mei::tools
