#include <catch2/catch.hpp>

#include "config.hpp"
#include "metrics.hpp"
#include "routes.hpp"

using namespace oag;
using namespace oag::runtime;
using actors::route_id;

TEST_CASE("routes: client paths match with their methods", "[routes]") {
  auto m = match_route("POST", "/v1/chat/completions");
  REQUIRE(m);
  CHECK(m->route == route_id::chat_completions);
  CHECK(m->who == audience::client);
  CHECK(m->has_body);
  CHECK(match_route("POST", "/v1/embeddings")->route == route_id::embeddings);
  CHECK(match_route("GET", "/v1/models")->route == route_id::models_list);
  CHECK(match_route("GET", "/v1/wallet")->route == route_id::wallet_get);
  CHECK(match_route("GET", "/v1/ledger")->route == route_id::ledger_list);
  CHECK(match_route("POST", "/v1/chat/completions/")->route == route_id::chat_completions);
}

TEST_CASE("routes: model ids keep their slashes", "[routes]") {
  auto m = match_route("GET", "/v1/models/openai/gpt-4o-mini");
  REQUIRE(m);
  CHECK(m->route == route_id::model_get);
  REQUIRE(m->params.size() == 1);
  CHECK(m->params[0] == "openai/gpt-4o-mini");
  CHECK_FALSE(match_route("GET", "/v1/models/a//b"));
  auto encoded = match_route("GET", "/v1/models/openai%2Fgpt-4o-mini");
  REQUIRE(encoded);
  CHECK(encoded->params[0] == "openai/gpt-4o-mini");
  CHECK(percent_decode("a%2", false) == "a%2");
  CHECK(percent_decode("a+b%41", false) == "a+bA");
}

TEST_CASE("routes: wrong method is 405, unknown path is 404", "[routes]") {
  auto m = match_route("GET", "/v1/chat/completions");
  REQUIRE_FALSE(m);
  CHECK(m.error().code == errc::method_not_allowed);
  CHECK(http_status_of(m.error()) == 405);
  auto n = match_route("POST", "/v1/nope");
  REQUIRE_FALSE(n);
  CHECK(http_status_of(n.error()) == 404);
  CHECK_FALSE(match_route("GET", "/"));
  CHECK_FALSE(match_route("GET", "v1/models"));
}

TEST_CASE("routes: admin paths carry their ids", "[routes]") {
  auto m = match_route("DELETE", "/admin/v1/companies/co_abc/keys/key_x1");
  REQUIRE(m);
  CHECK(m->route == route_id::admin_keys_revoke);
  CHECK(m->who == audience::admin);
  CHECK(m->params == std::vector<std::string>{"co_abc", "key_x1"});
  CHECK(match_route("PUT", "/admin/v1/companies/co_abc/providers/openai")->route == route_id::admin_provider_put);
  CHECK(match_route("GET", "/admin/v1/companies/co_abc/providers/openai")->route == route_id::admin_provider_get);
  CHECK(match_route("DELETE", "/admin/v1/companies/co_abc/providers/openai")->route ==
        route_id::admin_provider_delete);
  CHECK(match_route("POST", "/admin/v1/companies/co_abc/credits")->route == route_id::admin_credits_add);
  CHECK(match_route("GET", "/admin/v1/companies/co_abc/wallet")->route == route_id::admin_wallet_get);
  CHECK(match_route("POST", "/admin/v1/companies")->route == route_id::admin_companies_create);
  CHECK_FALSE(match_route("GET", "/admin/v1/companies/co%20x/wallet"));
}

TEST_CASE("routes: labels are templates, not raw paths", "[routes]") {
  CHECK(route_label("GET", "/admin/v1/companies/co_1/wallet") == "/admin/v1/companies/{id}/wallet");
  CHECK(route_label("GET", "/nothing/here") == "unmatched");
  CHECK(route_label("GET", "/healthz") == "/healthz");
}

TEST_CASE("query strings are percent-decoded", "[routes]") {
  auto q = parse_query("limit=5&after=led_3&x=a%20b+c&flag&bad=%zz");
  CHECK(q["limit"] == "5");
  CHECK(q["after"] == "led_3");
  CHECK(q["x"] == "a b c");
  CHECK(q.count("flag") == 1);
  CHECK(q["bad"] == "%zz");
  CHECK(parse_query("").empty());
}

TEST_CASE("bearer tokens", "[routes]") {
  CHECK(bearer_token("Bearer abc").value() == "abc");
  CHECK(bearer_token("bearer  abc ").value() == "abc");
  CHECK_FALSE(bearer_token("Basic abc"));
  CHECK_FALSE(bearer_token("Bearer "));
  CHECK_FALSE(bearer_token(""));
}

TEST_CASE("json depth guard ignores brackets inside strings", "[routes]") {
  CHECK(json_depth_ok(R"({"a":[[1]]})", 3));
  CHECK_FALSE(json_depth_ok(R"({"a":[[1]]})", 2));
  CHECK(json_depth_ok(R"({"a":"[[[[[[[[\"[[["})", 1));
  std::string deep(100000, '[');
  CHECK_FALSE(json_depth_ok(deep, 128));
}

TEST_CASE("bodies: malformed, non-object, deep and invalid UTF-8 are 400s", "[routes]") {
  auto route = *match_route("POST", "/v1/chat/completions");
  auto empty = parse_body(route, "");
  REQUIRE_FALSE(empty);
  CHECK(http_status_of(empty.error()) == 400);
  CHECK_FALSE(parse_body(route, "{\"model\":"));
  CHECK_FALSE(parse_body(route, "[1,2]"));
  CHECK_FALSE(parse_body(route, std::string(5000, '[')));
  CHECK_FALSE(parse_body(route, "{\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"));
  auto ok = parse_body(route, R"({"model":"mock/echo","messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(ok);
  CHECK((*ok)["model"] == "mock/echo");
  auto wrong = parse_body(route, R"({"model":"mock/echo","messages":"hi"})");
  REQUIRE_FALSE(wrong);
  REQUIRE(wrong.error().param);
  CHECK(*wrong.error().param == "messages");
}

TEST_CASE("config: listen addresses", "[config]") {
  CHECK(parse_listen("127.0.0.1:8080")->second == 8080);
  CHECK(parse_listen("[::1]:0")->first == "::1");
  CHECK_FALSE(parse_listen("127.0.0.1"));
  CHECK_FALSE(parse_listen("h:99999"));
  CHECK_FALSE(parse_listen("h:8x"));
}

TEST_CASE("config: values, paths and errors naming the JSON path", "[config]") {
  auto env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "SET_KEY") return std::string{"sk-1"};
    return std::nullopt;
  };
  auto c = parse_config(nlohmann::json::parse(R"({
    "listen":"0.0.0.0:9000","prices_file":"prices.json","durability":"fsync",
    "aliases":{"fast":"mock/echo"},
    "providers":{"mock":{"kind":"mock"},
                 "openai":{"kind":"openai","base_url":"https://x/v1","api_key_env":"SET_KEY"},
                 "absent":{"kind":"openai","base_url":"https://y/v1","api_key_env":"UNSET_KEY"}},
    "upstream_timeouts":{"connect_ms":5}})"),
                        "/etc/oag", env);
  REQUIRE(c);
  CHECK(c->listen_port == 9000);
  CHECK(c->prices_file == "/etc/oag/prices.json");
  CHECK(c->durability == storage::durability::fsync);
  CHECK(c->settings.aliases.at("fast") == "mock/echo");
  CHECK(c->settings.upstream_timeouts.connect == std::chrono::milliseconds(5));
  REQUIRE(c->providers.size() == 2); // the one without its key in the env is left out
  CHECK(c->providers[1].api_key.value() == "sk-1");

  auto bad = parse_config(nlohmann::json::parse(R"({"providers":{"p":{"kind":1}}})"), "", env);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().param.value() == "$.providers.p.kind");
  auto bad2 = parse_config(nlohmann::json::parse(R"({"durability":"sometimes"})"), "", env);
  REQUIRE_FALSE(bad2);
  CHECK(bad2.error().param.value() == "$.durability");
  auto bad3 = parse_config(nlohmann::json::parse(R"({"body_limit_bytes":-1})"), "", env);
  REQUIRE_FALSE(bad3);
  auto routing = parse_config(nlohmann::json::parse(R"({"default_routing":{"rules":[{"then":{"model":"mock/echo"}}]},
                                                        "routing":{"co_1":{"rules":[]}}})"), "", env);
  REQUIRE(routing);
  CHECK(routing->settings.default_routing);
  CHECK(routing->settings.company_routing.count("co_1") == 1);
  auto bad4 = parse_config(nlohmann::json::parse(R"({"routing":{"co_1":{"rules":[{"then":{}}]}}})"), "", env);
  REQUIRE_FALSE(bad4);
  CHECK(bad4.error().param.value() == "$.routing.co_1.rules[0].then");
}

TEST_CASE("metrics render Prometheus text", "[metrics]") {
  metrics m;
  m.request_done("/v1/chat/completions", 200, std::chrono::microseconds(700));
  m.request_done("/v1/chat/completions", 200, std::chrono::microseconds(30000));
  m.upstream_error("openai", 500);
  m.charged("co_1", "mock/echo", {10, 2, 5}, 123);
  auto text = m.render();
  CHECK(text.find("oag_http_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 2") != std::string::npos);
  CHECK(text.find("oag_http_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.001\"} 1") !=
        std::string::npos);
  CHECK(text.find("oag_http_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"+Inf\"} 2") !=
        std::string::npos);
  CHECK(text.find("oag_upstream_errors_total{provider=\"openai\",status=\"500\"} 1") != std::string::npos);
  CHECK(text.find("oag_charged_uot_total{company=\"co_1\",model=\"mock/echo\"} 123") != std::string::npos);
  CHECK(text.find("type=\"cached_input\"} 2") != std::string::npos);
}
