#include "shared/net/wire_text.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace fedge::shared {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0 if it is not one
// (RFC 3629, Table 3-7 of the Unicode standard).
size_t Utf8SequenceLength(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

bool IsControl(std::string_view character) {
  const unsigned char b0 = static_cast<unsigned char>(character[0]);
  if (b0 < 0x20 || b0 == 0x7F) return true;
  // C1 controls U+0080..U+009F: C2 80..C2 9F.
  return b0 == 0xC2 && static_cast<unsigned char>(character[1]) <= 0x9F;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string SafeText(std::string_view text, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  static constexpr std::string_view kCut = "...";
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() <= max_bytes) {
    const size_t n = Utf8SequenceLength(text.substr(i));
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (IsControl(text.substr(i, n))) {
      out += '?';
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  if (i == text.size() && out.size() <= max_bytes) return out;
  size_t cut = max_bytes >= kCut.size() ? max_bytes - kCut.size() : max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  if (max_bytes >= kCut.size()) out += kCut;
  return out;
}

Result<std::string> WireString(const flatbuffers::String* s, size_t max_bytes,
                               std::string_view field, bool required) {
  if (s == nullptr || s->size() == 0) {
    if (required) return Status::InvalidArgument(std::string(field) + " is missing or empty");
    return std::string();
  }
  if (s->size() > max_bytes) {
    return Status::InvalidArgument(std::string(field) + " is " + std::to_string(s->size()) +
                                   " bytes long; at most " + std::to_string(max_bytes) +
                                   " are allowed");
  }
  const std::string_view text = s->string_view();
  if (!IsValidUtf8(text)) {
    return Status::InvalidArgument(std::string(field) + " is not valid UTF-8");
  }
  for (size_t i = 0; i < text.size(); i += Utf8SequenceLength(text.substr(i))) {
    if (IsControl(text.substr(i))) {
      return Status::InvalidArgument(std::string(field) + " holds a control character");
    }
  }
  return std::string(text);
}

std::string WireFreeText(const flatbuffers::String* s, size_t max_bytes) {
  if (s == nullptr) return std::string();
  // Read no more than can be kept: a character of the result takes at least half its bytes
  // (C1 controls: 2 -> 1), so this prefix still shows that a longer text was cut.
  const std::string_view text = s->string_view();
  return SafeText(text.substr(0, std::min(text.size(), 2 * max_bytes + 8)), max_bytes);
}

Result<std::vector<std::pair<std::string, double>>> WireKeyValues(
    const flatbuffers::Vector<flatbuffers::Offset<wire::KeyValue>>* kvs, size_t max_entries,
    size_t max_key_bytes, std::string_view field) {
  std::vector<std::pair<std::string, double>> out;
  if (kvs == nullptr) return out;
  if (kvs->size() > max_entries) {
    return Status::InvalidArgument(std::string(field) + " has " + std::to_string(kvs->size()) +
                                   " entries; at most " + std::to_string(max_entries) +
                                   " are allowed");
  }
  std::set<std::string, std::less<>> seen;
  for (const wire::KeyValue* kv : *kvs) {
    Result<std::string> key = WireString(kv->key(), max_key_bytes, std::string(field) + " key",
                                         /*required=*/true);
    if (!key.ok()) return key.status();
    if (!std::isfinite(kv->value())) {
      return Status::InvalidArgument(std::string(field) + " '" + *key + "' is not finite");
    }
    if (!seen.insert(*key).second) {
      return Status::InvalidArgument(std::string(field) + " '" + *key + "' appears twice");
    }
    out.emplace_back(std::move(*key), kv->value());
  }
  return out;
}

}  // namespace fedge::shared
