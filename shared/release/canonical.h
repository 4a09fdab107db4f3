#pragma once
// Canonical JSON and base64 for release metadata, plus bounded, validating readers for
// untrusted JSON. None of these throw.
//
// Canonical JSON here: objects with keys sorted bytewise, no insignificant whitespace, only
// objects, arrays, strings (valid UTF-8), unsigned/signed integers and booleans (no floats, no
// null). The signer produces these bytes once; verifiers check signatures over the stored bytes
// and also require that they are canonical (so a payload has exactly one accepted spelling).

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::shared::release {

using Json = nlohmann::json;

// Deepest nesting of arrays/objects accepted by ParseJson.
inline constexpr int kMaxJsonDepth = 16;

// Standard base64 (RFC 4648, '+' '/', '=' padding).
std::string Base64Encode(std::span<const uint8_t> bytes);
// Strict inverse of Base64Encode: InvalidArgument on a bad character, length or padding.
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

// Canonical text of `value`. InvalidArgument if it holds a float, null, or a string that is not
// valid UTF-8.
Result<std::string> CanonicalJson(const Json& value);

// Parses untrusted JSON of at most `max_bytes` bytes and at most kMaxJsonDepth levels.
// `what` names the document in messages. InvalidArgument on any violation.
Result<Json> ParseJson(std::span<const uint8_t> bytes, size_t max_bytes, std::string_view what);

// ParseJson, then requires `bytes` to be exactly CanonicalJson() of the result and to be an
// object. InvalidArgument otherwise.
Result<Json> ParseCanonicalObject(std::span<const uint8_t> bytes, size_t max_bytes,
                                  std::string_view what);

// Typed, bounded field readers for a parsed JSON object. Each returns InvalidArgument naming
// `what` and the field if it is missing or of the wrong type or out of range.
Result<const Json*> GetField(const Json& object, std::string_view key, std::string_view what);
Result<uint64_t> GetUint(const Json& object, std::string_view key, std::string_view what);
Result<int64_t> GetInt(const Json& object, std::string_view key, std::string_view what);
Result<std::string> GetString(const Json& object, std::string_view key, size_t max_length,
                              std::string_view what);
Result<const Json*> GetObject(const Json& object, std::string_view key, std::string_view what);
Result<const Json*> GetArray(const Json& object, std::string_view key, size_t max_items,
                             std::string_view what);
// A "sha256" entry of a "hashes" object, as 64 hex characters.
Result<Digest> GetSha256(const Json& object, std::string_view what);

}  // namespace fedge::shared::release
