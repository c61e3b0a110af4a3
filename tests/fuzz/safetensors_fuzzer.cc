// Fuzz target: the safetensors parser (common/safetensors.h) and the block plan ingest makes next.
//
// The input is a whole file, read through a MemoryByteSource as ingest reads a file. A rejection
// must be kBadSafetensors with a sentence (kIo would mean the parser read past the end). A file
// that parses must hold what the header contract promises (tensors sorted, inside the data
// section, not overlapping), and what ingest then makes of it (its block plan, in a manifest)
// must be a valid manifest.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/byte_source.h"
#include "common/chunker.h"
#include "common/formats/safetensors.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.safetensors");
  const Result<SafetensorsHeader> header = ParseSafetensors(file);
  if (!header) {
    FUZZ_CHECK(header.error().code == Errc::kBadSafetensors && !header.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(header.error().code),
               header.error().message.c_str());
    return 0;
  }
  FUZZ_CHECK(header->data_start >= 8 && header->data_start <= size, "data starts at %llu of %zu",
             static_cast<ull>(header->data_start), size);
  // Sorted by offset; tensors with bytes do not overlap (an empty one may sit anywhere).
  std::uint64_t previous_offset = header->data_start;
  std::uint64_t end_of_data = header->data_start;
  for (const TensorEntry& tensor : header->tensors) {
    FUZZ_CHECK(tensor.offset >= previous_offset && tensor.size <= size &&
                   tensor.offset <= size - tensor.size &&
                   (tensor.size == 0 || tensor.offset >= end_of_data),
               "tensor %s at %llu+%llu (the one before is at %llu, data so far ends at %llu; "
               "file of %zu)",
               tensor.name.c_str(), static_cast<ull>(tensor.offset), static_cast<ull>(tensor.size),
               static_cast<ull>(previous_offset), static_cast<ull>(end_of_data), size);
    previous_offset = tensor.offset;
    if (tensor.size != 0) end_of_data = tensor.offset + tensor.size;
  }
  fuzz::CheckPlanPublishes(file, FileFormat::kSafetensors, header->tensors.size());
  return 0;
}
