#include "client/outbox_view.h"

#include <mutex>

#include "client/store_db.h"

namespace fedge::client {

using shared::Result;
using shared::Status;
using store::AppendBE64;
using store::BE64;
using store::Counters;
using store::ReadBE64;

namespace {

void AppendField(std::string* s, std::string_view bytes) {
  AppendBE64(s, bytes.size());
  s->append(bytes);
}

std::string EncodeOutgoing(const OutgoingRecord& r) {
  std::string s;
  AppendField(&s, r.task_id);
  AppendBE64(&s, r.round);
  AppendBE64(&s, static_cast<uint64_t>(r.deadline_unix_ms));
  AppendField(&s, {reinterpret_cast<const char*>(r.submit.data()), r.submit.size()});
  AppendField(&s, {reinterpret_cast<const char*>(r.blob.data()), r.blob.size()});
  return s;
}

Result<OutgoingRecord> DecodeOutgoing(std::string_view s) {
  const Status bad = Status::Corruption("outbox record is truncated");
  auto take_u64 = [&s](uint64_t* v) {
    if (s.size() < 8) return false;
    *v = ReadBE64(s);
    s.remove_prefix(8);
    return true;
  };
  auto take_field = [&s, &take_u64](std::string_view* out) {
    uint64_t n = 0;
    if (!take_u64(&n) || n > s.size()) return false;
    *out = s.substr(0, n);
    s.remove_prefix(n);
    return true;
  };
  OutgoingRecord r;
  std::string_view task, submit, blob;
  uint64_t deadline = 0;
  if (!take_field(&task) || !take_u64(&r.round) || !take_u64(&deadline) || !take_field(&submit) ||
      !take_field(&blob) || !s.empty()) {
    return bad;
  }
  r.task_id = std::string(task);
  r.deadline_unix_ms = static_cast<int64_t>(deadline);
  r.submit = store::ToBytes(submit);
  r.blob = store::ToBytes(blob);
  return r;
}

}  // namespace

Status OutboxView::Put(const OutgoingRecord& r) {
  if (r.task_id.empty()) return Status::InvalidArgument("an outgoing update needs a task id");
  std::lock_guard<std::mutex> lock(db_.mu);
  FEDGE_ASSIGN_OR_RETURN(auto seq, db_.Get(store::kOutboxIds, r.task_id, "reading the outbox"));
  Counters next = db_.counters;
  const std::string key = seq ? *seq : BE64(++next.outbox_seq);
  rocksdb::WriteBatch b;
  b.Put(db_.cf(store::kOutbox), key, EncodeOutgoing(r));
  b.Put(db_.cf(store::kOutboxIds), r.task_id, key);
  return db_.Commit(&b, next, true, "storing outgoing update " + r.task_id);
}

Status OutboxView::Delete(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(db_.mu);
  FEDGE_ASSIGN_OR_RETURN(auto seq, db_.Get(store::kOutboxIds, task_id, "reading the outbox"));
  if (!seq) return Status::Ok();
  rocksdb::WriteBatch b;
  b.Delete(db_.cf(store::kOutbox), *seq);
  b.Delete(db_.cf(store::kOutboxIds), task_id);
  return db_.Commit(&b, db_.counters, true, "deleting outgoing update " + task_id);
}

Result<std::vector<OutgoingRecord>> OutboxView::List() {
  std::lock_guard<std::mutex> lock(db_.mu);
  std::vector<OutgoingRecord> out;
  FEDGE_RETURN_IF_ERROR(
      db_.Scan(store::kOutbox, "", "reading the outbox",
               [&](const rocksdb::Slice&, const rocksdb::Slice& v) -> Result<bool> {
                 FEDGE_ASSIGN_OR_RETURN(OutgoingRecord r, DecodeOutgoing(v.ToStringView()));
                 out.push_back(std::move(r));
                 return true;
               }));
  return out;
}

}  // namespace fedge::client
