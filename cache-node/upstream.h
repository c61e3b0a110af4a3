// Upstreams: where a cache node fills what it lacks (its parent, an origin or a regional node, and
// the peers a placement plan names), and their health.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/data_plane_client.h"
#include "common/metrics.h"

namespace mei::cache_node {

// One node to fill from: the parent ("parent") or a peer ("peer:<node id>"), the label used in
// metrics and the access log. The fetches themselves are the data-plane client's.
using Upstream = http::RemoteNode;
using http::FetchBlockFrame;
using http::FetchContext;
using http::FetchManifest;
using http::FetchModelList;

// An upstream's circuit (docs/ARCHITECTURE.md, "Upstream health").
enum class CircuitState {
  kClosed,    // requests go to the upstream
  kOpen,      // skipped until the open period ends; the first request after it is the probe
  kHalfOpen,  // the probe is admitted and its outcome not recorded yet; others are skipped
};

// "closed", "open", "half_open": the admin status's and meictl's words.
[[nodiscard]] std::string_view NameOf(CircuitState state);

// What UpstreamHealth::Admit says about one request to an upstream.
enum class Admission {
  kSkipped,   // its circuit is open (or its probe is out): leave the upstream out
  kAdmitted,  // its circuit is closed
  kProbe,     // the request is the probe of a circuit whose open period has ended
};

struct CircuitOptions {
  // Failures in a row that open an upstream's circuit; 0: circuits never open.
  std::uint64_t failure_threshold = 3;
  // The first open period; each failed probe doubles it, up to max_backoff.
  std::chrono::milliseconds backoff{1'000};
  std::chrono::milliseconds max_backoff{60'000};
  // Each period is scaled by a random factor in [1 - jitter, 1 + jitter] (and still capped), so
  // that nodes which lost the same upstream do not probe it in step.
  double jitter = 0.2;
  // An admitted probe whose outcome is not recorded within this (a peer answered "not held", or
  // the fill never reached it) gives its slot to the next request.
  std::chrono::milliseconds probe_timeout{35'000};
};

// kBadRequest unless 0 < backoff <= max_backoff <= 1 day, 0 <= jitter < 1, probe_timeout > 0.
[[nodiscard]] Result<void> CheckCircuitOptions(const CircuitOptions& options);

// How each upstream has been doing, and whether a request may go to it now: a circuit breaker per
// upstream, for the filler's upstream order, the admin status and /readyz. Thread-safe.
class UpstreamHealth {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Entry {
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::uint64_t consecutive_failures = 0;
    std::string last_error;  // one sentence, "" when the last fetch worked
    std::chrono::system_clock::time_point last_success{};
    std::chrono::system_clock::time_point last_failure{};
    CircuitState circuit = CircuitState::kClosed;
    std::uint64_t opens = 0;  // times the circuit opened, reopenings after a failed probe included
    std::uint64_t skips = 0;  // requests that left the upstream out (Admit said kSkipped)
    // When the last open period ends (or ended, while half-open); the epoch while closed.
    std::chrono::system_clock::time_point open_until{};
  };

  // `metrics`: when given, the circuit series of node_metrics.h are kept there (an upstream's
  // appear when it is first seen). `clock`: steady_clock::now when empty; it must be thread-safe.
  // REQUIRES: CheckCircuitOptions(options); `metrics` outlives this.
  explicit UpstreamHealth(CircuitOptions options = {}, MetricsRegistry* metrics = nullptr,
                          Clock clock = {});

  UpstreamHealth(const UpstreamHealth&) = delete;
  UpstreamHealth& operator=(const UpstreamHealth&) = delete;

  // Whether a request may go to `upstream` now. Closed: admitted. Open: skipped until the period
  // has run out, then once the probe (the circuit goes half-open). Half-open: skipped until the
  // probe's outcome is recorded or its slot expires (probe_timeout), then a new probe. Every skip
  // is counted. The caller records the outcome of what it sends.
  [[nodiscard]] Admission Admit(const std::string& upstream);

  // The upstreams of `order` that Admit lets through, probes first (so that a probe is tried by
  // the request it was admitted for, not left unused behind an upstream that has the block),
  // then the others in their order.
  [[nodiscard]] std::vector<Upstream> Admitted(std::vector<Upstream> order);

  // A request to `upstream` worked or failed. Every error counts as a failure: callers record a
  // 404 (the upstream answered) as a success or not at all. A success closes the circuit. A
  // failure opens a closed circuit once failure_threshold have come in a row, and reopens a
  // half-open one for twice its last period (capped); while open it only counts.
  void Record(const std::string& upstream, const Result<void>& outcome);

  // Every upstream seen (admitted or recorded), by name.
  std::map<std::string, Entry> Snapshot() const;

  // The entry of `upstream`, or nullopt when it was never seen.
  std::optional<Entry> Of(const std::string& upstream) const;

  // False once `upstream` failed at least `threshold` times in a row.
  bool Reachable(const std::string& upstream, std::uint64_t threshold = 3) const;

 private:
  struct Circuit {
    Entry entry;
    std::chrono::steady_clock::time_point open_until{};
    std::chrono::steady_clock::time_point probe_expires{};
    std::uint32_t reopenings = 0;  // failed probes since the circuit last closed
  };

  // The circuit of `upstream`, created closed (with its metric series) when new. The helpers
  // below REQUIRE mu_ held.
  Circuit& CircuitOf(const std::string& upstream);
  void Open(const std::string& upstream, Circuit& circuit);
  void SetState(const std::string& upstream, Circuit& circuit, CircuitState state);
  // Entry with open_until on the system clock.
  Entry EntryOf(const Circuit& circuit) const;

  const CircuitOptions options_;
  MetricsRegistry* const metrics_;
  const Clock clock_;

  mutable std::mutex mu_;  // held while the metric series are updated, so they follow in order
  std::map<std::string, Circuit> circuits_;
  std::mt19937_64 random_;
};

}  // namespace mei::cache_node
