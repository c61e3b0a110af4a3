// Fuzz target: the TF.js weights-manifest parser (common/formats/tfjs.h).
//
// The input is model.json, then optionally a NUL byte and the shard sizes: little-endian uint64s,
// handed out in the order the parser asks for shards; a shard asked for after they run out does
// not exist. (JSON text cannot hold a raw NUL, so the split is unambiguous.) So the fuzzer can
// make sizes that fit a group's weights exactly, that miss by a byte, that overflow when added,
// or that are missing. A rejection must be kBadModelFile with a sentence (kIo would mean a read
// past the end of model.json). An accepted manifest must hold what the contract promises: each
// shard named by a valid path, once, with the size it was given; its pieces sorted, inside it and
// covering it exactly; each weight's pieces adding up to its shape times its stored type's size.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/formats/tfjs.h"
#include "common/internal/checked_math.h"
#include "common/manifest.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ull = unsigned long long;

std::optional<std::uint64_t> StoredTypeBytes(std::string_view dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "BOOL" || dtype == "U8") return 1;
  if (dtype == "U16" || dtype == "F16") return 2;
  if (dtype == "C64") return 8;
  return std::nullopt;
}

void CheckShard(const mei::TfjsShard& shard, std::uint64_t given_size) {
  FUZZ_CHECK(!shard.path.starts_with("./") && mei::ValidateFilePath(shard.path).has_value(),
             "shard path \"%s\" is not a clean relative path", shard.path.c_str());
  FUZZ_CHECK(shard.size == given_size, "shard %s has size %llu but was given %llu",
             shard.path.c_str(), static_cast<ull>(shard.size), static_cast<ull>(given_size));
  std::uint64_t previous_offset = 0;
  std::uint64_t covered = 0;  // end of the last piece with bytes
  for (const mei::TensorEntry& piece : shard.tensors) {
    FUZZ_CHECK(piece.offset >= previous_offset && piece.offset <= shard.size &&
                   piece.size <= shard.size - piece.offset,
               "piece %s at %llu+%llu in shard %s of %llu bytes (previous piece at %llu)",
               piece.name.c_str(), static_cast<ull>(piece.offset), static_cast<ull>(piece.size),
               shard.path.c_str(), static_cast<ull>(shard.size), static_cast<ull>(previous_offset));
    FUZZ_CHECK(piece.size == 0 || piece.offset == covered,
               "piece %s at %llu leaves a gap or overlap after byte %llu of shard %s",
               piece.name.c_str(), static_cast<ull>(piece.offset), static_cast<ull>(covered),
               shard.path.c_str());
    previous_offset = piece.offset;
    if (piece.size != 0) covered = piece.offset + piece.size;
  }
  FUZZ_CHECK(covered == shard.size, "pieces cover %llu of the %llu bytes of shard %s",
             static_cast<ull>(covered), static_cast<ull>(shard.size), shard.path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view model_json = input.substr(0, nul);
  const std::string_view size_table =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  std::map<std::string, std::uint64_t, std::less<>> given;  // the size handed out, by path
  std::size_t next_size = 0;
  const ShardSize shard_size = [&](std::string_view path) -> std::optional<std::uint64_t> {
    FUZZ_CHECK(given.find(path) == given.end(), "shard %.*s asked for twice",
               static_cast<int>(path.size()), path.data());
    if (size_table.size() / 8 <= next_size) return std::nullopt;
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      bytes |= std::uint64_t{static_cast<unsigned char>(size_table[next_size * 8 + i])} << (8 * i);
    }
    ++next_size;
    given.emplace(path, bytes);
    return bytes;
  };

  const MemoryByteSource source(std::as_bytes(std::span(model_json)), "fuzz/model.json");
  const Result<std::vector<TfjsShard>> shards = ParseTfjsWeights(source, shard_size);
  if (!shards) {
    FUZZ_CHECK(shards.error().code == Errc::kBadModelFile &&
                   shards.error().message.starts_with("TF.js model.json: ") &&
                   shards.error().message.size() > 20,
               "rejected with code %d: %s", static_cast<int>(shards.error().code),
               shards.error().message.c_str());
    return 0;
  }

  FUZZ_CHECK(shards->size() == given.size(), "%zu shards returned but %zu sizes handed out",
             shards->size(), given.size());
  std::map<std::string, std::uint64_t> weight_bytes;  // by name, over all its pieces
  std::map<std::string, std::uint64_t> expected_bytes;
  for (const TfjsShard& shard : *shards) {
    const auto found = given.find(shard.path);
    FUZZ_CHECK(found != given.end(), "shard %s was never asked for", shard.path.c_str());
    CheckShard(shard, found->second);
    for (const TensorEntry& piece : shard.tensors) {
      const std::optional<std::uint64_t> element_bytes = StoredTypeBytes(piece.dtype);
      FUZZ_CHECK(element_bytes.has_value() && !piece.name.empty() && piece.shape.size() <= 254,
                 "piece \"%s\" of dtype \"%s\" and rank %zu", piece.name.c_str(),
                 piece.dtype.c_str(), piece.shape.size());
      const std::optional<std::uint64_t> elements = internal::CheckedProduct(piece.shape);
      const std::optional<std::uint64_t> bytes =
          elements ? internal::CheckedMul(*elements, *element_bytes) : std::nullopt;
      FUZZ_CHECK(bytes.has_value(), "weight %s takes more than 2^64 bytes", piece.name.c_str());
      expected_bytes[piece.name] = *bytes;
      std::uint64_t& sum = weight_bytes[piece.name];
      FUZZ_CHECK(piece.size <= *bytes - sum, "pieces of %s add up to more than its %llu bytes",
                 piece.name.c_str(), static_cast<ull>(*bytes));
      sum += piece.size;
    }
  }
  for (const auto& [name, bytes] : expected_bytes) {
    FUZZ_CHECK(weight_bytes[name] == bytes, "pieces of %s add up to %llu of its %llu bytes",
               name.c_str(), static_cast<ull>(weight_bytes[name]), static_cast<ull>(bytes));
  }
  return 0;
}
