#pragma once
/// Short-lived tokens for the WebSocket chat (POST /v1/realtime/tokens):
/// browsers cannot set an Authorization header on a WebSocket, so they
/// connect with `?token=`. A token names the SHA-256 of the company key it
/// was minted with (so a revoked key's tokens fail at the directory, as the
/// key would), its expiry and a random nonce, signed with HMAC-SHA256 under
/// a key derived from the master key. It carries no secret: the key hash
/// cannot be presented as a key, and without the signing key no token can
/// be forged or extended.
///
///   oagrt_v1.<hex sha256(key)>.<expires_at>.<hex nonce>.<hex hmac>

#include <cstdint>
#include <string>
#include <string_view>

#include "oag/error.hpp"

namespace oag::runtime::realtime {

/// The signing key: HMAC-SHA256(master_key, "oag/realtime-token/v1").
std::string derive_token_key(std::string_view master_key);

struct minted_token {
  std::string token;
  std::int64_t expires_at = 0;
};

/// Mints a token for a key (its raw 32-byte SHA-256) valid until now + ttl_s.
minted_token mint_token(std::string_view signing_key, std::string_view key_hash, std::int64_t now,
                        std::int64_t ttl_s);

struct verified_token {
  std::string key_hash; ///< raw 32 bytes
  std::int64_t expires_at = 0;
  std::string nonce;    ///< hex; lets the caller make a token single-use
};

/// Checks the signature and the expiry (a token is valid while now < expires_at).
/// Failures are 401s (invalid_api_key) that say which.
result<verified_token> verify_token(std::string_view signing_key, std::string_view token, std::int64_t now);

} // namespace oag::runtime::realtime
