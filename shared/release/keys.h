#pragma once
// Ed25519 keys for release metadata (OpenSSL 3 EVP, pure Ed25519: no pre-hash).
//
// A key is named by its key id: the lower-case hex SHA-256 of its 32-byte raw public key.
// Private keys stay with their holder (a PEM file with mode 0600); metadata only ever carries
// public keys.
//
// Thread-safety: PublicKey is an immutable value. A PrivateKey may be used for signing from
// several threads at once (each Sign() uses its own OpenSSL context).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

typedef struct evp_pkey_st EVP_PKEY;  // as in <openssl/types.h>

namespace fedge::shared::release {

inline constexpr size_t kPublicKeySize = 32;
inline constexpr size_t kSignatureSize = 64;
inline constexpr std::string_view kKeyTypeEd25519 = "ed25519";

// Hex SHA-256 of a raw public key.
std::string KeyIdOf(std::span<const uint8_t> raw_public_key);

class PublicKey {
 public:
  // InvalidArgument unless `raw` is exactly kPublicKeySize bytes that OpenSSL accepts.
  static Result<PublicKey> FromRaw(std::span<const uint8_t> raw);

  const std::array<uint8_t, kPublicKeySize>& raw() const { return raw_; }
  const std::string& key_id() const { return key_id_; }

  // True iff `signature` is a valid Ed25519 signature of `message` by this key. Any malformed
  // signature (wrong size, garbage) is simply false.
  bool Verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

  bool operator==(const PublicKey& other) const { return raw_ == other.raw_; }

 private:
  PublicKey() = default;
  std::array<uint8_t, kPublicKeySize> raw_{};
  std::string key_id_;
};

// An Ed25519 private key. Movable, not copyable.
class PrivateKey {
 public:
  // A fresh key from OpenSSL's CSPRNG.
  static Result<PrivateKey> Generate();
  // Parses an unencrypted PKCS#8 PEM private key. InvalidArgument if it is not PEM or not an
  // Ed25519 key.
  static Result<PrivateKey> FromPem(std::string_view pem);
  // Reads a PEM file written by Save() (at most 64 KiB).
  static Result<PrivateKey> Load(const std::string& path);

  ~PrivateKey();
  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  // Unencrypted PKCS#8 PEM text of the private key.
  Result<std::string> ToPem() const;
  // Writes ToPem() to `path` atomically with mode 0600 (replacing any file there).
  Status Save(const std::string& path) const;

  const PublicKey& public_key() const { return public_key_; }
  const std::string& key_id() const { return public_key_.key_id(); }

  // The kSignatureSize-byte Ed25519 signature of `message`.
  Result<std::vector<uint8_t>> Sign(std::span<const uint8_t> message) const;

 private:
  PrivateKey(EVP_PKEY* pkey, PublicKey public_key) : pkey_(pkey), public_key_(public_key) {}
  static Result<PrivateKey> FromPkey(EVP_PKEY* pkey);  // takes ownership

  EVP_PKEY* pkey_;  // owned; null only when moved from
  PublicKey public_key_;
};

}  // namespace fedge::shared::release
