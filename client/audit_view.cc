#include "client/audit_view.h"

#include <algorithm>
#include <mutex>

#include "client/store_db.h"
#include "shared/net/wire_text.h"

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
    if (auto c = j.find("content"); c != j.end())
      a.content = c->is_string() ? c->get<std::string>() : c->dump();
    return a;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("audit entry is unreadable: ") + e.what());
  }
}

}  // namespace

std::string ToJsonLine(const AuditEntry& e) {
  json j{{"seq", e.seq},     {"unix_ms", e.unix_ms}, {"type", e.type},
         {"bytes", e.bytes}, {"round", e.round},     {"detail", e.detail}};
  if (!e.content.empty()) {
    if (e.content.size() > kMaxAuditContentBytes) {
      j["content"] = shared::SafeText(e.content, kMaxAuditContentBytes);
      j["content_bytes"] = e.content.size();
    } else if (json c = json::parse(e.content, nullptr, false); !c.is_discarded()) {
      j["content"] = std::move(c);
    } else {
      j["content"] = shared::SafeText(e.content, kMaxAuditContentBytes);
    }
  }
  return store::Dump(j);
}

Status AuditView::Append(const AuditEntry& entry, bool sync) {
  std::lock_guard<std::mutex> lock(db_.mu);
  Counters next = db_.counters;
  AuditEntry e = entry;
  e.seq = ++next.audit_seq;
  rocksdb::WriteBatch b;
  b.Put(db_.cf(store::kAudit), BE64(e.seq), ToJsonLine(e));
  const uint64_t keep = std::max<uint64_t>(db_.options.audit_max_entries, 1);
  if (e.seq > keep) b.Delete(db_.cf(store::kAudit), BE64(e.seq - keep));
  return db_.Commit(&b, next, sync, "appending to the audit log");
}

Status AuditView::Trim() {
  std::lock_guard<std::mutex> lock(db_.mu);
  const uint64_t keep = std::max<uint64_t>(db_.options.audit_max_entries, 1);
  if (db_.counters.audit_seq <= keep) return Status::Ok();
  rocksdb::WriteBatch b;
  b.DeleteRange(db_.cf(store::kAudit), BE64(0), BE64(db_.counters.audit_seq - keep + 1));
  return db_.Write(&b, true, "trimming the audit log");
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
