#include "client/outbox.h"

#include <charconv>
#include <string>

#include "shared/base/log.h"

namespace fedge::client {

using shared::Status;

namespace {
constexpr char kLog[] = "client";

// The task id of a stored record: a decimal number, nothing else.
bool ParseTaskId(const std::string& text, uint64_t* id) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *id);
  return !text.empty() && ec == std::errc() && ptr == end;
}
}  // namespace

Outbox::Outbox(SampleStore& store) : store_(store) {}

Status Outbox::Load() {
  FEDGE_ASSIGN_OR_RETURN(std::vector<OutgoingRecord> records, store_.Outgoing());
  for (OutgoingRecord& r : records) {
    uint64_t task_id = 0;
    if (!ParseTaskId(r.task_id, &task_id)) {
      FEDGE_LOG(Warn, kLog) << "dropping outbox record with a bad task id '" << r.task_id << "'";
      (void)store_.DeleteOutgoing(r.task_id);
      continue;
    }
    Entry e;
    e.round = r.round;
    e.submit = std::move(r.submit);
    e.blob = std::move(r.blob);
    e.digest = shared::Sha256(e.blob);
    entries_[task_id] = std::move(e);
  }
  return Status::Ok();
}

Status Outbox::Add(uint64_t task_id, Entry entry) {
  OutgoingRecord r;
  r.task_id = std::to_string(task_id);
  r.round = entry.round;
  r.submit = entry.submit;
  r.blob = entry.blob;
  Status s = store_.PutOutgoing(r);
  entries_[task_id] = std::move(entry);
  return s;
}

Status Outbox::Remove(uint64_t task_id) {
  if (entries_.erase(task_id) == 0) return Status::Ok();
  return store_.DeleteOutgoing(std::to_string(task_id));
}

Outbox::Entry* Outbox::Find(uint64_t task_id) {
  auto it = entries_.find(task_id);
  return it == entries_.end() ? nullptr : &it->second;
}

const Outbox::Entry* Outbox::FindByDigest(const shared::Digest& digest) const {
  for (const auto& [task_id, e] : entries_) {
    if (e.digest == digest) return &e;
  }
  return nullptr;
}

}  // namespace fedge::client
