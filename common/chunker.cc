#include "common/chunker.h"

#include <fmt/format.h>

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

// Cuts all of `file` by content into `blocks`, each shifted by `base`: one block when the file is
// at most single_block_limit (and max_block) long, else FastCDC's cuts, each at most max_block.
// Streams the file through a window at least cdc.max_size long (or to the end of the file), so
// each FastCDC cut sees all the bytes it may depend on and the file is read exactly once.
Result<void> AppendContentCut(const ByteSource& file, std::uint64_t base,
                              const ChunkOptions& options, std::vector<BlockExtent>& blocks) {
  const std::uint64_t size = file.size();
  if (size <= std::min(options.single_block_limit, options.max_block)) {
    if (size > 0) blocks.push_back({base, size, 0});
    return {};
  }
  if (size <= options.single_block_limit) {
    AppendCut(base, base + size, options.max_block, 0, blocks);
    return {};
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
    const std::uint64_t at = base + buffer_offset + begin;
    AppendCut(at, at + cut, options.max_block, 0, blocks);
    begin += cut;
  }
  return {};
}

Result<ChunkPlan> PlanByContent(const ByteSource& file, const ChunkOptions& options) {
  ChunkPlan plan;
  plan.format = FileFormat::kOther;
  if (auto cut = AppendContentCut(file, 0, options, plan.blocks); !cut) return cut.error();
  return plan;
}

// Sets each tensor's first_block and block_count: the blocks that hold its bytes (an empty
// tensor: none, and first_block the block that holds its offset, or the last block at the end).
// REQUIRES: `blocks` are contiguous and cover the file.
void LocateTensors(const std::vector<BlockExtent>& blocks, std::vector<TensorEntry>& tensors) {
  const auto holder = [&](std::uint64_t offset) {
    const auto after = std::upper_bound(
        blocks.begin(), blocks.end(), offset,
        [](std::uint64_t at, const BlockExtent& block) { return at < block.offset; });
    return static_cast<std::size_t>(std::max<std::ptrdiff_t>(after - blocks.begin() - 1, 0));
  };
  for (TensorEntry& tensor : tensors) {
    const std::size_t first = holder(tensor.offset);
    tensor.first_block = static_cast<std::uint32_t>(first);
    tensor.block_count =
        tensor.size == 0
            ? 0
            : static_cast<std::uint32_t>(holder(tensor.offset + tensor.size - 1) - first + 1);
  }
}

// Deeper containers than this (a zip in a zip in a zip...) are cut by content.
constexpr int kMaxNesting = 4;

Result<ChunkPlan> PlanAs(const ByteSource& file, FileFormat format, const ChunkOptions& options,
                         int depth);

// One range of a framed file that starts a block: a tensor or an embedded file.
struct Piece {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  const EmbeddedFile* embedded = nullptr;  // null for a tensor
  std::uint8_t element_width = 0;          // a tensor's byte-grouping hint
};

// A file whose framing is apart (Framing::kApart): each tensor of at least min_tensor_block bytes
// is cut into max_block pieces from its first byte, each embedded file by its own format (or by
// content when opaque, nested too deep, or its format does not read it), and the bytes between
// them (framing, and the smaller tensors) by content.
Result<ChunkPlan> PlanFramedFile(const ByteSource& file, FileFormat format, FileLayout layout,
                                 const ChunkOptions& options, int depth) {
  std::vector<Piece> pieces;
  for (const TensorEntry& tensor : layout.tensors) {
    if (tensor.size >= std::max<std::uint64_t>(options.min_tensor_block, 1)) {
      pieces.push_back({tensor.offset, tensor.size, nullptr, ByteGroupingWidth(tensor.dtype)});
    }
  }
  for (const EmbeddedFile& embedded : layout.embedded) {
    if (embedded.size > 0) pieces.push_back({embedded.offset, embedded.size, &embedded, 0});
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  ChunkPlan plan;
  plan.format = format;
  plan.tensors = std::move(layout.tensors);
  std::vector<TensorEntry> embedded_tensors;
  std::uint64_t at = 0;  // the blocks so far cover [0, at)
  // Framing is cut by content from FastCDC's largest chunk up, not from single_block_limit: a
  // long run of framing (an ONNX graph's nodes, a zip's central directory) that changes in one
  // place then keeps its other chunks.
  ChunkOptions framing_options = options;
  framing_options.single_block_limit =
      std::min<std::uint64_t>(options.single_block_limit, options.cdc.max_size);
  const auto cut_framing = [&](std::uint64_t end) -> Result<void> {
    if (end <= at) return {};
    const SliceByteSource framing(file, at, end - at, file.name());
    return AppendContentCut(framing, at, framing_options, plan.blocks);
  };
  for (const Piece& piece : pieces) {
    if (piece.offset < at || piece.size > file.size() - piece.offset) {
      return Error{Errc::kInternal,
                   fmt::format("{}: the {} layout has overlapping ranges at byte {}", file.name(),
                               NameOf(format), piece.offset)};
    }
    if (auto framing = cut_framing(piece.offset); !framing) return framing.error();
    if (piece.embedded == nullptr) {
      AppendCut(piece.offset, piece.offset + piece.size, options.max_block, piece.element_width,
                plan.blocks);
    } else {
      const EmbeddedFile& embedded = *piece.embedded;
      const SliceByteSource slice(file, embedded.offset, embedded.size,
                                  file.name() + ":" + embedded.name);
      const FileFormat inner = embedded.opaque || depth + 1 >= kMaxNesting
                                   ? FileFormat::kOther
                                   : FormatForPath(embedded.name);
      auto inner_plan = PlanAs(slice, inner, options, depth + 1);
      if (!inner_plan) return inner_plan.error();
      for (BlockExtent block : inner_plan->blocks) {
        block.offset += embedded.offset;
        plan.blocks.push_back(block);
      }
      for (TensorEntry& tensor : inner_plan->tensors) {
        tensor.name = embedded.name + ":" + tensor.name;
        tensor.offset += embedded.offset;
        embedded_tensors.push_back(std::move(tensor));
      }
      for (std::string& reason : inner_plan->fallbacks) plan.fallbacks.push_back(std::move(reason));
    }
    at = piece.offset + piece.size;
  }
  if (auto framing = cut_framing(file.size()); !framing) return framing.error();
  for (TensorEntry& tensor : embedded_tensors) plan.tensors.push_back(std::move(tensor));
  std::stable_sort(plan.tensors.begin(), plan.tensors.end(),
                   [](const TensorEntry& a, const TensorEntry& b) { return a.offset < b.offset; });
  LocateTensors(plan.blocks, plan.tensors);
  return plan;
}

Result<ChunkPlan> PlanAs(const ByteSource& file, FileFormat format, const ChunkOptions& options,
                         int depth) {
  const ModelFormat* model = FindModelFormat(format);
  if (model == nullptr || model->layout == nullptr) return PlanByContent(file, options);
  auto layout = model->layout(file);
  if (!layout) {
    if (model->claimed && depth == 0) return layout.error();
    auto plan = PlanByContent(file, options);
    if (plan) {
      plan->fallbacks.push_back(fmt::format("{} was cut by content, not as {}: {}", file.name(),
                                            model->name, layout.error().message));
    }
    return plan;
  }
  if (model->framing == Framing::kWithPrecedingTensor) {
    return PlanTensorFile(format, file.size(), std::move(layout->tensors), options.max_block);
  }
  return PlanFramedFile(file, format, std::move(*layout), options, depth);
}

}  // namespace

std::string_view NameOf(FileFormat format) {
  const ModelFormat* model = FindModelFormat(format);
  return model != nullptr ? model->name : "other";
}

FileFormat FormatForPath(std::string_view path) {
  for (const ModelFormat& format : ModelFormats()) {
    for (const std::string_view suffix : format.suffixes) {
      if (path.ends_with(suffix)) return format.id;
    }
  }
  return FileFormat::kOther;
}

Result<ChunkPlan> PlanChunks(const ByteSource& file, FileFormat format,
                             const ChunkOptions& options) {
  return PlanAs(file, options.by_content_only ? FileFormat::kOther : format, options, 0);
}

Result<ChunkPlan> PlanChunksAlong(const ByteSource& file, FileFormat format,
                                  std::vector<TensorEntry> tensors, const ChunkOptions& options) {
  if (options.by_content_only) return PlanByContent(file, options);
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.offset < b.offset; });
  std::uint64_t end = 0;
  for (const TensorEntry& tensor : tensors) {
    if (tensor.offset > file.size() || tensor.size > file.size() - tensor.offset ||
        (tensor.size > 0 && tensor.offset < end)) {
      return Error{Errc::kBadModelFile,
                   fmt::format("tensor {} at bytes {}+{} does not fit {} ({} bytes) beside the "
                               "tensors before it",
                               tensor.name, tensor.offset, tensor.size, file.name(), file.size())};
    }
    if (tensor.size > 0) end = tensor.offset + tensor.size;
  }
  return PlanFramedFile(file, format, FileLayout{std::move(tensors), {}}, options, 0);
}

}  // namespace mei
