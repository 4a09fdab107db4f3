#include "shared/release/canonical.h"

#include <array>
#include <string_view>
#include <utility>

#include "shared/base/json_depth.h"

namespace fedge::shared::release {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Rejects floats and nulls anywhere in `value` (CanonicalJson's value domain).
Status CheckCanonicalTypes(const Json& value, int depth) {
  if (depth > kMaxJsonDepth) return Status::InvalidArgument("JSON nested too deeply");
  switch (value.type()) {
    case Json::value_t::object:
    case Json::value_t::array:
      for (const Json& item : value) FEDGE_RETURN_IF_ERROR(CheckCanonicalTypes(item, depth + 1));
      return Status::Ok();
    case Json::value_t::string:
    case Json::value_t::boolean:
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return Status::Ok();
    default:
      return Status::InvalidArgument(std::string("canonical JSON has no ") + value.type_name() +
                                     " values");
  }
}

std::string Field(std::string_view what, std::string_view key) {
  return std::string(what) + ": field \"" + std::string(key) + "\"";
}

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16 | (rest == 2 ? uint32_t{bytes[i + 1]} << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument("base64 length " + std::to_string(text.size()) +
                                   " is not a multiple of 4");
  }
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    std::array<int, 4> v{};
    for (int j = 0; j < 4 - pad; ++j) {
      v[j] = Base64Value(text[i + j]);
      if (v[j] < 0) {
        return Status::InvalidArgument("bad base64 character at position " + std::to_string(i + j));
      }
    }
    if (pad == 1 && text[i + 2] == '=') return Status::InvalidArgument("bad base64 padding");
    const uint32_t bits = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | v[3];
    // Non-canonical encodings (non-zero bits under the padding) are rejected.
    if ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0)) {
      return Status::InvalidArgument("non-canonical base64 padding bits");
    }
    out.push_back(static_cast<uint8_t>(bits >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(bits >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(bits));
  }
  return out;
}

Result<std::string> CanonicalJson(const Json& value) {
  FEDGE_RETURN_IF_ERROR(CheckCanonicalTypes(value, 0));
  try {
    // object_t is a std::map: keys come out sorted bytewise. indent -1: no whitespace.
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("cannot encode canonical JSON: ") + e.what());
  }
}

Result<Json> ParseJson(std::span<const uint8_t> bytes, size_t max_bytes, std::string_view what) {
  if (bytes.size() > max_bytes) {
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(bytes.size()) +
                                   " bytes is over the limit of " + std::to_string(max_bytes));
  }
  if (!JsonDepthWithin(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       kMaxJsonDepth)) {
    return Status::InvalidArgument(std::string(what) + ": JSON nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return Json::parse(bytes.begin(), bytes.end());
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string(what) + ": not valid JSON: " + e.what());
  }
}

Result<Json> ParseCanonicalObject(std::span<const uint8_t> bytes, size_t max_bytes,
                                  std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(Json value, ParseJson(bytes, max_bytes, what));
  if (!value.is_object()) return Status::InvalidArgument(std::string(what) + ": not an object");
  Result<std::string> canonical = CanonicalJson(value);
  if (!canonical.ok()) return canonical.status().WithContext(std::string(what));
  if (canonical->size() != bytes.size() ||
      !std::equal(bytes.begin(), bytes.end(), canonical->begin())) {
    return Status::InvalidArgument(std::string(what) +
                                   ": payload is not canonical JSON (sorted keys, no "
                                   "whitespace, no duplicate keys)");
  }
  return value;
}

Result<const Json*> GetField(const Json& object, std::string_view key, std::string_view what) {
  if (!object.is_object()) return Status::InvalidArgument(std::string(what) + ": not an object");
  auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(Field(what, key) + " is missing");
  return &*it;
}

Result<uint64_t> GetUint(const Json& object, std::string_view key, std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* v, GetField(object, key, what));
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer() && v->get<int64_t>() >= 0) {
    return static_cast<uint64_t>(v->get<int64_t>());
  }
  return Status::InvalidArgument(Field(what, key) + " must be a non-negative integer");
}

Result<int64_t> GetInt(const Json& object, std::string_view key, std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* v, GetField(object, key, what));
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  if (v->is_number_unsigned() && v->get<uint64_t>() <= uint64_t{INT64_MAX}) {
    return static_cast<int64_t>(v->get<uint64_t>());
  }
  return Status::InvalidArgument(Field(what, key) + " must be a 64-bit integer");
}

Result<std::string> GetString(const Json& object, std::string_view key, size_t max_length,
                              std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* v, GetField(object, key, what));
  if (!v->is_string()) return Status::InvalidArgument(Field(what, key) + " must be a string");
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_length) {
    return Status::InvalidArgument(Field(what, key) + " is longer than " +
                                   std::to_string(max_length) + " bytes");
  }
  return s;
}

Result<const Json*> GetObject(const Json& object, std::string_view key, std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* v, GetField(object, key, what));
  if (!v->is_object()) return Status::InvalidArgument(Field(what, key) + " must be an object");
  return v;
}

Result<const Json*> GetArray(const Json& object, std::string_view key, size_t max_items,
                             std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* v, GetField(object, key, what));
  if (!v->is_array()) return Status::InvalidArgument(Field(what, key) + " must be an array");
  if (v->size() > max_items) {
    return Status::InvalidArgument(Field(what, key) + " has more than " +
                                   std::to_string(max_items) + " items");
  }
  return v;
}

Result<Digest> GetSha256(const Json& object, std::string_view what) {
  FEDGE_ASSIGN_OR_RETURN(const Json* hashes, GetObject(object, "hashes", what));
  FEDGE_ASSIGN_OR_RETURN(std::string hex, GetString(*hashes, "sha256", 64, what));
  Result<Digest> digest = DigestFromHex(hex);
  if (!digest.ok()) return digest.status().WithContext(std::string(what) + ": hashes.sha256");
  return digest;
}

}  // namespace fedge::shared::release
