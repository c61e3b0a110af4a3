// DownloadFixture: what the tests of tools/get download from and into. The upstream side is the
// cache-node tests' UpstreamFixture (a real Store with blocks framed by the real encoder and valid
// manifests, served on loopback by TestUpstream); beside it the device side: a LocalBlockStore (and
// the file index in it) and an output folder in the test's scratch folder.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/block_id.h"
#include "common/codec.h"
#include "common/http/data_plane_client.h"
#include "common/manifest.h"
#include "tests/cache-node/upstream_fixture.h"
#include "tools/get/download_plan.h"
#include "tools/get/local_block_store.h"
#include "tools/get/partial_file.h"

namespace mei::tools::testing {

using cache_node::testing::Bf16Weights;
using cache_node::testing::kModel;
using cache_node::testing::RandomBytes;
using cache_node::testing::TextBytes;

class DownloadFixture : public cache_node::testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    auto store = LocalBlockStore::Open(dir_ / "local");
    ASSERT_TRUE(store) << store.error().message;
    local_.emplace(std::move(*store));
    out_ = dir_ / "out";
    device_fetch_.client_id = "mei-get-test";
    device_fetch_.client.connect_timeout = std::chrono::seconds(2);
    device_fetch_.client.idle_timeout = std::chrono::seconds(30);
  }

  // Blocks the real encoder stores in each codec, added with AddBlock.
  struct CodecBlocks {
    BlockId raw, zstd, bg2_zstd;
  };
  CodecBlocks AddBlockPerCodec() {
    return {AddBlock(RandomBytes(3000, 1)), AddBlock(TextBytes(4000)),
            AddBlock(Bf16Weights(8 * 1024, 2), 2)};
  }

  // The frame the upstream store holds for `id` (added with AddBlock).
  std::vector<std::byte> UpstreamFrame(const BlockId& id) const {
    auto stored = upstream_store_->blocks->Get(id);
    EXPECT_TRUE(stored) << stored.error().message;
    if (!stored || !stored->Load()) return {};
    return {stored->frame().begin(), stored->frame().end()};
  }

  // Puts the upstream's frame of `id` into the local store, as a download would have.
  void StoreLocally(const BlockId& id) {
    auto put = local_->Put(id, UpstreamFrame(id));
    ASSERT_TRUE(put) << put.error().message;
  }

  // Where the local store keeps `id` (the layout local_block_store.h documents).
  std::filesystem::path LocalPathOf(const BlockId& id) const {
    const std::string hex = id.Hex();
    return local_->root() / hex.substr(0, 2) / hex;
  }

  // Flips one payload byte of the frame stored locally under `id`, on disk.
  void DamageLocally(const BlockId& id) const {
    std::fstream file(LocalPathOf(id), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file) << "no stored frame for " << id.Hex();
    file.seekg(static_cast<std::streamoff>(kFrameHeaderSize));
    char byte = 0;
    ASSERT_TRUE(file.get(byte));
    file.seekp(static_cast<std::streamoff>(kFrameHeaderSize));
    ASSERT_TRUE(file.put(static_cast<char>(byte ^ 0x01)));
  }

  // The bytes `file` is made of, from the blocks added with AddBlock.
  std::vector<std::byte> BytesOf(const ManifestFile& file) const { return BytesOf(file.blocks); }
  std::vector<std::byte> BytesOf(const std::vector<ManifestBlock>& blocks) const {
    std::vector<std::byte> bytes;
    for (const ManifestBlock& block : blocks) {
      const std::vector<std::byte>& raw = raw_.at(block.id);
      bytes.insert(bytes.end(), raw.begin(), raw.end());
    }
    return bytes;
  }

  // `blocks` laid end to end, as a file's blocks are (offsets set).
  static std::vector<ManifestBlock> LaidOut(std::vector<ManifestBlock> blocks) {
    std::uint64_t offset = 0;
    for (ManifestBlock& block : blocks) {
      block.offset = offset;
      offset += block.size;
    }
    return blocks;
  }

  // A partial file `name` in the output folder, of the size of `blocks` laid out.
  PartialFile PartialOf(const std::string& name, const std::vector<ManifestBlock>& blocks) const {
    std::uint64_t size = 0;
    for (const ManifestBlock& block : blocks) size = std::max(size, block.offset + block.size);
    auto partial = PartialFile::Open(out_ / name, size);
    EXPECT_TRUE(partial) << partial.error().message;
    return std::move(*partial);
  }

  // One need per block of `blocks` (laid out), each going to its offset in `file`.
  static std::vector<BlockNeed> NeedsIn(const PartialFile& file,
                                        const std::vector<ManifestBlock>& blocks) {
    std::vector<BlockNeed> needs;
    for (const ManifestBlock& block : blocks) needs.push_back({block, {{&file, block.offset}}});
    return needs;
  }

  // What is under `path` now; nullopt when it cannot be read.
  static std::optional<std::vector<std::byte>> ReadBytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto* begin = reinterpret_cast<const std::byte*>(text.data());
    return std::vector<std::byte>(begin, begin + text.size());
  }

  static void WriteBytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out) << "cannot write " << path;
  }

  // The regular files under `dir`, relative to it; empty when there is no such folder.
  static std::set<std::string> FilesUnder(const std::filesystem::path& dir) {
    std::set<std::string> files;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) files.insert(it->path().lexically_relative(dir).string());
    }
    return files;
  }

  static http::RemoteNode NodeOf(const mei::testing::TestUpstream& upstream) {
    return http::RemoteNode{upstream.Url(), upstream.Url()};
  }

  std::optional<LocalBlockStore> local_;
  std::filesystem::path out_;
  http::FetchContext device_fetch_;  // how mei-get fetches
};

}  // namespace mei::tools::testing
