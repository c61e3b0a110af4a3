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
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
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

// Threads that fetch and decode blocks ahead of the ones being sent, shared by every file body
// of the process so that read-ahead stays bounded however many downloads run.
inline boost::asio::thread_pool& ReadAheadPool() {
  static boost::asio::thread_pool pool(std::max(2u, std::thread::hardware_concurrency()));
  return pool;
}

// Bytes [range.first, range.last] of a file, one block per Next(): only each block's part inside
// the range is emitted. Whole-file downloads read ahead: while the caller takes block i, block
// i+1 (kReadAhead blocks) is already being fetched and decoded on ReadAheadPool(), so decoding
// runs on two cores and overlaps the socket writes. A block that cannot be had, does not decode,
// or is not the size the manifest says ends the body with an error. Memory: at most
// 1 + kReadAhead decoded blocks per body. REQUIRES: range.last < file size; `content` outlives
// the body.
class FileRangeBody final : public BodySource {
 public:
  static constexpr std::size_t kReadAhead = 1;
  // How many blocks ahead the content source is told about (ContentSource::WillNeed), so that a
  // cache fills a cold file's blocks in parallel while earlier ones are sent.
  static constexpr std::size_t kFillAhead = 8;

  FileRangeBody(ContentSource& content, std::shared_ptr<const ManifestFile> file, ByteRange range)
      : content_(content), file_(std::move(file)), next_(range.first), last_(range.last) {
    const std::vector<ManifestBlock>& blocks = file_->blocks;
    // The last block that starts at or before the range's first byte.
    const auto after = std::upper_bound(
        blocks.begin(), blocks.end(), range.first,
        [](std::uint64_t offset, const ManifestBlock& block) { return offset < block.offset; });
    index_ = after == blocks.begin() ? 0 : static_cast<std::size_t>(after - blocks.begin()) - 1;
  }

  // Waits for read-ahead still running: it uses `content` and the file.
  ~FileRangeBody() override {
    for (auto& pending : pending_) pending.wait();
  }

  Result<Chunk> Next() override {
    HintFillAhead();
    while (pending_.size() <= kReadAhead) {
      auto piece = NextPiece();
      if (!piece) break;
      auto task = std::make_shared<std::packaged_task<Result<Chunk>()>>(
          [this, piece = *piece] { return Produce(piece); });
      pending_.push_back(task->get_future());
      if (pending_.size() == 1) {
        (*task)();  // the caller's own block: produce it on this thread
      } else {
        boost::asio::post(ReadAheadPool(), [task] { (*task)(); });
      }
    }
    if (pending_.empty()) return Chunk{};
    Result<Chunk> chunk = pending_.front().get();
    pending_.pop_front();
    return chunk;
  }

 private:
  // Part [first, last] of block `index`.
  struct Piece {
    std::size_t index;
    ByteRange within;
  };

  // Tells the content source about the blocks up to kFillAhead past the next one to plan, each
  // block once.
  void HintFillAhead() {
    const std::vector<ManifestBlock>& blocks = file_->blocks;
    const std::size_t end = std::min(blocks.size(), index_ + kFillAhead);
    // Only blocks that hold bytes of the range: past last_, nothing more is read.
    std::size_t from = std::max(hinted_until_, index_);
    std::vector<BlockId> ids;
    for (; from < end && blocks[from].offset <= last_; ++from) ids.push_back(blocks[from].id);
    hinted_until_ = std::max(hinted_until_, from);
    if (!ids.empty()) content_.WillNeed(ids);
  }

  std::optional<Piece> NextPiece() {
    while (next_ <= last_ && index_ < file_->blocks.size()) {
      const std::size_t index = index_++;
      const ManifestBlock& entry = file_->blocks[index];
      const std::uint64_t end = std::min(last_ + 1, entry.offset + entry.size);
      if (end <= next_) continue;
      Piece piece{index, ByteRange{next_ - entry.offset, end - 1 - entry.offset}};
      next_ = end;
      return piece;
    }
    return std::nullopt;
  }

  Result<Chunk> Produce(const Piece& piece) const {
    const ManifestBlock& entry = file_->blocks[piece.index];
    auto stored = content_.GetBlock(entry.id);
    if (!stored) return stored.error();
    if (stored->header().raw_size != entry.size) {
      return Error{Errc::kIntegrity,
                   fmt::format("block {} of {} holds {} bytes but the manifest says {}",
                               entry.id.Hex(), file_->path, stored->header().raw_size, entry.size)};
    }
    SharedBlock block(std::move(*stored));
    return block.Slice(piece.within);
  }

  ContentSource& content_;
  std::shared_ptr<const ManifestFile> file_;
  std::uint64_t next_;  // the next byte of the file to plan
  std::uint64_t last_;
  std::size_t index_ = 0;                           // the next block to look at
  std::size_t hinted_until_ = 0;                    // blocks before this were passed to WillNeed
  std::deque<std::future<Result<Chunk>>> pending_;  // in file order; front is the next chunk
};

}  // namespace mei::http::internal
