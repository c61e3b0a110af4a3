// Evaluation: what a placement gives users, against a demand (expected values) or replayed over
// requests.
//
// A request (u, i) is a hit when a node u reaches holds all of model i and size(i) / rate(u, n)
// is within the deadline. A hit is downloaded from the fastest node that holds the model; a miss
// from that node too when it is no slower than the origin, otherwise from the origin through u's
// node at min(origin rate, link rate); only then does it cost origin bytes: the bytes of i's
// fragments that the node does not hold.
#pragma once

#include <span>
#include <vector>

#include "placement/instance.h"
#include "placement/requests.h"

namespace mei::placement {

struct Metrics {
  double requests = 0;      // requests replayed, or the demand's total rate (per second)
  double hit_ratio = 0;     // share of requests (or of the rate) that were hits
  double origin_bytes = 0;  // total over the requests, or per second for a demand
  double mean_download_s = 0;
  double p95_download_s = 0;
};

// The outcome of one request for `model` by `user` through `node` under `placement`.
struct Outcome {
  bool hit = false;
  double download_s = 0;
  double origin_bytes = 0;
};
[[nodiscard]] Outcome Serve(const Instance& instance, const Placement& placement,
                            std::uint32_t user, std::uint32_t node, std::uint32_t model);

// Adds up outcomes, each with a weight (a request's weight is 1, a demand entry's its rate).
class MetricsAccumulator {
 public:
  void Add(const Outcome& outcome, double weight);
  [[nodiscard]] Metrics Finish();

 private:
  double weight_ = 0, hits_ = 0, origin_ = 0, time_ = 0;
  std::vector<std::pair<double, double>> times_;  // (download_s, weight)
};

// Expected metrics over the instance's demand; each user goes through its fastest node.
[[nodiscard]] Metrics EvaluateDemand(const Instance& instance, const Placement& placement);

// Metrics of replaying `requests` against a fixed placement.
[[nodiscard]] Metrics EvaluateRequests(const Instance& instance, const Placement& placement,
                                       std::span<const Request> requests);

}  // namespace mei::placement
