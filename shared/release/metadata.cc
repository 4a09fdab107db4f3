#include "shared/release/metadata.h"

#include <cctype>
#include <charconv>
#include <set>
#include <utility>

#include "shared/release/canonical.h"

namespace fedge::shared::release {
namespace {

constexpr Role kRoles[] = {Role::kRoot, Role::kTargets, Role::kSnapshot, Role::kTimestamp};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out + "\"";
}

bool IsLowerHex(std::string_view s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Target names and model ids become file names on clients: [A-Za-z0-9._-], not starting with
// '.', 1..kMaxNameLength characters.
Status ValidateName(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength && name[0] != '.';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " " + Quote(name) +
                                 " must be 1-255 letters, digits, '.', '_' or '-' and not start "
                                 "with '.'");
}

Json Header(std::string_view type, uint64_t version, int64_t expires) {
  return Json{
      {"_type", type}, {"spec_version", kSpecVersion}, {"version", version}, {"expires", expires}};
}

struct ParsedHeader {
  uint64_t version;
  int64_t expires;
};

// Parses the canonical object and its common header; checks "_type".
Result<std::pair<Json, ParsedHeader>> ParseHeader(std::string_view payload, Role role) {
  const std::string what = RoleName(role);
  FEDGE_ASSIGN_OR_RETURN(Json j, ParseCanonicalObject(AsBytes(payload), kMaxPayloadBytes, what));
  FEDGE_ASSIGN_OR_RETURN(std::string type, GetString(j, "_type", 32, what));
  if (type != what) {
    return Status::InvalidArgument(what + ": payload has _type " + Quote(type) + ", expected " +
                                   Quote(what));
  }
  FEDGE_ASSIGN_OR_RETURN(std::string spec, GetString(j, "spec_version", 64, what));
  if (spec != kSpecVersion) {
    return Status::InvalidArgument(what + ": unsupported spec_version " + Quote(spec));
  }
  ParsedHeader h{};
  FEDGE_ASSIGN_OR_RETURN(h.version, GetUint(j, "version", what));
  if (h.version == 0) return Status::InvalidArgument(what + ": version must be at least 1");
  FEDGE_ASSIGN_OR_RETURN(h.expires, GetInt(j, "expires", what));
  return std::make_pair(std::move(j), h);
}

Status ValidateVersion(uint64_t version, Role role) {
  if (version == 0) {
    return Status::InvalidArgument(std::string(RoleName(role)) + ": version must be at least 1");
  }
  return Status::Ok();
}

Json MetaFileJson(const MetaFileInfo& m) {
  return Json{
      {"version", m.version}, {"length", m.length}, {"hashes", Json{{"sha256", ToHex(m.sha256)}}}};
}

Result<MetaFileInfo> MetaFileFromJson(const Json& j, const std::string& what) {
  MetaFileInfo m;
  FEDGE_ASSIGN_OR_RETURN(m.version, GetUint(j, "version", what));
  if (m.version == 0) return Status::InvalidArgument(what + ": version must be at least 1");
  FEDGE_ASSIGN_OR_RETURN(m.length, GetUint(j, "length", what));
  if (m.length > kMaxPayloadBytes) {
    return Status::InvalidArgument(what + ": length " + std::to_string(m.length) +
                                   " is over the metadata limit");
  }
  FEDGE_ASSIGN_OR_RETURN(m.sha256, GetSha256(j, what));
  return m;
}

Result<RoleKeys> RoleKeysFromJson(const Json& roles, Role role, const RootMetadata& root) {
  const std::string what = std::string("root: role ") + RoleName(role);
  FEDGE_ASSIGN_OR_RETURN(const Json* r, GetObject(roles, RoleName(role), "root: roles"));
  FEDGE_ASSIGN_OR_RETURN(const Json* ids, GetArray(*r, "keyids", kMaxKeys, what));
  RoleKeys keys;
  for (const Json& id : *ids) {
    if (!id.is_string()) return Status::InvalidArgument(what + ": key ids must be strings");
    const std::string& s = id.get_ref<const std::string&>();
    if (root.keys.count(s) == 0) {
      return Status::InvalidArgument(what + " lists key id " + Quote(s) +
                                     " that is not in root's keys");
    }
    keys.key_ids.push_back(s);
  }
  FEDGE_ASSIGN_OR_RETURN(uint64_t threshold, GetUint(*r, "threshold", what));
  if (threshold == 0 || threshold > keys.key_ids.size()) {
    return Status::InvalidArgument(what + ": threshold " + std::to_string(threshold) +
                                   " must be between 1 and its " +
                                   std::to_string(keys.key_ids.size()) + " key ids");
  }
  keys.threshold = static_cast<uint32_t>(threshold);
  return keys;
}

Result<Json> CompatibilityJson(const Compatibility& c) {
  if (c.arch.empty() || c.arch.size() > kMaxNameLength) {
    return Status::InvalidArgument("compatibility arch must be 1-255 bytes");
  }
  if (c.input_shape.size() > kMaxShapeRank) {
    return Status::InvalidArgument("compatibility input_shape has more than 8 dimensions");
  }
  FEDGE_RETURN_IF_ERROR(ParseVersionTriple(c.min_client_version).status());
  return Json{{"arch", c.arch},
              {"input_shape", c.input_shape},
              {"min_client_version", c.min_client_version}};
}

Result<Compatibility> CompatibilityFromJson(const Json& j, const std::string& what) {
  Compatibility c;
  FEDGE_ASSIGN_OR_RETURN(c.arch, GetString(j, "arch", kMaxNameLength, what));
  if (c.arch.empty()) return Status::InvalidArgument(what + ": arch is empty");
  FEDGE_ASSIGN_OR_RETURN(const Json* shape, GetArray(j, "input_shape", kMaxShapeRank, what));
  for (const Json& d : *shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > UINT32_MAX) {
      return Status::InvalidArgument(what + ": input_shape holds a non-uint32 dimension");
    }
    c.input_shape.push_back(d.get<uint32_t>());
  }
  FEDGE_ASSIGN_OR_RETURN(c.min_client_version, GetString(j, "min_client_version", 32, what));
  Result<std::array<uint32_t, 3>> v = ParseVersionTriple(c.min_client_version);
  if (!v.ok()) return v.status().WithContext(what);
  return c;
}

Result<TargetInfo> TargetFromJson(const std::string& name, const Json& j) {
  const std::string what = "targets: target " + Quote(name);
  TargetInfo t;
  t.name = name;
  FEDGE_RETURN_IF_ERROR(ValidateName(name, "targets: target name"));
  FEDGE_ASSIGN_OR_RETURN(t.length, GetUint(j, "length", what));
  FEDGE_ASSIGN_OR_RETURN(t.sha256, GetSha256(j, what));
  FEDGE_ASSIGN_OR_RETURN(const Json* custom, GetObject(j, "custom", what));
  FEDGE_ASSIGN_OR_RETURN(t.release_counter, GetUint(*custom, "release_counter", what));
  FEDGE_ASSIGN_OR_RETURN(t.model_id, GetString(*custom, "model_id", kMaxNameLength, what));
  FEDGE_RETURN_IF_ERROR(ValidateName(t.model_id, what + ": model_id"));
  FEDGE_ASSIGN_OR_RETURN(const Json* compat, GetObject(*custom, "compatibility", what));
  FEDGE_ASSIGN_OR_RETURN(t.compatibility, CompatibilityFromJson(*compat, what));
  return t;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRoot:
      return "root";
    case Role::kTargets:
      return "targets";
    case Role::kSnapshot:
      return "snapshot";
    case Role::kTimestamp:
      return "timestamp";
  }
  return "unknown";
}

const RoleKeys& RootMetadata::role(Role r) const {
  switch (r) {
    case Role::kRoot:
      return root;
    case Role::kTargets:
      return targets;
    case Role::kSnapshot:
      return snapshot;
    case Role::kTimestamp:
      return timestamp;
  }
  return root;
}

Result<std::array<uint32_t, 3>> ParseVersionTriple(std::string_view text) {
  std::array<uint32_t, 3> v{};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    if (i > 0 && (p == end || *p++ != '.')) break;
    auto [next, ec] = std::from_chars(p, end, v[i]);
    if (ec != std::errc() || next == p || next - p > 6) break;
    p = next;
    if (i == 2 && p == end) return v;
  }
  return Status::InvalidArgument("version " + Quote(text) + " is not MAJOR.MINOR.PATCH");
}

Result<std::string> EncodePayload(const RootMetadata& root) {
  FEDGE_RETURN_IF_ERROR(ValidateVersion(root.version, Role::kRoot));
  Json j = Header("root", root.version, root.expires);
  Json keys = Json::object();
  for (const auto& [id, key] : root.keys) {
    if (id != key.key_id())
      return Status::InvalidArgument("root: key id " + id + " is not its key's");
    keys[id] = Json{{"keytype", kKeyTypeEd25519}, {"public", ToHex(key.raw())}};
  }
  j["keys"] = std::move(keys);
  Json roles = Json::object();
  for (Role r : kRoles) {
    const RoleKeys& rk = root.role(r);
    if (rk.threshold == 0 || rk.threshold > rk.key_ids.size()) {
      return Status::InvalidArgument(std::string("root: role ") + RoleName(r) +
                                     " needs a threshold between 1 and its number of keys");
    }
    for (const std::string& id : rk.key_ids) {
      if (root.keys.count(id) == 0) {
        return Status::InvalidArgument(std::string("root: role ") + RoleName(r) +
                                       " lists unknown key id " + id);
      }
    }
    roles[RoleName(r)] = Json{{"keyids", rk.key_ids}, {"threshold", rk.threshold}};
  }
  j["roles"] = std::move(roles);
  return CanonicalJson(j);
}

Result<RootMetadata> DecodeRoot(std::string_view payload) {
  FEDGE_ASSIGN_OR_RETURN(auto parsed, ParseHeader(payload, Role::kRoot));
  const Json& j = parsed.first;
  RootMetadata root;
  root.version = parsed.second.version;
  root.expires = parsed.second.expires;
  FEDGE_ASSIGN_OR_RETURN(const Json* keys, GetObject(j, "keys", "root"));
  if (keys->size() > kMaxKeys) return Status::InvalidArgument("root: more than 64 keys");
  for (const auto& [id, entry] : keys->items()) {
    const std::string what = "root: key " + Quote(id);
    FEDGE_ASSIGN_OR_RETURN(std::string type, GetString(entry, "keytype", 32, what));
    if (type != kKeyTypeEd25519) {
      return Status::InvalidArgument(what + " has unsupported keytype " + Quote(type));
    }
    FEDGE_ASSIGN_OR_RETURN(std::string hex, GetString(entry, "public", 64, what));
    if (!IsLowerHex(hex, 2 * kPublicKeySize)) {
      return Status::InvalidArgument(what + ": public must be 64 lower-case hex characters");
    }
    FEDGE_ASSIGN_OR_RETURN(Digest raw, DigestFromHex(hex));
    Result<PublicKey> key = PublicKey::FromRaw(raw);
    if (!key.ok()) return key.status().WithContext(what);
    if (key->key_id() != id) {
      return Status::InvalidArgument(what + " is not the SHA-256 of its public key");
    }
    root.keys.emplace(id, *key);
  }
  FEDGE_ASSIGN_OR_RETURN(const Json* roles, GetObject(j, "roles", "root"));
  FEDGE_ASSIGN_OR_RETURN(root.root, RoleKeysFromJson(*roles, Role::kRoot, root));
  FEDGE_ASSIGN_OR_RETURN(root.targets, RoleKeysFromJson(*roles, Role::kTargets, root));
  FEDGE_ASSIGN_OR_RETURN(root.snapshot, RoleKeysFromJson(*roles, Role::kSnapshot, root));
  FEDGE_ASSIGN_OR_RETURN(root.timestamp, RoleKeysFromJson(*roles, Role::kTimestamp, root));
  return root;
}

Result<std::string> EncodePayload(const TargetsMetadata& targets) {
  FEDGE_RETURN_IF_ERROR(ValidateVersion(targets.version, Role::kTargets));
  if (targets.targets.size() > kMaxTargets) {
    return Status::InvalidArgument("targets: more than 4096 targets");
  }
  Json j = Header("targets", targets.version, targets.expires);
  Json list = Json::object();
  for (const auto& [name, t] : targets.targets) {
    if (name != t.name) return Status::InvalidArgument("targets: map key is not its target's name");
    FEDGE_RETURN_IF_ERROR(ValidateName(name, "targets: target name"));
    FEDGE_RETURN_IF_ERROR(ValidateName(t.model_id, "targets: model_id"));
    FEDGE_ASSIGN_OR_RETURN(Json compat, CompatibilityJson(t.compatibility));
    list[name] = Json{{"length", t.length},
                      {"hashes", Json{{"sha256", ToHex(t.sha256)}}},
                      {"custom", Json{{"release_counter", t.release_counter},
                                      {"model_id", t.model_id},
                                      {"compatibility", std::move(compat)}}}};
  }
  j["targets"] = std::move(list);
  return CanonicalJson(j);
}

Result<TargetsMetadata> DecodeTargets(std::string_view payload) {
  FEDGE_ASSIGN_OR_RETURN(auto parsed, ParseHeader(payload, Role::kTargets));
  TargetsMetadata targets;
  targets.version = parsed.second.version;
  targets.expires = parsed.second.expires;
  FEDGE_ASSIGN_OR_RETURN(const Json* list, GetObject(parsed.first, "targets", "targets"));
  if (list->size() > kMaxTargets) return Status::InvalidArgument("targets: more than 4096 targets");
  for (const auto& [name, entry] : list->items()) {
    FEDGE_ASSIGN_OR_RETURN(TargetInfo t, TargetFromJson(name, entry));
    targets.targets.emplace(name, std::move(t));
  }
  return targets;
}

Result<std::string> EncodePayload(const SnapshotMetadata& snapshot) {
  FEDGE_RETURN_IF_ERROR(ValidateVersion(snapshot.version, Role::kSnapshot));
  Json j = Header("snapshot", snapshot.version, snapshot.expires);
  j["meta"] = Json{{"targets", MetaFileJson(snapshot.targets)}};
  return CanonicalJson(j);
}

Result<SnapshotMetadata> DecodeSnapshot(std::string_view payload) {
  FEDGE_ASSIGN_OR_RETURN(auto parsed, ParseHeader(payload, Role::kSnapshot));
  SnapshotMetadata snapshot;
  snapshot.version = parsed.second.version;
  snapshot.expires = parsed.second.expires;
  FEDGE_ASSIGN_OR_RETURN(const Json* meta, GetObject(parsed.first, "meta", "snapshot"));
  FEDGE_ASSIGN_OR_RETURN(const Json* targets, GetObject(*meta, "targets", "snapshot: meta"));
  FEDGE_ASSIGN_OR_RETURN(snapshot.targets, MetaFileFromJson(*targets, "snapshot: meta.targets"));
  return snapshot;
}

Result<std::string> EncodePayload(const TimestampMetadata& timestamp) {
  FEDGE_RETURN_IF_ERROR(ValidateVersion(timestamp.version, Role::kTimestamp));
  Json j = Header("timestamp", timestamp.version, timestamp.expires);
  j["meta"] = Json{{"snapshot", MetaFileJson(timestamp.snapshot)}};
  return CanonicalJson(j);
}

Result<TimestampMetadata> DecodeTimestamp(std::string_view payload) {
  FEDGE_ASSIGN_OR_RETURN(auto parsed, ParseHeader(payload, Role::kTimestamp));
  TimestampMetadata timestamp;
  timestamp.version = parsed.second.version;
  timestamp.expires = parsed.second.expires;
  FEDGE_ASSIGN_OR_RETURN(const Json* meta, GetObject(parsed.first, "meta", "timestamp"));
  FEDGE_ASSIGN_OR_RETURN(const Json* snap, GetObject(*meta, "snapshot", "timestamp: meta"));
  FEDGE_ASSIGN_OR_RETURN(timestamp.snapshot, MetaFileFromJson(*snap, "timestamp: meta.snapshot"));
  return timestamp;
}

}  // namespace fedge::shared::release
