// ReceivedBlock: a block as it arrives from another node, assembled into its stored frame and
// verified. The payload is copied once, from the HTTP parser into the frame's buffer (allocated to
// the announced size when the reply's head arrives, never moved afterwards), and the SHA-256 of a
// raw payload and the frame's checksum are computed as the bytes pass, while they are in the
// CPU's cache, so verifying and framing a raw block cost no second pass over it. What a
// cache node fills misses with (cache-node/block_filler.h), and what FetchBlockFrame returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/aligned_bytes.h"
#include "common/block_id.h"
#include "common/codec.h"
#include "common/digest.h"
#include "common/errc.h"

namespace mei::http {

// Takes a block as FetchBlockAsync (data_plane_client.h) streams it in. Called on the fetch's
// strand, one call at a time.
class BlockReceiver {
 public:
  virtual ~BlockReceiver() = default;
  // The node answered with the block: `payload_size` bytes in `codec`, for `raw_size` raw bytes
  // (equal for kRaw). Called once per fetch, before any Append. An error aborts the fetch.
  [[nodiscard]] virtual Result<void> Begin(Codec codec, std::uint64_t raw_size,
                                           std::uint64_t payload_size) = 0;
  // The next payload bytes, in order; never more than announced. An error aborts the fetch.
  [[nodiscard]] virtual Result<void> Append(std::span<const std::byte> payload) = 0;
};

class ReceivedBlock final : public BlockReceiver {
 public:
  // `source` names the sender in error messages ("parent", "peer:edge-b").
  ReceivedBlock(BlockId id, std::string source);

  Result<void> Begin(Codec codec, std::uint64_t raw_size, std::uint64_t payload_size) override;
  Result<void> Append(std::span<const std::byte> payload) override;

  // Verifies the block once the fetch has returned: every announced byte came, a coded payload
  // decodes to raw_size bytes, and the SHA-256 of the raw bytes is the id; then writes the frame's
  // header. kIntegrity, naming the source and what was wrong, otherwise. Call at most once.
  [[nodiscard]] Result<void> Finish();

  [[nodiscard]] Codec codec() const { return codec_; }
  [[nodiscard]] std::uint64_t raw_size() const { return raw_size_; }
  // Payload bytes received so far.
  [[nodiscard]] std::uint64_t received() const { return received_; }

  // The raw bytes of the block. For a kRaw payload the first received() of them are valid as soon
  // as Append returns, and stay where they are (what a cut-through reader sends before the block
  // is verified); for a coded one they exist only once Finish succeeded. REQUIRES: Begin
  // succeeded.
  [[nodiscard]] const std::byte* raw_data() const;

  // The whole stored frame (header and payload). REQUIRES: Finish succeeded.
  [[nodiscard]] std::span<const std::byte> frame() const;
  // The frame's header as Finish wrote it. REQUIRES: Finish succeeded.
  [[nodiscard]] FrameHeader header() const;

 private:
  const BlockId id_;
  const std::string source_;
  bool begun_ = false;
  bool finished_ = false;
  Codec codec_ = Codec::kRaw;
  std::uint64_t raw_size_ = 0;
  std::uint64_t payload_size_ = 0;
  std::uint64_t received_ = 0;
  AlignedBytes frame_;     // kFrameHeaderSize + payload_size_ bytes, stored without a copy
  Sha256Hasher raw_hash_;  // of a kRaw payload, as it arrives
  std::optional<FrameChecksummer> checksum_state_;  // of the payload, as it arrives
  std::vector<std::byte> decoded_;                  // a coded payload's raw bytes, after Finish
  std::uint64_t checksum_ = 0;                      // the frame's, after Finish
};

}  // namespace mei::http
