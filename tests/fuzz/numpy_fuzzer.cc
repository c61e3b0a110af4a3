// Fuzz target: the NumPy .npy parser (common/formats/numpy.h).
//
// The input is a whole file, read through a MemoryByteSource as ingest reads a file. A rejection
// must be kBadModelFile with a sentence (kIo would mean the parser read past the end). A file
// that parses must hold what the contract promises: the data starts inside the file and the
// tensor "array" covers exactly the bytes after the header, a whole number of items, at most
// 64 dimensions, a dtype name.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/byte_source.h"
#include "common/formats/numpy.h"
#include "common/internal/checked_math.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.npy");
  const Result<NpyArray> array = ParseNpy(file);
  if (!array) {
    FUZZ_CHECK(array.error().code == Errc::kBadModelFile && !array.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(array.error().code),
               array.error().message.c_str());
    return 0;
  }
  const TensorEntry& tensor = array->tensor;
  FUZZ_CHECK(array->data_start >= 10 && array->data_start <= size &&
                 tensor.offset == array->data_start && tensor.size == size - array->data_start,
             "data at %llu, tensor at %llu+%llu, file of %zu", static_cast<ull>(array->data_start),
             static_cast<ull>(tensor.offset), static_cast<ull>(tensor.size), size);
  FUZZ_CHECK(tensor.name == "array" && !tensor.dtype.empty() && tensor.shape.size() <= 64,
             "tensor %s of dtype %s with %zu dimensions", tensor.name.c_str(), tensor.dtype.c_str(),
             tensor.shape.size());
  const std::optional<std::uint64_t> elements = internal::CheckedProduct(tensor.shape);
  FUZZ_CHECK(elements && (*elements == 0 ? tensor.size == 0 : tensor.size % *elements == 0),
             "%llu bytes of data for a shape of %zu dimensions", static_cast<ull>(tensor.size),
             tensor.shape.size());
  fuzz::CheckPlanPublishes(file, FileFormat::kNumpy, 1);
  return 0;
}
