#include "placement/fragments.h"

#include <map>

namespace mei::placement {

Fragments ComputeFragments(const Catalog& catalog) {
  std::vector<std::vector<std::uint32_t>> users(catalog.blocks.size());
  for (std::uint32_t i = 0; i < catalog.models.size(); ++i) {
    for (std::uint32_t b : catalog.models[i].blocks) users[b].push_back(i);
  }
  Fragments out;
  out.of_model.resize(catalog.models.size());
  std::map<std::vector<std::uint32_t>, std::uint32_t> by_users;
  for (std::uint32_t b = 0; b < users.size(); ++b) {
    if (users[b].empty()) continue;
    auto [it, added] = by_users.emplace(users[b], static_cast<std::uint32_t>(out.fragments.size()));
    if (added) {
      out.fragments.push_back(Fragment{users[b], {}, 0});
      for (std::uint32_t i : users[b]) out.of_model[i].push_back(it->second);
    }
    Fragment& f = out.fragments[it->second];
    f.blocks.push_back(b);
    f.size += catalog.blocks[b].size;
  }
  return out;
}

}  // namespace mei::placement
