#include "common/chunker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace mei {
namespace {

std::vector<std::byte> Concat(std::string_view head, std::size_t data_bytes, std::uint8_t fill) {
  std::vector<std::byte> out(head.size() + data_bytes, std::byte{fill});
  std::memcpy(out.data(), head.data(), head.size());
  return out;
}

// A safetensors file whose tensors are (name, dtype, shape, begin, end), data filled with `fill`.
std::vector<std::byte> Safetensors(const std::string& tensors_json, std::size_t data_bytes,
                                   std::uint8_t fill = 0x3c) {
  const std::string json = "{" + tensors_json + "}";
  std::string head(8, '\0');
  const std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) head[i] = static_cast<char>(n >> (8 * i) & 0xff);
  return Concat(head + json, data_bytes, fill);
}

std::uint64_t Covered(const ChunkPlan& plan) {
  std::uint64_t end = 0;
  for (const BlockExtent& b : plan.blocks) {
    EXPECT_EQ(b.offset, end);
    end += b.size;
  }
  return end;
}

TEST(ChunkerTest, FormatComesFromTheExtension) {
  EXPECT_EQ(FormatForPath("model.safetensors"), FileFormat::kSafetensors);
  EXPECT_EQ(FormatForPath("dir/model-00001-of-00002.safetensors"), FileFormat::kSafetensors);
  EXPECT_EQ(FormatForPath("llama.Q4_K_M.gguf"), FileFormat::kGguf);
  EXPECT_EQ(FormatForPath("config.json"), FileFormat::kOther);
  EXPECT_EQ(FormatForPath("safetensors"), FileFormat::kOther);
  EXPECT_EQ(NameOf(FileFormat::kOther), "other");
}

TEST(ChunkerTest, SafetensorsHeaderIsOneBlockAndTensorsAreCutFromTheirFirstByte) {
  // a: 10x10 BF16 = 200 bytes; b: 50 F32 = 200 bytes; max_block 64.
  const auto file = Safetensors(R"("a":{"dtype":"BF16","shape":[10,10],"data_offsets":[0,200]},)"
                                R"("b":{"dtype":"F32","shape":[50],"data_offsets":[200,400]})",
                                400);
  MemoryByteSource source(file);
  ChunkOptions options;
  options.max_block = 64;
  auto plan = PlanChunks(source, FileFormat::kSafetensors, options);
  ASSERT_TRUE(plan) << plan.error().message;
  const std::uint64_t header = file.size() - 400;
  ASSERT_EQ(plan->blocks.size(), 1u + 4 + 4);
  EXPECT_EQ(plan->blocks[0], (BlockExtent{0, header, 0}));
  EXPECT_EQ(plan->blocks[1], (BlockExtent{header, 64, 2}));
  EXPECT_EQ(plan->blocks[4], (BlockExtent{header + 192, 8, 2}));
  EXPECT_EQ(plan->blocks[5], (BlockExtent{header + 200, 64, 4}));
  EXPECT_EQ(Covered(*plan), file.size());
  ASSERT_EQ(plan->tensors.size(), 2u);
  EXPECT_EQ(plan->tensors[0].name, "a");
  EXPECT_EQ(plan->tensors[0].first_block, 1u);
  EXPECT_EQ(plan->tensors[0].block_count, 4u);
  EXPECT_EQ(plan->tensors[1].first_block, 5u);
  EXPECT_EQ(plan->tensors[1].block_count, 4u);
}

TEST(ChunkerTest, ASharedTensorBecomesTheSameBlocksWhateverPrecedesIt) {
  // The same tensor "w" after tensors of different sizes and a different header.
  const auto one = Safetensors(R"("w":{"dtype":"U8","shape":[100],"data_offsets":[10,110]},)"
                               R"("x":{"dtype":"U8","shape":[10],"data_offsets":[0,10]})",
                               110);
  const auto two = Safetensors(R"("longer_name":{"dtype":"U8","shape":[33],"data_offsets":[0,33]},)"
                               R"("w":{"dtype":"U8","shape":[100],"data_offsets":[33,133]})",
                               133);
  ChunkOptions options;
  options.max_block = 30;
  auto plan_one = PlanChunks(MemoryByteSource(one), FileFormat::kSafetensors, options);
  auto plan_two = PlanChunks(MemoryByteSource(two), FileFormat::kSafetensors, options);
  ASSERT_TRUE(plan_one && plan_two);
  auto blocks_of_w = [](const ChunkPlan& plan, const std::vector<std::byte>& file) {
    for (const TensorEntry& t : plan.tensors) {
      if (t.name != "w") continue;
      std::vector<std::vector<std::byte>> out;
      for (std::uint32_t i = t.first_block; i < t.first_block + t.block_count; ++i) {
        const BlockExtent& b = plan.blocks[i];
        out.emplace_back(file.begin() + static_cast<std::ptrdiff_t>(b.offset),
                         file.begin() + static_cast<std::ptrdiff_t>(b.offset + b.size));
      }
      return out;
    }
    return std::vector<std::vector<std::byte>>{};
  };
  const auto w_one = blocks_of_w(*plan_one, one);
  EXPECT_EQ(w_one.size(), 4u);
  EXPECT_EQ(w_one, blocks_of_w(*plan_two, two));
}

TEST(ChunkerTest, GapBytesGoWithThePrecedingTensor) {
  const auto file = Safetensors(R"("a":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},)"
                                R"("b":{"dtype":"U8","shape":[10],"data_offsets":[16,26]})",
                                30);
  auto plan = PlanChunks(MemoryByteSource(file), FileFormat::kSafetensors, {});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->blocks.size(), 3u);
  EXPECT_EQ(plan->blocks[1].size, 16u);  // a's 10 bytes and the 6-byte gap
  EXPECT_EQ(plan->blocks[2].size, 14u);  // b and the 4 trailing bytes
  EXPECT_EQ(Covered(*plan), file.size());
}

TEST(ChunkerTest, ZeroLengthTensorsOwnNoBlocks) {
  const auto file = Safetensors(R"("empty":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                                R"("a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]})",
                                8);
  auto plan = PlanChunks(MemoryByteSource(file), FileFormat::kSafetensors, {});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(Covered(*plan), file.size());
  for (const TensorEntry& t : plan->tensors) {
    EXPECT_EQ(t.block_count, t.name == "empty" ? 0u : 1u) << t.name;
  }
}

// Found by tests/fuzz (gguf target, corpus/gguf/regression-empty-tensor-inside-another): an empty
// tensor whose offset lies inside another tensor's bytes ended that tensor's range there, so the
// tensor was not inside its blocks and the manifest of the file failed validation.
TEST(ChunkerTest, AnEmptyTensorInsideAnotherTensorDoesNotCutItShort) {
  const auto file = Safetensors(R"("a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},)"
                                R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                                R"("b":{"dtype":"U8","shape":[4],"data_offsets":[16,20]})",
                                20);
  ChunkOptions options;
  options.max_block = 6;
  auto plan = PlanChunks(MemoryByteSource(file), FileFormat::kSafetensors, options);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(Covered(*plan), file.size());
  const std::uint64_t data_start = file.size() - 20;
  ASSERT_EQ(plan->blocks.size(), 1u + 3 + 1);  // header; a in 6+6+4; b
  EXPECT_EQ(plan->blocks[3], (BlockExtent{data_start + 12, 4, 0}));
  EXPECT_EQ(plan->blocks[4], (BlockExtent{data_start + 16, 4, 0}));
  ASSERT_EQ(plan->tensors.size(), 3u);
  EXPECT_EQ(plan->tensors[0].name, "a");
  EXPECT_EQ(plan->tensors[0].first_block, 1u);
  EXPECT_EQ(plan->tensors[0].block_count, 3u);
  EXPECT_EQ(plan->tensors[1].name, "e");
  EXPECT_EQ(plan->tensors[1].first_block, 2u);  // the block holding byte 8 of the data
  EXPECT_EQ(plan->tensors[1].block_count, 0u);
  EXPECT_EQ(plan->tensors[2].name, "b");
  EXPECT_EQ(plan->tensors[2].first_block, 4u);
  EXPECT_EQ(plan->tensors[2].block_count, 1u);
}

TEST(ChunkerTest, BrokenSafetensorsIsAnErrorNotAFallback) {
  auto file = Safetensors(R"("a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]})", 50);
  auto plan = PlanChunks(MemoryByteSource(file), FileFormat::kSafetensors, {});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, Errc::kBadSafetensors);
}

// A minimal GGUF v3 file: no metadata, two F32 tensors of `n` elements each, alignment 32.
std::vector<std::byte> Gguf(std::uint64_t n) {
  std::string out = "GGUF";
  auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  u32(3);
  u64(2);
  u64(0);
  const std::uint64_t padded = (n * 4 + 31) / 32 * 32;
  for (int i = 0; i < 2; ++i) {
    const std::string name = i == 0 ? "t0" : "t1";
    u64(name.size());
    out += name;
    u32(1);
    u64(n);
    u32(0);  // F32
    u64(i * padded);
  }
  out.resize((out.size() + 31) / 32 * 32, '\0');
  return Concat(out, padded + n * 4, 0x11);
}

TEST(ChunkerTest, GgufTensorRangesIncludeTheirPadding) {
  const auto file = Gguf(10);  // 40 bytes of data padded to 64
  auto plan = PlanChunks(MemoryByteSource(file), FileFormat::kGguf, {});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->blocks.size(), 3u);
  EXPECT_EQ(plan->blocks[1].size, 64u);
  EXPECT_EQ(plan->blocks[2].size, 40u);
  EXPECT_EQ(plan->blocks[1].element_width, 4);
  EXPECT_EQ(Covered(*plan), file.size());
  EXPECT_EQ(plan->tensors[1].first_block, 2u);
}

TEST(ChunkerTest, SmallOtherFilesAreOneBlockAndEmptyOnesNone) {
  std::vector<std::byte> small(1 << 20, std::byte{7});
  auto plan = PlanChunks(MemoryByteSource(small), FileFormat::kOther, {});
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->blocks.size(), 1u);
  EXPECT_EQ(plan->blocks[0].size, small.size());
  auto empty = PlanChunks(MemoryByteSource({}), FileFormat::kOther, {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->blocks.empty());
}

TEST(ChunkerTest, LargeOtherFilesAreCutByContentWithinBounds) {
  std::vector<std::byte> data(9 << 20);
  std::mt19937_64 rng(7);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  ChunkOptions options;
  auto plan = PlanChunks(MemoryByteSource(data), FileFormat::kOther, options);
  ASSERT_TRUE(plan);
  EXPECT_EQ(Covered(*plan), data.size());
  for (std::size_t i = 0; i + 1 < plan->blocks.size(); ++i) {
    EXPECT_GE(plan->blocks[i].size, options.cdc.min_size);
    EXPECT_LE(plan->blocks[i].size, options.cdc.max_size);
  }
  // The same cuts as running FastCDC over the whole buffer at once: windowing changes nothing.
  std::uint64_t at = 0;
  for (const BlockExtent& b : plan->blocks) {
    EXPECT_EQ(b.size, FastCdcCut(std::span<const std::byte>(data).subspan(at), options.cdc));
    at += b.size;
  }
}

}  // namespace
}  // namespace mei
