#include "tools/get/file_assembly.h"

#include <fmt/format.h>

#include <span>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "common/atomic_file.h"
#include "common/codec.h"
#include "common/digest.h"

namespace mei::tools {
namespace {

using Assembled = boost::system::result<void, AssemblyFailure>;

// After a file's SHA-256 disagreed although every frame decoded: the blocks whose raw bytes are
// not their id (damaged on disk in a way the frame checksum missed), removed from the store.
std::vector<BlockId> VerifyBlocks(const ManifestFile& file, const LocalBlockStore& store) {
  std::vector<BlockId> bad;
  std::unordered_set<BlockId> seen;
  BlockDecoder decoder;
  std::vector<std::byte> raw;
  for (const ManifestBlock& block : file.blocks) {
    if (!seen.insert(block.id).second) continue;
    auto frame = store.ReadFrame(block.id);
    if (!frame || !decoder.Decode(*frame, raw) || Sha256Of(raw) != block.id) {
      store.Remove(block.id);
      bad.push_back(block.id);
    }
  }
  return bad;
}

// After block `first` of `file` turned out missing or damaged: it and every later block that is
// missing, does not decode or is of the wrong size (damaged ones are removed), so that one repair
// fetches them all.
std::vector<BlockId> UnusableBlocks(const ManifestFile& file, std::size_t first,
                                    const LocalBlockStore& store) {
  std::vector<BlockId> bad = {file.blocks[first].id};
  std::unordered_set<BlockId> seen = {file.blocks[first].id};
  BlockDecoder decoder;
  std::vector<std::byte> raw;
  for (std::size_t i = first + 1; i < file.blocks.size(); ++i) {
    const ManifestBlock& block = file.blocks[i];
    if (!seen.insert(block.id).second) continue;
    auto frame = store.ReadFrame(block.id);
    if (frame && decoder.Decode(*frame, raw) && raw.size() == block.size) continue;
    store.Remove(block.id);
    bad.push_back(block.id);
  }
  return bad;
}

}  // namespace

Assembled AssembleFile(const ManifestFile& file, const std::filesystem::path& out_dir,
                       const LocalBlockStore& store) {
  const std::filesystem::path path = out_dir / file.path;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return AssemblyFailure{
        {Errc::kIo, fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message())},
        {}};
  }
  auto out = AtomicFile::Create(path);
  if (!out) return AssemblyFailure{out.error(), {}};

  BlockDecoder decoder;
  Sha256Hasher hasher;
  std::vector<std::byte> raw;
  for (std::size_t i = 0; i < file.blocks.size(); ++i) {
    const ManifestBlock& block = file.blocks[i];
    auto frame = store.ReadFrame(block.id);
    if (!frame) return AssemblyFailure{frame.error(), UnusableBlocks(file, i, store)};
    if (auto decoded = decoder.Decode(*frame, raw); !decoded || raw.size() != block.size) {
      store.Remove(block.id);
      return AssemblyFailure{
          {Errc::kIntegrity, fmt::format("stored block {} of {} does not decode to its {} bytes",
                                         block.id.Hex(), file.path, block.size)},
          UnusableBlocks(file, i, store)};
    }
    hasher.Update(raw);
    if (auto appended = out->Append(std::span<const std::byte>(raw)); !appended) {
      return AssemblyFailure{appended.error(), {}};
    }
  }
  if (hasher.Finish() != file.sha256) {
    return AssemblyFailure{
        {Errc::kIntegrity, fmt::format("{} does not match the SHA-256 of its manifest", file.path)},
        VerifyBlocks(file, store)};
  }
  if (auto committed = out->Commit(); !committed) return AssemblyFailure{committed.error(), {}};
  return {};
}

}  // namespace mei::tools
