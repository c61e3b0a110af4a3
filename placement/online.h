// Online caching policies replayed over requests: LRU, LFU and a sharing-aware eviction in the
// spirit of the cache node's (which counts the models whose manifests it knows, where this counts
// the models fully held).
//
// Each node caches whole models at fragment granularity. A request that hits is served by the
// fastest in-deadline node holding the model, which records a use of the model's fragments. A
// miss goes through the requesting node: it fetches the fragments it lacks from the origin and
// keeps the model, evicting other fragments (never the model's own) until it fits; a model larger
// than the node is not kept. Victims, lowest score first (ties: least recently used, then lowest
// fragment index):
//   lru      the time of last use;
//   lfu      the number of uses;
//   sharing  uses x (number of models fully held at the node that use the fragment) / bytes,
//            so a base that many held fine-tunes need stays.
#pragma once

#include <span>
#include <string_view>

#include "placement/evaluate.h"
#include "placement/instance.h"

namespace mei::placement {

enum class OnlinePolicy { kLru, kLfu, kSharing };

struct Replay {
  Placement final;  // what the nodes hold after the last request
  Metrics metrics;  // over all the requests, each judged before its admission
};

// Starts from empty caches. Deterministic. Never exceeds a node's capacity.
[[nodiscard]] Replay ReplayOnline(const Instance& instance, OnlinePolicy policy,
                                  std::span<const Request> requests);

}  // namespace mei::placement
