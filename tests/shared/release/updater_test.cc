// Updater: the happy path, root rotation, key rotation, persistence and garbage input.
// Attacks are in attacks_test.cc.

#include "shared/release/updater.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/shared/release/release_fixture.h"

namespace fedge::shared::release {
namespace {

const std::vector<uint8_t> kModel1(3000, 0x11);
const std::vector<uint8_t> kModel2(5000, 0x22);

using UpdaterTest = ClientFixture;

TEST_F(UpdaterTest, HappyPathVerifiesAndInstallsARelease) {
  ASSERT_TRUE(updater->Refresh(repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel1, 1)})).ok());
  EXPECT_EQ(updater->state().timestamp->meta.version, 1u);
  EXPECT_EQ(updater->state().targets->meta.targets.count("m1.pt"), 1u);
  Install("m1.pt", kModel1);
  EXPECT_EQ(updater->state().installed_counter, 1u);
  EXPECT_EQ(updater->state().installed_target, "m1.pt");

  // A second release with a higher counter, and an unchanged bundle re-sent, both verify.
  ReleaseBundle second = repo.Publish(2, {TestRepo::Artifact("m2.pt", kModel2, 2)});
  ASSERT_TRUE(updater->Refresh(second).ok());
  ASSERT_TRUE(updater->Refresh(second).ok());
  Install("m2.pt", kModel2);
  EXPECT_EQ(updater->state().installed_counter, 2u);
}

TEST_F(UpdaterTest, RejectsIncompatibleReleasesAndUnknownTargets) {
  TargetInfo other_arch = TestRepo::Artifact("a.pt", kModel1, 1);
  other_arch.compatibility.arch = "vit_tiny";
  TargetInfo other_shape = TestRepo::Artifact("b.pt", kModel1, 1);
  other_shape.compatibility.input_shape = {3, 32, 32};
  TargetInfo newer_client = TestRepo::Artifact("c.pt", kModel1, 1);
  newer_client.compatibility.min_client_version = "1.10.0";
  ASSERT_TRUE(updater->Refresh(repo.Publish(1, {other_arch, other_shape, newer_client})).ok());
  EXPECT_REJECTED(updater->CheckTarget("a.pt", kClient).status(), Code::kInvalidArgument,
                  "architecture \"vit_tiny\" is not one this client runs");
  EXPECT_REJECTED(updater->CheckTarget("b.pt", kClient).status(), Code::kInvalidArgument,
                  "input shape [3,32,32] but the client feeds [1,28,28]");
  EXPECT_REJECTED(updater->CheckTarget("c.pt", kClient).status(), Code::kInvalidArgument,
                  "needs client version 1.10.0 or later, this is 1.4.2");
  EXPECT_REJECTED(updater->CheckTarget("zzz.pt", kClient).status(), Code::kNotFound,
                  "lists no target \"zzz.pt\"");
}

TEST_F(UpdaterTest, FollowsATwoStepRootRotationChain) {
  // v2 replaces one root key; v3 replaces the targets keys and the rest of the root keys.
  std::vector<PrivateKey> new_root = NewKeys(3);
  RootSpec spec2 = repo.CurrentSpec();
  spec2.root = RoleSpec{
      {repo.root_keys[0].public_key(), repo.root_keys[1].public_key(), new_root[0].public_key()},
      2};
  std::vector<uint8_t> v2 =
      repo.Rotate(spec2, {&repo.root_keys[0], &repo.root_keys[1]}, {&new_root[0]});
  repo.targets_keys = NewKeys(2);
  RootSpec spec3 = repo.CurrentSpec();
  spec3.root = Spec(new_root, 2);
  std::vector<uint8_t> v3 =
      repo.Rotate(spec3, {&repo.root_keys[1], &new_root[0]}, {&new_root[1], &new_root[2]});
  EXPECT_TRUE(
      CheckRootRotation(DecodeRoot(Envelope::Parse(v2, kMaxEnvelopeBytes, "v2")->payload()).value(),
                        Envelope::Parse(v3, kMaxEnvelopeBytes, "v3").value())
          .ok());

  ReleaseBundle bundle = repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel1, 1)});
  bundle.roots = {v2, v3};
  Status refreshed = updater->Refresh(bundle);
  ASSERT_TRUE(refreshed.ok()) << refreshed.ToString();
  EXPECT_EQ(updater->state().root.meta.version, 3u);
  Install("m1.pt", kModel1);

  // Without the chain the old root does not know the new targets keys.
  std::filesystem::remove_all(dir.path() + "/state");
  Reopen();
  bundle.roots.clear();
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kPermissionDenied,
                  "targets: only 0 of the 2 required distinct targets key signatures");
}

TEST_F(UpdaterTest, RootRotationRetiresACompromisedTimestampKey) {
  ASSERT_TRUE(updater->Refresh(repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel1, 1)})).ok());
  // The attacker holds the timestamp key and fast-forwards the timestamp to version 1000,
  // pinning the real snapshot: a client accepts it (the key is still trusted) and now refuses
  // the repository's genuine timestamps as replays.
  ReleaseBundle genuine2 = repo.Publish(2, {TestRepo::Artifact("m1.pt", kModel1, 1)});
  Envelope snapshot2 = Envelope::Parse(genuine2.snapshot, kMaxEnvelopeBytes, "s").value();
  PrivateKey stolen = std::move(repo.timestamp_keys[0]);
  Envelope evil = Signed(MakeTimestamp(1000, kStart + kDay, snapshot2).value(), {&stolen});
  ReleaseBundle fast_forward = genuine2;
  fast_forward.timestamp = ToBytes(evil);
  ASSERT_TRUE(updater->Refresh(fast_forward).ok());
  EXPECT_REJECTED(updater->Refresh(genuine2), Code::kInvalidArgument,
                  "timestamp: version 2 is older than the trusted version 1000");

  // Recovery: root v2 replaces the timestamp key.
  repo.timestamp_keys = NewKeys(1);
  std::vector<uint8_t> v2 = repo.Rotate(repo.CurrentSpec(), All(repo.root_keys), {});
  ReleaseBundle recovered = repo.Publish(3, {TestRepo::Artifact("m2.pt", kModel2, 2)});
  recovered.roots = {v2};
  Status status = updater->Refresh(recovered);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(updater->state().timestamp->meta.version, 3u);

  // The stolen key no longer signs anything the client accepts.
  Envelope snapshot3 = Envelope::Parse(recovered.snapshot, kMaxEnvelopeBytes, "s").value();
  ReleaseBundle replay = recovered;
  replay.roots.clear();
  replay.timestamp =
      ToBytes(Signed(MakeTimestamp(2000, kStart + kDay, snapshot3).value(), {&stolen}));
  Remember();
  EXPECT_REJECTED(updater->Refresh(replay), Code::kPermissionDenied,
                  "timestamp: only 0 of the 1 required distinct timestamp key signatures");
  ExpectUnchanged();
}

TEST_F(UpdaterTest, TrustedStateSurvivesAReload) {
  ReleaseBundle first = repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel1, 5)});
  ASSERT_TRUE(updater->Refresh(first).ok());
  ASSERT_TRUE(updater
                  ->Refresh(repo.Publish(2, {TestRepo::Artifact("m1.pt", kModel1, 5),
                                             TestRepo::Artifact("old.pt", kModel2, 4)}))
                  .ok());
  Install("m1.pt", kModel1);
  const std::string before = EncodeTrustedState(updater->state());

  updater.reset();
  UpdaterOptions options;
  options.state_dir = dir.path() + "/state";
  options.clock = [this] { return now; };
  Result<Updater> reopened = Updater::Open(options, {});  // no initial root needed any more
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  updater.emplace(std::move(*reopened));
  EXPECT_EQ(EncodeTrustedState(updater->state()), before);
  EXPECT_EQ(updater->state().installed_counter, 5u);
  EXPECT_REJECTED(updater->Refresh(first), Code::kInvalidArgument,
                  "timestamp: version 1 is older than the trusted version 2");
  EXPECT_REJECTED(updater->CheckTarget("old.pt", kClient).status(), Code::kInvalidArgument,
                  "release counter 4, lower than the installed release's 5");
}

TEST_F(UpdaterTest, GarbageAndTruncatedMetadataAreRejectedCleanly) {
  ReleaseBundle good = repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel1, 1)});
  Remember();
  std::vector<std::vector<uint8_t>> garbage = {
      {},
      {'{'},
      std::vector<uint8_t>(good.timestamp.begin(), good.timestamp.begin() + 40),
      std::vector<uint8_t>(good.timestamp.begin(), good.timestamp.end() - 3),
      std::vector<uint8_t>(5000, '['),
      std::vector<uint8_t>{'{', '"', 's', 'i', 'g', 'n', 'e', 'd', '"', ':', '7', '}'},
      std::vector<uint8_t>(kMaxEnvelopeBytes + 1, ' '),
  };
  for (const std::vector<uint8_t>& bytes : garbage) {
    ReleaseBundle bad = good;
    bad.timestamp = bytes;
    Status status = updater->Refresh(bad);
    EXPECT_EQ(status.code(), Code::kInvalidArgument) << status.ToString();
    EXPECT_EQ(status.message().rfind("timestamp", 0), 0u) << status.ToString();
  }
  // A correctly signed payload that is not a timestamp.
  Envelope wrong_type = Signed(Envelope("{\"_type\":\"snapshot\"}"), All(repo.timestamp_keys));
  ReleaseBundle bad = good;
  bad.timestamp = ToBytes(wrong_type);
  EXPECT_REJECTED(updater->Refresh(bad), Code::kInvalidArgument,
                  "payload has _type \"snapshot\", expected \"timestamp\"");
  ExpectUnchanged();

  // A corrupted state file is reported, not trusted.
  updater.reset();
  std::vector<uint8_t> state = disk_before;
  state[state.size() / 2] ^= 0x20;
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/state/" + kStateFileName, state, 0644).ok());
  UpdaterOptions options;
  options.state_dir = dir.path() + "/state";
  Result<Updater> reopened = Updater::Open(options, repo.root_v1);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kCorruption) << reopened.status().ToString();

  // A garbage initial root is refused.
  options.state_dir = dir.path() + "/other";
  std::vector<uint8_t> bad_root = repo.root_v1;
  bad_root.resize(bad_root.size() / 2);
  EXPECT_EQ(Updater::Open(options, bad_root).status().code(), Code::kInvalidArgument);
}

TEST(ReleaseRepositoryTest, SignFileAddsOneSignatureAtATime) {
  testing::TempDir dir("release-sign");
  TestRepo repo;
  const std::string path = dir.path() + "/targets.json";
  Envelope t = MakeTargets(1, kStart + kDay, {TestRepo::Artifact("m.pt", kModel1, 1)}).value();
  ASSERT_TRUE(WriteEnvelope(path, t).ok());
  ASSERT_TRUE(SignFile(path, repo.targets_keys[0]).ok());
  ASSERT_TRUE(SignFile(path, repo.targets_keys[0]).ok());  // the same holder again: replaced
  EXPECT_REJECTED(ReadEnvelope(path)->VerifyRole(repo.root_meta, Role::kTargets, "targets"),
                  Code::kPermissionDenied, "only 1 of the 2");
  ASSERT_TRUE(SignFile(path, repo.targets_keys[1]).ok());
  Result<Envelope> signed_file = ReadEnvelope(path);
  ASSERT_TRUE(signed_file.ok());
  EXPECT_EQ(signed_file->signatures().size(), 2u);
  EXPECT_EQ(signed_file->payload(), t.payload());
  EXPECT_TRUE(signed_file->VerifyRole(repo.root_meta, Role::kTargets, "targets").ok());
}

TEST(ReleaseMetadataTest, EncodeDecodeRoundTripIsByteExact) {
  TestRepo repo;
  Envelope t = MakeTargets(3, kStart, {TestRepo::Artifact("m.pt", kModel1, 9)}).value();
  Result<TargetsMetadata> decoded = DecodeTargets(t.payload());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const TargetInfo& m = decoded->targets.at("m.pt");
  EXPECT_EQ(m.length, kModel1.size());
  EXPECT_EQ(m.sha256, Sha256(kModel1));
  EXPECT_EQ(m.release_counter, 9u);
  EXPECT_EQ(m.compatibility.input_shape, (std::vector<uint32_t>{1, 28, 28}));
  EXPECT_EQ(EncodePayload(*decoded).value(), t.payload());
  Result<RootMetadata> root = DecodeRoot(EncodePayload(repo.root_meta).value());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->keys.size(), 7u);
  EXPECT_EQ(root->targets.threshold, 2u);
  // A target name that could escape a directory is refused by the signer.
  TargetInfo evil = TestRepo::Artifact("m.pt", kModel1, 1);
  evil.name = "../etc/passwd";
  EXPECT_EQ(MakeTargets(1, kStart, {evil}).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::shared::release
