#include "common/store/stored_block.h"

#include <fmt/format.h>
#include <rocksdb/slice.h>

#include <utility>

namespace mei {

StoredBlock::StoredBlock() = default;
StoredBlock::~StoredBlock() = default;
StoredBlock::StoredBlock(StoredBlock&&) noexcept = default;
StoredBlock& StoredBlock::operator=(StoredBlock&&) noexcept = default;

Result<StoredBlock> StoredBlock::Inline(std::unique_ptr<rocksdb::PinnableSlice> slice) {
  StoredBlock block;
  block.slice_ = std::move(slice);
  auto view = ParseFrame(block.frame());
  if (!view) return view.error();
  block.view_ = *view;
  block.header_ = view->header;
  block.payload_size_ = view->payload.size();
  return block;
}

StoredBlock StoredBlock::Hot(std::shared_ptr<const HotEntry> entry) {
  StoredBlock block;
  block.view_ = entry->view;
  block.header_ = entry->view.header;
  block.payload_size_ = entry->view.payload.size();
  block.hot_ = std::move(entry);
  return block;
}

StoredBlock StoredBlock::InSegment(std::shared_ptr<const Segment> segment,
                                   const FrameLocation& where, const FrameHeader& header) {
  StoredBlock block;
  block.segment_ = std::move(segment);
  block.where_ = where;
  block.header_ = header;
  block.payload_size_ = where.length - kFrameHeaderSize;
  return block;
}

std::span<const std::byte> StoredBlock::frame() const {
  if (slice_ != nullptr) {
    return std::as_bytes(std::span<const char>(slice_->data(), slice_->size()));
  }
  if (hot_) return hot_->bytes;
  return loaded_;
}

std::optional<SegmentRegion> StoredBlock::payload_file() const {
  if (!segment_) return std::nullopt;
  return SegmentRegion{segment_, where_.offset + kFrameHeaderSize, payload_size_};
}

Result<void> StoredBlock::Load() {
  if (!segment_) return {};
  std::vector<std::byte> bytes(where_.length);
  if (auto read = segment_->Read(where_.offset, bytes); !read) return read.error();
  auto view = ParseFrame(bytes);
  if (!view) return view.error();
  if (view->header.codec != header_.codec || view->header.raw_size != header_.raw_size ||
      view->header.checksum != header_.checksum) {
    return Error{Errc::kBadFrame,
                 fmt::format("the frame at {} of segment {} is not the one its index entry names",
                             where_.offset, where_.segment)};
  }
  loaded_ = std::move(bytes);
  view_ = FrameView{view->header, std::span<const std::byte>(loaded_).subspan(kFrameHeaderSize)};
  segment_.reset();
  return {};
}

}  // namespace mei
