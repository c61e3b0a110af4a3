// StoredBlock: a block's frame as the store holds it, read without copying. Its bytes are either in
// memory (a frame kept inline in RocksDB, pinned in RocksDB's buffer or shared with the store's
// HotEntries, or one loaded by Load) or in
// a segment file (payload_file(): the segment stays open while the StoredBlock lives, so the bytes
// can go to a socket with sendfile(2) even after a compaction moved the frame and removed the
// file).
//
// A frame read from a segment is not checksummed when it is located: its header comes from the
// index entry, and checking the payload would mean reading it into memory, the copy sendfile
// avoids. Whatever reads the bytes into memory (Load, the store's ReadRaw, decoding, compaction)
// verifies the XXH3; clients verify SHA-256 against the manifest end to end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/codec.h"
#include "common/errc.h"
#include "common/store/hot_entries.h"
#include "common/store/segment_log.h"

namespace rocksdb {
class PinnableSlice;
}  // namespace rocksdb

namespace mei {

// Bytes of a held segment file.
struct SegmentRegion {
  std::shared_ptr<const Segment> segment;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// Move-only. REQUIRES: a StoredBlock pinning RocksDB's buffer (inline) is destroyed before the
// Store it came from is closed.
class StoredBlock {
 public:
  StoredBlock();
  ~StoredBlock();
  StoredBlock(StoredBlock&&) noexcept;
  StoredBlock& operator=(StoredBlock&&) noexcept;

  // An inline frame pinned in RocksDB's buffer. kBadFrame when it does not parse (ParseFrame).
  [[nodiscard]] static Result<StoredBlock> Inline(std::unique_ptr<rocksdb::PinnableSlice> slice);
  // An inline frame kept by HotEntries, verified when it was kept. REQUIRES: entry not null and
  // inline (no in_segment).
  [[nodiscard]] static StoredBlock Hot(std::shared_ptr<const HotEntry> entry);
  // A frame at `where` in `segment`, with the header its index entry recorded.
  [[nodiscard]] static StoredBlock InSegment(std::shared_ptr<const Segment> segment,
                                             const FrameLocation& where, const FrameHeader& header);

  const FrameHeader& header() const { return header_; }
  // Payload size in bytes: raw_size for a raw frame, the zstd frame's size otherwise.
  std::uint64_t payload_size() const { return payload_size_; }

  // Whether payload() and frame() hold the bytes; false for a frame still in its segment.
  bool in_memory() const { return !segment_; }
  // REQUIRES: in_memory().
  std::span<const std::byte> payload() const { return view_.payload; }
  std::span<const std::byte> frame() const;  // header + payload

  // Where the payload is in its segment file; nullopt when in_memory().
  std::optional<SegmentRegion> payload_file() const;

  // Reads a frame that is in its segment into memory and verifies it (ParseFrame: kBadFrame when
  // it fails or differs from the header its index entry recorded; kIo on a read error); then
  // in_memory(). Does nothing for a frame already in memory.
  [[nodiscard]] Result<void> Load();

 private:
  FrameHeader header_;
  std::uint64_t payload_size_ = 0;
  std::unique_ptr<rocksdb::PinnableSlice> slice_;  // inline frames read from RocksDB
  std::shared_ptr<const HotEntry> hot_;            // inline frames kept by HotEntries
  std::vector<std::byte> loaded_;                  // segment frames after Load
  FrameView view_;                                 // over slice_, hot_ or loaded_
  std::shared_ptr<const Segment> segment_;         // until Load
  FrameLocation where_;
};

}  // namespace mei
