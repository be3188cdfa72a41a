#include <catch2/catch.hpp>

#include "oag/actors/routing.hpp"

using namespace oag;
using namespace oag::actors::routing;
using nlohmann::json;

namespace {

std::shared_ptr<const policy> compile(const char* text) {
  auto p = policy::compile(json::parse(text));
  if (!p) FAIL(p.error().message);
  return p.value();
}

json chat(const std::string& text) {
  return {{"model", "auto"}, {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", text}}}}};
}

decision decide(const policy& p, const json& body, std::int64_t now = 1'796'288'577, budget_state b = {},
                std::int64_t tokens = 10) {
  request_facts f;
  f.model = body["model"].get_ref<const std::string&>();
  f.body = &body;
  f.prompt_tokens = tokens;
  f.now_utc = now;
  f.budget = b;
  return p.decide(f, 0);
}

// 2026-12-03 (a Thursday) 12:00:00 UTC.
constexpr std::int64_t thursday_noon_utc = 1'796'299'200;

} // namespace

TEST_CASE("routing: no rule matches -> the requested model alone", "[routing]") {
  auto p = compile(R"({"rules":[{"when":{"model":"other"},"then":{"model":"mock/echo"}}]})");
  auto d = decide(*p, chat("hi"));
  CHECK_FALSE(d.rule);
  CHECK(d.targets == std::vector<std::string>{"auto"});
}

TEST_CASE("routing: model, content regex and the first matching rule decides", "[routing]") {
  auto p = compile(R"({"rules":[
    {"name":"code","when":{"model":["auto"],"content_regex":"(?i)\\bpython\\b"},"then":{"model":"openai/gpt-4o"}},
    {"name":"last","when":{"model":"auto","last_user_regex":"^brief"},"then":{"model":"mock/brief"}},
    {"name":"default","when":{"model":"auto"},"then":{"model":"mock/echo","fallbacks":["mock/other"]}}]})");
  auto code = decide(*p, chat("write Python please"));
  CHECK(code.rule.value() == "code");
  CHECK(code.targets == std::vector<std::string>{"openai/gpt-4o"});
  // The system message says "be brief"; only the last user message counts for last_user_regex.
  auto last = decide(*p, chat("not brief"));
  CHECK(last.rule.value() == "default");
  CHECK(last.targets == std::vector<std::string>{"mock/echo", "mock/other"});
  CHECK(decide(*p, chat("brief answer")).rule.value() == "last");
}

TEST_CASE("routing: prompt tokens, tools, images, metadata and user", "[routing]") {
  auto p = compile(R"({"rules":[
    {"name":"big","when":{"prompt_tokens_gte":1000},"then":{"model":"p/big"}},
    {"name":"tools","when":{"has_tools":true},"then":{"model":"p/tools"}},
    {"name":"img","when":{"has_images":true},"then":{"model":"p/vision"}},
    {"name":"gold","when":{"metadata":{"tier":"gold"}},"then":{"model":"p/gold"}},
    {"name":"vip","when":{"user":["alice"]},"then":{"model":"p/vip"}}]})");
  CHECK(decide(*p, chat("x"), thursday_noon_utc, {}, 1000).rule.value() == "big");
  CHECK_FALSE(decide(*p, chat("x"), thursday_noon_utc, {}, 999).rule);
  auto tools = chat("x");
  tools["tools"] = json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
  CHECK(decide(*p, tools).rule.value() == "tools");
  auto img = chat("x");
  img["messages"][1]["content"] = json::array({{{"type", "image_url"}, {"image_url", {{"url", "https://x/y.png"}}}}});
  CHECK(decide(*p, img).rule.value() == "img");
  auto gold = chat("x");
  gold["metadata"] = {{"tier", "gold"}};
  CHECK(decide(*p, gold).rule.value() == "gold");
  gold["metadata"]["tier"] = "silver";
  CHECK_FALSE(decide(*p, gold).rule);
  auto user = chat("x");
  user["user"] = "alice";
  CHECK(decide(*p, user).rule.value() == "vip");
}

TEST_CASE("routing: time windows with a fixed clock, weekdays and zones", "[routing]") {
  auto p = compile(R"({"rules":[
    {"name":"office","when":{"time":{"timezone":"Europe/Berlin","weekdays":["mon","tue","wed","thu","fri"],"hours":"09:00-17:00"}},"then":{"model":"p/office"}},
    {"name":"night","when":{"time":{"timezone":"+03:00","hours":"22:00-06:00"}},"then":{"model":"p/night"}}]})");
  // 12:00 UTC = 13:00 in Berlin (CET, UTC+1) on a Thursday.
  CHECK(decide(*p, chat("x"), thursday_noon_utc).rule.value() == "office");
  // 16:30 UTC = 17:30 Berlin: outside office hours, 19:30 at +03:00: not night either.
  CHECK_FALSE(decide(*p, chat("x"), thursday_noon_utc + 4 * 3600 + 1800).rule);
  // 20:00 UTC = 23:00 at +03:00: night (window wraps past midnight).
  CHECK(decide(*p, chat("x"), thursday_noon_utc + 8 * 3600).rule.value() == "night");
  // Saturday noon: not office.
  CHECK_FALSE(decide(*p, chat("x"), thursday_noon_utc + 2 * 86400).rule);
}

TEST_CASE("routing: zones follow daylight saving time", "[routing]") {
  auto berlin = zone::load("Europe/Berlin");
  REQUIRE(berlin);
  CHECK(berlin.value()->offset_at(1'796'299'200) == 3600);  // December: CET
  CHECK(berlin.value()->offset_at(1'782'907'200) == 7200);  // 2026-07-01: CEST
  auto lt = to_local(*berlin.value(), 1'796'299'200);
  CHECK(lt.weekday == 3);
  CHECK(lt.minute_of_day == 13 * 60);
  CHECK(lt.day_start_utc == 1'796'252'400);   // 2026-12-02T23:00:00Z
  CHECK(lt.month_start_utc == 1'796'079'600); // 2026-11-30T23:00:00Z
  CHECK_FALSE(zone::load("../../etc/passwd"));
  CHECK_FALSE(zone::load("Not/AZone"));
}

TEST_CASE("routing: budget state degrades a chain", "[routing]") {
  auto p = compile(R"({"budget":{"monthly_ot":"1000","daily_ot":"100"},"rules":[
    {"name":"month80","when":{"model":"auto","budget":{"month_fraction_gte":0.8}},"then":{"model":"p/cheap"}},
    {"name":"day50","when":{"model":"auto","budget":{"day_fraction_gte":0.5}},"then":{"model":"p/mid"}},
    {"name":"low","when":{"model":"auto","budget":{"balance_ot_lt":"10"}},"then":{"model":"p/tiny"}},
    {"name":"normal","when":{"model":"auto"},"then":{"model":"p/best"}}]})");
  budget_state b;
  b.balance_uot = 500 * money::uot_per_ot;
  CHECK(decide(*p, chat("x"), thursday_noon_utc, b).rule.value() == "normal");
  b.spent_month_uot = 800 * money::uot_per_ot;
  CHECK(decide(*p, chat("x"), thursday_noon_utc, b).rule.value() == "month80");
  b.spent_month_uot = 799 * money::uot_per_ot;
  b.spent_today_uot = 50 * money::uot_per_ot;
  CHECK(decide(*p, chat("x"), thursday_noon_utc, b).rule.value() == "day50");
  b.spent_today_uot = 0;
  b.balance_uot = 9 * money::uot_per_ot;
  CHECK(decide(*p, chat("x"), thursday_noon_utc, b).rule.value() == "low");
}

TEST_CASE("routing: weighted targets pick by weight, the rest follow, then fallbacks", "[routing]") {
  auto p = compile(R"({"rules":[{"then":{"targets":[{"model":"a/1","weight":3},{"model":"b/2","weight":1}],"fallbacks":["c/3","a/1"]}}]})");
  json body = chat("x");
  request_facts f;
  f.model = "auto";
  f.body = &body;
  int a_first = 0;
  for (std::uint64_t r = 0; r < 400; ++r) {
    auto d = p->decide(f, r);
    REQUIRE(d.targets.size() == 3);
    CHECK(d.targets.back() == "c/3");
    if (d.targets[0] == "a/1") ++a_first;
  }
  CHECK(a_first == 300);
}

TEST_CASE("routing: configs are validated with errors naming the JSON path", "[routing]") {
  auto err = [](const char* text) {
    auto p = policy::compile(json::parse(text));
    REQUIRE_FALSE(p);
    return p.error().param.value();
  };
  CHECK(err(R"({"rules":[{"then":{}}]})") == "$.rules[0].then");
  CHECK(err(R"({"rules":[{"when":{"content_regex":"(unclosed"},"then":{"model":"a/b"}}]})") ==
        "$.rules[0].when.content_regex");
  CHECK(err(R"({"rules":[{"when":{"colour":"red"},"then":{"model":"a/b"}}]})") == "$.rules[0].when.colour");
  CHECK(err(R"({"rules":[{"when":{"time":{"hours":"9-5"}},"then":{"model":"a/b"}}]})") == "$.rules[0].when.time.hours");
  CHECK(err(R"({"rules":[{"when":{"time":{"weekdays":["funday"]}},"then":{"model":"a/b"}}]})") ==
        "$.rules[0].when.time.weekdays[0]");
  CHECK(err(R"({"rules":[{"when":{"budget":{"month_fraction_gte":0.8}},"then":{"model":"a/b"}}]})") ==
        "$.rules[0].when.budget.month_fraction_gte");
  CHECK(err(R"({"rules":[{"then":{"targets":[{"model":"a/b","weight":0}]}}]})") == "$.rules[0].then.targets[0].weight");
  CHECK(err(R"({"retry":{"on_status":[200]}})") == "$.retry.on_status[0]");
  CHECK(err(R"({"timezone":"Mars/Olympus"})") == "$.timezone");
  CHECK(err(R"({"budget":{"monthly_ot":"-1"}})") == "$.budget.monthly_ot");
}

TEST_CASE("routing: RE2 keeps pathological patterns linear", "[routing]") {
  // (a+)+$ is the classic ReDoS pattern for backtracking engines.
  auto p = compile(R"({"rules":[{"when":{"content_regex":"(a+)+$"},"then":{"model":"p/x"}}]})");
  std::string evil(100000, 'a');
  evil += "!";
  CHECK_FALSE(decide(*p, chat(evil)).rule);
}

TEST_CASE("routing: retry policy", "[routing]") {
  auto p = compile(R"({"retry":{"max_attempts_per_target":3,"backoff_ms":10,"on_status":[401,503],"first_token_timeout_ms":500}})");
  CHECK(p->retry().max_attempts_per_target == 3);
  CHECK(p->retryable_status(401));
  CHECK_FALSE(p->retryable_status(500));
  CHECK(p->retry().first_token_timeout.value() == std::chrono::milliseconds(500));
}
