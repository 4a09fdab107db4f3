#include "simulations/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string_view>

#include "shared/crypto/crypto.h"
#include "shared/observability/html_chart.h"
#include "simulations/report_html_parts.h"

namespace fedge::sim {

namespace html = shared::html;

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

using html::Escape;
using html::Fixed;
using namespace report_html;  // NOLINT: the accessors of report_html_parts.h

constexpr const char* kStyle = R"(
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;border-bottom:1px solid #ccc;
padding-bottom:4px;margin-top:32px}h3{font-size:15px;margin-top:20px}
.sub{color:#666;margin-top:0}nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#666;font-style:italic}
svg.chart{display:block;margin:12px 0;background:#fff;border:1px solid #e4e4e4}
svg.chart text{font-size:12px;fill:#333}svg.chart .chart-title{font-size:15px;font-weight:bold}
svg.chart .grid{stroke:#eee}svg.chart .axis-line,svg.chart .tick-mark{stroke:#888}
svg.chart .no-data{font-size:16px;fill:#999}svg.chart .marker text{font-size:11px;fill:#444}
)";

std::string Row(const std::string& key, const std::string& value, const std::string& id = "") {
  return "<tr><th>" + Escape(key) + "</th><td" + (id.empty() ? "" : " id=\"" + id + "\"") + ">" +
         Escape(value) + "</td></tr>";
}

std::string Head(const json& report) {
  const std::string name = Text(Sub(report, "scenario"), "name");
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\"><meta name=\"viewport\" content=\"width=device-width\">"
         "<title>fedge-sim report: " +
         Escape(name) + "</title><style>" + kStyle +
         "</style></head>\n<body>\n<h1>fedge-sim report: " + Escape(name) +
         "</h1><p class=\"sub\">scenario file " + Escape(Text(Sub(report, "scenario"), "file")) +
         "; written by fedge-sim beside report.json, which holds every figure shown here.</p>"
         "<nav><a href=\"#summary\">Summary</a><a href=\"#training\">Training</a>"
         "<a href=\"#drift\">Drift</a><a href=\"#releases\">Releases</a></nav>\n";
}

// "7 (5 planned, 2 run by drift campaigns)" and the like.
std::string RoundsText(size_t completed, double planned) {
  const size_t p = static_cast<size_t>(std::max(0.0, planned));
  if (completed == p) return std::to_string(completed);
  if (completed < p) return std::to_string(completed) + " of " + std::to_string(p) + " planned";
  return std::to_string(completed) + " (" + std::to_string(p) + " planned, " +
         std::to_string(completed - p) + " run by drift campaigns)";
}

std::string SummaryTable(const json& report) {
  const json& sc = Sub(report, "scenario");
  const json& fin = Sub(report, "final");
  const json& timing = Sub(report, "timing");
  const json& traffic = Sub(report, "traffic");
  std::string clients = Text(sc, "clients");
  if (Num(sc, "silent_clients").value_or(0) > 0)
    clients += " + " + Text(sc, "silent_clients") + " silent";
  std::string s = "<table id=\"summary-table\" class=\"kv\">";
  s += Row("Scenario", Text(sc, "name"), "scenario-name");
  s += Row("Clients", clients);
  s += Row("Rounds", RoundsText(Arr(report, "rounds").size(), Num(sc, "rounds").value_or(0)));
  s += Row("Data", Text(sc, "partition") + " partition (alpha " + Text(sc, "alpha") + ")" +
                       (Flag(sc, "camera") ? ", rendered camera frames" : ""));
  s += Row("Model", Text(sc, "arch") + ", update codec " + Text(sc, "codec"));
  s += Row("Final test accuracy", Fixed4(fin, "accuracy"), "final-accuracy");
  s += Row("Final macro-F1", Fixed4(fin, "macro_f1"));
  s += Row("Final test loss", Fixed4(fin, "loss"));
  s += Row("Final model version", Text(fin, "model_version"), "final-version");
  s += Row("Final model digest", Text(fin, "model_digest"));
  s += Row("Test examples", Text(fin, "test_examples"));
  s += Row("Traffic", Megabytes(Num(traffic, "bytes_up")) + " up, " +
                          Megabytes(Num(traffic, "bytes_down")) + " down");
  s += Row("Time", Fixed(Num(timing, "total_seconds").value_or(NAN), 1) + " s in all, " +
                       Fixed(Num(timing, "mean_round_seconds").value_or(NAN), 2) +
                       " s per round on average");
  s += Row("BLAS", Text(Sub(report, "runtime"), "blas"));
  return s + "</table>";
}

std::string PerClassTable(const json& fin) {
  const json& precision = Arr(fin, "precision");
  const json& recall = Arr(fin, "recall");
  const size_t n = std::max(precision.size(), recall.size());
  if (n == 0) return "<p class=\"empty\">No per-class figures in this report.</p>";
  std::string s = "<h3>Per class (final model, test set)</h3><table id=\"per-class\">" +
                  Header({"class", "name", "precision", "recall"});
  for (size_t k = 0; k < n; ++k) {
    s += "<tr class=\"class-row\">" + Cell(std::to_string(k), true) + Cell(ClassName(k, n)) +
         Cell(Fixed4At(precision, k), true) + Cell(Fixed4At(recall, k), true) + "</tr>";
  }
  return s + "</table>";
}

// Campaigns as shaded spans over their rounds that completed.
std::vector<html::Band> CampaignRoundBands(const json& report) {
  double completed = 0;
  for (const json& r : Arr(report, "rounds"))
    completed = std::max(completed, Num(r, "round").value_or(0));
  std::vector<html::Band> bands;
  for (const json& c : Arr(Sub(report, "drift"), "campaigns")) {
    const auto first = Num(c, "first_round");
    if (!first || *first > completed) continue;
    const double last = std::clamp(Num(c, "last_round").value_or(completed), *first, completed);
    bands.push_back({*first - 0.5, last + 0.5, CampaignLabel(c)});
  }
  return bands;
}

html::Chart RoundChart(const json& report, std::string id, std::string title, std::string y_label) {
  html::Chart c;
  c.id = std::move(id);
  c.title = std::move(title);
  c.x_label = "round";
  c.y_label = std::move(y_label);
  c.integer_x = true;
  c.bands = CampaignRoundBands(report);
  return c;
}

// One series of `key` per round, scaled by `scale`; rounds without the value are left out.
html::Series RoundSeries(const json& rounds, std::string name, const json::json_pointer& key,
                         double scale, int decimals) {
  html::Series s{std::move(name), {}, false};
  for (const json& r : rounds) {
    const auto round = Num(r, "round");
    if (!round || !r.contains(key) || !r.at(key).is_number()) continue;
    const double y = r.at(key).get<double>() * scale;
    s.points.push_back({*round, y,
                        "round " + Fixed(*round, 0) + " (version " + Text(r, "model_version") +
                            "): " + s.name + " " + Fixed(y, decimals)});
  }
  return s;
}

std::string TrainingSection(const json& report) {
  const json& rounds = Arr(report, "rounds");
  std::string s = "<section id=\"training\"><h2>Training rounds</h2>";
  if (rounds.empty()) return s + "<p class=\"empty\">No round completed.</p></section>";
  s += "<p>Every round's model evaluated on the test set by fedge-sim; shaded spans are drift "
       "retraining campaigns.</p>";
  html::Chart acc = RoundChart(report, "chart-accuracy", "Test accuracy per round", "accuracy");
  acc.y_max = 1;
  acc.series.push_back(RoundSeries(rounds, "test accuracy", json::json_pointer("/accuracy"), 1, 4));
  acc.series.push_back(RoundSeries(rounds, "macro-F1", json::json_pointer("/macro_f1"), 1, 4));
  html::Series fed = RoundSeries(rounds, "federated accuracy",
                                 json::json_pointer("/federated_eval/accuracy"), 1, 4);
  fed.dashed = true;
  if (!fed.points.empty()) acc.series.push_back(std::move(fed));
  // [adversary] paired: the same run with the attackers honest.
  html::Series without = RoundSeries(rounds, "test accuracy without attackers",
                                     json::json_pointer("/accuracy_without_attackers"), 1, 4);
  without.dashed = true;
  if (!without.points.empty()) acc.series.push_back(std::move(without));
  html::Chart loss = RoundChart(report, "chart-loss", "Loss per round", "cross-entropy");
  loss.series.push_back(RoundSeries(rounds, "test loss", json::json_pointer("/loss"), 1, 4));
  loss.series.push_back(
      RoundSeries(rounds, "train loss (clients)", json::json_pointer("/train_loss"), 1, 4));
  html::Chart bytes = RoundChart(report, "chart-bytes", "Bytes per round", "MB");
  bytes.kind = html::ChartKind::kBars;
  bytes.series.push_back(RoundSeries(rounds, "up (MB)", json::json_pointer("/bytes_up"), 1e-6, 2));
  bytes.series.push_back(
      RoundSeries(rounds, "down (MB)", json::json_pointer("/bytes_down"), 1e-6, 2));
  html::Chart secs = RoundChart(report, "chart-seconds", "Round duration", "seconds");
  secs.series.push_back(RoundSeries(rounds, "round seconds", json::json_pointer("/seconds"), 1, 2));
  for (const html::Chart* c : {&acc, &loss, &bytes, &secs}) s += html::RenderChart(*c);
  return s + "</section>";
}

// The defence's suspicion scores per site per round ([defence]), with the threshold, and who
// was quarantined; absent when no round was scored.
// "a, b" of the strings in `list` (a JSON array), "-" when empty.
std::string Names(const json& list) {
  std::string out;
  if (list.is_array()) {
    for (const json& x : list) {
      if (x.is_string()) out += (out.empty() ? "" : ", ") + x.get<std::string>();
    }
  }
  return out.empty() ? "-" : out;
}

// Per round: the sites the defence flagged and quarantined, the sites whose update was scaled
// down (adaptive norm bound, share cap) and multi_krum's choice; empty when no round has any.
std::string RoundDefenceTable(const json& rounds) {
  std::string rows;
  for (const json& r : rounds) {
    const json& d = Sub(r, "defence");
    const json& a = Sub(r, "aggregation");
    if (!d.is_object() && !a.is_object()) continue;
    std::string clipped = Names(Sub(a, "norm_clipped"));
    if (Arr(a, "capped").size() > 0) {
      clipped +=
          (clipped == "-" ? "" : "; ") + std::string("share cap: ") + Names(Sub(a, "capped"));
    }
    rows += "<tr class=\"round-defence\">" + Cell(Text(r, "round"), true) +
            Cell(Text(a, "method")) + Cell(Names(Sub(d, "flagged"))) +
            Cell(Names(Sub(d, "quarantined"))) + Cell(clipped) +
            Cell(a.contains("selected") ? Names(Sub(a, "selected")) : "-") + "</tr>";
  }
  if (rows.empty()) return "";
  return "<table id=\"round-defence\">" +
         Header({"round", "aggregation", "flagged", "quarantined", "scaled down",
                 "multi_krum chose"}) +
         rows + "</table>";
}

std::string DefenceSection(const json& report) {
  const json& d = Sub(report, "defence");
  const std::string per_round = RoundDefenceTable(Arr(report, "rounds"));
  if (!d.is_object() && per_round.empty()) return "";
  std::string s = "<section id=\"defence\"><h2>Robust aggregation and defence</h2>";
  if (!d.is_object()) return s + per_round + "</section>";
  html::Chart c =
      RoundChart(report, "chart-suspicion", "Suspicion score per site and round", "robust z-score");
  c.y_min = 0;
  const json& rounds = Arr(report, "rounds");
  if (!rounds.empty()) {
    if (auto t = Num(Sub(rounds.front(), "defence"), "threshold")) {
      c.levels.push_back({*t, "flag threshold"});
    }
  }
  const json& sites = Sub(d, "sites");
  std::string rows;
  if (sites.is_object()) {
    for (const auto& [id, site] : sites.items()) {
      const bool attacker = Flag(site, "attacker");
      html::Series series{id + (attacker ? " (attacker)" : ""), {}, attacker};
      std::set<double> flagged;
      for (const json& r : Arr(site, "flagged_rounds")) {
        if (r.is_number()) flagged.insert(r.get<double>());
      }
      for (const json& p : Arr(site, "scores")) {
        const auto round = Num(p, "round");
        const auto score = Num(p, "score");
        if (!round || !score) continue;
        series.points.push_back({*round, *score,
                                 id + ", round " + html::Fixed(*round, 0) + ": score " +
                                     html::Fixed(*score, 2) +
                                     (flagged.count(*round) ? " (flagged)" : ""),
                                 flagged.count(*round) > 0});
      }
      c.series.push_back(std::move(series));
      rows += "<tr class=\"defence-site\">" + Cell(id) + Cell(attacker ? "yes" : "no") +
              Cell(std::to_string(Arr(site, "flagged_rounds").size()), true) +
              Cell(Text(site, "quarantined_round"), true) + "</tr>";
    }
  }
  s += html::RenderChart(c);
  const json& f = Sub(d, "final");
  s += "<p id=\"defence-summary\">Quarantined " + Text(f, "quarantined") +
       " site(s): " + Text(f, "attackers_quarantined") + " attacker(s), " +
       Text(f, "honest_quarantined") + " honest; precision " + Fixed4(f, "precision") +
       ", recall " + Fixed4(f, "recall") + " (by round 10: precision " +
       Fixed4(Sub(d, "by_round_10"), "precision") + ", recall " +
       Fixed4(Sub(d, "by_round_10"), "recall") + ").</p>";
  s += "<table id=\"defence-sites\">" +
       Header({"site", "attacker", "rounds flagged", "quarantined in round"}) + rows + "</table>";
  return s + per_round + "</section>";
}

std::string ReleasesSection(const json& report) {
  std::string s = "<section id=\"releases\"><h2>Releases</h2>";
  const json& releases = Arr(report, "releases");
  if (releases.empty())
    return s + "<p id=\"no-releases\" class=\"empty\">No releases in this run.</p></section>";
  // The release pipeline's steps (fedge-sim [release]) with their key figures.
  const json& steps = Arr(Sub(report, "release"), "steps");
  if (!steps.empty()) {
    s += "<table id=\"release-steps\">" +
         Header({"step", "model", "arch", "validation accuracy", "artifact bytes", "detail"});
    for (const json& st : steps) {
      std::string detail = Text(st, "gate");
      if (detail == "-") detail = Text(st, "reason");
      if (detail == "-" && st.contains("cohort") && st["cohort"].is_array()) {
        detail = "cohort " + std::to_string(st["cohort"].size()) + " clients";
      }
      s += "<tr class=\"release-step\">" + Cell(Text(st, "step")) +
           Cell(Text(st, "version"), true) + Cell(Text(st, "arch")) +
           Cell(Fixed4(st, "validation_accuracy"), true) + Cell(Text(st, "artifact_bytes"), true) +
           Cell(detail) + "</tr>";
    }
    s += "</table>";
  }
  const json& b = Sub(Sub(report, "release"), "benchmark");
  if (Num(b, "size_ratio")) {
    char line[256];
    std::snprintf(line, sizeof(line),
                  "Release against the dense fp32 model: artifact %.1fx smaller, validation "
                  "accuracy %+.2f points.",
                  *Num(b, "size_ratio"), -Num(b, "accuracy_drop_points").value_or(0));
    s += "<p id=\"release-benchmark\">" + html::Escape(line) + "</p>";
  }
  s += "<table id=\"releases\">" +
       Header({"name", "version", "state", "arch", "canary %", "decision"});
  for (const json& r : releases) {
    const json& rs = Arr(r, "steps");
    const std::string decision = rs.empty() ? "-" : Text(rs.back(), "detail");
    s += "<tr class=\"release\">" + Cell(Text(r, "name")) + Cell(Text(r, "version"), true) +
         Cell(Text(r, "state")) + Cell(Text(r, "arch")) + Cell(Text(r, "canary_percent"), true) +
         Cell(decision) + "</tr>";
  }
  return s + "</table></section>";
}

}  // namespace

Result<std::string> RenderReportHtml(const json& report) {
  if (!report.is_object() || !Sub(report, "scenario").is_object()) {
    return Status::InvalidArgument("report.html: the report is not an object with a \"scenario\"");
  }
  try {
    std::string page = Head(report);
    page += "<section id=\"summary\"><h2>Summary</h2>" + SummaryTable(report) +
            PerClassTable(Sub(report, "final")) + "</section>\n";
    page += TrainingSection(report) + "\n";
    page += DriftSection(report) + "\n";
    page += DefenceSection(report) + "\n";
    page += ReleasesSection(report) + "\n";
    page +=
        "<footer><p class=\"sub\">fedge-sim report page: self-contained, no script, opens "
        "offline.</p></footer>\n</body></html>\n";
    return page;
  } catch (const json::exception& e) {  // a field of an unexpected type the accessors missed
    return Status::InvalidArgument(std::string("report.html: unexpected report content: ") +
                                   e.what());
  }
}

Status WriteReportHtml(const json& report, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::string page, RenderReportHtml(report));
  return shared::WriteFileAtomic(path, shared::AsBytes(page), 0644);
}

}  // namespace fedge::sim
