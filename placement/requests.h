// Requests: a trace resolved against a topology and a catalog, or a stream sampled from a demand.
//
// The unit that `eval` and the online policies replay: one whole-model request from a user
// through a node (the node the trace says it went to, or the user's fastest node when sampled).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/errc.h"
#include "placement/catalog.h"
#include "placement/demand.h"
#include "placement/topology.h"
#include "placement/trace.h"

namespace mei::placement {

struct Request {
  double time_s = 0;
  std::uint32_t user = 0;   // index into Topology::users
  std::uint32_t node = 0;   // index into Topology::nodes: where the request went
  std::uint32_t model = 0;  // index into Catalog::models
};

struct ResolveOptions {
  // Requests from a user the topology does not know are attributed to the cell of the node they
  // went to: a user "cell:<node>" linked to that node only, added to the topology at this rate.
  double cell_rate_bytes_per_s = 0;  // 0: unknown users are an error
  bool skip_bad = false;             // unknown models, nodes and users are counted, not fatal
};

struct ResolveReport {
  std::size_t skipped = 0;  // records read past with skip_bad
  std::size_t cells_added = 0;
};

// Resolves every record's ids (topology gains cell users as ResolveOptions says). Without
// skip_bad the first unknown id fails with kBadRequest: "line 12: unknown model acme/x@main".
[[nodiscard]] Result<std::vector<Request>> ResolveTrace(const Trace& trace, const Catalog& catalog,
                                                        Topology& topology,
                                                        const ResolveOptions& options,
                                                        ResolveReport* report = nullptr);

// `count` requests drawn from `demand` (a Poisson process at the demand's total rate), each sent
// to the user's fastest node; users without links are skipped. Deterministic for a seed.
[[nodiscard]] std::vector<Request> SampleRequests(const Demand& demand, const Topology& topology,
                                                  std::size_t count, std::uint64_t seed);

}  // namespace mei::placement
