#include "shared/crypto/crypto.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

namespace fedge::shared {
namespace {

// SHA-256 failing means memory exhaustion or a broken OpenSSL install: an invariant, not input.
[[noreturn]] void DieOnOpenSslFailure(const char* what) {
  std::fprintf(stderr, "fedge: fatal OpenSSL failure in %s: %s\n", what, OpenSslErrors().c_str());
  std::abort();
}

// Fetched once: OpenSSL 3 does an implicit (locked) fetch on every EVP_sha256() init otherwise.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) DieOnOpenSslFailure("EVP_MD_fetch(SHA256)");
    return fetched;
  }();
  return md;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status ErrnoStatus(int err, const std::string& what, const std::string& path) {
  std::string message = what + " " + path + ": " + std::generic_category().message(err);
  if (err == ENOENT || err == ENOTDIR) return Status::NotFound(std::move(message));
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(std::move(message));
  return Status::IOError(std::move(message));
}

// Closes a file descriptor on scope exit unless Release()d.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Status WriteAll(int fd, std::span<const uint8_t> bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot write", path);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncDirectory(const std::string& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open directory", dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "cannot fsync directory", dir);
  return Status::Ok();
}

// Creates `path` exclusively with permissions exactly `mode`; returns its fd.
Result<int> CreateExclusive(const std::string& path, mode_t mode) {
  // The umask can only remove bits, so the file is never wider than `mode`; fchmod then adds
  // back exactly the bits the caller asked for.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 0777);
  if (fd < 0 && errno == EEXIST) return Status::AlreadyExists(path + " already exists");
  if (fd < 0) return ErrnoStatus(errno, "cannot create", path);
  if (::fchmod(fd, mode & 07777) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return ErrnoStatus(err, "cannot set permissions of", path);
  }
  return fd;
}

// Creates a new, empty file next to `path` with permissions exactly `mode`; returns its fd.
Result<int> CreateTempFile(const std::string& path, mode_t mode, std::string* tmp_path) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    *tmp_path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    Result<int> fd = CreateExclusive(*tmp_path, mode);
    if (fd.ok() || fd.status().code() != Code::kAlreadyExists) return fd;
  }
  return Status::IOError("cannot find a free temporary file name next to " + path);
}

}  // namespace

Digest Sha256(std::span<const uint8_t> bytes) {
  Digest digest;
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, Sha256Md(), nullptr) != 1 ||
      length != kDigestSize) {
    DieOnOpenSslFailure("EVP_Digest");
  }
  return digest;
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr) != 1) {
    DieOnOpenSslFailure("EVP_DigestInit_ex");
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(ctx_); }

Sha256Hasher::Sha256Hasher(Sha256Hasher&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)) {}

Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void Sha256Hasher::Update(std::span<const uint8_t> bytes) {
  if (EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) {
    DieOnOpenSslFailure("EVP_DigestUpdate");
  }
}

Digest Sha256Hasher::Finish() {
  Digest digest;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &length) != 1 || length != kDigestSize ||
      EVP_DigestInit_ex(ctx_, Sha256Md(), nullptr) != 1) {
    DieOnOpenSslFailure("EVP_DigestFinal_ex");
  }
  return digest;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return hex;
}

Result<Digest> DigestFromHex(std::string_view hex) {
  if (hex.size() != 2 * kDigestSize) {
    return Status::InvalidArgument("a SHA-256 digest is 64 hex characters, got " +
                                   std::to_string(hex.size()));
  }
  Digest digest;
  for (size_t i = 0; i < kDigestSize; ++i) {
    int high = HexValue(hex[2 * i]);
    int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      size_t position = high < 0 ? 2 * i : 2 * i + 1;
      return Status::InvalidArgument("digest has a non-hex character at position " +
                                     std::to_string(position));
    }
    digest[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return digest;
}

Result<Digest> DigestFromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kDigestSize) {
    return Status::InvalidArgument("a SHA-256 digest is 32 bytes, got " +
                                   std::to_string(bytes.size()));
  }
  Digest digest;
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> bytes, mode_t mode) {
  if (path.empty()) return Status::InvalidArgument("WriteFileAtomic: empty path");
  std::string tmp_path;
  FEDGE_ASSIGN_OR_RETURN(int raw_fd, CreateTempFile(path, mode, &tmp_path));
  ScopedFd fd(raw_fd);
  Status status = WriteAll(fd.get(), bytes, tmp_path);
  if (status.ok() && ::fsync(fd.get()) != 0) status = ErrnoStatus(errno, "cannot fsync", tmp_path);
  if (status.ok() && ::close(fd.Release()) != 0) {
    status = ErrnoStatus(errno, "cannot close", tmp_path);
  }
  if (status.ok() && ::rename(tmp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoStatus(errno, "cannot rename " + tmp_path + " to", path);
  }
  if (!status.ok()) {
    ::unlink(tmp_path.c_str());
    return status;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

Status WriteNewFile(const std::string& path, std::span<const uint8_t> bytes, mode_t mode) {
  FEDGE_ASSIGN_OR_RETURN(int raw_fd, CreateExclusive(path, mode));
  ScopedFd fd(raw_fd);
  Status status = WriteAll(fd.get(), bytes, path);
  if (status.ok() && ::close(fd.Release()) != 0) status = ErrnoStatus(errno, "cannot close", path);
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

Result<std::vector<uint8_t>> ReadFile(const std::string& path, size_t max_bytes) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  auto too_large = [&] {
    return Status::ResourceExhausted(path + " is larger than the limit of " +
                                     std::to_string(max_bytes) + " bytes");
  };
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  // Read until EOF rather than trusting st_size: the file may grow, or be a pipe or /proc file.
  const size_t limit = max_bytes == std::numeric_limits<size_t>::max() ? max_bytes : max_bytes + 1;
  size_t expected = S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0;
  std::vector<uint8_t> bytes(std::min(limit, std::max<size_t>(expected + 1, 4096)));
  size_t size = 0;
  while (true) {
    if (size == bytes.size()) {
      if (size >= limit) return too_large();
      bytes.resize(std::min(limit, 2 * size));
    }
    ssize_t n = ::read(fd.get(), bytes.data() + size, bytes.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "cannot read", path);
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > max_bytes) return too_large();
  bytes.resize(size);
  return bytes;
}

std::string OpenSslErrors() {
  std::string text;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long error =
             ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {  // NOLINT
    if (!text.empty()) text += "; ";
    const char* library = ERR_lib_error_string(error);
    const char* reason = ERR_reason_error_string(error);
    if (library != nullptr && reason != nullptr) {
      text += std::string(library) + ": " + reason;
    } else {
      char buffer[256];
      ERR_error_string_n(error, buffer, sizeof(buffer));
      text += buffer;
    }
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      text += std::string(" (") + data + ")";
    }
  }
  return text.empty() ? "no OpenSSL error details" : text;
}

}  // namespace fedge::shared
