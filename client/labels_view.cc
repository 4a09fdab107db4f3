#include "client/labels_view.h"

#include <map>
#include <mutex>

#include "client/frame_index.h"
#include "client/store_db.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using namespace store;  // NOLINT: the sample store's internals, in this .cc only

Result<SetLabelsOutcome> LabelsView::Set(const std::vector<LabelAssignment>& labels,
                                         int64_t now_ms) {
  std::map<std::string, int64_t> last;  // later entries win
  for (const auto& a : labels) last[a.id] = a.label;
  const int n = db_.options.num_classes;
  std::lock_guard<std::mutex> lock(db_.mu);
  rocksdb::WriteBatch b;
  Counters next = db_.counters;
  SetLabelsOutcome out;
  out.class_counts.assign(static_cast<size_t>(n), 0);
  for (const auto& [id, label] : last) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, id));
    if (!m) return Status::NotFound("no frame '" + id + "' in the sample store");
    FEDGE_ASSIGN_OR_RETURN(std::optional<int> old, GetLabel(db_, id));
    FEDGE_ASSIGN_OR_RETURN(std::optional<QuarantineRecord> q, GetQuarantine(db_, id));
    if (m->quarantined && (!q || q->cause != "label")) {
      out.skipped_quarantined++;
      continue;
    }
    if (label < 0 || label >= n) {
      const std::string reason =
          "label " + std::to_string(label) + " out of range [0, " + std::to_string(n) + ")";
      FEDGE_RETURN_IF_ERROR(QuarantineInBatch(db_, &b, id, reason, now_ms, "label", &next));
      out.quarantined++;
      continue;
    }
    Unindex(db_, &b, *m, old, &next);
    if (m->quarantined) b.Delete(db_.cf(kQuarantine), id);
    m->quarantined = false;
    Index(db_, &b, *m, static_cast<int>(label), &next);
    out.labels_set++;
    out.class_counts[static_cast<size_t>(label)]++;
  }
  FEDGE_RETURN_IF_ERROR(db_.Commit(&b, next, true, "storing labels"));
  return out;
}

Result<std::vector<LabelledFrame>> LabelsView::Labelled() {
  std::lock_guard<std::mutex> lock(db_.mu);
  std::vector<LabelledFrame> out;
  const std::string prefix(1, static_cast<char>(kTierLabelled));
  FEDGE_RETURN_IF_ERROR(db_.Scan(
      kByTime, prefix, "listing labelled frames",
      [&](const rocksdb::Slice& k, const rocksdb::Slice&) -> Result<bool> {
        if (!k.starts_with(prefix)) return false;
        const std::string id = k.ToString().substr(kTimeKeyIdOffset);
        FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, id));
        FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, GetLabel(db_, id));
        FEDGE_ASSIGN_OR_RETURN(auto bytes, db_.Get(kFrameBytes, id, "reading frame " + id));
        if (!m || !label || !bytes) {
          return Status::Corruption("labelled frame '" + id + "' is incomplete");
        }
        out.push_back({id, m->format, ToBytes(*bytes), *label, m->captured_ms});
        return true;
      }));
  return out;
}

std::vector<uint64_t> LabelsView::ClassCounts() {
  std::lock_guard<std::mutex> lock(db_.mu);
  return db_.counters.class_counts;
}

Status LabelsView::Quarantine(const std::string& id, const std::string& reason, int64_t now_ms) {
  if (id.empty()) return Status::InvalidArgument("quarantine needs a frame id");
  if (reason.empty()) return Status::InvalidArgument("quarantine of '" + id + "' needs a reason");
  std::lock_guard<std::mutex> lock(db_.mu);
  rocksdb::WriteBatch b;
  Counters next = db_.counters;
  FEDGE_RETURN_IF_ERROR(QuarantineInBatch(db_, &b, id, reason, now_ms, "manual", &next));
  return db_.Commit(&b, next, true, "quarantining " + id);
}

Result<std::vector<QuarantineItem>> LabelsView::Quarantined() {
  std::lock_guard<std::mutex> lock(db_.mu);
  std::vector<QuarantineItem> out;
  FEDGE_RETURN_IF_ERROR(
      db_.Scan(kQuarantine, "", "listing the quarantine",
               [&](const rocksdb::Slice& k, const rocksdb::Slice& v) -> Result<bool> {
                 FEDGE_ASSIGN_OR_RETURN(QuarantineRecord q, QuarantineFromText(v.ToString()));
                 FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db_, k.ToString()));
                 out.push_back({k.ToString(), q.reason, q.unix_ms, m.has_value()});
                 return true;
               }));
  return out;
}

}  // namespace fedge::client
