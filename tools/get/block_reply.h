// BlockReply: a node's reply to GET /v1/blocks/{id}, taken in as it arrives and written to every
// place the block goes (download_plan.h), verified against the block id.
//
// A raw reply (no Content-Encoding) is hashed and written piece by piece as it lands; a reply in a
// stored coding (zstd, x-mei-bg2-zstd, x-mei-bg4-zstd, with X-Mei-Raw-Size) is gathered, decoded,
// hashed and then written. Finish says whether the block is in place: until it says so, the bytes
// written are not the block (a bad reply leaves garbage that the next attempt overwrites, and a run
// that resumes verifies what it finds).
//
// Errors name the node and the block, in one sentence: kIntegrity for bytes that are not the block
// (a wrong length, a payload that does not decode, a wrong SHA-256); kBlockNotFound for a 404;
// kUpstreamFailed for other statuses and codings not asked for; and kIo / kStoreFull, with
// local_failure() true, when a file cannot be written.
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
  // `need`, `node`, `pacer` and `stop` must outlive the reply.
  BlockReply(const BlockNeed& need, const http::RemoteNode& node, Pacer& pacer,
             const std::atomic<bool>& stop);

  [[nodiscard]] Result<void> OnHead(const ReplyHead& head) override;
  [[nodiscard]] Result<void> OnBody(std::span<const std::byte> bytes) override;

  // After the whole reply arrived: whether the block is now in every place.
  [[nodiscard]] Result<void> Finish();

  // Whether the last error was the device's disk, not the node.
  [[nodiscard]] bool local_failure() const { return local_failure_; }
  // Body bytes received, as sent (the stored coding).
  [[nodiscard]] std::uint64_t wire_bytes() const { return wire_bytes_; }

 private:
  enum class Mode { kRaw, kCoded, kError };

  [[nodiscard]] Error NotTheBlock(std::string_view why) const;
  [[nodiscard]] Result<void> WriteAll(std::span<const std::byte> bytes, std::uint64_t at);

  const BlockNeed& need_;
  const http::RemoteNode& node_;
  Pacer& pacer_;
  const std::atomic<bool>& stop_;
  Mode mode_ = Mode::kError;
  int status_ = 0;
  Codec codec_ = Codec::kRaw;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t coded_limit_ = 0;
  Sha256Hasher hasher_;
  std::vector<std::byte> body_;  // a coded payload, or an error reply's first bytes
  bool local_failure_ = false;
};

}  // namespace mei::tools
