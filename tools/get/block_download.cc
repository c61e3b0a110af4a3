#include "tools/get/block_download.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "tools/get/block_connection.h"
#include "tools/get/block_reply.h"
#include "tools/get/pacer.h"

namespace mei::tools {
namespace {

using Clock = std::chrono::steady_clock;

// Blocks of content-defined files (format "other") under this size that lie end to end are
// fetched as runs, by range.
constexpr std::uint64_t kSmallBlock = 1 << 20;
constexpr std::uint64_t kRunBytes = 4 << 20;

// What one request asks for: needs[first, first + count), one block on the block route, or (when
// `run`) blocks whose first places lie end to end in one file, by range.
struct Fetch {
  std::size_t first = 0;
  std::size_t count = 1;
  bool run = false;
};

// `needs` cut into fetches, in order: the blocks under kSmallBlock of content-defined files whose
// first places follow one another in one file make runs of up to kRunBytes. (Tensor files keep
// one request a block: their blocks come in their stored codings, bg2+zstd saving wire bytes; a
// range comes raw. Content-defined chunks of pickles and ONNX weights are mostly stored raw.)
std::vector<Fetch> FetchesOf(std::span<const BlockNeed> needs, bool runs) {
  std::vector<Fetch> fetches;
  const auto small = [&](std::size_t i) {
    const ManifestFile* entry = needs[i].places.front().entry;
    return runs && entry != nullptr && entry->format == "other" &&
           needs[i].block.size < kSmallBlock;
  };
  std::uint64_t run_bytes = 0;
  for (std::size_t i = 0; i < needs.size(); ++i) {
    if (!fetches.empty() && fetches.back().run && small(i)) {
      const BlockNeed& last = needs[i - 1];
      const BlockPlace& before = last.places.front();
      const BlockPlace& here = needs[i].places.front();
      if (here.file == before.file && here.offset == before.offset + last.block.size &&
          run_bytes + needs[i].block.size <= kRunBytes) {
        ++fetches.back().count;
        run_bytes += needs[i].block.size;
        continue;
      }
    }
    fetches.push_back(Fetch{i, 1, small(i)});
    run_bytes = needs[i].block.size;
  }
  // A run of one is a single block.
  for (Fetch& fetch : fetches) fetch.run = fetch.run && fetch.count > 1;
  return fetches;
}

// The resolve route's path for `file` of `model` at `commit`, each path segment percent-encoded.
std::string ResolveTarget(std::string_view model, std::string_view commit, std::string_view path) {
  std::string target = fmt::format("/{}/resolve/{}/", model, commit);
  for (const char c : path) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (plain) {
      target += c;
    } else {
      target += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return target;
}

// The shared queue of one download and what every block went through.
//
// Fetches never tried go out in file order (`next_`); a block a node failed goes to `retry_`,
// alone, and may be taken by a node that has not failed it in the current round. A node in good
// standing takes both; the threads of a node that is down take only the retries that every node in
// good standing has already failed this round. When every node failed a block, its next round
// starts after a backoff; after the last round the download fails.
class Download {
 public:
  Download(std::span<const BlockNeed> needs, NodeFailover& nodes,
           const BlockDownloadOptions& options, std::size_t connections, DownloadProgress& progress,
           const std::atomic<bool>& stop)
      : needs_(needs),
        fetches_(FetchesOf(needs, !options.model.empty() && !options.commit.empty())),
        connections_(connections),
        nodes_(nodes),
        options_(options),
        progress_(progress),
        stop_(stop),
        pacer_(options.rate_limit_bytes),
        attempts_(needs.size()) {
    for (Attempts& attempts : attempts_) attempts.tried.assign(nodes.size(), false);
  }

  // The loop of one connection to node `node`.
  void Work(std::size_t node) {
    BlockConnectionOptions connection_options;
    connection_options.connect_timeout = options_.fetch.client.connect_timeout;
    connection_options.idle_timeout = options_.fetch.client.idle_timeout;
    connection_options.client_id = options_.fetch.client_id;
    connection_options.received_body_bytes = &progress_.wire_bytes;
    BlockConnection connection(nodes_.node(node), connection_options, stop_);
    std::deque<Fetch> in_flight;
    for (;;) {
      while (in_flight.size() < std::max(options_.pipeline, 1u)) {
        const std::optional<Fetch> next = Take(node, /*wait=*/in_flight.empty());
        if (!next) break;
        if (auto sent = Send(connection, *next); !sent) {
          Failed(*next, 0, node, sent.error());
          Requeue(in_flight);
          break;
        }
        in_flight.push_back(*next);
      }
      if (in_flight.empty()) {
        if (Over()) return;
        continue;
      }
      const Fetch fetch = in_flight.front();
      in_flight.pop_front();
      BlockReply reply(needs_.subspan(fetch.first, fetch.count), fetch.run, nodes_.node(node),
                       pacer_, stop_);
      auto received = connection.Receive(reply);
      if (stop_.load()) return;
      Result<void> finished = received ? reply.Finish() : Result<void>(received.error().error);
      Done(fetch, reply.verified(), node, reply.wire_bytes());
      if (received && connection.in_flight() == 0) Requeue(in_flight);  // the node closed it
      if (finished) continue;
      if (!received && received.error().unanswered) {
        in_flight.push_front(fetch);
        Requeue(in_flight);
      } else if (reply.local_failure()) {
        Fatal(finished.error());
      } else if (Failed(fetch, reply.verified(), node, finished.error());
                 !received || nodes_.down(node)) {
        // What else it has in flight would likely be as bad: asked of the others instead.
        connection.Close();
        Requeue(in_flight);
      }
    }
  }

  Result<void> Outcome() const {
    if (error_) return *error_;
    return {};
  }

 private:
  struct Attempts {
    unsigned round = 0;
    unsigned count = 0;
    std::vector<bool> tried;  // by node, in the current round
    std::vector<std::string> reasons;
    Clock::time_point not_before{};
  };

  Result<void> Send(BlockConnection& connection, const Fetch& fetch) const {
    const BlockNeed& first = needs_[fetch.first];
    if (!fetch.run) return connection.Send(first.block.id);
    const BlockNeed& last = needs_[fetch.first + fetch.count - 1];
    const BlockPlace& place = first.places.front();
    return connection.SendRange(ResolveTarget(options_.model, options_.commit, place.entry->path),
                                place.offset, last.places.front().offset + last.block.size - 1);
  }

  // Whether the download is over for every thread: done, failed or stopped.
  bool Over() const {
    std::lock_guard lock(mu_);
    return OverLocked();
  }
  bool OverLocked() const { return done_ == needs_.size() || error_ || stop_.load(); }

  // The next fetch for `node`, waiting for one when `wait` (nullopt once the download is over).
  std::optional<Fetch> Take(std::size_t node, bool wait) {
    std::unique_lock lock(mu_);
    for (;;) {
      if (OverLocked()) return std::nullopt;
      const bool up = !nodes_.down(node);
      const Clock::time_point now = Clock::now();
      for (auto it = retry_.begin(); it != retry_.end(); ++it) {
        const Attempts& a = attempts_[*it];
        if (a.not_before > now || a.tried[node] || (!up && AnyUpNodeMayTry(a))) continue;
        const std::size_t need = *it;
        retry_.erase(it);
        return Fetch{need, 1, false};
      }
      // A fetch beyond the first in flight on a connection is taken only while enough are left
      // for every other connection to have one too.
      const bool spare = wait || fetches_.size() - next_ > connections_;
      if (next_ < fetches_.size() && spare && (up || !AnyNodeUp())) return fetches_[next_++];
      if (!wait) return std::nullopt;
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  bool AnyUpNodeMayTry(const Attempts& a) const {
    for (std::size_t i = 0; i < a.tried.size(); ++i) {
      if (!a.tried[i] && !nodes_.down(i)) return true;
    }
    return false;
  }

  bool AnyNodeUp() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_.down(i)) return true;
    }
    return false;
  }

  // Fetches whose requests were lost with their connection, through no fault of the node: their
  // blocks go back to the front of the queue, each alone, as they were.
  void Requeue(std::deque<Fetch>& lost) {
    if (lost.empty()) return;
    {
      std::lock_guard lock(mu_);
      std::vector<std::size_t> blocks;
      for (const Fetch& fetch : lost) {
        for (std::size_t i = 0; i < fetch.count; ++i) blocks.push_back(fetch.first + i);
      }
      retry_.insert(retry_.begin(), blocks.begin(), blocks.end());
    }
    lost.clear();
    changed_.notify_all();
  }

  // Node `node` failed `fetch` after its first `verified` blocks: the next block is charged with
  // the failure, and the rest go back to the queue, each alone.
  void Failed(const Fetch& fetch, std::size_t verified, std::size_t node, const Error& error) {
    nodes_.Failed(node, error);
    {
      std::lock_guard lock(mu_);
      const std::size_t need = fetch.first + verified;
      Attempts& a = attempts_[need];
      a.tried[node] = true;
      ++a.count;
      a.reasons.push_back(error.message);
      if (std::all_of(a.tried.begin(), a.tried.end(), [](bool tried) { return tried; })) {
        if (++a.round >= std::max(options_.rounds, 1u)) {
          if (!error_) {
            error_ = Error{
                Errc::kUpstreamFailed,
                fmt::format("no node could serve block {} ({} attempts); last round: {}",
                            needs_[need].block.id.Hex(), a.count, fmt::join(a.reasons, "; "))};
          }
        } else {
          a.tried.assign(a.tried.size(), false);
          a.reasons.clear();
          a.not_before = Clock::now() + options_.retry_backoff * (1u << std::min(a.round - 1, 16u));
        }
      }
      retry_.push_back(need);
      for (std::size_t i = need + 1; i < fetch.first + fetch.count; ++i) retry_.push_front(i);
    }
    changed_.notify_all();
  }

  void Fatal(const Error& error) {
    {
      std::lock_guard lock(mu_);
      if (!error_) error_ = error;
    }
    changed_.notify_all();
  }

  // The first `verified` blocks of `fetch` are in place: counted for node `node`, which sent
  // `wire_bytes` for the whole fetch (a run's blocks come raw, so when it failed after them, what
  // they took on the wire is their raw size).
  void Done(const Fetch& fetch, std::size_t verified, std::size_t node, std::uint64_t wire_bytes) {
    if (verified == 0) return;
    std::uint64_t raw = 0;
    for (std::size_t i = 0; i < verified; ++i) raw += needs_[fetch.first + i].block.size;
    nodes_.Succeeded(node, verified, verified == fetch.count ? wire_bytes : raw);
    progress_.blocks.fetch_add(verified);
    progress_.raw_bytes.fetch_add(raw);
    {
      std::lock_guard lock(mu_);
      done_ += verified;
    }
    changed_.notify_all();
  }

  const std::span<const BlockNeed> needs_;
  const std::vector<Fetch> fetches_;
  const std::size_t connections_;  // in all, to every node
  NodeFailover& nodes_;
  const BlockDownloadOptions& options_;
  DownloadProgress& progress_;
  const std::atomic<bool>& stop_;
  Pacer pacer_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::size_t next_ = 0;           // into fetches_
  std::deque<std::size_t> retry_;  // into needs_
  std::vector<Attempts> attempts_;
  std::size_t done_ = 0;
  std::optional<Error> error_;
};

}  // namespace

Result<void> DownloadBlocks(std::span<const BlockNeed> needs, NodeFailover& nodes,
                            BlockDownloadOptions options, DownloadProgress& progress,
                            const std::atomic<bool>& stop) {
  if (needs.empty()) return {};
  // No more connections to a node than blocks to fetch.
  const std::size_t per_node =
      std::min<std::size_t>(std::max(options.connections, 1u), needs.size());
  Download download(needs, nodes, options, per_node * nodes.size(), progress, stop);
  std::vector<std::jthread> workers;
  for (std::size_t connection = 0; connection < per_node; ++connection) {
    for (std::size_t node = 0; node < nodes.size(); ++node) {
      workers.emplace_back([&download, node] { download.Work(node); });
    }
  }
  workers.clear();  // joins
  return download.Outcome();
}

}  // namespace mei::tools
