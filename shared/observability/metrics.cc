#include "shared/observability/metrics.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace fedge::shared {
namespace {

[[noreturn]] void Die(const std::string& name, const std::string& what) {
  std::fprintf(stderr, "fedge: metric '%s': %s\n", name.c_str(), what.c_str());
  std::abort();
}

void AtomicAdd(std::atomic<double>& a, double v) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

// `{a="x",b="y"}` (or "" without labels); `extra` (e.g. le="0.5") goes last.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string& extra = "") {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

void AppendSample(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, double v, const std::string& extra = "") {
  out += name;
  AppendLabels(out, names, values, extra);
  out += ' ';
  out += FormatMetricValue(v);
  out += '\n';
}

}  // namespace

void Counter::Inc(double v) {
  if (!(v > 0)) return;  // also drops NaN
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  const auto it = std::lower_bound(bounds_->begin(), bounds_->end(), v);  // first bound >= v
  counts_[static_cast<size_t>(it - bounds_->begin())].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

template <typename T>
std::unique_ptr<T> Family<T>::Make() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(&bounds_);
  } else {
    return std::make_unique<T>();
  }
}

template <typename T>
T& Family<T>::Labels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Die(label_names_.empty() ? "?" : label_names_[0],
        "got " + std::to_string(values.size()) + " label values for " +
            std::to_string(label_names_.size()) + " label names");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  owned_.push_back(Make());
  children_.emplace(values, owned_.back().get());
  return *owned_.back();
}

template <typename T>
void Family<T>::Remove(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> lock(mu_);
  children_.erase(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct MetricsRegistry::Entry {
  std::string name;
  std::string help;
  const char* type = "";
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
  std::function<double()> read;  // callback metrics

  void Render(std::string& out) const;
};

void MetricsRegistry::Entry::Render(std::string& out) const {
  out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
  static const std::vector<std::string> kNone;
  if (read) {
    AppendSample(out, name, kNone, kNone, read());
    return;
  }
  auto simple = [&](const auto& family) {
    std::lock_guard<std::mutex> lock(family.mu_);
    for (const auto& [values, child] : family.children_) {
      AppendSample(out, name, family.label_names_, values, child->value());
    }
  };
  if (counters) return simple(*counters);
  if (gauges) return simple(*gauges);
  const HistogramFamily& h = *histograms;
  std::lock_guard<std::mutex> lock(h.mu_);
  for (const auto& [values, child] : h.children_) {
    // Cumulative counts; _count is the +Inf bucket, so both agree within one rendering.
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h.bounds_.size(); ++i) {
      cumulative += child->bucket(i);
      const std::string le =
          i < h.bounds_.size() ? FormatMetricValue(h.bounds_[i]) : std::string("+Inf");
      AppendSample(out, name + "_bucket", h.label_names_, values, static_cast<double>(cumulative),
                   "le=\"" + le + "\"");
    }
    AppendSample(out, name + "_sum", h.label_names_, values, child->sum());
    AppendSample(out, name + "_count", h.label_names_, values, static_cast<double>(cumulative));
  }
}

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::Register(const std::string& name, const std::string& help,
                                                  const char* type,
                                                  const std::vector<std::string>& label_names) {
  if (!ValidMetricName(name)) Die(name, "not a valid metric name");
  if (std::string_view(type) == "counter" &&
      (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0)) {
    Die(name, "a counter's name must end in _total");
  }
  std::set<std::string> seen;
  for (const std::string& l : label_names) {
    if (!ValidLabelName(l)) Die(name, "'" + l + "' is not a valid label name");
    if (std::string_view(type) == "histogram" && l == "le") Die(name, "a histogram has no 'le'");
    if (!seen.insert(l).second) Die(name, "label '" + l + "' given twice");
  }
  // Mutex held by the caller.
  if (!names_.insert(name).second) Die(name, "registered twice");
  entries_.push_back(std::make_unique<Entry>());
  Entry& e = *entries_.back();
  e.name = name;
  e.help = help;
  e.type = type;
  return e;
}

CounterFamily* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = Register(name, help, "counter", label_names);
  e.counters.reset(new CounterFamily(std::move(label_names), {}));
  if (e.counters->label_names().empty()) e.counters->Get();
  return e.counters.get();
}

GaugeFamily* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = Register(name, help, "gauge", label_names);
  e.gauges.reset(new GaugeFamily(std::move(label_names), {}));
  if (e.gauges->label_names().empty()) e.gauges->Get();
  return e.gauges.get();
}

HistogramFamily* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               std::vector<double> bounds,
                                               std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = Register(name, help, "histogram", label_names);
  if (bounds.empty()) Die(name, "a histogram needs at least one bucket bound");
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Die(name, "bucket bounds must be finite and strictly increasing");
    }
  }
  e.histograms.reset(new HistogramFamily(std::move(label_names), std::move(bounds)));
  if (e.histograms->label_names().empty()) e.histograms->Get();
  return e.histograms.get();
}

void MetricsRegistry::AddCounterCallback(const std::string& name, const std::string& help,
                                         std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  Register(name, help, "counter", {}).read = std::move(read);
}

void MetricsRegistry::AddGaugeCallback(const std::string& name, const std::string& help,
                                       std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  Register(name, help, "gauge", {}).read = std::move(read);
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) e->Render(out);
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) <= 9007199254740992.0) {  // 2^53
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

const std::set<std::string>& MetricsKeys() {
  static const std::set<std::string> keys = {"metrics.enabled", "metrics.listen", "metrics.port"};
  return keys;
}

Result<MetricsSettings> LoadMetricsSettings(const ConfigFile& file,
                                            const MetricsSettings& defaults) {
  MetricsSettings m;
  FEDGE_ASSIGN_OR_RETURN(m.enabled, file.Bool("metrics.enabled", defaults.enabled));
  FEDGE_ASSIGN_OR_RETURN(m.listen, file.String("metrics.listen", defaults.listen));
  unsigned char addr[sizeof(in6_addr)];
  if (inet_pton(AF_INET, m.listen.c_str(), addr) != 1 &&
      inet_pton(AF_INET6, m.listen.c_str(), addr) != 1) {
    return Status::InvalidArgument(file.path() + ": key 'metrics.listen': '" + m.listen +
                                   "' is not an IP address");
  }
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("metrics.port", defaults.port, 0, 65535));
  m.port = static_cast<uint16_t>(port);
  return m;
}

}  // namespace fedge::shared
