#pragma once
// Imports labels for stored frames from a file an operator produced with a labelling tool:
//   CSV:         a header naming the columns `frame_id` and `label` (other columns are ignored),
//                then one row per frame, e.g. "site3#120,4". Double quotes may wrap a field.
//   JSON lines:  one object per line, e.g. {"frame_id": "site3#120", "label": 4}.
// The format is taken from the extension (.csv; .jsonl, .ndjson, .json) and otherwise from the
// content (a first non-blank character '{' means JSON lines). Blank lines are skipped.
//
// All or nothing: the whole file is parsed and validated first, then written in one synced
// batch. Thread-safety: as SampleStore (the store serialises the write).

#include <cstdint>
#include <string>
#include <vector>

#include "client/sample_store.h"
#include "shared/base/status.h"

namespace fedge::client {

struct LabelImportSummary {
  uint64_t lines_read = 0;             // data lines (not the CSV header, not blank lines)
  uint64_t labels_set = 0;             // distinct frames labelled (a repeated id counts once)
  uint64_t quarantined = 0;            // frames quarantined for a label outside [0, num_classes)
  uint64_t skipped_quarantined = 0;    // frames already quarantined for another reason
  std::vector<uint64_t> class_counts;  // labels set by this import, per class
};

// Reads `path` and sets the labels in `store`. InvalidArgument naming the file, the line and
// the fix for: an unreadable line (wrong column count, a label that is not an integer, bad
// JSON, a missing field) or a frame id the store does not hold; nothing is written then.
// A label outside [0, num_classes) is not an error: that frame is quarantined with the reason
// "label L out of range [0, N)" in the same batch. A later line for the same frame id wins, and
// importing again overwrites earlier labels.
shared::Result<LabelImportSummary> ImportLabels(SampleStore& store, const std::string& path);

}  // namespace fedge::client
