#include "placement/scenario.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;
using internal::JsonFields;

}  // namespace

Result<Scenario> ParseScenario(std::string_view text) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return BadInput(fmt::format("scenario is not valid JSON: {}", ec.message()));
  auto fields = JsonFields::Of(root, "scenario");
  if (!fields) return fields.error();
  auto schema = fields->String("schema");
  if (!schema) return schema.error();
  if (*schema != kScenarioSchema) {
    return BadInput(
        fmt::format("scenario schema is \"{}\", expected \"{}\"", *schema, kScenarioSchema));
  }
  Scenario s;
  auto topology = fields->Field("topology");
  if (!topology) return topology.error();
  auto t = TopologyFromJson(**topology);
  if (!t) return t.error();
  s.topology = std::move(*t);
  auto catalog = fields->Field("catalog");
  if (!catalog) return catalog.error();
  auto c = CatalogFromJson(**catalog);
  if (!c) return c.error();
  s.catalog = std::move(*c);
  auto demand = fields->Field("demand");
  if (!demand) return demand.error();
  auto d = DemandFromJson(**demand, s.topology, s.catalog);
  if (!d) return d.error();
  s.demand = std::move(*d);
  return s;
}

std::string ToJson(const Scenario& scenario) {
  json::object o;
  o["schema"] = kScenarioSchema;
  o["topology"] = ToJsonValue(scenario.topology);
  o["catalog"] = ToJsonValue(scenario.catalog);
  o["demand"] = ToJsonValue(scenario.demand, scenario.topology, scenario.catalog);
  return json::serialize(o);
}

}  // namespace mei::placement
