#include "cache-node/fill_progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace mei::cache_node {

class FillProgress::Reader final : public BlockReader {
 public:
  explicit Reader(std::shared_ptr<FillProgress> progress) : progress_(std::move(progress)) {}

  boost::asio::awaitable<Result<http::Chunk>> Read(std::uint64_t offset,
                                                   std::uint64_t max) override {
    for (;;) {
      std::shared_ptr<OneShot<bool>> changed;
      {
        FillProgress& p = *progress_;
        std::lock_guard lock(p.mu_);
        if (attempt_ && (*attempt_ != p.attempt_ || !p.current_)) co_return Disowned(p);
        // The byte that ends the asked span waits for the digest: a body that asks for each
        // block's part of its range never sends its own last byte before its blocks verified.
        const std::uint64_t end = p.raw_size_ ? std::min(offset + max, *p.raw_size_) : 0;
        const std::uint64_t limit = p.verified_ ? end : std::min(p.visible_, end - 1);
        if (p.current_ && offset < limit) {
          attempt_ = p.attempt_;
          raw_size_ = *p.raw_size_;
          const std::uint64_t length = limit - offset;
          co_return http::Chunk{{p.current_->raw_data() + offset, length}, p.current_};
        }
        if (p.verified_) {
          co_return Error{Errc::kInternal,
                          fmt::format("a read of block {} at byte {} is past its end of {} bytes",
                                      p.id_.Hex(), offset, *p.raw_size_)};
        }
        if (p.failed_) co_return *p.failed_;
        changed = p.changed_;
      }
      co_await changed->Wait();
    }
  }

  std::uint64_t raw_size() const override { return raw_size_; }

 private:
  // The error for a reader whose attempt failed after it took some of its bytes. REQUIRES: mu_.
  Error Disowned(const FillProgress& p) const {
    const Error& why = p.attempt_failure_ ? *p.attempt_failure_
                                          : Error{Errc::kUpstreamFailed, "the fill was abandoned"};
    return Error{
        why.code == Errc::kIntegrity ? Errc::kIntegrity : Errc::kUpstreamFailed,
        fmt::format("block {} failed after part of it was sent: {}", p.id_.Hex(), why.message)};
  }

  const std::shared_ptr<FillProgress> progress_;
  std::optional<std::uint64_t> attempt_;  // the attempt this reader took bytes of
  std::uint64_t raw_size_ = 0;
};

FillProgress::FillProgress(BlockId id) : id_(id), changed_(std::make_shared<OneShot<bool>>()) {}

void FillProgress::BeginAttempt(std::string upstream) {
  auto attempt = std::make_shared<http::ReceivedBlock>(id_, std::move(upstream));
  std::unique_lock lock(mu_);
  ++attempt_;
  current_ = std::move(attempt);
  raw_size_.reset();
  visible_ = 0;
  Signal(lock);
}

Result<void> FillProgress::Begin(Codec codec, std::uint64_t raw_size, std::uint64_t payload_size) {
  if (auto begun = current_->Begin(codec, raw_size, payload_size); !begun) return begun;
  std::lock_guard lock(mu_);
  raw_size_ = raw_size;  // nothing readable yet
  return {};
}

Result<void> FillProgress::Append(std::span<const std::byte> payload) {
  // current_ is only replaced by this same coroutine, so reading it here needs no lock; the
  // bytes are copied and hashed outside it, then made visible under it.
  if (auto appended = current_->Append(payload); !appended) return appended;
  if (current_->codec() == Codec::kRaw) Publish(current_->received());
  return {};
}

Result<std::shared_ptr<const http::ReceivedBlock>> FillProgress::FinishAttempt(
    Result<void> fetched) {
  Result<void> verified = fetched ? current_->Finish() : std::move(fetched);
  std::unique_lock lock(mu_);
  if (!verified) {
    attempt_failure_ = verified.error();
    current_.reset();
    raw_size_.reset();
    visible_ = 0;
    Signal(lock);
    return verified.error();
  }
  std::shared_ptr<const http::ReceivedBlock> block = current_;
  verified_ = true;
  visible_ = current_->raw_size();
  Signal(lock);
  return block;
}

void FillProgress::Fail(Error error) {
  std::unique_lock lock(mu_);
  if (verified_ || failed_) return;
  failed_ = std::move(error);
  Signal(lock);
}

std::unique_ptr<BlockReader> FillProgress::NewReader() {
  return std::make_unique<Reader>(shared_from_this());
}

void FillProgress::Publish(std::uint64_t visible) {
  std::unique_lock lock(mu_);
  if (visible <= visible_) return;
  visible_ = visible;
  Signal(lock);
}

void FillProgress::Signal(std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<OneShot<bool>> changed =
      std::exchange(changed_, std::make_shared<OneShot<bool>>());
  lock.unlock();
  changed->Set(true);
}

}  // namespace mei::cache_node
