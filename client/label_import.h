#pragma once
// Imports labels for stored frames from a file an operator produced with a labelling tool (CSV
// or JSON lines; the formats are in client/label_parse.h).
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
