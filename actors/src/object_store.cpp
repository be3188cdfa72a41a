#include "object_store.hpp"

#include <algorithm>
#include <charconv>

namespace oag::actors::objects {

using nlohmann::json;

bool is_name(const std::string& s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

failure bad_request(std::string message, std::string param) {
  return make_failure(errc::invalid_request, std::move(message), std::move(param));
}

namespace {
const auto& bad = bad_request;
} // namespace

result<page_query> parse_page_query(const std::map<std::string, std::string>& query) {
  page_query out;
  if (auto it = query.find("limit"); it != query.end()) {
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc{} || p != it->second.data() + it->second.size() || v < 1 || v > 100)
      return bad("'limit' must be an integer between 1 and 100", "limit");
    out.limit = v;
  }
  if (auto it = query.find("order"); it != query.end()) {
    if (it->second == "asc") out.descending = false;
    else if (it->second != "desc") return bad("'order' must be 'asc' or 'desc'", "order");
  }
  for (auto [name, slot] : {std::pair<const char*, std::optional<std::string>*>{"after", &out.after},
                            {"before", &out.before}}) {
    auto it = query.find(name);
    if (it == query.end()) continue;
    if (!is_name(it->second, 128)) return bad(std::string{"'"} + name + "' must be an object id", name);
    *slot = it->second;
  }
  return out;
}

result<json> list_page(const storage::database& db, const std::string& prefix, const page_query& page,
                       const list_filter& filter) {
  // Walk in the list's order, or against it when paging backwards from
  // `before` (then the collected items are flipped at the end).
  const bool backwards = page.before && !page.after;
  const bool reverse_scan = page.descending != backwards;
  std::optional<std::string> cursor;
  if (backwards) cursor = prefix + *page.before;
  else if (page.after) cursor = prefix + *page.after;
  // With both cursors the page runs from `after` and stops at `before`.
  std::optional<std::string> stop;
  if (page.after && page.before) stop = prefix + *page.before;

  std::vector<json> items;
  bool more = false;
  const std::size_t chunk = std::max<std::size_t>(page.limit + 1, 32);
  for (;;) {
    std::optional<std::string_view> after;
    if (cursor) after = *cursor;
    auto rows = db.scan(prefix, after, chunk, reverse_scan);
    if (!rows) return rows.error();
    bool stopped = false;
    for (auto& kv : *rows) {
      if (stop && (reverse_scan ? kv.key <= *stop : kv.key >= *stop)) {
        stopped = true;
        break;
      }
      auto doc = json::parse(kv.value, nullptr, false);
      if (doc.is_discarded()) continue;
      std::optional<json> shown = filter ? filter(std::move(doc)) : std::optional<json>(std::move(doc));
      if (!shown) continue;
      if (items.size() == page.limit) {
        more = true;
        stopped = true;
        break;
      }
      items.push_back(std::move(*shown));
    }
    if (stopped || rows->size() < chunk) break;
    cursor = rows->back().key;
  }
  if (backwards) std::reverse(items.begin(), items.end());
  json data = json::array();
  for (auto& i : items) data.push_back(std::move(i));
  json out = {{"object", "list"}, {"data", data}, {"has_more", more}};
  out["first_id"] = data.empty() ? json(nullptr) : data.front().value("id", json(nullptr));
  out["last_id"] = data.empty() ? json(nullptr) : data.back().value("id", json(nullptr));
  return out;
}

result<json> get_existing(const storage::database& db, const std::string& key, const std::string& what,
                          const std::string& id) {
  auto doc = get_json(db, key);
  if (!doc) return doc.error();
  if (!*doc) return no_such(what, id);
  return std::move(**doc);
}

result<std::optional<json>> get_json(const storage::database& db, const std::string& key) {
  auto raw = db.get(key);
  if (!raw) return raw.error();
  if (!*raw) return std::optional<json>{};
  auto doc = json::parse(**raw, nullptr, false);
  if (doc.is_discarded()) return make_failure(errc::storage_failure, "a stored object is not valid JSON");
  return std::optional<json>{std::move(doc)};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

result<json> check_metadata(const json& value, const std::string& param) {
  if (value.is_null()) return json::object();
  if (!value.is_object()) return bad("'" + param + "' must be an object of string values", param);
  if (value.size() > 16) return bad("'" + param + "' can hold at most 16 keys", param);
  for (auto& [k, v] : value.items()) {
    if (k.size() > 64) return bad("'" + param + "' keys are at most 64 characters", param);
    if (!v.is_string()) return bad("'" + param + "." + k + "' must be a string", param + "." + k);
    if (v.get_ref<const std::string&>().size() > 512)
      return bad("'" + param + "." + k + "' is at most 512 characters", param + "." + k);
  }
  return value;
}

result<std::optional<std::string>> string_field(const json& body, const char* field, std::size_t max_len) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return bad(std::string{"'"} + field + "' must be a string", field);
  if (it->get_ref<const std::string&>().size() > max_len)
    return bad(std::string{"'"} + field + "' is at most " + std::to_string(max_len) + " characters", field);
  return std::optional<std::string>{it->get<std::string>()};
}

result<std::optional<double>> number_field(const json& body, const char* field, double lo, double hi) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::optional<double>{};
  if (!it->is_number() || it->get<double>() < lo || it->get<double>() > hi)
    return bad(std::string{"'"} + field + "' must be a number between " + json(lo).dump() + " and " +
                   json(hi).dump(),
               field);
  return std::optional<double>{it->get<double>()};
}

result<std::optional<std::int64_t>> integer_field(const json& body, const char* field, std::int64_t lo,
                                                  std::int64_t hi) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
    return bad(std::string{"'"} + field + "' must be an integer between " + std::to_string(lo) + " and " +
                   std::to_string(hi),
               field);
  return std::optional<std::int64_t>{it->get<std::int64_t>()};
}

result<void> only_fields(const json& body, std::initializer_list<const char*> allowed) {
  if (!body.is_object()) return {};
  for (auto& [k, v] : body.items()) {
    bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; });
    if (!known) return bad("Unrecognized request argument supplied: " + k, k);
  }
  return {};
}

failure no_such(const std::string& what, const std::string& id) {
  return make_failure(errc::not_found, "No " + what + " found with id '" + id + "'.");
}

} // namespace oag::actors::objects
