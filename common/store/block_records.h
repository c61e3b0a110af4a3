// The records the block store keeps in RocksDB per block: where its frame is (FrameEntry, in the
// `blocks` family) and its metadata (BlockMeta, in `block_meta`), with their fixed encodings.
//
// A FrameEntry value is one of two kinds, told apart by its first byte:
//   inline   the frame itself (codec.h; its first byte is the frame version, 1): frames smaller
//            than StoreOptions::inline_frame_bytes, and every frame of a store written before
//            segments existed.
//   segment  0x80, then little-endian: segment u32, offset u64, length u64 (the whole frame, header
//            included), codec u8, raw size u64, checksum u64 (the frame header's XXH3): 38 bytes.
//            The header fields are kept here so that a hot read needs no read of the segment.
// BlockMeta v1, little-endian: raw_size u64, stored_size u64, codec u8, last_access_ms u64,
// hits u64, pins u32 (37 bytes). A later version appends fields, so the length tells it apart.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/block_id.h"
#include "common/codec.h"
#include "common/errc.h"
#include "common/store/segment_log.h"

namespace mei {

struct BlockMeta {
  std::uint64_t raw_size = 0;
  std::uint64_t stored_size = 0;  // frame size, header included
  Codec codec = Codec::kRaw;
  std::uint64_t last_access_ms = 0;  // Unix time
  std::uint64_t hits = 0;
  std::uint32_t pins = 0;

  friend bool operator==(const BlockMeta&, const BlockMeta&) = default;
};

// A frame held in a segment: where, and its header.
struct SegmentFrame {
  FrameLocation where;
  FrameHeader header;
};

// A frame entry's value decoded: the frame bytes (inline, pointing into the value) or where the
// frame is in a segment.
using FrameEntry = std::variant<std::span<const std::byte>, SegmentFrame>;

[[nodiscard]] std::string EncodeSegmentEntry(const SegmentFrame& frame);
// kStorage naming `id` when the value is neither kind.
[[nodiscard]] Result<FrameEntry> DecodeFrameEntry(const BlockId& id,
                                                  std::span<const std::byte> value);

[[nodiscard]] std::string EncodeMeta(const BlockMeta& meta);
// kStorage naming `id` when the value is not a BlockMeta v1.
[[nodiscard]] Result<BlockMeta> DecodeMeta(const BlockId& id, std::string_view value);

}  // namespace mei
