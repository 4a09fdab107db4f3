#include "coordinator/store_keys.h"

#include <cstdio>

namespace fedge::coordinator::keys {

namespace {

std::string Decimal20(std::string_view prefix, uint64_t n) {
  char digits[21];
  std::snprintf(digits, sizeof(digits), "%020llu", static_cast<unsigned long long>(n));
  return std::string(prefix) + digits;
}

std::optional<uint64_t> ParseDecimal20(std::string_view prefix, std::string_view key) {
  if (!key.starts_with(prefix) || key.size() != prefix.size() + 20) return std::nullopt;
  uint64_t n = 0;
  for (char c : key.substr(prefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

}  // namespace

std::string BigEndian64(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) k[i] = static_cast<char>(v & 0xff);
  return k;
}

std::optional<uint64_t> ParseBigEndian64(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (unsigned char c : key) v = (v << 8) | c;
  return v;
}

std::string BlobKey(const shared::Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

std::string UpdateKey(uint64_t round, std::string_view client_id) {
  return BigEndian64(round) + std::string(client_id);
}

std::string DriftClientKey(std::string_view client_id) {
  return std::string(kDriftClientPrefix) + std::string(client_id);
}

std::string CampaignKey(uint64_t id) { return Decimal20(kCampaignPrefix, id); }

std::string ReferenceProfileKey(uint64_t version) { return Decimal20(kProfilePrefix, version); }

std::optional<std::string> ParseDriftClientKey(std::string_view key) {
  if (!key.starts_with(kDriftClientPrefix) || key.size() == kDriftClientPrefix.size()) {
    return std::nullopt;
  }
  return std::string(key.substr(kDriftClientPrefix.size()));
}

std::optional<uint64_t> ParseCampaignKey(std::string_view key) {
  return ParseDecimal20(kCampaignPrefix, key);
}

std::optional<uint64_t> ParseReferenceProfileKey(std::string_view key) {
  return ParseDecimal20(kProfilePrefix, key);
}

}  // namespace fedge::coordinator::keys
