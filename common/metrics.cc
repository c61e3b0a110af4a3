#include "common/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace mei {
namespace {

// 1 ms to 60 s: the range of a request on a LAN up to a large file on a slow link.
const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> buckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,      2.5,   5,    10,    30,   60};
  return buckets;
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Integral values print as integers ("42", not "42.000000"); others in the shortest form that
// reads back to the same double; infinities and NaN as the exposition format spells them.
void AppendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  std::to_chars_result result;
  if (value == std::floor(value) && std::fabs(value) < 9.007199254740992e15) {
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<std::int64_t>(value));
  } else {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  }
  out.append(buffer, result.ptr);
}

// Label values escape backslash, double quote and line feed; HELP text escapes backslash and
// line feed (Prometheus text format 0.0.4).
void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}`, with an extra trailing label (le) for histogram buckets; nothing when there
// are no labels at all.
void AppendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto append = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    AppendEscaped(out, value, /*escape_quote=*/true);
    out += '"';
  };
  for (const auto& [name, value] : labels) append(name, value);
  if (!extra_name.empty()) append(extra_name, extra_value);
  out += '}';
}

}  // namespace

struct MetricsRegistry::Family {
  struct Series {
    double value = 0;                   // counter, gauge
    std::vector<std::uint64_t> counts;  // histogram: per bucket, not cumulative
    std::uint64_t count = 0;            // histogram: every observation, +Inf included
    double sum = 0;
  };

  std::string name;
  MetricType type = MetricType::kCounter;
  std::string help;
  std::vector<double> buckets;   // histograms: ascending upper bounds, +Inf implied
  std::function<double()> read;  // callback gauges
  std::map<Labels, Series> series;

  Series& SeriesFor(const Labels& labels) {
    auto it = series.find(labels);
    if (it == series.end()) {
      it = series.emplace(labels, Series{}).first;
      if (type == MetricType::kHistogram) it->second.counts.assign(buckets.size(), 0);
    }
    return it->second;
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::Declare(std::string name, MetricType type, std::string help,
                              std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    assert(it->second->type == type && "metric declared twice with different types");
    return;
  }
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->type = type;
  family->help = std::move(help);
  if (type == MetricType::kHistogram) {
    family->buckets = buckets.empty() ? LatencyBuckets() : std::move(buckets);
    std::sort(family->buckets.begin(), family->buckets.end());
    family->buckets.erase(std::unique(family->buckets.begin(), family->buckets.end()),
                          family->buckets.end());
    std::erase_if(family->buckets, [](double bound) { return std::isinf(bound); });
  }
  by_name_.emplace(family->name, family.get());
  families_.push_back(std::move(family));
}

void MetricsRegistry::Add(std::string_view name, const Labels& labels, double amount) {
  std::lock_guard lock(mu_);
  auto it = by_name_.find(name);
  assert(it != by_name_.end() && it->second->type == MetricType::kCounter);
  if (it == by_name_.end() || it->second->type != MetricType::kCounter) return;
  it->second->SeriesFor(labels).value += amount;
}

void MetricsRegistry::Set(std::string_view name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  auto it = by_name_.find(name);
  assert(it != by_name_.end() && it->second->type == MetricType::kGauge && !it->second->read);
  if (it == by_name_.end() || it->second->type != MetricType::kGauge || it->second->read) return;
  it->second->SeriesFor(labels).value = value;
}

void MetricsRegistry::Observe(std::string_view name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  auto it = by_name_.find(name);
  assert(it != by_name_.end() && it->second->type == MetricType::kHistogram);
  if (it == by_name_.end() || it->second->type != MetricType::kHistogram) return;
  Family& family = *it->second;
  Family::Series& series = family.SeriesFor(labels);
  // `le` is inclusive: an observation equal to a bound falls in that bound's bucket.
  const auto bucket = std::lower_bound(family.buckets.begin(), family.buckets.end(), value);
  if (bucket != family.buckets.end()) ++series.counts[bucket - family.buckets.begin()];
  ++series.count;
  series.sum += value;
}

void MetricsRegistry::SetCallbackGauge(std::string name, std::string help,
                                       std::function<double()> read) {
  SetCallback(std::move(name), MetricType::kGauge, std::move(help), std::move(read));
}

void MetricsRegistry::SetCallback(std::string name, MetricType type, std::string help,
                                  std::function<double()> read) {
  assert(type != MetricType::kHistogram);
  std::lock_guard lock(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    assert(it->second->type == type);
    if (it->second->type == type) it->second->read = std::move(read);
    return;
  }
  auto family = std::make_unique<Family>();
  family->name = std::move(name);
  family->type = type;
  family->help = std::move(help);
  family->read = std::move(read);
  by_name_.emplace(family->name, family.get());
  families_.push_back(std::move(family));
}

// Callback gauges are read without holding the lock, so a callback may itself take locks (the
// server's) or even update this registry without deadlocking. Families are never removed, so
// the pointers taken under the first lock stay valid.
std::string MetricsRegistry::Render() const {
  std::vector<std::pair<const Family*, std::function<double()>>> callbacks;
  {
    std::lock_guard lock(mu_);
    for (const auto& family : families_) {
      if (family->read) callbacks.emplace_back(family.get(), family->read);
    }
  }
  std::map<const Family*, double> read_values;
  for (const auto& [family, read] : callbacks) read_values[family] = read();

  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& family_ptr : families_) {
    const Family& family = *family_ptr;
    out += "# HELP ";
    out += family.name;
    out += ' ';
    AppendEscaped(out, family.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += TypeName(family.type);
    out += '\n';
    if (auto read = read_values.find(&family); read != read_values.end()) {
      out += family.name;
      out += ' ';
      AppendNumber(out, read->second);
      out += '\n';
      continue;
    }
    for (const auto& [labels, series] : family.series) {
      if (family.type != MetricType::kHistogram) {
        out += family.name;
        AppendLabels(out, labels);
        out += ' ';
        AppendNumber(out, series.value);
        out += '\n';
        continue;
      }
      std::uint64_t cumulative = 0;
      std::string bound;
      for (std::size_t i = 0; i <= family.buckets.size(); ++i) {
        bound.clear();
        if (i < family.buckets.size()) {
          cumulative += series.counts[i];
          AppendNumber(bound, family.buckets[i]);
        } else {
          cumulative = series.count;
          bound = "+Inf";
        }
        out += family.name;
        out += "_bucket";
        AppendLabels(out, labels, "le", bound);
        out += ' ';
        AppendNumber(out, static_cast<double>(cumulative));
        out += '\n';
      }
      out += family.name;
      out += "_sum";
      AppendLabels(out, labels);
      out += ' ';
      AppendNumber(out, series.sum);
      out += '\n';
      out += family.name;
      out += "_count";
      AppendLabels(out, labels);
      out += ' ';
      AppendNumber(out, static_cast<double>(series.count));
      out += '\n';
    }
  }
  return out;
}

}  // namespace mei
