#include "client/audit_view.h"

#include <mutex>

#include "client/store_db.h"

namespace fedge::client {

using nlohmann::json;
using shared::Result;
using shared::Status;
using store::BE64;
using store::Counters;

namespace {

Result<AuditEntry> AuditFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    AuditEntry a;
    a.seq = j.at("seq").get<uint64_t>();
    a.unix_ms = j.at("unix_ms").get<int64_t>();
    a.type = j.at("type").get<std::string>();
    a.bytes = j.at("bytes").get<uint64_t>();
    a.round = j.at("round").get<uint64_t>();
    a.detail = j.at("detail").get<std::string>();
    return a;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("audit entry is unreadable: ") + e.what());
  }
}

}  // namespace

std::string ToJsonLine(const AuditEntry& e) {
  return store::Dump({{"seq", e.seq},
                      {"unix_ms", e.unix_ms},
                      {"type", e.type},
                      {"bytes", e.bytes},
                      {"round", e.round},
                      {"detail", e.detail}});
}

Status AuditView::Append(const AuditEntry& entry) {
  std::lock_guard<std::mutex> lock(db_.mu);
  Counters next = db_.counters;
  AuditEntry e = entry;
  e.seq = ++next.audit_seq;
  rocksdb::WriteBatch b;
  b.Put(db_.cf(store::kAudit), BE64(e.seq), ToJsonLine(e));
  return db_.Commit(&b, next, true, "appending to the audit log");
}

Result<std::vector<AuditEntry>> AuditView::Read(size_t max) {
  std::lock_guard<std::mutex> lock(db_.mu);
  const uint64_t total = db_.counters.audit_seq;
  const uint64_t first = (max == 0 || max >= total) ? 1 : total - max + 1;
  std::vector<AuditEntry> out;
  FEDGE_RETURN_IF_ERROR(
      db_.Scan(store::kAudit, BE64(first), "reading the audit log",
               [&](const rocksdb::Slice&, const rocksdb::Slice& v) -> Result<bool> {
                 FEDGE_ASSIGN_OR_RETURN(AuditEntry e, AuditFromText(v.ToString()));
                 out.push_back(std::move(e));
                 return true;
               }));
  return out;
}

}  // namespace fedge::client
