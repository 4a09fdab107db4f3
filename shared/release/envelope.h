#pragma once
// A signed metadata file: the exact payload bytes plus signatures over them.
//
// File format (itself canonical JSON):
//   {"signatures":[{"keyid":"<hex>","sig":"<base64>"},...],"signed":"<base64 of payload>"}
// A signature is Ed25519 over kSigningContext followed by the payload bytes; the payload is
// never re-serialised, so what is verified is exactly what was signed. Verifiers check the
// signatures first and only then decode the payload (see verify.h).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"
#include "shared/release/keys.h"
#include "shared/release/metadata.h"

namespace fedge::shared::release {

// Domain separation: these signatures can never be mistaken for signatures of anything else.
inline constexpr std::string_view kSigningContext = "fedge-release-metadata-v1\n";
inline constexpr size_t kMaxSignatures = 64;
// Largest metadata file a client reads (payload in base64 plus signatures).
inline constexpr size_t kMaxEnvelopeBytes = kMaxPayloadBytes / 3 * 4 + 64 * 1024;

struct Signature {
  std::string key_id;
  std::vector<uint8_t> sig;
};

class Envelope {
 public:
  Envelope() = default;
  // An unsigned envelope around `payload` (canonical bytes from EncodePayload()).
  explicit Envelope(std::string payload) : payload_(std::move(payload)) {}

  // Parses an untrusted metadata file of at most `max_bytes`. Checks structure only (base64,
  // counts, sizes); no signature is verified here. InvalidArgument naming `what` on garbage.
  static Result<Envelope> Parse(std::span<const uint8_t> bytes, size_t max_bytes,
                                std::string_view what);
  // The file bytes.
  std::string Serialize() const;

  const std::string& payload() const { return payload_; }
  const std::vector<Signature>& signatures() const { return signatures_; }

  // Signs the payload with `key` and records the signature, replacing an earlier one by the
  // same key (so adding the same signer twice never inflates the count).
  Status AddSignature(const PrivateKey& key);
  // Appends a signature entry as is, without any check. For tests that build hostile files.
  void AppendRawSignature(Signature signature) { signatures_.push_back(std::move(signature)); }

  // OK iff at least `role`'s threshold of distinct key ids listed for `role` in `root` have a
  // valid signature here. Each key counts once however often it is listed or has signed.
  // PermissionDenied otherwise, "<what>: only N of the M required ... signatures ...".
  Status VerifyRole(const RootMetadata& root, Role role, std::string_view what) const;

  // SHA-256 and length of the payload (what snapshot and timestamp pin).
  Digest PayloadSha256() const;

 private:
  std::string payload_;
  std::vector<Signature> signatures_;
};

// kSigningContext + payload: the message an Ed25519 signature covers.
std::string SigningMessage(std::string_view payload);

}  // namespace fedge::shared::release
