#include "simulations/report_html_parts.h"

#include <cmath>

#include "shared/observability/html_chart.h"

namespace fedge::sim::report_html {

namespace html = shared::html;

using nlohmann::json;

namespace {

const json& Null() {
  static const json kNull;
  return kNull;
}

const json& EmptyArray() {
  static const json kEmpty = json::array();
  return kEmpty;
}

std::string Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return html::Fixed(v.get<double>(), 4);
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return "-";
}

}  // namespace

const json& Sub(const json& j, const char* key) {
  if (!j.is_object()) return Null();
  auto it = j.find(key);
  return it == j.end() ? Null() : *it;
}

const json& Arr(const json& j, const char* key) {
  const json& v = Sub(j, key);
  return v.is_array() ? v : EmptyArray();
}

std::optional<double> Num(const json& j, const char* key) {
  const json& v = Sub(j, key);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

std::string Text(const json& j, const char* key) { return Scalar(Sub(j, key)); }

bool Flag(const json& j, const char* key) {
  const json& v = Sub(j, key);
  return v.is_boolean() && v.get<bool>();
}

std::string Fixed4(const json& j, const char* key) {
  const auto v = Num(j, key);
  return v ? html::Fixed(*v, 4) : "-";
}

std::string Fixed4At(const json& a, size_t k) {
  if (!a.is_array() || k >= a.size() || !a[k].is_number()) return "-";
  return html::Fixed(a[k].get<double>(), 4);
}

std::string Megabytes(std::optional<double> bytes) {
  return bytes ? html::Fixed(*bytes / 1e6, 1) + " MB" : "-";
}

std::string ClassName(size_t k, size_t num_classes) {
  static const char* kFashionMnist[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                        "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                        "Bag",         "Ankle boot"};
  if (num_classes == std::size(kFashionMnist) && k < num_classes) return kFashionMnist[k];
  return "class " + std::to_string(k);
}

std::vector<std::string> StreamClientIds(const json& report) {
  std::vector<std::string> ids;
  const json& windows = Sub(Sub(report, "stream"), "windows");
  if (!windows.is_object()) return ids;
  for (const auto& [id, w] : windows.items()) ids.push_back(id);  // json objects sort keys
  return ids;
}

std::string ClientsOfEvent(const json& report, const json& indices) {
  if (!indices.is_array()) return "-";
  const std::vector<std::string> ids = StreamClientIds(report);
  std::string s;
  for (const json& i : indices) {
    if (!s.empty()) s += ", ";
    if (i.is_number_integer() && i.get<int64_t>() >= 0 &&
        static_cast<uint64_t>(i.get<int64_t>()) < ids.size()) {
      s += ids[static_cast<size_t>(i.get<int64_t>())];
    } else {
      s += "#" + Scalar(i);
    }
  }
  return s;
}

std::string CampaignLabel(const json& campaign) {
  std::string members;
  for (const json& m : Arr(campaign, "clients")) {
    members += (members.empty() ? "" : ", ") + Text(m, "client");
  }
  return "campaign " + Text(campaign, "id") + ", rounds " + Text(campaign, "first_round") + "-" +
         Text(campaign, "last_round") + " (" + Text(campaign, "state") + ")" +
         (members.empty() ? "" : ": " + members);
}

std::string Cell(const std::string& text, bool numeric) {
  return std::string(numeric ? "<td class=\"num\">" : "<td>") + html::Escape(text) + "</td>";
}

std::string Header(const std::vector<std::string>& names) {
  std::string s = "<tr>";
  for (const std::string& n : names) s += "<th>" + html::Escape(n) + "</th>";
  return s + "</tr>";
}

}  // namespace fedge::sim::report_html
