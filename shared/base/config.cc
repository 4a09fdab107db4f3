#include "shared/base/config.h"

#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

namespace fedge::shared {

struct ConfigFile::Impl {
  toml::table table;
  // Prepended to keys in error messages: "" for a file, "drift.events[2]." for an element of
  // an array of tables.
  std::string key_prefix;
};

ConfigFile::ConfigFile(std::unique_ptr<Impl> impl, std::string path)
    : impl_(std::move(impl)), path_(std::move(path)) {}
ConfigFile::ConfigFile(ConfigFile&&) noexcept = default;
ConfigFile& ConfigFile::operator=(ConfigFile&&) noexcept = default;
ConfigFile::~ConfigFile() = default;

Result<ConfigFile> ConfigFile::Parse(const std::string& text, const std::string& name) {
  try {
    auto impl = std::make_unique<Impl>();
    impl->table = toml::parse(text, name);
    return ConfigFile(std::move(impl), name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    return Status::InvalidArgument(os.str());
  }
}

Result<ConfigFile> ConfigFile::Load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("config file not found: " + path);
  }
  try {
    auto impl = std::make_unique<Impl>();
    impl->table = toml::parse_file(path);
    return ConfigFile(std::move(impl), path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    return Status::InvalidArgument(os.str());
  }
}

Status ConfigFile::Error(const std::string& key, const std::string& what) const {
  return Status::InvalidArgument(path_ + ": key '" + impl_->key_prefix + key + "': " + what);
}

Result<std::string> ConfigFile::String(const std::string& key,
                                       std::optional<std::string> fallback) const {
  auto node = impl_->table.at_path(key);
  if (!node) {
    if (fallback) return *fallback;
    return Error(key, "is required but missing");
  }
  if (auto v = node.value<std::string>(); v && node.is_string()) return *v;
  return Error(key, "expected a string in quotes");
}

Result<int64_t> ConfigFile::Int(const std::string& key, std::optional<int64_t> fallback,
                                int64_t min, int64_t max) const {
  auto node = impl_->table.at_path(key);
  int64_t value;
  if (!node) {
    if (!fallback) return Error(key, "is required but missing");
    value = *fallback;
  } else if (node.is_integer()) {
    value = *node.value<int64_t>();
  } else {
    return Error(key, "expected an integer");
  }
  if (value < min || value > max) {
    return Error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", got " + std::to_string(value));
  }
  return value;
}

Result<double> ConfigFile::Double(const std::string& key, std::optional<double> fallback,
                                  double min, double max) const {
  auto node = impl_->table.at_path(key);
  double value;
  if (!node) {
    if (!fallback) return Error(key, "is required but missing");
    value = *fallback;
  } else if (node.is_floating_point() || node.is_integer()) {
    value = *node.value<double>();
  } else {
    return Error(key, "expected a number");
  }
  if (!(value >= min && value <= max)) {
    std::ostringstream os;
    os << "must be between " << min << " and " << max << ", got " << value;
    return Error(key, os.str());
  }
  return value;
}

Result<bool> ConfigFile::Bool(const std::string& key, std::optional<bool> fallback) const {
  auto node = impl_->table.at_path(key);
  if (!node) {
    if (fallback) return *fallback;
    return Error(key, "is required but missing");
  }
  if (node.is_boolean()) return *node.value<bool>();
  return Error(key, "expected true or false");
}

Result<std::vector<int64_t>> ConfigFile::IntList(const std::string& key,
                                                 std::optional<std::vector<int64_t>> fallback,
                                                 int64_t min, int64_t max) const {
  auto node = impl_->table.at_path(key);
  if (!node) {
    if (fallback) return *std::move(fallback);
    return Error(key, "is required but missing");
  }
  const toml::array* array = node.as_array();
  if (!array) return Error(key, "expected an array of integers, e.g. [0, 1, 2]");
  std::vector<int64_t> values;
  values.reserve(array->size());
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string where = "element " + std::to_string(i);
    const toml::node& element = *array->get(i);
    if (!element.is_integer()) return Error(key, where + " is not an integer");
    const int64_t value = *element.value<int64_t>();
    if (value < min || value > max) {
      return Error(key, where + " must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", got " + std::to_string(value));
    }
    values.push_back(value);
  }
  return values;
}

Result<std::vector<ConfigFile>> ConfigFile::Tables(const std::string& key) const {
  auto node = impl_->table.at_path(key);
  std::vector<ConfigFile> tables;
  if (!node) return tables;
  const toml::array* array = node.as_array();
  if (!array || (!array->empty() && !array->is_array_of_tables())) {
    return Error(key, "expected an array of tables ([[" + impl_->key_prefix + key + "]])");
  }
  tables.reserve(array->size());
  for (size_t i = 0; i < array->size(); ++i) {
    auto impl = std::make_unique<Impl>();
    impl->table = *array->get(i)->as_table();
    impl->key_prefix = impl_->key_prefix + key + "[" + std::to_string(i) + "].";
    tables.push_back(ConfigFile(std::move(impl), path_));
  }
  return tables;
}

std::string ConfigFile::ResolvePath(const std::string& value) const {
  std::filesystem::path p(value);
  if (p.is_absolute()) return value;
  return (std::filesystem::path(path_).parent_path() / p).lexically_normal().string();
}

Result<std::string> ConfigFile::Path(const std::string& key,
                                     std::optional<std::string> fallback) const {
  FEDGE_ASSIGN_OR_RETURN(std::string value, String(key, std::move(fallback)));
  if (value.empty()) return Error(key, "must not be empty");
  return ResolvePath(value);
}

Status ConfigFile::CheckKnownKeys(const std::set<std::string>& known) const {
  for (const auto& [section, node] : impl_->table) {
    std::string s(section.str());
    if (const toml::table* t = node.as_table()) {
      for (const auto& [key, value] : *t) {
        std::string full = s + "." + std::string(key.str());
        if (!known.count(full)) return Error(full, "unknown key (check the spelling)");
      }
    } else if (!known.count(s)) {
      return Error(s, "unknown key (check the spelling)");
    }
  }
  return Status::Ok();
}

}  // namespace fedge::shared
