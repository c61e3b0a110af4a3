// Keys of the store's default RocksDB column family (block_store.h describes the layout).
#pragma once

#include <string_view>

namespace mei::store_keys {

// u64 LE: the sum of the stored frames' sizes, and their number; in every block write batch.
inline constexpr std::string_view kStoredBytes = "stored_bytes";
inline constexpr std::string_view kBlockCount = "block_count";
// Present while no process has the store open: the last one closed it cleanly.
inline constexpr std::string_view kSegmentsClean = "segments_clean";

}  // namespace mei::store_keys
