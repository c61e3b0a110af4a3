#include "common/formats/zip.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "common/internal/buffered_reader.h"
#include "common/internal/checked_math.h"
#include "common/internal/utf8.h"

namespace mei {
namespace {

using internal::BufferedReader;
using internal::CheckedAdd;
using internal::IsValidUtf8;

// Record signatures and fixed sizes, from PKWARE's APPNOTE.TXT 6.3.10, section 4.3.
constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr std::uint32_t kEndSignature = 0x06054b50;
constexpr std::uint32_t kZip64EndSignature = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

constexpr std::size_t kLocalHeaderBytes = 30;
constexpr std::size_t kCentralHeaderBytes = 46;
constexpr std::size_t kEndBytes = 22;
constexpr std::size_t kZip64EndBytes = 56;
constexpr std::size_t kZip64LocatorBytes = 20;
constexpr std::size_t kMaxCommentBytes = 0xFFFF;
constexpr std::size_t kExtraFieldHeaderBytes = 4;

constexpr std::uint16_t kSaturated16 = 0xFFFF;
constexpr std::uint32_t kSaturated32 = 0xFFFFFFFF;
constexpr std::uint16_t kEncryptedFlag = 0x0001;

// Bounds the memory a directory can make us spend (a ZipMember is about 100 bytes plus its name);
// real archives hold far fewer members.
constexpr std::uint64_t kMaxMembers = std::uint64_t{1} << 22;

Error Bad(std::string message) { return Error{Errc::kBadModelFile, std::move(message)}; }

// The little-endian integer at `at` of a record already read. REQUIRES: it fits in `record`.
template <class T>
T Le(std::span<const std::byte> record, std::size_t at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    value |= std::to_integer<std::uint64_t>(record[at + i]) << (8 * i);
  }
  return static_cast<T>(value);
}

std::string SignatureText(std::uint32_t signature) {
  return fmt::format("{:02x} {:02x} {:02x} {:02x}", signature & 0xFF, (signature >> 8) & 0xFF,
                     (signature >> 16) & 0xFF, signature >> 24);
}

// What the end records say of the central directory.
struct DirectoryExtent {
  std::uint64_t entries = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  std::uint64_t end_record_offset = 0;  // where the directory must end: the first end record
};

// Which fields of a central directory entry are saturated, and so come from its Zip64 extra
// field, in the order APPNOTE 4.5.3 lists them.
struct SaturatedFields {
  bool uncompressed_size = false;
  bool compressed_size = false;
  bool local_header_offset = false;
  bool disk = false;

  [[nodiscard]] bool any() const {
    return uncompressed_size || compressed_size || local_header_offset || disk;
  }
};

// Finds the end records, walks the central directory, then reads each member's local header for
// where its data starts. Every offset is checked against the file before it is followed.
class ZipParser {
 public:
  explicit ZipParser(const ByteSource& file)
      : reader_(file, Errc::kBadModelFile), size_(file.size()) {}

  Result<ZipArchive> Parse() {
    Result<DirectoryExtent> extent = FindEndRecord();
    if (!extent) return extent.error();
    if (Result<void> fits = CheckDirectoryExtent(*extent); !fits) return fits.error();
    Result<std::vector<ZipMember>> members = ReadDirectory(*extent);
    if (!members) return members.error();
    std::sort(members->begin(), members->end(), [](const ZipMember& a, const ZipMember& b) {
      return a.local_header_offset != b.local_header_offset
                 ? a.local_header_offset < b.local_header_offset
                 : a.name < b.name;
    });
    for (ZipMember& member : *members) {
      if (Result<void> located = LocateData(member, extent->offset); !located) {
        return located.error();
      }
    }
    if (Result<void> apart = CheckMembersApart(*members); !apart) return apart.error();
    return ZipArchive{.members = std::move(*members), .central_directory_offset = extent->offset};
  }

 private:
  Result<void> ReadRecord(std::uint64_t offset, std::span<std::byte> record,
                          std::string_view what) {
    if (Result<void> moved = reader_.Seek(offset, what); !moved) return moved;
    return reader_.Read(record, what);
  }

  // The end of central directory record is the last one in the file whose comment runs exactly
  // to the end of the file; a comment may be up to 65535 bytes, so the search covers the last
  // 64 KiB + 22 bytes, read at once.
  Result<DirectoryExtent> FindEndRecord() {
    if (size_ < kEndBytes) {
      return Bad(fmt::format(
          "the file has {} bytes, fewer than the {} of an end of central directory record", size_,
          kEndBytes));
    }
    const std::uint64_t tail_start =
        size_ - std::min<std::uint64_t>(size_, kEndBytes + kMaxCommentBytes);
    std::vector<std::byte> tail(static_cast<std::size_t>(size_ - tail_start));
    if (Result<void> read = ReadRecord(tail_start, tail, "the end of the file"); !read) {
      return read.error();
    }
    for (std::size_t at = tail.size() - kEndBytes + 1; at-- > 0;) {
      if (Le<std::uint32_t>(tail, at) != kEndSignature) continue;
      if (Le<std::uint16_t>(tail, at + 20) != tail.size() - at - kEndBytes) continue;
      return ReadEndRecord(std::span(tail).subspan(at, kEndBytes), tail_start + at);
    }
    return Bad(fmt::format(
        "no end of central directory record (signature {}, its comment running to the end of "
        "the file) in the last {} bytes",
        SignatureText(kEndSignature), tail.size()));
  }

  Result<DirectoryExtent> ReadEndRecord(std::span<const std::byte> record, std::uint64_t at) {
    const auto disk = Le<std::uint16_t>(record, 4);
    const auto directory_disk = Le<std::uint16_t>(record, 6);
    const auto disk_entries = Le<std::uint16_t>(record, 8);
    const auto entries = Le<std::uint16_t>(record, 10);
    const auto directory_size = Le<std::uint32_t>(record, 12);
    const auto directory_offset = Le<std::uint32_t>(record, 16);
    const bool zip64 = disk == kSaturated16 || directory_disk == kSaturated16 ||
                       disk_entries == kSaturated16 || entries == kSaturated16 ||
                       directory_size == kSaturated32 || directory_offset == kSaturated32;
    if (zip64) return ReadZip64EndRecord(at);
    if (disk != 0 || directory_disk != 0 || disk_entries != entries) {
      return Bad(
          fmt::format("the end record at byte {} describes a multi-disk archive (disk {}, "
                      "directory on disk {}, "
                      "{} of {} entries on this disk), which is not supported",
                      at, disk, directory_disk, disk_entries, entries));
    }
    return DirectoryExtent{.entries = entries,
                           .size = directory_size,
                           .offset = directory_offset,
                           .end_record_offset = at};
  }

  // A saturated field in the end record means the Zip64 end record holds the real values; the
  // locator just before the end record says where that record is, and it must end where the
  // locator starts.
  Result<DirectoryExtent> ReadZip64EndRecord(std::uint64_t end_at) {
    if (end_at < kZip64LocatorBytes) {
      return Bad(fmt::format(
          "the end record at byte {} has saturated fields but there is no room for a Zip64 "
          "end of central directory locator before it",
          end_at));
    }
    const std::uint64_t locator_at = end_at - kZip64LocatorBytes;
    std::array<std::byte, kZip64LocatorBytes> locator{};
    if (Result<void> read = ReadRecord(locator_at, locator, "the Zip64 locator"); !read) {
      return read.error();
    }
    if (Le<std::uint32_t>(locator, 0) != kZip64LocatorSignature) {
      return Bad(fmt::format(
          "the end record at byte {} has saturated fields but the {} bytes before it are not a "
          "Zip64 end of central directory locator (signature {})",
          end_at, kZip64LocatorBytes, SignatureText(kZip64LocatorSignature)));
    }
    const auto record_disk = Le<std::uint32_t>(locator, 4);
    const auto record_at = Le<std::uint64_t>(locator, 8);
    const auto disks = Le<std::uint32_t>(locator, 16);
    if (record_disk != 0 || disks > 1) {
      return Bad(fmt::format(
          "the Zip64 locator at byte {} describes a multi-disk archive (record on disk {}, {} "
          "disks), which is not supported",
          locator_at, record_disk, disks));
    }
    if (record_at > locator_at || locator_at - record_at < kZip64EndBytes) {
      return Bad(fmt::format(
          "the Zip64 locator at byte {} puts the Zip64 end record at byte {}, which leaves no "
          "room for its {} bytes before the locator",
          locator_at, record_at, kZip64EndBytes));
    }
    std::array<std::byte, kZip64EndBytes> record{};
    if (Result<void> read = ReadRecord(record_at, record, "the Zip64 end record"); !read) {
      return read.error();
    }
    if (Le<std::uint32_t>(record, 0) != kZip64EndSignature) {
      return Bad(fmt::format("the Zip64 end record at byte {} does not start with signature {}",
                             record_at, SignatureText(kZip64EndSignature)));
    }
    const auto record_size = Le<std::uint64_t>(record, 4);
    if (record_size != locator_at - record_at - 12) {
      return Bad(fmt::format(
          "the Zip64 end record at byte {} says it has {} bytes after its first 12, but the "
          "locator follows {} bytes after them",
          record_at, record_size, locator_at - record_at - 12));
    }
    const auto disk = Le<std::uint32_t>(record, 16);
    const auto directory_disk = Le<std::uint32_t>(record, 20);
    const auto disk_entries = Le<std::uint64_t>(record, 24);
    const auto entries = Le<std::uint64_t>(record, 32);
    if (disk != 0 || directory_disk != 0 || disk_entries != entries) {
      return Bad(fmt::format(
          "the Zip64 end record at byte {} describes a multi-disk archive (disk {}, directory on "
          "disk {}, {} of {} entries on this disk), which is not supported",
          record_at, disk, directory_disk, disk_entries, entries));
    }
    return DirectoryExtent{.entries = entries,
                           .size = Le<std::uint64_t>(record, 40),
                           .offset = Le<std::uint64_t>(record, 48),
                           .end_record_offset = record_at};
  }

  Result<void> CheckDirectoryExtent(const DirectoryExtent& extent) const {
    const std::optional<std::uint64_t> end = CheckedAdd(extent.offset, extent.size);
    if (!end || *end != extent.end_record_offset) {
      return Bad(fmt::format(
          "the central directory of {} bytes at byte {} does not end where the end records start "
          "(byte {})",
          extent.size, extent.offset, extent.end_record_offset));
    }
    if (extent.entries > extent.size / kCentralHeaderBytes) {
      return Bad(fmt::format(
          "the end record claims {} entries but the central directory's {} bytes hold at most {}",
          extent.entries, extent.size, extent.size / kCentralHeaderBytes));
    }
    if (extent.entries > kMaxMembers) {
      return Bad(fmt::format("the archive has {} members, more than the limit of {}",
                             extent.entries, kMaxMembers));
    }
    return {};
  }

  Result<std::vector<ZipMember>> ReadDirectory(const DirectoryExtent& extent) {
    if (Result<void> moved = reader_.Seek(extent.offset, "the central directory"); !moved) {
      return moved.error();
    }
    const std::uint64_t directory_end = extent.offset + extent.size;
    std::vector<ZipMember> members;
    members.reserve(static_cast<std::size_t>(extent.entries));
    for (std::uint64_t i = 0; i < extent.entries; ++i) {
      Result<ZipMember> member = ReadDirectoryEntry(i, directory_end);
      if (!member) return member.error();
      members.push_back(std::move(*member));
    }
    if (reader_.position() != directory_end) {
      return Bad(fmt::format(
          "the central directory's {} entries end at byte {}, but the directory runs to byte {}",
          extent.entries, reader_.position(), directory_end));
    }
    std::vector<std::string_view> names;
    names.reserve(members.size());
    for (const ZipMember& member : members) names.push_back(member.name);
    std::sort(names.begin(), names.end());
    if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
      return Bad(fmt::format("member \"{}\" appears more than once", *twice));
    }
    return members;
  }

  Result<ZipMember> ReadDirectoryEntry(std::uint64_t index, std::uint64_t directory_end) {
    const std::uint64_t at = reader_.position();
    if (directory_end - at < kCentralHeaderBytes) {
      return Bad(fmt::format(
          "central directory entry {} at byte {} needs {} bytes but the directory ends at byte {}",
          index, at, kCentralHeaderBytes, directory_end));
    }
    std::array<std::byte, kCentralHeaderBytes> header{};
    if (Result<void> read = reader_.Read(header, "a central directory entry"); !read) {
      return read.error();
    }
    if (Le<std::uint32_t>(header, 0) != kCentralHeaderSignature) {
      return Bad(
          fmt::format("central directory entry {} at byte {} does not start with signature {}",
                      index, at, SignatureText(kCentralHeaderSignature)));
    }
    const auto name_length = Le<std::uint16_t>(header, 28);
    const auto extra_length = Le<std::uint16_t>(header, 30);
    const auto comment_length = Le<std::uint16_t>(header, 32);
    const std::uint64_t variable = std::uint64_t{name_length} + extra_length + comment_length;
    if (variable > directory_end - reader_.position()) {
      return Bad(fmt::format(
          "central directory entry {} at byte {} has a {}-byte name, {} bytes of extra fields and "
          "a {}-byte comment, which run past the end of the directory at byte {}",
          index, at, name_length, extra_length, comment_length, directory_end));
    }
    ZipMember member;
    member.name.resize(name_length);
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(member.name)), "a name");
        !read) {
      return read.error();
    }
    if (Result<void> named = CheckName(member.name, index, at); !named) return named.error();
    std::vector<std::byte> extra(extra_length);
    if (Result<void> read = reader_.Read(extra, "extra fields"); !read) return read.error();
    if (Result<void> skipped = reader_.Skip(comment_length, "a comment"); !skipped) {
      return skipped.error();
    }

    const auto flags = Le<std::uint16_t>(header, 8);
    member.method = Le<std::uint16_t>(header, 10);
    member.encrypted = (flags & kEncryptedFlag) != 0;
    member.crc32 = Le<std::uint32_t>(header, 16);
    member.compressed_size = Le<std::uint32_t>(header, 20);
    member.uncompressed_size = Le<std::uint32_t>(header, 24);
    std::uint64_t disk = Le<std::uint16_t>(header, 34);
    member.local_header_offset = Le<std::uint32_t>(header, 42);
    const SaturatedFields saturated{
        .uncompressed_size = member.uncompressed_size == kSaturated32,
        .compressed_size = member.compressed_size == kSaturated32,
        .local_header_offset = member.local_header_offset == kSaturated32,
        .disk = disk == kSaturated16,
    };
    if (saturated.any()) {
      if (Result<void> widened = ApplyZip64Extra(extra, saturated, member, disk); !widened) {
        return widened.error();
      }
    }
    if (disk != 0) {
      return Bad(
          fmt::format("member \"{}\" starts on disk {}; multi-disk archives are not supported",
                      member.name, disk));
    }
    return member;
  }

  static Result<void> CheckName(std::string_view name, std::uint64_t index, std::uint64_t at) {
    if (name.empty()) {
      return Bad(fmt::format("central directory entry {} at byte {} has an empty name", index, at));
    }
    if (name.find('\0') != std::string_view::npos) {
      return Bad(fmt::format("central directory entry {} at byte {} has a name with a NUL byte",
                             index, at));
    }
    if (!IsValidUtf8(name)) {
      return Bad(fmt::format("central directory entry {} at byte {} has a name that is not UTF-8",
                             index, at));
    }
    return {};
  }

  // Walks the extra fields (2-byte id, 2-byte length, data) for the Zip64 one, which holds the
  // saturated fields as 8-byte values (4 for the disk) in APPNOTE's order.
  static Result<void> ApplyZip64Extra(std::span<const std::byte> extra,
                                      const SaturatedFields& saturated, ZipMember& member,
                                      std::uint64_t& disk) {
    std::size_t at = 0;
    while (extra.size() - at >= kExtraFieldHeaderBytes) {
      const auto id = Le<std::uint16_t>(extra, at);
      const auto length = Le<std::uint16_t>(extra, at + 2);
      const std::size_t data_at = at + kExtraFieldHeaderBytes;
      if (length > extra.size() - data_at) {
        return Bad(fmt::format(
            "member \"{}\": extra field {:#06x} at byte {} of its extra data claims {} bytes but "
            "only {} follow",
            member.name, id, at, length, extra.size() - data_at));
      }
      if (id == kZip64ExtraId) {
        return ReadZip64Values(extra.subspan(data_at, length), saturated, member, disk);
      }
      at = data_at + length;
    }
    return Bad(fmt::format(
        "member \"{}\" has saturated sizes or offset (0xFFFFFFFF) but no Zip64 extra field",
        member.name));
  }

  static Result<void> ReadZip64Values(std::span<const std::byte> field,
                                      const SaturatedFields& saturated, ZipMember& member,
                                      std::uint64_t& disk) {
    const std::size_t needed = 8 * (std::size_t{saturated.uncompressed_size} +
                                    saturated.compressed_size + saturated.local_header_offset) +
                               4 * std::size_t{saturated.disk};
    if (field.size() < needed) {
      return Bad(fmt::format(
          "member \"{}\": its Zip64 extra field has {} bytes but its saturated fields need {}",
          member.name, field.size(), needed));
    }
    std::size_t at = 0;
    const auto next = [&](std::size_t bytes) {
      const std::uint64_t value =
          bytes == 8 ? Le<std::uint64_t>(field, at) : Le<std::uint32_t>(field, at);
      at += bytes;
      return value;
    };
    if (saturated.uncompressed_size) member.uncompressed_size = next(8);
    if (saturated.compressed_size) member.compressed_size = next(8);
    if (saturated.local_header_offset) member.local_header_offset = next(8);
    if (saturated.disk) disk = next(4);
    return {};
  }

  // The local header repeats the name (which must match) and has extra fields of its own, so
  // only it says where the data starts. Header and data must lie before the central directory.
  Result<void> LocateData(ZipMember& member, std::uint64_t directory_offset) {
    const std::uint64_t at = member.local_header_offset;
    if (at > directory_offset || directory_offset - at < kLocalHeaderBytes) {
      return Bad(fmt::format(
          "member \"{}\": its local header at byte {} does not fit before the central directory "
          "at byte {}",
          member.name, at, directory_offset));
    }
    std::array<std::byte, kLocalHeaderBytes> header{};
    if (Result<void> read = ReadRecord(at, header, "a local header"); !read) return read;
    if (Le<std::uint32_t>(header, 0) != kLocalHeaderSignature) {
      return Bad(
          fmt::format("member \"{}\": the local header at byte {} does not start with "
                      "signature {}",
                      member.name, at, SignatureText(kLocalHeaderSignature)));
    }
    const auto name_length = Le<std::uint16_t>(header, 26);
    const auto extra_length = Le<std::uint16_t>(header, 28);
    member.data_offset = at + kLocalHeaderBytes + name_length + extra_length;
    if (member.data_offset > directory_offset ||
        member.compressed_size > directory_offset - member.data_offset) {
      return Bad(fmt::format(
          "member \"{}\": its {} bytes of data at byte {} (after a {}-byte local name and {} "
          "bytes of local extra fields) run past the central directory at byte {}",
          member.name, member.compressed_size, member.data_offset, name_length, extra_length,
          directory_offset));
    }
    std::string local_name(name_length, '\0');
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(local_name)), "a name");
        !read) {
      return read;
    }
    if (local_name != member.name) {
      return Bad(
          fmt::format("member \"{}\": its local header at byte {} gives another name ({} bytes)",
                      member.name, at, name_length));
    }
    return {};
  }

  // Sorted by local header offset, a member overlaps another exactly when it starts before the
  // end of the data of the one before it.
  static Result<void> CheckMembersApart(const std::vector<ZipMember>& members) {
    for (std::size_t i = 1; i < members.size(); ++i) {
      const ZipMember& before = members[i - 1];
      const std::uint64_t end = before.data_offset + before.compressed_size;
      if (members[i].local_header_offset < end) {
        return Bad(fmt::format(
            "members \"{}\" (local header at byte {}, data up to byte {}) and \"{}\" (local header "
            "at byte {}) overlap",
            before.name, before.local_header_offset, end, members[i].name,
            members[i].local_header_offset));
      }
    }
    return {};
  }

  BufferedReader reader_;
  std::uint64_t size_;
};

}  // namespace

Result<ZipArchive> ParseZip(const ByteSource& file) {
  Result<ZipArchive> archive = ZipParser(file).Parse();
  if (!archive && archive.error().code == Errc::kBadModelFile) {
    return Bad(
        fmt::format("{}: not a valid zip archive: {}", file.name(), archive.error().message));
  }
  return archive;
}

}  // namespace mei
