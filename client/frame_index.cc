#include "client/frame_index.h"

#include <cstring>

namespace fedge::client::store {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

std::string ConfidenceKey(const FrameMeta& m) {
  uint32_t bits = 0;
  std::memcpy(&bits, &m.confidence, sizeof bits);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  std::string k;
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  AppendBE64(&k, OrderedTime(m.captured_ms));
  return k + m.id;
}

std::string LabelValue(int label) { return BE64(static_cast<uint32_t>(label)).substr(4); }

json ToJson(const FrameMeta& m) {
  return {{"id", m.id},          {"t", m.captured_ms},
          {"format", m.format},  {"w", m.width},
          {"h", m.height},       {"c", m.channels},
          {"pred", m.predicted}, {"conf", m.confidence},
          {"size", m.size},      {"sha256", shared::ToHex(m.sha256)},
          {"q", m.quarantined}};
}

Result<FrameMeta> MetaFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    FrameMeta m;
    m.id = j.at("id").get<std::string>();
    m.captured_ms = j.at("t").get<int64_t>();
    m.format = j.at("format").get<std::string>();
    m.width = j.at("w").get<int>();
    m.height = j.at("h").get<int>();
    m.channels = j.at("c").get<int>();
    m.predicted = j.at("pred").get<int>();
    m.confidence = j.at("conf").get<float>();
    m.size = j.at("size").get<uint64_t>();
    FEDGE_ASSIGN_OR_RETURN(m.sha256, shared::DigestFromHex(j.at("sha256").get<std::string>()));
    m.quarantined = j.at("q").get<bool>();
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("frame record is unreadable: ") + e.what());
  }
}

}  // namespace

std::string TimeKey(Tier tier, int64_t t, const std::string& id) {
  std::string k(1, static_cast<char>(tier));
  AppendBE64(&k, OrderedTime(t));
  return k + id;
}

int64_t TimeOfKey(std::string_view key) {
  return static_cast<int64_t>(ReadBE64(key.substr(1)) ^ (uint64_t{1} << 63));
}

rocksdb::Slice AsSlice(const shared::Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

Tier TierOf(const FrameMeta& m, const std::optional<int>& label) {
  if (m.quarantined) return kTierQuarantined;
  return label ? kTierLabelled : kTierUnlabelled;
}

Result<QuarantineRecord> QuarantineFromText(const std::string& text) {
  try {
    json j = json::parse(text);
    return QuarantineRecord{j.at("reason").get<std::string>(), j.at("unix_ms").get<int64_t>(),
                            j.at("cause").get<std::string>()};
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("quarantine record is unreadable: ") + e.what());
  }
}

Result<std::optional<FrameMeta>> GetMeta(StoreDb& db, const std::string& id) {
  FEDGE_ASSIGN_OR_RETURN(auto text, db.Get(kFrameMeta, id, "reading frame '" + id + "'"));
  if (!text) return std::optional<FrameMeta>();
  FEDGE_ASSIGN_OR_RETURN(FrameMeta m, MetaFromText(*text));
  return std::optional<FrameMeta>(std::move(m));
}

Result<std::optional<int>> GetLabel(StoreDb& db, const std::string& id) {
  FEDGE_ASSIGN_OR_RETURN(auto v, db.Get(kLabels, id, "reading the label of '" + id + "'"));
  if (!v) return std::optional<int>();
  if (v->size() != 4) return Status::Corruption("label of '" + id + "' has the wrong size");
  return std::optional<int>(static_cast<int>(ReadBE64(std::string(4, '\0') + *v)));
}

Result<std::optional<QuarantineRecord>> GetQuarantine(StoreDb& db, const std::string& id) {
  FEDGE_ASSIGN_OR_RETURN(auto v, db.Get(kQuarantine, id, "reading quarantine entry '" + id + "'"));
  if (!v) return std::optional<QuarantineRecord>();
  FEDGE_ASSIGN_OR_RETURN(QuarantineRecord q, QuarantineFromText(*v));
  return std::optional<QuarantineRecord>(std::move(q));
}

void Index(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label,
           Counters* c) {
  b->Put(db.cf(kFrameMeta), m.id, Dump(ToJson(m)));
  b->Put(db.cf(kByTime), TimeKey(TierOf(m, label), m.captured_ms, m.id), "");
  b->Put(db.cf(kByHash), AsSlice(m.sha256), m.id);
  if (TierOf(m, label) == kTierUnlabelled) b->Put(db.cf(kByConfidence), ConfidenceKey(m), "");
  if (label) {
    b->Put(db.cf(kLabels), m.id, LabelValue(*label));
    c->labelled++;
    c->class_counts[*label]++;
  }
}

void Unindex(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, std::optional<int> label,
             Counters* c) {
  b->Delete(db.cf(kByTime), TimeKey(TierOf(m, label), m.captured_ms, m.id));
  b->Delete(db.cf(kByHash), AsSlice(m.sha256));
  if (TierOf(m, label) == kTierUnlabelled) b->Delete(db.cf(kByConfidence), ConfidenceKey(m));
  if (label) {
    b->Delete(db.cf(kLabels), m.id);
    c->labelled--;
    if (*label >= 0 && static_cast<size_t>(*label) < c->class_counts.size()) {
      c->class_counts[*label]--;
    }
  }
}

Status DeleteFrame(StoreDb& db, rocksdb::WriteBatch* b, const FrameMeta& m, Counters* c) {
  FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, GetLabel(db, m.id));
  Unindex(db, b, m, label, c);
  b->Delete(db.cf(kFrameMeta), m.id);
  b->Delete(db.cf(kFrameBytes), m.id);
  c->frames--;
  c->stored_bytes -= m.size;
  return Status::Ok();
}

Status QuarantineInBatch(StoreDb& db, rocksdb::WriteBatch* b, const std::string& id,
                         const std::string& reason, int64_t now_ms, const std::string& cause,
                         Counters* c, bool frame_deleted) {
  FEDGE_ASSIGN_OR_RETURN(std::optional<FrameMeta> m, GetMeta(db, id));
  if (m && !m->quarantined && !frame_deleted) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<int> label, GetLabel(db, id));
    Unindex(db, b, *m, label, c);
    m->quarantined = true;
    Index(db, b, *m, std::nullopt, c);
  }
  b->Put(db.cf(kQuarantine), id, Dump({{"reason", reason}, {"unix_ms", now_ms}, {"cause", cause}}));
  return Status::Ok();
}

}  // namespace fedge::client::store
