// FillProgress: the bytes of a block being filled, readable by the requests that wait for it while
// they arrive from upstream (cut-through; docs/ARCHITECTURE.md, "The miss path").
//
// A fill makes one attempt per upstream it tries. Each attempt receives the block into a fresh
// ReceivedBlock (one buffer, the SHA-256 computed as the bytes pass), and readers take its raw
// bytes as they land, all but the last of the span each asked for: that byte is released only
// once the whole block has verified, so no client ever completes a transfer (a whole file or a
// range) that holds bytes of a wrong block. An attempt that fails
// (digest mismatch, a body cut short) is dropped: readers that took any of its bytes fail from
// then on (their bodies end with an error and their connections are cut), while readers that
// took nothing wait on and read the next attempt's bytes. A coded (zstd) answer cannot be read
// before it is decoded, so its bytes become readable all at once, when it verifies.
//
// The fill drives it from one coroutine (BeginAttempt, then BlockReceiver's Begin and Append
// through FetchBlockAsync, then FinishAttempt; Fail when no attempt verified); readers come from
// any thread. Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/data_plane.h"
#include "common/http/received_block.h"
#include "common/one_shot.h"

namespace mei::cache_node {

class FillProgress final : public http::BlockReceiver,
                           public std::enable_shared_from_this<FillProgress> {
 public:
  explicit FillProgress(BlockId id);

  // Starts an attempt at `upstream`: what readers read from now on.
  void BeginAttempt(std::string upstream);
  // The attempt's answer arriving (FetchBlockAsync calls these).
  Result<void> Begin(Codec codec, std::uint64_t raw_size, std::uint64_t payload_size) override;
  Result<void> Append(std::span<const std::byte> payload) override;
  // Ends the attempt: verifies its block when `fetched` succeeded. On success readers may read
  // all of it, and the block is returned for storing; on failure (the fetch's error or the
  // verification's) the attempt is dropped as described above.
  [[nodiscard]] Result<std::shared_ptr<const http::ReceivedBlock>> FinishAttempt(
      Result<void> fetched);
  // No attempt will verify: readers waiting, and those to come, get `error`. Nothing once an
  // attempt has verified (its bytes stay readable).
  void Fail(Error error);

  // A reader from the first byte of whatever attempt it finds.
  [[nodiscard]] std::unique_ptr<BlockReader> NewReader();

 private:
  class Reader;

  // Lets readers take `visible` bytes of the current attempt, and wakes those waiting.
  void Publish(std::uint64_t visible);
  // Wakes every waiting reader to look again. REQUIRES: `lock` holds mu_; releases it.
  void Signal(std::unique_lock<std::mutex>& lock);

  const BlockId id_;
  mutable std::mutex mu_;
  std::uint64_t attempt_ = 0;                     // attempts begun
  std::shared_ptr<http::ReceivedBlock> current_;  // null before, and after a failed attempt
  std::optional<std::uint64_t> raw_size_;         // current_'s, once its answer began
  std::uint64_t visible_ = 0;                     // bytes of current_ readers may take
  bool verified_ = false;                         // current_ is verified: all of it is readable
  std::optional<Error> attempt_failure_;          // why the last failed attempt failed
  std::optional<Error> failed_;                   // the fill's failure, once final
  std::shared_ptr<OneShot<bool>> changed_;        // set (and replaced) on every change
};

}  // namespace mei::cache_node
