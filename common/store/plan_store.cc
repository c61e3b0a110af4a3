#include "common/store/plan_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"

namespace mei {

using internal::Read;
using internal::SliceOf;
using internal::ViewOf;
using internal::WriteError;

PlanStore::PlanStore(std::shared_ptr<RocksHandle> db) : db_(std::move(db)) {}

Result<std::optional<std::string>> PlanStore::Get(std::string_view key) const {
  auto value = Read(*db_, RocksHandle::kPlan, SliceOf(key), "setting " + std::string(key));
  if (!value) return value.error();
  if (!value->has_value()) return std::nullopt;
  return std::optional<std::string>(ViewOf(**value));
}

Result<void> PlanStore::Put(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions durable;
  durable.sync = true;
  const rocksdb::Status status =
      db_->db().Put(durable, db_->family(RocksHandle::kPlan), SliceOf(key), SliceOf(value));
  if (!status.ok()) return WriteError("store setting " + std::string(key), status);
  return {};
}

}  // namespace mei
