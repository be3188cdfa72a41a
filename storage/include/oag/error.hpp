#pragma once
/// The one error model of OAG: an error code enum (values frozen, they are
/// persisted and registered with CAF), a failure value carrying the OpenAI
/// error fields, and `result<T>` for fallible returns.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace oag {

/// Error codes. Values are frozen: they travel inside CAF errors and may be
/// persisted in records (e.g. a failed call's ledger note).
enum class errc : std::uint8_t {
  none = 0,
  invalid_request = 1,     ///< 400 invalid_request_error
  invalid_api_key = 2,     ///< 401
  permission_denied = 3,   ///< 403
  insufficient_quota = 4,  ///< 402 insufficient_quota
  rate_limited = 5,        ///< 429 rate_limit_exceeded
  not_found = 6,           ///< 404 unknown object or route
  model_not_found = 7,     ///< 404 model_not_found
  conflict = 8,            ///< 409 state conflict
  payload_too_large = 9,   ///< 413
  upstream_error = 10,     ///< 502 upstream failed or sent garbage
  upstream_timeout = 11,   ///< 504
  unavailable = 12,        ///< 503 shutting down / overloaded
  internal = 13,           ///< 500
  storage_failure = 14,    ///< 500 RocksDB refused a read or write
  method_not_allowed = 15, ///< 405
};

/// Human-readable name of an error code (used by CAF's error renderer).
const char* to_string(errc code) noexcept;

/// A failure: what went wrong, in the terms an OpenAI SDK user understands.
struct failure {
  errc code = errc::internal;
  std::string message;
  /// The request parameter at fault (OpenAI's `param`), if any.
  std::optional<std::string> param;
  /// Overrides the default HTTP status of `code` (e.g. an upstream's own 4xx).
  std::optional<int> http_status;
  /// Overrides OpenAI's `code` field (e.g. an upstream's error code).
  std::optional<std::string> error_code;
  /// Seconds to pass on as `Retry-After`, when the upstream gave one.
  std::optional<std::string> retry_after;
};

/// Builds a failure with a message and an optional parameter name.
inline failure make_failure(errc code, std::string message,
                            std::optional<std::string> param = std::nullopt) {
  failure f;
  f.code = code;
  f.message = std::move(message);
  f.param = std::move(param);
  return f;
}

/// The HTTP status a failure is answered with.
int http_status_of(const failure& f) noexcept;

/// OpenAI's `error.type` for a failure.
const char* openai_type_of(const failure& f) noexcept;

/// OpenAI's `error.code` for a failure (nullopt renders as JSON null).
std::optional<std::string> openai_code_of(const failure& f);

/// Renders `{"error":{"message","type","param","code"}}`.
std::string to_openai_error_body(const failure& f);

/// A value or a failure. Missing values are `std::optional`, never an empty
/// string; `result` is for operations that can fail.
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(failure f) : v_(std::move(f)) {}
  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool ok() const noexcept { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const failure& error() const& { return std::get<1>(v_); }
  failure&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, failure> v_;
};

/// `result` for operations that return nothing on success.
template <>
class result<void> {
 public:
  result() = default;
  result(failure f) : f_(std::move(f)) {}
  explicit operator bool() const noexcept { return !f_.has_value(); }
  bool ok() const noexcept { return !f_.has_value(); }
  const failure& error() const& { return *f_; }
  failure&& error() && { return std::move(*f_); }

 private:
  std::optional<failure> f_;
};

} // namespace oag
