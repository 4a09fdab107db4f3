// RenderStatusPage: the status JSON as one self-contained HTML page (see status_page.h).
#include <cmath>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/status_page.h"
#include "shared/observability/html_chart.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;
namespace html = shared::html;

// Tolerant accessors: a missing key or a value of another type reads as absent.
const json& Sub(const json& j, const char* key) {
  static const json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

const json& Arr(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json& v = Sub(j, key);
  return v.is_array() ? v : kEmpty;
}

std::optional<double> Num(const json& j, const char* key) {
  const json& v = Sub(j, key);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

bool Flag(const json& j, const char* key) { return Sub(j, key).is_boolean() && Sub(j, key); }

// Strings as they are, integers in full, other numbers with 4 decimals; "-" when absent.
std::string Text(const json& j, const char* key) {
  const json& v = Sub(j, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return html::Fixed(v.get<double>(), 4);
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return "-";
}

std::string Decimals(std::optional<double> v, int decimals) {
  return v ? html::Fixed(*v, decimals) : "-";
}

// "2026-11-26 23:40:57 UTC", or "-" for an absent or zero time.
std::string Time(std::optional<double> ms) {
  if (!ms || *ms <= 0 || !std::isfinite(*ms)) return "-";
  const std::time_t t = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// "12 s ago", "5 min ago", "3 h ago", "2 d ago" relative to `now_ms`.
std::string Ago(std::optional<double> ms, std::optional<double> now_ms) {
  if (!ms || *ms <= 0 || !now_ms) return "";
  const double s = std::max(0.0, (*now_ms - *ms) / 1000);
  if (s < 120) return std::to_string(static_cast<int64_t>(s)) + " s ago";
  if (s < 7200) return std::to_string(static_cast<int64_t>(s / 60)) + " min ago";
  if (s < 172800) return std::to_string(static_cast<int64_t>(s / 3600)) + " h ago";
  return std::to_string(static_cast<int64_t>(s / 86400)) + " d ago";
}

std::string Cell(const std::string& text, bool numeric = false) {
  return std::string(numeric ? "<td class=\"num\">" : "<td>") + html::Escape(text) + "</td>";
}

std::string Header(const std::vector<std::string>& names) {
  std::string s = "<tr>";
  for (const std::string& n : names) s += "<th>" + html::Escape(n) + "</th>";
  return s + "</tr>";
}

std::string Row(const std::string& name, const std::string& value, const std::string& id = "") {
  return "<tr><th>" + html::Escape(name) + "</th><td" +
         (id.empty() ? "" : " id=\"" + html::Escape(id) + "\"") + ">" + html::Escape(value) +
         "</td></tr>";
}

std::string Empty(const std::string& id, const std::string& text) {
  return "<p id=\"" + id + "\" class=\"empty\">" + html::Escape(text) + "</p>";
}

std::string OpenRound(const json& open) {
  if (!open.is_object()) return "none";
  return "round " + Text(open, "round") + " (" + Text(open, "phase") + ", " +
         Text(open, "accepted") + " of " + Text(open, "sampled") + " sampled answered)";
}

std::string Summary(const json& status) {
  const json& c = Sub(status, "coordinator");
  std::string s =
      "<section id=\"summary\"><h2>Coordinator</h2><table id=\"summary-table\" "
      "class=\"kv\">";
  s += Row("Model version", Text(c, "model_version"), "model-version");
  s += Row("Model trained in round", Text(c, "model_round"), "model-round");
  s += Row("Architecture", Text(c, "model_arch"));
  s += Row("Rounds planned", Text(c, "target_round") + (Flag(c, "finished") ? " (done)" : ""));
  s += Row("Open round", OpenRound(Sub(c, "open_round")), "open-round");
  s += Row("Connected clients", Text(c, "connected_clients"), "connected-clients");
  s += Row("Registered clients", Text(c, "registered_clients"), "registered-clients");
  s += Row("Page generated", Time(Num(status, "generated_ms")));
  return s + "</table></section>\n";
}

std::string Clients(const json& status) {
  std::string s = "<section id=\"clients\"><h2>Clients</h2>";
  const json& clients = Arr(status, "clients");
  if (clients.empty())
    return s + Empty("no-clients", "No client has connected yet.") + "</section>\n";
  const std::optional<double> now = Num(status, "generated_ms");
  s += "<table id=\"clients\">" + Header({"Client", "Connected", "Last seen", "Drift score",
                                          "Drifted", "Streak", "Top feature", "Updates"});
  for (const json& c : clients) {
    const json& d = Sub(c, "drift");
    const bool drifted = Flag(d, "drifted");
    const bool revoked = Flag(c, "revoked");
    const bool quarantined = Flag(c, "quarantined");
    s += "<tr class=\"client" + std::string(drifted ? " drifted" : "") +
         (revoked ? " revoked" : "") + (quarantined ? " quarantined" : "") + "\" data-client=\"" +
         html::Escape(Text(c, "id")) + "\">";
    s += Cell(Text(c, "id"));
    s += Cell(revoked                ? "revoked"
              : quarantined          ? "quarantined"
              : Flag(c, "connected") ? "yes"
                                     : "no");
    const std::string ago = Ago(Num(c, "last_seen_ms"), now);
    s += Cell(Time(Num(c, "last_seen_ms")) + (ago.empty() ? "" : " (" + ago + ")"));
    s += Cell(Decimals(Num(d, "score"), 3), true);
    s += Cell(d.is_object() ? (drifted ? "yes" : "no") : "-");
    s += Cell(Text(d, "streak"), true);
    s += Cell(Text(d, "top_feature"));
    s += Cell(Text(c, "updates_accepted"), true);
    s += "</tr>";
  }
  return s + "</table></section>\n";
}

std::string Rounds(const json& status) {
  std::string s = "<section id=\"rounds\"><h2>Recent rounds</h2>";
  const json& rounds = Arr(status, "rounds");
  if (rounds.empty()) return s + Empty("no-rounds", "No round has completed yet.") + "</section>\n";
  s += "<table id=\"rounds\">" + Header({"Round", "Model version", "Accuracy", "Loss", "Train loss",
                                         "Updates", "Duration (s)", "Ended"});
  for (const json& r : rounds) {
    s += "<tr class=\"round\">";
    s += Cell(Text(r, "round"), true);
    s += Cell(Text(r, "model_version"), true);
    s += Cell(Decimals(Num(r, "accuracy"), 4), true);
    s += Cell(Decimals(Num(r, "loss"), 4), true);
    s += Cell(Decimals(Num(r, "train_loss"), 4), true);
    s += Cell(Text(r, "updates") + " of " + Text(r, "sampled"), true);
    s += Cell(Decimals(Num(r, "seconds"), 1), true);
    s += Cell(Time(Num(r, "ended_ms")));
    s += "</tr>";
  }
  return s + "</table></section>\n";
}

std::string Models(const json& status) {
  html::Chart c;
  c.id = "chart-model-accuracy";
  c.title = "Federated accuracy per model version";
  c.x_label = "model version";
  c.y_label = "accuracy";
  c.integer_x = true;
  c.y_min = 0;
  c.y_max = 1;
  c.flagged_label = "head";
  html::Series s{"federated accuracy", {}, false};
  for (const json& m : Arr(status, "models")) {
    const std::optional<double> version = Num(m, "version");
    const std::optional<double> accuracy = Num(m, "accuracy");
    if (!version || !accuracy) continue;
    s.points.push_back({*version, *accuracy,
                        "version " + Text(m, "version") + " (round " + Text(m, "round") +
                            "): " + html::Fixed(*accuracy, 4),
                        Flag(m, "head")});
  }
  c.series.push_back(std::move(s));
  return "<section id=\"models\"><h2>Model versions</h2>" + html::RenderChart(c) + "</section>\n";
}

std::string Campaigns(const json& status) {
  std::string s = "<section id=\"drift\"><h2>Drift campaigns</h2>";
  const json& campaigns = Arr(status, "campaigns");
  if (campaigns.empty()) {
    return s + Empty("no-campaigns", "No drift-triggered retraining campaign so far.") +
           "</section>\n";
  }
  s += "<table id=\"campaigns\">" + Header({"Campaign", "State", "Rounds", "Triggered", "Clients",
                                            "Accuracy before", "Accuracy after"});
  for (const json& c : campaigns) {
    std::string members;
    for (const json& m : Arr(c, "clients")) {
      members += (members.empty() ? "" : ", ") + Text(m, "client");
    }
    const json& outcome = Sub(c, "outcome");
    s += "<tr class=\"campaign\">";
    s += Cell(Text(c, "id"), true);
    s += Cell(Text(c, "state"));
    s += Cell(Text(c, "first_round") + "-" + Text(c, "last_round"));
    s += Cell(Time(Num(c, "triggered_ms")));
    s += Cell(members.empty() ? "-" : members);
    s += Cell(Decimals(Num(outcome, "accuracy_before"), 4), true);
    s += Cell(Decimals(Num(outcome, "accuracy_after"), 4), true);
    s += "</tr>";
  }
  return s + "</table></section>\n";
}

std::string Releases(const json& status) {
  std::string s = "<section id=\"releases\"><h2>Releases and rollouts</h2>";
  const json& releases = Arr(status, "releases");
  if (releases.empty()) return s + Empty("no-releases", "No releases yet.") + "</section>\n";
  s += "<table id=\"releases\">" + Header({"Release", "Model version", "Stage", "State", "Cohort",
                                           "Installed", "Failed", "Updated"});
  for (const json& r : releases) {
    s += "<tr class=\"release\" data-release=\"" + html::Escape(Text(r, "version")) + "\">";
    s += Cell(Text(r, "version"));
    s += Cell(Text(r, "model_version"), true);
    s += Cell(Text(r, "stage"));
    s += Cell(Text(r, "state"));
    s += Cell(Text(r, "cohort"));
    s += Cell(Text(r, "installed"), true);
    s += Cell(Text(r, "failed"), true);
    s += Cell(Time(Num(r, "updated_ms")));
    s += "</tr>";
  }
  return s + "</table></section>\n";
}

constexpr const char* kStyle = R"(<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin:1.4em 0 .4em}
nav a{margin-right:1em}table{border-collapse:collapse;margin:.3em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}table.kv th{width:14em}
tr.drifted td{background:#fff3e0}tr.revoked td{color:#999}tr.quarantined td{background:#fde7e7}p.empty{color:#666;font-style:italic}
svg.chart{max-width:100%;height:auto}
</style>)";

}  // namespace

std::string RenderStatusPage(const json& status) {
  const json& c = Sub(status, "coordinator");
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"10\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>fedge coordinator: model version " +
      html::Escape(Text(c, "model_version")) + "</title>" + kStyle + "</head><body>\n";
  s += "<h1>fedge coordinator</h1><nav><a href=\"#clients\">Clients</a><a href=\"#rounds\">"
       "Rounds</a><a href=\"#models\">Models</a><a href=\"#drift\">Drift</a><a "
       "href=\"#releases\">Releases</a><a href=\"status.json\">JSON</a></nav>\n";
  s += Summary(status) + Clients(status) + Rounds(status) + Models(status) + Campaigns(status) +
       Releases(status);
  return s + "</body></html>\n";
}

}  // namespace fedge::coordinator
