#include "tools/synth/zip_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace mei::tools {
namespace {

// Record signatures and fields, from APPNOTE.TXT 6.3.10 section 4.3.
constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr std::uint32_t kDataDescriptorSignature = 0x08074b50;
constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr std::uint32_t kZip64EndSignature = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr std::uint32_t kEndSignature = 0x06054b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;
constexpr std::uint16_t kPaddingExtraId = 0x4246;  // "FB", as PyTorch's writer names it

constexpr std::uint16_t kDescriptorFlag = 0x0008;
constexpr std::uint16_t kUtf8NameFlag = 0x0800;
constexpr std::uint16_t kVersionNeeded = 20;             // 2.0: deflate, folders
constexpr std::uint16_t kVersionNeededZip64 = 45;        // 4.5: Zip64
constexpr std::uint16_t kVersionMadeBy = (3 << 8) | 45;  // Unix, 4.5
constexpr std::uint16_t kDosDate = (1 << 5) | 1;         // 1980-01-01, midnight
constexpr std::uint32_t kRegularFileMode = 0100644;
constexpr std::uint64_t kMax16 = 0xFFFF;
constexpr std::uint64_t kMax32 = 0xFFFFFFFF;
constexpr std::uint64_t kLocalHeaderBytes = 30;
constexpr std::uint64_t kPaddingExtraHeaderBytes = 4;
constexpr std::uint64_t kMaxDataAlignment = 32768;

// A deflate stream of uncompressed blocks: each block is a byte holding BFINAL and BTYPE 00, then
// LEN and its complement NLEN (16 bits each), then LEN bytes. An empty stream is one empty block.
constexpr std::uint64_t kDeflateBlockBytes = 0xFFFF;
constexpr std::uint64_t kDeflateBlockHeaderBytes = 5;

constexpr std::uint64_t kTensorChunkBytes = 4 << 20;

Error BadCall(std::string message) { return Error{Errc::kBadRequest, std::move(message)}; }

void PutLe(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

std::uint64_t DeflatedSize(std::uint64_t size) {
  const std::uint64_t blocks =
      std::max<std::uint64_t>(1, (size + kDeflateBlockBytes - 1) / kDeflateBlockBytes);
  return size + blocks * kDeflateBlockHeaderBytes;
}

std::string DeflateBlockHeader(std::uint64_t length, bool final) {
  std::string header;
  PutLe(header, final ? 1 : 0, 1);
  PutLe(header, length, 2);
  PutLe(header, ~length & 0xFFFF, 2);
  return header;
}

// Slicing-by-8 tables for the reflected polynomial 0xEDB88320 (Intel's "slicing-by-8" method,
// Kounavis and Berry, 2005): table k gives the CRC of a byte followed by k zero bytes.
constexpr std::array<std::array<std::uint32_t, 256>, 8> MakeCrcTables() {
  std::array<std::array<std::uint32_t, 256>, 8> tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
    tables[0][i] = crc;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t k = 1; k < tables.size(); ++k) {
      tables[k][i] = (tables[k - 1][i] >> 8) ^ tables[0][tables[k - 1][i] & 0xFF];
    }
  }
  return tables;
}

constexpr auto kCrcTables = MakeCrcTables();

std::uint32_t Word(const std::byte* bytes) {
  return std::to_integer<std::uint32_t>(bytes[0]) | std::to_integer<std::uint32_t>(bytes[1]) << 8 |
         std::to_integer<std::uint32_t>(bytes[2]) << 16 |
         std::to_integer<std::uint32_t>(bytes[3]) << 24;
}

template <class Element>
Result<void> AppendElements(const TensorSpec& tensor, ZipWriter& zip,
                            void (*fill)(const WeightStream&, std::uint64_t, std::span<Element>)) {
  const std::uint64_t elements = tensor.Elements();
  std::vector<Element> chunk(
      static_cast<std::size_t>(std::min(kTensorChunkBytes / sizeof(Element), elements)));
  for (std::uint64_t first = 0; first < elements; first += chunk.size()) {
    const auto count =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), elements - first));
    const std::span<Element> part(chunk.data(), count);
    fill(tensor.stream, first, part);
    if (Result<void> appended = zip.Append(std::as_bytes(part)); !appended) return appended;
  }
  return {};
}

}  // namespace

std::uint32_t Crc32(std::span<const std::byte> bytes, std::uint32_t crc) {
  const auto& t = kCrcTables;
  crc = ~crc;
  const std::byte* p = bytes.data();
  std::size_t left = bytes.size();
  for (; left >= 8; p += 8, left -= 8) {
    const std::uint32_t low = crc ^ Word(p);
    const std::uint32_t high = Word(p + 4);
    crc = t[7][low & 0xFF] ^ t[6][(low >> 8) & 0xFF] ^ t[5][(low >> 16) & 0xFF] ^ t[4][low >> 24] ^
          t[3][high & 0xFF] ^ t[2][(high >> 8) & 0xFF] ^ t[1][(high >> 16) & 0xFF] ^
          t[0][high >> 24];
  }
  for (; left > 0; ++p, --left)
    crc = t[0][(crc ^ std::to_integer<std::uint32_t>(*p)) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

ZipOutput AppendTo(AtomicFile& file) {
  return [&file](std::span<const std::byte> bytes) { return file.Append(bytes); };
}

ZipOutput AppendTo(std::string& bytes) {
  return [&bytes](std::span<const std::byte> more) -> Result<void> {
    bytes.append(reinterpret_cast<const char*>(more.data()), more.size());
    return {};
  };
}

ZipWriter::ZipWriter(ZipOutput output, ZipWriterOptions options)
    : output_(std::move(output)), options_(std::move(options)) {}

bool ZipWriter::Saturates(std::uint64_t value, std::uint64_t field_max) const {
  return value >= std::min(options_.zip64_from, field_max);
}

Result<void> ZipWriter::BeginMember(std::string_view name, std::uint64_t size, ZipMethod method) {
  return Begin(name, size, method, /*descriptor=*/true, 0);
}

Result<void> ZipWriter::AddMember(std::string_view name, std::string_view content,
                                  ZipMethod method) {
  const std::uint32_t crc32 = Crc32(std::as_bytes(std::span(content)));
  if (Result<void> begun = Begin(name, content.size(), method, /*descriptor=*/false, crc32);
      !begun) {
    return begun;
  }
  if (Result<void> appended = Append(content); !appended) return appended;
  return EndMember();
}

Result<void> ZipWriter::Begin(std::string_view name, std::uint64_t size, ZipMethod method,
                              bool descriptor, std::uint32_t crc32) {
  if (open_ || finished_) {
    return BadCall(fmt::format(
        "zip member \"{}\" begun while another is open or after the archive was finished", name));
  }
  if (name.size() > kMax16) {
    return BadCall(
        fmt::format("a zip member name has {} bytes, more than {}", name.size(), kMax16));
  }
  if (options_.data_alignment < 1 || options_.data_alignment > kMaxDataAlignment) {
    return BadCall(fmt::format("zip data alignment {} is not between 1 and {}",
                               options_.data_alignment, kMaxDataAlignment));
  }
  ZipMember member;
  member.name = std::string(name);
  member.method = static_cast<std::uint16_t>(method);
  member.local_header_offset = size_;
  member.uncompressed_size = size;
  member.compressed_size = method == ZipMethod::kDeflated ? DeflatedSize(size) : size;
  member.crc32 = crc32;
  Member layout;
  layout.flags = kUtf8NameFlag | (descriptor ? kDescriptorFlag : 0);
  layout.zip64_sizes = Saturates(member.compressed_size, kMax32);
  if (Result<void> written = WriteLocalHeader(member, layout); !written) return written;
  members_.push_back(std::move(member));
  layouts_.push_back(layout);
  open_ = true;
  appended_ = 0;
  crc_ = 0;
  if (method == ZipMethod::kDeflated && size == 0) return Write(DeflateBlockHeader(0, true));
  return {};
}

Result<void> ZipWriter::WriteLocalHeader(ZipMember& member, const Member& layout) {
  const bool descriptor = (layout.flags & kDescriptorFlag) != 0;
  std::string extra;
  if (layout.zip64_sizes) {
    PutLe(extra, kZip64ExtraId, 2);
    PutLe(extra, 16, 2);
    PutLe(extra, descriptor ? 0 : member.uncompressed_size, 8);
    PutLe(extra, descriptor ? 0 : member.compressed_size, 8);
  }
  if (options_.data_alignment > 1) {
    const std::uint64_t unpadded = member.local_header_offset + kLocalHeaderBytes +
                                   member.name.size() + extra.size() + kPaddingExtraHeaderBytes;
    const std::uint64_t padding =
        (options_.data_alignment - unpadded % options_.data_alignment) % options_.data_alignment;
    PutLe(extra, kPaddingExtraId, 2);
    PutLe(extra, padding, 2);
    extra.append(padding, 'Z');
  }
  const std::uint64_t size_field =
      layout.zip64_sizes ? kMax32 : (descriptor ? 0 : member.compressed_size);
  const std::uint64_t uncompressed_field =
      layout.zip64_sizes ? kMax32 : (descriptor ? 0 : member.uncompressed_size);
  std::string header;
  PutLe(header, kLocalHeaderSignature, 4);
  PutLe(header, layout.zip64_sizes ? kVersionNeededZip64 : kVersionNeeded, 2);
  PutLe(header, layout.flags, 2);
  PutLe(header, member.method, 2);
  PutLe(header, 0, 2);
  PutLe(header, kDosDate, 2);
  PutLe(header, descriptor ? 0 : member.crc32, 4);
  PutLe(header, size_field, 4);
  PutLe(header, uncompressed_field, 4);
  PutLe(header, member.name.size(), 2);
  PutLe(header, extra.size(), 2);
  header += member.name;
  header += extra;
  member.data_offset = member.local_header_offset + header.size();
  return Write(header);
}

Result<void> ZipWriter::Append(std::string_view bytes) {
  return Append(std::as_bytes(std::span(bytes)));
}

Result<void> ZipWriter::Append(std::span<const std::byte> bytes) {
  if (!open_) return BadCall("bytes appended to a zip archive with no member open");
  const ZipMember& member = members_.back();
  if (bytes.size() > member.uncompressed_size - appended_) {
    return BadCall(fmt::format("zip member \"{}\" was begun with {} bytes but gets {}", member.name,
                               member.uncompressed_size, appended_ + bytes.size()));
  }
  const bool deflated = member.method == static_cast<std::uint16_t>(ZipMethod::kDeflated);
  while (!bytes.empty()) {
    std::size_t piece = bytes.size();
    if (deflated) {
      const std::uint64_t in_block = appended_ % kDeflateBlockBytes;
      if (in_block == 0) {
        const std::uint64_t left = member.uncompressed_size - appended_;
        Result<void> header = Write(
            DeflateBlockHeader(std::min(left, kDeflateBlockBytes), left <= kDeflateBlockBytes));
        if (!header) return header;
      }
      piece =
          static_cast<std::size_t>(std::min<std::uint64_t>(piece, kDeflateBlockBytes - in_block));
    }
    crc_ = Crc32(bytes.first(piece), crc_);
    if (Result<void> written = Write(bytes.first(piece)); !written) return written;
    appended_ += piece;
    bytes = bytes.subspan(piece);
  }
  return {};
}

Result<void> ZipWriter::EndMember() {
  if (!open_) return BadCall("a zip member ended when none is open");
  ZipMember& member = members_.back();
  if (appended_ != member.uncompressed_size) {
    return BadCall(fmt::format("zip member \"{}\" was begun with {} bytes but got {}", member.name,
                               member.uncompressed_size, appended_));
  }
  open_ = false;
  const Member& layout = layouts_.back();
  if ((layout.flags & kDescriptorFlag) == 0) return {};
  member.crc32 = crc_;
  const int size_bytes = layout.zip64_sizes ? 8 : 4;
  std::string descriptor;
  PutLe(descriptor, kDataDescriptorSignature, 4);
  PutLe(descriptor, member.crc32, 4);
  PutLe(descriptor, member.compressed_size, size_bytes);
  PutLe(descriptor, member.uncompressed_size, size_bytes);
  return Write(descriptor);
}

std::string ZipWriter::CentralEntry(const ZipMember& member, const Member& layout) const {
  const bool wide_uncompressed = Saturates(member.uncompressed_size, kMax32);
  const bool wide_compressed = Saturates(member.compressed_size, kMax32);
  const bool wide_offset = Saturates(member.local_header_offset, kMax32);
  std::string zip64;
  if (wide_uncompressed) PutLe(zip64, member.uncompressed_size, 8);
  if (wide_compressed) PutLe(zip64, member.compressed_size, 8);
  if (wide_offset) PutLe(zip64, member.local_header_offset, 8);
  std::string extra;
  if (!zip64.empty()) {
    PutLe(extra, kZip64ExtraId, 2);
    PutLe(extra, zip64.size(), 2);
    extra += zip64;
  }
  std::string entry;
  PutLe(entry, kCentralHeaderSignature, 4);
  PutLe(entry, kVersionMadeBy, 2);
  PutLe(entry, zip64.empty() ? kVersionNeeded : kVersionNeededZip64, 2);
  PutLe(entry, layout.flags, 2);
  PutLe(entry, member.method, 2);
  PutLe(entry, 0, 2);
  PutLe(entry, kDosDate, 2);
  PutLe(entry, member.crc32, 4);
  PutLe(entry, wide_compressed ? kMax32 : member.compressed_size, 4);
  PutLe(entry, wide_uncompressed ? kMax32 : member.uncompressed_size, 4);
  PutLe(entry, member.name.size(), 2);
  PutLe(entry, extra.size(), 2);
  PutLe(entry, 0, 2);  // comment length
  PutLe(entry, 0, 2);  // disk
  PutLe(entry, 0, 2);  // internal attributes
  PutLe(entry, std::uint64_t{kRegularFileMode} << 16, 4);
  PutLe(entry, wide_offset ? kMax32 : member.local_header_offset, 4);
  return entry + member.name + extra;
}

// The Zip64 end record and its locator come first when a count, the directory's size or its
// offset needs them; the classic end record then has those fields saturated.
std::string ZipWriter::EndRecords(std::uint64_t directory_offset,
                                  std::uint64_t directory_size) const {
  const std::uint64_t entries = members_.size();
  const bool wide_entries = Saturates(entries, kMax16);
  const bool wide_size = Saturates(directory_size, kMax32);
  const bool wide_offset = Saturates(directory_offset, kMax32);
  std::string records;
  if (wide_entries || wide_size || wide_offset) {
    const std::uint64_t record_offset = directory_offset + directory_size;
    PutLe(records, kZip64EndSignature, 4);
    PutLe(records, 44, 8);  // bytes after this field
    PutLe(records, kVersionMadeBy, 2);
    PutLe(records, kVersionNeededZip64, 2);
    PutLe(records, 0, 4);  // this disk
    PutLe(records, 0, 4);  // the directory's disk
    PutLe(records, entries, 8);
    PutLe(records, entries, 8);
    PutLe(records, directory_size, 8);
    PutLe(records, directory_offset, 8);
    PutLe(records, kZip64LocatorSignature, 4);
    PutLe(records, 0, 4);  // the Zip64 end record's disk
    PutLe(records, record_offset, 8);
    PutLe(records, 1, 4);  // disks
  }
  PutLe(records, kEndSignature, 4);
  PutLe(records, 0, 2);  // this disk
  PutLe(records, 0, 2);  // the directory's disk
  PutLe(records, wide_entries ? kMax16 : entries, 2);
  PutLe(records, wide_entries ? kMax16 : entries, 2);
  PutLe(records, wide_size ? kMax32 : directory_size, 4);
  PutLe(records, wide_offset ? kMax32 : directory_offset, 4);
  PutLe(records, options_.comment.size(), 2);
  return records + options_.comment;
}

Result<std::uint64_t> ZipWriter::Finish() {
  if (open_ || finished_) {
    return BadCall("a zip archive finished with a member open, or finished twice");
  }
  if (options_.comment.size() > kMax16) {
    return BadCall(
        fmt::format("a zip comment has {} bytes, more than {}", options_.comment.size(), kMax16));
  }
  const std::uint64_t directory_offset = size_;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (Result<void> written = Write(CentralEntry(members_[i], layouts_[i])); !written) {
      return written.error();
    }
  }
  if (Result<void> written = Write(EndRecords(directory_offset, size_ - directory_offset));
      !written) {
    return written.error();
  }
  finished_ = true;
  return size_;
}

Result<void> ZipWriter::Write(std::span<const std::byte> bytes) {
  if (Result<void> written = output_(bytes); !written) return written;
  size_ += bytes.size();
  return {};
}

Result<void> ZipWriter::Write(std::string_view bytes) {
  return Write(std::as_bytes(std::span(bytes)));
}

std::string ZipBytes(const std::function<void(ZipWriter&)>& fill, ZipWriterOptions options) {
  std::string bytes;
  ZipWriter zip(AppendTo(bytes), std::move(options));
  fill(zip);
  zip.Finish().value();
  return bytes;
}

Result<void> AppendTensor(ZipWriter& zip, const TensorSpec& tensor, StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return AppendElements<std::uint16_t>(tensor, zip, FillF16);
    case StoredDtype::kF32:
      return AppendElements<std::uint32_t>(tensor, zip, FillF32);
    case StoredDtype::kBf16:
      break;
  }
  return AppendElements<std::uint16_t>(tensor, zip, FillBf16);
}

}  // namespace mei::tools
