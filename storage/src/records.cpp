#include "oag/storage/records.hpp"

#include <limits>

#include <nlohmann/json.hpp>

#include "oag/storage/crypto.hpp"

namespace oag::storage {

namespace {

using nlohmann::json;

// Invalid UTF-8 (e.g. a name a client sent as raw bytes) is replaced rather
// than throwing: encode must not fail, and callers validate text earlier.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

failure malformed(const char* record, const std::string& why) {
  return make_failure(errc::storage_failure,
                      std::string{"malformed "} + record + " record: " + why);
}

// Field readers: every field present in the first schema is required with
// its exact JSON type. Fields added later must be read optionally so older
// records keep decoding.
class reader {
 public:
  reader(const json& j, const char* record) : j_(j), record_(record) {}

  bool ok() const noexcept { return !error_; }
  failure error() const { return malformed(record_, *error_); }

  std::string str(const char* name) {
    auto it = find(name);
    if (it == j_.end()) return {};
    if (!it->is_string()) return fail(name, "must be a string"), std::string{};
    return it->get<std::string>();
  }

  std::optional<std::string> opt_str(const char* name) {
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return fail(name, "must be a string or null"), std::nullopt;
    return it->get<std::string>();
  }

  std::int64_t i64(const char* name) {
    auto it = find(name);
    if (it == j_.end()) return 0;
    if (it->is_number_unsigned()) {
      auto v = it->get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return fail(name, "out of range"), 0;
      return static_cast<std::int64_t>(v);
    }
    if (it->is_number_integer()) return it->get<std::int64_t>();
    return fail(name, "must be an integer"), 0;
  }

  std::uint64_t u64(const char* name) {
    auto it = find(name);
    if (it == j_.end()) return 0;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer()) {
      auto v = it->get<std::int64_t>();
      if (v < 0) return fail(name, "must not be negative"), 0;
      return static_cast<std::uint64_t>(v);
    }
    return fail(name, "must be an integer"), 0;
  }

  /// The object being read, for nested optional fields.
  const json& raw() const noexcept { return j_; }

  bool boolean(const char* name) {
    auto it = find(name);
    if (it == j_.end()) return false;
    if (!it->is_boolean()) return fail(name, "must be a boolean"), false;
    return it->get<bool>();
  }

 private:
  json::const_iterator find(const char* name) {
    auto it = j_.find(name);
    if (it == j_.end()) fail(name, "is missing");
    return it;
  }

  void fail(const char* name, const char* why) {
    if (!error_) error_ = std::string{"field \""} + name + "\" " + why;
  }

  const json& j_;
  const char* record_;
  std::optional<std::string> error_;
};

// Parses an object without throwing; nullopt-like failure otherwise.
result<json> parse_object(std::string_view bytes, const char* record) {
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return malformed(record, "not valid JSON");
  if (!j.is_object()) return malformed(record, "not a JSON object");
  return j;
}

// Shared skeleton of every decoder: parse, read fields, turn any surprise
// (including an exception from a library call) into a failure.
template <class Record, class Fill>
result<Record> decode_with(std::string_view bytes, const char* record, Fill fill) {
  try {
    auto j = parse_object(bytes, record);
    if (!j) return j.error();
    reader r(*j, record);
    Record out;
    fill(r, out);
    if (!r.ok()) return r.error();
    return out;
  } catch (const std::exception& e) {
    return malformed(record, e.what());
  } catch (...) {
    return malformed(record, "unknown error");
  }
}

} // namespace

std::string encode(const company_record& r) {
  json j;
  j["id"] = r.id;
  j["name"] = r.name;
  j["created_at"] = r.created_at;
  return dump(j);
}

std::string encode(const api_key_record& r) {
  json j;
  j["id"] = r.id;
  j["company_id"] = r.company_id;
  j["name"] = r.name;
  j["hash_hex"] = r.hash_hex;
  j["created_at"] = r.created_at;
  j["revoked"] = r.revoked;
  return dump(j);
}

std::string encode(const provider_record& r) {
  json j;
  j["company_id"] = r.company_id;
  j["name"] = r.name;
  j["kind"] = r.kind;
  j["base_url"] = r.base_url;
  // The vault output is binary; JSON strings must be text, so it is stored
  // as base64 and decoded back on read.
  j["sealed_api_key"] =
      r.sealed_api_key ? json(crypto::base64_encode(*r.sealed_api_key)) : json(nullptr);
  j["allow_insecure_http"] = r.allow_insecure_http;
  j["created_at"] = r.created_at;
  if (!r.prices.empty()) {
    json prices = json::object();
    for (const auto& [model, p] : r.prices)
      prices[model] = {{"input_musd_per_mtok", p.input_musd_per_mtok},
                       {"cached_input_musd_per_mtok", p.cached_input_musd_per_mtok},
                       {"output_musd_per_mtok", p.output_musd_per_mtok}};
    j["prices"] = std::move(prices);
  }
  if (!r.extra_headers.empty()) j["extra_headers"] = r.extra_headers;
  return dump(j);
}

std::string encode(const wallet_record& r) {
  json j;
  j["credits_uot"] = r.credits_uot;
  j["balance_uot"] = r.balance_uot;
  j["reserved_uot"] = r.reserved_uot;
  j["spent_uot"] = r.spent_uot;
  return dump(j);
}

std::string encode(const reservation_record& r) {
  json j;
  j["call_id"] = r.call_id;
  j["amount_uot"] = r.amount_uot;
  j["created_at"] = r.created_at;
  return dump(j);
}

std::string encode(const ledger_entry& r) {
  json j;
  j["seq"] = r.seq;
  j["id"] = r.id;
  j["call_id"] = r.call_id;
  j["response_id"] = r.response_id;
  j["kind"] = r.kind;
  j["model"] = r.model;
  j["provider"] = r.provider;
  j["upstream_model"] = r.upstream_model;
  j["input_tokens"] = r.input_tokens;
  j["cached_input_tokens"] = r.cached_input_tokens;
  j["output_tokens"] = r.output_tokens;
  j["cost_uot"] = r.cost_uot;
  j["created_at"] = r.created_at;
  j["status"] = r.status;
  if (!r.attempts_json.empty()) j["attempts"] = r.attempts_json;
  if (!r.route_rule.empty()) j["route_rule"] = r.route_rule;
  return dump(j);
}

result<company_record> decode_company(std::string_view bytes) {
  return decode_with<company_record>(bytes, "company", [](reader& r, company_record& o) {
    o.id = r.str("id");
    o.name = r.str("name");
    o.created_at = r.i64("created_at");
  });
}

result<api_key_record> decode_api_key(std::string_view bytes) {
  return decode_with<api_key_record>(bytes, "api_key", [](reader& r, api_key_record& o) {
    o.id = r.str("id");
    o.company_id = r.str("company_id");
    o.name = r.str("name");
    o.hash_hex = r.str("hash_hex");
    o.created_at = r.i64("created_at");
    o.revoked = r.boolean("revoked");
  });
}

result<provider_record> decode_provider(std::string_view bytes) {
  std::optional<failure> key_error;
  auto out = decode_with<provider_record>(bytes, "provider", [&](reader& r, provider_record& o) {
    o.company_id = r.str("company_id");
    o.name = r.str("name");
    o.kind = r.str("kind");
    o.base_url = r.str("base_url");
    if (auto sealed = r.opt_str("sealed_api_key")) {
      auto raw = crypto::base64_decode(*sealed);
      if (raw) o.sealed_api_key = std::move(*raw);
      else key_error = malformed("provider", "field \"sealed_api_key\" is not base64");
    }
    o.allow_insecure_http = r.boolean("allow_insecure_http");
    o.created_at = r.i64("created_at");
    if (auto it = r.raw().find("prices"); it != r.raw().end() && it->is_object()) {
      for (const auto& [model, p] : it->items()) {
        auto field = [&](const char* name) -> std::int64_t {
          auto f = p.find(name);
          if (f == p.end() || !f->is_number_integer() || f->get<std::int64_t>() < 0) {
            key_error = malformed("provider", "field \"prices\" holds an invalid price");
            return 0;
          }
          return f->get<std::int64_t>();
        };
        if (!p.is_object()) {
          key_error = malformed("provider", "field \"prices\" holds an invalid price");
          continue;
        }
        o.prices[model] = {field("input_musd_per_mtok"), field("cached_input_musd_per_mtok"),
                           field("output_musd_per_mtok")};
      }
    }
    if (auto it = r.raw().find("extra_headers"); it != r.raw().end() && it->is_object())
      for (const auto& [name, value] : it->items())
        if (value.is_string()) o.extra_headers[name] = value.get<std::string>();
  });
  if (out && key_error) return *key_error;
  return out;
}

result<wallet_record> decode_wallet(std::string_view bytes) {
  return decode_with<wallet_record>(bytes, "wallet", [](reader& r, wallet_record& o) {
    o.credits_uot = r.i64("credits_uot");
    o.balance_uot = r.i64("balance_uot");
    o.reserved_uot = r.i64("reserved_uot");
    o.spent_uot = r.i64("spent_uot");
  });
}

result<reservation_record> decode_reservation(std::string_view bytes) {
  return decode_with<reservation_record>(bytes, "reservation",
                                         [](reader& r, reservation_record& o) {
                                           o.call_id = r.str("call_id");
                                           o.amount_uot = r.i64("amount_uot");
                                           o.created_at = r.i64("created_at");
                                         });
}

result<ledger_entry> decode_ledger_entry(std::string_view bytes) {
  return decode_with<ledger_entry>(bytes, "ledger", [](reader& r, ledger_entry& o) {
    o.seq = r.u64("seq");
    o.id = r.str("id");
    o.call_id = r.str("call_id");
    o.response_id = r.str("response_id");
    o.kind = r.str("kind");
    o.model = r.str("model");
    o.provider = r.str("provider");
    o.upstream_model = r.str("upstream_model");
    o.input_tokens = r.i64("input_tokens");
    o.cached_input_tokens = r.i64("cached_input_tokens");
    o.output_tokens = r.i64("output_tokens");
    o.cost_uot = r.i64("cost_uot");
    o.created_at = r.i64("created_at");
    o.status = r.str("status");
    if (auto a = r.opt_str("attempts")) o.attempts_json = *a;
    if (auto rr = r.opt_str("route_rule")) o.route_rule = *rr;
  });
}

} // namespace oag::storage
