#include "shared/release/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "shared/crypto/crypto.h"
#include "tests/temp_dir.h"

namespace fedge::shared::release {
namespace {

TEST(KeysTest, SignVerifyRoundTrip) {
  Result<PrivateKey> key = PrivateKey::Generate();
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Result<std::vector<uint8_t>> sig = key->Sign(AsBytes("model release"));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(sig->size(), kSignatureSize);
  EXPECT_TRUE(key->public_key().Verify(AsBytes("model release"), *sig));
}

TEST(KeysTest, RejectsBadSignatures) {
  Result<PrivateKey> key = PrivateKey::Generate();
  Result<PrivateKey> other = PrivateKey::Generate();
  ASSERT_TRUE(key.ok() && other.ok());
  std::vector<uint8_t> sig = key->Sign(AsBytes("message")).value();
  EXPECT_FALSE(key->public_key().Verify(AsBytes("messagE"), sig));
  EXPECT_FALSE(other->public_key().Verify(AsBytes("message"), sig));
  std::vector<uint8_t> flipped = sig;
  flipped[10] ^= 0x01;
  EXPECT_FALSE(key->public_key().Verify(AsBytes("message"), flipped));
  EXPECT_FALSE(key->public_key().Verify(AsBytes("message"), std::span(sig).first(63)));
  EXPECT_FALSE(key->public_key().Verify(AsBytes("message"), {}));
}

TEST(KeysTest, KeyIdIsHexSha256OfRawPublicKey) {
  PrivateKey key = PrivateKey::Generate().value();
  EXPECT_EQ(key.key_id(), ToHex(Sha256(key.public_key().raw())));
  EXPECT_EQ(key.key_id().size(), 64u);
  Result<PublicKey> copy = PublicKey::FromRaw(key.public_key().raw());
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->key_id(), key.key_id());
  EXPECT_TRUE(*copy == key.public_key());
}

TEST(KeysTest, PublicKeyFromRawRejectsWrongSize) {
  std::vector<uint8_t> raw(31, 7);
  Result<PublicKey> key = PublicKey::FromRaw(raw);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), Code::kInvalidArgument);
  EXPECT_NE(key.status().message().find("32 bytes"), std::string::npos);
}

TEST(KeysTest, SaveWritesMode0600AndLoadRestoresTheKey) {
  testing::TempDir dir("release-keys");
  const std::string path = dir.path() + "/targets.key";
  PrivateKey key = PrivateKey::Generate().value();
  ASSERT_TRUE(key.Save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<PrivateKey> loaded = PrivateKey::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->key_id(), key.key_id());
  std::vector<uint8_t> sig = loaded->Sign(AsBytes("x")).value();
  EXPECT_TRUE(key.public_key().Verify(AsBytes("x"), sig));
}

TEST(KeysTest, LoadRejectsGarbageAndNonEd25519Keys) {
  Result<PrivateKey> garbage = PrivateKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), Code::kInvalidArgument);
  // An EC P-256 key (what shared/crypto/pki.cc makes for TLS) is not a release key.
  const char* ec_pem =
      "-----BEGIN PRIVATE KEY-----\n"
      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
      "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
      "1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n"
      "-----END PRIVATE KEY-----\n";
  Result<PrivateKey> ec = PrivateKey::FromPem(ec_pem);
  ASSERT_FALSE(ec.ok());
  EXPECT_NE(ec.status().message().find("not an Ed25519 key"), std::string::npos)
      << ec.status().ToString();
}

}  // namespace
}  // namespace fedge::shared::release
