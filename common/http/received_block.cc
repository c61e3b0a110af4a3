#include "common/http/received_block.h"

#include <fmt/format.h>

#include <cstring>
#include <utility>

namespace mei::http {
namespace {

// Decoders kept per thread: a decoder holds zstd contexts worth reusing.
BlockDecoder& ThreadDecoder() {
  thread_local BlockDecoder decoder;
  return decoder;
}

}  // namespace

ReceivedBlock::ReceivedBlock(BlockId id, std::string source)
    : id_(id), source_(std::move(source)) {}

Result<void> ReceivedBlock::Begin(Codec codec, std::uint64_t raw_size, std::uint64_t payload_size) {
  if (begun_) {
    return Error{Errc::kInternal,
                 fmt::format("block {} from {} was begun twice", id_.Hex(), source_)};
  }
  if (codec == Codec::kRaw && raw_size != payload_size) {
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} announced raw block {} as {} bytes with a {}-byte payload",
                             source_, id_.Hex(), raw_size, payload_size)};
  }
  begun_ = true;
  codec_ = codec;
  raw_size_ = raw_size;
  payload_size_ = payload_size;
  checksum_state_.emplace(codec, raw_size);
  // Not value-initialised: zeroing a block's worth would cost a pass as large as the copy.
  frame_ = AlignedBytes(kFrameHeaderSize + payload_size);
  return {};
}

Result<void> ReceivedBlock::Append(std::span<const std::byte> payload) {
  if (!begun_ || payload.size() > payload_size_ - received_) {
    return Error{Errc::kUpstreamFailed,
                 fmt::format("{} sent more of block {} than the {} bytes it announced", source_,
                             id_.Hex(), payload_size_)};
  }
  std::memcpy(frame_.data() + kFrameHeaderSize + received_, payload.data(), payload.size());
  checksum_state_->Update(payload);
  if (codec_ == Codec::kRaw) raw_hash_.Update(payload);
  received_ += payload.size();
  return {};
}

Result<void> ReceivedBlock::Finish() {
  const std::string what = "block " + id_.Hex();
  if (!begun_ || finished_) {
    return Error{Errc::kInternal,
                 fmt::format("{} from {} was finished before it began or twice", what, source_)};
  }
  finished_ = true;
  if (received_ != payload_size_) {
    return Error{Errc::kIntegrity, fmt::format("{} sent {} of the {} bytes it announced for {}",
                                               source_, received_, payload_size_, what)};
  }
  const std::span<std::byte> frame(frame_.data(), kFrameHeaderSize + payload_size_);
  checksum_ = WriteFrameHeader(codec_, raw_size_, checksum_state_->Finish(), frame).checksum;
  Sha256Digest digest;
  if (codec_ == Codec::kRaw) {
    digest = raw_hash_.Finish();
  } else {
    if (auto decoded = ThreadDecoder().Decode(frame, decoded_); !decoded) {
      return Error{Errc::kIntegrity, fmt::format("{} sent {} that does not decode: {}", source_,
                                                 what, decoded.error().message)};
    }
    digest = Sha256Of(decoded_);
  }
  if (digest != id_) {
    return Error{Errc::kIntegrity, fmt::format("{} sent bytes for {} whose SHA-256 is {}", source_,
                                               what, digest.Hex())};
  }
  return {};
}

const std::byte* ReceivedBlock::raw_data() const {
  return codec_ == Codec::kRaw ? frame_.data() + kFrameHeaderSize : decoded_.data();
}

std::span<const std::byte> ReceivedBlock::frame() const {
  return {frame_.data(), kFrameHeaderSize + payload_size_};
}

FrameHeader ReceivedBlock::header() const { return FrameHeader{codec_, raw_size_, checksum_}; }

}  // namespace mei::http
