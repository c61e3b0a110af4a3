#include "common/store/segment_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "common/aligned_bytes.h"

namespace mei {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSuffix = ".seg";
constexpr std::size_t kDigits = 10;

Error Io(std::string_view what, const fs::path& path, int error) {
  return Error{Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(error))};
}

// A failed write's error: kStoreFull when the disk is full, kIo otherwise.
Error WriteFailure(const fs::path& path, int error) {
  if (error == ENOSPC || error == EDQUOT) {
    return Error{Errc::kStoreFull,
                 fmt::format("the disk of {} is full: {}", path.string(), std::strerror(error))};
  }
  return Io("write segment", path, error);
}

std::uint64_t AlignUp(std::uint64_t offset) {
  return (offset + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
}

fs::path SegmentPath(const fs::path& dir, std::uint32_t number) {
  return dir / fmt::format("{:0{}}{}", number, kDigits, kSuffix);
}

// The number of a segment's file name, or nothing for any other name.
std::optional<std::uint32_t> SegmentNumber(std::string_view name) {
  if (name.size() != kDigits + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  std::uint32_t number = 0;
  const char* end = name.data() + kDigits;
  const auto [ptr, ec] = std::from_chars(name.data(), end, number);
  if (ec != std::errc() || ptr != end || number == 0) return std::nullopt;
  return number;
}

}  // namespace

Segment::Segment(std::uint32_t number, fs::path path, int fd)
    : number_(number), path_(std::move(path)), fd_(fd) {}

Segment::~Segment() { ::close(fd_); }

Result<void> Segment::Read(std::uint64_t offset, std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Io("read", path_, errno);
    }
    if (got == 0) {
      return Error{Errc::kBadFrame, fmt::format("{} ends at {} bytes, before the {} bytes at {}",
                                                path_.string(), offset + done, out.size(), offset)};
    }
    done += static_cast<std::size_t>(got);
  }
  return {};
}

SegmentLog::SegmentLog(fs::path dir, SegmentLogOptions options, int dir_fd)
    : dir_(std::move(dir)), options_(options), dir_fd_(dir_fd) {}

SegmentLog::~SegmentLog() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  ::close(dir_fd_);
}

Result<std::unique_ptr<SegmentLog>> SegmentLog::Open(fs::path dir, SegmentLogOptions options) {
  if (options.segment_bytes == 0) {
    return Error{Errc::kBadRequest, "the segment size must be more than 0 bytes"};
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Io("create the segment directory", dir, ec.value());
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Io("open the segment directory", dir, errno);
  std::unique_ptr<SegmentLog> log(new SegmentLog(dir, options, dir_fd));

  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto number = SegmentNumber(it->path().filename().string());
    if (!number) continue;
    const int fd = ::open(it->path().c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Io("open segment", it->path(), errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return Io("stat segment", it->path(), error);
    }
    Entry& entry = log->segments_[*number];
    entry.segment = std::make_shared<const Segment>(*number, it->path(), fd);
    entry.bytes = static_cast<std::uint64_t>(st.st_size);
  }
  if (ec) return Io("list the segment directory", dir, ec.value());
  if (log->segments_.empty()) {
    std::lock_guard lock(log->mu_);
    if (auto started = log->StartSegmentLocked(1); !started) return started.error();
  }
  return log;
}

Result<void> SegmentLog::StartSegmentLocked(std::uint32_t number) {
  const fs::path path = SegmentPath(dir_, number);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Io("create segment", path, errno);
  Entry& entry = segments_[number];
  entry.segment = std::make_shared<const Segment>(number, path, fd);
  entry.bytes = 0;
  directory_unsynced_ = true;
  return {};
}

Result<FrameLocation> SegmentLog::Append(std::span<const std::byte> frame) {
  if (frame.empty()) return Error{Errc::kBadRequest, "an empty frame cannot be appended"};
  std::lock_guard append_lock(append_mu_);
  const bool direct = options_.direct_appends && !direct_refused_ &&
                      frame.size() >= kDirectIoAlignment &&
                      reinterpret_cast<std::uintptr_t>(frame.data()) % kDirectIoAlignment == 0;
  const auto start = [&](std::uint64_t end) { return direct ? AlignUp(end) : end; };
  std::shared_ptr<const Segment> segment;
  std::uint64_t end = 0;  // where the segment's bytes end before this append
  {
    std::lock_guard lock(mu_);
    auto active = std::prev(segments_.end());
    if (active->second.bytes > 0 &&
        start(active->second.bytes) + frame.size() > options_.segment_bytes) {
      if (auto started = StartSegmentLocked(active->first + 1); !started) return started.error();
      active = std::prev(segments_.end());
    }
    segment = active->second.segment;
    end = active->second.bytes;
  }
  // Written outside mu_, so that readers holding segments never wait for the disk; append_mu_
  // keeps the segment active and its end where it was.
  const std::uint64_t offset = start(end);
  if (auto written = WriteLocked(*segment, offset, frame, direct); !written) {
    // Leave no partial frame behind: the next append starts where this one did.
    if (::ftruncate(segment->fd(), static_cast<off_t>(end)) != 0) {
      return Io("cut a failed append from segment", segment->path(), errno);
    }
    return written.error();
  }
  std::lock_guard lock(mu_);
  Entry& entry = segments_.at(segment->number());
  entry.bytes = offset + frame.size();
  entry.unsynced = true;
  return FrameLocation{segment->number(), offset, frame.size()};
}

Result<void> SegmentLog::WriteLocked(const Segment& segment, std::uint64_t offset,
                                     std::span<const std::byte> frame, bool direct) {
  std::size_t done = 0;
  if (const int fd = direct ? DirectFdLocked(segment) : -1; fd >= 0) {
    const std::size_t bulk = frame.size() / kDirectIoAlignment * kDirectIoAlignment;
    ssize_t wrote = 0;
    do {
      wrote = ::pwrite(fd, frame.data(), bulk, static_cast<off_t>(offset));
    } while (wrote < 0 && errno == EINTR);
    if (wrote < 0 && errno == EINVAL) {
      direct_refused_ = true;  // the file system takes no O_DIRECT writes: the page cache it is
    } else if (wrote < 0) {
      return WriteFailure(segment.path(), errno);
    } else {
      done = static_cast<std::size_t>(wrote);  // what a short write left goes below
    }
  }
  while (done < frame.size()) {
    const ssize_t wrote = ::pwrite(segment.fd(), frame.data() + done, frame.size() - done,
                                   static_cast<off_t>(offset + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return WriteFailure(segment.path(), wrote < 0 ? errno : EIO);
    done += static_cast<std::size_t>(wrote);
  }
  return {};
}

int SegmentLog::DirectFdLocked(const Segment& segment) {
  if (direct_segment_ == segment.number() && direct_fd_ >= 0) return direct_fd_;
  if (direct_fd_ >= 0) ::close(direct_fd_);
  direct_fd_ = ::open(segment.path().c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  direct_segment_ = segment.number();
  if (direct_fd_ < 0) direct_refused_ = true;
  return direct_fd_;
}

Result<void> SegmentLog::Sync() {
  // Held throughout: a caller whose appends an earlier Sync took off the list must not return
  // before that Sync's fdatasync has.
  std::lock_guard sync_lock(sync_mu_);
  std::vector<std::shared_ptr<const Segment>> to_sync;
  bool directory = false;
  {
    std::lock_guard lock(mu_);
    for (auto& [number, entry] : segments_) {
      if (!entry.unsynced) continue;
      to_sync.push_back(entry.segment);
      entry.unsynced = false;
    }
    directory = std::exchange(directory_unsynced_, false);
  }
  // Outside the mutex, so appends go on meanwhile; what fails is marked for the next call.
  std::optional<Error> failure;
  for (const auto& segment : to_sync) {
    if (::fdatasync(segment->fd()) == 0) continue;
    failure = Io("sync segment", segment->path(), errno);
    std::lock_guard lock(mu_);
    if (auto it = segments_.find(segment->number()); it != segments_.end()) {
      it->second.unsynced = true;
    }
  }
  if (directory && ::fsync(dir_fd_) != 0) {
    failure = Io("sync the segment directory", dir_, errno);
    std::lock_guard lock(mu_);
    directory_unsynced_ = true;
  }
  if (failure) return *failure;
  return {};
}

Result<std::shared_ptr<const Segment>> SegmentLog::Get(std::uint32_t number) const {
  std::lock_guard lock(mu_);
  const auto it = segments_.find(number);
  if (it == segments_.end()) {
    return Error{Errc::kBadFrame,
                 fmt::format("there is no segment {} in {}", number, dir_.string())};
  }
  return it->second.segment;
}

Result<std::shared_ptr<const Segment>> SegmentLog::Hold(const FrameLocation& where) const {
  std::lock_guard lock(mu_);
  const auto it = segments_.find(where.segment);
  if (it == segments_.end() || where.offset > it->second.bytes ||
      where.length > it->second.bytes - where.offset) {
    return Error{Errc::kBadFrame,
                 fmt::format("{} bytes at {} of segment {} lie outside what it holds", where.length,
                             where.offset, where.segment)};
  }
  return it->second.segment;
}

Result<void> SegmentLog::Read(const FrameLocation& where, std::vector<std::byte>& out) const {
  auto segment = Hold(where);
  if (!segment) return segment.error();
  out.resize(where.length);
  return (*segment)->Read(where.offset, out);
}

Result<void> SegmentLog::Truncate(std::uint32_t number, std::uint64_t length) {
  std::lock_guard append_lock(append_mu_);
  std::lock_guard lock(mu_);
  const auto it = segments_.find(number);
  if (it == segments_.end()) {
    return Error{Errc::kBadRequest, fmt::format("there is no segment {} to cut", number)};
  }
  Entry& entry = it->second;
  if (length > entry.bytes) {
    return Error{Errc::kBadRequest, fmt::format("segment {} holds {} bytes, fewer than {}", number,
                                                entry.bytes, length)};
  }
  if (::ftruncate(entry.segment->fd(), static_cast<off_t>(length)) != 0) {
    return Io("cut segment", entry.segment->path(), errno);
  }
  entry.bytes = length;
  entry.unsynced = true;
  return {};
}

Result<void> SegmentLog::Remove(std::uint32_t number) {
  std::lock_guard append_lock(append_mu_);
  std::lock_guard lock(mu_);
  auto it = segments_.find(number);
  if (it == segments_.end()) {
    return Error{Errc::kBadRequest, fmt::format("segment {} does not exist", number)};
  }
  if (it == std::prev(segments_.end())) {
    if (auto started = StartSegmentLocked(number + 1); !started) return started.error();
    it = segments_.find(number);
  }
  if (::unlink(it->second.segment->path().c_str()) != 0) {
    return Io("remove segment", it->second.segment->path(), errno);
  }
  if (direct_fd_ >= 0 && direct_segment_ == number) {  // or the file's space stays taken
    ::close(direct_fd_);
    direct_fd_ = -1;
  }
  segments_.erase(it);
  directory_unsynced_ = true;
  return {};
}

Result<void> SegmentLog::Roll() {
  std::lock_guard append_lock(append_mu_);
  std::lock_guard lock(mu_);
  const auto active = std::prev(segments_.end());
  if (active->second.bytes == 0) return {};
  return StartSegmentLocked(active->first + 1);
}

std::uint32_t SegmentLog::active() const {
  std::lock_guard lock(mu_);
  return std::prev(segments_.end())->first;
}

std::vector<SegmentLog::SegmentInfo> SegmentLog::List() const {
  std::lock_guard lock(mu_);
  std::vector<SegmentInfo> list;
  list.reserve(segments_.size());
  for (const auto& [number, entry] : segments_) list.push_back({number, entry.bytes});
  return list;
}

}  // namespace mei
