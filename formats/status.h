// Status and Result<T>: how formats/ and engine/ report failure. Errors are
// values that callers branch on by code; nothing in the engine throws across
// a thread boundary.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace eventflow {

class [[nodiscard]] Status {
 public:
  // A handful of codes callers branch on; the message says the rest.
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,
    kCorruption,       // stored bytes fail a check (CRC, framing, format)
    kInvalidArgument,  // the caller's input is wrong
    kIOError,          // the OS refused an operation (EIO, EBADF, ...)
    kNoSpace,          // ENOSPC / EDQUOT: may clear when space returns
    kAlreadyExists,
    kConflict,       // the request clashes with stored state (e.g. an id in another stream)
    kBusy,           // a resource is held by someone else (LOCK held, writer recovering)
    kUnavailable,    // temporarily refusing work (writer failed and not yet reopened)
    kAborted,        // the operation was cancelled (shutdown)
    kQuotaExceeded,  // a configured cap was reached; waiting does not lift it
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }
  static Status QuotaExceeded(std::string msg) {
    return Status(Code::kQuotaExceeded, std::move(msg));
  }
  // Builds kIOError or kNoSpace from an errno value, with "what: path: strerror".
  static Status FromErrno(int err, std::string_view what, std::string_view path);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  // "Corruption: <message>", for logs and test failures.
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace eventflow

// Returns early from the enclosing function when `expr` is not OK.
#define EF_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::eventflow::Status ef_status_ = (expr); \
    if (!ef_status_.ok()) return ef_status_; \
  } while (0)
