// Catalog: the models that can be placed and the blocks each is made of.
//
// Built from manifests (common/manifest.h) or read from a JSON catalog. A model is available at a
// node only when every one of its blocks is there; a block used by several models is stored once
// per node. Models refer to blocks by index into `blocks`. Plain values; thread-compatible.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/manifest.h"

namespace mei::placement {

struct CatalogBlock {
  BlockId id;
  std::uint64_t size = 0;  // raw bytes, > 0
};

struct CatalogModel {
  std::string model;     // "org/name"
  std::string revision;  // "main"
  std::optional<Sha256Digest> commit;
  std::vector<std::uint32_t> blocks;  // indices into Catalog::blocks, sorted, each once
};

struct Catalog {
  std::vector<CatalogBlock> blocks;
  std::vector<CatalogModel> models;

  // The model named `model` whose revision name or commit hex is `revision`; an empty revision
  // matches "main". nullopt when there is none.
  [[nodiscard]] std::optional<std::uint32_t> FindModel(std::string_view model,
                                                       std::string_view revision) const;
  // Bytes of the model's blocks, each counted once.
  [[nodiscard]] std::uint64_t SizeOf(std::uint32_t model) const;
  // "org/name@revision", for messages and tables.
  [[nodiscard]] std::string NameOf(std::uint32_t model) const;
};

// One catalog model per manifest, blocks deduplicated across all of them by id. kBadRequest when
// two manifests are the same (model, revision), or when a manifest has a zero-size block.
[[nodiscard]] Result<Catalog> CatalogFromManifests(std::span<const Manifest> manifests);

// Sorts and deduplicates each model's block list and checks names, block indices, sizes and that
// no (model, revision) appears twice. kBadRequest naming the first problem.
[[nodiscard]] Result<void> NormalizeCatalog(Catalog& catalog);

// JSON: {"blocks":[{"id":"<64 hex>","size":n}], "models":[{"model","revision","commit",
// "blocks":[<index into blocks>, ...]}]}; "commit" is "" when unknown.
[[nodiscard]] boost::json::value ToJsonValue(const Catalog& catalog);
[[nodiscard]] Result<Catalog> CatalogFromJson(const boost::json::value& json);

}  // namespace mei::placement
