#pragma once
// JSON objects of the Assistants / Responses APIs in RocksDB: reads, cursor
// pages and the field checks every endpoint shares. Objects are stored as
// the JSON the API returns, under keys whose last part is the object's
// time-ordered id (crypto::time_ordered_id), so key order is creation order
// and an id is a page cursor.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"
#include "oag/storage/database.hpp"

namespace oag::actors::objects {

/// `limit`, `order`, `after`, `before` of a list request.
struct page_query {
  std::size_t limit = 20;
  bool descending = true; ///< OpenAI lists default to newest first
  std::optional<std::string> after;
  std::optional<std::string> before;
};

/// Parses the list parameters (400 naming the parameter on bad values).
result<page_query> parse_page_query(const std::map<std::string, std::string>& query);

/// Decides per stored object: nullopt to skip it, else the JSON to list.
using list_filter = std::function<std::optional<nlohmann::json>(nlohmann::json&&)>;

/// One page of the objects stored under `prefix` (keys are prefix + id), as
/// an OpenAI list object: data, first_id, last_id, has_more. `has_more` is
/// exact: it is true only when another matching object exists past the page.
result<nlohmann::json> list_page(const storage::database& db, const std::string& prefix,
                                 const page_query& page, const list_filter& filter = {});

/// Reads one JSON object; nullopt when absent.
result<std::optional<nlohmann::json>> get_json(const storage::database& db, const std::string& key);

/// Reads one JSON object that must exist: absent is the 404 `no_such(what, id)`.
result<nlohmann::json> get_existing(const storage::database& db, const std::string& key, const std::string& what,
                                    const std::string& id);

/// Dumps JSON for storage (invalid UTF-8 replaced, never thrown).
std::string dump(const nlohmann::json& j);

/// Checks OpenAI's metadata rules: an object of at most 16 string values,
/// keys up to 64 and values up to 512 characters. Null means {}.
result<nlohmann::json> check_metadata(const nlohmann::json& value, const std::string& param = "metadata");

/// An optional string field of at most `max_len` bytes (null = absent).
result<std::optional<std::string>> string_field(const nlohmann::json& body, const char* field,
                                                std::size_t max_len);

/// An optional number field within [lo, hi] (null = absent).
result<std::optional<double>> number_field(const nlohmann::json& body, const char* field, double lo,
                                           double hi);

/// An optional integer field within [lo, hi] (null = absent).
result<std::optional<std::int64_t>> integer_field(const nlohmann::json& body, const char* field,
                                                  std::int64_t lo, std::int64_t hi);

/// Fails with 400 when `body` has a field not in `allowed` (OpenAI rejects
/// unknown parameters; silently ignoring one hides client bugs).
result<void> only_fields(const nlohmann::json& body, std::initializer_list<const char*> allowed);

/// 1 to `max` characters of a-z, A-Z, 0-9, '_' and '-': the rule for
/// object ids, function, tool and secret names.
bool is_name(const std::string& s, std::size_t max);

/// A 400 naming `param`.
failure bad_request(std::string message, std::string param);

/// 404 in OpenAI's words for an unknown object id.
failure no_such(const std::string& what, const std::string& id);

} // namespace oag::actors::objects
