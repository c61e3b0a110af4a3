#include "placement/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <span>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

using internal::BadInput;

Result<void> Check(const GeneratorOptions& o) {
  if (o.base_stations == 0) return BadInput("there must be at least one base station");
  if (o.families == 0 || o.models_per_family == 0) {
    return BadInput("there must be at least one family with at least one model");
  }
  if (o.blocks_per_model == 0) return BadInput("a model must have at least one block");
  if (o.model_bytes < 2ull * o.blocks_per_model) {
    return BadInput("models are too small for their number of blocks");
  }
  if (!(o.shared_share >= 0 && o.shared_share <= 1)) {
    return BadInput("the shared share must be between 0 and 1");
  }
  if (!(o.cell_variation >= 0 && o.cell_variation <= 1)) {
    return BadInput("the cell variation must be between 0 and 1");
  }
  if (!(o.zipf >= 0)) return BadInput("the Zipf exponent must not be negative");
  if (!(o.area_m > 0) || !(o.radius_m > 0) || !(o.peak_rate_bytes_per_s > 0) ||
      !(o.origin_rate_bytes_per_s > 0) || !(o.deadline_s > 0)) {
    return BadInput("area, radius, rates and deadline must be positive");
  }
  return {};
}

BlockId SyntheticBlock(std::uint64_t seed, std::uint32_t family, std::uint32_t model,
                       std::uint32_t block) {
  const std::string text = fmt::format("mei-placement gen {} {} {} {}", seed, family, model, block);
  return BlockIdOf(std::as_bytes(std::span(text)));
}

void AddCatalog(const GeneratorOptions& o, std::mt19937_64& rng, Catalog& catalog) {
  std::uniform_real_distribution<double> scale(0.5, 1.5);
  const auto shared_blocks = static_cast<std::uint32_t>(
      std::lround(o.shared_share * static_cast<double>(o.blocks_per_model)));
  for (std::uint32_t f = 0; f < o.families; ++f) {
    const auto bytes = static_cast<std::uint64_t>(static_cast<double>(o.model_bytes) * scale(rng));
    const std::uint64_t block_bytes = std::max<std::uint64_t>(1, bytes / o.blocks_per_model);
    std::vector<std::uint32_t> base;
    for (std::uint32_t m = 0; m < o.models_per_family; ++m) {
      CatalogModel model;
      model.model =
          m == 0 ? fmt::format("family-{}/base", f) : fmt::format("family-{}/ft-{}", f, m);
      model.revision = "main";
      for (std::uint32_t b = 0; b < o.blocks_per_model; ++b) {
        if (m > 0 && b < shared_blocks) {
          model.blocks.push_back(base[b]);
          continue;
        }
        model.blocks.push_back(static_cast<std::uint32_t>(catalog.blocks.size()));
        catalog.blocks.push_back(CatalogBlock{SyntheticBlock(o.seed, f, m, b), block_bytes});
      }
      if (m == 0) base = model.blocks;
      catalog.models.push_back(std::move(model));
    }
  }
}

void AddTopology(const GeneratorOptions& o, std::mt19937_64& rng, Topology& t) {
  t.deadline_s = o.deadline_s;
  t.origin_rate_bytes_per_s = o.origin_rate_bytes_per_s;
  const auto side = static_cast<std::uint32_t>(std::ceil(std::sqrt(o.base_stations)));
  const double cell = o.area_m / side;
  for (std::uint32_t n = 0; n < o.base_stations; ++n) {
    t.nodes.push_back(Node{fmt::format("bs-{}", n), "", o.capacity_bytes, (n % side + 0.5) * cell,
                           (n / side + 0.5) * cell});
  }
  std::uniform_real_distribution<double> coordinate(0, o.area_m);
  for (std::uint32_t u = 0; u < o.users; ++u) {
    User user{fmt::format("u-{}", u), coordinate(rng), coordinate(rng), {}};
    std::uint32_t nearest = 0;
    double nearest_d = INFINITY;
    for (std::uint32_t n = 0; n < o.base_stations; ++n) {
      const double d = std::hypot(user.x - t.nodes[n].x, user.y - t.nodes[n].y);
      if (d < nearest_d) {
        nearest_d = d;
        nearest = n;
      }
      if (d <= o.radius_m) {
        user.links.push_back(Link{n, o.peak_rate_bytes_per_s * (1 - 0.75 * d / o.radius_m)});
      }
    }
    if (user.links.empty()) user.links.push_back(Link{nearest, o.peak_rate_bytes_per_s * 0.25});
    t.users.push_back(std::move(user));
  }
}

void AddDemand(const GeneratorOptions& o, std::mt19937_64& rng, Scenario& s) {
  const auto models = static_cast<std::uint32_t>(s.catalog.models.size());
  std::vector<std::uint32_t> global(models);
  std::iota(global.begin(), global.end(), 0);
  std::shuffle(global.begin(), global.end(), rng);
  // rank -> model, per base station
  std::vector<std::vector<std::uint32_t>> ranking(s.topology.nodes.size(), global);
  std::uniform_real_distribution<double> unit(0, 1);
  if (o.cell_variation > 0) {
    for (auto& r : ranking) {
      for (std::uint32_t k = 0; k < models; ++k) {
        if (unit(rng) < o.cell_variation) {
          std::swap(r[k], r[std::uniform_int_distribution<std::uint32_t>(0, models - 1)(rng)]);
        }
      }
    }
  }
  const std::uint32_t top = o.demand_top > 0 ? std::min(o.demand_top, models) : models;
  std::vector<double> weight(top);
  double total = 0;
  for (std::uint32_t k = 0; k < top; ++k) {
    weight[k] = std::pow(static_cast<double>(k + 1), -o.zipf);
    total += weight[k];
  }
  for (std::uint32_t u = 0; u < s.topology.users.size(); ++u) {
    const User& user = s.topology.users[u];
    std::uint32_t nearest = user.links.front().node;
    double nearest_d = INFINITY;
    for (const Link& link : user.links) {
      const Node& n = s.topology.nodes[link.node];
      const double d = std::hypot(user.x - n.x, user.y - n.y);
      if (d < nearest_d) {
        nearest_d = d;
        nearest = link.node;
      }
    }
    for (std::uint32_t k = 0; k < top; ++k) {
      s.demand.push_back(DemandEntry{u, ranking[nearest][k], weight[k] / total});
    }
  }
}

}  // namespace

Result<Scenario> GenerateScenario(const GeneratorOptions& options) {
  if (auto ok = Check(options); !ok) return ok.error();
  std::mt19937_64 rng(options.seed);
  Scenario s;
  AddCatalog(options, rng, s.catalog);
  AddTopology(options, rng, s.topology);
  if (auto ok = NormalizeTopology(s.topology); !ok) return ok.error();
  if (auto ok = NormalizeCatalog(s.catalog); !ok) return ok.error();
  AddDemand(options, rng, s);
  if (auto ok = NormalizeDemand(s.demand, s.topology, s.catalog); !ok) return ok.error();
  return s;
}

}  // namespace mei::placement
