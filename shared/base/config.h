#pragma once
// TOML configuration access with errors that name the file, the key and what is wrong.

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::shared {

class ConfigFile {
 public:
  // InvalidArgument "FILE:LINE:COL: <parse error>" for bad TOML; NotFound if missing.
  static Result<ConfigFile> Load(const std::string& path);
  static Result<ConfigFile> Parse(const std::string& text, const std::string& name);
  ConfigFile(ConfigFile&&) noexcept;
  ConfigFile& operator=(ConfigFile&&) noexcept;
  ~ConfigFile();

  // Dotted keys, e.g. "rounds.min_fit". Missing keys take the default; without a default
  // a missing key is an error. Values outside [min, max] are errors.
  Result<std::string> String(const std::string& key,
                             std::optional<std::string> fallback = std::nullopt) const;
  Result<int64_t> Int(const std::string& key, std::optional<int64_t> fallback, int64_t min,
                      int64_t max) const;
  Result<double> Double(const std::string& key, std::optional<double> fallback, double min,
                        double max) const;
  Result<bool> Bool(const std::string& key, std::optional<bool> fallback = std::nullopt) const;
  // A path value resolved against the directory of the config file.
  Result<std::string> Path(const std::string& key,
                           std::optional<std::string> fallback = std::nullopt) const;
  // An array of integers, e.g. `clients = [0, 1, 2]`; every element must lie in [min, max].
  // Errors name the key and the index of a bad element.
  Result<std::vector<int64_t>> IntList(const std::string& key,
                                       std::optional<std::vector<int64_t>> fallback, int64_t min,
                                       int64_t max) const;
  // The array of tables at `key` (TOML [[key]]), each element as its own ConfigFile (same
  // path(), keys relative to the element) whose errors name the element:
  // "<file>: key 'drift.events[2].kind': ...". Missing key: empty vector. InvalidArgument if
  // `key` is not an array of tables.
  Result<std::vector<ConfigFile>> Tables(const std::string& key) const;
  // InvalidArgument naming the first key not in `known` (catches typos).
  Status CheckKnownKeys(const std::set<std::string>& known) const;

  const std::string& path() const { return path_; }
  std::string ResolvePath(const std::string& value) const;

 private:
  struct Impl;
  explicit ConfigFile(std::unique_ptr<Impl> impl, std::string path);
  Status Error(const std::string& key, const std::string& what) const;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace fedge::shared
