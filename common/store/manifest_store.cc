#include "common/store/manifest_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>
#include <tuple>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"

namespace mei {
namespace {

using internal::Read;
using internal::SliceOf;
using internal::StorageError;
using internal::ViewOf;
using internal::WriteError;

constexpr std::string_view kCommitPrefix = "c/";
constexpr std::string_view kRevisionPrefix = "r/";

std::string RevisionKey(std::string_view model, std::string_view revision) {
  return std::string(kRevisionPrefix) + std::string(model) + "@" + std::string(revision);
}

// kRevisionNotFound when `model` has some revision, kModelNotFound when it has none.
Error NotFound(const RocksHandle& handle, std::string_view model, std::string_view revision) {
  const std::string prefix = RevisionKey(model, "");
  const std::unique_ptr<rocksdb::Iterator> it(
      handle.db().NewIterator(rocksdb::ReadOptions(), handle.family(RocksHandle::kManifests)));
  it->Seek(prefix);
  if (it->Valid() && it->key().starts_with(prefix)) {
    return Error{Errc::kRevisionNotFound,
                 "model " + std::string(model) + " has no revision " + std::string(revision)};
  }
  if (!it->status().ok()) return StorageError("look up model " + std::string(model), it->status());
  return Error{Errc::kModelNotFound, "model " + std::string(model) + " is not known here"};
}

// The manifest stored under `commit_hex`, or nullopt when there is none.
Result<std::optional<Manifest>> ReadCommit(const RocksHandle& handle, std::string_view commit_hex) {
  const std::string key = std::string(kCommitPrefix) + std::string(commit_hex);
  auto value =
      Read(handle, RocksHandle::kManifests, key, "the manifest of commit " + key.substr(2));
  if (!value) return value.error();
  if (!value->has_value()) return std::nullopt;
  auto manifest = ParseManifest(ViewOf(**value));
  if (!manifest) {
    return Error{Errc::kStorage, "the stored manifest of commit " + std::string(commit_hex) +
                                     " is damaged: " + manifest.error().message};
  }
  if (manifest->commit.Hex() != commit_hex) {
    return Error{Errc::kStorage, "the manifest stored under commit " + std::string(commit_hex) +
                                     " is commit " + manifest->commit.Hex()};
  }
  return std::optional<Manifest>(std::move(*manifest));
}

}  // namespace

ManifestStore::ManifestStore(std::shared_ptr<RocksHandle> db) : db_(std::move(db)) {}

Result<void> ManifestStore::Put(const Manifest& manifest) {
  if (auto valid = ValidateManifest(manifest); !valid) {
    return Error{Errc::kBadManifest, valid.error().message};
  }
  const Sha256Digest commit = CommitOf(manifest);
  if (manifest.commit != commit) {
    return Error{Errc::kBadManifest, "the manifest names commit " + manifest.commit.Hex() +
                                         " but its content is commit " + commit.Hex()};
  }
  const std::string commit_hex = commit.Hex();
  rocksdb::ColumnFamilyHandle* family = db_->family(RocksHandle::kManifests);
  rocksdb::WriteBatch batch;
  rocksdb::Status status =
      batch.Put(family, std::string(kCommitPrefix) + commit_hex, ToJson(manifest));
  // A manifest fetched by its commit (a cache filling a commit lookup) names no revision: the
  // commit is stored, and no revision called after it.
  if (status.ok() && manifest.revision != commit_hex) {
    status = batch.Put(family, RevisionKey(manifest.model, manifest.revision), commit_hex);
  }
  // Synced: publishing is the commit point of an ingest, and the sync also makes durable every
  // block written before it (they precede it in the same write-ahead log).
  rocksdb::WriteOptions durable;
  durable.sync = true;
  if (status.ok()) status = db_->db().Write(durable, &batch);
  if (!status.ok()) {
    return WriteError("store the manifest of " + manifest.model + "@" + manifest.revision, status);
  }
  return {};
}

Result<Manifest> ManifestStore::Get(std::string_view model, std::string_view revision) const {
  auto shared = GetShared(model, revision);
  if (!shared) return shared.error();
  return **shared;
}

Result<std::shared_ptr<const Manifest>> ManifestStore::GetShared(std::string_view model,
                                                                 std::string_view revision) const {
  if (IsCommitHex(revision)) {
    auto by_commit = Parsed(model, revision, revision);
    if (by_commit || by_commit.error().code != Errc::kRevisionNotFound) return by_commit;
  }
  auto commit = Read(*db_, RocksHandle::kManifests, RevisionKey(model, revision),
                     "revision " + std::string(revision) + " of " + std::string(model));
  if (!commit) return commit.error();
  if (!commit->has_value()) return NotFound(*db_, model, revision);
  const std::string commit_hex(ViewOf(**commit));
  auto manifest = Parsed(model, commit_hex, revision);
  if (!manifest && manifest.error().code == Errc::kRevisionNotFound) {
    return Error{Errc::kStorage, "revision " + std::string(revision) + " of " + std::string(model) +
                                     " points at commit " + commit_hex +
                                     ", which is not stored for that model"};
  }
  return manifest;
}

// kRevisionNotFound (no message) when no manifest of `model` is stored under `commit_hex`; the
// callers say what that means.
Result<std::shared_ptr<const Manifest>> ManifestStore::Parsed(std::string_view model,
                                                              std::string_view commit_hex,
                                                              std::string_view revision) const {
  std::string key = std::string(commit_hex) + '@' + std::string(revision);
  {
    std::lock_guard lock(parsed_mu_);
    if (auto found = parsed_.find(key); found != parsed_.end()) {
      if (found->second->model == model) return found->second;
      return Error{Errc::kRevisionNotFound, ""};
    }
  }
  auto by_commit = ReadCommit(*db_, commit_hex);
  if (!by_commit) return by_commit.error();
  if (!by_commit->has_value()) return Error{Errc::kRevisionNotFound, ""};
  Manifest& read = **by_commit;
  read.revision = std::string(revision);
  auto manifest = std::make_shared<const Manifest>(std::move(read));
  {
    std::lock_guard lock(parsed_mu_);
    if (parsed_.emplace(key, manifest).second) {
      parsed_order_.push_back(std::move(key));
      if (parsed_order_.size() > kParsedManifests) {
        parsed_.erase(parsed_order_.front());
        parsed_order_.pop_front();
      }
    }
  }
  if (manifest->model != model) return Error{Errc::kRevisionNotFound, ""};
  return manifest;
}

Result<std::vector<ManifestStore::RevisionEntry>> ManifestStore::List() const {
  std::vector<RevisionEntry> entries;
  const std::unique_ptr<rocksdb::Iterator> it(
      db_->db().NewIterator(rocksdb::ReadOptions(), db_->family(RocksHandle::kManifests)));
  for (it->Seek(SliceOf(kRevisionPrefix)); it->Valid() && it->key().starts_with(kRevisionPrefix);
       it->Next()) {
    const std::string_view name = ViewOf(it->key()).substr(kRevisionPrefix.size());
    const std::size_t at = name.find('@');
    const std::string_view commit = ViewOf(it->value());
    if (at == std::string_view::npos || !IsCommitHex(commit)) {
      return Error{Errc::kStorage,
                   "the stored revision entry " + std::string(name) + " is malformed"};
    }
    entries.push_back(RevisionEntry{std::string(name.substr(0, at)),
                                    std::string(name.substr(at + 1)), std::string(commit)});
  }
  if (!it->status().ok()) return StorageError("list the stored revisions", it->status());
  std::sort(entries.begin(), entries.end(), [](const RevisionEntry& a, const RevisionEntry& b) {
    return std::tie(a.model, a.revision) < std::tie(b.model, b.revision);
  });
  return entries;
}

}  // namespace mei
