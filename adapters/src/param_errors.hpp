#pragma once
// The 400 errors request validators give, in OpenAI's wording, shared by
// every validator of the adapters library (chat, embeddings, Responses).

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::adapters::param_errors {

/// An invalid_request failure naming `param`.
inline failure invalid(std::string param, std::string message) {
  return make_failure(errc::invalid_request, std::move(message), std::move(param));
}

/// "a string", "an integer", … for error messages.
inline const char* type_name(const nlohmann::json& v) noexcept {
  using t = nlohmann::json::value_t;
  switch (v.type()) {
    case t::null: return "null";
    case t::boolean: return "a boolean";
    case t::string: return "a string";
    case t::array: return "an array";
    case t::object: return "an object";
    case t::number_integer:
    case t::number_unsigned: return "an integer";
    case t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

inline failure wrong_type(const std::string& param, const nlohmann::json& v, std::string_view expected) {
  return invalid(param, "Invalid type for '" + param + "': expected " + std::string(expected) + ", but got " +
                            type_name(v) + " instead.");
}

inline failure bad_value(const std::string& param, std::string_view why) {
  return invalid(param, "Invalid value for '" + param + "': " + std::string(why));
}

inline failure missing(const std::string& param) {
  return invalid(param, "Missing required parameter: '" + param + "'.");
}

/// "base[i]".
inline std::string index_path(std::string_view base, std::size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

} // namespace oag::adapters::param_errors
