#include "oag/storage/keys.hpp"

#include <stdexcept>

namespace oag::storage {

namespace {

// The highest record_kind this build knows; parse_tenant_key rejects others
// so a corrupted or foreign key is not mistaken for a known record.
constexpr std::uint8_t max_known_kind = static_cast<std::uint8_t>(record_kind::agent_spend);

void require_company_id(std::string_view company_id) {
  if (!is_valid_company_id(company_id))
    throw std::invalid_argument("oag::storage: company id must be non-empty and free of NUL");
}

} // namespace

bool is_valid_company_id(std::string_view company_id) noexcept {
  return !company_id.empty() && company_id.find('\0') == std::string_view::npos;
}

std::string tenant_prefix(std::string_view company_id, record_kind kind) {
  require_company_id(company_id);
  std::string out;
  out.reserve(company_id.size() + 2);
  out.append(company_id);
  out.push_back('\0');
  out.push_back(static_cast<char>(kind));
  return out;
}

std::string tenant_key(std::string_view company_id, record_kind kind,
                       std::string_view suffix) {
  std::string out = tenant_prefix(company_id, kind);
  out.append(suffix);
  return out;
}

std::string global_prefix(record_kind kind) {
  std::string out;
  out.push_back('\0');
  out.push_back(static_cast<char>(kind));
  return out;
}

std::string global_key(record_kind kind, std::string_view suffix) {
  std::string out = global_prefix(kind);
  out.append(suffix);
  return out;
}

std::string encode_be64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xffu);
    value >>= 8;
  }
  return out;
}

std::optional<std::uint64_t> decode_be64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::optional<tenant_key_parts> parse_tenant_key(std::string_view key) {
  auto nul = key.find('\0');
  // nul == 0 is a global key; npos or no kind byte is not a key of ours.
  if (nul == std::string_view::npos || nul == 0 || nul + 1 >= key.size()) return std::nullopt;
  auto kind_byte = static_cast<std::uint8_t>(key[nul + 1]);
  if (kind_byte == 0 || kind_byte > max_known_kind) return std::nullopt;
  tenant_key_parts parts{key.substr(0, nul), static_cast<record_kind>(kind_byte),
                         key.substr(nul + 2)};
  return parts;
}

std::string child_suffix(std::string_view parent_id, std::string_view child_id) {
  std::string out;
  out.reserve(parent_id.size() + 1 + child_id.size());
  out.append(parent_id);
  out.push_back('\0');
  out.append(child_id);
  return out;
}

std::string ledger_key(std::string_view company_id, std::uint64_t seq) {
  return tenant_key(company_id, record_kind::ledger, encode_be64(seq));
}

std::string idempotency_key(std::string_view company_id, std::string_view scope,
                            std::string_view key) {
  std::string suffix;
  suffix.reserve(scope.size() + 1 + key.size());
  suffix.append(scope);
  suffix.push_back('\0');
  suffix.append(key);
  return tenant_key(company_id, record_kind::idempotency, suffix);
}

} // namespace oag::storage
