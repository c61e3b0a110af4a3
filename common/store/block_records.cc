#include "common/store/block_records.h"

#include <fmt/format.h>

#include "common/internal/rocks_access.h"

namespace mei {
namespace {

using internal::GetLe;
using internal::PutLe;

constexpr std::uint8_t kSegmentEntryTag = 0x80;
constexpr std::size_t kSegmentEntrySize = 1 + 4 + 8 + 8 + 1 + 8 + 8;
constexpr std::size_t kMetaSizeV1 = 8 + 8 + 1 + 8 + 8 + 4;

bool IsKnownCodec(std::uint64_t codec) {
  return codec <= static_cast<std::uint8_t>(Codec::kBg4Zstd);
}

}  // namespace

std::string EncodeSegmentEntry(const SegmentFrame& frame) {
  std::string out;
  out.reserve(kSegmentEntrySize);
  PutLe(out, kSegmentEntryTag, 1);
  PutLe(out, frame.where.segment, 4);
  PutLe(out, frame.where.offset, 8);
  PutLe(out, frame.where.length, 8);
  PutLe(out, static_cast<std::uint8_t>(frame.header.codec), 1);
  PutLe(out, frame.header.raw_size, 8);
  PutLe(out, frame.header.checksum, 8);
  return out;
}

Result<FrameEntry> DecodeFrameEntry(const BlockId& id, std::span<const std::byte> value) {
  if (!value.empty() && static_cast<std::uint8_t>(value[0]) == kFrameVersion) {
    return FrameEntry(value);
  }
  const std::string_view text(reinterpret_cast<const char*>(value.data()), value.size());
  if (text.size() != kSegmentEntrySize || static_cast<std::uint8_t>(text[0]) != kSegmentEntryTag ||
      !IsKnownCodec(GetLe(text, 21, 1))) {
    return Error{Errc::kStorage,
                 fmt::format("the stored frame entry of block {} is malformed ({} bytes)", id.Hex(),
                             text.size())};
  }
  SegmentFrame frame;
  frame.where.segment = static_cast<std::uint32_t>(GetLe(text, 1, 4));
  frame.where.offset = GetLe(text, 5, 8);
  frame.where.length = GetLe(text, 13, 8);
  frame.header.codec = static_cast<Codec>(GetLe(text, 21, 1));
  frame.header.raw_size = GetLe(text, 22, 8);
  frame.header.checksum = GetLe(text, 30, 8);
  if (frame.where.length < kFrameHeaderSize) {
    return Error{Errc::kStorage, fmt::format("the stored frame entry of block {} names a frame of "
                                             "{} bytes, shorter than a frame header",
                                             id.Hex(), frame.where.length)};
  }
  return FrameEntry(frame);
}

std::string EncodeMeta(const BlockMeta& meta) {
  std::string out;
  out.reserve(kMetaSizeV1);
  PutLe(out, meta.raw_size, 8);
  PutLe(out, meta.stored_size, 8);
  PutLe(out, static_cast<std::uint8_t>(meta.codec), 1);
  PutLe(out, meta.last_access_ms, 8);
  PutLe(out, meta.hits, 8);
  PutLe(out, meta.pins, 4);
  return out;
}

Result<BlockMeta> DecodeMeta(const BlockId& id, std::string_view value) {
  if (value.size() != kMetaSizeV1) {
    return Error{Errc::kStorage, "the stored metadata of block " + id.Hex() + " is " +
                                     std::to_string(value.size()) + " bytes long, not " +
                                     std::to_string(kMetaSizeV1)};
  }
  const std::uint64_t codec = GetLe(value, 16, 1);
  if (!IsKnownCodec(codec)) {
    return Error{Errc::kStorage, "the stored metadata of block " + id.Hex() +
                                     " names an unknown codec " + std::to_string(codec)};
  }
  BlockMeta meta;
  meta.raw_size = GetLe(value, 0, 8);
  meta.stored_size = GetLe(value, 8, 8);
  meta.codec = static_cast<Codec>(codec);
  meta.last_access_ms = GetLe(value, 17, 8);
  meta.hits = GetLe(value, 25, 8);
  meta.pins = static_cast<std::uint32_t>(GetLe(value, 33, 4));
  return meta;
}

}  // namespace mei
