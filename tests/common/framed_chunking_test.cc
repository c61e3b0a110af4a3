// The chunker on formats whose framing is apart (ONNX, PyTorch, NumPy, zip, TF.js shards): each
// tensor's blocks start at its first byte and end at its last, framing gets blocks of its own,
// embedded files are cut by their own formats, and two exports of the same tensors share their
// tensor blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/chunker.h"
#include "common/digest.h"
#include "tools/synth/npy_writer.h"
#include "tools/synth/onnx_writer.h"
#include "tools/synth/pytorch_writer.h"
#include "tools/synth/zip_writer.h"

namespace mei {
namespace {

using tools::OnnxInitializer;
using tools::OnnxModelBytes;
using tools::OnnxWriteOptions;
using tools::ZipBytes;
using tools::ZipMethod;
using tools::ZipWriter;

std::span<const std::byte> Bytes(std::string_view text) { return std::as_bytes(std::span(text)); }

// `size` bytes that differ with `seed`.
std::string Pattern(std::size_t size, unsigned seed) {
  std::string bytes(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : bytes) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return bytes;
}

ChunkOptions SmallBlocks() {
  ChunkOptions options;
  options.max_block = 16 * 1024;
  options.min_tensor_block = 1024;
  return options;
}

ChunkPlan Plan(std::string_view bytes, FileFormat format, const ChunkOptions& options,
               std::string name = "model") {
  const MemoryByteSource file(Bytes(bytes), std::move(name));
  Result<ChunkPlan> plan = PlanChunks(file, format, options);
  EXPECT_TRUE(plan) << plan.error().message;
  return plan ? std::move(*plan) : ChunkPlan{};
}

// Blocks cover the file in order, and each tensor's first_block/block_count hold its bytes.
void ExpectCoversAndLocates(const ChunkPlan& plan, std::uint64_t size) {
  std::uint64_t at = 0;
  for (const BlockExtent& block : plan.blocks) {
    ASSERT_EQ(block.offset, at);
    ASSERT_GT(block.size, 0u);
    at += block.size;
  }
  EXPECT_EQ(at, size);
  for (const TensorEntry& tensor : plan.tensors) {
    if (tensor.size == 0) continue;
    ASSERT_LT(tensor.first_block + tensor.block_count - 1, plan.blocks.size()) << tensor.name;
    const BlockExtent& first = plan.blocks[tensor.first_block];
    const BlockExtent& last = plan.blocks[tensor.first_block + tensor.block_count - 1];
    EXPECT_LE(first.offset, tensor.offset) << tensor.name;
    EXPECT_GE(last.offset + last.size, tensor.offset + tensor.size) << tensor.name;
  }
}

// Whether `tensor` owns its blocks: they start at its first byte and end at its last.
bool OwnsItsBlocks(const ChunkPlan& plan, const TensorEntry& tensor) {
  const BlockExtent& first = plan.blocks[tensor.first_block];
  const BlockExtent& last = plan.blocks[tensor.first_block + tensor.block_count - 1];
  return first.offset == tensor.offset && last.offset + last.size == tensor.offset + tensor.size;
}

// The SHA-256 of every block of `plan` over `bytes`: the block ids ingest would give.
std::set<std::string> BlockIds(const ChunkPlan& plan, std::string_view bytes) {
  std::set<std::string> ids;
  for (const BlockExtent& block : plan.blocks) {
    ids.insert(Sha256Of(Bytes(bytes.substr(block.offset, block.size))).Hex());
  }
  return ids;
}

std::vector<OnnxInitializer> Initializers(unsigned seed) {
  return {
      {"embed.weight", tools::kOnnxFloat, {64, 128}, Pattern(64 * 128 * 4, seed)},
      {"norm.weight", tools::kOnnxFloat, {128}, Pattern(128 * 4, seed + 1)},
      {"up.weight", tools::kOnnxFloat, {128, 96}, Pattern(128 * 96 * 4, seed + 2)},
      {"up.bias", tools::kOnnxFloat, {96}, Pattern(96 * 4, seed + 3)},
      {"down.weight", tools::kOnnxFloat, {96, 128}, Pattern(96 * 128 * 4, seed + 4)},
  };
}

TEST(FramedChunkingTest, OnnxTensorsOwnTheirBlocksAndTheFramingIsApart) {
  const std::string model = OnnxModelBytes(Initializers(1)).model;
  const ChunkOptions options = SmallBlocks();
  const ChunkPlan plan = Plan(model, FileFormat::kOnnx, options);
  EXPECT_EQ(plan.format, FileFormat::kOnnx);
  EXPECT_TRUE(plan.fallbacks.empty());
  ASSERT_EQ(plan.tensors.size(), 5u);
  ExpectCoversAndLocates(plan, model.size());
  for (const TensorEntry& tensor : plan.tensors) {
    SCOPED_TRACE(tensor.name);
    // The small ones (the norm and the bias) stay with the framing; the others own their blocks,
    // max_block at most each.
    EXPECT_EQ(OwnsItsBlocks(plan, tensor), tensor.size >= options.min_tensor_block);
    for (std::uint32_t i = 0; i < tensor.block_count; ++i) {
      EXPECT_LE(plan.blocks[tensor.first_block + i].size, options.max_block);
    }
  }
}

// Two exports of the same weights (another producer, other node names, so other framing) share
// every block of every tensor that owns its blocks; a fine-tune that changes one tensor shares all
// the others'.
TEST(FramedChunkingTest, TwoOnnxExportsShareTheirTensorBlocksAndAFineTuneAllButItsChanges) {
  const std::vector<OnnxInitializer> weights = Initializers(1);
  OnnxWriteOptions other_export;
  other_export.producer = "another-exporter";
  other_export.graph_name = "torch_jit";
  other_export.node_naming = tools::OnnxNodeNaming::kNumbered;
  std::vector<OnnxInitializer> tuned = weights;
  tuned[2].raw_data = Pattern(tuned[2].raw_data.size(), 99);

  const std::string base = OnnxModelBytes(weights).model;
  const std::string again = OnnxModelBytes(weights, other_export).model;
  const std::string fine_tune = OnnxModelBytes(tuned).model;
  ASSERT_NE(base, again);
  const ChunkPlan base_plan = Plan(base, FileFormat::kOnnx, SmallBlocks());
  const std::set<std::string> base_ids = BlockIds(base_plan, base);

  for (const auto& [what, bytes, changed] :
       {std::tuple<std::string_view, std::string_view, std::string_view>{"export", again, ""},
        {"fine-tune", fine_tune, "up.weight"}}) {
    SCOPED_TRACE(what);
    const ChunkPlan plan = Plan(bytes, FileFormat::kOnnx, SmallBlocks());
    for (const TensorEntry& tensor : plan.tensors) {
      if (!OwnsItsBlocks(plan, tensor)) continue;
      for (std::uint32_t i = 0; i < tensor.block_count; ++i) {
        const BlockExtent& block = plan.blocks[tensor.first_block + i];
        const bool shared =
            base_ids.contains(Sha256Of(Bytes(bytes.substr(block.offset, block.size))).Hex());
        EXPECT_EQ(shared, tensor.name != changed) << tensor.name << " block " << i;
      }
    }
  }
}

TEST(FramedChunkingTest, ByContentOnlyCutsAModelAsAnyOtherFile) {
  const std::string model = OnnxModelBytes(Initializers(1)).model;
  ChunkOptions options = SmallBlocks();
  options.by_content_only = true;
  const ChunkPlan plan = Plan(model, FileFormat::kOnnx, options);
  EXPECT_EQ(plan.format, FileFormat::kOther);
  EXPECT_TRUE(plan.tensors.empty());
  ExpectCoversAndLocates(plan, model.size());
}

// A PyTorch checkpoint's storages are its tensors; data.pkl, version and the rest are embedded
// files of their own, and the zip headers are framing.
TEST(FramedChunkingTest, APytorchCheckpointsStoragesOwnTheirBlocks) {
  const std::string checkpoint = ZipBytes(
      [](ZipWriter& zip) {
        ASSERT_TRUE(zip.AddMember("model/data.pkl", Pattern(300, 7)));
        ASSERT_TRUE(zip.AddMember("model/byteorder", "little"));
        ASSERT_TRUE(zip.AddMember("model/data/0", Pattern(40000, 8)));
        ASSERT_TRUE(zip.AddMember("model/data/1", Pattern(100, 9)));
        ASSERT_TRUE(zip.AddMember("model/version", "3\n"));
      },
      tools::ZipWriterOptions{
          .data_alignment = 64, .zip64_from = tools::kZip64Limit, .comment = {}});
  const ChunkPlan plan = Plan(checkpoint, FileFormat::kPytorch, SmallBlocks(), "model.pt");
  EXPECT_EQ(plan.format, FileFormat::kPytorch);
  ExpectCoversAndLocates(plan, checkpoint.size());
  ASSERT_EQ(plan.tensors.size(), 2u);
  EXPECT_EQ(plan.tensors[0].name, "model/data/0");
  EXPECT_EQ(plan.tensors[0].dtype, "storage");
  EXPECT_EQ(plan.tensors[0].size, 40000u);
  EXPECT_TRUE(OwnsItsBlocks(plan, plan.tensors[0]));
  EXPECT_EQ(plan.tensors[0].block_count, 3u);  // 16 KiB blocks
  // The pickle is a block of its own: it starts where its member's data does.
  const std::size_t pickle_at = checkpoint.find(Pattern(300, 7));
  EXPECT_TRUE(std::any_of(plan.blocks.begin(), plan.blocks.end(), [&](const BlockExtent& block) {
    return block.offset == pickle_at && block.size == 300;
  }));
}

// The .npy members of an .npz are NumPy arrays, each a tensor named after its member.
TEST(FramedChunkingTest, AnNpzsArraysAreTensorsNamedAfterTheirMembers) {
  const std::string a = tools::NpyHeader("<f4", {32, 64}, false) + Pattern(32 * 64 * 4, 1);
  const std::string b = tools::NpyHeader("<f4", {10}, false) + Pattern(40, 2);
  const std::string npz = ZipBytes([&](ZipWriter& zip) {
    ASSERT_TRUE(zip.AddMember("a.npy", a));
    ASSERT_TRUE(zip.AddMember("b.npy", b));
  });
  const ChunkPlan plan = Plan(npz, FileFormat::kZip, SmallBlocks(), "arrays.npz");
  EXPECT_EQ(plan.format, FileFormat::kZip);
  EXPECT_TRUE(plan.fallbacks.empty());
  ExpectCoversAndLocates(plan, npz.size());
  ASSERT_EQ(plan.tensors.size(), 2u);
  EXPECT_EQ(plan.tensors[0].name, "a.npy:array");
  EXPECT_EQ(plan.tensors[0].dtype, "F32");
  EXPECT_EQ(plan.tensors[0].shape, (std::vector<std::uint64_t>{32, 64}));
  EXPECT_TRUE(OwnsItsBlocks(plan, plan.tensors[0]));
  EXPECT_EQ(plan.tensors[1].name, "b.npy:array");
  EXPECT_FALSE(OwnsItsBlocks(plan, plan.tensors[1]));  // 40 bytes: with its header
}

// A compressed member is cut by content whatever its name; a stored member its format does not
// read is cut by content too, and the plan names it and says why.
TEST(FramedChunkingTest, ZipMembersTheirFormatCannotReadAreCutByContentWithTheReason) {
  const std::string good = tools::NpyHeader("<f4", {2048}, false) + Pattern(2048 * 4, 3);
  const std::string zip = ZipBytes([&](ZipWriter& zip) {
    ASSERT_TRUE(zip.AddMember("packed.npy", good, ZipMethod::kDeflated));
    ASSERT_TRUE(zip.AddMember("broken.npy", Pattern(5000, 4)));
    ASSERT_TRUE(zip.AddMember("good.npy", good));
  });
  const ChunkPlan plan = Plan(zip, FileFormat::kZip, SmallBlocks(), "bundle.zip");
  EXPECT_EQ(plan.format, FileFormat::kZip);
  ExpectCoversAndLocates(plan, zip.size());
  ASSERT_EQ(plan.tensors.size(), 1u);
  EXPECT_EQ(plan.tensors[0].name, "good.npy:array");
  ASSERT_EQ(plan.fallbacks.size(), 1u);
  EXPECT_NE(plan.fallbacks[0].find("bundle.zip:broken.npy"), std::string::npos)
      << plan.fallbacks[0];
  EXPECT_NE(plan.fallbacks[0].find("not as numpy"), std::string::npos) << plan.fallbacks[0];
}

// An .npz inside a zip is read too, as deep as the nesting limit allows.
TEST(FramedChunkingTest, AZipInAZipIsReadMemberByMember) {
  const std::string array = tools::NpyHeader("<f4", {1024}, false) + Pattern(4096, 5);
  const std::string inner =
      ZipBytes([&](ZipWriter& zip) { ASSERT_TRUE(zip.AddMember("w.npy", array)); });
  const std::string outer =
      ZipBytes([&](ZipWriter& zip) { ASSERT_TRUE(zip.AddMember("weights.npz", inner)); });
  const ChunkPlan plan = Plan(outer, FileFormat::kZip, SmallBlocks(), "bundle.zip");
  ExpectCoversAndLocates(plan, outer.size());
  ASSERT_EQ(plan.tensors.size(), 1u);
  EXPECT_EQ(plan.tensors[0].name, "weights.npz:w.npy:array");
  EXPECT_TRUE(OwnsItsBlocks(plan, plan.tensors[0]));
}

// A TF.js shard is cut along the map its model.json gives; a map that does not fit the shard is
// an error.
TEST(FramedChunkingTest, AShardIsCutAlongTheTensorsAnotherFileNames) {
  const std::string shard = Pattern(20000, 6);
  std::vector<TensorEntry> tensors(3);
  tensors[0] = {"b", "F32", {3000}, 8000, 12000, 0, 0};
  tensors[1] = {"a", "F32", {2000}, 0, 8000, 0, 0};
  tensors[2] = {"c", "F32", {0}, 20000, 0, 0, 0};
  const MemoryByteSource file(Bytes(shard), "group1-shard1of1.bin");
  const Result<ChunkPlan> plan = PlanChunksAlong(file, FileFormat::kTfjs, tensors, SmallBlocks());
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->format, FileFormat::kTfjs);
  ExpectCoversAndLocates(*plan, shard.size());
  ASSERT_EQ(plan->tensors.size(), 3u);
  EXPECT_EQ(plan->tensors[0].name, "a");
  EXPECT_TRUE(OwnsItsBlocks(*plan, plan->tensors[0]));
  EXPECT_TRUE(OwnsItsBlocks(*plan, plan->tensors[1]));

  tensors[0].offset = 7000;  // overlaps "a"
  const Result<ChunkPlan> overlapping = PlanChunksAlong(file, FileFormat::kTfjs, tensors);
  ASSERT_FALSE(overlapping);
  EXPECT_EQ(overlapping.error().code, Errc::kBadModelFile);
  EXPECT_NE(overlapping.error().message.find("tensor b"), std::string::npos);
  tensors[0].offset = 9000;  // runs past the end
  EXPECT_FALSE(PlanChunksAlong(file, FileFormat::kTfjs, tensors));
}

}  // namespace
}  // namespace mei
