#include "oag/storage/crypto.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace oag::crypto {

namespace {

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytes_of(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr char base62_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Sextet value of a base64 character, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

constexpr unsigned char vault_version = 1;
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

struct cipher_ctx_deleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

// One message for every way open() can fail, so a caller (or attacker)
// learns nothing about which check rejected the input.
failure open_failed() { return make_failure(errc::internal, "vault: cannot open sealed secret"); }

failure seal_failed() { return make_failure(errc::internal, "vault: encryption failed"); }

} // namespace

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    auto chunk = static_cast<int>(std::min<std::size_t>(n - done, 1 << 20));
    if (RAND_bytes(bytes_of(out) + done, chunk) != 1) {
      // Without working randomness every key, id and nonce would be
      // predictable; carrying on would be worse than stopping.
      std::fputs("oag: fatal: RAND_bytes failed\n", stderr);
      std::abort();
    }
    done += static_cast<std::size_t>(chunk);
  }
  return out;
}

std::string time_ordered_id(std::string_view prefix) {
  static constexpr char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; // ASCII order
  static std::atomic<std::uint64_t> last{0};
  auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  // Strictly increasing even when two ids are made in the same microsecond.
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    next = std::max(now, prev + 1);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  std::string out(prefix);
  out.reserve(prefix.size() + 24);
  for (int shift = 50; shift >= 0; shift -= 5) out.push_back(alphabet[(next >> shift) & 31]);
  auto noise = random_bytes(13);
  for (unsigned char b : noise) out.push_back(alphabet[b & 31]);
  return out;
}

std::string random_id(std::string_view prefix, std::size_t n) {
  std::string out(prefix);
  out.reserve(prefix.size() + n);
  // Rejection sampling: bytes >= 248 (= 4 × 62) are discarded so each of the
  // 62 characters is exactly equally likely.
  while (out.size() < prefix.size() + n) {
    std::string pool = random_bytes(n + 8);
    for (unsigned char b : pool) {
      if (b >= 248) continue;
      out.push_back(base62_alphabet[b % 62]);
      if (out.size() == prefix.size() + n) break;
    }
  }
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), bytes_of(out), &len, EVP_sha256(), nullptr) != 1 ||
      len != 32) {
    std::fputs("oag: fatal: SHA-256 failed\n", stderr);
    std::abort();
  }
  return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  // Some OpenSSL versions treat a null key pointer as "reuse the previous
  // key"; a valid pointer with length 0 is an unambiguous empty key.
  static const unsigned char empty = 0;
  const unsigned char* k = key.empty() ? &empty : bytes_of(key);
  const unsigned char* d = data.empty() ? &empty : bytes_of(data);
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), bytes_of(out), &len) ==
          nullptr ||
      len != 32) {
    std::fputs("oag: fatal: HMAC-SHA256 failed\n", stderr);
    std::abort();
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                      static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(base64_alphabet[(v >> 18) & 63]);
    out.push_back(base64_alphabet[(v >> 12) & 63]);
    out.push_back(base64_alphabet[(v >> 6) & 63]);
    out.push_back(base64_alphabet[v & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out.push_back(base64_alphabet[(v >> 18) & 63]);
    out.push_back(base64_alphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                      (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out.push_back(base64_alphabet[(v >> 18) & 63]);
    out.push_back(base64_alphabet[(v >> 12) & 63]);
    out.push_back(base64_alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

result<std::string> base64_decode(std::string_view text) {
  auto bad = [] { return make_failure(errc::invalid_request, "invalid base64"); };
  // Padding, when present, must complete the last quantum exactly.
  std::size_t pad = 0;
  while (pad < text.size() && pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  std::string_view body = text.substr(0, text.size() - pad);
  if (pad > 0 && text.size() % 4 != 0) return bad();
  if (body.size() % 4 == 1) return bad(); // 6 bits cannot encode a byte
  std::string out;
  out.reserve(body.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    int v = base64_value(c);
    if (v < 0) return bad(); // includes '=' inside the text and whitespace
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero: otherwise several texts decode to the same
  // bytes, which makes the encoding non-canonical.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return bad();
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
  // The length is not secret (hashes and tokens have fixed sizes); only the
  // content comparison must not stop at the first difference.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---------------------------------------------------------------------- vault

vault::vault(std::string_view key) {
  for (std::size_t i = 0; i < key_.size(); ++i) key_[i] = static_cast<unsigned char>(key[i]);
}

result<vault> vault::create(std::string_view master_key) {
  if (master_key.size() != 32)
    return make_failure(errc::invalid_request, "vault master key must be exactly 32 bytes");
  return vault(master_key);
}

result<std::string> vault::seal(std::string_view plaintext,
                                std::string_view associated_data) const {
  if (plaintext.size() > INT_MAX / 2 || associated_data.size() > INT_MAX / 2) return seal_failed();
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return seal_failed();
  std::string nonce = random_bytes(nonce_size);
  std::string out;
  out.resize(1 + nonce_size + plaintext.size() + tag_size);
  out[0] = static_cast<char>(vault_version);
  out.replace(1, nonce_size, nonce);
  unsigned char* ct = bytes_of(out) + 1 + nonce_size;
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), bytes_of(nonce)) != 1)
    return seal_failed();
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes_of(associated_data),
                        static_cast<int>(associated_data.size())) != 1)
    return seal_failed();
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ct, &len, bytes_of(plaintext),
                          static_cast<int>(plaintext.size())) != 1)
      return seal_failed();
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + written, &len) != 1) return seal_failed();
  written += len;
  if (static_cast<std::size_t>(written) != plaintext.size()) return seal_failed();
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                          ct + written) != 1)
    return seal_failed();
  return out;
}

result<std::string> vault::open(std::string_view sealed,
                                std::string_view associated_data) const {
  if (sealed.size() < 1 + nonce_size + tag_size || sealed.size() > INT_MAX / 2 ||
      associated_data.size() > INT_MAX / 2)
    return open_failed();
  if (static_cast<unsigned char>(sealed[0]) != vault_version) return open_failed();
  std::string_view nonce = sealed.substr(1, nonce_size);
  std::string_view ct = sealed.substr(1 + nonce_size, sealed.size() - 1 - nonce_size - tag_size);
  // EVP wants a writable tag buffer.
  std::string tag(sealed.substr(sealed.size() - tag_size));
  cipher_ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return open_failed();
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), bytes_of(nonce)) != 1)
    return open_failed();
  if (!associated_data.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes_of(associated_data),
                        static_cast<int>(associated_data.size())) != 1)
    return open_failed();
  std::string plain(ct.size(), '\0');
  int written = 0;
  if (!ct.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), bytes_of(plain), &len, bytes_of(ct),
                          static_cast<int>(ct.size())) != 1) {
      OPENSSL_cleanse(plain.data(), plain.size());
      return open_failed();
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size),
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), bytes_of(plain) + written, &len) != 1) {
    // Unauthenticated plaintext must not linger in freed memory.
    OPENSSL_cleanse(plain.data(), plain.size());
    return open_failed();
  }
  return plain;
}

} // namespace oag::crypto
