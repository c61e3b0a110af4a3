#include "tools/get/block_sources.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "common/codec.h"
#include "common/digest.h"

namespace mei::tools {
namespace {

// Reads `block` at `offset` of `fd` into `bytes` and tells whether it is the block. With
// `skip_holes`, an offset in a hole (a partial's block that never arrived) is not read.
bool ReadVerified(int fd, std::uint64_t offset, const ManifestBlock& block, bool skip_holes,
                  std::vector<std::byte>& bytes) {
  if (skip_holes &&
      ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA) != static_cast<off_t>(offset)) {
    return false;
  }
  bytes.resize(block.size);
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return Sha256Of(bytes) == block.id;
}

bool ReadVerifiedFrom(const BlockLocation& location, const ManifestBlock& block,
                      std::vector<std::byte>& bytes) {
  const int fd = ::open(location.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool verified = ReadVerified(fd, location.offset, block, location.partial, bytes);
  ::close(fd);
  return verified;
}

bool SamePlace(const BlockLocation& location, const BlockPlace& place) {
  return location.offset == place.offset && location.path == place.file->path();
}

// One run of CopyLocalBlocks.
class LocalCopier {
 public:
  LocalCopier(std::vector<BlockNeed> needs, std::vector<std::vector<BlockLocation>> sources,
              const LocalBlockStore& store, const std::atomic<bool>& stop)
      : needs_(std::move(needs)),
        sources_(std::move(sources)),
        store_(store),
        stop_(stop),
        found_(needs_.size(), false),
        repaired_(needs_.size(), false) {}

  void Work() {
    std::vector<std::byte> bytes;
    std::vector<std::byte> scratch;
    BlockDecoder decoder;
    for (;;) {
      const std::size_t next = cursor_.fetch_add(1);
      if (next >= needs_.size() || stop_.load() || failed_.load()) return;
      if (auto handled = Handle(next, bytes, scratch, decoder); !handled) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = handled.error();
        failed_.store(true);
      }
    }
  }

  Result<LocalCopies> Outcome() && {
    if (error_) return *error_;
    LocalCopies copies;
    for (std::size_t i = 0; i < needs_.size(); ++i) {
      if (found_[i]) {
        ++copies.reused_blocks;
        copies.reused_bytes += needs_[i].block.size;
      } else {
        copies.repaired_blocks += repaired_[i] ? 1 : 0;
        copies.missing.push_back(std::move(needs_[i]));
      }
    }
    copies.bad_files = std::move(bad_files_);
    std::sort(copies.bad_files.begin(), copies.bad_files.end());
    copies.bad_files.erase(std::unique(copies.bad_files.begin(), copies.bad_files.end()),
                           copies.bad_files.end());
    return copies;
  }

 private:
  Result<void> Handle(std::size_t i, std::vector<std::byte>& bytes, std::vector<std::byte>& scratch,
                      BlockDecoder& decoder) {
    BlockNeed& need = needs_[i];
    const ManifestBlock& block = need.block;
    bool have = false;  // `bytes` holds the block
    std::vector<BlockPlace> open;
    for (const BlockPlace& place : need.places) {
      std::vector<std::byte>& into = have ? scratch : bytes;
      if (place.file->resumed() &&
          ReadVerified(place.file->fd(), place.offset, block, true, into)) {
        have = true;
      } else {
        open.push_back(place);
      }
    }
    for (const BlockLocation& location : sources_[i]) {
      if (have) break;
      const bool ours = std::any_of(need.places.begin(), need.places.end(),
                                    [&](const BlockPlace& p) { return SamePlace(location, p); });
      if (ours) continue;  // step 1 looked there
      have = ReadVerifiedFrom(location, block, bytes);
      if (!have && !location.partial) {
        repaired_[i] = true;
        std::lock_guard lock(mu_);
        bad_files_.push_back(location.path);
      }
    }
    if (!have && store_.Contains(block.id)) {
      auto frame = store_.ReadFrame(block.id);
      have = frame && decoder.Decode(*frame, bytes) && Sha256Of(bytes) == block.id;
      if (!have) {
        store_.Remove(block.id);
        repaired_[i] = true;
      }
    }
    if (!have) {
      need.places = std::move(open);
      return {};
    }
    for (const BlockPlace& place : open) {
      if (auto written = place.file->Write(bytes, place.offset); !written) return written;
      place.file->StartWriteback(place.offset, block.size);
    }
    found_[i] = true;
    return {};
  }

  std::vector<BlockNeed> needs_;
  const std::vector<std::vector<BlockLocation>> sources_;
  const LocalBlockStore& store_;
  const std::atomic<bool>& stop_;
  // Each element written by the one thread that handles its block, read after they are joined.
  std::vector<char> found_;
  std::vector<char> repaired_;
  std::atomic<std::size_t> cursor_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::optional<Error> error_;
  std::vector<std::filesystem::path> bad_files_;
};

}  // namespace

Result<LocalCopies> CopyLocalBlocks(std::vector<BlockNeed> needs, const FileIndex& index,
                                    const LocalBlockStore& store, unsigned threads,
                                    const std::atomic<bool>& stop) {
  std::vector<std::vector<BlockLocation>> sources;
  sources.reserve(needs.size());
  bool any = false;
  for (const BlockNeed& need : needs) {
    sources.push_back(index.Locate(need.block.id));
    any = any || !sources.back().empty() ||
          std::any_of(need.places.begin(), need.places.end(),
                      [](const BlockPlace& place) { return place.file->resumed(); });
  }
  if (!any) {
    // Nothing indexed and nothing to resume: only the block store could help, and a store that
    // holds none of the blocks is the usual case, checked cheaply.
    any = std::any_of(needs.begin(), needs.end(),
                      [&](const BlockNeed& need) { return store.Contains(need.block.id); });
  }
  if (!any) {
    LocalCopies copies;
    copies.missing = std::move(needs);
    return copies;
  }
  LocalCopier copier(std::move(needs), std::move(sources), store, stop);
  std::vector<std::jthread> workers;
  for (unsigned i = 0; i < std::max(threads, 1u); ++i) workers.emplace_back([&] { copier.Work(); });
  workers.clear();  // joins
  return std::move(copier).Outcome();
}

}  // namespace mei::tools
