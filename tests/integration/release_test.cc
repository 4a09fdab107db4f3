// The release workflow end to end on files: keys and root (fedgectl keys init), artifacts from a
// model (release create), publish and threshold signing (release publish/sign), and the client
// updater installing into A/B slots; then attacks, each refused with its reason while the active
// slot and the model inference loads stay unchanged.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "client/updater.h"
#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/torch/model.h"
#include "shared/release/repository.h"
#include "tests/temp_dir.h"

namespace fedge {
namespace {

namespace rel = shared::release;
using coordinator::BuildOptions;

class ReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = dir_.path() + "/keys";
    repo_ = dir_.path() + "/repo";
    coordinator::KeysInitOptions o;
    o.key_dir = keys_;
    o.repo = repo_;
    o.targets = {2, 2};  // k-of-n for targets: both must sign
    o.now = now_;
    auto root = coordinator::InitKeys(o);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    options_.state_dir = dir_.path() + "/client";
    options_.initial_root_path = repo_ + "/metadata/1.root.json";
    options_.latency_budget_ms = 10000;
    options_.health_frames = 2;
    options_.clock = [this] { return client_now_; };
  }

  coordinator::ExportedModel Model(const std::string& arch, uint64_t version) {
    auto m = ml::Model::Create(arch, version);
    EXPECT_TRUE(m.ok());
    coordinator::ExportedModel e;
    e.blob = *shared::EncodeBundle(m->State());
    e.record.version = version;
    e.record.arch = arch;
    e.record.digest_hex = shared::ToHex(shared::Sha256(e.blob));
    e.record.size_bytes = e.blob.size();
    e.record.metrics = {{"accuracy", 0.5}};
    return e;
  }

  // release create + publish + sign (every role, every key) for `artifact`.
  void PublishAndSign(const ml::Artifact& artifact) {
    auto bytes = ml::EncodeArtifact(artifact);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    const std::string path = dir_.path() + "/out.fdga";
    ASSERT_TRUE(shared::WriteFileAtomic(path, *bytes, 0644).ok());
    coordinator::PublishOptions p;
    p.repo = repo_;
    p.artifact_path = path;
    p.now = now_;
    auto t = coordinator::Publish(p);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    last_name_ = t->name;
    for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
      if (role == rel::Role::kTargets && sign_targets_with_one_key_) {
        auto keys = coordinator::LoadKeyDir(keys_);
        auto root = coordinator::LoadRepoRoot(repo_);
        ASSERT_TRUE(
            rel::SignFile(repo_ + "/metadata/targets.json", keys->at(root->targets.key_ids[0]))
                .ok());
        continue;
      }
      auto s = coordinator::SignRole(repo_, keys_, role);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
    }
  }

  ml::Artifact Build(const std::string& arch, double prune, uint64_t from_version) {
    BuildOptions b;
    b.prune_fraction = prune;
    b.quantization = "int8_per_channel";
    b.counter = *coordinator::HighestReleaseCounter(repo_) + 1;
    b.parent = b.counter - 1;
    b.now = now_;
    auto a = coordinator::BuildArtifact(Model(arch, from_version), {}, b);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return *a;
  }

  client::UpdateOutcome Update() {
    client::DirectoryReleaseSource source(repo_);
    auto out = client::RunUpdate(source, options_);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : client::UpdateOutcome{};
  }

  // Two releases installed: counter 1 (pruned) in slot a, then counter 2 in slot b.
  void InstallTwo() {
    PublishAndSign(Build("cnn_small", 0.5, 1));
    client::UpdateOutcome first = Update();
    ASSERT_TRUE(first.installed) << first.error;
    EXPECT_EQ(first.slot, "a");
    EXPECT_EQ(first.counter, 1u);
    PublishAndSign(Build("cnn_small", 0, 2));
    client::UpdateOutcome second = Update();
    ASSERT_TRUE(second.installed) << second.error;
    EXPECT_EQ(second.slot, "b");
    EXPECT_EQ(second.counter, 2u);
  }

  // The refused update's reason contains `reason`; slot b with counter 2 is still what
  // inference loads, and status.json records the refusal.
  void ExpectRefused(const std::string& reason) {
    client::UpdateOutcome out = Update();
    EXPECT_FALSE(out.installed);
    EXPECT_NE(out.error.find(reason), std::string::npos) << out.error;
    EXPECT_EQ(out.slot, "b");
    auto active = client::LoadActiveRelease(options_.state_dir);
    ASSERT_TRUE(active.ok() && active->has_value()) << active.status().ToString();
    EXPECT_EQ((*active)->counter, 2u);
    EXPECT_EQ((*active)->slot, "b");
    auto status = shared::ReadFile(options_.state_dir + "/release/status.json", 1 << 16);
    ASSERT_TRUE(status.ok());
    EXPECT_NE(std::string(status->begin(), status->end()).find("\"installed\":false"),
              std::string::npos);
  }

  testing::TempDir dir_{"release"};
  std::string keys_, repo_, last_name_;
  int64_t now_ = rel::SystemNow();
  int64_t client_now_ = now_ + 60;
  bool sign_targets_with_one_key_ = false;
  client::UpdateOptions options_;
};

TEST_F(ReleaseTest, InstallsReleasesIntoAlternatingSlots) {
  InstallTwo();
  auto active = client::LoadActiveRelease(options_.state_dir);
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->model.arch(), "cnn_small");
  client::UpdateOutcome again = Update();
  EXPECT_TRUE(again.up_to_date);
  EXPECT_TRUE(again.error.empty()) << again.error;
  auto summary = coordinator::SummarizeRepo(repo_);
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->releases.size(), 2u);
  EXPECT_EQ(summary->releases[0].recipe, "l1_channels 0.50, int8_per_channel");
  for (const auto& role : summary->roles) EXPECT_GE(role.signed_by, role.threshold) << role.role;
}

TEST_F(ReleaseTest, RefusesATamperedArtifact) {
  InstallTwo();
  PublishAndSign(Build("cnn_small", 0, 3));
  const std::string path = repo_ + "/targets/" + last_name_;
  auto bytes = *shared::ReadFile(path, 1 << 30);
  bytes[bytes.size() / 2] ^= 0x5a;
  ASSERT_TRUE(shared::WriteFileAtomic(path, bytes, 0644).ok());
  ExpectRefused("SHA-256 does not match");
}

TEST_F(ReleaseTest, RefusesTargetsBelowTheSignatureThreshold) {
  InstallTwo();
  sign_targets_with_one_key_ = true;
  PublishAndSign(Build("cnn_small", 0, 3));
  ExpectRefused("only 1 of the 2 required");
}

TEST_F(ReleaseTest, RefusesALowerReleaseCounter) {
  InstallTwo();
  // The repository republishes release 1 alone under fresh, correctly signed metadata.
  auto targets = rel::ReadEnvelope(repo_ + "/metadata/targets.json");
  auto meta = rel::DecodeTargets(targets->payload());
  std::vector<rel::TargetInfo> only_old;
  for (const auto& [name, t] : meta->targets) {
    if (t.release_counter == 1) only_old.push_back(t);
  }
  auto t = rel::MakeTargets(meta->version + 1, now_ + 86400, only_old);
  ASSERT_TRUE(rel::WriteEnvelope(repo_ + "/metadata/targets.json", *t).ok());
  auto s = rel::MakeSnapshot(3, now_ + 86400, *t);
  ASSERT_TRUE(rel::WriteEnvelope(repo_ + "/metadata/snapshot.json", *s).ok());
  ASSERT_TRUE(coordinator::RefreshTimestamp(repo_, 24, now_).ok());
  for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
    ASSERT_TRUE(coordinator::SignRole(repo_, keys_, role).ok());
  }
  ExpectRefused("lower than the installed release's 2 (rollback)");
}

TEST_F(ReleaseTest, RefusesAnExpiredTimestamp) {
  InstallTwo();
  client_now_ = now_ + 2 * 86400;  // the 24 h timestamp has expired
  ExpectRefused("timestamp: version 2 expired");
}

TEST_F(ReleaseTest, RefusesAnIncompatibleArchitecture) {
  InstallTwo();
  PublishAndSign(Build("cnn_color", 0, 3));  // 3x32x32 input; this client feeds 1x28x28
  ExpectRefused("incompatible");
}

TEST_F(ReleaseTest, KeepsTheLastGoodSlotWhenTheHealthCheckFails) {
  InstallTwo();
  // Tensors of a pruned network under the dense arch's name: verifies, but cannot load.
  ml::Artifact good = Build("cnn_small", 0.5, 3);
  ml::Artifact bad = Build("cnn_small", 0, 3);
  bad.tensors = good.tensors;
  PublishAndSign(bad);
  ExpectRefused("health check");
  // The failed slot was the inactive one (a); the next good release still installs.
  PublishAndSign(Build("cnn_small", 0, 4));
  client::UpdateOutcome out = Update();
  EXPECT_TRUE(out.installed) << out.error;
  EXPECT_EQ(out.slot, "a");
  EXPECT_EQ(out.counter, 4u);
}

TEST_F(ReleaseTest, RootRotationNeedsThresholdsOfOldAndNewKeys) {
  InstallTwo();
  coordinator::RotateOptions r;
  r.key_dir = keys_;
  r.repo = repo_;
  r.replace_roles = {"timestamp"};
  r.now = now_;
  auto rotated = coordinator::RotateKeys(r);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_TRUE(rotated->complete) << rotated->detail;
  EXPECT_EQ(rotated->version, 2u);
  // The old timestamp key no longer counts: the client refuses until the new key signs.
  ASSERT_TRUE(coordinator::RefreshTimestamp(repo_, 24, now_).ok());
  ASSERT_TRUE(coordinator::SignRole(repo_, keys_, rel::Role::kTimestamp).ok());
  client::UpdateOutcome out = Update();
  EXPECT_TRUE(out.up_to_date) << out.error;
  // A holder with only one of the three root keys cannot rotate alone.
  testing::TempDir lonely("keys");
  auto keys = coordinator::LoadKeyDir(keys_);
  auto root = coordinator::LoadRepoRoot(repo_);
  ASSERT_TRUE(keys->at(root->root.key_ids[0]).Save(lonely.path() + "/root.key").ok());
  r.key_dir = lonely.path();
  r.replace_roles = {};
  auto partial = coordinator::RotateKeys(r);
  ASSERT_TRUE(partial.ok()) << partial.status().ToString();
  EXPECT_FALSE(partial->complete);
  EXPECT_NE(partial->detail.find("cannot be met"), std::string::npos) << partial->detail;
  auto completed = coordinator::SignPendingRoot(repo_, keys_);
  ASSERT_TRUE(completed.ok()) << completed.status().ToString();
  EXPECT_TRUE(completed->complete) << completed->detail;
}

// The coordinator's offers: the repository's files handed over in memory, and a named target
// installed instead of the highest counter.
client::MemoryReleaseSource OfferOf(const std::string& repo, const std::string& target) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& e : std::filesystem::directory_iterator(repo + "/metadata")) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".json")) files[name] = *shared::ReadFile(e.path().string(), 1 << 22);
  }
  return client::MemoryReleaseSource(
      std::move(files), {{target, *shared::ReadFile(repo + "/targets/" + target, 1 << 30)}});
}

TEST_F(ReleaseTest, InstallsTheNamedTargetAndRefusesGoingBackBelowTheInstalledCounter) {
  PublishAndSign(Build("cnn_small", 0.5, 1));
  const std::string first = last_name_;
  PublishAndSign(Build("cnn_small", 0, 2));
  const std::string second = last_name_;
  options_.target = first;  // a canary assignment may name an older target than the newest
  auto source = OfferOf(repo_, first);
  auto out = client::RunUpdate(source, options_);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->installed) << out->error;
  EXPECT_EQ(out->counter, 1u);
  options_.target = second;
  auto source2 = OfferOf(repo_, second);
  out = client::RunUpdate(source2, options_);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->installed) << out->error;
  EXPECT_EQ(out->counter, 2u);
  options_.target = first;
  auto again = OfferOf(repo_, first);
  out = client::RunUpdate(again, options_);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->installed);
  EXPECT_NE(out->error.find("lower than the installed release's 2 (rollback)"), std::string::npos)
      << out->error;
  options_.target = "fedge-9.fdga";
  auto missing = OfferOf(repo_, second);
  out = client::RunUpdate(missing, options_);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->error.find("the signed targets list no release \"fedge-9.fdga\""),
            std::string::npos)
      << out->error;
}

// What the client's RevertRelease gets: the target to leave and the trusted state's paths.
client::UpdateOptions RevertOf(client::UpdateOptions o, const std::string& target) {
  o.target = target;
  return o;
}

TEST_F(ReleaseTest, RevertReturnsToThePreviousSlotAndTheCounterStaysUp) {
  InstallTwo();
  const std::string second = last_name_;
  auto metadata = OfferOf(repo_, second);
  auto r = client::RevertRelease(&metadata, RevertOf(options_, second));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->reverted) << r->error;
  EXPECT_EQ(r->active_counter, 1u);
  auto active = client::LoadActiveRelease(options_.state_dir);
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->counter, 1u);
  EXPECT_EQ((*active)->slot, "a");
  // The trusted counter did not go down: the reverted release may come back (same counter)...
  options_.target = second;
  auto source = OfferOf(repo_, second);
  auto out = client::RunUpdate(source, options_);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->installed) << out->error;
  EXPECT_EQ(out->slot, "b");
  // Reverting a release that is not active changes nothing.
  auto other = client::RevertRelease(nullptr, RevertOf(options_, "fedge-1.fdga"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->reverted);
  EXPECT_EQ(other->active_counter, 2u);
}

// A site that runs a signed release never goes back to an unsigned model on the coordinator's
// word: reverting the only release it holds is refused and the release stays active.
TEST_F(ReleaseTest, RevertingTheOnlySignedReleaseKeepsIt) {
  PublishAndSign(Build("cnn_small", 0.5, 1));
  const std::string only = last_name_;
  ASSERT_TRUE(Update().installed);
  auto metadata = OfferOf(repo_, only);
  auto r = client::RevertRelease(&metadata, RevertOf(options_, only));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->reverted);
  EXPECT_NE(r->error.find("never returns to an unsigned model"), std::string::npos) << r->error;
  EXPECT_EQ(r->active_target, only);
  auto active = client::LoadActiveRelease(options_.state_dir);
  ASSERT_TRUE(active.ok() && active->has_value());
  EXPECT_EQ((*active)->target, only);
}

// The release team withdraws release 1 (fedgectl release withdraw, signed): a site told to revert
// release 2 keeps it rather than going back to the withdrawn one, and no site installs it.
TEST_F(ReleaseTest, RevertDoesNotGoBackToAWithdrawnRelease) {
  InstallTwo();
  const std::string second = last_name_;
  const std::string first = "fedge-1.fdga";
  coordinator::PublishOptions p;
  p.repo = repo_;
  p.now = now_;
  ASSERT_TRUE(coordinator::Withdraw(p, first).ok());
  for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
    ASSERT_TRUE(coordinator::SignRole(repo_, keys_, role).ok());
  }
  EXPECT_EQ(coordinator::Withdraw(p, first).code(), shared::Code::kNotFound);
  auto metadata = OfferOf(repo_, second);
  auto r = client::RevertRelease(&metadata, RevertOf(options_, second));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->reverted);
  EXPECT_NE(r->error.find("fedge-1.fdga (counter 1), is not in the signed targets any more"),
            std::string::npos)
      << r->error;
  EXPECT_EQ(r->active_counter, 2u);
  client::UpdateOptions fresh = options_;
  fresh.state_dir = dir_.path() + "/client2";
  fresh.target = first;
  auto offer = OfferOf(repo_, second);
  auto out = client::RunUpdate(offer, fresh);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->error.find("the signed targets list no release \"fedge-1.fdga\""),
            std::string::npos)
      << out->error;
}

// A revert whose metadata does not verify (here: targets nobody signed) changes nothing.
TEST_F(ReleaseTest, RevertWithMetadataThatDoesNotVerifyChangesNothing) {
  InstallTwo();
  const std::string second = last_name_;
  coordinator::PublishOptions p;
  p.repo = repo_;
  p.now = now_;
  ASSERT_TRUE(coordinator::Withdraw(p, second).ok());  // unsigned targets, snapshot, timestamp
  auto metadata = OfferOf(repo_, "fedge-1.fdga");
  auto r = client::RevertRelease(&metadata, RevertOf(options_, second));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->reverted);
  EXPECT_NE(r->error.find("the revert's metadata"), std::string::npos) << r->error;
  EXPECT_EQ(r->active_counter, 2u);
}

// CheckRelease verifies the metadata and the target before any artifact byte is read: a target
// over the client's limit, or an offer whose metadata does not verify, is refused with no
// artifact at hand at all.
TEST_F(ReleaseTest, CheckReleaseRefusesBeforeAnythingIsDownloaded) {
  PublishAndSign(Build("cnn_small", 0.5, 1));
  const std::string name = last_name_;
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& e : std::filesystem::directory_iterator(repo_ + "/metadata")) {
    const std::string f = e.path().filename().string();
    if (f.ends_with(".json")) files[f] = *shared::ReadFile(e.path().string(), 1 << 22);
  }
  client::MemoryReleaseSource metadata_only(files, {});
  client::UpdateOptions o = RevertOf(options_, name);
  auto check = client::CheckRelease(metadata_only, o);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_FALSE(check->up_to_date);
  EXPECT_EQ(check->target.name, name);
  EXPECT_GT(check->target.length, 0u);
  o.max_artifact_bytes = check->target.length - 1;
  auto big = client::CheckRelease(metadata_only, o);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("over this client's limit"), std::string::npos)
      << big.status().ToString();
  files["targets.json"].back() ^= 1;  // a forged targets file
  client::MemoryReleaseSource forged(files, {});
  auto bad = client::CheckRelease(forged, RevertOf(options_, name));
  EXPECT_FALSE(bad.ok());
  // Nothing was installed on the way.
  auto active = client::LoadActiveRelease(options_.state_dir);
  ASSERT_TRUE(active.ok());
  EXPECT_FALSE(active->has_value());
}

}  // namespace
}  // namespace fedge
