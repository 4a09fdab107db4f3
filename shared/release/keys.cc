#include "shared/release/keys.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <utility>

#include "shared/crypto/crypto.h"

namespace fedge::shared::release {
namespace {

constexpr size_t kMaxPemBytes = 64 * 1024;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

Status OpenSslFailure(const std::string& what) {
  return Status::Internal(what + ": " + OpenSslErrors());
}

}  // namespace

std::string KeyIdOf(std::span<const uint8_t> raw_public_key) {
  return ToHex(Sha256(raw_public_key));
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromRaw(std::span<const uint8_t> raw) {
  if (raw.size() != kPublicKeySize) {
    return Status::InvalidArgument("an Ed25519 public key is 32 bytes, got " +
                                   std::to_string(raw.size()));
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (pkey == nullptr) {
    return Status::InvalidArgument("not a valid Ed25519 public key: " + OpenSslErrors());
  }
  PublicKey key;
  std::copy(raw.begin(), raw.end(), key.raw_.begin());
  key.key_id_ = KeyIdOf(raw);
  return key;
}

bool PublicKey::Verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const {
  if (signature.size() != kSignatureSize) return false;
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw_.data(), raw_.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = pkey != nullptr && ctx != nullptr &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  OpenSslErrors();  // a bad signature leaves an entry in this thread's error queue; drop it
  return ok;
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::FromPkey(EVP_PKEY* raw_pkey) {
  PkeyPtr pkey(raw_pkey);
  if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument("the private key is not an Ed25519 key");
  }
  std::array<uint8_t, kPublicKeySize> raw{};
  size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), raw.data(), &length) != 1 ||
      length != kPublicKeySize) {
    return OpenSslFailure("cannot extract the Ed25519 public key");
  }
  FEDGE_ASSIGN_OR_RETURN(PublicKey public_key, PublicKey::FromRaw(raw));
  return PrivateKey(pkey.release(), public_key);
}

Result<PrivateKey> PrivateKey::Generate() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &pkey) != 1) {
    return OpenSslFailure("Ed25519 key generation failed");
  }
  return FromPkey(pkey);
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return Status::InvalidArgument("private key PEM is larger than 64 KiB");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslFailure("BIO_new_mem_buf");
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return Status::InvalidArgument("not a PEM private key: " + OpenSslErrors());
  }
  return FromPkey(pkey);
}

Result<PrivateKey> PrivateKey::Load(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFile(path, kMaxPemBytes));
  Result<PrivateKey> key =
      FromPem(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!key.ok()) return key.status().WithContext(path);
  return key;
}

PrivateKey::~PrivateKey() { EVP_PKEY_free(pkey_); }

PrivateKey::PrivateKey(PrivateKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), public_key_(other.public_key_) {}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    public_key_ = other.public_key_;
  }
  return *this;
}

Result<std::string> PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslFailure("cannot encode the private key as PEM");
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

Status PrivateKey::Save(const std::string& path) const {
  FEDGE_ASSIGN_OR_RETURN(std::string pem, ToPem());
  return WriteFileAtomic(path, AsBytes(pem), 0600);
}

Result<std::vector<uint8_t>> PrivateKey::Sign(std::span<const uint8_t> message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::vector<uint8_t> signature(kSignatureSize);
  size_t length = signature.size();
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) != 1 ||
      length != kSignatureSize) {
    return OpenSslFailure("Ed25519 signing failed");
  }
  return signature;
}

}  // namespace fedge::shared::release
