#include "tools/get/progress_bar.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "common/byte_size.h"

namespace mei::tools {
namespace {

std::string Duration(double seconds) {
  const auto total = static_cast<std::uint64_t>(seconds + 0.5);
  if (total >= 3600)
    return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{}:{:02}", total / 60, total % 60);
}

unsigned TerminalWidth(std::FILE* stream) {
  winsize size{};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

std::string RenderProgressLine(std::uint64_t done, std::uint64_t total, double bytes_per_second,
                               unsigned width) {
  done = std::min(done, total);
  const double share = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  std::string rate = "--/s";
  std::string eta = "--";
  if (bytes_per_second > 0) {
    rate = FormatByteSize(static_cast<std::uint64_t>(bytes_per_second)) + "/s";
    eta = Duration(static_cast<double>(total - done) / bytes_per_second);
  }
  const std::string numbers = fmt::format(" {:3.0f}%  {} / {}  {}  ETA {}", share * 100,
                                          FormatByteSize(done), FormatByteSize(total), rate, eta);
  // The numbers always show; the bar takes what is left of the width, from 10 to 50 columns, and
  // is left out when fewer than 10 are left.
  const std::size_t columns = std::max(width, 40u);
  const std::size_t room = columns > numbers.size() + 2 ? columns - numbers.size() - 2 : 0;
  if (room < 10) return numbers.substr(1, columns);
  const std::size_t bar = std::min<std::size_t>(room, 50);
  const auto filled = static_cast<std::size_t>(share * static_cast<double>(bar));
  std::string line = "[";
  line.append(filled, '=');
  if (filled < bar) {
    line.push_back('>');
    line.append(bar - filled - 1, ' ');
  }
  line.push_back(']');
  return line + numbers;
}

ProgressBar::ProgressBar(std::FILE* stream, std::chrono::milliseconds interval)
    : stream_(stream), interval_(interval), enabled_(::isatty(::fileno(stream)) == 1) {}

ProgressBar::~ProgressBar() { Stop(); }

void ProgressBar::Start(const std::atomic<std::uint64_t>* done, std::uint64_t total) {
  if (!enabled_ || thread_.joinable()) return;
  done_ = done;
  total_ = total;
  started_ = std::chrono::steady_clock::now();
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) Draw();
  });
}

void ProgressBar::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  Draw();
  std::fputc('\n', stream_);
  std::fflush(stream_);
}

void ProgressBar::Draw() {
  const std::uint64_t done = done_->load();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double rate = seconds > 0.2 ? static_cast<double>(done) / seconds : 0;
  const std::string line = RenderProgressLine(done, total_, rate, TerminalWidth(stream_) - 1);
  std::fprintf(stream_, "\r%s\x1b[K", line.c_str());
  std::fflush(stream_);
}

}  // namespace mei::tools
