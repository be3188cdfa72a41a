#include "oag/error.hpp"

#include <nlohmann/json.hpp>

namespace oag {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_request: return "invalid_request";
    case errc::invalid_api_key: return "invalid_api_key";
    case errc::permission_denied: return "permission_denied";
    case errc::insufficient_quota: return "insufficient_quota";
    case errc::rate_limited: return "rate_limited";
    case errc::not_found: return "not_found";
    case errc::model_not_found: return "model_not_found";
    case errc::conflict: return "conflict";
    case errc::payload_too_large: return "payload_too_large";
    case errc::upstream_error: return "upstream_error";
    case errc::upstream_timeout: return "upstream_timeout";
    case errc::unavailable: return "unavailable";
    case errc::internal: return "internal";
    case errc::storage_failure: return "storage_failure";
    case errc::method_not_allowed: return "method_not_allowed";
  }
  return "unknown";
}

int http_status_of(const failure& f) noexcept {
  if (f.http_status) return *f.http_status;
  switch (f.code) {
    case errc::none: return 200;
    case errc::invalid_request: return 400;
    case errc::invalid_api_key: return 401;
    case errc::insufficient_quota: return 402;
    case errc::permission_denied: return 403;
    case errc::not_found:
    case errc::model_not_found: return 404;
    case errc::method_not_allowed: return 405;
    case errc::conflict: return 409;
    case errc::payload_too_large: return 413;
    case errc::rate_limited: return 429;
    case errc::upstream_error: return 502;
    case errc::unavailable: return 503;
    case errc::upstream_timeout: return 504;
    case errc::internal:
    case errc::storage_failure: return 500;
  }
  return 500;
}

const char* openai_type_of(const failure& f) noexcept {
  switch (f.code) {
    case errc::insufficient_quota: return "insufficient_quota";
    case errc::rate_limited: return "rate_limit_exceeded";
    case errc::upstream_error:
    case errc::upstream_timeout:
    case errc::unavailable:
    case errc::internal:
    case errc::storage_failure: return "server_error";
    case errc::permission_denied: return "permission_error";
    default: return "invalid_request_error";
  }
}

std::optional<std::string> openai_code_of(const failure& f) {
  if (f.error_code) return f.error_code;
  switch (f.code) {
    case errc::invalid_api_key: return std::string{"invalid_api_key"};
    case errc::insufficient_quota: return std::string{"insufficient_quota"};
    case errc::rate_limited: return std::string{"rate_limit_exceeded"};
    case errc::model_not_found: return std::string{"model_not_found"};
    case errc::not_found: return std::string{"not_found"};
    case errc::conflict: return std::string{"conflict"};
    case errc::payload_too_large: return std::string{"payload_too_large"};
    case errc::upstream_timeout: return std::string{"upstream_timeout"};
    case errc::upstream_error: return std::string{"upstream_error"};
    case errc::method_not_allowed: return std::string{"method_not_allowed"};
    default: return std::nullopt;
  }
}

std::string to_openai_error_body(const failure& f) {
  nlohmann::json err;
  err["message"] = f.message;
  err["type"] = openai_type_of(f);
  err["param"] = f.param ? nlohmann::json(*f.param) : nlohmann::json(nullptr);
  auto code = openai_code_of(f);
  err["code"] = code ? nlohmann::json(*code) : nlohmann::json(nullptr);
  nlohmann::json body;
  body["error"] = std::move(err);
  // Replace invalid UTF-8 (e.g. echoed from an upstream) rather than throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace oag
