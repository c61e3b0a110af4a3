// Body sources over stored blocks: the bytes of one block, and a byte range of a file reassembled
// block by block.
//
// Raw-codec blocks are sent straight from RocksDB's pinned buffer (a Chunk whose owner holds the
// StoredBlock); compressed ones are decoded into a buffer that the chunk owns. A file body holds
// at most one block at a time, so memory does not grow with the file. The SHA-256 of a block is
// not recomputed here: the store verified the frame checksum on read and the decoder verifies the
// raw size, which is what can go wrong at rest; ids were verified when blocks were stored.
// Header-only; used by data_plane.cc.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/http/data_plane.h"
#include "common/http/message.h"
#include "common/http/range.h"
#include "common/manifest.h"
#include "common/store.h"

namespace mei::http::internal {

// The raw bytes of a compressed stored block, decoded with this thread's decoder.
[[nodiscard]] inline Result<std::shared_ptr<const std::vector<std::byte>>> DecodeStoredBlock(
    const StoredBlock& block) {
  thread_local BlockDecoder decoder;
  auto raw = std::make_shared<std::vector<std::byte>>();
  if (auto decoded = decoder.Decode(block.frame(), *raw); !decoded) return decoded.error();
  return std::shared_ptr<const std::vector<std::byte>>(std::move(raw));
}

// A body of exactly one chunk, fixed in advance.
class ChunkBody final : public BodySource {
 public:
  explicit ChunkBody(Chunk chunk) : chunk_(std::move(chunk)) {}

  Result<Chunk> Next() override {
    if (done_) return Chunk{};
    done_ = true;
    return std::move(chunk_);
  }

 private:
  Chunk chunk_;
  bool done_ = false;
};

// One stored block shared by the bodies of one reply (a multipart reply opens several ranges):
// compressed blocks are decoded at most once, on the first body read, so HEAD, 304 and 416
// answers never decode. Thread-safe.
class SharedBlock {
 public:
  explicit SharedBlock(StoredBlock block)
      : block_(std::make_shared<StoredBlock>(std::move(block))) {}

  const FrameHeader& header() const { return block_->header(); }

  // Bytes [range.first, range.last] of the raw block; kInternal for a range outside it.
  [[nodiscard]] Result<Chunk> Slice(ByteRange range) {
    if (range.first > range.last || range.last >= header().raw_size) {
      return Error{Errc::kInternal, "a block range lies outside the block"};
    }
    if (header().codec == Codec::kRaw) {
      return Chunk{block_->payload().subspan(range.first, range.size()), block_};
    }
    std::lock_guard lock(mu_);
    if (!raw_) {
      auto raw = DecodeStoredBlock(*block_);
      if (!raw) return raw.error();
      raw_ = std::move(*raw);
    }
    return Chunk{std::span<const std::byte>(*raw_).subspan(range.first, range.size()), raw_};
  }

  // The stored payload as is (the raw bytes, or one zstd frame), pinned.
  [[nodiscard]] Chunk Payload() const { return Chunk{block_->payload(), block_}; }

 private:
  std::shared_ptr<const StoredBlock> block_;
  std::mutex mu_;
  std::shared_ptr<const std::vector<std::byte>> raw_;
};

// A range of one block's raw bytes.
class BlockRangeBody final : public BodySource {
 public:
  BlockRangeBody(std::shared_ptr<SharedBlock> block, ByteRange range)
      : block_(std::move(block)), range_(range) {}

  Result<Chunk> Next() override {
    if (done_) return Chunk{};
    done_ = true;
    return block_->Slice(range_);
  }

 private:
  std::shared_ptr<SharedBlock> block_;
  ByteRange range_;
  bool done_ = false;
};

// Bytes [range.first, range.last] of a file, one block per Next(): each block is fetched from the
// content source when its turn comes, and only its part inside the range is emitted. A block that
// cannot be had, does not decode, or is not the size the manifest says ends the body with an
// error. REQUIRES: range.last < file size; `content` outlives the body.
class FileRangeBody final : public BodySource {
 public:
  FileRangeBody(ContentSource& content, std::shared_ptr<const ManifestFile> file, ByteRange range)
      : content_(content), file_(std::move(file)), next_(range.first), last_(range.last) {
    const std::vector<ManifestBlock>& blocks = file_->blocks;
    // The last block that starts at or before the range's first byte.
    const auto after = std::upper_bound(
        blocks.begin(), blocks.end(), range.first,
        [](std::uint64_t offset, const ManifestBlock& block) { return offset < block.offset; });
    index_ = after == blocks.begin() ? 0 : static_cast<std::size_t>(after - blocks.begin()) - 1;
  }

  Result<Chunk> Next() override {
    while (next_ <= last_ && index_ < file_->blocks.size()) {
      const ManifestBlock& entry = file_->blocks[index_++];
      const std::uint64_t end = std::min(last_ + 1, entry.offset + entry.size);
      if (end <= next_) continue;
      auto stored = content_.GetBlock(entry.id);
      if (!stored) return stored.error();
      if (stored->header().raw_size != entry.size) {
        return Error{
            Errc::kIntegrity,
            fmt::format("block {} of {} holds {} bytes but the manifest says {}", entry.id.Hex(),
                        file_->path, stored->header().raw_size, entry.size)};
      }
      SharedBlock block(std::move(*stored));
      auto chunk = block.Slice(ByteRange{next_ - entry.offset, end - 1 - entry.offset});
      if (!chunk) return chunk.error();
      next_ = end;
      return chunk;
    }
    return Chunk{};
  }

 private:
  ContentSource& content_;
  std::shared_ptr<const ManifestFile> file_;
  std::uint64_t next_;  // the next byte of the file to emit
  std::uint64_t last_;
  std::size_t index_ = 0;  // the next block to look at
};

}  // namespace mei::http::internal
