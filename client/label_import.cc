#include "client/label_import.h"

#include <charconv>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "shared/crypto/crypto.h"

namespace fedge::client {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

constexpr size_t kMaxFileBytes = size_t{64} << 20;
const char* const kJsonExample = R"({"frame_id": "site3#120", "label": 3})";

struct ParsedLine {
  size_t line = 0;
  LabelAssignment assignment;
};

class LineError {
 public:
  explicit LineError(const std::string& path) : path_(path) {}
  Status operator()(size_t line, const std::string& what) const {
    return Status::InvalidArgument(path_ + ":" + std::to_string(line) + ": " + what +
                                   "; nothing was imported");
  }

 private:
  std::string path_;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The file's lines (without "\n" or "\r"), a UTF-8 byte order mark dropped.
std::vector<std::string_view> Lines(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// Splits one CSV line; a field may be wrapped in double quotes ("" inside is one quote).
// Returns false on an unterminated quote.
bool SplitCsv(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch != '"') {
        field.push_back(ch);
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else {
        quoted = false;
      }
    } else if (ch == '"' && Trim(field).empty()) {
      quoted = was_quoted = true;
      field.clear();
    } else if (ch == ',') {
      fields->push_back(was_quoted ? field : std::string(Trim(field)));
      field.clear();
      was_quoted = false;
    } else {
      field.push_back(ch);
    }
  }
  fields->push_back(was_quoted ? field : std::string(Trim(field)));
  return !quoted;
}

bool ParseLabel(std::string_view text, int64_t* out) {
  text = Trim(text);
  if (text.starts_with('+')) text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

size_t ColumnIndex(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return header.size();
}

Result<std::vector<ParsedLine>> ParseCsv(const std::vector<std::string_view>& lines,
                                         const LineError& error) {
  std::vector<ParsedLine> out;
  std::vector<std::string> header, fields;
  size_t id_col = 0, label_col = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t line_no = i + 1;
    if (Trim(lines[i]).empty()) continue;
    if (!SplitCsv(lines[i], &fields)) return error(line_no, "a double quote is not closed");
    if (header.empty()) {
      header = fields;
      id_col = ColumnIndex(header, "frame_id");
      label_col = ColumnIndex(header, "label");
      if (id_col == header.size() || label_col == header.size()) {
        return error(line_no,
                     "the CSV header must name the columns frame_id and label, e.g. "
                     "\"frame_id,label\"; got \"" +
                         std::string(lines[i]) + "\"");
      }
      continue;
    }
    if (fields.size() != header.size()) {
      return error(line_no, "expected " + std::to_string(header.size()) +
                                " columns as in the header, found " +
                                std::to_string(fields.size()) +
                                "; quote a field that contains a comma");
    }
    ParsedLine p{line_no, {fields[id_col], 0}};
    if (p.assignment.id.empty()) return error(line_no, "frame_id is empty");
    if (!ParseLabel(fields[label_col], &p.assignment.label)) {
      return error(line_no, "label \"" + fields[label_col] +
                                "\" is not an integer; write the class index, e.g. 3");
    }
    out.push_back(std::move(p));
  }
  if (header.empty()) return error(1, "the file is empty; expected a header \"frame_id,label\"");
  return out;
}

Result<ParsedLine> ParseJsonLine(std::string_view text, size_t line_no, const LineError& error) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return error(line_no,
                 std::string("not a JSON object; each line must look like ") + kJsonExample);
  }
  const auto id = j.find("frame_id");
  if (id == j.end() || !id->is_string() || id->get<std::string>().empty()) {
    return error(line_no,
                 std::string("missing or empty string field \"frame_id\", e.g. ") + kJsonExample);
  }
  const auto label = j.find("label");
  if (label == j.end()) {
    return error(line_no, std::string("missing field \"label\", e.g. ") + kJsonExample);
  }
  const bool too_big = label->is_number_unsigned() &&
                       label->get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()};
  if (!label->is_number_integer() || too_big) {
    return error(line_no, "label " + label->dump(-1, ' ', false, json::error_handler_t::replace) +
                              " is not an integer; write the class index, e.g. 3");
  }
  return ParsedLine{line_no, {id->get<std::string>(), label->get<int64_t>()}};
}

Result<std::vector<ParsedLine>> ParseJsonLines(const std::vector<std::string_view>& lines,
                                               const LineError& error) {
  std::vector<ParsedLine> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(lines[i]).empty()) continue;
    FEDGE_ASSIGN_OR_RETURN(ParsedLine p, ParseJsonLine(lines[i], i + 1, error));
    out.push_back(std::move(p));
  }
  return out;
}

bool LooksLikeJsonLines(const std::string& path, std::string_view text) {
  for (const char* ext : {".jsonl", ".ndjson", ".json"}) {
    if (path.ends_with(ext)) return true;
  }
  if (path.ends_with(".csv")) return false;
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '{';
}

// InvalidArgument for the first line naming a frame the store does not hold.
Status CheckFramesExist(SampleStore& store, const std::vector<ParsedLine>& parsed,
                        const LineError& error) {
  const ParsedLine* first = nullptr;
  size_t unknown = 0;
  for (const ParsedLine& p : parsed) {
    FEDGE_ASSIGN_OR_RETURN(bool has, store.HasFrame(p.assignment.id));
    if (has) continue;
    if (first == nullptr) first = &p;
    ++unknown;
  }
  if (first == nullptr) return Status::Ok();
  std::string why = "misspelt, or deleted by eviction, retention or purge";
  FEDGE_ASSIGN_OR_RETURN(std::vector<QuarantineItem> quarantined, store.Quarantined());
  for (const QuarantineItem& q : quarantined) {
    if (q.id == first->assignment.id) why = "it was quarantined: " + q.reason;
  }
  return error(first->line, "unknown frame id '" + first->assignment.id +
                                "': the sample store holds no such frame (" + why +
                                "); fix or remove the line (" + std::to_string(unknown) +
                                " line(s) with unknown ids in all)");
}

}  // namespace

Result<LabelImportSummary> ImportLabels(SampleStore& store, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(path, kMaxFileBytes));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const LineError error(path);
  const std::vector<std::string_view> lines = Lines(text);
  FEDGE_ASSIGN_OR_RETURN(std::vector<ParsedLine> parsed, LooksLikeJsonLines(path, text)
                                                             ? ParseJsonLines(lines, error)
                                                             : ParseCsv(lines, error));
  FEDGE_RETURN_IF_ERROR(CheckFramesExist(store, parsed, error));
  std::vector<LabelAssignment> assignments;
  assignments.reserve(parsed.size());
  for (const ParsedLine& p : parsed) assignments.push_back(p.assignment);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  Result<SetLabelsOutcome> outcome = store.SetLabels(assignments, now_ms);
  if (!outcome.ok()) return outcome.status().WithContext("importing labels from " + path);
  LabelImportSummary summary;
  summary.lines_read = parsed.size();
  summary.labels_set = outcome->labels_set;
  summary.quarantined = outcome->quarantined;
  summary.skipped_quarantined = outcome->skipped_quarantined;
  summary.class_counts = std::move(outcome->class_counts);
  return summary;
}

}  // namespace fedge::client
