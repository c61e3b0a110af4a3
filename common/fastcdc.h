// FastCDC content-defined chunking (Xia et al., "FastCDC: a Fast and Efficient Content-Defined
// Chunking Approach for Data Deduplication", USENIX ATC 2016), with normalized chunking (a
// stricter mask before the average size, a looser one after) and a gear hash.
//
// Cut points depend only on nearby content, so an insertion early in a file moves only the
// boundaries next to it: the rest of the file still chunks into the same blocks.
#pragma once

#include <cstddef>
#include <span>

namespace mei {

struct FastCdcParams {
  std::size_t min_size = 16 * 1024;
  std::size_t avg_size = 64 * 1024;  // must be a power of two
  std::size_t max_size = 256 * 1024;
};

// The length of the first chunk of `data`, which must start at a chunk boundary. Returns
// data.size() when data is no longer than min_size; never more than max_size. Passing at least
// max_size bytes (or the rest of the stream) makes the answer independent of how much more follows.
// Thread-safe; pure.
[[nodiscard]] std::size_t FastCdcCut(std::span<const std::byte> data, const FastCdcParams& params);

}  // namespace mei
