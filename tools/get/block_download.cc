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

// The shared queue of one download and what every block went through.
//
// Blocks never tried go out in file order (`next_`); a block a node failed goes to `retry_` and
// may be taken by a node that has not failed it in the current round. A node in good standing
// takes both; the threads of a node that is down take only the retries that every node in good
// standing has already failed this round. When every node failed a block, its next round starts
// after a backoff; after the last round the download fails.
class Download {
 public:
  Download(std::span<const BlockNeed> needs, NodeFailover& nodes,
           const BlockDownloadOptions& options, std::size_t connections, DownloadProgress& progress,
           const std::atomic<bool>& stop)
      : needs_(needs),
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
    std::deque<std::size_t> in_flight;
    for (;;) {
      while (in_flight.size() < std::max(options_.pipeline, 1u)) {
        const std::optional<std::size_t> next = Take(node, /*wait=*/in_flight.empty());
        if (!next) break;
        if (auto sent = connection.Send(needs_[*next].block.id); !sent) {
          Failed(*next, node, sent.error());
          Requeue(in_flight);
          break;
        }
        in_flight.push_back(*next);
      }
      if (in_flight.empty()) {
        if (Over()) return;
        continue;
      }
      const std::size_t need = in_flight.front();
      in_flight.pop_front();
      BlockReply reply(needs_[need], nodes_.node(node), pacer_, stop_);
      auto received = connection.Receive(reply);
      if (stop_.load()) return;
      if (!received) {
        if (received.error().unanswered) {
          in_flight.push_front(need);
        } else if (reply.local_failure()) {
          Fatal(received.error().error);
        } else {
          Failed(need, node, received.error().error);
        }
        Requeue(in_flight);
        continue;
      }
      if (connection.in_flight() == 0) Requeue(in_flight);  // the node closed the connection
      if (auto finished = reply.Finish(); !finished) {
        if (reply.local_failure()) {
          Fatal(finished.error());
        } else if (Failed(need, node, finished.error()); nodes_.down(node)) {
          // What else it has in flight would likely be as bad: asked of the others instead.
          connection.Close();
          Requeue(in_flight);
        }
        continue;
      }
      nodes_.Succeeded(node, 1, reply.wire_bytes());
      Done(need);
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

  // Whether the download is over for every thread: done, failed or stopped.
  bool Over() const {
    std::lock_guard lock(mu_);
    return OverLocked();
  }
  bool OverLocked() const { return done_ == needs_.size() || error_ || stop_.load(); }

  // The next block for `node`, waiting for one when `wait` (nullopt once the download is over).
  std::optional<std::size_t> Take(std::size_t node, bool wait) {
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
        return need;
      }
      // A block beyond the first in flight on a connection is taken only while enough are left
      // for every other connection to have one too.
      const bool spare = wait || needs_.size() - next_ > connections_;
      if (next_ < needs_.size() && spare && (up || !AnyNodeUp())) return next_++;
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

  // Blocks whose requests were lost with their connection, through no fault of the node: they go
  // back to the front of the queue as they were.
  void Requeue(std::deque<std::size_t>& lost) {
    if (lost.empty()) return;
    {
      std::lock_guard lock(mu_);
      retry_.insert(retry_.begin(), lost.begin(), lost.end());
    }
    lost.clear();
    changed_.notify_all();
  }

  void Failed(std::size_t need, std::size_t node, const Error& error) {
    nodes_.Failed(node, error);
    {
      std::lock_guard lock(mu_);
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

  void Done(std::size_t need) {
    progress_.blocks.fetch_add(1);
    progress_.raw_bytes.fetch_add(needs_[need].block.size);
    {
      std::lock_guard lock(mu_);
      ++done_;
    }
    changed_.notify_all();
  }

  const std::span<const BlockNeed> needs_;
  const std::size_t connections_;  // in all, to every node
  NodeFailover& nodes_;
  const BlockDownloadOptions& options_;
  DownloadProgress& progress_;
  const std::atomic<bool>& stop_;
  Pacer pacer_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::size_t next_ = 0;
  std::deque<std::size_t> retry_;
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
