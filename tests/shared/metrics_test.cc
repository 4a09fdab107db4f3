#include "shared/observability/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>
#include <vector>

namespace fedge::shared {
namespace {

TEST(MetricsTest, RendersCounterAndGaugeExactly) {
  MetricsRegistry r;
  CounterFamily* rounds = r.AddCounter("fedge_rounds_total", "Rounds completed.");
  GaugeFamily* version = r.AddGauge("fedge_model_version", "Head model version.");
  rounds->Get().Inc();
  rounds->Get().Inc(2);
  version->Get().Set(7);
  EXPECT_EQ(r.Render(),
            "# HELP fedge_rounds_total Rounds completed.\n"
            "# TYPE fedge_rounds_total counter\n"
            "fedge_rounds_total 3\n"
            "# HELP fedge_model_version Head model version.\n"
            "# TYPE fedge_model_version gauge\n"
            "fedge_model_version 7\n");
}

TEST(MetricsTest, CounterNeverGoesDown) {
  MetricsRegistry r;
  Counter& c = r.AddCounter("c_total", "c")->Get();
  c.Inc(1.5);
  c.Inc(-1);
  c.Inc(std::nan(""));
  c.Inc(0);
  EXPECT_DOUBLE_EQ(c.value(), 1.5);
  EXPECT_NE(r.Render().find("\nc_total 1.5\n"), std::string::npos) << r.Render();
}

TEST(MetricsTest, LabelledChildrenSortedAndEscaped) {
  MetricsRegistry r;
  CounterFamily* f = r.AddCounter("rejected_total", "Rejected\\updates\nby reason.", {"reason"});
  f->Labels({"zeta"}).Inc();
  f->Labels({"a \"quoted\" \\ value\nwith newline"}).Inc(4);
  EXPECT_EQ(r.Render(),
            "# HELP rejected_total Rejected\\\\updates\\nby reason.\n"
            "# TYPE rejected_total counter\n"
            "rejected_total{reason=\"a \\\"quoted\\\" \\\\ value\\nwith newline\"} 4\n"
            "rejected_total{reason=\"zeta\"} 1\n");
  f->Remove({"zeta"});
  EXPECT_EQ(r.Render().find("zeta"), std::string::npos);
}

TEST(MetricsTest, LabelledFamilyWithoutChildrenHasOnlyHelpAndType) {
  MetricsRegistry r;
  r.AddGauge("g", "A gauge.", {"client", "kind"});
  EXPECT_EQ(r.Render(), "# HELP g A gauge.\n# TYPE g gauge\n");
  r.AddGauge("h", "Another.", {"client", "kind"})->Labels({"x", "y"}).Set(-2.25);
  EXPECT_NE(r.Render().find("h{client=\"x\",kind=\"y\"} -2.25\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry r;
  HistogramFamily* f = r.AddHistogram("lat_seconds", "Latency.", {0.25, 0.5, 1}, {"stage"});
  Histogram& h = f->Labels({"infer"});
  // 0.25 lies on a bound: buckets are "less than or equal".
  for (double v : {0.125, 0.25, 0.375, 0.75, 0.875, 3.0}) h.Observe(v);
  EXPECT_EQ(r.Render(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{stage=\"infer\",le=\"0.25\"} 2\n"
            "lat_seconds_bucket{stage=\"infer\",le=\"0.5\"} 3\n"
            "lat_seconds_bucket{stage=\"infer\",le=\"1\"} 5\n"
            "lat_seconds_bucket{stage=\"infer\",le=\"+Inf\"} 6\n"
            "lat_seconds_sum{stage=\"infer\"} 5.375\n"
            "lat_seconds_count{stage=\"infer\"} 6\n");
}

TEST(MetricsTest, UnlabelledHistogramRendersZeroSeries) {
  MetricsRegistry r;
  r.AddHistogram("d_seconds", "D.", {1, 2.5});
  EXPECT_EQ(r.Render(),
            "# HELP d_seconds D.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"1\"} 0\n"
            "d_seconds_bucket{le=\"2.5\"} 0\n"
            "d_seconds_bucket{le=\"+Inf\"} 0\n"
            "d_seconds_sum 0\n"
            "d_seconds_count 0\n");
}

TEST(MetricsTest, CallbacksAreReadAtRender) {
  MetricsRegistry r;
  std::atomic<uint64_t> bytes{10};
  r.AddCounterCallback("bytes_total", "Bytes.", [&bytes] { return double(bytes.load()); });
  r.AddGaugeCallback("temp", "T.", [] { return 0.5; });
  bytes = 12345678901ull;
  EXPECT_EQ(r.Render(),
            "# HELP bytes_total Bytes.\n# TYPE bytes_total counter\nbytes_total 12345678901\n"
            "# HELP temp T.\n# TYPE temp gauge\ntemp 0.5\n");
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e300), "1e+300");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
}

TEST(MetricsTest, ValidatesNames) {
  EXPECT_TRUE(ValidMetricName("fedge_rounds_total"));
  EXPECT_TRUE(ValidMetricName("a:b_c9"));
  EXPECT_FALSE(ValidMetricName("9abc"));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("client"));
  EXPECT_FALSE(ValidLabelName("__name"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(MetricsDeathTest, RejectsProgrammingErrors) {
  EXPECT_DEATH(MetricsRegistry().AddCounter("rounds", "no _total"), "must end in _total");
  EXPECT_DEATH(MetricsRegistry().AddGauge("bad name", "x"), "not a valid metric name");
  EXPECT_DEATH(MetricsRegistry().AddHistogram("h", "x", {1, 1}), "strictly increasing");
  EXPECT_DEATH(MetricsRegistry().AddHistogram("h", "x", {1}, {"le"}), "no 'le'");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddGauge("g", "x");
        r.AddCounter("g_total", "y");
        r.AddGauge("g", "again");
      },
      "registered twice");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry r;
  CounterFamily* c = r.AddCounter("ops_total", "Ops.", {"thread"});
  Histogram& h = r.AddHistogram("v_seconds", "V.", {0.5, 1.5})->Get();
  Gauge& g = r.AddGauge("level", "L.")->Get();
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    // Renders while others write: every rendering is self-consistent.
    while (!done) {
      std::string text = r.Render();
      ASSERT_NE(text.find("# TYPE v_seconds histogram"), std::string::npos);
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = c->Labels({std::to_string(t % 2)});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Inc();
        h.Observe(i % 2 == 0 ? 1.0 : 2.0);  // +1 exactly: the sum stays exact
        g.Add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  renderer.join();
  EXPECT_DOUBLE_EQ(c->Labels({"0"}).value() + c->Labels({"1"}).value(), kThreads * kPerThread);
  EXPECT_EQ(h.bucket(0), 0u);
  EXPECT_EQ(h.bucket(1), uint64_t{kThreads * kPerThread / 2});
  EXPECT_EQ(h.bucket(2), uint64_t{kThreads * kPerThread / 2});
  EXPECT_DOUBLE_EQ(h.sum(), 1.5 * kThreads * kPerThread);
  EXPECT_DOUBLE_EQ(g.value(), kThreads * kPerThread);
}

std::string WriteToml(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / "fedge-metrics-test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(MetricsSettingsTest, DefaultsAndErrors) {
  MetricsSettings defaults;
  defaults.enabled = true;
  defaults.port = 9464;
  auto empty = ConfigFile::Load(WriteToml("empty.toml", ""));
  ASSERT_TRUE(empty.ok());
  auto m = LoadMetricsSettings(*empty, defaults);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->enabled);
  EXPECT_EQ(m->listen, "127.0.0.1");
  EXPECT_EQ(m->port, 9464);
  auto set = ConfigFile::Load(
      WriteToml("set.toml", "[metrics]\nenabled = false\nlisten = \"::1\"\nport = 0\n"));
  m = LoadMetricsSettings(*set, defaults);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->enabled);
  EXPECT_EQ(m->listen, "::1");
  EXPECT_EQ(m->port, 0);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"listen = \"localhost\"", "key 'metrics.listen': 'localhost' is not an IP address"},
      {"port = 70000", "metrics.port"},
      {"enabled = \"yes\"", "metrics.enabled"}};
  for (const auto& [line, what] : bad) {
    std::string path = WriteToml("bad.toml", "[metrics]\n" + line + "\n");
    auto f = ConfigFile::Load(path);
    ASSERT_TRUE(f.ok());
    auto b = LoadMetricsSettings(*f, defaults);
    ASSERT_FALSE(b.ok()) << line;
    EXPECT_NE(b.status().message().find(what), std::string::npos) << b.status().message();
    EXPECT_NE(b.status().message().find(path), std::string::npos) << b.status().message();
  }
}

}  // namespace
}  // namespace fedge::shared
