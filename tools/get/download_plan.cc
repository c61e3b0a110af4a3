#include "tools/get/download_plan.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <unordered_map>
#include <vector>

#include "common/digest.h"

namespace mei::tools {

Result<std::vector<const ManifestFile*>> SelectFiles(const Manifest& manifest,
                                                     const std::vector<std::string>& globs) {
  std::vector<const ManifestFile*> selected;
  std::vector<bool> used(globs.size(), false);
  for (const ManifestFile& file : manifest.files) {
    bool match = globs.empty();
    for (std::size_t i = 0; i < globs.size(); ++i) {
      if (::fnmatch(globs[i].c_str(), file.path.c_str(), FNM_PATHNAME) == 0) {
        match = true;
        used[i] = true;
      }
    }
    if (match) selected.push_back(&file);
  }
  for (std::size_t i = 0; i < globs.size(); ++i) {
    if (!used[i]) {
      return Error{Errc::kBadRequest, fmt::format("no file of {}@{} matches \"{}\"", manifest.model,
                                                  manifest.revision, globs[i])};
    }
  }
  return selected;
}

bool HoldsFile(const std::filesystem::path& path, const ManifestFile& file) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool same = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              static_cast<std::uint64_t>(st.st_size) == file.size;
  if (same) {
    Sha256Hasher hasher;
    std::vector<std::byte> buffer(1 << 20);
    for (;;) {
      const ssize_t got = ::read(fd, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        same = got == 0;
        break;
      }
      hasher.Update(std::span(buffer.data(), static_cast<std::size_t>(got)));
    }
    same = same && hasher.Finish() == file.sha256;
  }
  ::close(fd);
  return same;
}

OutputState CheckOutput(const std::vector<const ManifestFile*>& selected,
                        const std::filesystem::path& out_dir, FileIndex& index) {
  OutputState state;
  for (const ManifestFile* file : selected) {
    const std::filesystem::path path = out_dir / file->path;
    bool complete = false;
    if (const IndexedFile* known = index.Find(path);
        known != nullptr && !known->partial && FileIndex::IsFresh(*known)) {
      complete = known->sha256 == file->sha256;
    } else if (HoldsFile(path, *file)) {
      if (auto entry = FileIndex::EntryOf(path, *file)) {
        index.Put(std::move(*entry));
        complete = true;
      }
    }
    (complete ? state.up_to_date : state.to_write).push_back(file);
  }
  return state;
}

std::vector<BlockNeed> NeedsOf(const std::vector<const ManifestFile*>& files,
                               const std::vector<PartialFile>& partials) {
  assert(files.size() == partials.size());
  std::vector<BlockNeed> needs;
  std::unordered_map<BlockId, std::size_t> index_of;
  for (std::size_t f = 0; f < files.size(); ++f) {
    for (const ManifestBlock& block : files[f]->blocks) {
      const auto [it, added] = index_of.emplace(block.id, needs.size());
      if (added) needs.push_back(BlockNeed{block, {}});
      needs[it->second].places.push_back(BlockPlace{&partials[f], block.offset, files[f]});
    }
  }
  return needs;
}

}  // namespace mei::tools
