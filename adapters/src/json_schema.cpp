/// JSON Schema subset for tool parameters: a checker for schemas and a
/// validator for values. Both walk recursively with an explicit depth
/// budget and never throw; messages carry a JSON-pointer-like path.

#include "oag/adapters/json_schema.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <re2/re2.h>

namespace oag::adapters {
namespace {

using json = nlohmann::json;

constexpr int k_max_depth = k_json_schema_max_depth;
constexpr std::size_t k_max_pattern_bytes = 4096;
constexpr std::size_t k_regex_cache_entries = 512;
constexpr std::size_t k_max_quoted = 200;
constexpr std::size_t k_max_nested_message = 400;
constexpr std::size_t k_max_steps = k_json_schema_max_steps;

// ---------------------------------------------------------------------------
// Regular expressions (RE2: linear time, no backtracking blow-ups). Compiled
// patterns are shared through a small process-wide cache so validating many
// calls against one tool schema compiles each pattern once.

std::shared_ptr<const re2::RE2> compile_pattern(const std::string& pattern, std::string* why) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<const re2::RE2>> cache;
  if (pattern.size() > k_max_pattern_bytes) {
    if (why) *why = "pattern is longer than " + std::to_string(k_max_pattern_bytes) + " bytes";
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(pattern);
    if (it != cache.end()) return it->second;
  }
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(8 << 20);
  auto re = std::make_shared<const re2::RE2>(pattern, opts);
  if (!re->ok()) {
    if (why) *why = re->error();
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mu);
  // Tool schemas are few; a full cache means churn, so start over rather
  // than track recency.
  if (cache.size() >= k_regex_cache_entries) cache.clear();
  cache.emplace(pattern, re);
  return re;
}

// ---------------------------------------------------------------------------
// Small helpers.

std::string quoted(const json& v) {
  // `replace`: a programmatically built json may hold invalid UTF-8, and
  // dump must not throw.
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > k_max_quoted) {
    s.resize(k_max_quoted);
    s += "...";
  }
  return s;
}

std::string clipped(std::string s) {
  if (s.size() > k_max_nested_message) {
    s.resize(k_max_nested_message);
    s += "...";
  }
  return s;
}

void append_key(std::string& path, std::string_view key) {
  path += '/';
  for (char c : key) {
    if (c == '~') {
      path += "~0";
    } else if (c == '/') {
      path += "~1";
    } else {
      path += c;
    }
  }
}

void append_index(std::string& path, std::size_t i) {
  path += '/';
  path += std::to_string(i);
}

/// Restores a path string to its length at construction.
class path_mark {
 public:
  explicit path_mark(std::string& p) : p_(p), n_(p.size()) {}
  ~path_mark() { p_.resize(n_); }
  path_mark(const path_mark&) = delete;
  path_mark& operator=(const path_mark&) = delete;

 private:
  std::string& p_;
  std::size_t n_;
};

const char* kind_of(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "unsupported value";
  }
}

bool known_type(std::string_view t) noexcept {
  return t == "null" || t == "boolean" || t == "integer" || t == "number" || t == "string" ||
         t == "array" || t == "object";
}

bool is_integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const json& v, std::string_view t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") return is_integral(v);
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  return false;
}

long double as_long_double(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
  return static_cast<long double>(v.get<double>());
}

bool is_negative_integer(const json& v) {
  return v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
}

std::uint64_t magnitude(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  const std::int64_t x = v.get<std::int64_t>();
  return x < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(x) : static_cast<std::uint64_t>(x);
}

/// Three-way comparison of two JSON numbers, exact for 64-bit integers.
int compare_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool an = is_negative_integer(a);
    const bool bn = is_negative_integer(b);
    if (an != bn) return an ? -1 : 1;
    if (an) {
      const auto x = a.get<std::int64_t>();
      const auto y = b.get<std::int64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const auto x = a.get<std::uint64_t>();
    const auto y = b.get<std::uint64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const long double x = as_long_double(a);
  const long double y = as_long_double(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool is_multiple_of(const json& v, const json& m) {
  if (v.is_number_integer() && m.is_number_integer()) {
    const std::uint64_t mm = magnitude(m);
    return mm != 0 && magnitude(v) % mm == 0;
  }
  const long double q = as_long_double(v) / as_long_double(m);
  if (!std::isfinite(static_cast<double>(q))) return false;
  const long double r = std::round(q);
  return std::fabs(static_cast<double>(q - r)) <= 1e-9 * std::max(1.0, std::fabs(static_cast<double>(q)));
}

/// A non-negative integer keyword value (3 and 3.0 both count).
std::optional<std::uint64_t> count_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    const auto x = v.get<std::int64_t>();
    if (x < 0) return std::nullopt;
    return static_cast<std::uint64_t>(x);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d || d >= 9.2e18) return std::nullopt;
    return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

std::size_t code_points(const std::string& s) noexcept {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Resolves a local reference ("#", "#/$defs/a", "#/definitions/a%20b", ...)
/// against `root`; nullptr when it is not local or points nowhere.
const json* resolve_ref(const json& root, const std::string& ref) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  // The fragment is URI-encoded; decode before reading it as a pointer.
  std::string ptr;
  for (std::size_t i = 1; i < ref.size(); ++i) {
    if (ref[i] == '%') {
      if (i + 2 >= ref.size()) return nullptr;
      const int hi = hex_value(ref[i + 1]);
      const int lo = hex_value(ref[i + 2]);
      if (hi < 0 || lo < 0) return nullptr;
      ptr += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      ptr += ref[i];
    }
  }
  if (ptr.empty()) return &root;
  if (ptr[0] != '/') return nullptr;
  const json* cur = &root;
  std::size_t pos = 1;
  for (;;) {
    const std::size_t next = ptr.find('/', pos);
    const std::string_view raw =
        std::string_view(ptr).substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    std::string token;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token += raw[i];
        continue;
      }
      if (i + 1 >= raw.size()) return nullptr;
      if (raw[i + 1] == '0') {
        token += '~';
      } else if (raw[i + 1] == '1') {
        token += '/';
      } else {
        return nullptr;
      }
      ++i;
    }
    if (cur->is_object()) {
      auto it = cur->find(token);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      if (token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return nullptr;
      std::size_t idx = 0;
      for (char c : token) {
        if (c < '0' || c > '9') return nullptr;
        idx = idx * 10 + static_cast<std::size_t>(c - '0');
      }
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return cur;
}

bool is_schema_value(const json& v) noexcept { return v.is_object() || v.is_boolean(); }

// ---------------------------------------------------------------------------
// Schema checker.

class schema_checker {
 public:
  schema_checker(const json& root, std::string_view root_name)
      : root_(root), root_name_(root_name), path_(root_name) {}

  bool node(const json& s, int depth) {
    if (depth > k_max_depth) {
      return fail_here("schema nesting exceeds " + std::to_string(k_max_depth) + " levels");
    }
    if (s.is_boolean()) return true;
    if (!s.is_object()) {
      return fail_here(std::string("a schema must be an object or a boolean, got ") + kind_of(s));
    }
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!keyword(s, it.key(), it.value(), depth)) return false;
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail_here(std::string what) {
    error_ = path_ + ": " + what;
    return false;
  }

  bool fail_at(const std::string& key, std::string what) {
    path_mark m(path_);
    append_key(path_, key);
    return fail_here(std::move(what));
  }

  bool sub(const json& s, std::string_view key, int depth) {
    path_mark m(path_);
    append_key(path_, key);
    return node(s, depth + 1);
  }

  bool sub_at(const json& s, std::string_view key, std::size_t index, int depth) {
    path_mark m(path_);
    append_key(path_, key);
    append_index(path_, index);
    return node(s, depth + 1);
  }

  bool sub_named(const json& s, std::string_view key, std::string_view name, int depth) {
    path_mark m(path_);
    append_key(path_, key);
    append_key(path_, name);
    return node(s, depth + 1);
  }

  bool schema_map(const std::string& key, const json& v, int depth) {
    if (!v.is_object()) return fail_at(key, "expected an object of schemas");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!sub_named(it.value(), key, it.key(), depth)) return false;
    }
    return true;
  }

  bool schema_array(const std::string& key, const json& v, int depth, bool non_empty) {
    if (!v.is_array()) return fail_at(key, "expected an array of schemas");
    if (non_empty && v.empty()) return fail_at(key, "expected at least one schema");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!sub_at(v[i], key, i, depth)) return false;
    }
    return true;
  }

  bool single_schema(const std::string& key, const json& v, int depth) {
    if (!is_schema_value(v)) return fail_at(key, "expected a schema (object or boolean)");
    return sub(v, key, depth);
  }

  bool keyword(const json& s, const std::string& key, const json& v, int depth) {
    if (key == "type") {
      if (v.is_string()) {
        if (!known_type(v.get_ref<const std::string&>())) {
          return fail_at(key, "unknown type " + quoted(v));
        }
        return true;
      }
      if (v.is_array() && !v.empty()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_string() || !known_type(v[i].get_ref<const std::string&>())) {
            return fail_at(key, "unknown type " + quoted(v[i]));
          }
          for (std::size_t j = 0; j < i; ++j) {
            if (v[j] == v[i]) return fail_at(key, "type " + quoted(v[i]) + " is listed twice");
          }
        }
        return true;
      }
      return fail_at(key, "expected a type name or a non-empty array of type names");
    }
    if (key == "properties" || key == "$defs" || key == "definitions") {
      return schema_map(key, v, depth);
    }
    if (key == "patternProperties") {
      if (!v.is_object()) return fail_at(key, "expected an object of schemas");
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string why;
        if (!compile_pattern(it.key(), &why)) {
          path_mark m(path_);
          append_key(path_, key);
          append_key(path_, it.key());
          return fail_here("not a supported regular expression: " + why);
        }
        if (!sub_named(it.value(), key, it.key(), depth)) return false;
      }
      return true;
    }
    if (key == "additionalProperties" || key == "additionalItems" || key == "not") {
      return single_schema(key, v, depth);
    }
    if (key == "items") {
      if (v.is_array()) return schema_array(key, v, depth, false);
      return single_schema(key, v, depth);
    }
    if (key == "prefixItems") return schema_array(key, v, depth, false);
    if (key == "anyOf" || key == "oneOf" || key == "allOf") {
      return schema_array(key, v, depth, true);
    }
    if (key == "required") {
      if (!v.is_array()) return fail_at(key, "expected an array of property names");
      for (const auto& name : v) {
        if (!name.is_string()) return fail_at(key, "expected an array of property names");
      }
      return true;
    }
    if (key == "enum") {
      if (!v.is_array() || v.empty()) return fail_at(key, "expected a non-empty array");
      return true;
    }
    if (key == "minimum" || key == "maximum") {
      if (!v.is_number()) return fail_at(key, "expected a number");
      return true;
    }
    if (key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      if (!v.is_number() && !v.is_boolean()) return fail_at(key, "expected a number");
      return true;
    }
    if (key == "multipleOf") {
      if (!v.is_number() || compare_numbers(v, json(0)) <= 0) {
        return fail_at(key, "expected a number greater than 0");
      }
      return true;
    }
    if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems" ||
        key == "minProperties" || key == "maxProperties") {
      if (!count_of(v)) return fail_at(key, "expected a non-negative integer");
      return true;
    }
    if (key == "pattern") {
      if (!v.is_string()) return fail_at(key, "expected a string");
      std::string why;
      if (!compile_pattern(v.get_ref<const std::string&>(), &why)) {
        return fail_at(key, "not a supported regular expression: " + why);
      }
      return true;
    }
    if (key == "uniqueItems" || key == "nullable") {
      if (!v.is_boolean()) return fail_at(key, "expected true or false");
      return true;
    }
    if (key == "$ref") return reference(s, key, v, depth);
    return true;  // unknown keywords (description, format, default, ...) are ignored
  }

  bool reference(const json& s, const std::string& key, const json& v, int depth) {
    if (!v.is_string()) return fail_at(key, "expected a string");
    const auto& ref = v.get_ref<const std::string&>();
    const json* target = resolve_ref(root_, ref);
    if (!target) {
      return fail_at(key, quoted(v) +
                              " does not resolve within this schema (use a local reference "
                              "such as \"#/$defs/name\")");
    }
    if (!is_schema_value(*target)) return fail_at(key, quoted(v) + " does not point to a schema");

    // A chain of $refs that comes back to where it started would never
    // reach a value: refuse it here rather than at every validation.
    std::vector<const json*> chain{&s};
    const json* cur = target;
    for (int hops = 0; cur && cur->is_object(); ++hops) {
      if (std::find(chain.begin(), chain.end(), cur) != chain.end()) {
        return fail_at(key, quoted(v) + " is part of a $ref cycle");
      }
      if (hops > k_max_depth) return fail_at(key, quoted(v) + " starts a $ref chain that is too long");
      auto next = cur->find("$ref");
      if (next == cur->end() || !next->is_string()) break;
      chain.push_back(cur);
      cur = resolve_ref(root_, next->get_ref<const std::string&>());
    }

    // The target may sit where the walk does not look (under an unknown
    // keyword): check it once, under its own path.
    if (!checked_targets_.insert(target).second) return true;
    std::string saved = std::move(path_);
    path_ = std::string(root_name_) + ref.substr(1);
    const bool ok = node(*target, depth + 1);
    path_ = std::move(saved);
    return ok;
  }

  const json& root_;
  std::string_view root_name_;
  std::string path_;
  std::string error_;
  std::unordered_set<const json*> checked_targets_;
};

// ---------------------------------------------------------------------------
// Validator. Assumes a checked schema but stays defensive: ill-typed
// keywords are skipped, never dereferenced blindly.

class validator {
 public:
  validator(const json& root, std::string_view root_name) : root_(root), path_(root_name) {}

  /// Validates the whole value; a fatal stop anywhere wins over any
  /// local outcome (so "not" or "anyOf" cannot turn it into a pass).
  bool validate(const json& v, std::string& err) {
    const bool ok = run(root_, v, 0, err);
    if (fatal_) {
      err = *fatal_;
      return false;
    }
    return ok;
  }

 private:
  bool run(const json& s, const json& v, int depth, std::string& err) {
    if (fatal_) {
      err = *fatal_;
      return false;
    }
    if (depth > k_max_depth) {
      fatal_ = path_ + ": nesting exceeds " + std::to_string(k_max_depth) +
               " levels (value too deep or a $ref loop)";
      err = *fatal_;
      return false;
    }
    // Combinators over $refs can make the work exponential in the schema
    // size; a budget keeps one validation bounded.
    if (++steps_ > k_max_steps) {
      fatal_ = path_ + ": validation needs more than " + std::to_string(k_max_steps) +
               " steps (the schema is too complex for this value)";
      err = *fatal_;
      return false;
    }
    if (s.is_boolean()) {
      if (s.get<bool>()) return true;
      err = path_ + ": no value is allowed here";
      return false;
    }
    if (!s.is_object()) return true;

    const bool nullable = flag(s, "nullable");
    if (nullable && v.is_null()) return true;

    if (auto r = s.find("$ref"); r != s.end() && r->is_string()) {
      const json* target = resolve_ref(root_, r->get_ref<const std::string&>());
      if (!target) {
        err = path_ + ": schema reference " + quoted(*r) + " does not resolve";
        return false;
      }
      if (!run(*target, v, depth + 1, err)) return false;
    }
    if (!check_type(s, v, nullable, err)) return false;
    if (auto e = s.find("enum"); e != s.end() && e->is_array()) {
      if (std::find(e->begin(), e->end(), v) == e->end()) {
        err = path_ + ": value must be one of " + quoted(*e);
        return false;
      }
    }
    if (auto c = s.find("const"); c != s.end() && *c != v) {
      err = path_ + ": value must be " + quoted(*c);
      return false;
    }
    if (v.is_number() && !check_number(s, v, err)) return false;
    if (v.is_string() && !check_string(s, v.get_ref<const std::string&>(), err)) return false;
    if (v.is_array() && !check_array(s, v, depth, err)) return false;
    if (v.is_object() && !check_object(s, v, depth, err)) return false;
    return check_combinators(s, v, depth, err);
  }

  static bool flag(const json& s, const char* key) {
    auto it = s.find(key);
    return it != s.end() && it->is_boolean() && it->get<bool>();
  }

  bool check_type(const json& s, const json& v, bool nullable, std::string& err) {
    auto t = s.find("type");
    if (t == s.end()) return true;
    std::string names;
    if (t->is_string()) {
      if (has_type(v, t->get_ref<const std::string&>())) return true;
      names = t->get_ref<const std::string&>();
    } else if (t->is_array()) {
      for (const auto& name : *t) {
        if (!name.is_string()) continue;
        if (has_type(v, name.get_ref<const std::string&>())) return true;
        if (!names.empty()) names += " or ";
        names += name.get_ref<const std::string&>();
      }
    } else {
      return true;
    }
    if (nullable) names += " or null";
    err = path_ + ": expected " + names + ", got " + kind_of(v);
    return false;
  }

  bool check_number(const json& s, const json& v, std::string& err) {
    const std::string shown = quoted(v);
    if (auto m = s.find("minimum"); m != s.end() && m->is_number()) {
      const int c = compare_numbers(v, *m);
      if (flag(s, "exclusiveMinimum")) {
        if (c <= 0) {
          err = path_ + ": " + shown + " must be greater than " + quoted(*m);
          return false;
        }
      } else if (c < 0) {
        err = path_ + ": " + shown + " is less than the minimum " + quoted(*m);
        return false;
      }
    }
    if (auto m = s.find("maximum"); m != s.end() && m->is_number()) {
      const int c = compare_numbers(v, *m);
      if (flag(s, "exclusiveMaximum")) {
        if (c >= 0) {
          err = path_ + ": " + shown + " must be less than " + quoted(*m);
          return false;
        }
      } else if (c > 0) {
        err = path_ + ": " + shown + " is greater than the maximum " + quoted(*m);
        return false;
      }
    }
    if (auto m = s.find("exclusiveMinimum"); m != s.end() && m->is_number()) {
      if (compare_numbers(v, *m) <= 0) {
        err = path_ + ": " + shown + " must be greater than " + quoted(*m);
        return false;
      }
    }
    if (auto m = s.find("exclusiveMaximum"); m != s.end() && m->is_number()) {
      if (compare_numbers(v, *m) >= 0) {
        err = path_ + ": " + shown + " must be less than " + quoted(*m);
        return false;
      }
    }
    if (auto m = s.find("multipleOf"); m != s.end() && m->is_number() &&
                                       compare_numbers(*m, json(0)) > 0) {
      if (!is_multiple_of(v, *m)) {
        err = path_ + ": " + shown + " is not a multiple of " + quoted(*m);
        return false;
      }
    }
    return true;
  }

  bool check_string(const json& s, const std::string& v, std::string& err) {
    std::optional<std::size_t> length;
    auto len = [&] {
      if (!length) length = code_points(v);
      return *length;
    };
    if (auto m = s.find("minLength"); m != s.end()) {
      if (auto n = count_of(*m); n && len() < *n) {
        err = path_ + ": string is shorter than " + std::to_string(*n) + " characters";
        return false;
      }
    }
    if (auto m = s.find("maxLength"); m != s.end()) {
      if (auto n = count_of(*m); n && len() > *n) {
        err = path_ + ": string is longer than " + std::to_string(*n) + " characters";
        return false;
      }
    }
    if (auto p = s.find("pattern"); p != s.end() && p->is_string()) {
      auto re = compile_pattern(p->get_ref<const std::string&>(), nullptr);
      if (re && !re2::RE2::PartialMatch(v, *re)) {
        err = path_ + ": string does not match the pattern " + quoted(*p);
        return false;
      }
    }
    return true;
  }

  bool check_array(const json& s, const json& v, int depth, std::string& err) {
    if (auto m = s.find("minItems"); m != s.end()) {
      if (auto n = count_of(*m); n && v.size() < *n) {
        err = path_ + ": array has fewer than " + std::to_string(*n) + " items";
        return false;
      }
    }
    if (auto m = s.find("maxItems"); m != s.end()) {
      if (auto n = count_of(*m); n && v.size() > *n) {
        err = path_ + ": array has more than " + std::to_string(*n) + " items";
        return false;
      }
    }
    if (flag(s, "uniqueItems") && v.size() > 1) {
      // Sort pointers instead of comparing all pairs: large arrays stay
      // O(n log n). nlohmann's ordering treats 1 and 1.0 as equivalent,
      // as JSON Schema equality does.
      std::vector<const json*> order;
      order.reserve(v.size());
      for (const auto& item : v) order.push_back(&item);
      std::stable_sort(order.begin(), order.end(),
                       [](const json* a, const json* b) { return *a < *b; });
      for (std::size_t i = 1; i < order.size(); ++i) {
        if (*order[i - 1] == *order[i]) {
          auto a = static_cast<std::size_t>(order[i - 1] - &v.front());
          auto b = static_cast<std::size_t>(order[i] - &v.front());
          if (a > b) std::swap(a, b);
          err = path_ + ": array items must be unique (items " + std::to_string(a) + " and " +
                std::to_string(b) + " are equal)";
          return false;
        }
      }
    }

    // Positional schemas: prefixItems (2020-12) or items as an array
    // (draft 4-2019); the rest goes to items (schema) / additionalItems.
    const json* positional = nullptr;
    const json* rest = nullptr;
    auto items = s.find("items");
    if (auto p = s.find("prefixItems"); p != s.end() && p->is_array()) {
      positional = &*p;
      if (items != s.end() && is_schema_value(*items)) rest = &*items;
    } else if (items != s.end() && items->is_array()) {
      positional = &*items;
      if (auto a = s.find("additionalItems"); a != s.end() && is_schema_value(*a)) rest = &*a;
    } else if (items != s.end() && is_schema_value(*items)) {
      rest = &*items;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json* item_schema = nullptr;
      if (positional && i < positional->size()) {
        item_schema = &(*positional)[i];
      } else {
        item_schema = rest;
      }
      if (!item_schema) {
        if (!positional) break;
        continue;
      }
      path_mark mark(path_);
      append_index(path_, i);
      if (!run(*item_schema, v[i], depth + 1, err)) return false;
    }
    return true;
  }

  bool matches_pattern_property(const json& s, const std::string& key, int depth,
                                const json& value, bool& matched, std::string& err) {
    auto pp = s.find("patternProperties");
    if (pp == s.end() || !pp->is_object()) return true;
    for (auto it = pp->begin(); it != pp->end(); ++it) {
      auto re = compile_pattern(it.key(), nullptr);
      if (!re || !re2::RE2::PartialMatch(key, *re)) continue;
      matched = true;
      if (!run(it.value(), value, depth + 1, err)) return false;
    }
    return true;
  }

  bool check_object(const json& s, const json& v, int depth, std::string& err) {
    if (auto r = s.find("required"); r != s.end() && r->is_array()) {
      for (const auto& name : *r) {
        if (name.is_string() && !v.contains(name.get_ref<const std::string&>())) {
          err = path_ + ": missing required property " + quoted(name);
          return false;
        }
      }
    }
    if (auto m = s.find("minProperties"); m != s.end()) {
      if (auto n = count_of(*m); n && v.size() < *n) {
        err = path_ + ": object has fewer than " + std::to_string(*n) + " properties";
        return false;
      }
    }
    if (auto m = s.find("maxProperties"); m != s.end()) {
      if (auto n = count_of(*m); n && v.size() > *n) {
        err = path_ + ": object has more than " + std::to_string(*n) + " properties";
        return false;
      }
    }
    auto props = s.find("properties");
    const bool has_props = props != s.end() && props->is_object();
    auto extra = s.find("additionalProperties");
    const bool has_extra = extra != s.end() && is_schema_value(*extra);
    const std::size_t object_path = path_.size();
    for (auto it = v.begin(); it != v.end(); ++it) {
      path_mark mark(path_);
      append_key(path_, it.key());
      bool declared = false;
      if (has_props) {
        auto p = props->find(it.key());
        if (p != props->end()) {
          declared = true;
          if (!run(*p, it.value(), depth + 1, err)) return false;
        }
      }
      if (!matches_pattern_property(s, it.key(), depth, it.value(), declared, err)) return false;
      if (declared || !has_extra) continue;
      if (extra->is_boolean()) {
        if (extra->get<bool>()) continue;
        // Reported at the object, naming the key.
        err = path_.substr(0, object_path) + ": unexpected property " + quoted(json(it.key()));
        return false;
      }
      if (!run(*extra, it.value(), depth + 1, err)) return false;
    }
    return true;
  }

  bool check_combinators(const json& s, const json& v, int depth, std::string& err) {
    if (auto all = s.find("allOf"); all != s.end() && all->is_array()) {
      for (const auto& sub : *all) {
        if (!run(sub, v, depth + 1, err)) return false;
      }
    }
    if (auto any = s.find("anyOf"); any != s.end() && any->is_array() && !any->empty()) {
      std::string first;
      bool ok = false;
      for (std::size_t i = 0; i < any->size() && !ok; ++i) {
        std::string e;
        ok = run((*any)[i], v, depth + 1, e);
        if (!ok && first.empty()) first = std::move(e);
      }
      if (!ok) {
        err = path_ + ": value matches none of the anyOf alternatives (alternative 0: " +
              clipped(std::move(first)) + ")";
        return false;
      }
    }
    if (auto one = s.find("oneOf"); one != s.end() && one->is_array() && !one->empty()) {
      std::string first;
      std::vector<std::size_t> hits;
      for (std::size_t i = 0; i < one->size() && hits.size() < 2; ++i) {
        std::string e;
        if (run((*one)[i], v, depth + 1, e)) {
          hits.push_back(i);
        } else if (first.empty()) {
          first = std::move(e);
        }
      }
      if (hits.empty()) {
        err = path_ + ": value matches none of the oneOf alternatives (alternative 0: " +
              clipped(std::move(first)) + ")";
        return false;
      }
      if (hits.size() > 1) {
        err = path_ + ": value matches oneOf alternatives " + std::to_string(hits[0]) + " and " +
              std::to_string(hits[1]) + "; exactly one must match";
        return false;
      }
    }
    if (auto n = s.find("not"); n != s.end() && is_schema_value(*n)) {
      std::string ignored;
      if (run(*n, v, depth + 1, ignored)) {
        err = path_ + ": value must not match the schema under \"not\"";
        return false;
      }
    }
    return true;
  }

  const json& root_;
  std::string path_;
  std::size_t steps_ = 0;
  std::optional<std::string> fatal_;
};

} // namespace

result<void> check_tool_schema(const nlohmann::json& schema, std::string_view root) {
  if (!schema.is_object()) {
    return make_failure(errc::invalid_request,
                        std::string(root) + ": a tool parameters schema must be a JSON object, got " +
                            kind_of(schema));
  }
  if (auto t = schema.find("type"); t != schema.end() && *t != json("object")) {
    return make_failure(errc::invalid_request,
                        std::string(root) + "/type: a tool parameters schema must have type "
                                            "\"object\", got " +
                            quoted(*t));
  }
  schema_checker checker(schema, root);
  if (!checker.node(schema, 0)) return make_failure(errc::invalid_request, checker.error());
  return {};
}

result<void> validate_json(const nlohmann::json& schema, const nlohmann::json& value,
                           std::string_view root) {
  schema_checker checker(schema, "schema");
  if (!checker.node(schema, 0)) {
    return make_failure(errc::invalid_request, "invalid schema: " + checker.error());
  }
  validator v(schema, root);
  std::string err;
  if (!v.validate(value, err)) return make_failure(errc::invalid_request, std::move(err));
  return {};
}

} // namespace oag::adapters
