#include "tools/synth/tensor_data.h"

#include <algorithm>
#include <bit>
#include <span>
#include <vector>

namespace mei::tools {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensor bytes are written in host order, which must be little-endian");

constexpr std::uint64_t kChunkBytes = 4 << 20;

template <class Element, class FillFn>
Result<void> AppendElements(const TensorSpec& tensor, AtomicFile& file, FillFn fill) {
  std::vector<Element> chunk(kChunkBytes / sizeof(Element));
  const std::uint64_t elements = tensor.Elements();
  for (std::uint64_t first = 0; first < elements; first += chunk.size()) {
    const auto count =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), elements - first));
    const std::span<Element> part(chunk.data(), count);
    fill(tensor.stream, first, part);
    if (Result<void> appended = file.Append(std::as_bytes(part)); !appended) return appended;
  }
  return {};
}

}  // namespace

std::string_view DtypeName(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return "F16";
    case StoredDtype::kF32:
      return "F32";
    case StoredDtype::kBf16:
      break;
  }
  return "BF16";
}

std::uint64_t ElementBytes(StoredDtype dtype) { return dtype == StoredDtype::kF32 ? 4 : 2; }

Result<void> AppendTensorData(const TensorSpec& tensor, StoredDtype dtype, AtomicFile& file) {
  switch (dtype) {
    case StoredDtype::kF16:
      return AppendElements<std::uint16_t>(tensor, file, FillF16);
    case StoredDtype::kF32:
      return AppendElements<std::uint32_t>(tensor, file, FillF32);
    case StoredDtype::kBf16:
      break;
  }
  return AppendElements<std::uint16_t>(tensor, file, FillBf16);
}

}  // namespace mei::tools
