#pragma once
// Reading a labels file (the text only; client/label_import.h writes the labels):
//   CSV:         a header naming the columns `frame_id` and `label` (other columns are ignored),
//                then one row per frame, e.g. "site3#120,4". Double quotes may wrap a field.
//   JSON lines:  one object per line, e.g. {"frame_id": "site3#120", "label": 4}.
// The format is taken from the extension (.csv; .jsonl, .ndjson, .json) and otherwise from the
// content (a first non-blank character '{' means JSON lines). Blank lines are skipped; a UTF-8
// byte order mark is dropped. No RocksDB, no store: fuzzed on its own (tests/fuzz/).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

namespace fedge::client {

struct ParsedLabel {
  size_t line = 0;  // 1-based line of the file
  std::string frame_id;
  int64_t label = 0;
};

// The error for line `line` of `path`: "path:line: what; nothing was imported".
class LabelLineError {
 public:
  explicit LabelLineError(std::string path) : path_(std::move(path)) {}
  shared::Status operator()(size_t line, const std::string& what) const;

 private:
  std::string path_;
};

// Every data line of `text` (the content of `path`), in file order. InvalidArgument naming the
// file, the line and the fix for the first unreadable line (wrong column count, a label that is
// not an integer, bad JSON, a missing field or an empty frame id, an unclosed quote), or an
// empty CSV file.
shared::Result<std::vector<ParsedLabel>> ParseLabels(const std::string& path,
                                                     std::string_view text);

}  // namespace fedge::client
