#include "client/label_parse.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

namespace fedge::client {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

const char* const kJsonExample = R"({"frame_id": "site3#120", "label": 3})";

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

Result<std::vector<ParsedLabel>> ParseCsv(const std::vector<std::string_view>& lines,
                                          const LabelLineError& error) {
  std::vector<ParsedLabel> out;
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
    ParsedLabel p{line_no, fields[id_col], 0};
    if (p.frame_id.empty()) return error(line_no, "frame_id is empty");
    if (!ParseLabel(fields[label_col], &p.label)) {
      return error(line_no, "label \"" + fields[label_col] +
                                "\" is not an integer; write the class index, e.g. 3");
    }
    out.push_back(std::move(p));
  }
  if (header.empty()) return error(1, "the file is empty; expected a header \"frame_id,label\"");
  return out;
}

Result<ParsedLabel> ParseJsonLine(std::string_view text, size_t line_no,
                                  const LabelLineError& error) {
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
  return ParsedLabel{line_no, id->get<std::string>(), label->get<int64_t>()};
}

Result<std::vector<ParsedLabel>> ParseJsonLines(const std::vector<std::string_view>& lines,
                                                const LabelLineError& error) {
  std::vector<ParsedLabel> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(lines[i]).empty()) continue;
    FEDGE_ASSIGN_OR_RETURN(ParsedLabel p, ParseJsonLine(lines[i], i + 1, error));
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

}  // namespace

Status LabelLineError::operator()(size_t line, const std::string& what) const {
  return Status::InvalidArgument(path_ + ":" + std::to_string(line) + ": " + what +
                                 "; nothing was imported");
}

Result<std::vector<ParsedLabel>> ParseLabels(const std::string& path, std::string_view text) {
  const LabelLineError error(path);
  const std::vector<std::string_view> lines = Lines(text);
  return LooksLikeJsonLines(path, text) ? ParseJsonLines(lines, error) : ParseCsv(lines, error);
}

}  // namespace fedge::client
