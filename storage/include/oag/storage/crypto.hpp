#pragma once
/// Cryptographic helpers (OpenSSL libcrypto behind this header): random
/// bytes, SHA-256, HMAC-SHA256, base64, and the vault (AES-256-GCM).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "oag/error.hpp"

namespace oag::crypto {

/// `n` cryptographically random bytes.
std::string random_bytes(std::size_t n);

/// Random identifier: `prefix` + `n` base62 characters.
std::string random_id(std::string_view prefix, std::size_t n = 24);

/// Identifier that sorts by creation time: `prefix`, 11 characters of a
/// process-wide strictly increasing microsecond clock, then 13 random
/// characters, all from an alphabet in ASCII order (0-9, a-z without
/// i, l, o, u). Byte order of two ids is their creation order (also across
/// restarts, as long as the wall clock does not go back), which lets lists
/// be paged by id.
std::string time_ordered_id(std::string_view prefix);

/// Raw 32-byte SHA-256 digest.
std::string sha256(std::string_view data);

/// Lower-case hex of the SHA-256 digest.
std::string sha256_hex(std::string_view data);

/// Raw HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Lower-case hex encoding.
std::string to_hex(std::string_view bytes);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64 (padding optional); fails on bad characters.
result<std::string> base64_decode(std::string_view text);

/// Constant-time comparison.
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

/// AES-256-GCM sealing of secrets at rest. The sealed form is
/// version(1) || nonce(12) || ciphertext || tag(16); the associated data
/// binds a ciphertext to its owner (e.g. "company/provider") so it cannot be
/// moved to another record.
class vault {
 public:
  /// `master_key` must be exactly 32 bytes.
  static result<vault> create(std::string_view master_key);

  /// Encrypts `plaintext`, authenticating `associated_data`.
  result<std::string> seal(std::string_view plaintext,
                           std::string_view associated_data) const;

  /// Decrypts; fails (errc::internal, no detail leaked) on tampering or
  /// wrong associated data.
  result<std::string> open(std::string_view sealed,
                           std::string_view associated_data) const;

 private:
  explicit vault(std::string_view key);
  std::array<unsigned char, 32> key_{};
};

} // namespace oag::crypto
