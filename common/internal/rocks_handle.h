// RocksHandle: the one RocksDB database behind a store directory, with its column family handles.
//
// Created by OpenStore and shared by the directory's BlockStore, ManifestStore and PlanStore; the
// database closes (and RocksDB's directory lock is released) when the last owner lets go. The
// accessors are thread-safe: rocksdb::DB is.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace mei {

// The block counters as persisted in the default column family when the database was opened.
struct BlockCounters {
  std::uint64_t stored_bytes = 0;
  std::uint64_t block_count = 0;
};

class RocksHandle {
 public:
  // Indices into the handles passed to the constructor, in the order OpenStore opens them.
  enum Family : std::size_t { kDefault = 0, kBlocks, kBlockMeta, kManifests, kPlan, kFamilyCount };

  // REQUIRES: `families` holds kFamilyCount handles of `db`, in Family order.
  RocksHandle(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> families)
      : db_(std::move(db)), families_(std::move(families)) {}

  ~RocksHandle() {
    for (rocksdb::ColumnFamilyHandle* family : families_) {
      db_->DestroyColumnFamilyHandle(family).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }

  RocksHandle(const RocksHandle&) = delete;
  RocksHandle& operator=(const RocksHandle&) = delete;

  rocksdb::DB& db() const { return *db_; }
  rocksdb::ColumnFamilyHandle* family(Family family) const { return families_[family]; }

  // Set once by OpenStore before the handle is shared; read by the BlockStore it builds.
  BlockCounters counters_at_open() const { return counters_at_open_; }
  void set_counters_at_open(BlockCounters counters) { counters_at_open_ = counters; }

  // How block writes are written (StoreOptions::log_block_writes). Set once by OpenStore.
  const rocksdb::WriteOptions& block_writes() const { return block_writes_; }
  void set_block_writes(rocksdb::WriteOptions options) { block_writes_ = options; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;
  BlockCounters counters_at_open_;
  rocksdb::WriteOptions block_writes_;
};

}  // namespace mei
