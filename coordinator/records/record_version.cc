#include "coordinator/records/record_version.h"

namespace fedge::coordinator::records {

using nlohmann::json;
using shared::Result;
using shared::Status;

Result<VersionedJson> ParseRecord(std::string_view bytes, std::string_view what, uint32_t newest) {
  VersionedJson out;
  out.body = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded() || !out.body.is_object()) {
    return Status::Corruption("stored " + std::string(what) + " record is not a JSON object");
  }
  auto v = out.body.find(kRecordVersionField);
  if (v == out.body.end()) return out;  // written before records were versioned: version 1
  if (!v->is_number_unsigned() || v->get<uint64_t>() == 0 || v->get<uint64_t>() > newest) {
    return Status::Corruption("stored " + std::string(what) + " record has version " + v->dump() +
                              "; this coordinator reads versions 1 to " + std::to_string(newest) +
                              " (was the registry written by a newer coordinator?)");
  }
  out.version = static_cast<uint32_t>(v->get<uint64_t>());
  out.body.erase(v);
  return out;
}

std::string SerializeRecord(json body, uint32_t version) {
  body[kRecordVersionField] = version;
  return body.dump();
}

}  // namespace fedge::coordinator::records
