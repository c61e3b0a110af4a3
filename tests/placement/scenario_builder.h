// Small hand-made scenarios for the placement tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "placement/generator.h"
#include "placement/scenario.h"

namespace mei::placement::testing {

// Builds a scenario step by step: nodes, users with links, models from named blocks, demand.
// Deadline 1000 s, every rate 1 byte/s unless given, so a model of s bytes is in the deadline of
// a link of rate r when s / r <= 1000.
class ScenarioBuilder {
 public:
  ScenarioBuilder& Node(std::string id, std::uint64_t capacity) {
    s_.topology.nodes.push_back(placement::Node{std::move(id), "", capacity, 0, 0});
    return *this;
  }
  // A user linked to the given nodes (by index) at `rate`.
  ScenarioBuilder& User(std::string id, std::vector<std::uint32_t> nodes, double rate = 1) {
    placement::User u{std::move(id), 0, 0, {}};
    for (std::uint32_t n : nodes) u.links.push_back(Link{n, rate});
    s_.topology.users.push_back(std::move(u));
    return *this;
  }
  // A user linked to each node at its own rate.
  ScenarioBuilder& LinkedUser(std::string id, std::vector<Link> links) {
    s_.topology.users.push_back(placement::User{std::move(id), 0, 0, std::move(links)});
    return *this;
  }
  // A model made of named blocks; a name used again is the same block.
  ScenarioBuilder& Model(std::string name,
                         std::vector<std::pair<std::string, std::uint64_t>> blocks) {
    CatalogModel m{std::move(name), "main", std::nullopt, {}};
    for (auto& [block, size] : blocks) {
      std::uint32_t index = 0;
      while (index < names_.size() && names_[index] != block) ++index;
      if (index == names_.size()) {
        names_.push_back(block);
        s_.catalog.blocks.push_back(CatalogBlock{BlockIdOf(std::as_bytes(std::span(block))), size});
      }
      m.blocks.push_back(index);
    }
    s_.catalog.models.push_back(std::move(m));
    return *this;
  }
  ScenarioBuilder& Demand(std::uint32_t user, std::uint32_t model, double rate) {
    s_.demand.push_back(DemandEntry{user, model, rate});
    return *this;
  }
  Scenario Build() {
    s_.topology.deadline_s = 1000;
    s_.topology.origin_rate_bytes_per_s = 1;
    EXPECT_TRUE(NormalizeTopology(s_.topology));
    EXPECT_TRUE(NormalizeCatalog(s_.catalog));
    EXPECT_TRUE(NormalizeDemand(s_.demand, s_.topology, s_.catalog));
    return s_;
  }

 private:
  Scenario s_;
  std::vector<std::string> names_;
};

// A seeded generated scenario small enough for the ILP: 3 stations, 24 users, 2 families of 4.
inline GeneratorOptions SmallOptions(std::uint64_t seed) {
  GeneratorOptions o;
  o.seed = seed;
  o.base_stations = 3;
  o.users = 24;
  o.area_m = 600;
  o.radius_m = 350;
  o.families = 2;
  o.models_per_family = 4;
  o.blocks_per_model = 10;
  o.model_bytes = 1000;
  o.peak_rate_bytes_per_s = 100;
  o.deadline_s = 30;
  o.capacity_bytes = 2500;
  o.cell_variation = 0.5;
  return o;
}

}  // namespace mei::placement::testing
