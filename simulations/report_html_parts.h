#pragma once
// Internals of report.html shared by report_html*.cc: tolerant accessors for report.json
// (a missing key or a value of another type reads as absent, never throws) and the drift
// section. Not for use outside simulations/report_html*.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fedge::sim::report_html {

// j[key] if j is an object holding key, else a null value.
const nlohmann::json& Sub(const nlohmann::json& j, const char* key);

// j[key] if it is an array, else an empty array.
const nlohmann::json& Arr(const nlohmann::json& j, const char* key);

// j[key] if it is a number.
std::optional<double> Num(const nlohmann::json& j, const char* key);

// j[key] as text: strings as they are, integers in full, other numbers with 4 decimals,
// booleans as yes/no; "-" when absent or not a scalar.
std::string Text(const nlohmann::json& j, const char* key);

// j[key] is the boolean true.
bool Flag(const nlohmann::json& j, const char* key);

// j[key] with 4 decimals, or "-".
std::string Fixed4(const nlohmann::json& j, const char* key);

// a[k] with 4 decimals, or "-".
std::string Fixed4At(const nlohmann::json& a, size_t k);

// "12.3 MB", or "-" when absent.
std::string Megabytes(std::optional<double> bytes);

// Fashion-MNIST's name of class k when there are 10 classes, else "class k".
std::string ClassName(size_t k, size_t num_classes);

// The stream's client ids in client-index order (report["stream"]["windows"] keys; ids are
// zero-padded, so sorted order is index order). Empty without a stream.
std::vector<std::string> StreamClientIds(const nlohmann::json& report);

// "site-001, site-002" for a drift event's client indices (indices beyond the stream's
// clients are written as "#k").
std::string ClientsOfEvent(const nlohmann::json& report, const nlohmann::json& indices);

// "campaign 1, rounds 4-5 (done): site-001, site-002" (the planned rounds).
std::string CampaignLabel(const nlohmann::json& campaign);

// <td>text</td>, escaped; right-aligned when numeric.
std::string Cell(const std::string& text, bool numeric = false);

// <tr> of <th> names, escaped.
std::string Header(const std::vector<std::string>& names);

// The #drift section: charts and tables of report["stream"] and report["drift"], or
// p#no-drift when the run has none.
std::string DriftSection(const nlohmann::json& report);

}  // namespace fedge::sim::report_html
