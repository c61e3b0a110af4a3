// Stored codecs and the frame every stored block is wrapped in.
//
// A block is stored as the smallest of: raw; zstd; bg2+zstd (16-bit floats: all high bytes, then
// all low bytes, then zstd -- the exponent bytes compress, the mantissa bytes barely do); bg4+zstd
// (32-bit floats: byte 3s, byte 2s, byte 1s, byte 0s, then zstd). A codec is kept only if it saves
// at least `min_saving` of the raw size; otherwise raw, the fast path for serving.
//
// Frame layout (all integers little-endian):
//   byte 0      format version (kFrameVersion)
//   byte 1      codec (Codec)
//   bytes 2-9   raw size in bytes
//   bytes 10-17 checksum: XXH3-64 of the payload, seeded with the XXH3-64 of bytes 0-9
//   bytes 18-   payload: the raw bytes for kRaw, one zstd frame otherwise (for bgN+zstd, of the
//               byte-grouped bytes), so a zstd payload can be sent as `Content-Encoding: zstd`.
// A flipped bit anywhere is detected: in bytes 0-17 and the payload by the checksum, and
// decoding checks the raw size again. Decoding never returns wrong bytes, only an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei {

enum class Codec : std::uint8_t { kRaw = 0, kZstd = 1, kBg2Zstd = 2, kBg4Zstd = 3 };

// "raw", "zstd", "bg2+zstd", "bg4+zstd".
[[nodiscard]] std::string_view NameOf(Codec codec);

inline constexpr std::uint8_t kFrameVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 18;

struct FrameHeader {
  Codec codec = Codec::kRaw;
  std::uint64_t raw_size = 0;
  std::uint64_t checksum = 0;
};

// A parsed frame that points into the caller's buffer.
struct FrameView {
  FrameHeader header;
  std::span<const std::byte> payload;
};

// Checks the version, the codec, that a raw payload is raw_size long, and the checksum.
// kBadFrame otherwise. Thread-safe; allocates only to describe a failure.
[[nodiscard]] Result<FrameView> ParseFrame(std::span<const std::byte> frame);

// A frame around a payload already in `codec` (e.g. a stored payload received from another node
// with its Content-Encoding), with its checksum computed. Does not check that the payload decodes:
// BlockDecoder::Decode does.
[[nodiscard]] std::vector<std::byte> FrameOf(Codec codec, std::uint64_t raw_size,
                                             std::span<const std::byte> payload);

// A frame's checksum computed piece by piece as its payload arrives, so that the payload is read
// while it is still in the CPU's cache rather than in a second pass: equal to the checksum
// FrameOf and ParseFrame compute over the whole frame. Not thread-safe.
class FrameChecksummer {
 public:
  FrameChecksummer(Codec codec, std::uint64_t raw_size);
  ~FrameChecksummer();
  FrameChecksummer(FrameChecksummer&&) noexcept;
  FrameChecksummer& operator=(FrameChecksummer&&) noexcept;

  void Update(std::span<const std::byte> payload);
  [[nodiscard]] std::uint64_t Finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Writes the header of a frame whose payload already sits at frame[kFrameHeaderSize...] (received
// straight into place), with `checksum` (FrameChecksummer's, over that payload), and returns it.
// REQUIRES: frame.size() >= kFrameHeaderSize.
FrameHeader WriteFrameHeader(Codec codec, std::uint64_t raw_size, std::uint64_t checksum,
                             std::span<std::byte> frame);

struct EncodeOptions {
  int zstd_level = 1;  // on BF16 weights level 1 both compresses better and runs faster than 3
  double min_saving = 0.05;  // keep a codec only if it saves at least this share of raw size
};

// Encodes blocks into frames. Holds zstd contexts and scratch buffers between calls, so reuse one
// per thread. Not thread-safe.
class BlockEncoder {
 public:
  explicit BlockEncoder(EncodeOptions options = {});
  ~BlockEncoder();
  BlockEncoder(BlockEncoder&&) noexcept;
  BlockEncoder& operator=(BlockEncoder&&) noexcept;

  // The smallest frame for `raw`. `element_width` (0, 2 or 4; see ByteGroupingWidth) says which
  // byte grouping to try besides plain zstd; a width that does not divide raw.size() is not
  // tried. Overwrites `frame`.
  void Encode(std::span<const std::byte> raw, std::uint8_t element_width,
              std::vector<std::byte>& frame);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes frames back to raw bytes, verifying the payload checksum and the raw size. Reuse one per
// thread. Not thread-safe.
class BlockDecoder {
 public:
  BlockDecoder();
  ~BlockDecoder();
  BlockDecoder(BlockDecoder&&) noexcept;
  BlockDecoder& operator=(BlockDecoder&&) noexcept;

  // On success `raw` holds exactly the block's bytes; on error it is unchanged.
  [[nodiscard]] Result<void> Decode(std::span<const std::byte> frame, std::vector<std::byte>& raw);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mei
