#include "common/metrics.h"

#include <gtest/gtest.h>

#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace mei {
namespace {

TEST(MetricsRegistryTest, CounterRendersHelpTypeAndIntegralValue) {
  MetricsRegistry metrics;
  metrics.Declare("mei_requests_total", MetricType::kCounter, "Requests answered.");
  metrics.Add("mei_requests_total", {{"route", "blocks"}, {"status", "200"}});
  metrics.Add("mei_requests_total", {{"route", "blocks"}, {"status", "200"}}, 2);
  EXPECT_EQ(metrics.Render(),
            "# HELP mei_requests_total Requests answered.\n"
            "# TYPE mei_requests_total counter\n"
            "mei_requests_total{route=\"blocks\",status=\"200\"} 3\n");
}

TEST(MetricsRegistryTest, SeriesAreSortedByLabelsAndFamiliesKeepDeclarationOrder) {
  MetricsRegistry metrics;
  metrics.Declare("mei_z_total", MetricType::kCounter, "Z.");
  metrics.Declare("mei_a", MetricType::kGauge, "A.");
  metrics.Add("mei_z_total", {{"route", "resolve"}}, 1);
  metrics.Add("mei_z_total", {{"route", "blocks"}}, 5);
  metrics.Set("mei_a", {}, 2.5);
  EXPECT_EQ(metrics.Render(),
            "# HELP mei_z_total Z.\n"
            "# TYPE mei_z_total counter\n"
            "mei_z_total{route=\"blocks\"} 5\n"
            "mei_z_total{route=\"resolve\"} 1\n"
            "# HELP mei_a A.\n"
            "# TYPE mei_a gauge\n"
            "mei_a 2.5\n");
}

TEST(MetricsRegistryTest, GaugeSetReplacesTheValue) {
  MetricsRegistry metrics;
  metrics.Declare("mei_store_bytes", MetricType::kGauge, "Stored bytes.");
  metrics.Set("mei_store_bytes", {}, 10);
  metrics.Set("mei_store_bytes", {}, -4);
  EXPECT_EQ(metrics.Render(),
            "# HELP mei_store_bytes Stored bytes.\n"
            "# TYPE mei_store_bytes gauge\n"
            "mei_store_bytes -4\n");
}

TEST(MetricsRegistryTest, DeclaredFamilyWithoutSeriesRendersOnlyHelpAndType) {
  MetricsRegistry metrics;
  metrics.Declare("mei_x_total", MetricType::kCounter, "X.");
  metrics.Declare("mei_x_total", MetricType::kCounter, "declared twice: no-op");
  EXPECT_EQ(metrics.Render(), "# HELP mei_x_total X.\n# TYPE mei_x_total counter\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry metrics;
  metrics.Declare("mei_latency_seconds", MetricType::kHistogram, "Latency.", {0.25, 1, 10});
  const Labels labels = {{"route", "blocks"}};
  for (double value : {0.125, 0.25, 0.5, 2.0, 100.0}) {
    metrics.Observe("mei_latency_seconds", labels, value);
  }
  EXPECT_EQ(metrics.Render(),
            "# HELP mei_latency_seconds Latency.\n"
            "# TYPE mei_latency_seconds histogram\n"
            "mei_latency_seconds_bucket{route=\"blocks\",le=\"0.25\"} 2\n"
            "mei_latency_seconds_bucket{route=\"blocks\",le=\"1\"} 3\n"
            "mei_latency_seconds_bucket{route=\"blocks\",le=\"10\"} 4\n"
            "mei_latency_seconds_bucket{route=\"blocks\",le=\"+Inf\"} 5\n"
            "mei_latency_seconds_sum{route=\"blocks\"} 102.875\n"
            "mei_latency_seconds_count{route=\"blocks\"} 5\n");
}

TEST(MetricsRegistryTest, HistogramWithoutLabelsAndDefaultLatencyBuckets) {
  MetricsRegistry metrics;
  metrics.Declare("mei_h_seconds", MetricType::kHistogram, "H.");
  metrics.Observe("mei_h_seconds", {}, 0.003);
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("mei_h_seconds_bucket{le=\"0.001\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_h_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_h_seconds_bucket{le=\"60\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_h_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_h_seconds_sum 0.003\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_h_seconds_count 1\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry metrics;
  metrics.Declare("mei_e_total", MetricType::kCounter, "Back\\slash and\nnewline \"kept\".");
  metrics.Add("mei_e_total", {{"path", "a\\b\"c\"\nd"}});
  EXPECT_EQ(metrics.Render(),
            "# HELP mei_e_total Back\\\\slash and\\nnewline \"kept\".\n"
            "# TYPE mei_e_total counter\n"
            "mei_e_total{path=\"a\\\\b\\\"c\\\"\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, CallbackGaugeIsReadAtRenderTime) {
  MetricsRegistry metrics;
  int connections = 3;
  metrics.SetCallbackGauge("mei_open_connections", "Open connections.",
                           [&] { return static_cast<double>(connections); });
  EXPECT_NE(metrics.Render().find("mei_open_connections 3\n"), std::string::npos);
  connections = 7;
  EXPECT_NE(metrics.Render().find("mei_open_connections 7\n"), std::string::npos);
}

TEST(MetricsRegistryTest, CallbackCounterRendersAsACounter) {
  MetricsRegistry metrics;
  std::uint64_t evictions = 5;
  metrics.SetCallback("mei_evictions_total", MetricType::kCounter, "Evictions.",
                      [&] { return static_cast<double>(evictions); });
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("# TYPE mei_evictions_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_evictions_total 5\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, CallbackGaugeMayUpdateTheRegistryWithoutDeadlock) {
  MetricsRegistry metrics;
  metrics.Declare("mei_renders_total", MetricType::kCounter, "Renders.");
  metrics.SetCallbackGauge("mei_g", "G.", [&] {
    metrics.Add("mei_renders_total", {});
    return 1.0;
  });
  EXPECT_NE(metrics.Render().find("mei_renders_total 1\n"), std::string::npos);
}

TEST(MetricsRegistryTest, ConcurrentAddsFromFourThreadsGiveTheExactSum) {
  MetricsRegistry metrics;
  metrics.Declare("mei_c_total", MetricType::kCounter, "C.");
  metrics.Declare("mei_c_seconds", MetricType::kHistogram, "C.", {1});
  constexpr int kThreads = 4;
  constexpr int kAddsPerThread = 25'000;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      const Labels labels = {{"route", t % 2 == 0 ? "even" : "odd"}};
      for (int i = 0; i < kAddsPerThread; ++i) {
        metrics.Add("mei_c_total", labels);
        metrics.Add("mei_c_total", {});
        metrics.Observe("mei_c_seconds", {}, 0.5);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("mei_c_total 100000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_c_total{route=\"even\"} 50000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_c_total{route=\"odd\"} 50000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_c_seconds_bucket{le=\"1\"} 100000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_c_seconds_count 100000\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, NonIntegralValuesUseShortestRoundTripForm) {
  MetricsRegistry metrics;
  metrics.Declare("mei_ratio", MetricType::kGauge, "R.");
  metrics.Set("mei_ratio", {{"k", "a"}}, 0.1);
  metrics.Set("mei_ratio", {{"k", "b"}}, 1e20);
  metrics.Set("mei_ratio", {{"k", "c"}}, 123456789.0);
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("mei_ratio{k=\"a\"} 0.1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_ratio{k=\"b\"} 1e+20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mei_ratio{k=\"c\"} 123456789\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace mei
