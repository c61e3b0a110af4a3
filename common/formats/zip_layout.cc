#include "common/formats/zip_layout.h"

#include <fmt/format.h>

#include <optional>
#include <string_view>
#include <utility>

#include "common/formats/zip.h"

namespace mei {
namespace {

bool IsFolder(const ZipMember& member) { return member.name.ends_with('/'); }

EmbeddedFile EmbeddedOf(const ZipMember& member) {
  return EmbeddedFile{member.name, member.data_offset, member.compressed_size, !IsStored(member)};
}

// The folder `data.pkl` sits in ("archive/" in "archive/data.pkl"), or nullopt when the archive
// holds no pickle at the top of a folder of its own.
std::optional<std::string_view> PickleFolder(const ZipArchive& archive) {
  for (const ZipMember& member : archive.members) {
    const std::string_view name = member.name;
    if (!name.ends_with("/data.pkl")) continue;
    const std::string_view folder =
        name.substr(0, name.size() - std::string_view("data.pkl").size());
    if (folder.find('/') == folder.size() - 1) return folder;
  }
  return std::nullopt;
}

// Whether `name` is `<folder>data/<key>`: a storage of the checkpoint.
bool IsStorage(std::string_view name, std::string_view folder) {
  if (!name.starts_with(folder)) return false;
  name.remove_prefix(folder.size());
  if (!name.starts_with("data/")) return false;
  name.remove_prefix(5);
  return !name.empty() && name.find('/') == std::string_view::npos;
}

}  // namespace

Result<FileLayout> ZipLayout(const ByteSource& file) {
  auto archive = ParseZip(file);
  if (!archive) return archive.error();
  FileLayout layout;
  for (const ZipMember& member : archive->members) {
    if (IsFolder(member) || member.compressed_size == 0) continue;
    layout.embedded.push_back(EmbeddedOf(member));
  }
  return layout;
}

Result<FileLayout> PytorchLayout(const ByteSource& file) {
  auto archive = ParseZip(file);
  if (!archive) return archive.error();
  const std::optional<std::string_view> folder = PickleFolder(*archive);
  if (!folder) {
    return Error{Errc::kBadModelFile,
                 fmt::format("{} is a zip archive without the data.pkl of a PyTorch checkpoint",
                             file.name())};
  }
  FileLayout layout;
  for (const ZipMember& member : archive->members) {
    if (IsFolder(member) || member.compressed_size == 0) continue;
    if (IsStored(member) && IsStorage(member.name, *folder)) {
      TensorEntry& tensor = layout.tensors.emplace_back();
      tensor.name = member.name;
      tensor.dtype = "storage";
      tensor.shape = {member.compressed_size};
      tensor.offset = member.data_offset;
      tensor.size = member.compressed_size;
    } else {
      layout.embedded.push_back(EmbeddedOf(member));
    }
  }
  return layout;
}

}  // namespace mei
