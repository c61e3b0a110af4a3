#include "tools/synth/npy_writer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/atomic_file.h"
#include "tools/synth/zip_writer.h"

namespace mei::tools {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::uint64_t kArrayAlignment = 64;  // numpy.lib.format.ARRAY_ALIGN
constexpr std::size_t kGrowthAxisMaxDigits = 21;
constexpr std::uint64_t kMaxVersion1HeaderBytes = 0xFFFF;

// Python's repr of a tuple of integers: "()", "(3,)", "(2, 3)".
std::string TupleRepr(const std::vector<std::uint64_t>& values) {
  if (values.size() == 1) return fmt::format("({},)", values[0]);
  return fmt::format("({})", fmt::join(values, ", "));
}

Result<void> AppendNpzMember(ZipWriter& zip, const TensorSpec& tensor, StoredDtype dtype) {
  const std::string header = NpyHeader(NpyDescr(dtype), tensor.shape);
  const std::uint64_t size = header.size() + tensor.Elements() * ElementBytes(dtype);
  if (Result<void> begun = zip.BeginMember(tensor.name + ".npy", size); !begun) return begun;
  if (Result<void> appended = zip.Append(header); !appended) return appended;
  if (Result<void> appended = AppendTensor(zip, tensor, dtype); !appended) return appended;
  return zip.EndMember();
}

Result<std::uint64_t> WriteNpzArchive(ZipWriter& zip, std::span<const TensorSpec> tensors,
                                      StoredDtype dtype) {
  for (const TensorSpec& tensor : tensors) {
    if (Result<void> added = AppendNpzMember(zip, tensor, dtype); !added) return added.error();
  }
  return zip.Finish();
}

}  // namespace

std::string_view NpyDescr(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return "<f2";
    case StoredDtype::kF32:
      return "<f4";
    case StoredDtype::kBf16:
      break;
  }
  return "<u2";
}

std::string NpyHeader(std::string_view descr, const std::vector<std::uint64_t>& shape,
                      bool fortran_order) {
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr,
                                 fortran_order ? "True" : "False", TupleRepr(shape));
  if (!shape.empty()) {
    const std::size_t growing_digits =
        fmt::formatted_size("{}", fortran_order ? shape.back() : shape.front());
    dict.append(kGrowthAxisMaxDigits - growing_digits, ' ');
  }
  return WrapNpyHeader(dict);
}

std::string WrapNpyHeader(std::string_view dict, int major_version) {
  const std::uint64_t text_bytes = dict.size() + 1;  // with the final newline
  const auto padded_bytes = [&](int version) {
    const std::uint64_t prefix_bytes = kMagic.size() + 2 + (version == 1 ? 2 : 4);
    return text_bytes + kArrayAlignment - (prefix_bytes + text_bytes) % kArrayAlignment;
  };
  if (major_version == 0) major_version = padded_bytes(1) <= kMaxVersion1HeaderBytes ? 1 : 2;
  const std::uint64_t header_bytes = padded_bytes(major_version);
  std::string header(kMagic);
  header.push_back(static_cast<char>(major_version));
  header.push_back('\0');
  for (int i = 0; i < (major_version == 1 ? 2 : 4); ++i) {
    header.push_back(static_cast<char>(header_bytes >> (8 * i)));
  }
  header += dict;
  header.append(header_bytes - text_bytes, ' ');
  header.push_back('\n');
  return header;
}

Result<std::uint64_t> WriteNpy(const std::filesystem::path& path, const TensorSpec& tensor,
                               StoredDtype dtype) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  if (Result<void> header = file->Append(NpyHeader(NpyDescr(dtype), tensor.shape)); !header) {
    return header.error();
  }
  if (Result<void> data = AppendTensorData(tensor, dtype, *file); !data) return data.error();
  const std::uint64_t size = file->size();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

Result<std::uint64_t> WriteNpz(const std::filesystem::path& path,
                               std::span<const TensorSpec> tensors, StoredDtype dtype) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  ZipWriter zip(AppendTo(*file));
  Result<std::uint64_t> size = WriteNpzArchive(zip, tensors, dtype);
  if (!size) return size.error();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

std::string NpzBytes(std::span<const TensorSpec> tensors, StoredDtype dtype) {
  return ZipBytes([&](ZipWriter& zip) {
    for (const TensorSpec& tensor : tensors) AppendNpzMember(zip, tensor, dtype).value();
  });
}

}  // namespace mei::tools
