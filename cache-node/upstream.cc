#include "cache-node/upstream.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "cache-node/node_metrics.h"

namespace mei::cache_node {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

Labels LabelsOf(const std::string& upstream) { return {{"upstream", upstream}}; }

}  // namespace

std::string_view NameOf(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

Result<void> CheckCircuitOptions(const CircuitOptions& options) {
  if (options.backoff <= std::chrono::milliseconds(0)) {
    return Error{Errc::kBadRequest, "the circuit backoff must be more than 0 ms"};
  }
  if (options.max_backoff < options.backoff || options.max_backoff > std::chrono::hours(24)) {
    return Error{Errc::kBadRequest,
                 "the circuit's maximum backoff must be at least its backoff and at most 1 day"};
  }
  if (!(options.jitter >= 0 && options.jitter < 1)) {
    return Error{Errc::kBadRequest, "the circuit jitter must be at least 0 and less than 1"};
  }
  if (options.probe_timeout <= std::chrono::milliseconds(0)) {
    return Error{Errc::kBadRequest, "the circuit probe timeout must be more than 0 ms"};
  }
  return {};
}

UpstreamHealth::UpstreamHealth(CircuitOptions options, MetricsRegistry* metrics, Clock clock)
    : options_(options),
      metrics_(metrics),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      random_(std::random_device{}()) {
  if (metrics_ != nullptr) DeclareNodeMetrics(*metrics_);
}

UpstreamHealth::Circuit& UpstreamHealth::CircuitOf(const std::string& upstream) {
  const auto [found, added] = circuits_.try_emplace(upstream);
  if (added && metrics_ != nullptr) {
    const Labels labels = LabelsOf(upstream);
    metrics_->Set(kUpstreamCircuitState, labels, 0);
    metrics_->Add(kUpstreamCircuitOpensTotal, labels, 0);
    metrics_->Add(kUpstreamSkipsTotal, labels, 0);
  }
  return found->second;
}

void UpstreamHealth::SetState(const std::string& upstream, Circuit& circuit, CircuitState state) {
  circuit.entry.circuit = state;
  if (metrics_ != nullptr) {
    metrics_->Set(kUpstreamCircuitState, LabelsOf(upstream), static_cast<double>(state));
  }
}

// The open period doubles with each failed probe since the circuit last closed: backoff x 2^n,
// capped, then scaled by the jitter factor and capped again, so that it never exceeds the cap.
void UpstreamHealth::Open(const std::string& upstream, Circuit& circuit) {
  const double doubled = static_cast<double>(options_.backoff.count()) *
                         std::exp2(std::min<std::uint32_t>(circuit.reopenings, 62));
  const double cap = static_cast<double>(options_.max_backoff.count());
  double period_ms = std::min(doubled, cap);
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> factor(1 - options_.jitter, 1 + options_.jitter);
    period_ms = std::min(period_ms * factor(random_), cap);
  }
  circuit.open_until = clock_() + std::chrono::milliseconds(std::llround(period_ms));
  ++circuit.entry.opens;
  if (metrics_ != nullptr) metrics_->Add(kUpstreamCircuitOpensTotal, LabelsOf(upstream));
  SetState(upstream, circuit, CircuitState::kOpen);
}

Admission UpstreamHealth::Admit(const std::string& upstream) {
  std::lock_guard lock(mu_);
  Circuit& circuit = CircuitOf(upstream);
  const SteadyTime now = clock_();
  switch (circuit.entry.circuit) {
    case CircuitState::kClosed:
      return Admission::kAdmitted;
    case CircuitState::kOpen:
      if (now >= circuit.open_until) {
        circuit.probe_expires = now + options_.probe_timeout;
        SetState(upstream, circuit, CircuitState::kHalfOpen);
        return Admission::kProbe;
      }
      break;
    case CircuitState::kHalfOpen:
      if (now >= circuit.probe_expires) {
        circuit.probe_expires = now + options_.probe_timeout;
        return Admission::kProbe;
      }
      break;
  }
  ++circuit.entry.skips;
  if (metrics_ != nullptr) metrics_->Add(kUpstreamSkipsTotal, LabelsOf(upstream));
  return Admission::kSkipped;
}

std::vector<Upstream> UpstreamHealth::Admitted(std::vector<Upstream> order) {
  std::vector<Upstream> probes;
  std::vector<Upstream> admitted;
  for (Upstream& upstream : order) {
    switch (Admit(upstream.name)) {
      case Admission::kProbe:
        probes.push_back(std::move(upstream));
        break;
      case Admission::kAdmitted:
        admitted.push_back(std::move(upstream));
        break;
      case Admission::kSkipped:
        break;
    }
  }
  probes.insert(probes.end(), std::make_move_iterator(admitted.begin()),
                std::make_move_iterator(admitted.end()));
  return probes;
}

void UpstreamHealth::Record(const std::string& upstream, const Result<void>& outcome) {
  std::lock_guard lock(mu_);
  Circuit& circuit = CircuitOf(upstream);
  Entry& entry = circuit.entry;
  const auto now = std::chrono::system_clock::now();
  if (outcome) {
    ++entry.successes;
    entry.consecutive_failures = 0;
    entry.last_error.clear();
    entry.last_success = now;
    circuit.reopenings = 0;
    if (entry.circuit != CircuitState::kClosed) SetState(upstream, circuit, CircuitState::kClosed);
    return;
  }
  ++entry.failures;
  ++entry.consecutive_failures;
  entry.last_error = outcome.error().message;
  entry.last_failure = now;
  switch (entry.circuit) {
    case CircuitState::kClosed:
      if (options_.failure_threshold > 0 &&
          entry.consecutive_failures >= options_.failure_threshold) {
        Open(upstream, circuit);
      }
      break;
    case CircuitState::kHalfOpen:
      ++circuit.reopenings;
      Open(upstream, circuit);
      break;
    case CircuitState::kOpen:
      break;
  }
}

UpstreamHealth::Entry UpstreamHealth::EntryOf(const Circuit& circuit) const {
  Entry entry = circuit.entry;
  if (entry.circuit != CircuitState::kClosed) {
    entry.open_until = std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           circuit.open_until - clock_());
  }
  return entry;
}

std::map<std::string, UpstreamHealth::Entry> UpstreamHealth::Snapshot() const {
  std::lock_guard lock(mu_);
  std::map<std::string, Entry> entries;
  for (const auto& [name, circuit] : circuits_) entries.emplace(name, EntryOf(circuit));
  return entries;
}

std::optional<UpstreamHealth::Entry> UpstreamHealth::Of(const std::string& upstream) const {
  std::lock_guard lock(mu_);
  const auto found = circuits_.find(upstream);
  if (found == circuits_.end()) return std::nullopt;
  return EntryOf(found->second);
}

bool UpstreamHealth::Reachable(const std::string& upstream, std::uint64_t threshold) const {
  std::lock_guard lock(mu_);
  const auto found = circuits_.find(upstream);
  return found == circuits_.end() || found->second.entry.consecutive_failures < threshold;
}

}  // namespace mei::cache_node
