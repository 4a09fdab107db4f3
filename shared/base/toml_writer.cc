#include "shared/base/toml_writer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace fedge::shared {

std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04X", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string TomlFloat(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

TomlWriter::TomlWriter(const std::string& header) : text_("# " + header + "\n") {}

void TomlWriter::Table(std::string_view name) {
  if (tables_++ > 0) text_ += '\n';
  text_ += '[';
  text_ += name;
  text_ += "]\n";
}

void TomlWriter::Set(std::string_view key, const std::string& value, std::string_view comment) {
  std::string line = std::string(key) + " = " + value;
  if (!comment.empty()) {
    line.resize(std::max<size_t>(line.size() + 2, 31), ' ');
    line += "# " + std::string(comment);
  }
  text_ += line + '\n';
}

void TomlWriter::Tls(std::string_view stem) {
  Table("tls");
  Set("ca", TomlString("ca.crt"));
  Set("cert", TomlString(std::string(stem) + ".crt"));
  Set("key", TomlString(std::string(stem) + ".key"));
}

void TomlWriter::Coordinator(const std::string& host, int port) {
  Table("coordinator");
  Set("host", TomlString(host));
  Set("port", std::to_string(port));
}

}  // namespace fedge::shared
