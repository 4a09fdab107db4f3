#include "shared/crypto/crypto.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fedge::shared {
namespace {

namespace fs = std::filesystem;

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(CryptoSha256Test, MatchesKnownVectors) {
  EXPECT_EQ(ToHex(Sha256(AsBytes(""))), kEmptySha256);
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))), kAbcSha256);
  // FIPS 180-2 two-block message.
  EXPECT_EQ(ToHex(Sha256(AsBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CryptoSha256Test, StreamingEqualsOneShotForEverySplit) {
  std::vector<uint8_t> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  const Digest expected = Sha256(data);
  std::span<const uint8_t> all(data);
  for (size_t split :
       {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{999}, size_t{1000}}) {
    Sha256Hasher hasher;
    hasher.Update(all.first(split));
    hasher.Update(all.subspan(split));
    EXPECT_EQ(hasher.Finish(), expected) << "split at " << split;
  }
  Sha256Hasher bytewise;
  for (uint8_t b : data) bytewise.Update({&b, 1});
  EXPECT_EQ(bytewise.Finish(), expected);
}

TEST(CryptoSha256Test, FinishResetsAndMoveTransfersState) {
  Sha256Hasher hasher;
  hasher.Update(AsBytes("ab"));
  Sha256Hasher moved = std::move(hasher);
  moved.Update(AsBytes("c"));
  EXPECT_EQ(ToHex(moved.Finish()), kAbcSha256);
  EXPECT_EQ(ToHex(moved.Finish()), kEmptySha256);  // fresh digest after Finish
}

TEST(CryptoHexTest, RoundTripsAndAcceptsUpperCase) {
  const Digest digest = Sha256(AsBytes("abc"));
  auto parsed = DigestFromHex(ToHex(digest));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, digest);
  std::string upper = kAbcSha256;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  auto parsed_upper = DigestFromHex(upper);
  ASSERT_TRUE(parsed_upper.ok());
  EXPECT_EQ(*parsed_upper, digest);
  const std::vector<uint8_t> bytes = {0x00, 0x0f, 0xf0, 0xff};
  EXPECT_EQ(ToHex(bytes), "000ff0ff");
}

TEST(CryptoHexTest, RejectsBadLengthAndCharacters) {
  std::string good = kAbcSha256;
  EXPECT_EQ(DigestFromHex(good.substr(1)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromHex(good + "0").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromHex("").status().code(), Code::kInvalidArgument);
  for (char bad : {'g', ' ', 'x', '\0', '-'}) {
    std::string hex = good;
    hex[17] = bad;
    auto parsed = DigestFromHex(hex);
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument) << "char " << int(bad);
    EXPECT_NE(parsed.status().message().find("position 17"), std::string::npos);
  }
}

TEST(CryptoHexTest, DigestFromBytesNeedsExactly32) {
  std::vector<uint8_t> bytes(32, 0xab);
  auto digest = DigestFromBytes(bytes);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ((*digest)[31], 0xab);
  bytes.push_back(0);
  EXPECT_EQ(DigestFromBytes(bytes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(DigestFromBytes(std::span<const uint8_t>(bytes).first(31)).status().code(),
            Code::kInvalidArgument);
}

class CryptoFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "fedge_crypto_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  static mode_t ModeOf(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  fs::path dir_;
};

TEST_F(CryptoFileTest, WriteFileAtomicHonoursModeWhateverTheUmask) {
  const mode_t old_umask = umask(0);  // a 0600 file must not become 0666 under umask 0
  const fs::path secret = dir_ / "secret.key";
  Status written = WriteFileAtomic(secret.string(), AsBytes("key"), 0600);
  umask(077);  // and a 0644 file must not lose bits under a strict umask
  const fs::path cert = dir_ / "public.crt";
  Status written_cert = WriteFileAtomic(cert.string(), AsBytes("cert"), 0644);
  umask(old_umask);
  ASSERT_TRUE(written.ok()) << written.ToString();
  ASSERT_TRUE(written_cert.ok()) << written_cert.ToString();
  EXPECT_EQ(ModeOf(secret), 0600u);
  EXPECT_EQ(ModeOf(cert), 0644u);
}

TEST_F(CryptoFileTest, WriteFileAtomicReplacesContentAndLeavesNoTempFiles) {
  const std::string path = (dir_ / "data.bin").string();
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("first version"), 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes("second"), 0600).ok());
  auto bytes = ReadFile(path, 1024);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "second");
  EXPECT_EQ(ModeOf(path), 0600u);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "data.bin");
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(CryptoFileTest, WriteFileAtomicFailsCleanlyInMissingDirectory) {
  Status status = WriteFileAtomic((dir_ / "no" / "such.bin").string(), AsBytes("x"), 0600);
  EXPECT_EQ(status.code(), Code::kNotFound);
  EXPECT_NE(status.message().find("no/such.bin"), std::string::npos) << status.message();
}

TEST_F(CryptoFileTest, WriteNewFileCreatesWithModeAndNeverReplaces) {
  const mode_t old_umask = umask(0);
  const fs::path path = dir_ / "new.key";
  Status written = WriteNewFile(path.string(), AsBytes("first"), 0600);
  umask(old_umask);
  ASSERT_TRUE(written.ok()) << written.ToString();
  EXPECT_EQ(ModeOf(path), 0600u);
  Status again = WriteNewFile(path.string(), AsBytes("second"), 0600);
  EXPECT_EQ(again.code(), Code::kAlreadyExists);
  auto bytes = ReadFile(path.string(), 100);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "first");
  // A planted symlink is not followed.
  const fs::path target = dir_ / "target";
  fs::create_symlink(target, dir_ / "link.key");
  EXPECT_FALSE(WriteNewFile((dir_ / "link.key").string(), AsBytes("x"), 0600).ok());
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(CryptoFileTest, ReadFileEnforcesSizeCap) {
  const std::string path = (dir_ / "hundred.bin").string();
  std::vector<uint8_t> data(100, 0x5a);
  ASSERT_TRUE(WriteFileAtomic(path, data, 0644).ok());
  auto exact = ReadFile(path, 100);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(*exact, data);
  auto too_big = ReadFile(path, 99);
  EXPECT_EQ(too_big.status().code(), Code::kResourceExhausted);
  EXPECT_NE(too_big.status().message().find(path), std::string::npos);
  auto empty_ok = ReadFile(path, SIZE_MAX);
  ASSERT_TRUE(empty_ok.ok());
  EXPECT_EQ(empty_ok->size(), 100u);
}

TEST_F(CryptoFileTest, ReadFileCapsNonRegularFiles) {
  // /proc files report size 0; the cap must hold while reading.
  auto capped = ReadFile("/proc/self/status", 10);
  EXPECT_EQ(capped.status().code(), Code::kResourceExhausted);
  auto whole = ReadFile("/proc/self/status", 1 << 20);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_GT(whole->size(), 10u);
}

TEST_F(CryptoFileTest, ReadFileMissingIsNotFoundNamingThePath) {
  const std::string path = (dir_ / "missing.bin").string();
  auto result = ReadFile(path, 10);
  EXPECT_EQ(result.status().code(), Code::kNotFound);
  EXPECT_NE(result.status().message().find(path), std::string::npos);
}

TEST(CryptoOpenSslErrorsTest, DrainsTheQueue) {
  ERR_clear_error();
  EXPECT_EQ(OpenSslErrors(), "no OpenSSL error details");
  EXPECT_EQ(EVP_MD_fetch(nullptr, "NO-SUCH-DIGEST", nullptr), nullptr);
  const std::string errors = OpenSslErrors();
  EXPECT_NE(errors, "no OpenSSL error details");
  EXPECT_NE(errors.find("unsupported"), std::string::npos) << errors;
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace fedge::shared
