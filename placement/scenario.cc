#include "placement/scenario.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "placement/internal/json_fields.h"

namespace mei::placement {
namespace {

namespace json = boost::json;
using internal::BadInput;
using internal::JsonFields;

Error IoError(const std::filesystem::path& path, std::string_view what) {
  return Error{Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(errno))};
}

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

Result<std::string> ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(path, "open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError(path, "read");
  return std::move(text).str();
}

Result<void> WriteTextFile(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return IoError(temporary, "create");
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) return IoError(temporary, "write");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec)
    return Error{Errc::kIo, fmt::format("cannot rename to {}: {}", path.string(), ec.message())};
  return {};
}

}  // namespace mei::placement
