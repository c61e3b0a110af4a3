// Body sources over stored blocks: the bytes of one block, and a byte range of a file reassembled
// block by block.
//
// Raw-codec blocks are sent without a copy: a frame in a segment file as a file region (the server
// sends it with sendfile(2); the chunk's owner holds the segment open), an inline one from
// memory (RocksDB's pinned buffer, or the store's HotEntries). Compressed ones are read and decoded
// into a buffer that the chunk owns. A file body holds at most one block at a time, so memory does
// not grow with the file. Nothing here recomputes a block's SHA-256 or checksums a frame that is
// sent as it is stored: ids were verified when blocks were stored, decoding verifies the frame's
// checksum and raw size, and clients verify the SHA-256 of what they receive against the manifest.
// Header-only; used by data_plane.cc.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/awaitable.hpp>
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
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/codec.h"
#include "common/http/data_plane.h"
#include "common/http/message.h"
#include "common/http/range.h"
#include "common/manifest.h"
#include "common/run_blocking.h"
#include "common/store.h"

namespace mei::http::internal {

// Block decoders shared by every thread of the process. A decoder keeps a scratch buffer as large
// as the largest block it decoded, so one per thread would keep a tensor block's worth (4 MiB)
// for every worker thread (32 on a cache node) as long as the threads live; fresh decoders for
// every block would pay for faulting in that buffer each time. The pool keeps at most kKept idle
// decoders; decodes beyond that many at once use decoders that are dropped afterwards. Thread-safe.
class DecoderPool {
 public:
  static constexpr std::size_t kKept = 4;

  static std::unique_ptr<BlockDecoder> Take() {
    {
      std::lock_guard lock(Mutex());
      if (!Idle().empty()) {
        std::unique_ptr<BlockDecoder> decoder = std::move(Idle().back());
        Idle().pop_back();
        return decoder;
      }
    }
    return std::make_unique<BlockDecoder>();
  }

  static void Give(std::unique_ptr<BlockDecoder> decoder) {
    std::lock_guard lock(Mutex());
    if (Idle().size() < kKept) Idle().push_back(std::move(decoder));
  }

 private:
  static std::mutex& Mutex() {
    static std::mutex mutex;
    return mutex;
  }
  static std::vector<std::unique_ptr<BlockDecoder>>& Idle() {
    static std::vector<std::unique_ptr<BlockDecoder>> idle;
    return idle;
  }
};

// The raw bytes of a compressed stored block. REQUIRES: block.in_memory().
[[nodiscard]] inline Result<std::shared_ptr<const std::vector<std::byte>>> DecodeStoredBlock(
    const StoredBlock& block) {
  auto raw = std::make_shared<std::vector<std::byte>>();
  std::unique_ptr<BlockDecoder> decoder = DecoderPool::Take();
  const Result<void> decoded = decoder->Decode(block.frame(), *raw);
  DecoderPool::Give(std::move(decoder));
  if (!decoded) return decoded.error();
  return std::shared_ptr<const std::vector<std::byte>>(std::move(raw));
}

// `length` bytes of a stored payload from `offset`, as a chunk that `owner` keeps valid: a file
// region of its segment, or a span of the frame in memory.
[[nodiscard]] inline Chunk PayloadChunk(const StoredBlock& block, std::uint64_t offset,
                                        std::uint64_t length, std::shared_ptr<const void> owner) {
  if (const std::optional<SegmentRegion> region = block.payload_file()) {
    Chunk chunk;
    chunk.file = FileRegion{region->segment->fd(), region->offset + offset, length};
    chunk.owner = std::move(owner);
    return chunk;
  }
  return Chunk{block.payload().subspan(offset, length), std::move(owner)};
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
  std::optional<Result<Chunk>> TryNext() override { return Next(); }

 private:
  Chunk chunk_;
  bool done_ = false;
};

// One stored block shared by the bodies that send it (a multipart reply opens several ranges;
// concurrent downloads share it through LiveBlocks): compressed blocks are read and decoded at
// most once, on the first body read, so HEAD, 304 and 416 answers never read a payload. Once
// decoded, the stored frame is let go, so a block is held once, as its raw bytes. Chunks keep it
// alive. Thread-safe. REQUIRES: owned by a shared_ptr (chunks share its ownership).
class SharedBlock : public std::enable_shared_from_this<SharedBlock> {
 public:
  explicit SharedBlock(StoredBlock block)
      : header_(block.header()), frame_(std::make_shared<StoredBlock>(std::move(block))) {}

  const FrameHeader& header() const { return header_; }

  // Bytes [range.first, range.last] of the raw block; kInternal for a range outside it.
  [[nodiscard]] Result<Chunk> Slice(ByteRange range) {
    if (range.first > range.last || range.last >= header_.raw_size) {
      return Error{Errc::kInternal, "a block range lies outside the block"};
    }
    std::lock_guard lock(mu_);
    if (header_.codec == Codec::kRaw) {  // the frame's payload is the raw bytes; it is kept
      return PayloadChunk(*frame_, range.first, range.size(), shared_from_this());
    }
    if (!raw_) {
      if (auto loaded = frame_->Load(); !loaded) return loaded.error();
      auto raw = DecodeStoredBlock(*frame_);
      if (!raw) return raw.error();
      raw_ = std::move(*raw);
      frame_.reset();
    }
    return Chunk{std::span<const std::byte>(*raw_).subspan(range.first, range.size()),
                 shared_from_this()};
  }

  // Slice(range) when it needs no decoding (a raw block, or one decoded already); else nullopt.
  [[nodiscard]] std::optional<Result<Chunk>> TrySlice(ByteRange range) {
    {
      std::lock_guard lock(mu_);
      if (header_.codec != Codec::kRaw && !raw_) return std::nullopt;
    }
    return Slice(range);
  }

  // The stored payload as is (the raw bytes, or one zstd frame), pinned by the chunk; nullopt
  // once a compressed block has been decoded and its frame let go.
  [[nodiscard]] std::optional<Chunk> Payload() {
    std::lock_guard lock(mu_);
    if (!frame_) return std::nullopt;
    return PayloadChunk(*frame_, 0, frame_->payload_size(), frame_);
  }

 private:
  const FrameHeader header_;
  std::mutex mu_;
  std::shared_ptr<StoredBlock> frame_;  // null once a compressed block is decoded
  std::shared_ptr<const std::vector<std::byte>> raw_;
};

// The blocks being sent right now, shared by every body that needs one: concurrent downloads of
// one file read (and decode) each block once and hold one copy of it, instead of one per client.
// An entry lives as long as some body holds the block. Thread-safe.
class LiveBlocks {
 public:
  // The block `id` from `content`, or the copy another body holds now. Suspends while a cache
  // fills the block.
  [[nodiscard]] boost::asio::awaitable<Result<std::shared_ptr<SharedBlock>>> Get(
      ContentSource& content, BlockId id) {
    if (auto live = Find(id)) co_return live;
    auto stored = co_await content.GetBlock(id);  // outside the lock: it may read or fill
    if (!stored) co_return stored.error();
    co_return Keep(id, std::move(*stored));
  }

  // Get(content, id) when it needs no more than a lookup (ContentSource::TryGetBlock); else null.
  [[nodiscard]] std::shared_ptr<SharedBlock> TryGet(ContentSource& content, const BlockId& id) {
    if (auto live = Find(id)) return live;
    auto stored = content.TryGetBlock(id);
    if (!stored) return nullptr;
    return Keep(id, std::move(*stored));
  }

 private:
  std::shared_ptr<SharedBlock> Find(const BlockId& id) {
    std::lock_guard lock(mu_);
    if (auto found = blocks_.find(id); found != blocks_.end()) return found->second.lock();
    return nullptr;
  }

  std::shared_ptr<SharedBlock> Keep(const BlockId& id, StoredBlock stored) {
    auto block = std::make_shared<SharedBlock>(std::move(stored));
    std::lock_guard lock(mu_);
    if (blocks_.size() >= kSweepAt) {
      std::erase_if(blocks_, [](const auto& entry) { return entry.second.expired(); });
    }
    blocks_[id] = block;
    return block;
  }

  static constexpr std::size_t kSweepAt = 256;  // expired entries are dropped past this many
  std::mutex mu_;
  std::unordered_map<BlockId, std::weak_ptr<SharedBlock>> blocks_;
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
  std::optional<Result<Chunk>> TryNext() override {
    if (done_) return Result<Chunk>(Chunk{});
    auto chunk = block_->TrySlice(range_);
    if (chunk) done_ = true;
    return chunk;
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

// Blocks read ahead by all file bodies of the process together. With a few downloads each reads
// ahead; with many, the cores are busy anyway and a block ahead per download would only hold
// memory (16 downloads x 4 MiB), so read-ahead stops at this many blocks.
class ReadAheadBudget {
 public:
  static constexpr int kMaxBlocks = 4;

  // A slot for one block read ahead, or false when all are taken. Thread-safe.
  static bool Take() {
    int used = Used().load(std::memory_order_relaxed);
    while (used < kMaxBlocks) {
      if (Used().compare_exchange_weak(used, used + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  static void Give() { Used().fetch_sub(1, std::memory_order_relaxed); }

 private:
  static std::atomic<int>& Used() {
    static std::atomic<int> used{0};
    return used;
  }
};

// Bytes of blocks that file bodies keep in memory ahead of the one they send (readers of fills
// started ahead, ContentSource::StreamAhead), all bodies of the process together. Past it, a
// body's later blocks are only hinted (WillNeed), stored when filled and read back from the store
// when their turn comes.
class FillAheadBudget {
 public:
  static constexpr std::uint64_t kMaxBytes = 128ull << 20;

  // `bytes` of the budget, given back when destroyed.
  class Hold {
   public:
    explicit Hold(std::uint64_t bytes) : bytes_(bytes) {}
    Hold(Hold&& other) noexcept : bytes_(std::exchange(other.bytes_, 0)) {}
    Hold& operator=(Hold&& other) noexcept {
      std::swap(bytes_, other.bytes_);
      return *this;
    }
    ~Hold() { Used().fetch_sub(bytes_, std::memory_order_relaxed); }

   private:
    std::uint64_t bytes_;
  };

  // `bytes` of the budget, or nullopt when they would pass kMaxBytes. Thread-safe.
  static std::optional<Hold> Take(std::uint64_t bytes) {
    std::uint64_t used = Used().load(std::memory_order_relaxed);
    while (used + bytes <= kMaxBytes) {
      if (Used().compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) {
        return Hold(bytes);
      }
    }
    return std::nullopt;
  }

 private:
  static std::atomic<std::uint64_t>& Used() {
    static std::atomic<std::uint64_t> used{0};
    return used;
  }
};

// Bytes [range.first, range.last] of a file, one block per chunk: only each block's part inside
// the range is emitted. A block that has to be filled is read as it arrives from upstream
// (ContentSource::StreamBlock, cut-through: several chunks per block, NextAsync suspending while
// none has come, holding no thread), or, from a source that does not stream, awaited whole. The
// kFillAhead blocks after it are asked for ahead, so that a cache fills them in parallel while
// earlier ones are sent: as readers of their fills (ContentSource::StreamAhead) while
// FillAheadBudget allows, which keep their bytes in memory until sent, else as a hint
// (ContentSource::WillNeed). A fill read ahead that failed before its block's turn is tried once
// more then. A streamed block that turns out wrong ends the body with an error, so the client's
// transfer is cut short. Once a block has needed decoding, the next kReadAhead blocks that are
// held are read and decoded ahead on ReadAheadPool(), as long as the process-wide ReadAheadBudget
// allows, so decoding runs on two cores and overlaps the socket writes; read-ahead never waits for
// a fill (a block not held is left to NextAsync). While blocks need no decoding (raw: file regions
// of a segment, or small blocks inline in the store's index) the next one is produced by a lookup
// on the caller's thread instead (TryNext). A block that cannot be had, does not decode, or is
// not the size the manifest says ends the body with an error. Memory: at most 1 + kReadAhead
// decoded blocks per body, and ReadAheadBudget::kMaxBlocks ahead in all; fills read ahead, at
// most FillAheadBudget::kMaxBytes in all. REQUIRES: range.last < file size; `content` and `live`
// outlive the body.
class FileRangeBody final : public BodySource {
 public:
  static constexpr std::size_t kReadAhead = 1;
  static constexpr std::size_t kFillAhead = 8;

  FileRangeBody(ContentSource& content, LiveBlocks& live, std::shared_ptr<const ManifestFile> file,
                ByteRange range)
      : content_(content),
        live_(live),
        file_(std::move(file)),
        next_(range.first),
        last_(range.last) {
    const std::vector<ManifestBlock>& blocks = file_->blocks;
    // The last block that starts at or before the range's first byte.
    const auto after = std::upper_bound(
        blocks.begin(), blocks.end(), range.first,
        [](std::uint64_t offset, const ManifestBlock& block) { return offset < block.offset; });
    index_ = after == blocks.begin() ? 0 : static_cast<std::size_t>(after - blocks.begin()) - 1;
  }

  // Waits for read-ahead still running (a lookup and a decode, never a fill): it uses `content`
  // and the file.
  ~FileRangeBody() override {
    for (Pending& pending : pending_) {
      pending.chunk.wait();
      ReadAheadBudget::Give();
    }
  }

  // For callers outside any executor; the server calls NextAsync.
  Result<Chunk> Next() override { return RunBlocking(NextAsync()); }

  boost::asio::awaitable<Result<Chunk>> NextAsync() override {
    HintFillAhead();
    if (streaming_) co_return co_await ReadStreaming();
    std::optional<Piece> piece;
    std::optional<Result<Chunk>> chunk;
    if (deferred_) {  // a piece TryNext could not produce with a lookup alone
      piece = deferred_;
      deferred_.reset();
    } else if (!pending_.empty()) {
      std::optional<Result<Chunk>> ahead = pending_.front().chunk.get();
      piece = pending_.front().piece;
      pending_.pop_front();
      ReadAheadBudget::Give();
      if (ahead) chunk = std::move(*ahead);
    } else {
      piece = NextPiece();
      if (!piece) co_return Chunk{};
    }
    if (read_ahead_) ReadAhead();
    light_ = false;
    if (!chunk) chunk = co_await Produce(*piece);
    // A block that took a lookup alone (a raw one, in a segment or inline), not a decode: the next
    // one most likely will too, and reading it ahead on another thread would cost more thread
    // switches than it saves. Read-ahead resumes after a block that had to be decoded or awaited
    // whole; not after a streamed one, whose successors are most likely being filled too.
    read_ahead_ = !*chunk || (!(*chunk)->file && !light_);
    co_return std::move(*chunk);
  }

  // Only while not reading ahead (the blocks need no decoding): the next piece when its block is
  // held raw and needs a lookup alone. Otherwise the piece waits for NextAsync().
  std::optional<Result<Chunk>> TryNext() override {
    if (read_ahead_ || !pending_.empty() || deferred_ || streaming_) return std::nullopt;
    HintFillAhead();
    auto piece = NextPiece();
    if (!piece) return Result<Chunk>(Chunk{});
    if (IsAhead(piece->index)) {  // its bytes are in memory: NextAsync streams them
      deferred_ = piece;
      return std::nullopt;
    }
    const ManifestBlock& entry = file_->blocks[piece->index];
    std::shared_ptr<SharedBlock> block = live_.TryGet(content_, entry.id);
    std::optional<Result<Chunk>> chunk;
    if (block) chunk = Slice(*block, *piece);
    if (!chunk) {
      deferred_ = piece;
      return std::nullopt;
    }
    read_ahead_ = !*chunk;
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
    for (; from < end && blocks[from].offset <= last_; ++from) {
      auto hold = FillAheadBudget::Take(blocks[from].size);
      if (!hold) {
        ids.push_back(blocks[from].id);
      } else if (auto reader = content_.StreamAhead(blocks[from].id)) {
        ahead_.push_back(Ahead{from, std::move(reader), std::move(*hold)});
      }
    }
    hinted_until_ = std::max(hinted_until_, from);
    if (!ids.empty()) content_.WillNeed(ids);
  }

  // Whether block `index` has a reader of its fill, taken ahead.
  bool IsAhead(std::size_t index) const {
    return std::any_of(ahead_.begin(), ahead_.end(),
                       [index](const Ahead& ahead) { return ahead.index == index; });
  }

  // The reader taken ahead for block `index`, if any; readers of blocks before it, which the
  // range skipped, are let go.
  std::unique_ptr<BlockReader> TakeAhead(std::size_t index) {
    while (!ahead_.empty() && ahead_.front().index < index) ahead_.pop_front();
    if (ahead_.empty() || ahead_.front().index != index) return nullptr;
    std::unique_ptr<BlockReader> reader = std::move(ahead_.front().reader);
    ahead_.pop_front();
    return reader;
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

  // Starts reading the next pieces ahead, up to kReadAhead and as the budget allows.
  void ReadAhead() {
    while (pending_.size() < kReadAhead && !IsAhead(index_) && ReadAheadBudget::Take()) {
      auto piece = NextPiece();
      if (!piece) {
        ReadAheadBudget::Give();
        return;
      }
      auto task = std::make_shared<std::packaged_task<std::optional<Result<Chunk>>()>>(
          [this, piece = *piece] { return ProduceHeld(piece); });
      pending_.push_back(Pending{task->get_future(), *piece});
      boost::asio::post(ReadAheadPool(), [task] { (*task)(); });
    }
  }

  // The piece's chunk, filling its block when a cache lacks it: the first chunk of it as it
  // arrives when the source streams, else the whole piece once the block is stored.
  boost::asio::awaitable<Result<Chunk>> Produce(Piece piece) {
    if (std::unique_ptr<BlockReader> reader = TakeAhead(piece.index)) {
      streaming_.emplace(Streaming{std::move(reader), piece, piece.within.first, true});
      co_return co_await ReadStreaming();
    }
    co_return co_await ProduceNow(piece);
  }

  // Produce for a block with no reader taken ahead.
  boost::asio::awaitable<Result<Chunk>> ProduceNow(Piece piece) {
    const BlockId& id = file_->blocks[piece.index].id;
    std::shared_ptr<SharedBlock> block = live_.TryGet(content_, id);
    light_ = block && block->header().codec == Codec::kRaw;
    if (!block) {
      if (std::unique_ptr<BlockReader> reader = content_.StreamBlock(id)) {
        streaming_.emplace(Streaming{std::move(reader), piece, piece.within.first, false});
        co_return co_await ReadStreaming();
      }
      auto filled = co_await live_.Get(content_, id);
      if (!filled) co_return filled.error();
      block = std::move(*filled);
    }
    if (auto wrong = CheckSize(*block, piece)) co_return *wrong;
    co_return block->Slice(piece.within);
  }

  // The next chunk of the piece being streamed.
  boost::asio::awaitable<Result<Chunk>> ReadStreaming() {
    light_ = true;
    Streaming& streaming = *streaming_;
    const std::uint64_t end = streaming.piece.within.last + 1;
    Result<Chunk> chunk = co_await streaming.reader->Read(streaming.next, end - streaming.next);
    if (!chunk && streaming.ahead && streaming.next == streaming.piece.within.first) {
      // A fill started ahead failed before any of it was sent: one more try, now.
      const Piece piece = streaming.piece;
      streaming_.reset();
      co_return co_await ProduceNow(piece);
    }
    if (chunk) {
      if (auto wrong = CheckSize(streaming.reader->raw_size(), streaming.piece)) chunk = *wrong;
    }
    if (!chunk) {
      streaming_.reset();
      co_return chunk.error();
    }
    streaming.next += chunk->size();
    if (streaming.next == end) streaming_.reset();
    co_return chunk;
  }

  // The piece's chunk when its block is held (decoded if need be), else nullopt; never fills.
  std::optional<Result<Chunk>> ProduceHeld(const Piece& piece) const {
    std::shared_ptr<SharedBlock> block = live_.TryGet(content_, file_->blocks[piece.index].id);
    if (!block) return std::nullopt;
    if (auto wrong = CheckSize(*block, piece)) return Result<Chunk>(*wrong);
    return block->Slice(piece.within);
  }

  // Produce's non-blocking half (TryNext): nullopt when slicing would decode.
  std::optional<Result<Chunk>> Slice(SharedBlock& block, const Piece& piece) const {
    if (auto wrong = CheckSize(block, piece)) return Result<Chunk>(*wrong);
    return block.TrySlice(piece.within);
  }

  // kIntegrity when the block is not the size the manifest says.
  std::optional<Error> CheckSize(const SharedBlock& block, const Piece& piece) const {
    return CheckSize(block.header().raw_size, piece);
  }
  std::optional<Error> CheckSize(std::uint64_t raw_size, const Piece& piece) const {
    const ManifestBlock& entry = file_->blocks[piece.index];
    if (raw_size == entry.size) return std::nullopt;
    return Error{Errc::kIntegrity,
                 fmt::format("block {} of {} holds {} bytes but the manifest says {}",
                             entry.id.Hex(), file_->path, raw_size, entry.size)};
  }

  ContentSource& content_;
  LiveBlocks& live_;
  std::shared_ptr<const ManifestFile> file_;
  std::uint64_t next_;  // the next byte of the file to plan
  std::uint64_t last_;
  std::size_t index_ = 0;         // the next block to look at
  std::size_t hinted_until_ = 0;  // blocks before this were passed to WillNeed
  struct Pending {
    std::future<std::optional<Result<Chunk>>> chunk;  // nullopt: not held, NextAsync fills it
    Piece piece;
  };
  std::deque<Pending> pending_;  // read ahead, in file order; each holds a ReadAheadBudget slot
  // Whether to produce the next block ahead (see NextAsync). Off until a block turns out to need
  // decoding or a whole fill: a hot raw file then costs no thread switch beyond the first block's.
  bool read_ahead_ = false;
  std::optional<Piece> deferred_;  // planned by TryNext, to be produced by NextAsync
  // The piece whose block is being read as it arrives, and its next byte within the block.
  struct Streaming {
    std::unique_ptr<BlockReader> reader;
    Piece piece;
    std::uint64_t next;
    bool ahead;  // the reader was taken ahead (HintFillAhead)
  };
  std::optional<Streaming> streaming_;
  // Readers of fills ahead of the next block, in file order, each with its share of the budget.
  struct Ahead {
    std::size_t index;
    std::unique_ptr<BlockReader> reader;
    FillAheadBudget::Hold hold;
  };
  std::deque<Ahead> ahead_;
  // The last chunk took a lookup of a raw block or came from a stream: no decode, no whole fill.
  bool light_ = false;
};

}  // namespace mei::http::internal
