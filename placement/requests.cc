#include "placement/requests.h"

#include <fmt/format.h>

#include <random>
#include <string>

#include "placement/internal/id_index.h"
#include "placement/internal/json_fields.h"

namespace mei::placement {

Result<std::vector<Request>> ResolveTrace(const Trace& trace, const Catalog& catalog,
                                          Topology& topology, const ResolveOptions& options,
                                          ResolveReport* report) {
  ResolveReport local;
  ResolveReport& r = report != nullptr ? *report : local;
  r = ResolveReport{};
  internal::IdIndex index(topology, catalog);
  std::vector<Request> out;
  out.reserve(trace.records.size());
  for (const TraceRecord& record : trace.records) {
    std::string problem;
    const auto model = index.Model(record.model, record.revision);
    const auto node = index.Node(record.node);
    auto user = index.User(record.user);
    if (!model) {
      problem = fmt::format("unknown model {}@{}", record.model, record.revision);
    } else if (!node) {
      problem = fmt::format("unknown node \"{}\"", record.node);
    } else if (!user && options.cell_rate_bytes_per_s > 0) {
      const std::string cell = "cell:" + record.node;
      user = index.User(cell);
      if (!user) {
        user = static_cast<std::uint32_t>(topology.users.size());
        topology.users.push_back(User{cell, 0, 0, {Link{*node, options.cell_rate_bytes_per_s}}});
        index.AddUser(cell, *user);
        ++r.cells_added;
      }
    } else if (!user) {
      problem = fmt::format("unknown user \"{}\"", record.user);
    }
    if (!problem.empty()) {
      if (!options.skip_bad) {
        return internal::BadInput(fmt::format("line {}: {}", record.line, problem));
      }
      ++r.skipped;
      continue;
    }
    out.push_back(Request{record.time_s, *user, *node, *model});
  }
  return out;
}

std::vector<Request> SampleRequests(const Demand& demand, const Topology& topology,
                                    std::size_t count, std::uint64_t seed) {
  std::vector<Request> out;
  std::vector<double> weights;
  std::vector<std::size_t> entries;
  double total = 0;
  for (std::size_t e = 0; e < demand.size(); ++e) {
    if (topology.users[demand[e].user].links.empty()) continue;
    weights.push_back(demand[e].rate);
    entries.push_back(e);
    total += demand[e].rate;
  }
  if (entries.empty() || !(total > 0)) return out;
  std::mt19937_64 rng(seed);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::exponential_distribution<double> gap(total);
  out.reserve(count);
  double time = 0;
  for (std::size_t k = 0; k < count; ++k) {
    time += gap(rng);
    const DemandEntry& e = demand[entries[pick(rng)]];
    out.push_back(Request{time, e.user, topology.users[e.user].links.front().node, e.model});
  }
  return out;
}

}  // namespace mei::placement
