// BlockId: the identity of a block, the lowercase hex SHA-256 of its raw (uncompressed) bytes.
//
// The unit of storage, transfer, dedup and placement is a block; two blocks with equal bytes have
// equal ids wherever they come from, which is what makes dedup across models exact.
#pragma once

#include <cstddef>
#include <span>

#include "common/digest.h"

namespace mei {

using BlockId = Sha256Digest;

// The id of a block with these raw bytes.
[[nodiscard]] inline BlockId BlockIdOf(std::span<const std::byte> raw) { return Sha256Of(raw); }

}  // namespace mei
