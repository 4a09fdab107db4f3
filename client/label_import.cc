#include "client/label_import.h"

#include <chrono>

#include "client/label_parse.h"
#include "shared/crypto/crypto.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {

constexpr size_t kMaxFileBytes = size_t{64} << 20;

// InvalidArgument for the first line naming a frame the store does not hold.
Status CheckFramesExist(SampleStore& store, const std::vector<ParsedLabel>& parsed,
                        const LabelLineError& error) {
  const ParsedLabel* first = nullptr;
  size_t unknown = 0;
  for (const ParsedLabel& p : parsed) {
    FEDGE_ASSIGN_OR_RETURN(bool has, store.HasFrame(p.frame_id));
    if (has) continue;
    if (first == nullptr) first = &p;
    ++unknown;
  }
  if (first == nullptr) return Status::Ok();
  std::string why = "misspelt, or deleted by eviction, retention or purge";
  FEDGE_ASSIGN_OR_RETURN(std::vector<QuarantineItem> quarantined, store.Quarantined());
  for (const QuarantineItem& q : quarantined) {
    if (q.id == first->frame_id) why = "it was quarantined: " + q.reason;
  }
  return error(first->line, "unknown frame id '" + first->frame_id +
                                "': the sample store holds no such frame (" + why +
                                "); fix or remove the line (" + std::to_string(unknown) +
                                " line(s) with unknown ids in all)");
}

}  // namespace

Result<LabelImportSummary> ImportLabels(SampleStore& store, const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(path, kMaxFileBytes));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  FEDGE_ASSIGN_OR_RETURN(std::vector<ParsedLabel> parsed, ParseLabels(path, text));
  FEDGE_RETURN_IF_ERROR(CheckFramesExist(store, parsed, LabelLineError(path)));
  std::vector<LabelAssignment> assignments;
  assignments.reserve(parsed.size());
  for (const ParsedLabel& p : parsed) assignments.push_back({p.frame_id, p.label});
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
