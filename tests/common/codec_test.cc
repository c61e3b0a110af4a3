#include "common/codec.h"

#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace mei {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::size_t kBlockSize = 256 * 1024;

std::uint16_t ToBf16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

template <class T>
void Append(Bytes& out, T value) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(value));
  std::memcpy(out.data() + at, &value, sizeof(value));
}

// Weights of a trained layer: normal, standard deviation 0.02.
Bytes Bf16Normal(std::size_t count, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Bytes out;
  out.reserve(count * 2);
  for (std::size_t i = 0; i < count; ++i) Append(out, ToBf16(normal(rng)));
  return out;
}

Bytes F32Normal(std::size_t count) {
  std::mt19937_64 rng(2);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Bytes out;
  out.reserve(count * 4);
  for (std::size_t i = 0; i < count; ++i) Append(out, normal(rng));
  return out;
}

Bytes RandomBytes(std::size_t size, std::uint64_t seed = 3) {
  std::mt19937_64 rng(seed);
  Bytes out(size);
  for (std::byte& b : out) b = static_cast<std::byte>(rng());
  return out;
}

Bytes Text(std::size_t size) {
  static constexpr std::string_view kWords[] = {"the ",    "model ",  "edge ", "cache ",  "block ",
                                                "tensor ", "serves ", "a ",    "device ", "\n"};
  std::mt19937_64 rng(4);
  Bytes out;
  while (out.size() < size) {
    for (char c : kWords[rng() % std::size(kWords)]) out.push_back(static_cast<std::byte>(c));
  }
  out.resize(size);
  return out;
}

Codec CodecOf(const Bytes& frame) {
  auto view = ParseFrame(frame);
  EXPECT_TRUE(view) << view.error().message;
  return view ? view->header.codec : Codec::kRaw;
}

// A frame with the given header fields over `payload`, with a correct checksum unless told.
Bytes MakeFrame(std::uint8_t version, std::uint8_t codec, std::uint64_t raw_size,
                std::span<const std::byte> payload) {
  Bytes frame;
  frame.push_back(static_cast<std::byte>(version));
  frame.push_back(static_cast<std::byte>(codec));
  Append(frame, raw_size);
  const std::uint64_t seed = XXH3_64bits(frame.data(), frame.size());
  Append(frame,
         static_cast<std::uint64_t>(XXH3_64bits_withSeed(payload.data(), payload.size(), seed)));
  frame.insert(frame.end(), payload.begin(), payload.end());
  return frame;
}

Bytes ZstdCompress(std::span<const std::byte> input, bool record_content_size = true,
                   int level = 3) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, record_content_size ? 1 : 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  Bytes out(ZSTD_compressBound(input.size()));
  const std::size_t size = ZSTD_compress2(cctx, out.data(), out.size(), input.data(), input.size());
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(size));
  out.resize(size);
  return out;
}

// The decoder must leave its output alone on error; this is what it held before.
const Bytes kSentinel = {std::byte{0xde}, std::byte{0xad}};

void ExpectRejected(BlockDecoder& decoder, const Bytes& frame, const std::string& what) {
  Bytes raw = kSentinel;
  const Result<void> decoded = decoder.Decode(frame, raw);
  ASSERT_FALSE(decoded) << what;
  EXPECT_EQ(decoded.error().code, Errc::kBadFrame) << what;
  EXPECT_FALSE(decoded.error().message.empty()) << what;
  EXPECT_EQ(raw, kSentinel) << what;
}

TEST(CodecTest, NamesAreStable) {
  EXPECT_EQ(NameOf(Codec::kRaw), "raw");
  EXPECT_EQ(NameOf(Codec::kZstd), "zstd");
  EXPECT_EQ(NameOf(Codec::kBg2Zstd), "bg2+zstd");
  EXPECT_EQ(NameOf(Codec::kBg4Zstd), "bg4+zstd");
}

struct RoundTripCase {
  std::string name;
  Bytes raw;
  std::uint8_t element_width;
  std::set<Codec> expected;  // codecs the encoder may choose
};

std::vector<RoundTripCase> RoundTripCases() {
  const std::set<Codec> kAny = {Codec::kRaw, Codec::kZstd, Codec::kBg2Zstd, Codec::kBg4Zstd};
  Bytes odd_bf16 = Bf16Normal(2049);
  odd_bf16.pop_back();
  return {
      {"bf16_normal", Bf16Normal(kBlockSize / 2), 2, {Codec::kBg2Zstd}},
      {"bf16_normal_ungrouped", Bf16Normal(kBlockSize / 2), 0, {Codec::kZstd}},
      {"f32_normal", F32Normal(kBlockSize / 4), 4, {Codec::kBg4Zstd}},
      {"zeros_width2", Bytes(kBlockSize), 2, {Codec::kZstd, Codec::kBg2Zstd}},
      {"zeros_width4", Bytes(kBlockSize), 4, {Codec::kZstd, Codec::kBg4Zstd}},
      {"random", RandomBytes(kBlockSize), 0, {Codec::kRaw}},
      {"random_width2", RandomBytes(kBlockSize), 2, {Codec::kRaw}},
      {"text", Text(kBlockSize), 0, {Codec::kZstd}},
      {"empty", Bytes(), 0, {Codec::kRaw}},
      {"empty_width4", Bytes(), 4, {Codec::kRaw}},
      {"one_byte", Bytes(1, std::byte{7}), 2, {Codec::kRaw}},
      {"tail_shorter_than_a_vector", Bf16Normal(13), 2, kAny},
      {"odd_size_width2", odd_bf16, 2, {Codec::kRaw, Codec::kZstd}},
      {"width4_not_dividing", Bytes(kBlockSize + 2), 4, {Codec::kZstd}},
      {"width2_dividing_but_not_width4", Bf16Normal(4097), 2, {Codec::kBg2Zstd}},
  };
}

TEST(CodecTest, EveryBlockRoundTripsAtEveryLevel) {
  BlockDecoder decoder;
  for (int level : {1, 3, 9}) {
    BlockEncoder encoder({.zstd_level = level});
    for (const RoundTripCase& c : RoundTripCases()) {
      SCOPED_TRACE(c.name + " level " + std::to_string(level));
      Bytes frame;
      encoder.Encode(c.raw, c.element_width, frame);
      const Codec codec = CodecOf(frame);
      EXPECT_TRUE(c.expected.contains(codec)) << NameOf(codec);
      Bytes raw = kSentinel;
      const Result<void> decoded = decoder.Decode(frame, raw);
      ASSERT_TRUE(decoded) << decoded.error().message;
      EXPECT_EQ(raw, c.raw);
    }
  }
}

// Byte grouping the obvious way, to check the encoder's vectorized one against.
Bytes GroupSlowly(const Bytes& raw, std::size_t width) {
  const std::size_t count = raw.size() / width;
  Bytes grouped(raw.size());
  for (std::size_t k = 0; k < width; ++k) {
    for (std::size_t i = 0; i < count; ++i) grouped[k * count + i] = raw[i * width + width - 1 - k];
  }
  return grouped;
}

TEST(CodecTest, ChoosesTheSmallestCandidate) {
  constexpr int kLevel = 3;
  BlockEncoder encoder({.zstd_level = kLevel, .min_saving = 0});
  std::vector<std::pair<Bytes, std::uint8_t>> inputs;
  for (const RoundTripCase& c : RoundTripCases()) inputs.emplace_back(c.raw, c.element_width);
  // Small tensors, where grouping and plain zstd come within a few bytes of each other.
  for (std::size_t count = 64; count <= 8192; count += count / 2 + 1) {
    inputs.emplace_back(Bf16Normal(count, count), 2);
    inputs.emplace_back(F32Normal(count), 4);
  }
  for (const auto& [raw, width] : inputs) {
    SCOPED_TRACE(std::to_string(raw.size()) + " bytes, width " + std::to_string(width));
    std::size_t smallest = ZstdCompress(raw, true, kLevel).size();
    Codec expected = Codec::kZstd;
    if (width != 0 && !raw.empty() && raw.size() % width == 0) {
      const std::size_t grouped = ZstdCompress(GroupSlowly(raw, width), true, kLevel).size();
      if (grouped <= smallest) {
        smallest = grouped;
        expected = width == 2 ? Codec::kBg2Zstd : Codec::kBg4Zstd;
      }
    }
    if (smallest > raw.size()) {
      smallest = raw.size();
      expected = Codec::kRaw;
    }
    Bytes frame;
    encoder.Encode(raw, width, frame);
    EXPECT_EQ(frame.size(), kFrameHeaderSize + smallest);
    EXPECT_EQ(CodecOf(frame), expected);
  }
}

TEST(CodecTest, ByteGroupingPutsMostSignificantBytesFirst) {
  // Random elements whose most significant byte is fixed: only grouping exposes the repeats, and
  // the decompressed payload shows the plane layout. The odd element counts reach the tail loop.
  for (const std::size_t width : {2, 4}) {
    SCOPED_TRACE(width);
    Bytes raw = RandomBytes(width * 1027);
    for (std::size_t i = width - 1; i < raw.size(); i += width) raw[i] = std::byte{0x80};
    BlockEncoder encoder;
    Bytes frame;
    encoder.Encode(raw, static_cast<std::uint8_t>(width), frame);
    auto view = ParseFrame(frame);
    ASSERT_TRUE(view);
    ASSERT_EQ(view->header.codec, width == 2 ? Codec::kBg2Zstd : Codec::kBg4Zstd);
    Bytes grouped(raw.size());
    const std::size_t size =
        ZSTD_decompress(grouped.data(), grouped.size(), view->payload.data(), view->payload.size());
    ASSERT_EQ(size, raw.size());
    const std::size_t count = raw.size() / width;
    for (std::size_t k = 0; k < width; ++k) {
      for (std::size_t i = 0; i < count; ++i) {
        ASSERT_EQ(grouped[k * count + i], raw[i * width + width - 1 - k]) << k << " " << i;
      }
    }
  }
}

TEST(CodecTest, KeepsRawForIncompressibleBytes) {
  BlockEncoder encoder;
  Bytes frame;
  const Bytes raw = RandomBytes(kBlockSize);
  encoder.Encode(raw, 2, frame);
  EXPECT_EQ(CodecOf(frame), Codec::kRaw);
  ASSERT_EQ(frame.size(), kFrameHeaderSize + raw.size());
  EXPECT_TRUE(std::equal(raw.begin(), raw.end(), frame.begin() + kFrameHeaderSize));
}

TEST(CodecTest, MinSavingDecidesWhetherACodecIsKept) {
  const Bytes raw = Bf16Normal(kBlockSize / 2);
  Bytes frame;
  BlockEncoder(EncodeOptions{.min_saving = 0}).Encode(raw, 2, frame);
  ASSERT_EQ(CodecOf(frame), Codec::kBg2Zstd);
  const double payload = static_cast<double>(frame.size() - kFrameHeaderSize);
  const double size = static_cast<double>(raw.size());

  struct Case {
    double min_saving;
    Codec expected;
  };
  const Case cases[] = {
      {0.99, Codec::kRaw},
      {1.0, Codec::kRaw},
      {1 - (payload - 0.5) / size, Codec::kRaw},      // saves half a byte too little
      {1 - (payload + 0.5) / size, Codec::kBg2Zstd},  // saves just enough
      {0.05, Codec::kBg2Zstd},
  };
  for (const Case& c : cases) {
    BlockEncoder encoder({.min_saving = c.min_saving});
    encoder.Encode(raw, 2, frame);
    EXPECT_EQ(CodecOf(frame), c.expected) << "min_saving " << c.min_saving;
  }
}

TEST(CodecTest, EncoderIsReusableAcrossBlocksOfEveryKind) {
  BlockEncoder encoder;
  BlockDecoder decoder;
  Bytes frame;
  Bytes raw;
  for (int round = 0; round < 2; ++round) {
    for (const RoundTripCase& c : RoundTripCases()) {
      encoder.Encode(c.raw, c.element_width, frame);
      ASSERT_TRUE(decoder.Decode(frame, raw)) << c.name;
      EXPECT_EQ(raw, c.raw) << c.name;
    }
  }
}

TEST(CodecTest, MovedEncoderAndDecoderKeepWorking) {
  const Bytes raw = Bf16Normal(1000);
  BlockEncoder first;
  BlockEncoder encoder(std::move(first));
  BlockDecoder first_decoder;
  BlockDecoder decoder;
  decoder = std::move(first_decoder);
  Bytes frame;
  Bytes out;
  encoder.Encode(raw, 2, frame);
  ASSERT_TRUE(decoder.Decode(frame, out));
  EXPECT_EQ(out, raw);
}

TEST(ParseFrameTest, ReadsTheHeaderAndPointsIntoTheFrame) {
  const Bytes payload = Text(100);
  const Bytes frame = MakeFrame(kFrameVersion, 0, payload.size(), payload);
  auto view = ParseFrame(frame);
  ASSERT_TRUE(view) << view.error().message;
  EXPECT_EQ(view->header.codec, Codec::kRaw);
  EXPECT_EQ(view->header.raw_size, 100u);
  const std::uint64_t seed = XXH3_64bits(frame.data(), 10);
  EXPECT_EQ(view->header.checksum, XXH3_64bits_withSeed(payload.data(), payload.size(), seed));
  EXPECT_EQ(view->payload.data(), frame.data() + kFrameHeaderSize);
  EXPECT_EQ(view->payload.size(), 100u);
}

TEST(ParseFrameTest, HeaderIsLittleEndianAtFixedOffsets) {
  BlockEncoder encoder;
  Bytes frame;
  encoder.Encode(Text(0x1234), 0, frame);
  ASSERT_GE(frame.size(), kFrameHeaderSize);
  EXPECT_EQ(frame[0], std::byte{1});
  EXPECT_EQ(frame[1], std::byte{1});
  const Bytes size = {std::byte{0x34}, std::byte{0x12}, std::byte{0}, std::byte{0},
                      std::byte{0},    std::byte{0},    std::byte{0}, std::byte{0}};
  EXPECT_TRUE(std::equal(size.begin(), size.end(), frame.begin() + 2));
  const std::uint64_t xxh3 =
      XXH3_64bits_withSeed(frame.data() + kFrameHeaderSize, frame.size() - kFrameHeaderSize,
                           XXH3_64bits(frame.data(), 10));
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(frame[10 + i], static_cast<std::byte>(xxh3 >> (8 * i))) << i;
  }
}

TEST(ParseFrameTest, RejectsMalformedHeaders) {
  const Bytes payload = Text(64);
  struct Case {
    std::string name;
    Bytes frame;
  };
  const Case cases[] = {
      {"empty", Bytes()},
      {"header_only_17_bytes", Bytes(17)},
      {"version_0", MakeFrame(0, 0, payload.size(), payload)},
      {"version_2", MakeFrame(2, 0, payload.size(), payload)},
      {"version_255", MakeFrame(255, 0, payload.size(), payload)},
      {"codec_4", MakeFrame(kFrameVersion, 4, payload.size(), payload)},
      {"codec_255", MakeFrame(kFrameVersion, 255, payload.size(), payload)},
      {"raw_size_too_small", MakeFrame(kFrameVersion, 0, payload.size() - 1, payload)},
      {"raw_size_too_large", MakeFrame(kFrameVersion, 0, payload.size() + 1, payload)},
  };
  BlockDecoder decoder;
  for (const Case& c : cases) {
    auto view = ParseFrame(c.frame);
    ASSERT_FALSE(view) << c.name;
    EXPECT_EQ(view.error().code, Errc::kBadFrame) << c.name;
    ExpectRejected(decoder, c.frame, c.name);
  }
}

TEST(ParseFrameTest, RejectsAWrongChecksum) {
  const Bytes payload = Text(64);
  Bytes frame = MakeFrame(kFrameVersion, 0, payload.size(), payload);
  frame[10] ^= std::byte{1};
  auto view = ParseFrame(frame);
  ASSERT_FALSE(view);
  EXPECT_NE(view.error().message.find("XXH3"), std::string::npos) << view.error().message;
}

// Small frames of every codec, for corruption tests.
std::vector<std::pair<Codec, Bytes>> SmallFramesOfEveryCodec() {
  BlockEncoder encoder;
  const std::pair<Bytes, std::uint8_t> inputs[] = {
      {RandomBytes(96), 0}, {Text(96), 0}, {Bf16Normal(2048), 2}, {F32Normal(2048), 4}};
  std::vector<std::pair<Codec, Bytes>> frames;
  for (const auto& [raw, width] : inputs) {
    Bytes frame;
    encoder.Encode(raw, width, frame);
    frames.emplace_back(CodecOf(frame), std::move(frame));
  }
  return frames;
}

TEST(BlockDecoderTest, SmallFramesCoverEveryCodec) {
  std::set<Codec> codecs;
  for (const auto& [codec, frame] : SmallFramesOfEveryCodec()) codecs.insert(codec);
  EXPECT_EQ(codecs.size(), 4u);
}

TEST(BlockDecoderTest, RejectsEveryFlippedByte) {
  BlockDecoder decoder;
  for (const auto& [codec, frame] : SmallFramesOfEveryCodec()) {
    for (std::size_t at = 0; at < frame.size(); ++at) {
      Bytes corrupt = frame;
      corrupt[at] ^= std::byte{0xff};
      ExpectRejected(decoder, corrupt, std::string(NameOf(codec)) + " byte " + std::to_string(at));
    }
  }
}

// Every single-bit flip anywhere in the frame, the codec byte included: the checksum covers the
// header, so zstd (1) read as bg4 (3) is caught too, not decoded to permuted bytes.
TEST(BlockDecoderTest, RejectsEveryFlippedBit) {
  BlockDecoder decoder;
  for (const auto& [codec, frame] : SmallFramesOfEveryCodec()) {
    for (std::size_t at = 0; at < frame.size(); ++at) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes corrupt = frame;
        corrupt[at] ^= static_cast<std::byte>(1 << bit);
        ExpectRejected(decoder, corrupt,
                       std::string(NameOf(codec)) + " byte " + std::to_string(at) + " bit " +
                           std::to_string(bit));
      }
    }
  }
}

TEST(BlockDecoderTest, RejectsEveryOtherCodecValue) {
  BlockDecoder decoder;
  for (const auto& [codec, frame] : SmallFramesOfEveryCodec()) {
    for (int value = 0; value < 256; ++value) {
      if (value == static_cast<int>(codec)) continue;
      Bytes corrupt = frame;
      corrupt[1] = static_cast<std::byte>(value);
      ExpectRejected(decoder, corrupt,
                     std::string(NameOf(codec)) + " as codec " + std::to_string(value));
    }
  }
}

TEST(BlockDecoderTest, RejectsEveryTruncation) {
  BlockDecoder decoder;
  for (const auto& [codec, frame] : SmallFramesOfEveryCodec()) {
    for (std::size_t size = 0; size < frame.size(); ++size) {
      const Bytes truncated(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(size));
      ExpectRejected(decoder, truncated,
                     std::string(NameOf(codec)) + " cut to " + std::to_string(size));
    }
  }
}

TEST(BlockDecoderTest, RejectsZstdPayloadsThatDisagreeWithTheHeader) {
  const Bytes raw = Text(1000);
  const Bytes zstd = ZstdCompress(raw);
  const Bytes no_content_size = ZstdCompress(raw, /*record_content_size=*/false);
  Bytes two_frames = zstd;
  const Bytes empty_frame = ZstdCompress(Bytes());
  two_frames.insert(two_frames.end(), empty_frame.begin(), empty_frame.end());
  Bytes trailing_garbage = zstd;
  trailing_garbage.push_back(std::byte{0});
  const Bytes odd_raw = Text(1001);
  const Bytes odd_zstd = ZstdCompress(odd_raw);
  const Bytes huge_zero_frame = ZstdCompress(Bytes(1 << 20));
  // A hand-made zstd frame that claims 1 TiB of content: magic, a descriptor for an 8-byte content
  // size and a single segment, the size, then one last RLE block of 128 KiB.
  Bytes forged;
  Append(forged, std::uint32_t{0xfd2fb528});
  forged.push_back(std::byte{0xe0});
  Append(forged, std::uint64_t{1} << 40);
  const std::uint32_t block_header = (128 * 1024) << 3 | 1 << 1 | 1;
  for (int i = 0; i < 3; ++i) forged.push_back(static_cast<std::byte>(block_header >> (8 * i)));
  forged.push_back(std::byte{0});
  ASSERT_EQ(ZSTD_getFrameContentSize(forged.data(), forged.size()), std::uint64_t{1} << 40);

  struct Case {
    std::string name;
    Bytes frame;
  };
  const auto zstd_codec = static_cast<std::uint8_t>(Codec::kZstd);
  const auto bg2_codec = static_cast<std::uint8_t>(Codec::kBg2Zstd);
  const auto bg4_codec = static_cast<std::uint8_t>(Codec::kBg4Zstd);
  const Case cases[] = {
      {"raw_size_one_less", MakeFrame(kFrameVersion, zstd_codec, raw.size() - 1, zstd)},
      {"raw_size_one_more", MakeFrame(kFrameVersion, zstd_codec, raw.size() + 1, zstd)},
      {"raw_size_huge", MakeFrame(kFrameVersion, zstd_codec, std::uint64_t{1} << 62, zstd)},
      {"raw_size_zero", MakeFrame(kFrameVersion, zstd_codec, 0, zstd)},
      {"no_content_size", MakeFrame(kFrameVersion, zstd_codec, raw.size(), no_content_size)},
      {"no_content_size_understated",
       MakeFrame(kFrameVersion, zstd_codec, raw.size() - 10, no_content_size)},
      {"two_frames", MakeFrame(kFrameVersion, zstd_codec, raw.size(), two_frames)},
      {"trailing_garbage", MakeFrame(kFrameVersion, zstd_codec, raw.size(), trailing_garbage)},
      {"not_zstd", MakeFrame(kFrameVersion, zstd_codec, raw.size(), raw)},
      {"bg2_odd_size", MakeFrame(kFrameVersion, bg2_codec, odd_raw.size(), odd_zstd)},
      {"bg4_size_not_multiple_of_4",
       MakeFrame(kFrameVersion, bg4_codec, raw.size() + 2, ZstdCompress(Text(1002)))},
      {"ratio_impossible_for_zstd",
       MakeFrame(kFrameVersion, zstd_codec, std::uint64_t{1} << 40, huge_zero_frame)},
      {"forged_content_size", MakeFrame(kFrameVersion, zstd_codec, std::uint64_t{1} << 40, forged)},
  };
  BlockDecoder decoder;
  for (const Case& c : cases) ExpectRejected(decoder, c.frame, c.name);

  // The same payloads with honest headers decode, so the cases above fail for the stated reason.
  Bytes out;
  ASSERT_TRUE(decoder.Decode(MakeFrame(kFrameVersion, zstd_codec, raw.size(), zstd), out));
  EXPECT_EQ(out, raw);
  ASSERT_TRUE(decoder.Decode(MakeFrame(kFrameVersion, zstd_codec, 1 << 20, huge_zero_frame), out));
  EXPECT_EQ(out, Bytes(1 << 20));
}

TEST(BlockDecoderTest, DecodeReplacesTheOutputOnSuccess) {
  BlockEncoder encoder;
  BlockDecoder decoder;
  const Bytes raw = Bf16Normal(300);
  Bytes frame;
  encoder.Encode(raw, 2, frame);
  Bytes out = RandomBytes(5000);
  ASSERT_TRUE(decoder.Decode(frame, out));
  EXPECT_EQ(out, raw);

  encoder.Encode(Bytes(), 0, frame);
  ASSERT_TRUE(decoder.Decode(frame, out));
  EXPECT_TRUE(out.empty());
}

TEST(BlockDecoderTest, FailedDecodeAfterSuccessLeavesOutputUntouched) {
  BlockEncoder encoder;
  BlockDecoder decoder;
  Bytes frame;
  encoder.Encode(Text(5000), 0, frame);
  Bytes out;
  ASSERT_TRUE(decoder.Decode(frame, out));
  const Bytes good = out;
  frame.back() ^= std::byte{4};
  EXPECT_FALSE(decoder.Decode(frame, out));
  EXPECT_EQ(out, good);
}

}  // namespace
}  // namespace mei
