#pragma once
// Charts for report.html as inline SVG text: no script, no external resource, so the page
// opens offline. Every point is an element of class "point" with a <title> (the browser's
// tooltip); the <svg> carries id, class "chart" and data-points (points drawn) so a test can
// check a chart without parsing its geometry.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedge::shared::html {

// `text` with & < > " ' replaced by entities: safe in element content and quoted attributes.
std::string Escape(std::string_view text);

// `value` with `decimals` digits after the point ("-" for NaN or infinity).
std::string Fixed(double value, int decimals);

struct Point {
  double x = 0;
  double y = 0;
  std::string tip;       // tooltip; the chart writes "series: x, y" when empty
  bool flagged = false;  // drawn as a ring (e.g. a drift alarm), class "point flagged"
};

struct Series {
  std::string name;  // legend entry and data-series attribute
  std::vector<Point> points;
  bool dashed = false;
};

// A shaded span of x (a retraining campaign).
struct Band {
  double x0 = 0;
  double x1 = 0;
  std::string label;
};

// A vertical line at x (a drift event's onset).
struct Marker {
  double x = 0;
  std::string label;
};

// A horizontal line at y (a threshold).
struct Level {
  double y = 0;
  std::string label;
};

enum class ChartKind { kLine, kBars };

struct Chart {
  std::string id;  // the <svg>'s id, e.g. "chart-accuracy"
  std::string title;
  std::string x_label;
  std::string y_label;
  ChartKind kind = ChartKind::kLine;
  std::vector<Series> series;
  std::vector<Band> bands;
  std::vector<Marker> markers;
  std::vector<Level> levels;
  std::optional<double> y_min, y_max;     // fixed y range; otherwise from the data
  bool integer_x = false;                 // x ticks on whole numbers only (rounds, versions)
  std::string flagged_label = "flagged";  // legend entry for flagged points, if any
};

// Number of points of all series.
size_t PointCount(const Chart& chart);

// The chart as one <svg> element (title, axes with tick labels, legend, series, bands, markers,
// levels). Strings from `chart` are escaped. A chart without points still renders its frame
// and says "no data". Bars: one group per distinct x, one bar per series.
std::string RenderChart(const Chart& chart);

}  // namespace fedge::shared::html
