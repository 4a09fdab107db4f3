// One test per attack on the client's verifier. Each asserts the specific rejection and that
// the trusted state, in memory and on disk (installed release counter included), is unchanged.

#include <gtest/gtest.h>

#include "shared/release/updater.h"
#include "tests/shared/release/release_fixture.h"

namespace fedge::shared::release {
namespace {

const std::vector<uint8_t> kModel(4000, 0x5a);

class AttackTest : public ClientFixture {
 protected:
  // Trusts release 1 (counter 3) and installs it, then remembers the state.
  void SetUp() override {
    ClientFixture::SetUp();
    first = repo.Publish(1, {TestRepo::Artifact("m1.pt", kModel, 3)});
    ASSERT_TRUE(updater->Refresh(first).ok());
    Install("m1.pt", kModel);
    Remember();
  }

  // Verifies `content` as target `name` and expects the rejection.
  Status TryArtifact(const std::string& name, std::vector<uint8_t> content,
                     size_t* bytes_read = nullptr) {
    CountingSource source(std::move(content));
    std::vector<uint8_t> out;
    Result<TargetInfo> r = updater->VerifyRelease(name, kClient, source, &out);
    EXPECT_TRUE(out.empty());
    if (bytes_read != nullptr) *bytes_read = source.bytes_read();
    return r.status();
  }

  ReleaseBundle first;
};

TEST_F(AttackTest, TamperedArtifact) {
  std::vector<uint8_t> tampered = kModel;
  tampered[1234] ^= 0x01;
  EXPECT_REJECTED(TryArtifact("m1.pt", tampered), Code::kCorruption,
                  "artifact \"m1.pt\": SHA-256 does not match the one targets lists");
  ExpectUnchanged();
}

TEST_F(AttackTest, WrongLengthArtifact) {
  std::vector<uint8_t> shorter(kModel.begin(), kModel.end() - 1);
  EXPECT_REJECTED(TryArtifact("m1.pt", shorter), Code::kCorruption,
                  "artifact \"m1.pt\": 3999 bytes but targets lists 4000");
  ExpectUnchanged();
}

TEST_F(AttackTest, OversizedDownloadIsCutOffAtTheListedLength) {
  std::vector<uint8_t> endless(10 << 20, 0x5a);
  size_t read = 0;
  EXPECT_REJECTED(TryArtifact("m1.pt", endless, &read), Code::kResourceExhausted,
                  "longer than the 4000 bytes targets lists");
  EXPECT_LE(read, kModel.size() + 1);
  ExpectUnchanged();
}

TEST_F(AttackTest, TargetLargerThanTheClientLimitIsNotDownloaded) {
  std::vector<uint8_t> huge(2 << 20, 0x01);  // the client's limit is 1 MiB
  ASSERT_TRUE(updater->Refresh(repo.Publish(2, {TestRepo::Artifact("big.pt", huge, 4)})).ok());
  Remember();
  size_t read = 1;
  EXPECT_REJECTED(TryArtifact("big.pt", huge, &read), Code::kResourceExhausted,
                  "targets lists 2097152 bytes, over this client's limit of 1048576");
  EXPECT_EQ(read, 0u);
  ExpectUnchanged();
}

TEST_F(AttackTest, SignatureByAnUnknownKey) {
  std::vector<PrivateKey> attacker = NewKeys(2);
  Envelope t = MakeTargets(2, kStart + kDay, {TestRepo::Artifact("evil.pt", kModel, 9)}).value();
  ReleaseBundle bundle = repo.PublishTargets(2, Signed(t, All(attacker)));
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kPermissionDenied,
                  "targets: only 0 of the 2 required distinct targets key signatures are valid "
                  "(root version 1); 2 by keys not trusted for this role");
  ExpectUnchanged();
}

TEST_F(AttackTest, SignatureByAnotherRolesKey) {
  Envelope t = MakeTargets(2, kStart + kDay, {TestRepo::Artifact("evil.pt", kModel, 9)}).value();
  // The online timestamp key (easiest to steal) must not sign targets.
  t = Signed(t, {&repo.targets_keys[0], &repo.timestamp_keys[0]});
  EXPECT_REJECTED(updater->Refresh(repo.PublishTargets(2, t)), Code::kPermissionDenied,
                  "only 1 of the 2 required distinct targets key signatures");
  ExpectUnchanged();
}

TEST_F(AttackTest, FewerSignaturesThanTheThreshold) {
  Envelope t = MakeTargets(2, kStart + kDay, {TestRepo::Artifact("m2.pt", kModel, 4)}).value();
  EXPECT_REJECTED(updater->Refresh(repo.PublishTargets(2, Signed(t, {&repo.targets_keys[0]}))),
                  Code::kPermissionDenied,
                  "targets: only 1 of the 2 required distinct targets key signatures");
  ExpectUnchanged();
}

TEST_F(AttackTest, DuplicateSignatureEntriesCountOnce) {
  Envelope t =
      Signed(MakeTargets(2, kStart + kDay, {TestRepo::Artifact("m2.pt", kModel, 4)}).value(),
             {&repo.targets_keys[0]});
  const Signature copy = t.signatures()[0];
  t.AppendRawSignature(copy);
  t.AppendRawSignature(copy);
  ASSERT_EQ(t.signatures().size(), 3u);
  EXPECT_REJECTED(updater->Refresh(repo.PublishTargets(2, t)), Code::kPermissionDenied,
                  "targets: only 1 of the 2 required distinct targets key signatures");
  ExpectUnchanged();
}

TEST_F(AttackTest, DuplicateKeyEntriesInARoleCountOnce) {
  // A root (properly signed) whose targets role lists one key twice with threshold 2: that key
  // alone must not reach the threshold.
  RootMetadata meta = repo.root_meta;
  meta.version = 2;
  const std::string id = repo.targets_keys[0].key_id();
  meta.targets = RoleKeys{{id, id}, 2};
  Envelope root2 = Signed(Envelope(EncodePayload(meta).value()), All(repo.root_keys));
  Envelope t =
      Signed(MakeTargets(2, kStart + kDay, {TestRepo::Artifact("m2.pt", kModel, 4)}).value(),
             {&repo.targets_keys[0]});
  t.AppendRawSignature(t.signatures()[0]);
  ReleaseBundle bundle = repo.PublishTargets(2, t);
  bundle.roots = {ToBytes(root2)};
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kPermissionDenied,
                  "targets: only 1 of the 2 required distinct targets key signatures are valid "
                  "(root version 2)");
  ExpectUnchanged();
}

TEST_F(AttackTest, ReleaseWithALowerCounter) {
  ASSERT_TRUE(updater
                  ->Refresh(repo.Publish(2, {TestRepo::Artifact("m1.pt", kModel, 3),
                                             TestRepo::Artifact("old.pt", kModel, 2)}))
                  .ok());
  Remember();
  EXPECT_REJECTED(TryArtifact("old.pt", kModel), Code::kInvalidArgument,
                  "release: target \"old.pt\" has release counter 2, lower than the installed "
                  "release's 3 (rollback)");
  TargetInfo old = TestRepo::Artifact("old.pt", kModel, 2);
  EXPECT_REJECTED(updater->RecordInstalled(old), Code::kInvalidArgument, "rollback");
  ExpectUnchanged();
  EXPECT_EQ(updater->state().installed_counter, 3u);
}

TEST_F(AttackTest, ExpiredTimestamp) {
  now = kStart + kDay;  // the timestamp expires after one day; nothing newer is offered
  EXPECT_REJECTED(updater->Refresh(first), Code::kDeadlineExceeded,
                  "timestamp: version 1 expired at 1700086400 (now 1700086400; freeze attack");
  ExpectUnchanged();
}

TEST_F(AttackTest, ExpiredRootAfterTheChain) {
  now = kStart + 400 * kDay;
  EXPECT_REJECTED(updater->Refresh(first), Code::kDeadlineExceeded, "root: version 1 expired");
  ExpectUnchanged();
}

TEST_F(AttackTest, ReplayedOlderTimestamp) {
  ASSERT_TRUE(updater->Refresh(repo.Publish(2, {TestRepo::Artifact("m1.pt", kModel, 3)})).ok());
  Remember();
  EXPECT_REJECTED(updater->Refresh(first), Code::kInvalidArgument,
                  "timestamp: version 1 is older than the trusted version 2 (replay or freeze "
                  "attack)");
  ExpectUnchanged();
}

TEST_F(AttackTest, SameTimestampVersionWithDifferentContent) {
  ReleaseBundle other = repo.Publish(1, {TestRepo::Artifact("m9.pt", kModel, 9)});
  EXPECT_REJECTED(updater->Refresh(other), Code::kInvalidArgument,
                  "timestamp: version 1 differs from the trusted timestamp of the same version");
  ExpectUnchanged();
}

TEST_F(AttackTest, SnapshotAndTargetsFromDifferentVersions) {
  ReleaseBundle second = repo.Publish(2, {TestRepo::Artifact("m2.pt", kModel, 4)});
  ReleaseBundle mixed = second;
  mixed.targets = first.targets;  // targets v1 under snapshot v2
  EXPECT_REJECTED(
      updater->Refresh(mixed), Code::kCorruption,
      "targets: SHA-256 of the payload does not match the one snapshot pins for targets "
      "version 2");
  EXPECT_REJECTED(updater->Refresh(mixed), Code::kCorruption, "(mixed versions or tampering)");
  // Another targets v2 (not the one snapshot pins) is caught by its length already.
  Envelope other = Signed(
      MakeTargets(2, kStart + kDay, {TestRepo::Artifact("longer-name.pt", kModel, 4)}).value(),
      All(repo.targets_keys));
  mixed.targets = ToBytes(other);
  EXPECT_REJECTED(updater->Refresh(mixed), Code::kCorruption,
                  "bytes but snapshot pins targets version 2 at");
  mixed = second;
  mixed.snapshot = first.snapshot;  // snapshot v1 under timestamp v2
  EXPECT_REJECTED(updater->Refresh(mixed), Code::kCorruption,
                  "snapshot: SHA-256 of the payload does not match the one timestamp pins for "
                  "snapshot version 2");
  ExpectUnchanged();
}

TEST_F(AttackTest, RootRotationNotSignedByTheOldThreshold) {
  std::vector<PrivateKey> attacker = NewKeys(3);
  RootSpec spec = repo.CurrentSpec();
  spec.root = Spec(attacker, 2);
  // One old root key only (the attacker stole one of the 2-of-3) plus all the new keys.
  std::vector<uint8_t> v2 = repo.Rotate(spec, {&repo.root_keys[0]}, All(attacker));
  ReleaseBundle bundle = first;
  bundle.roots = {v2};
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kPermissionDenied,
                  "root: rotation not signed by a threshold of the trusted root's keys: root "
                  "version 2: only 1 of the 2 required distinct root key signatures");
  ExpectUnchanged();
}

TEST_F(AttackTest, RootRotationNotSignedByTheNewThreshold) {
  std::vector<PrivateKey> next = NewKeys(3);
  RootSpec spec = repo.CurrentSpec();
  spec.root = Spec(next, 2);
  std::vector<uint8_t> v2 = repo.Rotate(spec, All(repo.root_keys), {&next[0]});
  ReleaseBundle bundle = first;
  bundle.roots = {v2};
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kPermissionDenied,
                  "root: rotation not signed by a threshold of its own new keys");
  ExpectUnchanged();
}

TEST_F(AttackTest, RootVersionThatSkipsAhead) {
  RootMetadata meta = repo.root_meta;
  meta.version = 3;
  Envelope v3 = Signed(Envelope(EncodePayload(meta).value()), All(repo.root_keys));
  ReleaseBundle bundle = first;
  bundle.roots = {ToBytes(v3)};
  EXPECT_REJECTED(updater->Refresh(bundle), Code::kInvalidArgument,
                  "root: got version 3 after trusted version 1");
  ExpectUnchanged();
}

}  // namespace
}  // namespace fedge::shared::release
