#pragma once
// Every key format of the registry (coordinator/store.h), one section per column family:
// builders and parsers. No other file formats a store key by hand. Numbers in keys are 8-byte
// big-endian so that byte order is numeric order, except in the drift column family, whose
// keys are "<kind>/<text>" with numbers as 20 decimal digits (also in numeric order).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/crypto/crypto.h"

namespace fedge::coordinator::keys {

// Shared: an 8-byte big-endian number, and its parser (nullopt unless exactly 8 bytes).
std::string BigEndian64(uint64_t v);
std::optional<uint64_t> ParseBigEndian64(std::string_view key);

// "default": small state under fixed names. The head's value is BigEndian64(version); the
// target round's value is decimal text.
inline constexpr std::string_view kHead = "head";
inline constexpr std::string_view kOpenRound = "open_round";
inline constexpr std::string_view kTargetRound = "target_round";

// "clients", "revoked", "standing": the client id.
inline std::string ClientKey(std::string_view client_id) { return std::string(client_id); }

// "models": BigEndian64(version).
inline std::string ModelKey(uint64_t version) { return BigEndian64(version); }

// "blobs": the 32 bytes of the blob's SHA-256.
std::string BlobKey(const shared::Digest& digest);

// "updates", "update_blobs": BigEndian64(round) + client id. A round's updates are the keys in
// [UpdatesBegin(round), UpdatesBegin(round + 1)).
std::string UpdateKey(uint64_t round, std::string_view client_id);
inline std::string UpdatesBegin(uint64_t round) { return BigEndian64(round); }

// "accepted": the client id, a NUL byte, the update's idempotency id: ids are per client, so no
// client can name another's update (client ids hold no control characters). Registries written
// before this key the id alone (LegacyAcceptedKey); Store::AcceptedUpdate reads both.
inline std::string AcceptedKey(std::string_view client_id, std::string_view idempotency_id) {
  std::string key(client_id);
  key += '\0';
  key += idempotency_id;
  return key;
}
inline std::string LegacyAcceptedKey(std::string_view idempotency_id) {
  return std::string(idempotency_id);
}

// "rounds": BigEndian64(round).
inline std::string RoundKey(uint64_t round) { return BigEndian64(round); }

// "rollouts": BigEndian64(rollout id).
inline std::string RolloutKey(uint64_t id) { return BigEndian64(id); }
inline std::optional<uint64_t> ParseRolloutKey(std::string_view key) {
  return ParseBigEndian64(key);
}

// "drift": "client/<client id>" (a client's drift state), "campaign/<20-digit id>" (a
// retraining campaign), "profile/<20-digit model version>" (a version's reference profile).
inline constexpr std::string_view kDriftClientPrefix = "client/";
inline constexpr std::string_view kCampaignPrefix = "campaign/";
inline constexpr std::string_view kProfilePrefix = "profile/";
std::string DriftClientKey(std::string_view client_id);
std::string CampaignKey(uint64_t id);
std::string ReferenceProfileKey(uint64_t version);
// nullopt if `key` is not of that kind (or its number is not 20 digits).
std::optional<std::string> ParseDriftClientKey(std::string_view key);
std::optional<uint64_t> ParseCampaignKey(std::string_view key);
std::optional<uint64_t> ParseReferenceProfileKey(std::string_view key);

}  // namespace fedge::coordinator::keys
