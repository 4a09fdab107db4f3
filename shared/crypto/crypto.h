#pragma once
// SHA-256 (OpenSSL 3 EVP), hex encoding of digests, durable file I/O and OpenSSL error text.
//
// Thread-safety: all free functions are thread-safe. A Sha256Hasher must not be used from two
// threads at once.

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/status.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX; kept out of this header.

namespace fedge::shared {

inline constexpr size_t kDigestSize = 32;
using Digest = std::array<uint8_t, kDigestSize>;

// The bytes of a string, for hashing or writing text.
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// SHA-256 of `bytes` in one call.
Digest Sha256(std::span<const uint8_t> bytes);

// Incremental SHA-256: Update() any number of times, then Finish(). Finish() resets the hasher so
// it can start a new digest. Movable, not copyable; a moved-from hasher may only be destroyed or
// assigned to.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&& other) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&& other) noexcept;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::span<const uint8_t> bytes);
  Digest Finish();

 private:
  evp_md_ctx_st* ctx_;  // owned
};

// Lower-case hex of `bytes` (two characters per byte).
std::string ToHex(std::span<const uint8_t> bytes);

// Parses 64 hex characters (either case). InvalidArgument on a bad length or character.
Result<Digest> DigestFromHex(std::string_view hex);

// Copies exactly kDigestSize bytes into a Digest. InvalidArgument on any other length.
Result<Digest> DigestFromBytes(std::span<const uint8_t> bytes);

// Replaces `path` with `bytes` atomically and durably: writes a temporary file in the same
// directory (created with permissions `mode`, never wider, whatever the umask), fsyncs it,
// renames it over `path` and fsyncs the directory. Readers see the old or the new content, never
// a mix. On failure the temporary file is removed and `path` is untouched.
Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> bytes, mode_t mode);

// Creates `path`, which must not exist yet (AlreadyExists otherwise; symlinks are not followed),
// with permissions exactly `mode` from the moment it exists, and writes `bytes`. Not fsynced:
// for many files written into a fresh directory that is synced once (e.g. with syncfs) and then
// renamed into place. Use WriteFileAtomic for a single durable file.
Status WriteNewFile(const std::string& path, std::span<const uint8_t> bytes, mode_t mode);

// Reads a whole file of at most `max_bytes` bytes. NotFound if it does not exist,
// PermissionDenied if it cannot be opened, ResourceExhausted if it is larger than `max_bytes`,
// IOError otherwise. Messages name the path.
Result<std::vector<uint8_t>> ReadFile(const std::string& path, size_t max_bytes);

// Drains this thread's OpenSSL error queue into one line, e.g.
// "PEM routines: no start line; ...". Returns "no OpenSSL error details" if the queue was empty.
std::string OpenSslErrors();

}  // namespace fedge::shared
