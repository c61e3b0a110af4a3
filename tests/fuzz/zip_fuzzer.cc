// Fuzz target: the zip parser (common/formats/zip.h).
//
// The input is a whole archive, read through a MemoryByteSource as ingest reads a file. A
// rejection must be kBadModelFile with a sentence (kIo would mean the parser read past the end; a
// huge entry count must be refused before anything is allocated, which the fuzzer's RSS limit
// enforces). An archive that parses must hold what the contract promises: members sorted by local
// header offset, each one's local header and data inside the file and before the central
// directory, no two overlapping, names non-empty UTF-8 without NUL and distinct.
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string_view>

#include "common/byte_source.h"
#include "common/formats/zip.h"
#include "common/internal/utf8.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.zip");
  const Result<ZipArchive> archive = ParseZip(file);
  if (!archive) {
    FUZZ_CHECK(archive.error().code == Errc::kBadModelFile && !archive.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(archive.error().code),
               archive.error().message.c_str());
    return 0;
  }
  const std::uint64_t directory = archive->central_directory_offset;
  FUZZ_CHECK(directory <= size, "central directory at %llu of %zu", static_cast<ull>(directory),
             size);
  std::uint64_t end_of_previous = 0;
  std::set<std::string_view> names;
  for (const ZipMember& member : archive->members) {
    FUZZ_CHECK(member.local_header_offset >= end_of_previous &&
                   member.data_offset >= member.local_header_offset + 30 &&
                   member.data_offset <= directory &&
                   member.compressed_size <= directory - member.data_offset,
               "member %s: local header at %llu, data at %llu+%llu (the member before ends at "
               "%llu, the directory is at %llu)",
               member.name.c_str(), static_cast<ull>(member.local_header_offset),
               static_cast<ull>(member.data_offset), static_cast<ull>(member.compressed_size),
               static_cast<ull>(end_of_previous), static_cast<ull>(directory));
    FUZZ_CHECK(!member.name.empty() && member.name.find('\0') == std::string::npos &&
                   internal::IsValidUtf8(member.name),
               "member name of %zu bytes is empty, has a NUL or is not UTF-8", member.name.size());
    FUZZ_CHECK(names.insert(member.name).second, "member %s appears twice", member.name.c_str());
    end_of_previous = member.data_offset + member.compressed_size;
  }
  // As a container (each member by the format its name suggests) and as a PyTorch checkpoint.
  fuzz::CheckPlanPublishes(file, FileFormat::kZip, fuzz::kAnyTensorCount);
  fuzz::CheckPlanPublishes(file, FileFormat::kPytorch, fuzz::kAnyTensorCount);
  return 0;
}
