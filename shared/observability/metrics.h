#pragma once
// A registry of Prometheus metrics (counters, gauges, histograms with label sets) rendered in
// the text exposition format 0.0.4. Thread-safe throughout.
//
// Hot paths: Counter::Inc, Gauge::Set and Histogram::Observe are lock-free atomics and never
// allocate. Family::Labels(...) looks a child up under the family's mutex (and allocates it the
// first time): call it once and keep the reference (children live as long as the registry).
//
// Semantics as Prometheus defines them: a counter only goes up (negative increments are
// ignored) and its name ends in `_total`; a histogram has fixed upper bounds, renders
// cumulative `_bucket{le="..."}` lines ending with `le="+Inf"`, then `_sum` and `_count`
// (`_count` always equals the `+Inf` bucket in one rendering).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/config.h"
#include "shared/base/status.h"

namespace fedge::shared {

// Content-Type of Render()'s output.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  // Adds `v` (default 1). Negative or NaN values are ignored: a counter never goes down.
  void Inc(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing and finite (checked by the registry).
  explicit Histogram(const std::vector<double>* bounds);
  // Counts `v` in the first bucket whose upper bound is >= v (the +Inf bucket otherwise) and
  // adds it to the sum. NaN is ignored. Lock-free; does not allocate.
  void Observe(double v);
  // Non-cumulative count of bucket i (i == bounds.size() is +Inf).
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* bounds_;  // owned by the family
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// A named metric with fixed label names and one child per distinct tuple of label values.
template <typename T>
class Family {
 public:
  // The child for `values` (one per label name, in order), created at zero on first use.
  // REQUIRES: values.size() == label_names().size(). Takes the family's mutex: keep the
  // returned reference for hot paths. Thread-safe.
  T& Labels(const std::vector<std::string>& values);
  // The child without labels. REQUIRES: the family has no label names.
  T& Get() { return Labels({}); }
  // Forgets the child for `values` (its series disappears from the output). References to it
  // stay valid until the registry is destroyed. Thread-safe.
  void Remove(const std::vector<std::string>& values);
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class MetricsRegistry;
  Family(std::vector<std::string> label_names, std::vector<double> bounds)
      : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  std::unique_ptr<T> Make() const;

  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, T*> children_;  // guarded by mu_; sorted for rendering
  std::vector<std::unique_ptr<T>> owned_;            // guarded by mu_; never shrinks
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registration. Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  // (not starting with "__"; "le" is not allowed on histograms), counter names end in
  // `_total`, names are unique, histogram bounds are finite and strictly increasing. Names are
  // literals in fedge's code, so a violation is a programming error: the process aborts with a
  // message naming the metric. The returned family lives as long as the registry. A family
  // without label names renders its single series (at 0) from the start. Thread-safe.
  CounterFamily* AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names = {});
  GaugeFamily* AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names = {});
  HistogramFamily* AddHistogram(const std::string& name, const std::string& help,
                                std::vector<double> bounds,
                                std::vector<std::string> label_names = {});
  // Unlabelled metrics whose value `read` computes at each Render (e.g. from an existing
  // atomic). `read` runs on the rendering thread; it must be thread-safe, quick, and for a
  // counter return a non-decreasing value. Same naming rules as above.
  void AddCounterCallback(const std::string& name, const std::string& help,
                          std::function<double()> read);
  void AddGaugeCallback(const std::string& name, const std::string& help,
                        std::function<double()> read);

  // Every family in registration order: "# HELP", "# TYPE", then one line per series, its
  // children sorted by label values. Thread-safe.
  std::string Render() const;

 private:
  struct Entry;
  Entry& Register(const std::string& name, const std::string& help, const char* type,
                  const std::vector<std::string>& label_names);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_
  std::set<std::string> names_;                  // guarded by mu_
};

// Exposition-format helpers (exposed for tests).
// A label value with `\`, `"` and newline escaped.
std::string EscapeLabelValue(std::string_view value);
// HELP text with `\` and newline escaped.
std::string EscapeHelp(std::string_view help);
// A sample value: integers up to 2^53 without exponent or point, "+Inf", "-Inf", "NaN", and
// otherwise the shortest text that reads back as the same double.
std::string FormatMetricValue(double v);
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// The [metrics] section of coordinator.toml and client.toml: an HTTP endpoint serving
// GET /metrics. `listen` is an IP address; port 0 picks a free port (tests).
struct MetricsSettings {
  bool enabled = false;
  std::string listen = "127.0.0.1";
  uint16_t port = 9464;
};
// Reads metrics.enabled, metrics.listen, metrics.port with `defaults` for missing keys;
// InvalidArgument naming the file and the key (e.g. a listen value that is not an IP address).
Result<MetricsSettings> LoadMetricsSettings(const ConfigFile& file,
                                            const MetricsSettings& defaults);
// The keys LoadMetricsSettings reads, for CheckKnownKeys.
const std::set<std::string>& MetricsKeys();

}  // namespace fedge::shared
