#pragma once
/// Persisted records and their (JSON) encodings. Field names are on disk:
/// add fields, never rename them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::storage {

/// A tenant.
struct company_record {
  std::string id;
  std::string name;
  std::int64_t created_at = 0; ///< unix seconds
};

/// An API key's metadata; the key itself is stored only as a SHA-256 hash.
struct api_key_record {
  std::string id;
  std::string company_id;
  std::string name;
  std::string hash_hex;
  std::int64_t created_at = 0;
  bool revoked = false;
};

/// A provider connected by a company. `sealed_api_key` is the vault output;
/// the plaintext key never reaches disk.
struct provider_record {
  std::string company_id;
  std::string name;
  std::string kind;     ///< "openai", "mock", ...
  std::string base_url; ///< empty only for kinds that need none (mock)
  std::optional<std::string> sealed_api_key;
  bool allow_insecure_http = false; ///< plain HTTP to non-loopback hosts
  std::int64_t created_at = 0;
  /// Per-provider prices by upstream model name; they override the
  /// catalogue's `kind/model` entry (added after the first schema: optional).
  std::map<std::string, money::price> prices;
  /// Extra request headers (e.g. OpenRouter's HTTP-Referer); not for secrets.
  std::map<std::string, std::string> extra_headers;
};

/// Wallet totals. Invariant: credits = balance + reserved + spent.
struct wallet_record {
  money::uot credits_uot = 0;
  money::uot balance_uot = 0;
  money::uot reserved_uot = 0;
  money::uot spent_uot = 0;
};

/// An open reservation for one call.
struct reservation_record {
  std::string call_id;
  money::uot amount_uot = 0;
  std::int64_t created_at = 0;
};

/// One charged call.
struct ledger_entry {
  std::uint64_t seq = 0;
  std::string id;          ///< "led_" + sequence, the list cursor
  std::string call_id;
  std::string response_id; ///< the `id` the client saw (chatcmpl-…)
  std::string kind;        ///< "chat.completion", "embedding", "credit"
  std::string model;       ///< as the client asked for it
  std::string provider;    ///< provider name
  std::string upstream_model;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
  money::uot cost_uot = 0;
  std::int64_t created_at = 0;
  std::string status;      ///< "completed", "failed", "cancelled", "disconnected"
  /// Every upstream attempt of the call (JSON array of {provider, model,
  /// status, error, duration_ms}); added after the first schema, optional.
  std::string attempts_json;
  /// The routing rule that chose the targets, if any (optional field).
  std::string route_rule;
};

/// JSON encodings, one object per record with the struct's field names.
/// Binary fields (provider_record::sealed_api_key) are base64 in the JSON.
/// Never throws; invalid UTF-8 in text fields is replaced with U+FFFD.
std::string encode(const company_record& r);
std::string encode(const api_key_record& r);
std::string encode(const provider_record& r);
std::string encode(const wallet_record& r);
std::string encode(const reservation_record& r);
std::string encode(const ledger_entry& r);

/// Decoders: fail with errc::storage_failure (never throw) on anything that
/// is not an object carrying every field with its JSON type; unknown extra
/// fields are ignored so newer writers stay readable.
result<company_record> decode_company(std::string_view bytes);
result<api_key_record> decode_api_key(std::string_view bytes);
result<provider_record> decode_provider(std::string_view bytes);
result<wallet_record> decode_wallet(std::string_view bytes);
result<reservation_record> decode_reservation(std::string_view bytes);
result<ledger_entry> decode_ledger_entry(std::string_view bytes);

} // namespace oag::storage
