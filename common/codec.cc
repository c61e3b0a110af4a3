#include "common/codec.h"

#include <fmt/format.h>
#include <xxhash.h>
#include <zstd.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace mei {
namespace {

constexpr std::size_t kChecksumOffset = 10;

static_assert(std::endian::native == std::endian::little,
              "byte grouping and the frame header assume a little-endian host");

// A zstd block yields at most 128 KiB and takes at least 4 bytes (a 3-byte header and one RLE
// byte), so no zstd frame expands more than 32768-fold. Checked before allocating raw_size bytes.
constexpr std::uint64_t kZstdMaxBlockOutput = 128 * 1024;
constexpr std::uint64_t kZstdMinBlockBytes = 4;

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* cctx) const { ZSTD_freeCCtx(cctx); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* dctx) const { ZSTD_freeDCtx(dctx); }
};

void StoreU64(std::byte* out, std::uint64_t value) { std::memcpy(out, &value, sizeof(value)); }

std::uint64_t LoadU64(const std::byte* in) {
  std::uint64_t value = 0;
  std::memcpy(&value, in, sizeof(value));
  return value;
}

Error BadFrame(std::string message) { return Error{Errc::kBadFrame, std::move(message)}; }

std::size_t GroupingWidthOf(Codec codec) {
  switch (codec) {
    case Codec::kBg2Zstd:
      return 2;
    case Codec::kBg4Zstd:
      return 4;
    case Codec::kRaw:
    case Codec::kZstd:
      return 0;
  }
  return 0;
}

// Byte grouping (the "byte shuffle" of Blosc and HDF5): for elements of kWidth bytes, plane k holds
// byte kWidth-1-k of every element, so the first plane holds the most significant bytes (sign and
// exponent of a float), which repeat a lot, and the last the least significant mantissa bytes,
// which look random. zstd then finds the repeats that interleaving hides.
//
// Each step loads kLanes whole elements, splits them with shifts into kLanes bytes per plane and
// stores each plane's bytes with one memcpy. Fixed trip counts on separate arrays let GCC -O2
// vectorize both loops (several GB/s); a naive strided loop stays scalar. The last count % kLanes
// elements take the scalar loop.
constexpr std::size_t kLanes = 16;

template <class Word>
void GroupBytes(const std::byte* __restrict in, std::size_t count, std::byte* __restrict out) {
  constexpr std::size_t kWidth = sizeof(Word);
  std::size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    Word words[kLanes];
    std::memcpy(words, in + i * kWidth, sizeof(words));
    std::uint8_t planes[kWidth][kLanes];
    for (std::size_t k = 0; k < kWidth; ++k) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        planes[k][j] = static_cast<std::uint8_t>(words[j] >> (8 * (kWidth - 1 - k)));
      }
    }
    for (std::size_t k = 0; k < kWidth; ++k) std::memcpy(out + k * count + i, planes[k], kLanes);
  }
  for (; i < count; ++i) {
    for (std::size_t k = 0; k < kWidth; ++k) out[k * count + i] = in[i * kWidth + kWidth - 1 - k];
  }
}

template <class Word>
void UngroupBytes(const std::byte* __restrict in, std::size_t count, std::byte* __restrict out) {
  constexpr std::size_t kWidth = sizeof(Word);
  std::size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    std::uint8_t planes[kWidth][kLanes];
    for (std::size_t k = 0; k < kWidth; ++k) std::memcpy(planes[k], in + k * count + i, kLanes);
    Word words[kLanes] = {};
    for (std::size_t k = 0; k < kWidth; ++k) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        words[j] |= static_cast<Word>(Word{planes[k][j]} << (8 * (kWidth - 1 - k)));
      }
    }
    std::memcpy(out + i * kWidth, words, sizeof(words));
  }
  for (; i < count; ++i) {
    for (std::size_t k = 0; k < kWidth; ++k) out[i * kWidth + kWidth - 1 - k] = in[k * count + i];
  }
}

// REQUIRES: width is 2 or 4 and divides bytes.size(); out holds bytes.size() bytes.
void Group(std::span<const std::byte> bytes, std::size_t width, std::byte* out) {
  if (width == 2) {
    GroupBytes<std::uint16_t>(bytes.data(), bytes.size() / 2, out);
  } else {
    GroupBytes<std::uint32_t>(bytes.data(), bytes.size() / 4, out);
  }
}

void Ungroup(std::span<const std::byte> grouped, std::size_t width, std::byte* out) {
  if (width == 2) {
    UngroupBytes<std::uint16_t>(grouped.data(), grouped.size() / 2, out);
  } else {
    UngroupBytes<std::uint32_t>(grouped.data(), grouped.size() / 4, out);
  }
}

// XXH3-64 of the payload seeded with XXH3-64 of header bytes 0-9, so that a flipped codec or
// raw-size bit is caught as surely as a flipped payload bit.
std::uint64_t FrameChecksum(std::span<const std::byte> frame) {
  const std::uint64_t header_seed = XXH3_64bits(frame.data(), kChecksumOffset);
  return XXH3_64bits_withSeed(frame.data() + kFrameHeaderSize, frame.size() - kFrameHeaderSize,
                              header_seed);
}

void WriteHeaderFields(Codec codec, std::uint64_t raw_size, std::byte* out) {
  out[0] = std::byte{kFrameVersion};
  out[1] = static_cast<std::byte>(codec);
  StoreU64(out + 2, raw_size);
}

FrameHeader WriteHeader(Codec codec, std::uint64_t raw_size, std::vector<std::byte>& frame) {
  WriteHeaderFields(codec, raw_size, frame.data());
  const std::uint64_t checksum = FrameChecksum(frame);
  StoreU64(frame.data() + kChecksumOffset, checksum);
  return FrameHeader{codec, raw_size, checksum};
}

}  // namespace

struct FrameChecksummer::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

FrameChecksummer::FrameChecksummer(Codec codec, std::uint64_t raw_size)
    : state_(std::make_unique<State>()) {
  if (state_->xxh == nullptr) throw std::bad_alloc();
  std::byte fields[kChecksumOffset];
  WriteHeaderFields(codec, raw_size, fields);
  XXH3_64bits_reset_withSeed(state_->xxh, XXH3_64bits(fields, kChecksumOffset));
}
FrameChecksummer::~FrameChecksummer() = default;
FrameChecksummer::FrameChecksummer(FrameChecksummer&&) noexcept = default;
FrameChecksummer& FrameChecksummer::operator=(FrameChecksummer&&) noexcept = default;

void FrameChecksummer::Update(std::span<const std::byte> payload) {
  XXH3_64bits_update(state_->xxh, payload.data(), payload.size());
}

std::uint64_t FrameChecksummer::Finish() const { return XXH3_64bits_digest(state_->xxh); }

FrameHeader WriteFrameHeader(Codec codec, std::uint64_t raw_size, std::uint64_t checksum,
                             std::span<std::byte> frame) {
  WriteHeaderFields(codec, raw_size, frame.data());
  StoreU64(frame.data() + kChecksumOffset, checksum);
  return FrameHeader{codec, raw_size, checksum};
}

std::string_view NameOf(Codec codec) {
  switch (codec) {
    case Codec::kRaw:
      return "raw";
    case Codec::kZstd:
      return "zstd";
    case Codec::kBg2Zstd:
      return "bg2+zstd";
    case Codec::kBg4Zstd:
      return "bg4+zstd";
  }
  return "unknown";
}

std::vector<std::byte> FrameOf(Codec codec, std::uint64_t raw_size,
                               std::span<const std::byte> payload) {
  // Reserved and appended, not sized and overwritten: a block's worth of zeroes would cost a pass
  // over it as large as the copy.
  std::vector<std::byte> frame;
  frame.reserve(kFrameHeaderSize + payload.size());
  frame.resize(kFrameHeaderSize);
  frame.insert(frame.end(), payload.begin(), payload.end());
  WriteHeader(codec, raw_size, frame);
  return frame;
}

Result<FrameView> ParseFrame(std::span<const std::byte> frame) {
  if (frame.size() < kFrameHeaderSize) {
    return BadFrame(fmt::format("frame of {} bytes is shorter than its {}-byte header",
                                frame.size(), kFrameHeaderSize));
  }
  const auto version = static_cast<std::uint8_t>(frame[0]);
  if (version != kFrameVersion) {
    return BadFrame(fmt::format("frame has format version {}; this build reads version {}", version,
                                kFrameVersion));
  }
  const auto codec_byte = static_cast<std::uint8_t>(frame[1]);
  if (codec_byte > static_cast<std::uint8_t>(Codec::kBg4Zstd)) {
    return BadFrame(fmt::format("frame names unknown codec {}", codec_byte));
  }
  FrameView view;
  view.header.codec = static_cast<Codec>(codec_byte);
  view.header.raw_size = LoadU64(frame.data() + 2);
  view.header.checksum = LoadU64(frame.data() + kChecksumOffset);
  view.payload = frame.subspan(kFrameHeaderSize);
  if (view.header.codec == Codec::kRaw && view.payload.size() != view.header.raw_size) {
    return BadFrame(fmt::format("raw frame holds {} payload bytes but its header says {}",
                                view.payload.size(), view.header.raw_size));
  }
  if (FrameChecksum(frame) != view.header.checksum) {
    return BadFrame("frame does not match its XXH3 checksum");
  }
  return view;
}

// Every applicable candidate is compressed and the smallest kept: "smallest" is the contract, and
// which codec wins is not knowable without trying (small tensors often do better ungrouped).
// bgN+zstd goes first, plain zstd second. The second candidate makes encoding BF16 weights about
// 1.6x slower; on random-looking blocks it costs little, since zstd's fast strategies stride ever
// faster over input in which they find no matches. Each candidate gets ZSTD_compressBound bytes of
// output space: with less, zstd gives up Huffman-coding literals that would still have fit (its
// bit writers want slack at the end of the buffer), so capping a candidate at the best size so
// far could lose the true winner.
struct BlockEncoder::State {
  explicit State(EncodeOptions opts) : options(opts), cctx(ZSTD_createCCtx()) {
    if (cctx == nullptr ||
        ZSTD_isError(
            ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, options.zstd_level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0))) {
      throw std::bad_alloc();
    }
  }

  // Compresses `input` into one zstd frame at frame[kFrameHeaderSize...]. Returns the payload
  // size, or SIZE_MAX if zstd fails (raw is always a correct fallback).
  std::size_t Compress(std::span<const std::byte> input, std::vector<std::byte>& frame) {
    const std::size_t capacity = ZSTD_compressBound(input.size());
    frame.resize(kFrameHeaderSize + capacity);
    const std::size_t size = ZSTD_compress2(cctx.get(), frame.data() + kFrameHeaderSize, capacity,
                                            input.data(), input.size());
    if (ZSTD_isError(size)) return SIZE_MAX;
    frame.resize(kFrameHeaderSize + size);
    return size;
  }

  EncodeOptions options;
  std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx;
  std::vector<std::byte> grouped;    // the block, byte-grouped
  std::vector<std::byte> candidate;  // the frame of the second candidate
};

BlockEncoder::BlockEncoder(EncodeOptions options) : state_(std::make_unique<State>(options)) {}
BlockEncoder::~BlockEncoder() = default;
BlockEncoder::BlockEncoder(BlockEncoder&&) noexcept = default;
BlockEncoder& BlockEncoder::operator=(BlockEncoder&&) noexcept = default;

void BlockEncoder::Encode(std::span<const std::byte> raw, std::uint8_t element_width,
                          std::vector<std::byte>& frame) {
  State& state = *state_;
  Codec best = Codec::kZstd;
  std::size_t best_size = SIZE_MAX;
  if ((element_width == 2 || element_width == 4) && !raw.empty() &&
      raw.size() % element_width == 0) {
    state.grouped.resize(raw.size());
    Group(raw, element_width, state.grouped.data());
    best_size = state.Compress(state.grouped, frame);
    best = element_width == 2 ? Codec::kBg2Zstd : Codec::kBg4Zstd;
  }
  if (best_size == SIZE_MAX) {
    best = Codec::kZstd;
    best_size = state.Compress(raw, frame);
  } else {
    const std::size_t size = state.Compress(raw, state.candidate);
    if (size < best_size) {
      best = Codec::kZstd;
      best_size = size;
      std::swap(frame, state.candidate);
    }
  }

  // NaN or a min_saving above 1 keep nothing but raw.
  const double keep_limit = static_cast<double>(raw.size()) * (1.0 - state.options.min_saving);
  if (best_size == SIZE_MAX || !(static_cast<double>(best_size) <= keep_limit)) {
    best = Codec::kRaw;
    frame.resize(kFrameHeaderSize + raw.size());
    if (!raw.empty()) std::memcpy(frame.data() + kFrameHeaderSize, raw.data(), raw.size());
  }
  WriteHeader(best, raw.size(), frame);
}

struct BlockDecoder::State {
  State() : dctx(ZSTD_createDCtx()) {
    if (dctx == nullptr) throw std::bad_alloc();
  }

  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx;
  std::vector<std::byte> scratch;  // decompressed bytes until they are known to be good
};

BlockDecoder::BlockDecoder() : state_(std::make_unique<State>()) {}
BlockDecoder::~BlockDecoder() = default;
BlockDecoder::BlockDecoder(BlockDecoder&&) noexcept = default;
BlockDecoder& BlockDecoder::operator=(BlockDecoder&&) noexcept = default;

// Everything that can fail happens before `raw` is touched: a zstd payload is decompressed into
// the scratch buffer, which then trades places with `raw` (plain zstd) or is un-grouped into it.
// The raw size from the header must agree with the size the zstd frame records, with the size
// it actually decompresses to, and with the element width, and the payload must be exactly one
// zstd frame, so a flipped bit in the header is an error, not a wrong block.
Result<void> BlockDecoder::Decode(std::span<const std::byte> frame, std::vector<std::byte>& raw) {
  Result<FrameView> parsed = ParseFrame(frame);
  if (!parsed) return parsed.error();
  const FrameHeader& header = parsed->header;
  const std::span<const std::byte> payload = parsed->payload;
  if (header.codec == Codec::kRaw) {
    raw.assign(payload.begin(), payload.end());
    return {};
  }

  const std::size_t width = GroupingWidthOf(header.codec);
  if (width != 0 && header.raw_size % width != 0) {
    return BadFrame(fmt::format("{} frame has raw size {}, not a multiple of {}",
                                NameOf(header.codec), header.raw_size, width));
  }
  const unsigned long long content_size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (content_size == ZSTD_CONTENTSIZE_ERROR) {
    return BadFrame(fmt::format("{} frame payload is not a zstd frame", NameOf(header.codec)));
  }
  if (content_size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return BadFrame("zstd payload does not record its content size");
  }
  if (content_size != header.raw_size) {
    return BadFrame(fmt::format("zstd payload holds {} bytes but the frame header says {}",
                                content_size, header.raw_size));
  }
  if (header.raw_size > payload.size() / kZstdMinBlockBytes * kZstdMaxBlockOutput) {
    return BadFrame(fmt::format("a zstd payload of {} bytes cannot hold {} bytes", payload.size(),
                                header.raw_size));
  }
  const std::size_t frame_size = ZSTD_findFrameCompressedSize(payload.data(), payload.size());
  if (ZSTD_isError(frame_size) || frame_size != payload.size()) {
    return BadFrame("zstd payload is not exactly one zstd frame");
  }

  State& state = *state_;
  state.scratch.resize(header.raw_size);
  const std::size_t size = ZSTD_decompressDCtx(
      state.dctx.get(), state.scratch.data(), state.scratch.size(), payload.data(), payload.size());
  if (ZSTD_isError(size)) {
    return BadFrame(fmt::format("zstd payload does not decompress: {}", ZSTD_getErrorName(size)));
  }
  if (size != header.raw_size) {
    return BadFrame(
        fmt::format("zstd payload decompresses to {} bytes but the frame header says {}", size,
                    header.raw_size));
  }
  if (width == 0) {
    std::swap(raw, state.scratch);
  } else {
    raw.resize(state.scratch.size());
    Ungroup(state.scratch, width, raw.data());
  }
  return {};
}

}  // namespace mei
