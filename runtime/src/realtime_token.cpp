#include "realtime_token.hpp"

#include <charconv>
#include <vector>

#include "oag/storage/crypto.hpp"

namespace oag::runtime::realtime {

namespace {

constexpr std::string_view k_prefix = "oagrt_v1.";

failure invalid(std::string message) {
  auto f = make_failure(errc::invalid_api_key, std::move(message));
  f.error_code = "invalid_realtime_token";
  return f;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

} // namespace

std::string derive_token_key(std::string_view master_key) {
  return crypto::hmac_sha256(master_key, "oag/realtime-token/v1");
}

minted_token mint_token(std::string_view signing_key, std::string_view key_hash, std::int64_t now,
                        std::int64_t ttl_s) {
  minted_token t;
  t.expires_at = now + ttl_s;
  std::string payload{k_prefix};
  payload += crypto::to_hex(key_hash);
  payload += '.';
  payload += std::to_string(t.expires_at);
  payload += '.';
  payload += crypto::to_hex(crypto::random_bytes(16));
  const auto mac = crypto::to_hex(crypto::hmac_sha256(signing_key, payload));
  t.token = payload + "." + mac;
  return t;
}

result<verified_token> verify_token(std::string_view signing_key, std::string_view token, std::int64_t now) {
  if (token.size() > 512 || token.substr(0, k_prefix.size()) != k_prefix)
    return invalid("The realtime token is malformed. Mint one with POST /v1/realtime/tokens.");
  const auto dot = token.rfind('.');
  const auto payload = token.substr(0, dot);
  const auto mac = token.substr(dot + 1);
  const auto expected = crypto::to_hex(crypto::hmac_sha256(signing_key, payload));
  if (!crypto::equal_constant_time(mac, expected))
    return invalid("The realtime token's signature is not valid. Mint one with POST /v1/realtime/tokens.");
  // The signature holds, so the fields are ours.
  std::vector<std::string_view> fields;
  auto rest = payload.substr(k_prefix.size());
  for (std::size_t pos = 0;;) {
    const auto next = rest.find('.', pos);
    fields.push_back(rest.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  verified_token v;
  if (fields.size() != 3 || !from_hex(fields[0], v.key_hash) || v.key_hash.size() != 32)
    return invalid("The realtime token is malformed.");
  const auto r = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), v.expires_at);
  if (r.ec != std::errc{} || r.ptr != fields[1].data() + fields[1].size())
    return invalid("The realtime token is malformed.");
  v.nonce = std::string{fields[2]};
  if (now >= v.expires_at)
    return invalid("The realtime token has expired (they are valid for a minute). Mint a new one with POST "
                   "/v1/realtime/tokens.");
  return v;
}

} // namespace oag::runtime::realtime
