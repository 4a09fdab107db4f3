#pragma once
// Test repository for the release tests: role keys, signed metadata, bundles, a fake clock and
// byte sources that count what the verifier read.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shared/crypto/crypto.h"
#include "shared/release/repository.h"
#include "shared/release/updater.h"
#include "tests/temp_dir.h"

namespace fedge::shared::release {

inline constexpr int64_t kStart = 1'700'000'000;
inline constexpr int64_t kDay = 24 * 3600;

inline std::vector<uint8_t> ToBytes(const Envelope& e) {
  std::string s = e.Serialize();
  return {s.begin(), s.end()};
}

inline std::vector<PrivateKey> NewKeys(int n) {
  std::vector<PrivateKey> keys;
  for (int i = 0; i < n; ++i) keys.push_back(PrivateKey::Generate().value());
  return keys;
}

inline RoleSpec Spec(const std::vector<PrivateKey>& keys, uint32_t threshold) {
  RoleSpec spec{{}, threshold};
  for (const PrivateKey& k : keys) spec.keys.push_back(k.public_key());
  return spec;
}

// Signs `e` with each of `keys` (pointers, so a test can pick any subset).
inline Envelope Signed(Envelope e, const std::vector<const PrivateKey*>& keys) {
  for (const PrivateKey* k : keys) EXPECT_TRUE(e.AddSignature(*k).ok());
  return e;
}

inline std::vector<const PrivateKey*> All(const std::vector<PrivateKey>& keys) {
  std::vector<const PrivateKey*> out;
  for (const PrivateKey& k : keys) out.push_back(&k);
  return out;
}

// A ByteSource over bytes that counts how many it handed out.
class CountingSource : public ByteSource {
 public:
  explicit CountingSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    size_t n = std::min(out.size(), bytes_.size() - offset_);
    std::copy_n(bytes_.begin() + offset_, n, out.begin());
    offset_ += n;
    return n;
  }
  size_t bytes_read() const { return offset_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t offset_ = 0;
};

// The central team's side: root (2 of 3), targets (2 of 2), snapshot (1), timestamp (1).
class TestRepo {
 public:
  TestRepo()
      : root_keys(NewKeys(3)),
        targets_keys(NewKeys(2)),
        snapshot_keys(NewKeys(1)),
        timestamp_keys(NewKeys(1)) {
    Envelope root = MakeRootEnvelope(CurrentSpec()).value();
    root_v1 = ToBytes(Signed(root, {&root_keys[0], &root_keys[1]}));
    root_meta = DecodeRoot(root.payload()).value();
  }

  RootSpec CurrentSpec() const {
    return RootSpec{Spec(root_keys, 2), Spec(targets_keys, 2), Spec(snapshot_keys, 1),
                    Spec(timestamp_keys, 1), kStart + 365 * kDay};
  }

  // The next root version for `spec`, signed by `old_signers` and `new_signers`; becomes the
  // current root metadata of this repository.
  std::vector<uint8_t> Rotate(const RootSpec& spec, std::vector<const PrivateKey*> old_signers,
                              std::vector<const PrivateKey*> new_signers) {
    Envelope next = RotateRoot(root_meta, spec).value();
    next = Signed(std::move(next), old_signers);
    next = Signed(std::move(next), new_signers);
    root_meta = DecodeRoot(next.payload()).value();
    return ToBytes(next);
  }

  static TargetInfo Artifact(const std::string& name, const std::vector<uint8_t>& content,
                             uint64_t counter) {
    TargetInfo fields;
    fields.name = name;
    fields.release_counter = counter;
    fields.model_id = "model-7";
    fields.compatibility = {"cnn_small", {1, 28, 28}, "1.2.0"};
    return DescribeArtifact(fields, content).value();
  }

  // Targets (version `version`) listing `targets`, signed by every targets key; the snapshot
  // and timestamp of the same version pinning it.
  ReleaseBundle Publish(uint64_t version, const std::vector<TargetInfo>& targets) {
    Envelope t =
        Signed(MakeTargets(version, kStart + 90 * kDay, targets).value(), All(targets_keys));
    return PublishTargets(version, t);
  }

  ReleaseBundle PublishTargets(uint64_t version, const Envelope& targets) {
    Envelope s =
        Signed(MakeSnapshot(version, kStart + 30 * kDay, targets).value(), All(snapshot_keys));
    Envelope ts = Signed(MakeTimestamp(version, kStart + kDay, s).value(), All(timestamp_keys));
    return ReleaseBundle{{}, ToBytes(ts), ToBytes(s), ToBytes(targets)};
  }

  std::vector<PrivateKey> root_keys, targets_keys, snapshot_keys, timestamp_keys;
  std::vector<uint8_t> root_v1;
  RootMetadata root_meta;
};

inline const ClientDescription kClient{{"cnn_small", "resnet8"}, {1, 28, 28}, "1.4.2"};

// A client with a fake clock and a state dir, trusting `repo`'s root v1.
class ClientFixture : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    UpdaterOptions options;
    options.state_dir = dir.path() + "/state";
    options.max_artifact_bytes = 1 << 20;
    options.clock = [this] { return now; };
    Result<Updater> opened = Updater::Open(options, repo.root_v1);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    updater.emplace(std::move(*opened));
  }

  std::vector<uint8_t> StateFile() const {
    return ReadFile(dir.path() + "/state/" + kStateFileName, 64 << 20).value();
  }

  // Remembers the trusted state (in memory and on disk) to compare after an attack.
  void Remember() {
    memory_before = EncodeTrustedState(updater->state());
    disk_before = StateFile();
  }
  void ExpectUnchanged() const {
    EXPECT_EQ(EncodeTrustedState(updater->state()), memory_before);
    EXPECT_EQ(StateFile(), disk_before);
  }

  // Installs `name` from `content` through the updater; asserts it verifies.
  void Install(const std::string& name, const std::vector<uint8_t>& content) {
    CountingSource source(content);
    std::vector<uint8_t> out;
    Result<TargetInfo> target = updater->VerifyRelease(name, kClient, source, &out);
    ASSERT_TRUE(target.ok()) << target.status().ToString();
    ASSERT_EQ(out, content);
    ASSERT_TRUE(updater->RecordInstalled(*target).ok());
  }

  testing::TempDir dir{"release"};
  TestRepo repo;
  int64_t now = kStart;
  std::optional<Updater> updater;
  std::string memory_before;
  std::vector<uint8_t> disk_before;
};

// Asserts `status` failed with `code` and a message containing `reason`.
#define EXPECT_REJECTED(status_expr, code_expr, reason_expr)                       \
  do {                                                                             \
    const ::fedge::shared::Status s_ = (status_expr);                              \
    EXPECT_EQ(s_.code(), (code_expr)) << s_.ToString();                            \
    EXPECT_NE(s_.message().find(reason_expr), std::string::npos) << s_.ToString(); \
  } while (0)

}  // namespace fedge::shared::release
