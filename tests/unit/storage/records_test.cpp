#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "oag/storage/records.hpp"

using namespace oag::storage;
using oag::errc;

TEST_CASE("company and api key records round trip", "[records]") {
  company_record c{"co_1", "Acme \"Ltd\" ünïcode", 1700000000};
  auto dc = decode_company(encode(c));
  REQUIRE(dc.ok());
  REQUIRE(dc->id == c.id);
  REQUIRE(dc->name == c.name);
  REQUIRE(dc->created_at == c.created_at);

  api_key_record k{"key_1", "co_1", "ci", std::string(64, 'a'), -5, true};
  auto dk = decode_api_key(encode(k));
  REQUIRE(dk.ok());
  REQUIRE(dk->id == k.id);
  REQUIRE(dk->company_id == k.company_id);
  REQUIRE(dk->name == k.name);
  REQUIRE(dk->hash_hex == k.hash_hex);
  REQUIRE(dk->created_at == -5);
  REQUIRE(dk->revoked);
}

TEST_CASE("provider records keep the binary sealed key", "[records]") {
  provider_record p{"co_1", "main", "openai", "https://api.openai.com/v1",
                    std::string("\x01\0\xff\xfe secret", 11), true, 42};
  auto text = encode(p);
  REQUIRE(nlohmann::json::parse(text)["sealed_api_key"].is_string());
  auto d = decode_provider(text);
  REQUIRE(d.ok());
  REQUIRE(d->company_id == "co_1");
  REQUIRE(d->name == "main");
  REQUIRE(d->kind == "openai");
  REQUIRE(d->base_url == p.base_url);
  REQUIRE(d->sealed_api_key == p.sealed_api_key);
  REQUIRE(d->allow_insecure_http);
  REQUIRE(d->created_at == 42);

  provider_record mock{"co_1", "m", "mock", "", std::nullopt, false, 0};
  auto dm = decode_provider(encode(mock));
  REQUIRE(dm.ok());
  REQUIRE_FALSE(dm->sealed_api_key.has_value());
  REQUIRE(dm->base_url.empty());
}

TEST_CASE("wallet, reservation and ledger records round trip", "[records]") {
  wallet_record w{std::numeric_limits<std::int64_t>::max(), -3, 2, 7};
  auto dw = decode_wallet(encode(w));
  REQUIRE(dw.ok());
  REQUIRE(dw->credits_uot == w.credits_uot);
  REQUIRE(dw->balance_uot == -3);
  REQUIRE(dw->reserved_uot == 2);
  REQUIRE(dw->spent_uot == 7);

  reservation_record r{"call_1", 123, 99};
  auto dr = decode_reservation(encode(r));
  REQUIRE(dr.ok());
  REQUIRE(dr->call_id == "call_1");
  REQUIRE(dr->amount_uot == 123);
  REQUIRE(dr->created_at == 99);

  ledger_entry e;
  e.seq = 0xffffffffffffffffull;
  e.id = "led_18446744073709551615";
  e.call_id = "call_1";
  e.response_id = "chatcmpl-1";
  e.kind = "chat.completion";
  e.model = "gpt-4o-mini";
  e.provider = "main";
  e.upstream_model = "gpt-4o-mini-2024-07-18";
  e.input_tokens = 10;
  e.cached_input_tokens = 4;
  e.output_tokens = 2;
  e.cost_uot = 2400;
  e.created_at = 1700000001;
  e.status = "completed";
  auto de = decode_ledger_entry(encode(e));
  REQUIRE(de.ok());
  REQUIRE(de->seq == e.seq);
  REQUIRE(de->id == e.id);
  REQUIRE(de->call_id == e.call_id);
  REQUIRE(de->response_id == e.response_id);
  REQUIRE(de->kind == e.kind);
  REQUIRE(de->model == e.model);
  REQUIRE(de->provider == e.provider);
  REQUIRE(de->upstream_model == e.upstream_model);
  REQUIRE(de->input_tokens == 10);
  REQUIRE(de->cached_input_tokens == 4);
  REQUIRE(de->output_tokens == 2);
  REQUIRE(de->cost_uot == 2400);
  REQUIRE(de->created_at == e.created_at);
  REQUIRE(de->status == "completed");
}

TEST_CASE("field names are the on-disk contract", "[records]") {
  auto j = nlohmann::json::parse(encode(wallet_record{10, 5, 3, 2}));
  REQUIRE(j == nlohmann::json{{"credits_uot", 10}, {"balance_uot", 5}, {"reserved_uot", 3},
                              {"spent_uot", 2}});
  // Unknown extra fields (from a newer writer) are ignored.
  j["future_field"] = "x";
  REQUIRE(decode_wallet(j.dump()).ok());
}

TEST_CASE("invalid UTF-8 is encoded without throwing", "[records]") {
  company_record c{"co_1", std::string("bad \xff\xfe utf8"), 0};
  std::string text;
  REQUIRE_NOTHROW(text = encode(c));
  auto d = decode_company(text);
  REQUIRE(d.ok());
  REQUIRE(d->id == "co_1");
}

TEST_CASE("malformed records fail to decode, never throw", "[records]") {
  auto expect_bad = [](const oag::result<wallet_record>& r) {
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().code == errc::storage_failure);
  };
  for (const char* bad :
       {"", "not json", "[]", "42", "null", "\"str\"", "{}", "{\"credits_uot\":1}",
        "{\"credits_uot\":\"1\",\"balance_uot\":1,\"reserved_uot\":0,\"spent_uot\":0}",
        "{\"credits_uot\":1.5,\"balance_uot\":1,\"reserved_uot\":0,\"spent_uot\":0}",
        "{\"credits_uot\":9223372036854775808,\"balance_uot\":1,\"reserved_uot\":0,\"spent_uot\":0}",
        "{\"credits_uot\":null,\"balance_uot\":1,\"reserved_uot\":0,\"spent_uot\":0}",
        "{\"credits_uot\":1,\"balance_uot\":1,\"reserved_uot\":0,\"spent_uot\":0"}) {
    INFO("input: " << bad);
    REQUIRE_NOTHROW(expect_bad(decode_wallet(bad)));
  }
  REQUIRE_FALSE(decode_company("{\"id\":1,\"name\":\"n\",\"created_at\":0}").ok());
  REQUIRE_FALSE(decode_api_key("{\"id\":\"k\",\"company_id\":\"c\",\"name\":\"n\","
                               "\"hash_hex\":\"h\",\"created_at\":0,\"revoked\":\"no\"}")
                    .ok());
  REQUIRE_FALSE(decode_reservation("{\"call_id\":\"c\",\"amount_uot\":[],\"created_at\":0}").ok());
  // A sealed key that is not base64 is corruption, not a key.
  auto p = nlohmann::json::parse(encode(provider_record{"c", "n", "openai", "u", "k", false, 0}));
  p["sealed_api_key"] = "not base64!";
  REQUIRE_FALSE(decode_provider(p.dump()).ok());
  p["sealed_api_key"] = 5;
  REQUIRE_FALSE(decode_provider(p.dump()).ok());
  // A negative sequence number cannot be a ledger position.
  ledger_entry e;
  e.seq = 1;
  auto j = nlohmann::json::parse(encode(e));
  j["seq"] = -1;
  REQUIRE_FALSE(decode_ledger_entry(j.dump()).ok());
}

TEST_CASE("every truncation of a record is rejected", "[records]") {
  ledger_entry e;
  e.seq = 7;
  e.id = "led_7";
  e.status = "completed";
  auto text = encode(e);
  for (std::size_t n = 0; n < text.size(); ++n) {
    INFO("prefix length " << n);
    oag::result<ledger_entry> r = ledger_entry{};
    REQUIRE_NOTHROW(r = decode_ledger_entry(text.substr(0, n)));
    REQUIRE_FALSE(r.ok());
  }
  REQUIRE(decode_ledger_entry(text).ok());
}
