// Fuzz target: the stored-frame decoder (ParseFrame and BlockDecoder::Decode in common/codec.h).
//
// Frames come from the store and from other nodes (a block sent in its stored coding is framed
// with FrameOf and decoded to be verified), so the input is any bytes, decoded twice:
//   1. as given: the frame's own checksum rejects nearly every mutation, which is the point;
//   2. with its header fields and payload re-framed by FrameOf (codec byte taken modulo 4), so the
//      checksum is right and mutations reach the zstd, size and un-grouping checks behind it --
//      what a peer that frames garbage correctly would make us decode.
// A rejection must be kBadFrame and leave the output untouched. A decoded block must have the raw
// size its header says, and must survive an encode/decode round trip with BlockEncoder.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace mei {
namespace {

using ull = unsigned long long;

// Round-trips decoded blocks up to this size (larger ones only cost time).
constexpr std::size_t kMaxRoundTripBytes = 1 << 20;

std::uint8_t ElementWidth(Codec codec) {
  return codec == Codec::kBg2Zstd ? 2 : codec == Codec::kBg4Zstd ? 4 : 0;
}

void DecodeAndCheck(std::span<const std::byte> frame) {
  static BlockDecoder decoder;  // reused across inputs, as the server's threads reuse theirs
  static BlockEncoder encoder;
  const std::vector<std::byte> sentinel = {std::byte{0xee}, std::byte{0x11}};
  std::vector<std::byte> raw = sentinel;
  const Result<void> decoded = decoder.Decode(frame, raw);
  if (!decoded) {
    FUZZ_CHECK(decoded.error().code == Errc::kBadFrame && !decoded.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(decoded.error().code),
               decoded.error().message.c_str());
    FUZZ_CHECK(raw == sentinel, "a rejected frame changed the output");
    return;
  }
  const Result<FrameView> view = ParseFrame(frame);
  FUZZ_CHECK(view.has_value(), "a frame that decodes does not parse: %s",
             view.error().message.c_str());
  FUZZ_CHECK(raw.size() == view->header.raw_size, "decoded %zu bytes; the header says %llu",
             raw.size(), static_cast<ull>(view->header.raw_size));
  if (raw.size() > kMaxRoundTripBytes) return;
  std::vector<std::byte> again;
  encoder.Encode(raw, ElementWidth(view->header.codec), again);
  std::vector<std::byte> round_trip;
  const Result<void> redecoded = decoder.Decode(again, round_trip);
  FUZZ_CHECK(redecoded.has_value(), "a re-encoded block does not decode: %s",
             redecoded.error().message.c_str());
  FUZZ_CHECK(round_trip == raw, "a block changed in an encode/decode round trip");
}

}  // namespace
}  // namespace mei

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  const std::span<const std::byte> input = std::as_bytes(std::span(data, size));
  DecodeAndCheck(input);
  if (size < kFrameHeaderSize) return 0;
  const auto codec = static_cast<Codec>(static_cast<std::uint8_t>(input[1]) % 4);
  std::uint64_t raw_size = 0;
  std::memcpy(&raw_size, data + 2, sizeof(raw_size));
  DecodeAndCheck(FrameOf(codec, raw_size, input.subspan(kFrameHeaderSize)));
  return 0;
}
