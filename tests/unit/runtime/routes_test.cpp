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

namespace {

/// The route a method and path match (fails the test when they match none).
route_id route_of(std::string_view method, std::string_view path) {
  auto m = match_route(method, path);
  INFO(std::string{method} + " " + std::string{path});
  REQUIRE(m);
  return m->route;
}

int status_of(std::string_view method, std::string_view path) {
  auto m = match_route(method, path);
  return m ? 200 : http_status_of(m.error());
}

} // namespace

TEST_CASE("routes: agents, agent runs and approvals", "[routes][agents]") {
  CHECK(route_of("GET", "/v1/agents") == route_id::agents_list);
  CHECK(route_of("POST", "/v1/agents") == route_id::agents_create);
  CHECK(route_of("GET", "/v1/agents/agt_1") == route_id::agent_get);
  CHECK(route_of("POST", "/v1/agents/agt_1") == route_id::agent_modify);
  CHECK(route_of("DELETE", "/v1/agents/agt_1") == route_id::agent_delete);
  CHECK(route_of("GET", "/v1/agents/agt_1/runs") == route_id::agent_runs_list);
  CHECK(route_of("POST", "/v1/agents/agt_1/runs") == route_id::agent_fire);
  CHECK(route_of("GET", "/v1/agent-runs/arun_9") == route_id::agent_run_get);
  CHECK(route_of("GET", "/v1/agent-runs/arun_9/log") == route_id::agent_run_log);
  CHECK(route_of("GET", "/v1/approvals") == route_id::approvals_list);
  CHECK(route_of("GET", "/v1/approvals/apr_2") == route_id::approval_get);
  CHECK(route_of("POST", "/v1/approvals/apr_2/approve") == route_id::approval_approve);
  CHECK(route_of("POST", "/v1/approvals/apr_2/reject") == route_id::approval_reject);
  CHECK(route_of("PUT", "/v1/telegram") == route_id::telegram_put);
  CHECK(route_of("GET", "/v1/telegram") == route_id::telegram_get);
  CHECK(route_of("DELETE", "/v1/telegram") == route_id::telegram_delete);
  CHECK(route_of("GET", "/v1/spend") == route_id::spend_get);

  auto fire = match_route("POST", "/v1/agents/agt_1/runs");
  REQUIRE(fire);
  CHECK(fire->who == audience::client);
  CHECK(fire->params == std::vector<std::string>{"agt_1"});
  CHECK(std::string{fire->label} == "/v1/agents/{id}/runs");
  CHECK(match_route("GET", "/v1/agent-runs/arun_9/log")->params == std::vector<std::string>{"arun_9"});
  CHECK(match_route("POST", "/v1/approvals/apr_2/reject")->params == std::vector<std::string>{"apr_2"});
  CHECK(match_route("GET", "/v1/agents")->params.empty());
  CHECK(match_route("GET", "/v1/spend")->params.empty());

  // Every new route is an agents route (served by the agents actor), none an assistants one.
  for (auto r : {route_id::agents_create, route_id::agent_fire, route_id::approval_reject, route_id::topic_publish,
                 route_id::telegram_delete, route_id::spend_get, route_id::hook_deliver, route_id::telegram_webhook}) {
    CHECK(actors::is_agents_route(r));
    CHECK_FALSE(actors::is_assistants_route(r));
  }
}

TEST_CASE("routes: agents routes refuse wrong methods (405) and unknown paths (404)", "[routes][agents]") {
  CHECK(status_of("PUT", "/v1/agents") == 405);
  CHECK(status_of("DELETE", "/v1/agents") == 405);
  CHECK(status_of("PUT", "/v1/agents/agt_1") == 405);
  CHECK(status_of("DELETE", "/v1/agents/agt_1/runs") == 405);
  CHECK(status_of("POST", "/v1/agent-runs/arun_9") == 405);
  CHECK(status_of("DELETE", "/v1/agent-runs/arun_9/log") == 405);
  CHECK(status_of("POST", "/v1/approvals") == 405);
  CHECK(status_of("DELETE", "/v1/approvals/apr_2") == 405);
  CHECK(status_of("GET", "/v1/approvals/apr_2/approve") == 405);
  CHECK(status_of("GET", "/v1/approvals/apr_2/reject") == 405);
  CHECK(status_of("DELETE", "/v1/topics/a.b/events") == 405);
  CHECK(status_of("POST", "/v1/telegram") == 405);
  CHECK(status_of("POST", "/v1/spend") == 405);
  CHECK(status_of("GET", "/hooks/hk_1") == 405);
  CHECK(status_of("PUT", "/telegram/tg_1") == 405);

  CHECK(status_of("GET", "/v1/agents/agt_1/nope") == 404);
  CHECK(status_of("GET", "/v1/agents/agt_1/runs/x") == 404);
  CHECK(status_of("GET", "/v1/agents/a%20b") == 404);
  CHECK(status_of("GET", "/v1/agent-runs") == 404);
  CHECK(status_of("GET", "/v1/agent-runs/arun_9/steps") == 404);
  CHECK(status_of("POST", "/v1/approvals/apr_2/maybe") == 404);
  CHECK(status_of("GET", "/v1/topics") == 404);
  CHECK(status_of("GET", "/v1/topics/a") == 404);
  CHECK(status_of("GET", "/v1/topics//events") == 404);
  CHECK(status_of("GET", "/v1/topics/a/events/x") == 404);
  CHECK(status_of("GET", "/v1/telegram/x") == 404);
  CHECK(status_of("GET", "/v1/spend/day") == 404);
}

TEST_CASE("routes: topics are percent-decoded and may hold dots", "[routes][agents]") {
  auto pub = match_route("POST", "/v1/topics/orders.created/events");
  REQUIRE(pub);
  CHECK(pub->route == route_id::topic_publish);
  CHECK(pub->has_body);
  CHECK(pub->params == std::vector<std::string>{"orders.created"});
  CHECK(std::string{pub->label} == "/v1/topics/{topic}/events");
  auto list = match_route("GET", "/v1/topics/a%2Fb%20c/events");
  REQUIRE(list);
  CHECK(list->route == route_id::topic_events_list);
  CHECK(list->params == std::vector<std::string>{"a/b c"});
  CHECK(route_label("GET", "/v1/topics/x.y/events") == "/v1/topics/{topic}/events");
}

TEST_CASE("routes: hook deliveries are unauthenticated, with strict ids", "[routes][agents]") {
  auto hook = match_route("POST", "/hooks/hk_AZ-09");
  REQUIRE(hook);
  CHECK(hook->route == route_id::hook_deliver);
  CHECK(hook->who == audience::hook);
  CHECK(hook->has_body);
  CHECK(hook->params == std::vector<std::string>{"hk_AZ-09"});
  CHECK(std::string{hook->label} == "/hooks/{id}");
  CHECK(actors::is_hook_route(hook->route));
  auto tg = match_route("POST", "/telegram/tg_1");
  REQUIRE(tg);
  CHECK(tg->route == route_id::telegram_webhook);
  CHECK(tg->who == audience::hook);
  CHECK(tg->params == std::vector<std::string>{"tg_1"});
  CHECK(route_label("POST", "/telegram/tg_secret") == "/telegram/{id}");
  CHECK(route_label("POST", "/hooks/hk_secret") == "/hooks/{id}");
  CHECK(match_route("POST", "/hooks/hk_1/")->route == route_id::hook_deliver);

  CHECK(status_of("POST", "/hooks/a.b") == 404);   // dots are valid in object ids, not in hook ids
  CHECK(status_of("POST", "/hooks/a%20b") == 404);
  CHECK(status_of("POST", "/hooks/" + std::string(129, 'a')) == 404);
  CHECK(status_of("POST", "/hooks/" + std::string(128, 'a')) == 200);
  CHECK(status_of("POST", "/hooks") == 404);
  CHECK(status_of("POST", "/hooks/") == 404);
  CHECK(status_of("POST", "/hooks/a/b") == 404);
  CHECK(status_of("POST", "/telegram/x~y") == 404);
  CHECK(status_of("POST", "/telegram") == 404);
  CHECK(valid_hook_id("Ab_-9"));
  CHECK_FALSE(valid_hook_id(""));
  CHECK_FALSE(valid_hook_id("a.b"));
  CHECK_FALSE(valid_hook_id("a/b"));
}

TEST_CASE("bodies: hook bodies are never parsed; some agents POSTs need none", "[routes][agents]") {
  auto hook = *match_route("POST", "/hooks/hk_1");
  auto raw = parse_body(hook, "not json at all {");
  REQUIRE(raw);
  CHECK(raw->is_null());
  auto tg = parse_body(*match_route("POST", "/telegram/tg_1"), "[1,2]");
  REQUIRE(tg);
  CHECK(tg->is_null());
  CHECK(parse_body(hook, "")->is_null());
  CHECK(parse_body(hook, std::string(5000, '['))->is_null());

  for (auto path : {"/v1/agents/agt_1/runs", "/v1/approvals/apr_1/approve", "/v1/approvals/apr_1/reject"}) {
    INFO(path);
    auto r = parse_body(*match_route("POST", path), "");
    REQUIRE(r);
    CHECK(r->is_null());
  }
  CHECK((*parse_body(*match_route("POST", "/v1/agents/agt_1/runs"), R"({"input":"go"})"))["input"] == "go");
  for (auto [method, path] : {std::pair{"POST", "/v1/agents"}, std::pair{"PUT", "/v1/telegram"},
                              std::pair{"POST", "/v1/topics/t/events"}}) {
    INFO(path);
    auto empty = parse_body(*match_route(method, path), "");
    REQUIRE_FALSE(empty);
    CHECK(http_status_of(empty.error()) == 400);
    CHECK_FALSE(parse_body(*match_route(method, path), "{bad"));
  }
}

TEST_CASE("hook headers: only the signature headers, with lower-case names", "[routes][agents]") {
  adapters::header_list in{{"Authorization", "Bearer x"},
                           {"X-OAG-Signature", "sha256=ab"},
                           {"Content-Type", "application/json"},
                           {"X-Telegram-Bot-Api-Secret-Token", "s3"},
                           {"x-oag-timestamp", "1700000000"},
                           {"Cookie", "c"}};
  auto out = hook_headers(in);
  REQUIRE(out.size() == 4);
  CHECK(adapters::find_header(out, "x-oag-signature").value() == "sha256=ab");
  CHECK(adapters::find_header(out, "x-oag-timestamp").value() == "1700000000");
  CHECK(adapters::find_header(out, "x-telegram-bot-api-secret-token").value() == "s3");
  CHECK(adapters::find_header(out, "content-type").value() == "application/json");
  CHECK_FALSE(adapters::find_header(out, "x-oag-event-id"));
  CHECK_FALSE(adapters::find_header(out, "authorization"));
  for (auto& h : out)
    for (char c : h.name) CHECK_FALSE((c >= 'A' && c <= 'Z'));
  CHECK(hook_headers({}).empty());
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

TEST_CASE("config: telegram_api_base", "[config]") {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto def = parse_config(nlohmann::json::object(), "", env);
  REQUIRE(def);
  CHECK(def->settings.telegram_api_base == "https://api.telegram.org");
  auto set = parse_config(nlohmann::json::parse(R"({"telegram_api_base":"http://127.0.0.1:9000/"})"), "", env);
  REQUIRE(set);
  CHECK(set->settings.telegram_api_base == "http://127.0.0.1:9000");
  auto bad = parse_config(nlohmann::json::parse(R"({"telegram_api_base":"ftp://x"})"), "", env);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().param.value() == "$.telegram_api_base");
  CHECK_FALSE(parse_config(nlohmann::json::parse(R"({"telegram_api_base":5})"), "", env));
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
