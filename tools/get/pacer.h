// Pacer: keeps a download's wire bytes at or under a rate (mei-get --limit-rate). Each piece of a
// reply books its bytes on a shared timeline and waits until the timeline reaches them.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace mei::tools {

class Pacer {
 public:
  // 0: no limit.
  explicit Pacer(std::uint64_t bytes_per_second) : rate_(bytes_per_second) {}

  // Waits until `bytes` more fit the rate, or `stop` is set.
  void Account(std::uint64_t bytes, const std::atomic<bool>& stop) {
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
    while (!stop.load(std::memory_order_relaxed) && Clock::now() < until) {
      std::this_thread::sleep_until(std::min(until, Clock::now() + std::chrono::milliseconds(100)));
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  const std::uint64_t rate_;
  std::mutex mu_;
  Clock::time_point booked_until_{};
};

}  // namespace mei::tools
