#pragma once
// Status and Result<T>: errors as values (no exceptions across module boundaries).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace fedge::shared {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kCorruption,
  kIOError,
  kUnavailable,
  kDeadlineExceeded,
  kPermissionDenied,
  kResourceExhausted,
  kInternal,
};

// Human-readable name of a code, e.g. "InvalidArgument".
const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Explicitly drops a status whose failure is handled elsewhere (e.g. best effort).
  void IgnoreError() const {}
  // "InvalidArgument: <message>" or "OK".
  std::string ToString() const;
  // Returns a copy with "context: " prepended to the message.
  Status WithContext(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: REQUIRES: !status.ok()

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace fedge::shared

#define FEDGE_CONCAT_INNER(a, b) a##b
#define FEDGE_CONCAT(a, b) FEDGE_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if it is not OK.
#define FEDGE_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::fedge::shared::Status fedge_status_ = (expr); \
    if (!fedge_status_.ok()) return fedge_status_;  \
  } while (0)

// `FEDGE_ASSIGN_OR_RETURN(auto x, F());` declares x from a Result or returns its status.
#define FEDGE_ASSIGN_OR_RETURN(lhs, expr)                  \
  auto FEDGE_CONCAT(fedge_result_, __LINE__) = (expr);     \
  if (!FEDGE_CONCAT(fedge_result_, __LINE__).ok())         \
    return FEDGE_CONCAT(fedge_result_, __LINE__).status(); \
  lhs = std::move(FEDGE_CONCAT(fedge_result_, __LINE__)).value()

// Coroutine variants (co_return instead of return).
#define FEDGE_CO_RETURN_IF_ERROR(expr)                \
  do {                                                \
    ::fedge::shared::Status fedge_status_ = (expr);   \
    if (!fedge_status_.ok()) co_return fedge_status_; \
  } while (0)

#define FEDGE_CO_ASSIGN_OR_RETURN(lhs, expr)                  \
  auto FEDGE_CONCAT(fedge_result_, __LINE__) = (expr);        \
  if (!FEDGE_CONCAT(fedge_result_, __LINE__).ok())            \
    co_return FEDGE_CONCAT(fedge_result_, __LINE__).status(); \
  lhs = std::move(FEDGE_CONCAT(fedge_result_, __LINE__)).value()
