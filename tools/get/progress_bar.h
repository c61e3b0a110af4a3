// The terminal progress bar of mei-get: one line on standard error, redrawn in place a few times a
// second ("\r" and erase-to-end-of-line), with bytes done of total, the rate and the time left.
// Only for a terminal: when standard error is not one, nothing is drawn at all, so logs and pipes
// never see control characters.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace mei::tools {

// One frame of the bar, `width` columns at most (at least 40 are assumed), e.g.
//   "[=========>          ]  45%  230.0 MiB / 512.0 MiB  120.3 MiB/s  ETA 0:02"
// `bytes_per_second` <= 0 shows "--" for the rate and the time left. Thread-safe.
[[nodiscard]] std::string RenderProgressLine(std::uint64_t done, std::uint64_t total,
                                             double bytes_per_second, unsigned width);

// Draws RenderProgressLine(done(), total, rate since Start) on `stream` every `interval` on a
// thread of its own, from Start until Stop, which draws the last frame and ends the line. Does
// nothing at all when `stream` is not a terminal. Start and Stop from one thread.
class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* stream,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  ~ProgressBar();  // Stop()
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Whether the bar draws (its stream is a terminal).
  [[nodiscard]] bool enabled() const { return enabled_; }

  // `done` is read from the drawing thread and must stay valid until Stop.
  void Start(const std::atomic<std::uint64_t>* done, std::uint64_t total);
  void Stop();

 private:
  void Draw();

  std::FILE* stream_;
  const std::chrono::milliseconds interval_;
  const bool enabled_;
  const std::atomic<std::uint64_t>* done_ = nullptr;
  std::uint64_t total_ = 0;
  std::chrono::steady_clock::time_point started_{};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mei::tools
