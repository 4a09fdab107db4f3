#include "coordinator/release_tools.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/weights/arch.h"
#include "shared/ml/weights/prune.h"
#include "shared/release/envelope.h"
#include "shared/release/repository.h"

namespace fedge::coordinator {

namespace fs = std::filesystem;
namespace rel = shared::release;
using shared::Result;
using shared::Status;

namespace {

Status MakeDir(const std::string& dir, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  fs::permissions(dir, perms, ec);
  return Status::Ok();
}

std::vector<rel::Role> AllRoles() {
  return {rel::Role::kRoot, rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp};
}

Result<std::vector<rel::PublicKey>> GenerateRoleKeys(const std::string& key_dir, rel::Role role,
                                                     uint32_t count) {
  std::vector<rel::PublicKey> keys;
  for (uint32_t i = 0; i < count; ++i) {
    FEDGE_ASSIGN_OR_RETURN(rel::PrivateKey key, rel::PrivateKey::Generate());
    std::string path =
        key_dir + "/" + rel::RoleName(role) + "-" + key.key_id().substr(0, 16) + ".key";
    FEDGE_RETURN_IF_ERROR(key.Save(path));
    keys.push_back(key.public_key());
  }
  return keys;
}

rel::RoleSpec KeepRole(const rel::RootMetadata& root, rel::Role role) {
  rel::RoleSpec spec;
  const rel::RoleKeys& r = root.role(role);
  for (const std::string& id : r.key_ids) spec.keys.push_back(root.keys.at(id));
  spec.threshold = r.threshold;
  return spec;
}

rel::RoleSpec& SpecRole(rel::RootSpec& spec, rel::Role role) {
  switch (role) {
    case rel::Role::kRoot:
      return spec.root;
    case rel::Role::kTargets:
      return spec.targets;
    case rel::Role::kSnapshot:
      return spec.snapshot;
    case rel::Role::kTimestamp:
      break;
  }
  return spec.timestamp;
}

// Valid signatures by distinct keys `root` lists for `role`.
uint32_t CountSignatures(const rel::Envelope& env, const rel::RootMetadata& root, rel::Role role) {
  const rel::RoleKeys& r = root.role(role);
  const std::string message = rel::SigningMessage(env.payload());
  const auto* m = reinterpret_cast<const uint8_t*>(message.data());
  std::set<std::string> valid;
  for (const rel::Signature& s : env.signatures()) {
    if (std::find(r.key_ids.begin(), r.key_ids.end(), s.key_id) == r.key_ids.end()) continue;
    auto key = root.keys.find(s.key_id);
    if (key != root.keys.end() && key->second.Verify({m, message.size()}, s.sig)) {
      valid.insert(s.key_id);
    }
  }
  return static_cast<uint32_t>(valid.size());
}

// Signs `env` with every key of `keys` that `root` lists for the root role; returns how many.
Result<uint32_t> SignAsRoot(rel::Envelope& env, const rel::RootMetadata& root,
                            const std::map<std::string, rel::PrivateKey>& keys) {
  uint32_t n = 0;
  for (const std::string& id : root.root.key_ids) {
    auto key = keys.find(id);
    if (key == keys.end()) continue;
    FEDGE_RETURN_IF_ERROR(env.AddSignature(key->second));
    ++n;
  }
  return n;
}

Result<rel::RootMetadata> DecodeRootFile(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(path));
  return rel::DecodeRoot(env.payload());
}

// Writes `next` (root `version`, rotating from `current`) as complete or pending.
Result<RotateResult> FinishRotation(const std::string& repo, const rel::RootMetadata& current,
                                    const rel::Envelope& next, uint64_t version) {
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata meta, rel::DecodeRoot(next.payload()));
  RotateResult r;
  r.version = version;
  const uint32_t old_n = CountSignatures(next, current, rel::Role::kRoot);
  const uint32_t new_n = CountSignatures(next, meta, rel::Role::kRoot);
  r.detail = "signed by " + std::to_string(old_n) + " of the " +
             std::to_string(current.root.threshold) + " required old root keys (version " +
             std::to_string(current.version) + ") and " + std::to_string(new_n) + " of the " +
             std::to_string(meta.root.threshold) + " required new root keys";
  const std::string base = RepoMetadataPath(repo, std::to_string(version) + ".root.json");
  if (rel::CheckRootRotation(current, next).ok()) {
    FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(base, next));
    FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(RepoMetadataPath(repo, "root.json"), next));
    std::error_code ec;
    fs::remove(base + ".pending", ec);
    r.complete = true;
    r.file = base;
  } else {
    FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(base + ".pending", next));
    r.file = base + ".pending";
    r.detail +=
        "; the threshold cannot be met with the keys at hand: other root key holders "
        "must run `fedgectl keys sign-root` on " +
        r.file;
  }
  return r;
}

}  // namespace

std::string RepoMetadataPath(const std::string& repo, const std::string& file) {
  return repo + "/metadata/" + file;
}

std::string RepoTargetPath(const std::string& repo, const std::string& name) {
  return repo + "/targets/" + name;
}

Result<std::map<std::string, rel::PrivateKey>> LoadKeyDir(const std::string& key_dir) {
  std::error_code ec;
  if (!fs::is_directory(key_dir, ec)) return Status::NotFound("no key directory " + key_dir);
  std::map<std::string, rel::PrivateKey> keys;
  for (const fs::directory_entry& e : fs::directory_iterator(key_dir, ec)) {
    if (e.path().extension() != ".key") continue;
    FEDGE_ASSIGN_OR_RETURN(rel::PrivateKey key, rel::PrivateKey::Load(e.path().string()));
    std::string id = key.key_id();
    keys.emplace(std::move(id), std::move(key));
  }
  if (ec) return Status::IOError("cannot list " + key_dir + ": " + ec.message());
  return keys;
}

Result<rel::RootMetadata> LoadRepoRoot(const std::string& repo) {
  return DecodeRootFile(RepoMetadataPath(repo, "root.json"));
}

Result<rel::RootMetadata> InitKeys(const KeysInitOptions& o) {
  std::error_code ec;
  if (fs::exists(RepoMetadataPath(o.repo, "root.json"), ec)) {
    return Status::AlreadyExists(o.repo + " already has a root; use `fedgectl keys rotate`");
  }
  FEDGE_RETURN_IF_ERROR(MakeDir(o.key_dir, fs::perms::owner_all));
  FEDGE_ASSIGN_OR_RETURN(auto existing, LoadKeyDir(o.key_dir));
  if (!existing.empty()) {
    return Status::AlreadyExists(o.key_dir + " already holds keys; choose an empty directory");
  }
  const std::pair<rel::Role, RoleCount> counts[] = {{rel::Role::kRoot, o.root},
                                                    {rel::Role::kTargets, o.targets},
                                                    {rel::Role::kSnapshot, o.snapshot},
                                                    {rel::Role::kTimestamp, o.timestamp}};
  for (const auto& [role, c] : counts) {
    if (c.keys < 1 || c.threshold < 1 || c.threshold > c.keys) {
      return Status::InvalidArgument(std::string(rel::RoleName(role)) + ": threshold " +
                                     std::to_string(c.threshold) + " must be in 1.." +
                                     std::to_string(c.keys) + " (its number of keys)");
    }
  }
  rel::RootSpec spec;
  spec.expires = o.now + o.expires_days * kDay;
  for (const auto& [role, c] : counts) {
    FEDGE_ASSIGN_OR_RETURN(SpecRole(spec, role).keys, GenerateRoleKeys(o.key_dir, role, c.keys));
    SpecRole(spec, role).threshold = c.threshold;
  }
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope root, rel::MakeRootEnvelope(spec));
  FEDGE_ASSIGN_OR_RETURN(auto keys, LoadKeyDir(o.key_dir));
  for (size_t i = 0; i < o.root.threshold; ++i) {
    FEDGE_RETURN_IF_ERROR(root.AddSignature(keys.at(spec.root.keys[i].key_id())));
  }
  FEDGE_RETURN_IF_ERROR(MakeDir(o.repo + "/metadata", fs::perms(0755)));
  FEDGE_RETURN_IF_ERROR(MakeDir(o.repo + "/targets", fs::perms(0755)));
  FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(RepoMetadataPath(o.repo, "1.root.json"), root));
  FEDGE_RETURN_IF_ERROR(rel::WriteEnvelope(RepoMetadataPath(o.repo, "root.json"), root));
  return rel::DecodeRoot(root.payload());
}

Result<RotateResult> RotateKeys(const RotateOptions& o) {
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata current, LoadRepoRoot(o.repo));
  const uint64_t version = current.version + 1;
  std::error_code ec;
  const std::string pending = RepoMetadataPath(o.repo, std::to_string(version) + ".root.json");
  if (fs::exists(pending + ".pending", ec)) {
    return Status::AlreadyExists("a rotation to root version " + std::to_string(version) +
                                 " is pending (" + pending +
                                 ".pending): sign it with `fedgectl keys sign-root`");
  }
  rel::RootSpec spec;
  spec.expires = o.now + o.expires_days * kDay;
  for (rel::Role role : AllRoles()) SpecRole(spec, role) = KeepRole(current, role);
  for (const std::string& name : o.replace_roles) {
    std::optional<rel::Role> role;
    for (rel::Role r : AllRoles()) {
      if (name == rel::RoleName(r)) role = r;
    }
    if (!role) {
      return Status::InvalidArgument("--replace-role: unknown role '" + name +
                                     "' (root, targets, snapshot or timestamp)");
    }
    const auto count = static_cast<uint32_t>(SpecRole(spec, *role).keys.size());
    FEDGE_ASSIGN_OR_RETURN(SpecRole(spec, *role).keys, GenerateRoleKeys(o.key_dir, *role, count));
  }
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope next, rel::RotateRoot(current, spec));
  FEDGE_ASSIGN_OR_RETURN(auto keys, LoadKeyDir(o.key_dir));
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata meta, rel::DecodeRoot(next.payload()));
  FEDGE_RETURN_IF_ERROR(SignAsRoot(next, current, keys).status());
  FEDGE_RETURN_IF_ERROR(SignAsRoot(next, meta, keys).status());
  return FinishRotation(o.repo, current, next, version);
}

Result<RotateResult> SignPendingRoot(const std::string& repo, const std::string& key_dir) {
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata current, LoadRepoRoot(repo));
  const uint64_t version = current.version + 1;
  const std::string path = RepoMetadataPath(repo, std::to_string(version) + ".root.json.pending");
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no pending root rotation (" + path + ")");
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope next, rel::ReadEnvelope(path));
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata meta, rel::DecodeRoot(next.payload()));
  FEDGE_ASSIGN_OR_RETURN(auto keys, LoadKeyDir(key_dir));
  FEDGE_ASSIGN_OR_RETURN(uint32_t a, SignAsRoot(next, current, keys));
  FEDGE_ASSIGN_OR_RETURN(uint32_t b, SignAsRoot(next, meta, keys));
  if (a + b == 0) return Status::NotFound(key_dir + " holds none of the old or new root keys");
  return FinishRotation(repo, current, next, version);
}

namespace {
// The recipe of a version pruned in the registry (RoundEngine::PruneHead) and fine-tuned in
// federation since: its record's metrics["prune"], which rounds carry forward. False if the
// version was not pruned there (or the block is not what PruneHead writes).
bool RegistryPruneRecipe(const ModelRecord& record, ml::ArtifactRecipe* recipe) {
  auto it = record.metrics.find("prune");
  if (it == record.metrics.end() || !it->is_object()) return false;
  const nlohmann::json& p = *it;
  const auto is = [&p](const char* key, nlohmann::json::value_t type) {
    return p.contains(key) && p.at(key).type() == type;
  };
  using T = nlohmann::json::value_t;
  if (!p.contains("fraction") || !p.at("fraction").is_number() || !is("hidden", T::boolean) ||
      !is("from", T::number_unsigned) || !is("fine_tune_rounds", T::number_unsigned)) {
    return false;
  }
  const double fraction = p.at("fraction").get<double>();
  if (!(fraction > 0 && fraction < 1)) return false;
  recipe->prune_method = "l1_channels";
  recipe->prune_fraction = fraction;
  recipe->prune_hidden = p.at("hidden").get<bool>();
  recipe->fine_tuning = "federated, " + std::to_string(p.at("fine_tune_rounds").get<uint64_t>()) +
                        " round(s) since registry version " +
                        std::to_string(p.at("from").get<uint64_t>()) + " was pruned";
  return true;
}
}  // namespace

Result<ml::Artifact> BuildArtifact(const ExportedModel& model,
                                   const std::vector<uint8_t>& drift_profile,
                                   const BuildOptions& o) {
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(model.blob));
  ml::Artifact a;
  a.arch = model.record.arch;
  const bool pruned_in_registry = RegistryPruneRecipe(model.record, &a.recipe);
  if (o.prune_fraction > 0) {  // a width-variant arch (pruned before) can be pruned again
    FEDGE_ASSIGN_OR_RETURN(ml::Pruned pruned,
                           ml::PruneChannels(a.arch, state, {o.prune_fraction, o.prune_hidden}));
    a.arch = pruned.arch;
    state = std::move(pruned.state);
    a.recipe.prune_method = "l1_channels";
    a.recipe.prune_fraction = o.prune_fraction;
    a.recipe.prune_hidden = o.prune_hidden;
    a.recipe.fine_tuning =
        pruned_in_registry
            ? "none since this pruning (before it: " + a.recipe.fine_tuning + ")"
            : "none (federated fine-tuning of the pruned architecture is next: fedgectl model "
              "prune)";
  }
  FEDGE_ASSIGN_OR_RETURN(ml::QuantScheme scheme, ml::ParseQuantScheme(o.quantization));
  a.recipe.quantization = std::string(ml::QuantSchemeName(scheme));
  FEDGE_ASSIGN_OR_RETURN(a.tensors, ml::QuantizeBundle(state, scheme));
  FEDGE_ASSIGN_OR_RETURN(ml::ArchInfo info, ml::ParseArch(a.arch));
  a.input_shape = {info.channels, info.height, info.width};
  a.num_classes = info.num_classes;
  a.drift_profile = drift_profile;
  a.model_id = o.model_id;
  a.version = o.counter;
  a.parent_version = o.parent;
  a.created_unix = o.now;
  for (const auto& [key, value] : model.record.metrics.items()) {
    if (value.is_number()) a.metrics[key] = value.get<double>();
  }
  a.metrics["registry_version"] = static_cast<double>(model.record.version);
  a.compatibility.arch = a.arch;
  a.compatibility.input_shape.assign(a.input_shape.begin(), a.input_shape.end());
  a.compatibility.min_client_version = o.min_client_version;
  FEDGE_RETURN_IF_ERROR(ml::ValidateArtifact(a));
  return a;
}

Result<std::string> SignRole(const std::string& repo, const std::string& key_dir, rel::Role role) {
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata root, LoadRepoRoot(repo));
  FEDGE_ASSIGN_OR_RETURN(auto keys, LoadKeyDir(key_dir));
  const std::string path = RepoMetadataPath(repo, std::string(rel::RoleName(role)) + ".json");
  uint32_t signed_now = 0;
  for (const std::string& id : root.role(role).key_ids) {
    auto key = keys.find(id);
    if (key == keys.end()) continue;
    FEDGE_RETURN_IF_ERROR(rel::SignFile(path, key->second));
    ++signed_now;
  }
  if (signed_now == 0) {
    return Status::NotFound(key_dir + " holds none of the " + rel::RoleName(role) +
                            " keys root version " + std::to_string(root.version) + " lists");
  }
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(path));
  return "added " + std::to_string(signed_now) + " signature(s) to " + path + ": now " +
         std::to_string(CountSignatures(env, root, role)) + " of the " +
         std::to_string(root.role(role).threshold) + " required";
}

Result<RepoSummary> SummarizeRepo(const std::string& repo) {
  FEDGE_ASSIGN_OR_RETURN(rel::RootMetadata root, LoadRepoRoot(repo));
  RepoSummary out;
  FEDGE_ASSIGN_OR_RETURN(rel::Envelope root_env,
                         rel::ReadEnvelope(RepoMetadataPath(repo, "root.json")));
  out.roles.push_back({"root", root.version, CountSignatures(root_env, root, rel::Role::kRoot),
                       root.root.threshold, root.expires});
  std::error_code ec;
  for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
    const std::string path = RepoMetadataPath(repo, std::string(rel::RoleName(role)) + ".json");
    if (!fs::exists(path, ec)) continue;
    FEDGE_ASSIGN_OR_RETURN(rel::Envelope env, rel::ReadEnvelope(path));
    RepoSummary::RoleState s{rel::RoleName(role), 0, CountSignatures(env, root, role),
                             root.role(role).threshold, 0};
    if (role == rel::Role::kTargets) {
      FEDGE_ASSIGN_OR_RETURN(rel::TargetsMetadata t, rel::DecodeTargets(env.payload()));
      s.version = t.version;
      s.expires = t.expires;
      for (const auto& [name, info] : t.targets) {
        ReleaseRow row{info.release_counter,
                       name,
                       info.length,
                       info.model_id,
                       info.compatibility.arch,
                       "-",
                       0};
        auto bytes = shared::ReadFile(RepoTargetPath(repo, name), 1u << 30);
        auto a = bytes.ok() ? ml::DecodeArtifact(*bytes) : Result<ml::Artifact>(bytes.status());
        if (a.ok()) {
          const ml::ArtifactRecipe& r = a->recipe;
          char buf[32];
          std::snprintf(buf, sizeof(buf), " %.2f", r.prune_fraction);
          row.recipe =
              (r.prune_method.empty() ? "dense" : r.prune_method + buf) + ", " + r.quantization;
          auto v = a->metrics.find("registry_version");
          if (v != a->metrics.end()) row.registry_version = static_cast<uint64_t>(v->second);
        }
        out.releases.push_back(row);
      }
    } else if (role == rel::Role::kSnapshot) {
      FEDGE_ASSIGN_OR_RETURN(rel::SnapshotMetadata m, rel::DecodeSnapshot(env.payload()));
      s.version = m.version;
      s.expires = m.expires;
    } else {
      FEDGE_ASSIGN_OR_RETURN(rel::TimestampMetadata m, rel::DecodeTimestamp(env.payload()));
      s.version = m.version;
      s.expires = m.expires;
    }
    out.roles.push_back(s);
  }
  std::sort(out.releases.begin(), out.releases.end(),
            [](const ReleaseRow& a, const ReleaseRow& b) { return a.counter < b.counter; });
  return out;
}

}  // namespace fedge::coordinator
