// Fuzz target: the GGUF parser (common/gguf.h) and the block plan ingest makes next.
//
// The input is a whole file, read through a MemoryByteSource as ingest reads a file. A rejection
// must be kBadGguf with a sentence (kIo would mean the parser read past the end; a huge count
// must be refused before anything is allocated, which the fuzzer's RSS limit enforces). A file
// that parses must hold what the contract promises (a power-of-two alignment, the data section
// inside the file, tensors sorted, aligned, inside the data section and not overlapping), and
// what ingest then makes of it (its block plan, in a manifest) must be a valid manifest.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/byte_source.h"
#include "common/chunker.h"
#include "common/formats/gguf.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.gguf");
  const Result<GgufFile> gguf = ParseGguf(file);
  if (!gguf) {
    FUZZ_CHECK(gguf.error().code == Errc::kBadGguf && !gguf.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(gguf.error().code),
               gguf.error().message.c_str());
    return 0;
  }
  FUZZ_CHECK(gguf->version == 2 || gguf->version == 3, "version %u", gguf->version);
  FUZZ_CHECK(std::has_single_bit(gguf->alignment), "alignment %llu",
             static_cast<ull>(gguf->alignment));
  FUZZ_CHECK(gguf->data_start <= size, "data starts at %llu of %zu",
             static_cast<ull>(gguf->data_start), size);
  // Sorted by offset; tensors with bytes do not overlap (an empty one may sit anywhere).
  std::uint64_t previous_offset = gguf->data_start;
  std::uint64_t end_of_data = gguf->data_start;
  for (const TensorEntry& tensor : gguf->tensors) {
    FUZZ_CHECK(tensor.offset >= previous_offset && tensor.size <= size &&
                   tensor.offset <= size - tensor.size &&
                   (tensor.size == 0 || tensor.offset >= end_of_data) &&
                   (tensor.offset - gguf->data_start) % gguf->alignment == 0,
               "tensor %s at %llu+%llu (the one before is at %llu, data so far ends at %llu; "
               "file of %zu)",
               tensor.name.c_str(), static_cast<ull>(tensor.offset), static_cast<ull>(tensor.size),
               static_cast<ull>(previous_offset), static_cast<ull>(end_of_data), size);
    FUZZ_CHECK(!tensor.dtype.empty(), "tensor %s has no type name", tensor.name.c_str());
    previous_offset = tensor.offset;
    if (tensor.size != 0) end_of_data = tensor.offset + tensor.size;
  }
  fuzz::CheckPlanPublishes(file, FileFormat::kGguf, gguf->tensors.size());
  return 0;
}
