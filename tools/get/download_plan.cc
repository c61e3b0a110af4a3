#include "tools/get/download_plan.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_set>
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

DownloadPlan PlanDownload(const std::vector<const ManifestFile*>& selected,
                          const std::filesystem::path& out_dir, const LocalBlockStore& store) {
  DownloadPlan plan;
  std::unordered_set<BlockId> seen;
  for (const ManifestFile* file : selected) {
    if (HoldsFile(out_dir / file->path, *file)) {
      plan.up_to_date.push_back(file);
      continue;
    }
    plan.files.push_back(file);
    plan.file_bytes += file->size;
    for (const ManifestBlock& block : file->blocks) {
      if (!seen.insert(block.id).second) continue;
      if (store.Contains(block.id)) {
        ++plan.reused_blocks;
        plan.reused_bytes += block.size;
      } else {
        plan.to_fetch.push_back(block);
        plan.fetch_bytes += block.size;
      }
    }
  }
  return plan;
}

}  // namespace mei::tools
