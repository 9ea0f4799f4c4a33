// Errors as values for the client library: an Error says what failed (the
// server's HTTP status, error code, message and details, or a transport
// failure), and Result<T> / Status carry either a value or an Error. Nothing
// in the client throws across a thread boundary.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace eventflow::client {

struct Error {
  // The HTTP status the server answered, or 0 when no answer came
  // (connection refused or reset, timeout, retries exhausted on those).
  int http_status = 0;
  // The server's `error.code` (e.g. "schema_validation_failed"), or one of
  // "connection_failed", "timeout", "bad_response", "invalid_argument",
  // "storage" (a local SQLite failure) for failures of the client side.
  std::string code;
  std::string message;
  // The server's `error.details` as minified JSON, or empty.
  std::string details;

  // True when the same request may succeed later: no answer, 429, 5xx.
  bool retryable() const { return http_status == 0 || http_status == 429 || http_status >= 500; }
  // "422 schema_validation_failed: message details", for logs.
  std::string ToString() const {
    std::string s = http_status != 0 ? std::to_string(http_status) + " " : std::string();
    s += code + ": " + message;
    if (!details.empty()) s += " " + details;
    return s;
  }
};

// Success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  const Error& error() const {
    assert(error_);
    return *error_;
  }
  std::string ToString() const { return ok() ? "OK" : error_->ToString(); }

 private:
  std::optional<Error> error_;
};

// A value, or an Error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : error_(std::move(e)) {}      // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Error& error() const {
    assert(!ok());
    return error_;
  }
  Status status() const { return ok() ? Status() : Status(error_); }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Error error_;
};

inline Error MakeError(int http_status, std::string code, std::string message) {
  return Error{http_status, std::move(code), std::move(message), {}};
}

}  // namespace eventflow::client
