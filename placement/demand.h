// Demand: request rates lambda(u, i) per user (or cell) and model, and how they are fitted.
//
// Rates are requests per second; only their ratios matter for the hit ratio. Fitting from a trace
// uses either a sliding window (the requests of the last `window_s` seconds, divided by the
// window) or an exponentially weighted moving average (each request weighted by
// 2^(-age / half_life_s), the sum divided by half_life_s / ln 2, which is the rate itself when
// requests arrive steadily). Ages are measured from the last request of the trace.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/errc.h"
#include "placement/catalog.h"
#include "placement/topology.h"

namespace mei::placement {

struct DemandEntry {
  std::uint32_t user = 0;   // index into Topology::users
  std::uint32_t model = 0;  // index into Catalog::models
  double rate = 0;          // requests per second, > 0
};

// Sorted by (user, model), each pair once.
using Demand = std::vector<DemandEntry>;

struct FitOptions {
  double window_s = 0;     // > 0: sliding window of this length; 0: the whole trace
  double half_life_s = 0;  // > 0: EWMA with this half-life instead of a window
};

struct Request;

// Fits a demand to resolved requests (requests.h). kBadRequest on a negative window or half-life.
[[nodiscard]] Result<Demand> FitDemand(const std::vector<Request>& requests,
                                       const FitOptions& options);

// Sorts by (user, model), adds up duplicates, drops zero rates; kBadRequest on an index out of
// range or a negative or non-finite rate.
[[nodiscard]] Result<void> NormalizeDemand(Demand& demand, const Topology& topology,
                                           const Catalog& catalog);

// JSON: [{"user": id, "model": "org/name", "revision": "main", "rate": r}, ...].
[[nodiscard]] boost::json::value ToJsonValue(const Demand& demand, const Topology& topology,
                                             const Catalog& catalog);
[[nodiscard]] Result<Demand> DemandFromJson(const boost::json::value& json,
                                            const Topology& topology, const Catalog& catalog);

}  // namespace mei::placement
