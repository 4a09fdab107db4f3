#pragma once
// Writing TOML config files that people read and edit: tables, `key = value` lines with an
// aligned comment, and values quoted or formatted so toml++ reads them back exactly. The
// programs that read a config own its template (coordinator/kit_config.h,
// client/kit_config.h); this is only the pen.

#include <string>
#include <string_view>

namespace fedge::shared {

// A TOML basic string: quoted, with '"', '\' and control characters escaped.
std::string TomlString(std::string_view s);
// The shortest round-trip form of `value` that TOML reads as a float ("1.0", not "1").
std::string TomlFloat(double value);

class TomlWriter {
 public:
  // `header` becomes the file's first line, as a comment.
  explicit TomlWriter(const std::string& header);
  // Starts table [name] (a blank line before every table but the first).
  void Table(std::string_view name);
  // `key = value`, with `# comment` aligned at column 31 when given. `value` is already TOML
  // (TomlString, TomlFloat, std::to_string).
  void Set(std::string_view key, const std::string& value, std::string_view comment = {});
  // [tls] naming ca.crt, STEM.crt and STEM.key beside the config.
  void Tls(std::string_view stem);
  // [coordinator] host and port: where clients and admins connect.
  void Coordinator(const std::string& host, int port);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  int tables_ = 0;
};

}  // namespace fedge::shared
