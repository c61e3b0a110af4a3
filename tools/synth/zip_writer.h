// Writes zip archives (PKWARE APPNOTE.TXT 6.3.10) one member at a time, in bounded memory: the
// encoder behind PyTorch checkpoints and NumPy .npz files, and behind the zip tests and fuzz seeds.
//
// A streamed member (BeginMember, Append..., EndMember) has its CRC-32 computed on the way, so its
// CRC and sizes follow its data in a data descriptor (general purpose bit 3), as PyTorch's writer
// (miniz) writes them; a member given whole (AddMember) has them in its local header, as Python's
// zipfile writes them. Members are stored, or deflated as deflate's uncompressed blocks (RFC 1951
// section 3.2.4): real deflate streams, so readers of method 8 are exercised without a compressor.
// Names are written as given (UTF-8, flag bit 11), whatever they hold, so tests can write archives
// that readers must refuse. Zip64 records are written for the sizes, offsets and counts that need
// them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/atomic_file.h"
#include "common/errc.h"
#include "common/formats/zip.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

enum class ZipMethod : std::uint16_t { kStored = 0, kDeflated = 8 };

inline constexpr std::uint64_t kZip64Limit = 0xFFFFFFFF;

struct ZipWriterOptions {
  // Each member's data starts at a multiple of this, padded as PyTorch pads: an extra field "FB"
  // of 'Z' bytes ending the local header (present even when no padding is needed). 1: no field.
  // REQUIRES: 1 <= data_alignment <= 32768.
  std::uint64_t data_alignment = 1;
  // Sizes, offsets and entry counts from this value up are written as Zip64 (with the 16- or
  // 32-bit field saturated); the format's own limits cap it. Tests lower it to make Zip64 archives
  // of a few bytes.
  std::uint64_t zip64_from = kZip64Limit;
  std::string comment;  // of the archive, at most 65535 bytes
};

// Receives the archive's bytes in order; an error stops the writer and is returned.
using ZipOutput = std::function<Result<void>(std::span<const std::byte> bytes)>;

// An output that appends to `file`, or to `bytes`. The target must outlive the writer.
[[nodiscard]] ZipOutput AppendTo(AtomicFile& file);
[[nodiscard]] ZipOutput AppendTo(std::string& bytes);

// Not thread-safe. Errors: kBadRequest for what cannot be encoded (a name or comment over 65535
// bytes, a member that gets more or fewer bytes than declared, calls out of order); whatever the
// output returns. After an error the archive is unfinished.
class ZipWriter {
 public:
  explicit ZipWriter(ZipOutput output, ZipWriterOptions options = {});

  // Starts member `name` of exactly `size` (uncompressed) bytes, to be given by Append.
  [[nodiscard]] Result<void> BeginMember(std::string_view name, std::uint64_t size,
                                         ZipMethod method = ZipMethod::kStored);
  [[nodiscard]] Result<void> Append(std::span<const std::byte> bytes);
  [[nodiscard]] Result<void> Append(std::string_view bytes);
  // Writes the data descriptor of the member begun last.
  [[nodiscard]] Result<void> EndMember();

  // Writes member `name` holding `content`, its CRC-32 and sizes in its local header.
  [[nodiscard]] Result<void> AddMember(std::string_view name, std::string_view content,
                                       ZipMethod method = ZipMethod::kStored);

  // Writes the central directory and end records. Returns the archive's size.
  [[nodiscard]] Result<std::uint64_t> Finish();

  // The members written so far, as a reader of the archive sees them, in archive order.
  [[nodiscard]] const std::vector<ZipMember>& members() const { return members_; }

  // Bytes written so far.
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  struct Member {
    std::uint16_t flags = 0;
    bool zip64_sizes = false;  // sizes in the local Zip64 extra field and 8-byte descriptor
  };

  [[nodiscard]] Result<void> Begin(std::string_view name, std::uint64_t size, ZipMethod method,
                                   bool descriptor, std::uint32_t crc32);
  [[nodiscard]] Result<void> Write(std::span<const std::byte> bytes);
  [[nodiscard]] Result<void> Write(std::string_view bytes);
  [[nodiscard]] Result<void> WriteLocalHeader(ZipMember& member, const Member& layout);
  [[nodiscard]] std::string CentralEntry(const ZipMember& member, const Member& layout) const;
  [[nodiscard]] std::string EndRecords(std::uint64_t directory_offset,
                                       std::uint64_t directory_size) const;
  [[nodiscard]] bool Saturates(std::uint64_t value, std::uint64_t field_max) const;

  ZipOutput output_;
  ZipWriterOptions options_;
  std::vector<ZipMember> members_;
  std::vector<Member> layouts_;
  std::uint64_t size_ = 0;
  bool open_ = false;  // a streamed member awaits its bytes and EndMember
  bool finished_ = false;
  std::uint64_t appended_ = 0;  // uncompressed bytes of the open member so far
  std::uint32_t crc_ = 0;       // running CRC-32 of them (pre- and post-conditioned)
};

// The archive that `fill` writes (adding members to the writer it is given), in memory: for small
// archives (tests, fuzz seeds). Throws on a writer error, as start-up code may.
[[nodiscard]] std::string ZipBytes(const std::function<void(ZipWriter&)>& fill,
                                   ZipWriterOptions options = {});

// Appends the elements of `tensor` as `dtype` to the open member, a few MiB at a time: the same
// bytes AppendTensorData writes. Errors as ZipWriter::Append.
[[nodiscard]] Result<void> AppendTensor(ZipWriter& zip, const TensorSpec& tensor,
                                        StoredDtype dtype);

// The CRC-32 (ISO-HDLC, as zip uses) of `bytes`, continuing from `crc` (0 to start).
[[nodiscard]] std::uint32_t Crc32(std::span<const std::byte> bytes, std::uint32_t crc = 0);

}  // namespace mei::tools
