#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "oag/storage/keys.hpp"

using namespace oag::storage;

namespace {
bool starts_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}
} // namespace

TEST_CASE("tenant keys have the documented layout", "[keys]") {
  auto k = tenant_key("co_1", record_kind::api_key, "key_9");
  REQUIRE(k == std::string("co_1\0\x02key_9", 11));
  REQUIRE(tenant_prefix("co_1", record_kind::api_key) == std::string("co_1\0\x02", 6));
  REQUIRE(starts_with(k, tenant_prefix("co_1", record_kind::api_key)));
  REQUIRE(tenant_key("co_1", record_kind::wallet) == tenant_prefix("co_1", record_kind::wallet));
}

TEST_CASE("global keys start with 0x00 and never overlap tenant keys", "[keys]") {
  auto g = global_key(record_kind::key_hash, "abc");
  REQUIRE(g == std::string("\0\x03" "abc", 5));
  REQUIRE(global_prefix(record_kind::meta) == std::string("\0\x09", 2));
  // Every tenant key sorts after every global key and is not under a global prefix.
  auto t = tenant_key("a", record_kind::key_hash, "abc");
  REQUIRE(g < t);
  REQUIRE_FALSE(starts_with(t, global_prefix(record_kind::key_hash)));
  REQUIRE_FALSE(parse_tenant_key(g).has_value());
}

TEST_CASE("company ids cannot collide across prefix boundaries", "[keys]") {
  auto a_prefix = tenant_prefix("co_a", record_kind::api_key);
  auto ab_key = tenant_key("co_ab", record_kind::api_key, "k1");
  auto a_key = tenant_key("co_a", record_kind::api_key, "bk1");
  REQUIRE_FALSE(starts_with(ab_key, a_prefix));
  REQUIRE(starts_with(a_key, a_prefix));
  REQUIRE_FALSE(starts_with(a_key, tenant_prefix("co_ab", record_kind::api_key)));
  // Suffix bytes cannot make one company's key look like another company's.
  auto parsed = parse_tenant_key(a_key);
  REQUIRE(parsed);
  REQUIRE(parsed->company_id == "co_a");
  // A company's whole range sorts contiguously: nothing of co_ab between two co_a keys.
  std::vector<std::string> keys{tenant_key("co_a", record_kind::company),
                                tenant_key("co_a", record_kind::settled_call, "zzz"),
                                tenant_key("co_ab", record_kind::company),
                                tenant_key("co_a", record_kind::ledger, encode_be64(~0ull))};
  std::sort(keys.begin(), keys.end());
  REQUIRE(parse_tenant_key(keys.back())->company_id == "co_ab");
}

TEST_CASE("invalid company ids are refused instead of aliasing", "[keys]") {
  REQUIRE_FALSE(is_valid_company_id(""));
  REQUIRE_FALSE(is_valid_company_id(std::string("a\0b", 3)));
  REQUIRE(is_valid_company_id("co_x"));
  REQUIRE_THROWS_AS(tenant_key("", record_kind::wallet), std::invalid_argument);
  REQUIRE_THROWS_AS(tenant_prefix(std::string("a\0\x05", 3), record_kind::wallet),
                    std::invalid_argument);
}

TEST_CASE("prefixes of different kinds are disjoint and ordered by kind", "[keys]") {
  auto p5 = tenant_prefix("co", record_kind::wallet);
  auto p6 = tenant_prefix("co", record_kind::reservation);
  REQUIRE(p5 < p6);
  REQUIRE_FALSE(starts_with(tenant_key("co", record_kind::reservation, "x"), p5));
}

TEST_CASE("be64 round trips and sorts numerically", "[keys]") {
  std::vector<std::uint64_t> values{0, 1, 255, 256, 65535, 65536, 1ull << 32, (1ull << 56) + 7,
                                    0x7fffffffffffffffull, 0xffffffffffffffffull};
  for (auto v : values) {
    auto enc = encode_be64(v);
    REQUIRE(enc.size() == 8);
    REQUIRE(decode_be64(enc) == v);
  }
  for (std::size_t i = 1; i < values.size(); ++i)
    REQUIRE(encode_be64(values[i - 1]) < encode_be64(values[i]));
  REQUIRE(encode_be64(0x0102030405060708ull) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  REQUIRE_FALSE(decode_be64("").has_value());
  REQUIRE_FALSE(decode_be64("1234567").has_value());
  REQUIRE_FALSE(decode_be64("123456789").has_value());
  // Ledger keys of one company therefore sort by sequence number.
  REQUIRE(ledger_key("co", 9) < ledger_key("co", 10));
  REQUIRE(ledger_key("co", 255) < ledger_key("co", 256));
}

TEST_CASE("parse_tenant_key round trips every kind", "[keys]") {
  for (int k = 1; k <= 11; ++k) {
    auto kind = static_cast<record_kind>(k);
    std::string suffix = std::string("s\0\xff", 3) + std::to_string(k);
    auto key = tenant_key("co_42", kind, suffix);
    auto parts = parse_tenant_key(key);
    REQUIRE(parts);
    REQUIRE(parts->company_id == "co_42");
    REQUIRE(parts->kind == kind);
    REQUIRE(parts->suffix == suffix);
  }
  auto lkey = ledger_key("co", 77); // parts are views: keep the key alive
  auto ledger = parse_tenant_key(lkey);
  REQUIRE(ledger);
  REQUIRE(ledger->kind == record_kind::ledger);
  REQUIRE(decode_be64(ledger->suffix) == 77u);
}

TEST_CASE("parse_tenant_key rejects what is not a tenant key", "[keys]") {
  REQUIRE_FALSE(parse_tenant_key("").has_value());
  REQUIRE_FALSE(parse_tenant_key("no-separator").has_value());
  REQUIRE_FALSE(parse_tenant_key(std::string("co\0", 3)).has_value());      // no kind
  REQUIRE_FALSE(parse_tenant_key(std::string("co\0\0", 4)).has_value());    // kind 0
  REQUIRE_FALSE(parse_tenant_key(std::string("co\0\x7f", 4)).has_value());  // unknown kind
  REQUIRE_FALSE(parse_tenant_key(std::string("\0\x05", 2)).has_value());    // global
}

TEST_CASE("idempotency keys separate scope from client key", "[keys]") {
  auto k = idempotency_key("co", "credit", "abc");
  REQUIRE(k == tenant_key("co", record_kind::idempotency, std::string("credit\0abc", 10)));
  // "credit"+"x" vs "creditx"+"" must not collide.
  REQUIRE(idempotency_key("co", "credit", "x") != idempotency_key("co", "creditx", ""));
  REQUIRE(starts_with(k, tenant_prefix("co", record_kind::idempotency)));
}

TEST_CASE("child suffixes keep parents apart", "[keys]") {
  auto a = oag::storage::child_suffix("thread_1", "msg_2");
  CHECK(a == std::string("thread_1\0msg_2", 14));
  // "thread_1" children never share a prefix with "thread_10" children.
  auto p1 = oag::storage::child_suffix("thread_1", "");
  auto other = oag::storage::child_suffix("thread_10", "msg_1");
  CHECK(other.rfind(p1, 0) != 0);
}
