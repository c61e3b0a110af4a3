#include "tools/get/file_index.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "common/text_file.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHeader = "mei-file-index 1";

std::int64_t MtimeNs(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string EscapePath(std::string_view path) {
  std::string out;
  for (const char c : path) {
    if (c == '%' || c == '\t' || c == '\n' || c == '\r') {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> UnescapePath(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (text.size() - i < 3) return std::nullopt;
    const auto [end, error] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (error != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t tab = line.find('\t');
    fields.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return fields;
    line.remove_prefix(tab + 1);
  }
}

template <class T>
bool ParseNumber(std::string_view text, T& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

Error IoError(std::string_view what, const fs::path& path, int error) {
  return Error{error == ENOSPC || error == EDQUOT ? Errc::kStoreFull : Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(error))};
}

// Writes `text` to `path` through a temporary beside it, synced before the rename.
Result<void> ReplaceFile(const fs::path& path, std::string_view text) {
  const fs::path temporary = path.string() + fmt::format(".tmp-{}", ::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", temporary, errno);
  int error = 0;
  while (!text.empty() && error == 0) {
    const ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno != EINTR) error = errno;
    if (written > 0) text.remove_prefix(static_cast<std::size_t>(written));
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temporary.c_str());
    return IoError("write", path, error);
  }
  return {};
}

}  // namespace

std::string FormatFileIndex(const std::map<std::string, IndexedFile>& entries) {
  std::string text = std::string(kHeader) + "\n";
  for (const auto& [key, entry] : entries) {
    text += fmt::format("file\t{}\t{}\t{}\t{}\t{}\n", entry.partial ? "partial" : "complete",
                        entry.size, entry.mtime_ns, entry.sha256.Hex(), EscapePath(key));
    for (const ManifestBlock& block : entry.blocks) {
      text += fmt::format("block\t{}\t{}\t{}\n", block.id.Hex(), block.offset, block.size);
    }
  }
  return text;
}

std::optional<std::map<std::string, IndexedFile>> ParseFileIndex(std::string_view text) {
  std::map<std::string, IndexedFile> entries;
  IndexedFile* current = nullptr;
  bool header = true;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) return std::nullopt;  // a torn last line
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (std::exchange(header, false)) {
      if (line != kHeader) return std::nullopt;
      continue;
    }
    const std::vector<std::string_view> f = Fields(line);
    if (f[0] == "file" && f.size() == 6) {
      IndexedFile entry;
      if (f[1] != "complete" && f[1] != "partial") return std::nullopt;
      entry.partial = f[1] == "partial";
      auto sha = Sha256Digest::FromHex(f[4]);
      auto path = UnescapePath(f[5]);
      if (!ParseNumber(f[2], entry.size) || !ParseNumber(f[3], entry.mtime_ns) || !sha || !path ||
          path->empty()) {
        return std::nullopt;
      }
      entry.sha256 = *sha;
      entry.path = *path;
      current = &(entries[*path] = std::move(entry));
    } else if (f[0] == "block" && f.size() == 4 && current != nullptr) {
      ManifestBlock block;
      auto id = BlockId::FromHex(f[1]);
      if (!id || !ParseNumber(f[2], block.offset) || !ParseNumber(f[3], block.size) ||
          block.offset > current->size || block.size > current->size - block.offset) {
        return std::nullopt;
      }
      block.id = *id;
      current->blocks.push_back(block);
    } else {
      return std::nullopt;
    }
  }
  if (header) return std::nullopt;
  return entries;
}

FileIndex FileIndex::Open(fs::path file) {
  FileIndex index(std::move(file));
  if (auto text = ReadTextFile(index.file_)) {
    if (auto entries = ParseFileIndex(*text)) index.entries_ = std::move(*entries);
  }
  return index;
}

bool FileIndex::IsFresh(const IndexedFile& entry) {
  struct stat st {};
  return ::stat(entry.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<std::uint64_t>(st.st_size) == entry.size &&
         (entry.partial || MtimeNs(st) == entry.mtime_ns);
}

Result<IndexedFile> FileIndex::EntryOf(const fs::path& path, const ManifestFile& file) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return IoError("stat", path, errno);
  IndexedFile entry;
  entry.path = path;
  entry.size = static_cast<std::uint64_t>(st.st_size);
  entry.mtime_ns = MtimeNs(st);
  entry.sha256 = file.sha256;
  entry.blocks = file.blocks;
  return entry;
}

void FileIndex::DropStale() {
  std::vector<std::string> stale;
  for (const auto& [key, entry] : entries_) {
    if (!IsFresh(entry)) stale.push_back(key);
  }
  for (const std::string& key : stale) Forget(key);
}

const IndexedFile* FileIndex::Find(const fs::path& path) const {
  const auto found = entries_.find(path.string());
  return found == entries_.end() ? nullptr : &found->second;
}

std::vector<BlockLocation> FileIndex::Locate(const BlockId& id) const {
  if (!by_block_) {
    by_block_.emplace();
    for (const auto& [key, entry] : entries_) {
      for (const ManifestBlock& block : entry.blocks) {
        by_block_->emplace(block.id, BlockLocation{entry.path, block.offset, entry.partial});
      }
    }
  }
  std::vector<BlockLocation> found;
  const auto [first, last] = by_block_->equal_range(id);
  for (auto it = first; it != last; ++it) found.push_back(it->second);
  std::stable_partition(found.begin(), found.end(),
                        [](const BlockLocation& location) { return !location.partial; });
  return found;
}

void FileIndex::Put(IndexedFile entry) {
  const std::string key = entry.path.string();
  changes_.emplace_back(key, entry);
  entries_[key] = std::move(entry);
  by_block_.reset();
}

void FileIndex::Remove(const fs::path& path) { Forget(path.string()); }

void FileIndex::Forget(const std::string& key) {
  if (entries_.erase(key) == 0) return;
  changes_.emplace_back(key, std::nullopt);
  by_block_.reset();
}

Result<void> FileIndex::Save() {
  const fs::path lock_path = file_.string() + ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return IoError("create", lock_path, errno);
  while (::flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  std::map<std::string, IndexedFile> merged;
  if (auto text = ReadTextFile(file_)) {
    if (auto entries = ParseFileIndex(*text)) merged = std::move(*entries);
  }
  for (auto& [key, entry] : changes_) {
    if (entry) {
      merged[key] = *entry;
    } else {
      merged.erase(key);
    }
  }
  Result<void> written = ReplaceFile(file_, FormatFileIndex(merged));
  ::close(lock);  // releases the lock
  if (!written) return written;
  changes_.clear();
  entries_ = std::move(merged);
  by_block_.reset();
  return {};
}

}  // namespace mei::tools
