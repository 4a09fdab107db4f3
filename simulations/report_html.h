#pragma once
// report.html: fedge-sim's report.json as one self-contained page (inline CSS and SVG, no
// script, nothing fetched; a Content-Security-Policy forbids any load), so it opens offline.
//
// Sections and the ids a test can rely on:
//   #summary   table#summary-table (td#final-accuracy, td#final-version), table#per-class
//   #training  svg#chart-accuracy, svg#chart-loss, svg#chart-bytes, svg#chart-seconds
//              (data-points = rounds drawn per series times series)
//   #drift     svg#chart-drift (one series per client, points = drift windows, threshold line,
//              event markers, campaign bands), svg#chart-stream-accuracy, svg#chart-paired,
//              table#drift-events, table#campaigns, table#drift-clients, table#paired-summary;
//              or p#no-drift when the run has no drift data
//   #defence   with [defence]: svg#chart-suspicion (one series per site, points = rounds
//              scored, flagged rounds as rings, the threshold line), p#defence-summary,
//              table#defence-sites (tr.defence-site per site); with [defence] or a robust
//              strategy: table#round-defence (tr.round-defence per round: flagged,
//              quarantined, scaled down, multi_krum's choice); absent otherwise
//   #training's svg#chart-accuracy also draws "test accuracy without attackers" for a paired
//              run ([adversary] paired)
//   #releases  table#releases (tr.release per entry of report["releases"]: name, version,
//              state) or p#no-releases
// Every chart is <svg class="chart" data-points="N">; every point has class "point" and a
// <title> tooltip. Every string taken from the report is HTML-escaped.

#include <nlohmann/json.hpp>
#include <string>

#include "shared/base/status.h"

namespace fedge::sim {

// The page for `report` (the object RunScenario writes to report.json). Sections the report
// lacks are stated as absent, not errors. InvalidArgument if `report` is not an object or
// has no "scenario" object.
shared::Result<std::string> RenderReportHtml(const nlohmann::json& report);

// Renders `report` and writes it to `path` atomically (0644).
shared::Status WriteReportHtml(const nlohmann::json& report, const std::string& path);

}  // namespace fedge::sim
