// PlanStore: a cache node's persistent settings in the store's RocksDB `plan` family.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei {

class RocksHandle;  // internal: the shared database handle

// Small documents (JSON, by convention) under string keys: the cache node's persistent settings,
// such as its placement plan ("plan") and operator pins ("pins"). Not meant for bulk data: each
// Put is a synced write. Thread-safe; a Put of a key replaces its value atomically.
class PlanStore {
 public:
  explicit PlanStore(std::shared_ptr<RocksHandle> db);

  // The value under `key`, or nullopt when nothing was ever put there.
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key) const;

  // Stores `value` under `key`, durable (synced) when it returns. kStoreFull when the disk is.
  [[nodiscard]] Result<void> Put(std::string_view key, std::string_view value);

 private:
  std::shared_ptr<RocksHandle> db_;
};

}  // namespace mei
