#include "simulations/report_html.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "shared/observability/html_chart.h"
#include "tests/temp_dir.h"

namespace fedge::sim {

namespace html = shared::html;
namespace {

using nlohmann::json;

// A report shaped like RunScenario's, with `rounds` rounds and no drift.
json TrainingReport(int rounds) {
  json r = {{"scenario",
             {{"name", "unit"},
              {"file", "unit.toml"},
              {"clients", 3},
              {"rounds", rounds},
              {"partition", "iid"},
              {"alpha", 0.5},
              {"arch", "cnn_small"},
              {"codec", "fp32"},
              {"silent_clients", 0},
              {"camera", false}}},
            {"rounds", json::array()},
            {"final",
             {{"accuracy", 0.81234},
              {"loss", 0.52},
              {"macro_f1", 0.8},
              {"precision", {0.9, 0.8, 0.7}},
              {"recall", {0.6, 0.5, 0.4}},
              {"model_version", std::to_string(rounds)},
              {"model_digest", "ab12"},
              {"test_examples", 10000}}},
            {"timing", {{"total_seconds", 12.5}, {"mean_round_seconds", 3.1}}},
            {"traffic", {{"bytes_up", 3000000}, {"bytes_down", 6000000}}},
            {"runtime", {{"blas", "libopenblas"}}},
            {"drift", {{"clients", json::array()}, {"campaigns", json::array()}}}};
  for (int i = 1; i <= rounds; ++i) {
    r["rounds"].push_back({{"round", i},
                           {"model_version", i},
                           {"accuracy", 0.5 + 0.1 * i},
                           {"loss", 1.0 / i},
                           {"macro_f1", 0.4 + 0.1 * i},
                           {"train_loss", 1.2 / i},
                           {"federated_eval", {{"accuracy", 0.45 + 0.1 * i}}},
                           {"bytes_up", 1000000 * i},
                           {"bytes_down", 2000000},
                           {"seconds", 3.0}});
  }
  return r;
}

// Adds a live stream with two clients (4 steps of 100 frames, windows of 100 frames), a dusk
// event on client 0 at frame 150 and a campaign whose round 4 ran in step 2.
json DriftReport() {
  json r = TrainingReport(4);
  r["scenario"]["rounds"] = 3;  // the fourth round is the campaign's
  json windows = json::object(), accuracy = json::object(), steps = json::array();
  for (const std::string id : {"site-1", "site-2"}) {
    for (int step = 0; step < 4; ++step) {
      const bool alarm = id == "site-1" && step >= 2;
      windows[id].push_back({{"step", step},
                             {"frame", 100 * (step + 1)},
                             {"score", alarm ? 0.6 : 0.1},
                             {"feature", "brightness"},
                             {"alarm", alarm},
                             {"drifted", alarm}});
      accuracy[id].push_back(alarm ? 0.5 : 0.8);
    }
  }
  for (int step = 0; step < 4; ++step)
    steps.push_back({{"step", step}, {"frames", 100 * (step + 1)}});
  r["stream"] = {
      {"steps", steps},
      {"windows", windows},
      {"stream_accuracy", accuracy},
      {"events",
       {{{"kind", "dusk"},
         {"clients", {0}},
         {"at_frame", 150},
         {"mode", "abrupt"},
         {"ramp_frames", 0},
         {"severity", 0.8}}}},
      {"rounds_at_step", {{{"step", 2}, {"round", 4}}}},
      {"paired",
       {{"by_version",
         {{{"version", 3}, {"drifted_clients_on_drifted_frames", 0.5}, {"untouched_clients", 0.8}},
          {{"version", 4},
           {"drifted_clients_on_drifted_frames", 0.7},
           {"untouched_clients", 0.8}}}},
        {"summary",
         {{"pre_drift_version", 3},
          {"drifted_clients",
           {{"clients", 1},
            {"pre_drift_accuracy", 0.8},
            {"accuracy_after_drift_before_retraining", 0.5},
            {"final_accuracy_on_drifted_frames", 0.7},
            {"points_from_pre_drift", -10.0}}}}}}}};
  r["drift"]["settings"] = {{"score_threshold", 0.25}};
  r["drift"]["clients"] = {{{"client", "site-1"},
                            {"reports", 4},
                            {"alarms", 2},
                            {"score", 0.6},
                            {"top_feature", "brightness"},
                            {"drifted", true}}};
  r["drift"]["campaigns"] = {{{"id", 1},
                              {"state", "done"},
                              {"first_round", 4},
                              {"last_round", 4},
                              {"trigger_version", 3},
                              {"clients", {{{"client", "site-1"}}}},
                              {"outcome", {{"version_after", 4}}}}};
  return r;
}

std::string Render(const json& report) {
  auto page = RenderReportHtml(report);
  EXPECT_TRUE(page.ok()) << page.status().ToString();
  return page.ok() ? *page : std::string();
}

// The opening tag of the element with id `id`, or "" if there is none.
std::string OpeningTag(const std::string& page, const std::string& id) {
  const size_t at = page.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t open = page.rfind('<', at);
  return page.substr(open, page.find('>', at) - open + 1);
}

// The whole <svg> element with id `id`.
std::string Svg(const std::string& page, const std::string& id) {
  const size_t at = page.find("<svg id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  return page.substr(at, page.find("</svg>", at) + 6 - at);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportHtmlTest, TrainingChartsHaveOnePointPerRoundAndSeries) {
  const std::string page = Render(TrainingReport(5));
  // accuracy: test accuracy, macro-F1, federated accuracy; loss: test and train; bytes: up
  // and down; seconds: one series.
  EXPECT_NE(OpeningTag(page, "chart-accuracy").find("data-points=\"15\""), std::string::npos)
      << OpeningTag(page, "chart-accuracy");
  EXPECT_EQ(Count(Svg(page, "chart-accuracy"), "class=\"point\""), 15u);
  EXPECT_EQ(Count(Svg(page, "chart-loss"), "class=\"point\""), 10u);
  EXPECT_EQ(Count(Svg(page, "chart-bytes"), "<rect class=\"point\""), 10u);
  EXPECT_EQ(Count(Svg(page, "chart-seconds"), "class=\"point\""), 5u);
  EXPECT_NE(Svg(page, "chart-bytes").find("round 3 (version 3): up (MB) 3.00"), std::string::npos);
  // Axes have tick labels and the legend names the series.
  EXPECT_GE(Count(Svg(page, "chart-accuracy"), "class=\"tick\""), 4u);
  EXPECT_NE(Svg(page, "chart-loss").find(">train loss (clients)</text>"), std::string::npos);
}

TEST(ReportHtmlTest, SummaryShowsFinalFiguresAndPerClassTable) {
  const std::string page = Render(TrainingReport(2));
  EXPECT_NE(page.find("<td id=\"final-accuracy\">0.8123</td>"), std::string::npos);
  EXPECT_NE(page.find("<td id=\"final-version\">2</td>"), std::string::npos);
  const size_t table = page.find("<table id=\"per-class\">");
  ASSERT_NE(table, std::string::npos);
  const std::string per_class = page.substr(table, page.find("</table>", table) - table);
  EXPECT_EQ(Count(per_class, "<tr class=\"class-row\">"), 3u);
  EXPECT_NE(per_class.find("0.9000</td><td class=\"num\">0.6000"), std::string::npos);
}

TEST(ReportHtmlTest, EscapesEveryStringFromTheReport) {
  json r = DriftReport();
  r["scenario"]["name"] = "<script>alert('x')</script>";
  r["drift"]["clients"][0]["client"] = "a\"b&c";
  r["stream"]["windows"]["<img src=x>"] = r["stream"]["windows"]["site-2"];
  const std::string page = Render(r);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("a&quot;b&amp;c"), std::string::npos);
  EXPECT_NE(page.find("data-series=\"&lt;img src=x&gt;\""), std::string::npos);
}

TEST(ReportHtmlTest, LoadsNothingFromOutside) {
  const std::string page = Render(DriftReport());
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_FALSE(std::regex_search(page, std::regex(R"(\b(src|srcset|data|action)\s*=)")));
  // Every href is a link inside the page.
  const std::regex href(R"re(href="([^"]*)")re");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), href); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[1].str().substr(0, 1), "#") << (*it)[0];
  }
  EXPECT_NE(page.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
}

TEST(ReportHtmlTest, DriftChartHasAPointPerWindowThresholdEventAndCampaign) {
  const std::string page = Render(DriftReport());
  EXPECT_EQ(page.find("id=\"no-drift\""), std::string::npos);
  const std::string drift = Svg(page, "chart-drift");
  ASSERT_FALSE(drift.empty());
  EXPECT_NE(OpeningTag(page, "chart-drift").find("data-points=\"8\""), std::string::npos);
  EXPECT_EQ(Count(drift, "<circle class=\"point\""), 6u);
  EXPECT_EQ(Count(drift, "<circle class=\"point flagged\""), 2u);  // site-1's alarms
  EXPECT_NE(drift.find("site-1, frame 300 (step 2): score 0.600, top feature brightness, alarm"),
            std::string::npos);
  EXPECT_EQ(Count(drift, "<line class=\"level\""), 1u);
  EXPECT_NE(drift.find("threshold 0.25"), std::string::npos);
  EXPECT_EQ(Count(drift, "<g class=\"marker\">"), 1u);
  EXPECT_NE(drift.find("dusk on site-1 (abrupt)"), std::string::npos);
  // The campaign's round 4 ran in step 2: frames 200 to 300.
  EXPECT_EQ(Count(drift, "<rect class=\"band\""), 1u);
  EXPECT_NE(drift.find("campaign 1, rounds 4-4 (done): site-1"), std::string::npos);
  EXPECT_NE(OpeningTag(page, "chart-stream-accuracy").find("data-points=\"8\""), std::string::npos);
  EXPECT_NE(OpeningTag(page, "chart-paired").find("data-points=\"4\""), std::string::npos);
  EXPECT_EQ(Count(page, "<tr class=\"event\">"), 1u);
  EXPECT_EQ(Count(page, "<tr class=\"campaign\">"), 1u);
  EXPECT_NE(page.find("id=\"paired-summary\""), std::string::npos);
  // Round charts shade the campaign's round too.
  EXPECT_EQ(Count(Svg(page, "chart-accuracy"), "<rect class=\"band\""), 1u);
  // Bars of rounds 1-4 and the campaign's span (3.5 to 4.5): no tick for a round 5.
  const std::string bytes = Svg(page, "chart-bytes");
  EXPECT_NE(bytes.find("text-anchor=\"middle\">4</text>"), std::string::npos);
  EXPECT_EQ(bytes.find("text-anchor=\"middle\">5</text>"), std::string::npos);
  EXPECT_NE(page.find("<td>4 (3 planned, 1 run by drift campaigns)</td>"), std::string::npos);
}

TEST(ReportHtmlTest, ReportWithoutDriftOrStreamSaysSo) {
  json r = TrainingReport(3);
  std::string page = Render(r);
  EXPECT_NE(page.find("<p id=\"no-drift\""), std::string::npos);
  EXPECT_EQ(page.find("chart-drift"), std::string::npos);
  EXPECT_EQ(page.find("chart-stream-accuracy"), std::string::npos);
  r.erase("drift");
  r.erase("traffic");
  page = Render(r);
  EXPECT_NE(page.find("<p id=\"no-drift\""), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-accuracy\""), std::string::npos);
}

TEST(ReportHtmlTest, ReleasesAreListedWhenTheReportHasThem) {
  json r = TrainingReport(2);
  EXPECT_NE(Render(r).find("<p id=\"no-releases\" class=\"empty\">No releases in this run.</p>"),
            std::string::npos);
  r["releases"] = {{{"name", "canary <1>"}, {"version", 7}, {"state", "promoted"}},
                   {{"name", "r2"}, {"version", 8}, {"state", "rolled_back"}}};
  const std::string page = Render(r);
  EXPECT_EQ(page.find("id=\"no-releases\""), std::string::npos);
  EXPECT_EQ(Count(page, "<tr class=\"release\">"), 2u);
  EXPECT_NE(page.find("<td>canary &lt;1&gt;</td><td class=\"num\">7</td><td>promoted</td>"),
            std::string::npos);
  EXPECT_EQ(page.find("id=\"release-steps\""), std::string::npos);  // no pipeline steps given

  // fedge-sim's release phase: each step with its figures, the benchmark line, each rollout's
  // architecture, canary share and the coordinator's last decision.
  r["releases"][1]["arch"] = "cnn_small/c1=16,c2=32,f1=64";
  r["releases"][1]["canary_percent"] = 30;
  r["releases"][1]["steps"] = {{{"action", "deployed"}, {"detail", "canary: 3 of 10"}},
                               {{"action", "rolled_back"}, {"detail", "accuracy regression <x>"}}};
  r["release"]["steps"] = {
      {{"step", "prune"},
       {"version", 13},
       {"arch", "cnn_small/c1=16"},
       {"validation_accuracy", 0.5}},
      {{"step", "release signed"}, {"artifact_bytes", 61234}, {"gate", "accuracy gate passed"}}};
  r["release"]["benchmark"] = {{"size_ratio", 14.8}, {"accuracy_drop_points", 0.57}};
  const std::string full = Render(r);
  EXPECT_EQ(Count(full, "<tr class=\"release-step\">"), 2u);
  EXPECT_NE(full.find("<td>prune</td><td class=\"num\">13</td><td>cnn_small/c1=16</td><td "
                      "class=\"num\">0.5000</td>"),
            std::string::npos);
  EXPECT_NE(full.find("<td class=\"num\">61234</td><td>accuracy gate passed</td>"),
            std::string::npos);
  EXPECT_NE(full.find("artifact 14.8x smaller, validation accuracy -0.57 points."),
            std::string::npos);
  EXPECT_NE(full.find("<td>rolled_back</td><td>cnn_small/c1=16,c2=32,f1=64</td><td "
                      "class=\"num\">30</td><td>accuracy regression &lt;x&gt;</td>"),
            std::string::npos);
}

TEST(ReportHtmlTest, TheDefenceSectionChartsSuspicionPerSiteAndSaysWhoWasQuarantined) {
  json r = TrainingReport(3);
  EXPECT_EQ(Render(r).find("id=\"defence\""), std::string::npos) << "absent when not scored";
  for (json& round : r["rounds"]) round["defence"] = {{"threshold", 3.5}};
  r["defence"] = {{"attackers", {"site-<3>"}},
                  {"sites",
                   {{"site-1",
                     {{"attacker", false},
                      {"scores", {{{"round", 1}, {"score", 0.5}}, {{"round", 2}, {"score", 1.0}}}},
                      {"flagged_rounds", json::array()},
                      {"quarantined_round", nullptr}}},
                    {"site-<3>",
                     {{"attacker", true},
                      {"scores", {{{"round", 1}, {"score", 40}}, {{"round", 2}, {"score", 38}}}},
                      {"flagged_rounds", {1, 2}},
                      {"quarantined_round", 2}}}}},
                  {"by_round_10", {{"precision", 1.0}, {"recall", 1.0}}},
                  {"final",
                   {{"quarantined", 1},
                    {"attackers_quarantined", 1},
                    {"honest_quarantined", 0},
                    {"precision", 1.0},
                    {"recall", 1.0}}}};
  const std::string page = Render(r);
  EXPECT_NE(OpeningTag(page, "chart-suspicion").find("data-points=\"4\""), std::string::npos)
      << OpeningTag(page, "chart-suspicion");
  EXPECT_EQ(Count(Svg(page, "chart-suspicion"), "point flagged"), 2u);
  EXPECT_NE(Svg(page, "chart-suspicion").find("flag threshold"), std::string::npos);
  EXPECT_EQ(Count(page, "<tr class=\"defence-site\">"), 2u);
  EXPECT_NE(page.find("<td>site-&lt;3&gt;</td><td>yes</td><td class=\"num\">2</td><td "
                      "class=\"num\">2</td>"),
            std::string::npos);
  EXPECT_NE(page.find("Quarantined 1 site(s): 1 attacker(s), 0 honest; precision 1.0000"),
            std::string::npos);
  // Per round: who was flagged, quarantined, scaled down and chosen.
  r["rounds"][1]["defence"]["flagged"] = {"site-<3>"};
  r["rounds"][1]["defence"]["quarantined"] = {"site-<3>"};
  r["rounds"][1]["aggregation"] = {
      {"method", "multi_krum"}, {"selected", {"site-1", "site-2"}}, {"norm_clipped", {"site-<3>"}}};
  const std::string with_rounds = Render(r);
  EXPECT_EQ(Count(with_rounds, "<tr class=\"round-defence\">"), 3u);
  EXPECT_NE(with_rounds.find("<td class=\"num\">2</td><td>multi_krum</td><td>site-&lt;3&gt;</td>"
                             "<td>site-&lt;3&gt;</td><td>site-&lt;3&gt;</td><td>site-1, "
                             "site-2</td>"),
            std::string::npos);
}

TEST(ReportHtmlTest, APairedRunDrawsTheAccuracyWithoutTheAttackers) {
  json r = TrainingReport(3);
  const std::string plain = Render(r);
  for (json& round : r["rounds"]) round["accuracy_without_attackers"] = 0.9;
  const std::string page = Render(r);
  // 3 rounds x (test accuracy, macro-F1, federated accuracy) + 3 without attackers.
  EXPECT_NE(OpeningTag(page, "chart-accuracy").find("data-points=\"12\""), std::string::npos)
      << OpeningTag(page, "chart-accuracy");
  EXPECT_NE(Svg(page, "chart-accuracy").find("test accuracy without attackers"), std::string::npos);
  EXPECT_EQ(Svg(plain, "chart-accuracy").find("without attackers"), std::string::npos);
}

TEST(ReportHtmlTest, FieldsOfTheWrongTypeAreShownAsAbsent) {
  json r = TrainingReport(2);
  r["final"]["accuracy"] = "high";
  r["rounds"][0]["accuracy"] = nullptr;
  r["stream"] = {{"windows", 3}, {"stream_accuracy", {{"site-1", "x"}}}, {"events", "none"}};
  r["releases"] = "soon";
  const std::string page = Render(r);
  EXPECT_NE(page.find("<td id=\"final-accuracy\">-</td>"), std::string::npos);
  EXPECT_NE(OpeningTag(page, "chart-accuracy").find("data-points=\"5\""), std::string::npos);
  EXPECT_NE(OpeningTag(page, "chart-drift").find("data-points=\"0\""), std::string::npos);
  EXPECT_NE(Svg(page, "chart-drift").find(">no data</text>"), std::string::npos);
  EXPECT_FALSE(RenderReportHtml(json::array()).ok());
  EXPECT_FALSE(RenderReportHtml(json{{"rounds", json::array()}}).ok());
}

TEST(ReportHtmlTest, WriteReportHtmlWritesThePage) {
  testing::TempDir dir("report_html");
  const std::string path = dir.path() + "/report.html";
  ASSERT_TRUE(WriteReportHtml(TrainingReport(2), path).ok());
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str(), Render(TrainingReport(2)));
  EXPECT_FALSE(WriteReportHtml(TrainingReport(2), dir.path() + "/missing/report.html").ok());
}

TEST(ReportHtmlChartTest, FixedAndEscape) {
  EXPECT_EQ(html::Fixed(0.81236, 4), "0.8124");
  EXPECT_EQ(html::Fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(html::Fixed(std::nan(""), 2), "-");
  EXPECT_EQ(html::Escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(ReportHtmlChartTest, YTicksCoverTheDataWithRoundNumbers) {
  html::Chart c;
  c.id = "t";
  c.series.push_back({"s", {{1, 0.13, "", false}, {2, 0.87, "", false}}, false});
  const std::string svg = html::RenderChart(c);
  const size_t y_axis = svg.find("<g class=\"axis y\">");
  ASSERT_NE(y_axis, std::string::npos);
  const std::string y = svg.substr(y_axis, svg.find("</g>", y_axis) - y_axis);
  // 0.13..0.87 in at most about five steps: steps of 0.2 from 0.0 to 1.0.
  for (const char* t : {">0.0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1.0<"}) {
    EXPECT_NE(y.find(t), std::string::npos) << t << " in " << y;
  }
  EXPECT_EQ(Count(y, "class=\"tick\""), 6u) << y;
}

}  // namespace
}  // namespace fedge::sim
