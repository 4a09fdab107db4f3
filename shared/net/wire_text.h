#pragma once
// Text and lists from the wire, checked before anything copies, stores, logs or counts them.
//
// A FlatBuffers verifier bounds how many entries a message has, not how many bytes they point
// to: a 15 MiB string referenced 100,000 times verifies. Every string a peer sends therefore
// goes through one of these, with a byte cap that fits its field, and lists through
// WireKeyValues with a cap on entries and key bytes; nothing is copied before its size is known
// to be within the cap.
//
// Identifiers and names (idempotency ids, release targets, feature names) must be valid UTF-8
// without control characters and are refused otherwise (they are stored and compared).
// Free text (error messages, for logs and display) is never refused: WireFreeText makes it
// safe (invalid UTF-8 and control characters replaced, cut on a character boundary).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"

namespace fedge::shared {

// True if `text` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with invalid UTF-8 sequences replaced by U+FFFD and control characters (C0, DEL, C1,
// which covers ANSI escapes and line breaks) by '?', cut to at most `max_bytes` bytes on a
// character boundary ("..." marks a cut).
std::string SafeText(std::string_view text, size_t max_bytes);

// A string field: InvalidArgument naming `field` if it is longer than `max_bytes`, not valid
// UTF-8 or holds a control character; `required`: also if absent or empty. Absent gives "".
Result<std::string> WireString(const flatbuffers::String* s, size_t max_bytes,
                               std::string_view field, bool required = false);

// Free text from a peer, made safe to log, store and show (SafeText); absent gives "".
std::string WireFreeText(const flatbuffers::String* s, size_t max_bytes);

// A list of (key, value) pairs: at most `max_entries`, each key a WireString of at most
// `max_key_bytes`, keys unique, values finite. Absent gives an empty list.
Result<std::vector<std::pair<std::string, double>>> WireKeyValues(
    const flatbuffers::Vector<flatbuffers::Offset<wire::KeyValue>>* kvs, size_t max_entries,
    size_t max_key_bytes, std::string_view field);

// A vector of scalars (e.g. [ulong] counts), copied out: InvalidArgument naming `field` if it
// has more than `max_entries` or its data is not aligned for T. (The FlatBuffers verifier checks
// only the alignment of the length field; a builder always aligns the data, a forged message
// need not, and reading it in place would be undefined behaviour.) Absent gives an empty list.
template <typename T>
Result<std::vector<T>> WireScalars(const flatbuffers::Vector<T>* v, size_t max_entries,
                                   std::string_view field) {
  std::vector<T> out;
  if (v == nullptr || v->size() == 0) return out;  // nothing to read, aligned or not
  if (v->size() > max_entries) {
    return Status::InvalidArgument(std::string(field) + " has " + std::to_string(v->size()) +
                                   " entries; at most " + std::to_string(max_entries) +
                                   " are allowed");
  }
  if (reinterpret_cast<uintptr_t>(v->Data()) % alignof(T) != 0) {
    return Status::InvalidArgument(std::string(field) + " is not aligned (malformed message)");
  }
  out.assign(v->begin(), v->end());
  return out;
}

}  // namespace fedge::shared
