#include "shared/release/envelope.h"

#include <algorithm>
#include <set>
#include <utility>

#include "shared/release/canonical.h"

namespace fedge::shared::release {

std::string SigningMessage(std::string_view payload) {
  std::string message(kSigningContext);
  message.append(payload);
  return message;
}

Result<Envelope> Envelope::Parse(std::span<const uint8_t> bytes, size_t max_bytes,
                                 std::string_view what) {
  const std::string w(what);
  FEDGE_ASSIGN_OR_RETURN(Json j, ParseJson(bytes, max_bytes, w));
  if (!j.is_object()) return Status::InvalidArgument(w + ": metadata file is not an object");
  FEDGE_ASSIGN_OR_RETURN(std::string encoded, GetString(j, "signed", max_bytes, w));
  Result<std::vector<uint8_t>> payload = Base64Decode(encoded);
  if (!payload.ok()) return payload.status().WithContext(w + ": signed");
  Envelope envelope(std::string(payload->begin(), payload->end()));
  FEDGE_ASSIGN_OR_RETURN(const Json* sigs, GetArray(j, "signatures", kMaxSignatures, w));
  for (const Json& entry : *sigs) {
    Signature s;
    FEDGE_ASSIGN_OR_RETURN(s.key_id, GetString(entry, "keyid", 64, w + ": signature"));
    FEDGE_ASSIGN_OR_RETURN(std::string sig, GetString(entry, "sig", 128, w + ": signature"));
    Result<std::vector<uint8_t>> raw = Base64Decode(sig);
    if (!raw.ok()) return raw.status().WithContext(w + ": signature of " + s.key_id);
    s.sig = std::move(*raw);
    envelope.signatures_.push_back(std::move(s));
  }
  return envelope;
}

std::string Envelope::Serialize() const {
  Json sigs = Json::array();
  for (const Signature& s : signatures_) {
    sigs.push_back(Json{{"keyid", s.key_id}, {"sig", Base64Encode(s.sig)}});
  }
  Json j{{"signatures", std::move(sigs)}, {"signed", Base64Encode(AsBytes(payload_))}};
  // Key ids and base64 are ASCII, so strict encoding cannot fail.
  return j.dump();
}

Status Envelope::AddSignature(const PrivateKey& key) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> sig, key.Sign(AsBytes(SigningMessage(payload_))));
  std::erase_if(signatures_, [&](const Signature& s) { return s.key_id == key.key_id(); });
  signatures_.push_back(Signature{key.key_id(), std::move(sig)});
  return Status::Ok();
}

Status Envelope::VerifyRole(const RootMetadata& root, Role role, std::string_view what) const {
  const RoleKeys& keys = root.role(role);
  const std::set<std::string> allowed(keys.key_ids.begin(), keys.key_ids.end());
  const std::string message = SigningMessage(payload_);
  std::set<std::string> valid;
  size_t unknown = 0;
  size_t bad = 0;
  for (const Signature& s : signatures_) {
    if (allowed.count(s.key_id) == 0) {
      ++unknown;
      continue;
    }
    auto key = root.keys.find(s.key_id);
    if (key != root.keys.end() && key->second.Verify(AsBytes(message), s.sig)) {
      valid.insert(s.key_id);
    } else {
      ++bad;
    }
  }
  if (valid.size() >= keys.threshold) return Status::Ok();
  std::string m = std::string(what) + ": only " + std::to_string(valid.size()) + " of the " +
                  std::to_string(keys.threshold) + " required distinct " + RoleName(role) +
                  " key signatures are valid (root version " + std::to_string(root.version) + ")";
  if (unknown > 0) m += "; " + std::to_string(unknown) + " by keys not trusted for this role";
  if (bad > 0) m += "; " + std::to_string(bad) + " invalid";
  return Status::PermissionDenied(std::move(m));
}

Digest Envelope::PayloadSha256() const { return Sha256(AsBytes(payload_)); }

}  // namespace fedge::shared::release
