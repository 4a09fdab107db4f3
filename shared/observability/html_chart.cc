#include "shared/observability/html_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace fedge::shared::html {

namespace {

constexpr double kWidth = 960;
constexpr double kLegendWidth = 210;
constexpr double kLeft = 72;
constexpr double kRight = kWidth - kLegendWidth - 16;
constexpr double kTop = 44;
constexpr double kPlotHeight = 250;
constexpr double kBottomMargin = 52;
constexpr double kLegendRow = 18;
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char* kBandColor = "#f5a623";
constexpr const char* kMarkerColor = "#444444";
constexpr const char* kLevelColor = "#c0392b";

const char* Color(size_t i) { return kPalette[i % std::size(kPalette)]; }

// Coordinates in the SVG: two decimals are plenty.
std::string Px(double v) { return Fixed(v, 2); }

// `label` cut to about `max` bytes (on a UTF-8 character boundary) with "..." when longer.
std::string Shorten(const std::string& label, size_t max) {
  if (label.size() <= max) return label;
  size_t end = max - 3;
  while (end > 0 && (static_cast<unsigned char>(label[end]) & 0xC0) == 0x80) --end;
  return label.substr(0, end) + "...";
}

// A linear map from [d0, d1] (data) to [p0, p1] (pixels).
struct Scale {
  double d0, d1, p0, p1;
  double operator()(double v) const { return p0 + (v - d0) * (p1 - p0) / (d1 - d0); }
};

struct Axis {
  double lo = 0, hi = 1;      // the domain drawn
  std::vector<double> ticks;  // inside [lo, hi]
  int decimals = 0;           // for tick labels
};

// Ticks at 1, 2 or 5 times a power of ten, at most about `target` of them over [lo, hi]. `extend`
// widens the domain to whole ticks (y axes); `integer` keeps ticks on whole numbers.
Axis NiceAxis(double lo, double hi, int target, bool extend, bool integer) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;  // in [1, 10): the smallest of 1, 2, 5, 10 not below it
  double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  if (integer) step = std::max(1.0, std::round(step));
  Axis a;
  a.decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6);
  if (extend) {
    lo = std::floor(lo / step + 1e-9) * step;
    hi = std::ceil(hi / step - 1e-9) * step;
  }
  a.lo = lo;
  a.hi = hi;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    a.ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return a;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// The ranges of everything `c` draws: points (bars get half a step either side, lines 2%),
// bands, markers, levels, the fixed y range, and 0 under bars.
void DataRanges(const Chart& c, Range* xr, Range* yr) {
  for (const Series& s : c.series) {
    for (const Point& p : s.points) {
      xr->Add(p.x);
      yr->Add(p.y);
    }
  }
  if (!xr->empty() && c.kind == ChartKind::kBars) {
    xr->lo -= 0.5;
    xr->hi += 0.5;
  } else if (xr->hi > xr->lo) {  // keep the first and last points off the frame
    const double pad = (xr->hi - xr->lo) * 0.02;
    xr->lo -= pad;
    xr->hi += pad;
  }
  for (const Band& b : c.bands) xr->Add(b.x0), xr->Add(b.x1);
  for (const Marker& m : c.markers) xr->Add(m.x);
  for (const Level& l : c.levels) yr->Add(l.y);
  if (c.kind == ChartKind::kBars) yr->Add(0);
  if (c.y_min) yr->Add(*c.y_min), yr->lo = *c.y_min;
  if (c.y_max) yr->Add(*c.y_max), yr->hi = std::max(yr->hi, *c.y_max);
  if (xr->empty()) xr->Add(0), xr->Add(1);
  if (yr->empty()) yr->Add(0), yr->Add(1);
}

struct Frame {
  Scale x, y;
  double height;  // of the whole svg
};

std::string AxesSvg(const Chart& c, const Axis& xa, const Axis& ya, const Frame& f) {
  const double bottom = kTop + kPlotHeight;
  std::string s = "<g class=\"axis y\">";
  for (double t : ya.ticks) {
    const std::string y = Px(f.y(t));
    s += "<line class=\"grid\" x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kRight) + "\" y1=\"" + y +
         "\" y2=\"" + y + "\"/><text class=\"tick\" x=\"" + Px(kLeft - 6) + "\" y=\"" + y +
         "\" dy=\"4\" text-anchor=\"end\">" + Fixed(t, ya.decimals) + "</text>";
  }
  s += "<text class=\"axis-label\" transform=\"translate(16," + Px(kTop + kPlotHeight / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + Escape(c.y_label) + "</text></g>";
  s += "<g class=\"axis x\"><line class=\"axis-line\" x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kRight) +
       "\" y1=\"" + Px(bottom) + "\" y2=\"" + Px(bottom) + "\"/>";
  for (double t : xa.ticks) {
    const std::string x = Px(f.x(t));
    s += "<line class=\"tick-mark\" x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + Px(bottom) +
         "\" y2=\"" + Px(bottom + 5) + "\"/><text class=\"tick\" x=\"" + x + "\" y=\"" +
         Px(bottom + 19) + "\" text-anchor=\"middle\">" + Fixed(t, xa.decimals) + "</text>";
  }
  s += "<text class=\"axis-label\" x=\"" + Px((kLeft + kRight) / 2) + "\" y=\"" + Px(bottom + 42) +
       "\" text-anchor=\"middle\">" + Escape(c.x_label) + "</text></g>";
  return s;
}

std::string DecorationsSvg(const Chart& c, const Frame& f) {
  std::string s;
  for (const Band& b : c.bands) {
    const double x0 = std::clamp(f.x(b.x0), kLeft, kRight);
    const double x1 = std::clamp(f.x(b.x1), kLeft, kRight);
    s += "<rect class=\"band\" x=\"" + Px(x0) + "\" y=\"" + Px(kTop) + "\" width=\"" +
         Px(std::max(1.0, x1 - x0)) + "\" height=\"" + Px(kPlotHeight) + "\" fill=\"" + kBandColor +
         "\" fill-opacity=\"0.18\"><title>" + Escape(b.label) + "</title></rect>";
  }
  for (const Level& l : c.levels) {
    const std::string y = Px(f.y(l.y));
    s += "<line class=\"level\" x1=\"" + Px(kLeft) + "\" x2=\"" + Px(kRight) + "\" y1=\"" + y +
         "\" y2=\"" + y + "\" stroke=\"" + kLevelColor + "\" stroke-dasharray=\"6 4\"><title>" +
         Escape(l.label) + "</title></line>";
  }
  for (size_t i = 0; i < c.markers.size(); ++i) {
    const Marker& m = c.markers[i];
    const std::string x = Px(f.x(m.x));
    s += "<g class=\"marker\"><line x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + Px(kTop) +
         "\" y2=\"" + Px(kTop + kPlotHeight) + "\" stroke=\"" + kMarkerColor +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\"/>";
    // The label reads away from the right edge.
    const bool left = f.x(m.x) > kRight - 260;
    s += "<text x=\"" + Px(f.x(m.x) + (left ? -4 : 4)) + "\" y=\"" +
         Px(kTop + 12 + 13 * static_cast<double>(i % 4)) + "\"" +
         (left ? " text-anchor=\"end\"" : "") + ">" + Escape(Shorten(m.label, 60)) +
         "</text><title>" + Escape(m.label) + "</title></g>";
  }
  return s;
}

std::string PointSvg(const Series& series, const Point& p, const Frame& f, const char* color) {
  const std::string tip =
      p.tip.empty() ? series.name + ": " + Fixed(p.x, 0) + ", " + Fixed(p.y, 4) : p.tip;
  std::string s = "<circle class=\"point";
  s += p.flagged ? " flagged\" r=\"5\" stroke=\"#000\" stroke-width=\"1.5\"" : "\" r=\"3\"";
  s += " cx=\"" + Px(f.x(p.x)) + "\" cy=\"" + Px(f.y(p.y)) + "\" fill=\"" + color + "\"><title>" +
       Escape(tip) + "</title></circle>";
  return s;
}

std::string LinesSvg(const Chart& c, const Frame& f) {
  std::string s;
  for (size_t i = 0; i < c.series.size(); ++i) {
    const Series& se = c.series[i];
    s += "<g class=\"series\" data-series=\"" + Escape(se.name) + "\" data-points=\"" +
         std::to_string(se.points.size()) + "\">";
    if (se.points.size() > 1) {
      s += "<polyline fill=\"none\" stroke=\"" + std::string(Color(i)) + "\" stroke-width=\"2\"";
      if (se.dashed) s += " stroke-dasharray=\"7 4\"";
      s += " points=\"";
      for (const Point& p : se.points) s += Px(f.x(p.x)) + "," + Px(f.y(p.y)) + " ";
      s.back() = '"';
      s += "/>";
    }
    for (const Point& p : se.points) s += PointSvg(se, p, f, Color(i));
    s += "</g>";
  }
  return s;
}

std::string BarsSvg(const Chart& c, const Frame& f) {
  std::set<double> xs;
  for (const Series& se : c.series) {
    for (const Point& p : se.points) xs.insert(p.x);
  }
  double gap = kRight - kLeft;
  for (auto it = xs.begin(); it != xs.end() && std::next(it) != xs.end(); ++it) {
    gap = std::min(gap, f.x(*std::next(it)) - f.x(*it));
  }
  const double group = std::min(gap, (kRight - kLeft) / 2) * 0.8;
  const double bar = group / static_cast<double>(std::max<size_t>(1, c.series.size()));
  const double base = f.y(std::max(0.0, f.y.d0));
  std::string s;
  for (size_t i = 0; i < c.series.size(); ++i) {
    const Series& se = c.series[i];
    s += "<g class=\"series\" data-series=\"" + Escape(se.name) + "\" data-points=\"" +
         std::to_string(se.points.size()) + "\">";
    for (const Point& p : se.points) {
      const double x = f.x(p.x) - group / 2 + bar * static_cast<double>(i);
      const double y = f.y(p.y);
      const std::string tip =
          p.tip.empty() ? se.name + ": " + Fixed(p.x, 0) + ", " + Fixed(p.y, 4) : p.tip;
      s += "<rect class=\"point\" x=\"" + Px(x) + "\" y=\"" + Px(std::min(y, base)) +
           "\" width=\"" + Px(std::max(1.0, bar - 1)) + "\" height=\"" + Px(std::abs(base - y)) +
           "\" fill=\"" + Color(i) + "\"><title>" + Escape(tip) + "</title></rect>";
    }
    s += "</g>";
  }
  return s;
}

bool HasFlagged(const Chart& c) {
  for (const Series& se : c.series) {
    for (const Point& p : se.points) {
      if (p.flagged) return true;
    }
  }
  return false;
}

// A legend row; the legend column fits about 28 characters, the <title> has the whole label.
std::string LegendEntry(double y, const std::string& swatch, const std::string& label) {
  return "<g class=\"legend-entry\"><title>" + Escape(label) + "</title>" + swatch + "<text x=\"" +
         Px(kRight + 40) + "\" y=\"" + Px(y + 4) + "\">" + Escape(Shorten(label, 28)) +
         "</text></g>";
}

std::string LegendSvg(const Chart& c) {
  std::string s = "<g class=\"legend\">";
  double y = kTop + 6;
  const std::string x0 = Px(kRight + 14), x1 = Px(kRight + 34);
  for (size_t i = 0; i < c.series.size(); ++i, y += kLegendRow) {
    s += LegendEntry(y,
                     "<line x1=\"" + x0 + "\" x2=\"" + x1 + "\" y1=\"" + Px(y) + "\" y2=\"" +
                         Px(y) + "\" stroke=\"" + Color(i) + "\" stroke-width=\"" +
                         (c.kind == ChartKind::kBars ? "8" : "2") + "\"" +
                         (c.series[i].dashed ? " stroke-dasharray=\"7 4\"" : "") + "/>",
                     c.series[i].name);
  }
  for (const Band& b : c.bands) {
    s += LegendEntry(y,
                     "<rect x=\"" + x0 + "\" y=\"" + Px(y - 6) + "\" width=\"20\" height=\"12\" " +
                         "fill=\"" + kBandColor + "\" fill-opacity=\"0.35\"/>",
                     b.label);
    y += kLegendRow;
  }
  for (const Marker& m : c.markers) {
    s += LegendEntry(y,
                     "<line x1=\"" + Px(kRight + 24) + "\" x2=\"" + Px(kRight + 24) + "\" y1=\"" +
                         Px(y - 7) + "\" y2=\"" + Px(y + 7) + "\" stroke=\"" + kMarkerColor +
                         "\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\"/>",
                     m.label);
    y += kLegendRow;
  }
  if (HasFlagged(c)) {
    s += LegendEntry(y,
                     "<circle cx=\"" + Px(kRight + 24) + "\" cy=\"" + Px(y) +
                         "\" r=\"5\" fill=\"#ffffff\" stroke=\"#000\" stroke-width=\"1.5\"/>",
                     c.flagged_label);
    y += kLegendRow;
  }
  for (const Level& l : c.levels) {
    s += LegendEntry(y,
                     "<line x1=\"" + x0 + "\" x2=\"" + x1 + "\" y1=\"" + Px(y) + "\" y2=\"" +
                         Px(y) + "\" stroke=\"" + kLevelColor + "\" stroke-dasharray=\"6 4\"/>",
                     l.label);
    y += kLegendRow;
  }
  return s + "</g>";
}

size_t LegendEntries(const Chart& c) {
  return c.series.size() + c.bands.size() + c.markers.size() + c.levels.size() + HasFlagged(c);
}

}  // namespace

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string Fixed(double value, int decimals) {
  if (!std::isfinite(value)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // "-0.00"
  return s;
}

size_t PointCount(const Chart& chart) {
  size_t n = 0;
  for (const Series& s : chart.series) n += s.points.size();
  return n;
}

std::string RenderChart(const Chart& c) {
  Range xr, yr;
  DataRanges(c, &xr, &yr);
  const Axis xa = NiceAxis(xr.lo, xr.hi, 8, /*extend=*/false, c.integer_x);
  const Axis ya = NiceAxis(yr.lo, yr.hi, 5, /*extend=*/true, /*integer=*/false);
  const double legend_bottom = kTop + 6 + kLegendRow * static_cast<double>(LegendEntries(c));
  Frame f{{xa.lo, xa.hi, kLeft, kRight},
          {ya.lo, ya.hi, kTop + kPlotHeight, kTop},
          std::max(kTop + kPlotHeight + kBottomMargin, legend_bottom + 8)};
  const size_t points = PointCount(c);
  std::string s = "<svg id=\"" + Escape(c.id) + "\" class=\"chart\" data-points=\"" +
                  std::to_string(points) + "\" data-series=\"" + std::to_string(c.series.size()) +
                  "\" width=\"" + Px(kWidth) + "\" height=\"" + Px(f.height) + "\" viewBox=\"0 0 " +
                  Px(kWidth) + " " + Px(f.height) + "\" role=\"img\"><title>" + Escape(c.title) +
                  "</title><text class=\"chart-title\" x=\"" + Px(kLeft) + "\" y=\"24\">" +
                  Escape(c.title) + "</text>";
  s += DecorationsSvg(c, f) + AxesSvg(c, xa, ya, f);
  s += c.kind == ChartKind::kBars ? BarsSvg(c, f) : LinesSvg(c, f);
  if (points == 0) {
    s += "<text class=\"no-data\" x=\"" + Px((kLeft + kRight) / 2) + "\" y=\"" +
         Px(kTop + kPlotHeight / 2) + "\" text-anchor=\"middle\">no data</text>";
  }
  return s + LegendSvg(c) + "</svg>";
}

}  // namespace fedge::shared::html
