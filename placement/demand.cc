#include "placement/demand.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>

#include "placement/internal/id_index.h"
#include "placement/internal/json_fields.h"
#include "placement/requests.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;
using internal::JsonFields;

}  // namespace

Result<Demand> FitDemand(const std::vector<Request>& requests, const FitOptions& options) {
  if (options.window_s < 0 || options.half_life_s < 0) {
    return BadInput("the window and the half-life must not be negative");
  }
  double end = -INFINITY;
  for (const Request& r : requests) end = std::max(end, r.time_s);
  const double tau = options.half_life_s / std::log(2.0);
  std::map<std::pair<std::uint32_t, std::uint32_t>, double> weight;
  double begin = end;
  for (const Request& r : requests) {
    const double age = end - r.time_s;
    double w = 1;
    if (options.half_life_s > 0) {
      w = std::exp(-age / tau);
    } else if (options.window_s > 0 && age >= options.window_s) {
      continue;
    }
    begin = std::min(begin, r.time_s);
    weight[{r.user, r.model}] += w;
  }
  double span = 1;
  if (options.half_life_s > 0) {
    span = tau;
  } else if (options.window_s > 0) {
    span = options.window_s;
  } else if (end > begin) {
    span = end - begin;
  }
  Demand demand;
  for (const auto& [key, w] : weight)
    demand.push_back(DemandEntry{key.first, key.second, w / span});
  return demand;
}

Result<void> NormalizeDemand(Demand& demand, const Topology& topology, const Catalog& catalog) {
  for (const DemandEntry& e : demand) {
    if (e.user >= topology.users.size() || e.model >= catalog.models.size()) {
      return BadInput("demand names a user or model that does not exist");
    }
    if (!std::isfinite(e.rate) || e.rate < 0) {
      return BadInput(fmt::format("demand of {} for {} is negative or not finite",
                                  topology.users[e.user].id, catalog.NameOf(e.model)));
    }
  }
  std::stable_sort(demand.begin(), demand.end(), [](const DemandEntry& a, const DemandEntry& b) {
    return std::tie(a.user, a.model) < std::tie(b.user, b.model);
  });
  Demand merged;
  for (const DemandEntry& e : demand) {
    if (!merged.empty() && merged.back().user == e.user && merged.back().model == e.model) {
      merged.back().rate += e.rate;
    } else {
      merged.push_back(e);
    }
  }
  std::erase_if(merged, [](const DemandEntry& e) { return e.rate == 0; });
  demand = std::move(merged);
  return {};
}

json::value ToJsonValue(const Demand& demand, const Topology& topology, const Catalog& catalog) {
  json::array out;
  out.reserve(demand.size());
  for (const DemandEntry& e : demand) {
    const CatalogModel& m = catalog.models[e.model];
    out.emplace_back(json::object{{"user", topology.users[e.user].id},
                                  {"model", m.model},
                                  {"revision", m.revision},
                                  {"rate", e.rate}});
  }
  return out;
}

Result<Demand> DemandFromJson(const json::value& value, const Topology& topology,
                              const Catalog& catalog) {
  if (!value.is_array()) return BadInput("demand is not a JSON array");
  const internal::IdIndex index(topology, catalog);
  Demand demand;
  const json::array& entries = value.get_array();
  demand.reserve(entries.size());
  for (std::size_t k = 0; k < entries.size(); ++k) {
    auto e = JsonFields::Of(entries[k], fmt::format("demand[{}]", k));
    if (!e) return e.error();
    auto user = e->String("user");
    if (!user) return user.error();
    const auto u = index.User(*user);
    if (!u) {
      return BadInput(fmt::format("demand[{}] names unknown user \"{}\"", k, *user));
    }
    auto model = e->String("model");
    if (!model) return model.error();
    const std::string revision = e->StringOr("revision", "main");
    const auto i = index.Model(*model, revision);
    if (!i) {
      return BadInput(fmt::format("demand[{}] names unknown model {}@{}", k, *model, revision));
    }
    auto rate = e->Positive("rate", /*allow_zero=*/true);
    if (!rate) return rate.error();
    demand.push_back(DemandEntry{*u, *i, *rate});
  }
  if (auto ok = NormalizeDemand(demand, topology, catalog); !ok) return ok.error();
  return demand;
}

}  // namespace mei::placement
