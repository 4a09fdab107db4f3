#pragma once
// A wire message as JSON, for people: the client's audit log records the full content of every
// message it sends with it. Rendered by FlatBuffers' reflection over the wire schema compiled
// into the library (schemas/fedge.fbs as a binary schema), so a field added to the schema is
// shown without code here. Two changes to what the schema would print: a BlobChunk's data is
// replaced by its length and SHA-256 ({"bytes": N, "sha256": "<hex>"}; the payload of a model
// update is not for reading), and 32-byte digests print as hex.
//
// Thread-safety: thread-safe (the schema is loaded once).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "shared/base/status.h"

namespace fedge::shared {

// One line of JSON, {"type": "<message>", "message": {...}}, for a verified envelope `payload`.
// InvalidArgument if it is not one. A message whose strings are not valid UTF-8 cannot be JSON:
// then "message" is FlatBuffers' text with \x escapes, as a JSON string.
Result<std::string> WireMessageJson(std::span<const uint8_t> payload);

}  // namespace fedge::shared
