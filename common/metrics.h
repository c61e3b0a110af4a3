// MetricsRegistry: counters, gauges and histograms rendered in the Prometheus text format
// (version 0.0.4) for GET /metrics. Names are prefixed "mei_" by the callers.
//
// Series are created on first use, keyed by name and label values; each name must be declared
// (Declare) with its type and help text first. Updates take a short lock: they happen per request
// or per block, never per byte. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mei {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();

  // Declares a metric family. For histograms, `buckets` are the upper bounds (ascending); empty
  // means latency buckets in seconds from 1 ms to 60 s. Declaring a name twice with the same type
  // is a no-op.
  void Declare(std::string name, MetricType type, std::string help,
               std::vector<double> buckets = {});

  // REQUIRES: `name` declared with the matching type (a debug assert; ignored in release).
  void Add(std::string_view name, const Labels& labels, double amount = 1);  // counter
  void Set(std::string_view name, const Labels& labels, double value);       // gauge
  void Observe(std::string_view name, const Labels& labels, double value);   // histogram

  // A gauge whose value is read at render time (open connections, store bytes).
  void SetCallbackGauge(std::string name, std::string help, std::function<double()> read);
  // The same for a counter or a gauge kept elsewhere (e.g. evictions counted by an index).
  // REQUIRES: type is not kHistogram.
  void SetCallback(std::string name, MetricType type, std::string help,
                   std::function<double()> read);

  // Every family in declaration order, series sorted by labels; label values escaped.
  [[nodiscard]] std::string Render() const;

 private:
  struct Family;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*, std::less<>> by_name_;
};

}  // namespace mei
