// The #drift section of report.html: drift scores per client over the live stream, events,
// retraining campaigns, stream accuracy and the paired clean/drifted evaluation.
#include <map>
#include <utility>

#include "shared/observability/html_chart.h"
#include "simulations/report_html_parts.h"

namespace fedge::sim::report_html {

namespace html = shared::html;

using html::Fixed;
using nlohmann::json;

namespace {

// Frames of the stream at the start and the end of the step each round ran in.
std::map<double, std::pair<double, double>> RoundFrames(const json& stream) {
  std::map<double, double> step_end;
  for (const json& s : Arr(stream, "steps")) {
    if (auto step = Num(s, "step"), frames = Num(s, "frames"); step && frames) {
      step_end[*step] = *frames;
    }
  }
  std::map<double, std::pair<double, double>> spans;
  for (const json& r : Arr(stream, "rounds_at_step")) {
    const auto step = Num(r, "step"), round = Num(r, "round");
    if (!step || !round || !step_end.count(*step)) continue;
    const auto prev = step_end.find(*step - 1);
    spans[*round] = {prev == step_end.end() ? 0.0 : prev->second, step_end[*step]};
  }
  return spans;
}

// Campaigns as shaded spans over the frames of the steps their rounds ran in.
std::vector<html::Band> CampaignFrameBands(const json& report) {
  const auto spans = RoundFrames(Sub(report, "stream"));
  std::vector<html::Band> bands;
  for (const json& c : Arr(Sub(report, "drift"), "campaigns")) {
    const double first = Num(c, "first_round").value_or(0);
    const double last = Num(c, "last_round").value_or(first);
    auto lo = spans.lower_bound(first), hi = spans.upper_bound(last);
    if (lo == hi) continue;  // none of its rounds ran during the stream
    bands.push_back({lo->second.first, std::prev(hi)->second.second, CampaignLabel(c)});
  }
  return bands;
}

std::vector<html::Marker> EventMarkers(const json& report) {
  std::vector<html::Marker> markers;
  for (const json& e : Arr(Sub(report, "stream"), "events")) {
    const auto at = Num(e, "at_frame");
    if (!at) continue;
    markers.push_back({*at, Text(e, "kind") + " on " + ClientsOfEvent(report, Sub(e, "clients")) +
                                " (" + Text(e, "mode") + ")"});
  }
  return markers;
}

html::Chart FrameChart(const json& report, std::string id, std::string title, std::string y_label) {
  html::Chart c;
  c.id = std::move(id);
  c.title = std::move(title);
  c.x_label = "frames of the live stream (per client)";
  c.y_label = std::move(y_label);
  c.integer_x = true;
  c.bands = CampaignFrameBands(report);
  c.markers = EventMarkers(report);
  return c;
}

html::Chart DriftChart(const json& report) {
  html::Chart c = FrameChart(report, "chart-drift", "Drift score per client", "drift score");
  c.flagged_label = "alarm window";
  const json& all = Sub(Sub(report, "stream"), "windows");
  if (!all.is_object()) return c;
  for (const auto& [id, windows] : all.items()) {
    html::Series s{id, {}, false};
    for (const json& w : windows) {
      const auto frame = Num(w, "frame"), score = Num(w, "score");
      if (!frame || !score) continue;
      s.points.push_back({*frame, *score,
                          id + ", frame " + Fixed(*frame, 0) + " (step " + Text(w, "step") +
                              "): score " + Fixed(*score, 3) + ", top feature " +
                              Text(w, "feature") + (Flag(w, "alarm") ? ", alarm" : "") +
                              (Flag(w, "drifted") ? ", drifted" : ""),
                          Flag(w, "alarm")});
    }
    c.series.push_back(std::move(s));
  }
  if (auto t = Num(Sub(Sub(report, "drift"), "settings"), "score_threshold")) {
    c.levels.push_back({*t, "threshold " + Fixed(*t, 2)});
  }
  return c;
}

html::Chart StreamAccuracyChart(const json& report) {
  const json& stream = Sub(report, "stream");
  html::Chart c = FrameChart(report, "chart-stream-accuracy",
                             "Accuracy on the live stream per step", "accuracy");
  c.y_min = 0;
  c.y_max = 1;
  const json& steps = Arr(stream, "steps");
  const json& all = Sub(stream, "stream_accuracy");
  if (!all.is_object()) return c;
  for (const auto& [id, acc] : all.items()) {
    if (!acc.is_array()) continue;
    html::Series s{id, {}, false};
    for (size_t k = 0; k < acc.size() && k < steps.size(); ++k) {
      const auto frames = Num(steps[k], "frames");
      if (!frames || !acc[k].is_number()) continue;
      const double a = acc[k].get<double>();
      s.points.push_back(
          {*frames, a, id + ", step " + std::to_string(k) + ": accuracy " + Fixed(a, 4), false});
    }
    c.series.push_back(std::move(s));
  }
  return c;
}

html::Chart PairedChart(const json& report) {
  const json& paired = Sub(Sub(report, "stream"), "paired");
  html::Chart c;
  c.id = "chart-paired";
  c.title = "Paired evaluation of every model version";
  c.x_label = "model version";
  c.y_label = "accuracy";
  c.integer_x = true;
  c.y_max = 1;
  html::Series drifted{"drifted: drifted frames", {}, false};
  html::Series untouched{"untouched: clean frames", {}, true};
  for (const json& v : Arr(paired, "by_version")) {
    const auto version = Num(v, "version");
    if (!version) continue;
    for (auto [series, key] : {std::pair{&drifted, "drifted_clients_on_drifted_frames"},
                               std::pair{&untouched, "untouched_clients"}}) {
      if (auto a = Num(v, key)) {
        series->points.push_back(
            {*version, *a,
             "version " + Fixed(*version, 0) + ": " + series->name + " " + Fixed(*a, 4), false});
      }
    }
  }
  for (html::Series* s : {&drifted, &untouched}) {
    if (!s->points.empty()) c.series.push_back(std::move(*s));
  }
  if (auto pre = Num(Sub(paired, "summary"), "pre_drift_version")) {
    c.markers.push_back({*pre, "serving when drift began (version " + Fixed(*pre, 0) + ")"});
  }
  return c;
}

std::string EventsTable(const json& report) {
  const json& events = Arr(Sub(report, "stream"), "events");
  if (events.empty()) return "<p class=\"empty\">No drift events in the scenario.</p>";
  std::string s = "<table id=\"drift-events\">" +
                  Header({"kind", "clients", "onset frame", "mode", "ramp frames", "severity"});
  for (const json& e : events) {
    s += "<tr class=\"event\">" + Cell(Text(e, "kind")) +
         Cell(ClientsOfEvent(report, Sub(e, "clients"))) + Cell(Text(e, "at_frame"), true) +
         Cell(Text(e, "mode")) + Cell(Text(e, "ramp_frames"), true) +
         Cell(Text(e, "severity"), true) + "</tr>";
  }
  return s + "</table>";
}

std::string Compact(const json& object) {
  if (!object.is_object() || object.empty()) return "-";
  std::string s;
  for (const auto& [k, v] : object.items()) {
    s +=
        (s.empty() ? "" : "; ") + k + " " + (v.is_primitive() ? Text(object, k.c_str()) : v.dump());
  }
  return s;
}

std::string CampaignsTable(const json& report) {
  const json& campaigns = Arr(Sub(report, "drift"), "campaigns");
  if (campaigns.empty()) return "<p class=\"empty\">No retraining campaign was started.</p>";
  std::string s = "<table id=\"campaigns\">" +
                  Header({"id", "state", "rounds", "trigger version", "clients", "outcome"});
  for (const json& c : campaigns) {
    std::string members;
    for (const json& m : Arr(c, "clients")) {
      members += (members.empty() ? "" : ", ") + Text(m, "client");
    }
    s += "<tr class=\"campaign\">" + Cell(Text(c, "id"), true) + Cell(Text(c, "state")) +
         Cell(Text(c, "first_round") + "-" + Text(c, "last_round")) +
         Cell(Text(c, "trigger_version"), true) + Cell(members) + Cell(Compact(Sub(c, "outcome"))) +
         "</tr>";
  }
  return s + "</table>";
}

std::string ClientsTable(const json& report) {
  const json& clients = Arr(Sub(report, "drift"), "clients");
  if (clients.empty()) return "";
  std::string s = "<h3>Drift state per client at the end</h3><table id=\"drift-clients\">" +
                  Header({"client", "reports", "alarms", "last score", "top feature", "drifted"});
  for (const json& c : clients) {
    s += "<tr>" + Cell(Text(c, "client")) + Cell(Text(c, "reports"), true) +
         Cell(Text(c, "alarms"), true) + Cell(Fixed4(c, "score"), true) +
         Cell(Text(c, "top_feature")) + Cell(Text(c, "drifted")) + "</tr>";
  }
  return s + "</table>";
}

std::string PairedSummaryTable(const json& report) {
  const json& summary = Sub(Sub(Sub(report, "stream"), "paired"), "summary");
  const json& d = Sub(summary, "drifted_clients");
  const json& u = Sub(summary, "untouched_clients");
  if (!d.is_object() && !u.is_object()) return "";
  std::string s =
      "<table id=\"paired-summary\">" + Header({"clients", "how many", "pre-drift accuracy",
                                                "after drift, before "
                                                "retraining",
                                                "final", "points from pre-drift"});
  if (d.is_object()) {
    s += "<tr>" + Cell("drifted (on drifted frames)") + Cell(Text(d, "clients"), true) +
         Cell(Fixed4(d, "pre_drift_accuracy"), true) +
         Cell(Fixed4(d, "accuracy_after_drift_before_retraining"), true) +
         Cell(Fixed4(d, "final_accuracy_on_drifted_frames"), true) +
         Cell(Fixed(Num(d, "points_from_pre_drift").value_or(NAN), 2), true) + "</tr>";
  }
  if (u.is_object()) {
    s += "<tr>" + Cell("untouched (clean frames)") + Cell(Text(u, "clients"), true) +
         Cell(Fixed4(u, "pre_drift_accuracy"), true) + Cell("-", true) +
         Cell(Fixed4(u, "final_accuracy"), true) +
         Cell(Fixed(Num(u, "points_from_pre_drift").value_or(NAN), 2), true) + "</tr>";
  }
  return s + "</table>";
}

}  // namespace

std::string DriftSection(const json& report) {
  const json& stream = Sub(report, "stream");
  const json& drift = Sub(report, "drift");
  std::string s = "<section id=\"drift\"><h2>Drift</h2>";
  if (!stream.is_object() && Arr(drift, "clients").empty() && Arr(drift, "campaigns").empty()) {
    return s +
           "<p id=\"no-drift\" class=\"empty\">No drift data in this run: the scenario has no "
           "live stream and no client reported drift.</p></section>";
  }
  if (stream.is_object()) {
    s += "<p>Dashed vertical lines are drift events (onsets), shaded spans retraining "
         "campaigns, ringed points windows whose monitor raised an alarm.</p>";
    s += html::RenderChart(DriftChart(report));
    s += html::RenderChart(StreamAccuracyChart(report));
  } else {
    s += "<p id=\"no-stream\" class=\"empty\">This run has no live stream: no drift scores "
         "over time.</p>";
  }
  s += "<h3>Events</h3>" + EventsTable(report);
  s += "<h3>Retraining campaigns</h3>" + CampaignsTable(report);
  s += ClientsTable(report);
  if (!Arr(Sub(stream, "paired"), "by_version").empty()) {
    s += "<h3>Paired evaluation</h3><p>Every version on each site's held-out items, rendered "
         "clean and under the stream's final conditions.</p>" +
         PairedSummaryTable(report) + html::RenderChart(PairedChart(report));
  }
  return s + "</section>";
}

}  // namespace fedge::sim::report_html
