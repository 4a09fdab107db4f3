#include "client/updater.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "shared/crypto/crypto.h"
#include "shared/ml/weights/arch.h"
#include "shared/release/envelope.h"
#include "shared/release/updater.h"

namespace fedge::client {

namespace fs = std::filesystem;
namespace rel = shared::release;
using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

std::string ReleaseDir(const std::string& state_dir) { return state_dir + "/release"; }

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Result<json> ReadJson(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(path, 1 << 16));
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(path + " is not a JSON object");
  return j;
}

// The bundle for Updater::Refresh: newer roots (N+1.root.json, ... until one is missing), then
// timestamp, snapshot and targets.
Result<rel::ReleaseBundle> FetchBundle(ReleaseSource& source, uint64_t trusted_root) {
  rel::ReleaseBundle b;
  for (uint64_t v = trusted_root + 1; b.roots.size() < rel::kMaxRootRotationsPerUpdate; ++v) {
    Result<std::vector<uint8_t>> r =
        source.ReadMetadata(std::to_string(v) + ".root.json", rel::kMaxEnvelopeBytes);
    if (!r.ok() && r.status().code() == shared::Code::kNotFound) break;
    FEDGE_RETURN_IF_ERROR(r.status());
    b.roots.push_back(std::move(*r));
  }
  FEDGE_ASSIGN_OR_RETURN(b.timestamp,
                         source.ReadMetadata("timestamp.json", rel::kMaxEnvelopeBytes));
  FEDGE_ASSIGN_OR_RETURN(b.snapshot, source.ReadMetadata("snapshot.json", rel::kMaxEnvelopeBytes));
  FEDGE_ASSIGN_OR_RETURN(b.targets, source.ReadMetadata("targets.json", rel::kMaxEnvelopeBytes));
  return b;
}

// Installs the verified `bytes` of `target` into the inactive slot, health-checks it, records
// its counter in the trusted state and only then flips. Recording first means no crash can leave
// a release active whose counter the anti-rollback check does not know.
Status Install(SlotStore& slots, rel::Updater& updater, const rel::TargetInfo& target,
               const std::vector<uint8_t>& bytes, const UpdateOptions& o, UpdateOutcome* out) {
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact artifact, ml::DecodeArtifact(bytes));
  if (artifact.arch != target.compatibility.arch || artifact.version != target.release_counter) {
    return Status::InvalidArgument("artifact \"" + target.name + "\" is " + artifact.arch +
                                   " counter " + std::to_string(artifact.version) +
                                   " but targets lists " + target.compatibility.arch + " counter " +
                                   std::to_string(target.release_counter));
  }
  FEDGE_ASSIGN_OR_RETURN(std::string id, slots.Inactive());
  SlotStore::Slot meta{id, target.name, target.release_counter, shared::ToHex(target.sha256)};
  FEDGE_RETURN_IF_ERROR(slots.Write(id, meta, bytes));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> stored, slots.Read(id));
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact loaded, ml::DecodeArtifact(stored));
  FEDGE_RETURN_IF_ERROR(HealthCheck(loaded, o.health_frames, o.latency_budget_ms,
                                    &out->median_latency_ms, o.health_inputs)
                            .WithContext("health check of \"" + target.name + "\""));
  FEDGE_RETURN_IF_ERROR(updater.RecordInstalled(target));
  return slots.Activate(id);
}

// The trusted state under <state_dir>/release, started from the kit's root on first use.
Result<rel::Updater> OpenUpdater(const UpdateOptions& o) {
  const std::string dir = ReleaseDir(o.state_dir);
  std::vector<uint8_t> initial_root;
  std::error_code ec;
  if (!fs::exists(dir + "/" + rel::kStateFileName, ec)) {
    if (o.initial_root_path.empty()) {
      return Status::InvalidArgument(
          "no trusted root yet: set [update] root to the root "
          "metadata file from the startup kit (1.root.json)");
    }
    FEDGE_ASSIGN_OR_RETURN(initial_root, shared::ReadFile(o.initial_root_path, 1 << 22));
  }
  return rel::Updater::Open({dir, o.max_artifact_bytes, o.clock}, initial_root);
}

// What `target` must suit: this client's input shape and version, and its architectures (the
// target's own width variant when its base is one of them).
rel::ClientDescription ClientFor(const rel::TargetInfo& target, const UpdateOptions& o) {
  rel::ClientDescription client{{}, o.input_shape, kClientVersion};
  Result<ml::ArchInfo> info = ml::ParseArch(target.compatibility.arch);
  if (info.ok() && std::count(o.arch_bases.begin(), o.arch_bases.end(), info->base) > 0) {
    client.archs.push_back(target.compatibility.arch);
  } else {
    client.archs = o.arch_bases;
  }
  return client;
}

// Refresh from `source`, pick the target (o.target, or the highest counter) and check it before
// anything is downloaded.
Result<ReleaseCheck> Prepare(rel::Updater& updater, const SlotStore& slots, ReleaseSource& source,
                             const UpdateOptions& o) {
  FEDGE_ASSIGN_OR_RETURN(rel::ReleaseBundle bundle,
                         FetchBundle(source, updater.state().root.meta.version));
  FEDGE_RETURN_IF_ERROR(updater.Refresh(bundle));
  const rel::TargetInfo* newest = nullptr;
  for (const auto& [name, t] : updater.state().targets->meta.targets) {
    if (!o.target.empty()) {
      if (name == o.target) newest = &t;
    } else if (newest == nullptr || t.release_counter > newest->release_counter) {
      newest = &t;
    }
  }
  if (newest == nullptr) {
    return Status::NotFound(o.target.empty()
                                ? "the repository lists no release"
                                : "the signed targets list no release \"" + o.target + "\"");
  }
  ReleaseCheck check;
  check.target = *newest;
  FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> current, slots.Active());
  if (current && current->target == newest->name && current->counter == newest->release_counter) {
    check.up_to_date = true;
    return check;
  }
  FEDGE_ASSIGN_OR_RETURN(check.target, updater.CheckTarget(newest->name, ClientFor(*newest, o)));
  if (check.target.length > o.max_artifact_bytes) {
    return Status::ResourceExhausted(
        "artifact \"" + check.target.name + "\": targets lists " +
        std::to_string(check.target.length) + " bytes, over this client's limit of " +
        std::to_string(o.max_artifact_bytes) + " ([update] max_artifact_mb)");
  }
  return check;
}

}  // namespace

Result<std::vector<uint8_t>> DirectoryReleaseSource::ReadMetadata(const std::string& name,
                                                                  size_t max_bytes) {
  return shared::ReadFile(repo_ + "/metadata/" + name, max_bytes);
}

Result<std::unique_ptr<rel::ByteSource>> DirectoryReleaseSource::OpenArtifact(
    const std::string& name) {
  FEDGE_ASSIGN_OR_RETURN(auto file, rel::FileSource::Open(repo_ + "/targets/" + name));
  return std::unique_ptr<rel::ByteSource>(std::move(file));
}

Result<std::vector<uint8_t>> MemoryReleaseSource::ReadMetadata(const std::string& name,
                                                               size_t max_bytes) {
  auto it = metadata_.find(name);
  if (it == metadata_.end()) return Status::NotFound("the release offer has no " + name);
  if (it->second.size() > max_bytes) {
    return Status::ResourceExhausted(name + " is over " + std::to_string(max_bytes) + " bytes");
  }
  return it->second;
}

namespace {
// Reads a byte vector as a stream (the verifier caps and hashes it).
class VectorSource : public rel::ByteSource {
 public:
  explicit VectorSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    const size_t n = std::min(out.size(), bytes_.size() - pos_);
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_), n, out.begin());
    pos_ += n;
    return n;
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
};
}  // namespace

Result<std::unique_ptr<rel::ByteSource>> MemoryReleaseSource::OpenArtifact(
    const std::string& name) {
  auto it = artifacts_.find(name);
  if (it == artifacts_.end()) return Status::NotFound("the artifact " + name + " was not fetched");
  return std::unique_ptr<rel::ByteSource>(std::make_unique<VectorSource>(it->second));
}

Result<std::optional<SlotStore::Slot>> SlotStore::Describe(const std::string& id) const {
  const std::string path = dir_ + "/slot-" + id + "/target.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<Slot>();
  FEDGE_ASSIGN_OR_RETURN(json j, ReadJson(path));
  Slot s;
  s.id = id;
  s.target = j.value("target", "");
  s.counter = j.value("counter", uint64_t{0});
  s.sha256_hex = j.value("sha256", "");
  return std::optional<Slot>(s);
}

Result<std::optional<SlotStore::Slot>> SlotStore::Active() const {
  Result<std::vector<uint8_t>> p = shared::ReadFile(dir_ + "/active", 16);
  if (!p.ok() && p.status().code() == shared::Code::kNotFound) return std::optional<Slot>();
  FEDGE_RETURN_IF_ERROR(p.status());
  std::string id(p->begin(), p->end());
  if (id != "a\n" && id != "b\n") return Status::Corruption(dir_ + "/active names no slot");
  id.pop_back();
  FEDGE_ASSIGN_OR_RETURN(std::optional<Slot> s, Describe(id));
  if (!s) return Status::Corruption(dir_ + "/active names slot " + id + ", which is empty");
  return s;
}

Result<std::string> SlotStore::Inactive() const {
  FEDGE_ASSIGN_OR_RETURN(std::optional<Slot> active, Active());
  return std::string(active && active->id == "a" ? "b" : "a");
}

Status SlotStore::Write(const std::string& id, const Slot& meta,
                        const std::vector<uint8_t>& artifact) {
  const std::string slot = dir_ + "/slot-" + id;
  std::error_code ec;
  fs::create_directories(slot, ec);
  if (ec) return Status::IOError("cannot create " + slot + ": " + ec.message());
  // The description first: a slot whose artifact does not match it fails Read (never used).
  const std::string desc =
      json{{"target", meta.target}, {"counter", meta.counter}, {"sha256", meta.sha256_hex}}.dump();
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(slot + "/target.json", Bytes(desc), 0644));
  return shared::WriteFileAtomic(slot + "/artifact.fdga", artifact, 0644);
}

Result<std::vector<uint8_t>> SlotStore::Read(const std::string& id) const {
  const std::string slot = dir_ + "/slot-" + id;
  FEDGE_ASSIGN_OR_RETURN(json j, ReadJson(slot + "/target.json"));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                         shared::ReadFile(slot + "/artifact.fdga", 1u << 30));
  const shared::Digest d = shared::Sha256(bytes);
  if (shared::ToHex(d) != j.value("sha256", "")) {
    return Status::Corruption(slot + "/artifact.fdga does not match its recorded SHA-256");
  }
  return bytes;
}

Status SlotStore::Activate(const std::string& id) {
  return shared::WriteFileAtomic(dir_ + "/active", Bytes(id + "\n"), 0644);
}

Status HealthCheck(const ml::Artifact& artifact, int frames, double budget_ms, double* median_ms,
                   const std::vector<float>& inputs) {
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, ml::ArtifactState(artifact));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(artifact.arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  const int64_t n = model.input_channels() * model.input_height() * model.input_width();
  std::mt19937 rng(12345);
  std::normal_distribution<float> pixel(0.f, 1.f);
  std::vector<float> input(static_cast<size_t>(n));
  std::vector<double> latencies;
  const size_t recorded = inputs.size() / static_cast<size_t>(n);
  for (int i = 0; i < std::max(frames, 1); ++i) {
    if (recorded > 0) {
      const size_t k = static_cast<size_t>(i) % recorded;
      std::copy_n(inputs.begin() + static_cast<std::ptrdiff_t>(k * static_cast<size_t>(n)), n,
                  input.begin());
    } else {
      for (float& v : input) v = pixel(rng);
    }
    std::vector<float> probabilities;
    auto start = std::chrono::steady_clock::now();
    FEDGE_ASSIGN_OR_RETURN(std::vector<ml::Prediction> p, model.Predict(input, 1, &probabilities));
    latencies.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    for (float v : probabilities) {
      if (!std::isfinite(v)) return Status::InvalidArgument("the model's outputs are not finite");
    }
  }
  std::sort(latencies.begin(), latencies.end());
  *median_ms = latencies[latencies.size() / 2];
  if (*median_ms > budget_ms) {
    return Status::DeadlineExceeded("median latency " + std::to_string(*median_ms) +
                                    " ms is over the budget of " + std::to_string(budget_ms) +
                                    " ms");
  }
  return Status::Ok();
}

Result<ReleaseCheck> CheckRelease(ReleaseSource& source, const UpdateOptions& o) {
  FEDGE_ASSIGN_OR_RETURN(rel::Updater updater, OpenUpdater(o));
  SlotStore slots(ReleaseDir(o.state_dir));
  return Prepare(updater, slots, source, o);
}

Result<UpdateOutcome> RunUpdate(ReleaseSource& source, const UpdateOptions& o) {
  const std::string dir = ReleaseDir(o.state_dir);
  FEDGE_ASSIGN_OR_RETURN(rel::Updater updater, OpenUpdater(o));
  SlotStore slots(dir);
  UpdateOutcome out;
  Status s = [&]() -> Status {
    FEDGE_ASSIGN_OR_RETURN(ReleaseCheck check, Prepare(updater, slots, source, o));
    out.target = check.target.name;
    out.counter = check.target.release_counter;
    if (check.up_to_date) {
      out.up_to_date = true;
      return Status::Ok();
    }
    const rel::TargetInfo& target = check.target;
    FEDGE_ASSIGN_OR_RETURN(auto stream, source.OpenArtifact(target.name));
    std::vector<uint8_t> bytes;
    FEDGE_RETURN_IF_ERROR(
        updater.VerifyRelease(target.name, ClientFor(target, o), *stream, &bytes).status());
    FEDGE_RETURN_IF_ERROR(Install(slots, updater, target, bytes, o, &out));
    out.installed = true;
    return Status::Ok();
  }();
  if (!s.ok()) out.error = s.message();
  FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> active, slots.Active());
  if (active) out.slot = active->id;
  const std::string status = UpdateOutcomeJson(out);
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(dir + "/status.json", Bytes(status), 0644));
  return out;
}

std::string UpdateOutcomeJson(const UpdateOutcome& o) {
  json j{{"installed", o.installed},
         {"up_to_date", o.up_to_date},
         {"target", o.target},
         {"release_counter", o.counter},
         {"active_slot", o.slot},
         {"error", o.error},
         {"median_latency_ms", o.median_latency_ms},
         {"checked_unix", rel::SystemNow()}};
  return j.dump();
}

namespace {
// Why the other slot `other` may not become active after `active` (empty: it may): it must be an
// older release that the trusted, signed targets still list with the same counter and SHA-256,
// and its bytes must still match.
std::string RevertRefusal(const rel::Updater& updater, const SlotStore& slots,
                          const SlotStore::Slot& active,
                          const std::optional<SlotStore::Slot>& other) {
  const std::string keep = "; keeping " + active.target;
  if (!other || other->counter >= active.counter) {
    return "no earlier signed release is installed to go back to (a site that runs a signed "
           "release never returns to an unsigned model on the coordinator's word)" +
           keep;
  }
  const auto& listed = updater.state().targets->meta.targets;
  auto it = listed.find(other->target);
  if (it == listed.end() || it->second.release_counter != other->counter ||
      shared::ToHex(it->second.sha256) != other->sha256_hex) {
    return "the release before it, " + other->target + " (counter " +
           std::to_string(other->counter) + "), is not in the signed targets any more (withdrawn)" +
           keep;
  }
  if (Result<std::vector<uint8_t>> bytes = slots.Read(other->id); !bytes.ok()) {
    return "the release before it cannot be read: " + bytes.status().message() + keep;
  }
  return "";
}
}  // namespace

Result<RevertOutcome> RevertRelease(ReleaseSource* source, const UpdateOptions& o) {
  const std::string dir = ReleaseDir(o.state_dir);
  SlotStore slots(dir);
  RevertOutcome out;
  FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> active, slots.Active());
  if (!active || active->target != o.target) {
    out.reverted = true;  // not running it: nothing to undo
  } else {
    Status s = [&]() -> Status {
      FEDGE_ASSIGN_OR_RETURN(rel::Updater updater, OpenUpdater(o));
      if (source != nullptr) {
        FEDGE_ASSIGN_OR_RETURN(rel::ReleaseBundle bundle,
                               FetchBundle(*source, updater.state().root.meta.version));
        FEDGE_RETURN_IF_ERROR(updater.Refresh(bundle).WithContext("the revert's metadata"));
      }
      if (!updater.state().targets) {
        return Status::NotFound("no signed targets are trusted yet");
      }
      FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> other,
                             slots.Describe(active->id == "a" ? "b" : "a"));
      out.error = RevertRefusal(updater, slots, *active, other);
      if (!out.error.empty()) return Status::Ok();
      FEDGE_RETURN_IF_ERROR(slots.Activate(other->id));
      out.reverted = true;
      return Status::Ok();
    }();
    if (!s.ok()) out.error = s.message() + "; keeping " + active->target;
  }
  FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> now, slots.Active());
  if (now) {
    out.active_target = now->target;
    out.active_counter = now->counter;
  }
  json status{{"reverted", out.reverted ? o.target : ""},
              {"revert_refused", out.error},
              {"active_target", out.active_target},
              {"release_counter", out.active_counter},
              {"checked_unix", rel::SystemNow()}};
  const std::string text = status.dump();
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(dir + "/status.json", Bytes(text), 0644));
  return out;
}

Result<std::optional<ActiveRelease>> LoadActiveRelease(const std::string& state_dir) {
  SlotStore slots(ReleaseDir(state_dir));
  FEDGE_ASSIGN_OR_RETURN(std::optional<SlotStore::Slot> active, slots.Active());
  if (!active) return std::optional<ActiveRelease>();
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, slots.Read(active->id));
  FEDGE_ASSIGN_OR_RETURN(ml::Artifact artifact, ml::DecodeArtifact(bytes));
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, ml::ArtifactState(artifact));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(artifact.arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  auto v = artifact.metrics.find("registry_version");
  const uint64_t registry_version =
      v != artifact.metrics.end() && v->second >= 0 ? static_cast<uint64_t>(v->second) : 0;
  return std::optional<ActiveRelease>(ActiveRelease{std::move(model), active->target,
                                                    active->counter, active->id, registry_version});
}

}  // namespace fedge::client
