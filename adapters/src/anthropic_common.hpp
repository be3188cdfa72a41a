#pragma once
/// Helpers shared by the outbound Anthropic adapter (anthropic_adapter.cpp)
/// and the inbound Anthropic door (anthropic_inbound.cpp). Private to the
/// adapters library: not installed, not part of any public header.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/adapters/openai_adapter.hpp"
#include "oag/error.hpp"

namespace oag::adapters::anthropic_detail {

using nlohmann::json;

// Non-throwing JSON serialising and parsing, shared with the other kinds.
using wire::dump;
using wire::parse_json;

/// The member `key` of `obj`, or nullptr when `obj` is no object, the key
/// is absent, or its value is null (OpenAI treats explicit null as absent).
inline const json* get(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

/// The string member `key`, if it is one.
inline std::optional<std::string> get_string(const json& obj, std::string_view key) {
  const json* v = get(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

/// A non-negative integer (integral floats accepted: some servers send
/// "12.0"); nullopt for anything else.
inline std::optional<std::int64_t> count_of(const json* v) {
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) {
    auto i = v->get<std::int64_t>();
    return i < 0 ? std::nullopt : std::optional<std::int64_t>(i);
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (!(d >= 0) || d > 9.0e18 || static_cast<double>(static_cast<std::int64_t>(d)) != d)
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

/// A 400 invalid_request failure naming the parameter at fault.
inline failure bad_param(const std::string& param, std::string message) {
  failure f = make_failure(errc::invalid_request, std::move(message), param);
  f.http_status = 400;
  return f;
}

/// "path[i]".
inline std::string at(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

/// Anthropic's `error.type` for an HTTP status OAG answers with, so the
/// Anthropic SDK raises the exception class its users catch.
inline const char* anthropic_error_type_for_status(int status) noexcept {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: break;
  }
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "api_error";
}

} // namespace oag::adapters::anthropic_detail
