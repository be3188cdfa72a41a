#pragma once
// The field checks and 400 errors request validators give, in OpenAI's
// wording, shared by every validator of the adapters library (chat,
// embeddings, Responses).

#include <initializer_list>
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

/// The member `key`, or nullptr when `obj` is no object, the key is absent
/// or its value is null (OpenAI's optional parameters are nullable).
inline const nlohmann::json* get(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

inline bool one_of(const std::string& s, std::initializer_list<std::string_view> options) {
  for (auto o : options)
    if (s == o) return true;
  return false;
}

/// ^[a-zA-Z0-9_-]{1,64}$, OpenAI's rule for function and schema names.
inline bool valid_name(const std::string& s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// A string member or absent (required: present; non_empty: not "").
inline result<void> check_string(const nlohmann::json& obj, const char* key, const std::string& path,
                                 bool required = false, bool non_empty = false) {
  const nlohmann::json* v = get(obj, key);
  if (!v) return required ? result<void>(missing(path)) : result<void>();
  if (!v->is_string()) return wrong_type(path, *v, "a string");
  if (non_empty && v->get_ref<const std::string&>().empty()) return bad_value(path, "must not be empty.");
  return {};
}

/// A boolean member or absent.
inline result<void> check_bool(const nlohmann::json& obj, const char* key, const std::string& path) {
  const nlohmann::json* v = get(obj, key);
  if (v && !v->is_boolean()) return wrong_type(path, *v, "a boolean");
  return {};
}

/// An object member or absent (required: present).
inline result<void> check_object(const nlohmann::json& obj, const char* key, const std::string& path,
                                 bool required = false) {
  const nlohmann::json* v = get(obj, key);
  if (!v) return required ? result<void>(missing(path)) : result<void>();
  if (!v->is_object()) return wrong_type(path, *v, "an object");
  return {};
}

} // namespace oag::adapters::param_errors
