#include "common/chunker.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/dtype.h"

namespace mei {
namespace {

constexpr std::uint64_t kCdcReadBytes = 4ull << 20;

void AppendCut(std::uint64_t begin, std::uint64_t end, std::uint64_t max_block,
               std::uint8_t element_width, std::vector<BlockExtent>& blocks) {
  for (std::uint64_t at = begin; at < end; at += std::min(max_block, end - at)) {
    blocks.push_back({at, std::min(max_block, end - at), element_width});
  }
}

// Shared by safetensors and GGUF: one block for [0, first tensor), then each tensor's range up
// to the next tensor that starts at or after its end (or the end of the file) cut into max_block
// pieces from its first byte. The parsers allow an empty tensor anywhere, even inside another
// tensor's bytes (it occupies none); such a tensor ends no range and owns no blocks, and its
// first_block is the block that holds its offset.
ChunkPlan PlanTensorFile(FileFormat format, std::uint64_t file_size,
                         std::vector<TensorEntry> tensors, std::uint64_t max_block) {
  // Zero-length tensors first among equal offsets, so they own an empty range and the tensor
  // that really starts there owns its bytes.
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.size < b.size;
  });
  ChunkPlan plan;
  plan.format = format;
  const std::uint64_t header_end = tensors.empty() ? file_size : tensors.front().offset;
  if (header_end > 0) plan.blocks.push_back({0, header_end, 0});
  std::uint64_t planned_end = header_end;  // the blocks so far cover [0, planned_end)
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    TensorEntry& tensor = tensors[i];
    if (tensor.offset < planned_end) {  // an empty tensor inside an earlier tensor's bytes
      const auto holder = std::upper_bound(
          plan.blocks.begin(), plan.blocks.end(), tensor.offset,
          [](std::uint64_t offset, const BlockExtent& block) { return offset < block.offset; });
      tensor.first_block = static_cast<std::uint32_t>(holder - plan.blocks.begin() - 1);
      tensor.block_count = 0;
      continue;
    }
    std::size_t next = i + 1;
    while (next < tensors.size() && tensors[next].offset < tensor.offset + tensor.size) ++next;
    const std::uint64_t range_end = next < tensors.size() ? tensors[next].offset : file_size;
    tensor.first_block = static_cast<std::uint32_t>(plan.blocks.size());
    AppendCut(tensor.offset, range_end, max_block, ByteGroupingWidth(tensor.dtype), plan.blocks);
    tensor.block_count = static_cast<std::uint32_t>(plan.blocks.size() - tensor.first_block);
    planned_end = range_end;
  }
  plan.tensors = std::move(tensors);
  return plan;
}

// Streams the file through a window at least cdc.max_size long (or to the end of the file), so
// each FastCDC cut sees all the bytes it may depend on and the file is read exactly once.
Result<ChunkPlan> PlanOtherFile(const ByteSource& file, const ChunkOptions& options) {
  ChunkPlan plan;
  plan.format = FileFormat::kOther;
  const std::uint64_t size = file.size();
  if (size <= options.single_block_limit) {
    if (size > 0) plan.blocks.push_back({0, size, 0});
    return plan;
  }
  const std::size_t window = std::max<std::size_t>(options.cdc.max_size, kCdcReadBytes);
  std::vector<std::byte> buffer(2 * window);
  std::uint64_t buffer_offset = 0;  // file offset of buffer[0]
  std::size_t begin = 0;            // next chunk starts at buffer[begin]
  std::size_t end = 0;              // valid bytes end at buffer[end]
  while (buffer_offset + begin < size) {
    if (end - begin < options.cdc.max_size && buffer_offset + end < size) {
      std::memmove(buffer.data(), buffer.data() + begin, end - begin);
      buffer_offset += begin;
      end -= begin;
      begin = 0;
      const std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>(buffer.size() - end, size - buffer_offset - end));
      if (auto read = file.ReadAt(buffer_offset + end, std::span(buffer).subspan(end, want));
          !read) {
        return read.error();
      }
      end += want;
    }
    const std::size_t cut =
        FastCdcCut(std::span<const std::byte>(buffer).subspan(begin, end - begin), options.cdc);
    plan.blocks.push_back({buffer_offset + begin, cut, 0});
    begin += cut;
  }
  return plan;
}

}  // namespace

std::string_view NameOf(FileFormat format) {
  const ModelFormat* model = FindModelFormat(format);
  return model != nullptr ? model->name : "other";
}

FileFormat FormatForPath(std::string_view path) {
  for (const ModelFormat& format : ModelFormats()) {
    if (path.ends_with(format.suffix)) return format.id;
  }
  return FileFormat::kOther;
}

Result<ChunkPlan> PlanChunks(const ByteSource& file, FileFormat format,
                             const ChunkOptions& options) {
  const ModelFormat* model = FindModelFormat(format);
  if (model == nullptr) return PlanOtherFile(file, options);
  auto tensors = model->tensors(file);
  if (!tensors) return tensors.error();
  return PlanTensorFile(format, file.size(), std::move(*tensors), options.max_block);
}

}  // namespace mei
