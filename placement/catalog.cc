#include "placement/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <unordered_map>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;
using internal::JsonFields;

}  // namespace

std::optional<std::uint32_t> Catalog::FindModel(std::string_view model,
                                                std::string_view revision) const {
  if (revision.empty()) revision = "main";
  for (std::uint32_t i = 0; i < models.size(); ++i) {
    const CatalogModel& m = models[i];
    if (m.model != model) continue;
    if (m.revision == revision) return i;
    if (m.commit && revision.size() == Sha256Digest::kHexSize && m.commit->Hex() == revision) {
      return i;
    }
  }
  return std::nullopt;
}

std::uint64_t Catalog::SizeOf(std::uint32_t model) const {
  std::uint64_t size = 0;
  for (std::uint32_t b : models[model].blocks) size += blocks[b].size;
  return size;
}

std::string Catalog::NameOf(std::uint32_t model) const {
  return fmt::format("{}@{}", models[model].model, models[model].revision);
}

Result<Catalog> CatalogFromManifests(std::span<const Manifest> manifests) {
  Catalog catalog;
  std::unordered_map<BlockId, std::uint32_t> index;
  for (const Manifest& manifest : manifests) {
    CatalogModel model{manifest.model, manifest.revision, manifest.commit, {}};
    for (const ManifestFile& file : manifest.files) {
      for (const ManifestBlock& block : file.blocks) {
        auto [it, added] = index.emplace(block.id, static_cast<std::uint32_t>(index.size()));
        if (added) catalog.blocks.push_back(CatalogBlock{block.id, block.size});
        model.blocks.push_back(it->second);
      }
    }
    catalog.models.push_back(std::move(model));
  }
  if (auto ok = NormalizeCatalog(catalog); !ok) return ok.error();
  return catalog;
}

Result<void> NormalizeCatalog(Catalog& catalog) {
  for (const CatalogBlock& block : catalog.blocks) {
    if (block.size == 0) {
      return BadInput(fmt::format("catalog block {} has size 0", block.id.Hex()));
    }
  }
  std::set<std::pair<std::string_view, std::string_view>> names;
  for (CatalogModel& m : catalog.models) {
    if (auto ok = ValidateModelName(m.model); !ok) return BadInput(ok.error().message);
    if (auto ok = ValidateRevisionName(m.revision); !ok) {
      return BadInput(fmt::format("catalog model {}: {}", m.model, ok.error().message));
    }
    if (!names.emplace(m.model, m.revision).second) {
      return BadInput(fmt::format("catalog has {}@{} twice", m.model, m.revision));
    }
    std::sort(m.blocks.begin(), m.blocks.end());
    m.blocks.erase(std::unique(m.blocks.begin(), m.blocks.end()), m.blocks.end());
    if (!m.blocks.empty() && m.blocks.back() >= catalog.blocks.size()) {
      return BadInput(
          fmt::format("catalog model {} names a block index that does not exist", m.model));
    }
  }
  return {};
}

json::value ToJsonValue(const Catalog& catalog) {
  json::array blocks;
  blocks.reserve(catalog.blocks.size());
  for (const CatalogBlock& block : catalog.blocks) {
    blocks.emplace_back(json::object{{"id", block.id.Hex()}, {"size", block.size}});
  }
  json::array models;
  for (const CatalogModel& m : catalog.models) {
    json::array ids;
    for (std::uint32_t b : m.blocks) ids.emplace_back(b);
    models.emplace_back(json::object{{"model", m.model},
                                     {"revision", m.revision},
                                     {"commit", m.commit ? m.commit->Hex() : std::string()},
                                     {"blocks", std::move(ids)}});
  }
  return json::object{{"blocks", std::move(blocks)}, {"models", std::move(models)}};
}

Result<Catalog> CatalogFromJson(const json::value& value) {
  auto fields = JsonFields::Of(value, "catalog");
  if (!fields) return fields.error();
  Catalog catalog;
  auto blocks = fields->Array("blocks");
  if (!blocks) return blocks.error();
  std::unordered_map<BlockId, std::uint32_t> seen;
  for (std::size_t i = 0; i < (*blocks)->size(); ++i) {
    auto b = JsonFields::Of((**blocks)[i], fmt::format("catalog.blocks[{}]", i));
    if (!b) return b.error();
    auto hex = b->String("id");
    if (!hex) return hex.error();
    auto id = Sha256Digest::FromHex(*hex);
    if (!id) return BadInput(fmt::format("catalog.blocks[{}].id is not 64 lowercase hex", i));
    if (!seen.emplace(*id, static_cast<std::uint32_t>(i)).second) {
      return BadInput(fmt::format("catalog lists block {} twice", *hex));
    }
    auto size = b->Uint("size");
    if (!size) return size.error();
    catalog.blocks.push_back(CatalogBlock{*id, *size});
  }
  auto models = fields->Array("models");
  if (!models) return models.error();
  for (std::size_t i = 0; i < (*models)->size(); ++i) {
    auto m = JsonFields::Of((**models)[i], fmt::format("catalog.models[{}]", i));
    if (!m) return m.error();
    CatalogModel model;
    auto name = m->String("model");
    if (!name) return name.error();
    model.model = std::move(*name);
    model.revision = m->StringOr("revision", "main");
    const std::string commit = m->StringOr("commit", "");
    if (!commit.empty()) {
      auto id = Sha256Digest::FromHex(commit);
      if (!id) return BadInput(fmt::format("catalog model {} has a malformed commit", model.model));
      model.commit = *id;
    }
    auto ids = m->Array("blocks");
    if (!ids) return ids.error();
    for (const json::value& v : **ids) {
      if (!v.is_uint64() && !(v.is_int64() && v.get_int64() >= 0)) {
        return BadInput(
            fmt::format("catalog model {} has a block that is not an index", model.model));
      }
      model.blocks.push_back(static_cast<std::uint32_t>(v.to_number<std::uint64_t>()));
    }
    catalog.models.push_back(std::move(model));
  }
  if (auto ok = NormalizeCatalog(catalog); !ok) return ok.error();
  return catalog;
}

}  // namespace mei::placement
