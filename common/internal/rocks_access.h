// Small helpers shared by the store's RocksDB users (block, manifest and plan stores): slices over
// our byte types, point reads, and the errors a failed read or write becomes.
#pragma once

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/errc.h"
#include "common/internal/rocks_handle.h"

namespace mei::internal {

inline rocksdb::Slice SliceOf(std::span<const std::byte> bytes) {
  return rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline rocksdb::Slice SliceOf(std::string_view text) {
  return rocksdb::Slice(text.data(), text.size());
}

inline std::span<const std::byte> BytesOf(const rocksdb::Slice& slice) {
  return std::as_bytes(std::span<const char>(slice.data(), slice.size()));
}

inline std::string_view ViewOf(const rocksdb::Slice& slice) {
  return std::string_view(slice.data(), slice.size());
}

// kStorage: "RocksDB could not <what>: <status>".
[[nodiscard]] Error StorageError(std::string_view what, const rocksdb::Status& status);

// The error for a failed write: kStoreFull when the disk (or RocksDB's space limit) is full, so
// that callers answer 507 and keep serving reads; kStorage otherwise.
[[nodiscard]] Error WriteError(std::string_view what, const rocksdb::Status& status);

// The value under `key` in `family`, or nullopt when there is none. `what` names it in errors.
[[nodiscard]] Result<std::optional<rocksdb::PinnableSlice>> Read(const RocksHandle& handle,
                                                                 RocksHandle::Family family,
                                                                 const rocksdb::Slice& key,
                                                                 std::string_view what);

// Whether `key` is in `family`, by a plain Get: bloom filters make a miss cheap. (KeyMayExist is
// not used: in RocksDB 7.8 it can report a value found for a key that is absent.)
[[nodiscard]] Result<bool> Contains(const RocksHandle& handle, RocksHandle::Family family,
                                    const rocksdb::Slice& key, std::string_view what);

// Flushes the memtables of every family together and waits (write stalls allowed): what they
// hold is on disk when it returns OK. RocksDB's status otherwise.
[[nodiscard]] rocksdb::Status FlushAll(const RocksHandle& handle);

// Little-endian fixed-width integers, the encoding of every number the store keeps.
void PutLe(std::string& out, std::uint64_t value, std::size_t width);
// REQUIRES: offset + width <= in.size().
[[nodiscard]] std::uint64_t GetLe(std::string_view in, std::size_t offset, std::size_t width);

}  // namespace mei::internal
