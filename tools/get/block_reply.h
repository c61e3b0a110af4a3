// BlockReply: a node's reply carrying blocks, taken in as it arrives and written to every place
// each block goes (download_plan.h), each block verified against its id. Either
//   - the reply to GET /v1/blocks/{id} for one block: raw (no Content-Encoding), or in a stored
//     coding (zstd, x-mei-bg2-zstd, x-mei-bg4-zstd, with X-Mei-Raw-Size); or
//   - the 206 reply to a Range request on the resolve route for a run of blocks that lie end to
//     end in one file: raw bytes, cut at the block boundaries.
// Raw bytes are hashed and written piece by piece as they land, and each block is checked as its
// last byte arrives; a coded block is gathered, decoded, hashed and then written. Until a block is
// verified, the bytes written for it are not the block (a bad reply leaves garbage that the next
// attempt overwrites, and a run that resumes verifies what it finds).
//
// Errors name the node and the block, in one sentence: kIntegrity for bytes that are not the block
// (a wrong length, a payload that does not decode, a wrong SHA-256); kBlockNotFound for a 404;
// kUpstreamFailed for other statuses, a range not answered as asked and codings not asked for;
// and kIo / kStoreFull, with local_failure() true, when a file cannot be written.
//
// One per reply; not thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/codec.h"
#include "common/digest.h"
#include "common/http/data_plane_client.h"
#include "tools/get/block_connection.h"
#include "tools/get/download_plan.h"
#include "tools/get/pacer.h"

namespace mei::tools {

class BlockReply final : public ReplySink {
 public:
  // For GET /v1/blocks/{id} of needs[0] (`range` false, needs.size() == 1), or for a range
  // request for the bytes of `needs` end to end (`range` true). `needs`, `node`, `pacer` and
  // `stop` must outlive the reply.
  BlockReply(std::span<const BlockNeed> needs, bool range, const http::RemoteNode& node,
             Pacer& pacer, const std::atomic<bool>& stop);

  [[nodiscard]] Result<void> OnHead(const ReplyHead& head) override;
  [[nodiscard]] Result<void> OnBody(std::span<const std::byte> bytes) override;

  // After the whole reply arrived: whether every block is now in all its places.
  [[nodiscard]] Result<void> Finish();

  // How many of the blocks, from the first, are in place and verified (all of them once Finish
  // succeeded; fewer after an error).
  [[nodiscard]] std::size_t verified() const { return verified_; }
  // Whether the last error was the device's disk, not the node.
  [[nodiscard]] bool local_failure() const { return local_failure_; }
  // Body bytes received, as sent (the stored coding).
  [[nodiscard]] std::uint64_t wire_bytes() const { return wire_bytes_; }

 private:
  enum class Mode { kRaw, kCoded, kError };

  [[nodiscard]] Error NotTheBlock(std::string_view why) const;
  [[nodiscard]] Error WrongDigest(const Sha256Digest& digest) const;
  [[nodiscard]] Result<void> WriteAll(std::span<const std::byte> bytes, std::uint64_t at);
  // The current block's bytes are all in: checks them and moves to the next block.
  [[nodiscard]] Result<void> EndOfBlock();

  const std::span<const BlockNeed> needs_;
  const bool range_;
  const http::RemoteNode& node_;
  Pacer& pacer_;
  const std::atomic<bool>& stop_;
  Mode mode_ = Mode::kError;
  int status_ = 0;
  Codec codec_ = Codec::kRaw;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t coded_limit_ = 0;
  std::size_t verified_ = 0;  // also the block whose bytes come next
  std::uint64_t at_ = 0;      // bytes of that block received
  Sha256Hasher hasher_;
  std::vector<std::byte> body_;  // a coded payload, or an error reply's first bytes
  bool local_failure_ = false;
};

}  // namespace mei::tools
