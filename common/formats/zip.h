// Parser for zip archives: the members of the central directory and where each one's bytes lie.
//
// The end of central directory record is searched for in the last 64 KiB + 22 bytes; a Zip64
// end record is followed when the classic one says 0xFFFF/0xFFFFFFFF. Each central directory
// entry gives a member's name, method, sizes and local header offset; the local header (30 bytes
// + its own name and extra lengths, which may differ from the central ones) then gives where the
// member's data starts. PyTorch checkpoints, NumPy .npz and MediaPipe .task bundles are zips.
//
// The parser trusts nothing: every record must fit the file, members' local headers and data
// must lie before the central directory and not overlap one another, and names must be valid
// UTF-8 without NUL. Any violation is kBadModelFile with a sentence naming the member and numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"

namespace mei {

struct ZipMember {
  std::string name;                       // as stored: '/'-separated, may end in '/' (a folder)
  std::uint16_t method = 0;               // 0 stored, 8 deflated, others as the zip spec numbers
  bool encrypted = false;                 // general purpose flag bit 0
  std::uint64_t local_header_offset = 0;  // where its local file header starts
  std::uint64_t data_offset = 0;          // first byte of its (compressed) data
  std::uint64_t compressed_size = 0;      // bytes at data_offset
  std::uint64_t uncompressed_size = 0;
  std::uint32_t crc32 = 0;

  friend bool operator==(const ZipMember&, const ZipMember&) = default;
};

struct ZipArchive {
  std::vector<ZipMember> members;              // sorted by local_header_offset
  std::uint64_t central_directory_offset = 0;  // the central directory and end records follow
};

// Reads and validates the directory of `file`. Reads only headers, never member data.
// Thread-safe.
[[nodiscard]] Result<ZipArchive> ParseZip(const ByteSource& file);

// Whether `member` is stored (method 0, not encrypted): its bytes in the archive are its content.
[[nodiscard]] inline bool IsStored(const ZipMember& member) {
  return member.method == 0 && !member.encrypted;
}

}  // namespace mei
