#include "common/internal/rocks_access.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <vector>

namespace mei::internal {

Error StorageError(std::string_view what, const rocksdb::Status& status) {
  return Error{Errc::kStorage, "RocksDB could not " + std::string(what) + ": " + status.ToString()};
}

Error WriteError(std::string_view what, const rocksdb::Status& status) {
  if (status.IsNoSpace() ||
      (status.IsIOError() && status.subcode() == rocksdb::Status::kSpaceLimit)) {
    return Error{Errc::kStoreFull, "the store is full: could not " + std::string(what) + " (" +
                                       status.ToString() + ")"};
  }
  return StorageError(what, status);
}

Result<std::optional<rocksdb::PinnableSlice>> Read(const RocksHandle& handle,
                                                   RocksHandle::Family family,
                                                   const rocksdb::Slice& key,
                                                   std::string_view what) {
  std::optional<rocksdb::PinnableSlice> value(std::in_place);
  const rocksdb::Status status =
      handle.db().Get(rocksdb::ReadOptions(), handle.family(family), key, &*value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return StorageError("read " + std::string(what), status);
  return value;
}

Result<bool> Contains(const RocksHandle& handle, RocksHandle::Family family,
                      const rocksdb::Slice& key, std::string_view what) {
  auto read = Read(handle, family, key, what);
  if (!read) return read.error();
  return read->has_value();
}

rocksdb::Status FlushAll(const RocksHandle& handle) {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  for (std::size_t family = 0; family < RocksHandle::kFamilyCount; ++family) {
    families.push_back(handle.family(static_cast<RocksHandle::Family>(family)));
  }
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  return handle.db().Flush(flush, families);
}

void PutLe(std::string& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) {
    out.push_back(static_cast<char>(value >> (8 * i) & 0xff));
  }
}

std::uint64_t GetLe(std::string_view in, std::size_t offset, std::size_t width) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= std::uint64_t{static_cast<std::uint8_t>(in[offset + i])} << (8 * i);
  }
  return value;
}

}  // namespace mei::internal
