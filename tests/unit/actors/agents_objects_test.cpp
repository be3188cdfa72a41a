#include <catch2/catch.hpp>

#include <set>

#include "agents_objects.hpp"
#include "oag/storage/crypto.hpp"

using namespace oag;
using namespace oag::actors::agents;
using nlohmann::json;
namespace triggers = oag::actors::triggers;

namespace {

json minimal() { return {{"name", "Tax bot"}, {"model", "gpt-4o"}}; }

json with(json body, const std::string& key, json value) {
  body[key] = std::move(value);
  return body;
}

result<json> make(const json& body, const std::vector<std::string>& hooks = {}) {
  return new_agent(body, "agt_1", 1700000000, hooks);
}

template <class T>
void expect_bad(const result<T>& r, const std::string& param) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_request);
  REQUIRE(r.error().param.has_value());
  CHECK(*r.error().param == param);
}

json agent_with_hooks() {
  json body = minimal();
  body["triggers"] = json::array({{{"type", "webhook"}}, {{"type", "cron"}, {"schedule", "0 * * * *"}},
                                  {{"type", "webhook"}, {"input", "x {{body}}"}}});
  auto a = make(body, {"hook_a", "hook_b"});
  REQUIRE(a);
  return *a;
}

} // namespace

TEST_CASE("new_agent: a minimal agent has every default explicit", "[agents]") {
  auto a = make(minimal());
  REQUIRE(a);
  CHECK((*a)["id"] == "agt_1");
  CHECK((*a)["object"] == "agent");
  CHECK((*a)["created_at"] == 1700000000);
  CHECK((*a)["name"] == "Tax bot");
  CHECK((*a)["description"].is_null());
  CHECK((*a)["assistant_id"].is_null());
  CHECK((*a)["model"] == "gpt-4o");
  CHECK((*a)["instructions"].is_null());
  CHECK((*a)["tools"] == json::array());
  CHECK((*a)["triggers"] == json::array());
  CHECK((*a)["budget"] == json{{"per_run_ot", nullptr}, {"per_day_ot", nullptr}});
  CHECK((*a)["limits"] == json{{"max_steps", nullptr}, {"max_delegation_depth", 2}, {"max_parallel_children", 5}});
  CHECK((*a)["approval"] == json{{"tools", json::object()}, {"expires_in_s", 86400}, {"telegram", true}});
  CHECK((*a)["enabled"] == true);
  CHECK((*a)["metadata"] == json::object());
}

TEST_CASE("new_agent: body, name, description, instructions", "[agents]") {
  expect_bad(make(json::array()), "body");
  expect_bad(make(json{{"model", "m"}}), "name");
  expect_bad(make(with(minimal(), "name", "")), "name");
  expect_bad(make(with(minimal(), "name", 5)), "name");
  CHECK(make(with(minimal(), "name", std::string(256, 'n'))));
  expect_bad(make(with(minimal(), "name", std::string(257, 'n'))), "name");
  CHECK(make(with(minimal(), "description", std::string(512, 'd'))));
  expect_bad(make(with(minimal(), "description", std::string(513, 'd'))), "description");
  auto ok = make(with(minimal(), "instructions", std::string(256000, 'i')));
  REQUIRE(ok);
  CHECK((*ok)["instructions"].get<std::string>().size() == 256000);
  expect_bad(make(with(minimal(), "instructions", std::string(256001, 'i'))), "instructions");
  expect_bad(make(with(minimal(), "instructions", json::object())), "instructions");
}

TEST_CASE("new_agent: unknown fields are refused by name", "[agents]") {
  auto r = make(with(minimal(), "temperature", 1));
  expect_bad(r, "temperature");
  CHECK(r.error().message.find("temperature") != std::string::npos);
  expect_bad(make(with(minimal(), "budget", json{{"per_week_ot", "1"}})), "budget.per_week_ot");
  expect_bad(make(with(minimal(), "limits", json{{"depth", 1}})), "limits.depth");
  expect_bad(make(with(minimal(), "approval", json{{"ttl", 1}})), "approval.ttl");
  expect_bad(make(with(minimal(), "triggers", json::array({{{"type", "topic"}, {"pattern", "a"}, {"x", 1}}}))),
             "triggers[0].x");
  auto nested = make(with(minimal(), "budget", json{{"per_week_ot", "1"}}));
  CHECK(nested.error().message.find("budget.per_week_ot") != std::string::npos);
}

TEST_CASE("new_agent: model and assistant_id", "[agents]") {
  json no_model = {{"name", "n"}};
  expect_bad(make(no_model), "model");
  expect_bad(make(with(no_model, "model", "")), "model");
  expect_bad(make(with(no_model, "model", std::string(257, 'm'))), "model");
  CHECK(make(with(no_model, "model", std::string(256, 'm'))));
  auto persona = make(with(no_model, "assistant_id", "asst_abc"));
  REQUIRE(persona);
  CHECK((*persona)["assistant_id"] == "asst_abc");
  CHECK((*persona)["model"].is_null());
  auto both = make(with(minimal(), "assistant_id", "asst_abc"));
  REQUIRE(both);
  CHECK((*both)["model"] == "gpt-4o");
  CHECK((*both)["assistant_id"] == "asst_abc");
  expect_bad(make(with(minimal(), "assistant_id", "asst abc")), "assistant_id");
  expect_bad(make(with(minimal(), "assistant_id", std::string(129, 'a'))), "assistant_id");
  CHECK(make(with(minimal(), "assistant_id", std::string(128, 'a'))));
  expect_bad(make(with(minimal(), "assistant_id", 7)), "assistant_id");
}

TEST_CASE("new_agent: tools are normalised and checked", "[agents]") {
  auto a = make(with(minimal(), "tools",
                     json::array({"get_rates", {{"type", "function"}, {"function", {{"name", "send-mail"}}}},
                                  {{"type", "publish"}}, {{"type", "delegate"}}})));
  REQUIRE(a);
  CHECK((*a)["tools"] == json::array({{{"type", "function"}, {"function", {{"name", "get_rates"}}}},
                                      {{"type", "function"}, {"function", {{"name", "send-mail"}}}},
                                      {{"type", "publish"}},
                                      {{"type", "delegate"}}}));
  CHECK((*make(with(minimal(), "tools", nullptr)))["tools"] == json::array());
  expect_bad(make(with(minimal(), "tools", "x")), "tools");
  expect_bad(make(with(minimal(), "tools", json::array({"bad name"}))), "tools[0]");
  expect_bad(make(with(minimal(), "tools", json::array({"ok", std::string(65, 'a')}))), "tools[1]");
  CHECK(make(with(minimal(), "tools", json::array({std::string(64, 'a')}))));
  expect_bad(make(with(minimal(), "tools", json::array({json::object()}))), "tools[0].type");
  expect_bad(make(with(minimal(), "tools", json::array({{{"type", "code_interpreter"}}}))), "tools[0].type");
  expect_bad(make(with(minimal(), "tools", json::array({{{"type", "function"}}}))), "tools[0].function");
  expect_bad(make(with(minimal(), "tools", json::array({{{"type", "function"}, {"function", {{"name", "a b"}}}}}))),
             "tools[0].function.name");
  expect_bad(make(with(minimal(), "tools",
                       json::array({{{"type", "function"}, {"function", {{"name", "a"}, {"parameters", {}}}}}}))),
             "tools[0].function.parameters");
  expect_bad(make(with(minimal(), "tools", json::array({{{"type", "publish"}, {"topic", "x"}}}))), "tools[0].topic");
  // Duplicates, in either spelling.
  expect_bad(make(with(minimal(), "tools",
                       json::array({"a", {{"type", "function"}, {"function", {{"name", "a"}}}}}))),
             "tools[1].function.name");
  expect_bad(make(with(minimal(), "tools", json::array({{{"type", "delegate"}}, {{"type", "delegate"}}}))),
             "tools[1].type");
  // A function may not take a built-in tool's name.
  expect_bad(make(with(minimal(), "tools", json::array({"publish"}))), "tools[0]");
  // At most 128.
  json many = json::array();
  for (int i = 0; i < 128; ++i) many.push_back("t" + std::to_string(i));
  CHECK(make(with(minimal(), "tools", many)));
  many.push_back("t128");
  expect_bad(make(with(minimal(), "tools", many)), "tools");
}

TEST_CASE("new_agent: cron triggers", "[agents]") {
  auto a = make(with(minimal(), "triggers", json::array({{{"type", "cron"}, {"schedule", "*/5 * * * *"}}})));
  REQUIRE(a);
  CHECK((*a)["triggers"][0] == json{{"type", "cron"},
                                    {"schedule", "*/5 * * * *"},
                                    {"timezone", "UTC"},
                                    {"input", "{{trigger}}"},
                                    {"catch_up", "latest"},
                                    {"catch_up_max", 10}});
  auto full = make(with(minimal(), "triggers",
                        json::array({{{"type", "cron"},
                                      {"schedule", "0 9 * * MON"},
                                      {"timezone", "+03:00"},
                                      {"input", "Weekly report {{trigger.scheduled_at}}"},
                                      {"catch_up", "all"},
                                      {"catch_up_max", 1000}}})));
  REQUIRE(full);
  CHECK((*full)["triggers"][0]["timezone"] == "+03:00");
  CHECK((*full)["triggers"][0]["catch_up"] == "all");
  CHECK((*full)["triggers"][0]["catch_up_max"] == 1000);

  auto cron = [](json t) {
    t["type"] = "cron";
    if (!t.contains("schedule")) t["schedule"] = "* * * * *";
    return with(minimal(), "triggers", json::array({json{{"type", "topic"}, {"pattern", "a"}}, t}));
  };
  expect_bad(make(cron({{"schedule", nullptr}})), "triggers[1].schedule");
  expect_bad(make(cron({{"schedule", ""}})), "triggers[1].schedule");
  expect_bad(make(cron({{"schedule", 5}})), "triggers[1].schedule");
  auto bad_expr = make(cron({{"schedule", "61 * * * *"}}));
  expect_bad(bad_expr, "triggers[1].schedule");
  CHECK(bad_expr.error().message.find("triggers[1].schedule") != std::string::npos);
  expect_bad(make(cron({{"schedule", "0 0 30 2 *"}})), "triggers[1].schedule");
  expect_bad(make(cron({{"timezone", "Mars/Olympus_Mons"}})), "triggers[1].timezone");
  expect_bad(make(cron({{"timezone", ""}})), "triggers[1].timezone");
  expect_bad(make(cron({{"catch_up", "some"}})), "triggers[1].catch_up");
  expect_bad(make(cron({{"catch_up_max", 0}})), "triggers[1].catch_up_max");
  expect_bad(make(cron({{"catch_up_max", 1001}})), "triggers[1].catch_up_max");
  expect_bad(make(cron({{"catch_up_max", 1.5}})), "triggers[1].catch_up_max");
  expect_bad(make(cron({{"input", 3}})), "triggers[1].input");
  expect_bad(make(cron({{"input", std::string(32769, 'x')}})), "triggers[1].input");
}

TEST_CASE("new_agent: webhook triggers get the caller's hook ids, no secret", "[agents]") {
  json body = with(minimal(), "triggers",
                   json::array({{{"type", "webhook"}},
                                {{"type", "topic"}, {"pattern", "a.*"}},
                                {{"type", "webhook"}, {"event_id_field", "data.id"}, {"tolerance_s", 60},
                                 {"input", "Order: {{body}}"}}}));
  CHECK(count_webhook_triggers(body) == 2);
  auto a = make(body, {"hook_1", "hook_2"});
  REQUIRE(a);
  CHECK((*a)["triggers"][0] == json{{"type", "webhook"},
                                    {"hook_id", "hook_1"},
                                    {"input", "{{body}}"},
                                    {"event_id_field", nullptr},
                                    {"tolerance_s", 300}});
  CHECK((*a)["triggers"][2]["hook_id"] == "hook_2");
  CHECK((*a)["triggers"][2]["event_id_field"] == "data.id");
  CHECK((*a)["triggers"][2]["tolerance_s"] == 60);
  CHECK((*a)["triggers"][2]["input"] == "Order: {{body}}");
  CHECK(hook_ids(*a) == std::vector<std::string>{"hook_1", "hook_2"});
  for (const auto& t : (*a)["triggers"]) CHECK_FALSE(t.contains("secret"));

  auto hook = [](json t) {
    t["type"] = "webhook";
    return with(minimal(), "triggers", json::array({t}));
  };
  expect_bad(make(hook({{"hook_id", "hook_x"}}), {"hook_1"}), "triggers[0].hook_id");
  expect_bad(make(hook({{"secret", "s"}}), {"hook_1"}), "triggers[0].secret");
  expect_bad(make(hook({{"tolerance_s", 0}}), {"hook_1"}), "triggers[0].tolerance_s");
  expect_bad(make(hook({{"tolerance_s", 86401}}), {"hook_1"}), "triggers[0].tolerance_s");
  CHECK(make(hook({{"tolerance_s", 86400}}), {"hook_1"}));
  expect_bad(make(hook({{"event_id_field", "a..b"}}), {"hook_1"}), "triggers[0].event_id_field");
  expect_bad(make(hook({{"event_id_field", 1}}), {"hook_1"}), "triggers[0].event_id_field");
  // The caller generated too few ids: a server bug, not the client's.
  auto short_ids = make(hook(json::object()), {});
  REQUIRE_FALSE(short_ids);
  CHECK(short_ids.error().code == errc::internal);
}

TEST_CASE("new_agent: topic triggers and the trigger list", "[agents]") {
  auto a = make(with(minimal(), "triggers", json::array({{{"type", "topic"}, {"pattern", "orders.*.created"}}})));
  REQUIRE(a);
  CHECK((*a)["triggers"][0] == json{{"type", "topic"}, {"pattern", "orders.*.created"}, {"input", "{{payload}}"}});
  CHECK(make(with(minimal(), "triggers", json::array({{{"type", "topic"}, {"pattern", "tax.**"}}}))));
  expect_bad(make(with(minimal(), "triggers", json::array({{{"type", "topic"}}}))), "triggers[0].pattern");
  auto bad_pattern = make(with(minimal(), "triggers", json::array({{{"type", "topic"}, {"pattern", "a*.b"}}})));
  expect_bad(bad_pattern, "triggers[0].pattern");
  expect_bad(make(with(minimal(), "triggers", json::array({{{"type", "topic"}, {"pattern", "a..b"}}}))),
             "triggers[0].pattern");
  expect_bad(make(with(minimal(), "triggers", json::array({{{"type", "email"}}}))), "triggers[0].type");
  expect_bad(make(with(minimal(), "triggers", json::array({"cron"}))), "triggers[0].type");
  expect_bad(make(with(minimal(), "triggers", json::object())), "triggers");
  json many = json::array();
  for (std::size_t i = 0; i < max_triggers; ++i) many.push_back({{"type", "topic"}, {"pattern", "a"}});
  CHECK(make(with(minimal(), "triggers", many)));
  many.push_back({{"type", "topic"}, {"pattern", "a"}});
  expect_bad(make(with(minimal(), "triggers", many)), "triggers");
}

TEST_CASE("new_agent: budget amounts are stored as O-tether strings", "[agents]") {
  auto a = make(with(minimal(), "budget", json{{"per_run_ot", 5}, {"per_day_ot", "100.50"}}));
  REQUIRE(a);
  CHECK((*a)["budget"] == json{{"per_run_ot", "5"}, {"per_day_ot", "100.5"}});
  auto b = budget_of(*a);
  REQUIRE(b.per_run);
  CHECK(*b.per_run == 5'000'000);
  REQUIRE(b.per_day);
  CHECK(*b.per_day == 100'500'000);
  auto f = make(with(minimal(), "budget", json{{"per_run_ot", 12.5}}));
  REQUIRE(f);
  CHECK((*f)["budget"] == json{{"per_run_ot", "12.5"}, {"per_day_ot", nullptr}});
  CHECK_FALSE(budget_of(*f).per_day);
  expect_bad(make(with(minimal(), "budget", json{{"per_run_ot", -1}})), "budget.per_run_ot");
  expect_bad(make(with(minimal(), "budget", json{{"per_day_ot", "1.0000001"}})), "budget.per_day_ot");
  expect_bad(make(with(minimal(), "budget", json{{"per_day_ot", "abc"}})), "budget.per_day_ot");
  expect_bad(make(with(minimal(), "budget", json{{"per_day_ot", true}})), "budget.per_day_ot");
  expect_bad(make(with(minimal(), "budget", 5)), "budget");
  auto none = budget_of(*make(minimal()));
  CHECK_FALSE(none.per_run);
  CHECK_FALSE(none.per_day);
}

TEST_CASE("new_agent: limits with their bounds and defaults", "[agents]") {
  auto a = make(with(minimal(), "limits", json{{"max_steps", 100}, {"max_delegation_depth", 0}}));
  REQUIRE(a);
  CHECK((*a)["limits"] == json{{"max_steps", 100}, {"max_delegation_depth", 0}, {"max_parallel_children", 5}});
  auto l = limits_of(*a);
  CHECK(l.max_steps == 100);
  CHECK(l.max_delegation_depth == 0);
  CHECK(l.max_parallel_children == 5);
  auto d = limits_of(*make(minimal()));
  CHECK_FALSE(d.max_steps);
  CHECK(d.max_delegation_depth == 2);
  CHECK(d.max_parallel_children == 5);
  CHECK(limits_of(json::object()).max_delegation_depth == 2);
  expect_bad(make(with(minimal(), "limits", json{{"max_steps", 0}})), "limits.max_steps");
  expect_bad(make(with(minimal(), "limits", json{{"max_steps", 101}})), "limits.max_steps");
  CHECK(make(with(minimal(), "limits", json{{"max_delegation_depth", max_depth_cap}})));
  expect_bad(make(with(minimal(), "limits", json{{"max_delegation_depth", max_depth_cap + 1}})),
             "limits.max_delegation_depth");
  expect_bad(make(with(minimal(), "limits", json{{"max_delegation_depth", -1}})), "limits.max_delegation_depth");
  CHECK(make(with(minimal(), "limits", json{{"max_parallel_children", max_children_cap}})));
  expect_bad(make(with(minimal(), "limits", json{{"max_parallel_children", max_children_cap + 1}})),
             "limits.max_parallel_children");
  expect_bad(make(with(minimal(), "limits", json{{"max_parallel_children", 0}})), "limits.max_parallel_children");
  auto msg = make(with(minimal(), "limits", json{{"max_steps", 0}}));
  CHECK(msg.error().message.find("'limits.max_steps'") != std::string::npos);
}

TEST_CASE("new_agent: approval policy", "[agents]") {
  json rules = {{"send_money", {{"when", {{"path", "amount"}, {"op", ">="}, {"value", 100}}}}},
                {"delete_all", true},
                {"read", "never"}};
  auto a = make(with(minimal(), "approval", json{{"tools", rules}, {"expires_in_s", 3600}, {"telegram", false}}));
  REQUIRE(a);
  CHECK((*a)["approval"]["tools"] == rules);
  CHECK((*a)["approval"]["expires_in_s"] == 3600);
  CHECK((*a)["approval"]["telegram"] == false);
  CHECK(approval_ttl(*a) == 3600);
  CHECK(approval_ttl(*make(minimal())) == 86400);
  auto money = approval_rule_for(*a, "send_money");
  REQUIRE(money);
  CHECK_FALSE(money->always);
  REQUIRE(money->any.size() == 1);
  CHECK(money->any[0].path == "amount");
  CHECK(triggers::needs_approval(*money, json{{"amount", 150}}));
  CHECK_FALSE(triggers::needs_approval(*money, json{{"amount", 50}}));
  auto del = approval_rule_for(*a, "delete_all");
  REQUIRE(del);
  CHECK(del->always);
  CHECK_FALSE(approval_rule_for(*a, "read"));      // "never" is not gated
  CHECK_FALSE(approval_rule_for(*a, "unlisted"));  // not listed
  CHECK_FALSE(approval_rule_for(*make(minimal()), "send_money"));

  expect_bad(make(with(minimal(), "approval", json{{"expires_in_s", 59}})), "approval.expires_in_s");
  expect_bad(make(with(minimal(), "approval", json{{"expires_in_s", 604801}})), "approval.expires_in_s");
  CHECK(make(with(minimal(), "approval", json{{"expires_in_s", 60}})));
  CHECK(make(with(minimal(), "approval", json{{"expires_in_s", 604800}})));
  expect_bad(make(with(minimal(), "approval", json{{"telegram", "yes"}})), "approval.telegram");
  expect_bad(make(with(minimal(), "approval", json{{"tools", json::array()}})), "approval.tools");
  expect_bad(make(with(minimal(), "approval", json{{"tools", {{"bad name", true}}}})), "approval.tools.bad name");
  expect_bad(make(with(minimal(), "approval", json{{"tools", {{"pay", "sometimes"}}}})), "approval.tools.pay");
  expect_bad(make(with(minimal(), "approval",
                       json{{"tools", {{"pay", {{"when", {{"path", "amount"}, {"op", "~"}, {"value", 1}}}}}}}})),
             "approval.tools.pay.when.op");
  json no_value = {{"when", {{"path", "a"}, {"op", "=="}}}};
  json tools_list = {{"pay", json::array({true, no_value})}};
  expect_bad(make(with(minimal(), "approval", json{{"tools", tools_list}})), "approval.tools.pay[1].when.value");
  // Partial approval object: the rest keeps its defaults.
  auto partial = make(with(minimal(), "approval", json{{"telegram", false}}));
  REQUIRE(partial);
  CHECK((*partial)["approval"] == json{{"tools", json::object()}, {"expires_in_s", 86400}, {"telegram", false}});
}

TEST_CASE("new_agent: enabled and metadata", "[agents]") {
  auto a = make(with(with(minimal(), "enabled", false), "metadata", json{{"team", "tax"}}));
  REQUIRE(a);
  CHECK((*a)["enabled"] == false);
  CHECK((*a)["metadata"] == json{{"team", "tax"}});
  expect_bad(make(with(minimal(), "enabled", "no")), "enabled");
  expect_bad(make(with(minimal(), "metadata", json{{"k", 1}})), "metadata.k");
  expect_bad(make(with(minimal(), "metadata", "x")), "metadata");
}

TEST_CASE("modify_agent: applies a subset and keeps the rest", "[agents]") {
  auto a = make(with(minimal(), "limits", json{{"max_steps", 7}}));
  REQUIRE(a);
  auto m = modify_agent(*a, json{{"name", "Renamed"}, {"enabled", false}}, {});
  REQUIRE(m);
  CHECK((*m)["name"] == "Renamed");
  CHECK((*m)["enabled"] == false);
  CHECK((*m)["limits"]["max_steps"] == 7);
  CHECK((*m)["id"] == "agt_1");
  CHECK((*m)["created_at"] == 1700000000);
  CHECK((*a)["name"] == "Tax bot"); // the input is not changed
  auto same = modify_agent(*a, nullptr, {});
  REQUIRE(same);
  CHECK(*same == *a);
  expect_bad(modify_agent(*a, json{{"name", nullptr}}, {}), "name");
  expect_bad(modify_agent(*a, json{{"id", "agt_2"}}, {}), "id");
  expect_bad(modify_agent(*a, json{{"object", "x"}}, {}), "object");
  expect_bad(modify_agent(*a, "x", {}), "body");
  // Dropping the model needs a persona.
  expect_bad(modify_agent(*a, json{{"model", nullptr}}, {}), "model");
  auto persona = modify_agent(*a, json{{"model", nullptr}, {"assistant_id", "asst_1"}}, {});
  REQUIRE(persona);
  CHECK((*persona)["model"].is_null());
  expect_bad(modify_agent(*persona, json{{"assistant_id", nullptr}}, {}), "model");
  // A sub-object given is set as on create (defaults for what it leaves out).
  auto lim = modify_agent(*a, json{{"limits", {{"max_parallel_children", 3}}}}, {});
  REQUIRE(lim);
  CHECK((*lim)["limits"] == json{{"max_steps", nullptr}, {"max_delegation_depth", 2}, {"max_parallel_children", 3}});
  expect_bad(modify_agent(*a, json{{"budget", {{"per_run_ot", "-3"}}}}, {}), "budget.per_run_ot");
}

TEST_CASE("modify_agent: webhook triggers keep their hook ids", "[agents]") {
  json a = agent_with_hooks();
  REQUIRE(hook_ids(a) == std::vector<std::string>{"hook_a", "hook_b"});
  json body = {{"triggers", json::array({{{"type", "webhook"}, {"hook_id", "hook_b"}, {"tolerance_s", 10}},
                                         {{"type", "webhook"}},
                                         {{"type", "topic"}, {"pattern", "x"}}})}};
  REQUIRE(count_webhook_triggers(body) == 2);
  auto m = modify_agent(a, body, {"hook_new1", "hook_new2"});
  REQUIRE(m);
  CHECK(hook_ids(*m) == std::vector<std::string>{"hook_b", "hook_new1"});
  CHECK((*m)["triggers"][0]["tolerance_s"] == 10);
  // Changing other fields leaves the triggers (and hook ids) alone.
  auto other = modify_agent(a, json{{"description", "d"}}, {});
  REQUIRE(other);
  CHECK(hook_ids(*other) == hook_ids(a));
  // A hook id of another agent (or made up) is refused, as is keeping one twice.
  expect_bad(modify_agent(a, json{{"triggers", json::array({{{"type", "webhook"}, {"hook_id", "hook_zzz"}}})}},
                          {"hook_new1"}),
             "triggers[0].hook_id");
  expect_bad(modify_agent(a,
                          json{{"triggers", json::array({{{"type", "webhook"}, {"hook_id", "hook_a"}},
                                                         {{"type", "webhook"}, {"hook_id", "hook_a"}}})}},
                          {"n1", "n2"}),
             "triggers[1].hook_id");
  // Removing all triggers drops the hooks.
  auto none = modify_agent(a, json{{"triggers", json::array()}}, {});
  REQUIRE(none);
  CHECK(hook_ids(*none).empty());
}

TEST_CASE("count_webhook_triggers and hook_ids on odd input", "[agents]") {
  CHECK(count_webhook_triggers(json::object()) == 0);
  CHECK(count_webhook_triggers(json{{"triggers", "webhook"}}) == 0);
  CHECK(count_webhook_triggers(json::array()) == 0);
  CHECK(count_webhook_triggers(json{{"triggers", json::array({{{"type", "webhook"}}, "webhook", 3})}}) == 1);
  CHECK(hook_ids(json::object()).empty());
  CHECK(hook_ids(nullptr).empty());
}

TEST_CASE("render_template", "[agents]") {
  json vars = {{"body", "{\"a\":1}"},
               {"n", 42},
               {"payload", {{"order", {{"id", "o-7"}, {"items", json::array({"x", "y"})}}}}},
               {"trigger", {{"type", "cron"}}},
               {"flag", true},
               {"nothing", nullptr}};
  CHECK(render_template("Hello", vars) == "Hello");
  CHECK(render_template("", vars) == "");
  CHECK(render_template("{{body}}", vars) == "{\"a\":1}");       // a string as-is
  CHECK(render_template("n={{n}}!", vars) == "n=42!");             // JSON otherwise
  CHECK(render_template("{{trigger}}", vars) == "{\"type\":\"cron\"}");
  CHECK(render_template("{{flag}} {{nothing}}", vars) == "true null");
  CHECK(render_template("Order {{payload.order.id}}", vars) == "Order o-7");
  CHECK(render_template("{{payload.order.items.1}}", vars) == "y");
  CHECK(render_template("{{payload.order.missing}}|{{unknown}}|{{n.x}}", vars) == "||");
  CHECK(render_template("{{ n }}", vars) == "42");
  CHECK(render_template("a {{n} b", vars) == "a {{n} b");               // unclosed
  CHECK(render_template("tail {{n", vars) == "tail {{n");
  CHECK(render_template("{{", vars) == "{{");
  CHECK(render_template("{{}}", vars) == "{{}}");
  CHECK(render_template("{{not a name}}", vars) == "{{not a name}}");
  CHECK(render_template("{{{n}}}", vars) == "{42}");
  CHECK(render_template("{{n}}{{n}}", vars) == "4242");
  CHECK(render_template("{{n}", vars) == "{{n}");
  CHECK(render_template("x {{n}}", json::array()) == "x ");
  // A replacement is not itself rendered again.
  CHECK(render_template("{{t}}", json{{"t", "{{n}}"}, {"n", 1}}) == "{{n}}");
  // A key that contains a dot is found as such first.
  CHECK(render_template("{{a.b}}", json{{"a.b", "flat"}, {"a", {{"b", "deep"}}}}) == "flat");
}

TEST_CASE("firing_id is deterministic and well shaped", "[agents]") {
  const std::string id = firing_id({"agt_1", "0", "1700000000"});
  CHECK(id == firing_id({"agt_1", "0", "1700000000"}));
  REQUIRE(id.size() == 5 + 24);
  CHECK(id.rfind("arun_", 0) == 0);
  for (char c : id.substr(5)) CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  CHECK(id != firing_id({"agt_1", "0", "1700000060"}));
  // Parts are separated: moving a boundary changes the id.
  CHECK(firing_id({"ab", "c"}) != firing_id({"a", "bc"}));
  CHECK(firing_id({"abc"}) != firing_id({"ab", "c"}));
  // SHA-256 over the parts joined with 0x00.
  CHECK(firing_id({"a", "b"}) == "arun_" + crypto::sha256_hex(std::string("a\0b", 3)).substr(0, 24));
  CHECK(firing_id({}) == "arun_" + crypto::sha256_hex("").substr(0, 24));
}

TEST_CASE("tool schemas are JSON Schema objects", "[agents]") {
  for (const json& s : {delegate_tool_schema(), publish_tool_schema()}) {
    CHECK(s["type"] == "object");
    CHECK(s["properties"].is_object());
    CHECK(s["required"].is_array());
    CHECK(s["additionalProperties"] == false);
    for (const auto& r : s["required"]) CHECK(s["properties"].contains(r.get<std::string>()));
    CHECK(json::parse(s.dump()) == s);
  }
  json d = delegate_tool_schema();
  CHECK(d["required"] == json::array({"tasks"}));
  const json& tasks = d["properties"]["tasks"];
  CHECK(tasks["type"] == "array");
  CHECK(tasks["minItems"] == 1);
  CHECK(tasks["maxItems"] == max_children_cap);
  CHECK(tasks["items"]["type"] == "object");
  CHECK(tasks["items"]["required"] == json::array({"input"}));
  CHECK(tasks["items"]["additionalProperties"] == false);
  for (const char* k : {"agent_id", "instructions", "model", "input"})
    CHECK(tasks["items"]["properties"][k]["type"] == "string");
  CHECK(d["properties"]["wait_for"]["type"] == "integer");
  CHECK(d["properties"]["deadline_s"]["type"] == "integer");
  CHECK(d["properties"]["deadline_s"]["maximum"] == 3600);
  json p = publish_tool_schema();
  CHECK(p["properties"]["topic"]["type"] == "string");
  CHECK(p["properties"].contains("payload"));
  CHECK(p["required"] == json::array({"topic", "payload"}));
}

TEST_CASE("parse_delegate", "[agents]") {
  auto ok = parse_delegate(R"({"tasks":[{"input":"sum VAT"},
                                        {"agent_id":"agt_2","input":"check"},
                                        {"instructions":"You are terse.","model":"gpt-4o-mini","input":"x"}],
                               "wait_for":2,"deadline_s":60})",
                           5);
  REQUIRE(ok);
  REQUIRE(ok->tasks.size() == 3);
  CHECK(ok->tasks[0].input == "sum VAT");
  CHECK_FALSE(ok->tasks[0].agent_id);       // inline with the parent's persona
  CHECK_FALSE(ok->tasks[0].instructions);
  CHECK_FALSE(ok->tasks[0].model);
  CHECK(ok->tasks[1].agent_id == std::optional<std::string>{"agt_2"});
  CHECK(ok->tasks[2].instructions == std::optional<std::string>{"You are terse."});
  CHECK(ok->tasks[2].model == std::optional<std::string>{"gpt-4o-mini"});
  CHECK(ok->first_k == std::optional<std::size_t>{2});
  CHECK(ok->deadline_s == std::optional<std::int64_t>{60});

  auto all = parse_delegate(R"({"tasks":[{"input":"a"}]})", 5);
  REQUIRE(all);
  CHECK_FALSE(all->first_k);
  CHECK_FALSE(all->deadline_s);
  CHECK(parse_delegate(R"({"tasks":[{"input":"a"}],"wait_for":1.0})", 5)); // integral float from a model

  expect_bad(parse_delegate("not json", 5), "arguments");
  expect_bad(parse_delegate("[1]", 5), "arguments");
  expect_bad(parse_delegate("{}", 5), "tasks");
  expect_bad(parse_delegate(R"({"tasks":[]})", 5), "tasks");
  expect_bad(parse_delegate(R"({"tasks":{"input":"a"}})", 5), "tasks");
  auto many = parse_delegate(R"({"tasks":[{"input":"a"},{"input":"b"},{"input":"c"}]})", 2);
  expect_bad(many, "tasks");
  CHECK(many.error().message.find("at most 2") != std::string::npos);
  CHECK(parse_delegate(R"({"tasks":[{"input":"a"},{"input":"b"}]})", 2));
  // The cap holds whatever the agent allows.
  std::string big = R"({"tasks":[)";
  for (std::size_t i = 0; i <= max_children_cap; ++i) big += std::string(i ? "," : "") + R"({"input":"t"})";
  big += "]}";
  expect_bad(parse_delegate(big, 1000), "tasks");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"wait_for":2})", 5), "wait_for");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"wait_for":0})", 5), "wait_for");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"wait_for":"1"})", 5), "wait_for");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"deadline_s":0})", 5), "deadline_s");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"deadline_s":3601})", 5), "deadline_s");
  CHECK(parse_delegate(R"({"tasks":[{"input":"a"}],"deadline_s":3600})", 5));
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"},{"agent_id":"agt_2"}]})", 5), "tasks[1].input");
  expect_bad(parse_delegate(R"({"tasks":[{"input":""}]})", 5), "tasks[0].input");
  expect_bad(parse_delegate(R"({"tasks":[{"input":7}]})", 5), "tasks[0].input");
  expect_bad(parse_delegate(R"({"tasks":["do it"]})", 5), "tasks[0]");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a","agent_id":"agt 2"}]})", 5), "tasks[0].agent_id");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a","model":""}]})", 5), "tasks[0].model");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a","instructions":5}]})", 5), "tasks[0].instructions");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a","tools":[]}]})", 5), "tasks[0].tools");
  expect_bad(parse_delegate(R"({"tasks":[{"input":"a"}],"parallel":true})", 5), "parallel");
}

TEST_CASE("parse_publish", "[agents]") {
  auto ok = parse_publish(R"({"topic":"orders.eu.created","payload":{"id":7}})");
  REQUIRE(ok);
  CHECK(ok->topic == "orders.eu.created");
  CHECK(ok->payload == json{{"id", 7}});
  auto null_payload = parse_publish(R"({"topic":"a","payload":null})");
  REQUIRE(null_payload);
  CHECK(null_payload->payload.is_null());
  expect_bad(parse_publish("{"), "arguments");
  expect_bad(parse_publish(R"("orders")"), "arguments");
  expect_bad(parse_publish(R"({"payload":1})"), "topic");
  expect_bad(parse_publish(R"({"topic":3,"payload":1})"), "topic");
  expect_bad(parse_publish(R"({"topic":"orders.*","payload":1})"), "topic"); // a pattern is not a topic
  expect_bad(parse_publish(R"({"topic":"a..b","payload":1})"), "topic");
  expect_bad(parse_publish(R"({"topic":"a"})"), "payload");
  expect_bad(parse_publish(R"({"topic":"a","payload":1,"extra":2})"), "extra");
}

TEST_CASE("parse_event_body", "[agents]") {
  auto ok = parse_event_body(json{{"payload", {{"x", 1}}}, {"event_id", "evt-1"}});
  REQUIRE(ok);
  CHECK(ok->payload == json{{"x", 1}});
  CHECK(ok->event_id == std::optional<std::string>{"evt-1"});
  auto no_id = parse_event_body(json{{"payload", 3}});
  REQUIRE(no_id);
  CHECK_FALSE(no_id->event_id);
  CHECK(parse_event_body(json{{"payload", nullptr}}));
  expect_bad(parse_event_body(json::object()), "payload");
  expect_bad(parse_event_body(json{{"payload", 1}, {"event_id", ""}}), "event_id");
  expect_bad(parse_event_body(json{{"payload", 1}, {"event_id", 5}}), "event_id");
  CHECK(parse_event_body(json{{"payload", 1}, {"event_id", std::string(200, 'e')}}));
  expect_bad(parse_event_body(json{{"payload", 1}, {"event_id", std::string(201, 'e')}}), "event_id");
  expect_bad(parse_event_body(json{{"payload", 1}, {"topic", "a"}}), "topic");
  expect_bad(parse_event_body(json::array()), "body");
}

TEST_CASE("parse_telegram_body", "[agents]") {
  const std::string token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawA";
  auto ok = parse_telegram_body(json{{"bot_token", token}, {"chat_ids", {42, -1001234567890, "@my_channel"}},
                                     {"secret_token", "s3cr-et_"}});
  REQUIRE(ok);
  CHECK(ok->bot_token == std::optional<std::string>{token});
  REQUIRE(ok->chat_ids.size() == 3);
  CHECK(ok->chat_ids[1] == -1001234567890);
  CHECK(ok->chat_ids[2] == "@my_channel");
  CHECK(ok->secret_token == std::optional<std::string>{"s3cr-et_"});
  auto later = parse_telegram_body(json{{"chat_ids", {42}}});
  REQUIRE(later);
  CHECK_FALSE(later->bot_token);
  CHECK_FALSE(later->secret_token);

  auto bad_token = parse_telegram_body(json{{"bot_token", "123:short"}, {"chat_ids", {1}}});
  expect_bad(bad_token, "bot_token");
  CHECK(bad_token.error().message.find("123:short") == std::string::npos); // never echoed
  expect_bad(parse_telegram_body(json{{"bot_token", "abc:" + std::string(35, 'a')}, {"chat_ids", {1}}}),
             "bot_token");
  expect_bad(parse_telegram_body(json{{"bot_token", 5}, {"chat_ids", {1}}}), "bot_token");
  expect_bad(parse_telegram_body(json{{"bot_token", token}}), "chat_ids");
  expect_bad(parse_telegram_body(json{{"chat_ids", json::array()}}), "chat_ids");
  expect_bad(parse_telegram_body(json{{"chat_ids", 42}}), "chat_ids");
  json eleven = json::array();
  for (int i = 1; i <= 11; ++i) eleven.push_back(i);
  expect_bad(parse_telegram_body(json{{"chat_ids", eleven}}), "chat_ids");
  eleven.erase(eleven.end() - 1);
  CHECK(parse_telegram_body(json{{"chat_ids", eleven}}));
  expect_bad(parse_telegram_body(json{{"chat_ids", {1, 1.5}}}), "chat_ids[1]");
  expect_bad(parse_telegram_body(json{{"chat_ids", {"channel"}}}), "chat_ids[0]");
  expect_bad(parse_telegram_body(json{{"chat_ids", {"@bad name"}}}), "chat_ids[0]");
  expect_bad(parse_telegram_body(json{{"chat_ids", {7, 7}}}), "chat_ids[1]");
  expect_bad(parse_telegram_body(json{{"chat_ids", {1}}, {"secret_token", ""}}), "secret_token");
  expect_bad(parse_telegram_body(json{{"chat_ids", {1}}, {"secret_token", "a b"}}), "secret_token");
  expect_bad(parse_telegram_body(json{{"chat_ids", {1}}, {"secret_token", std::string(257, 'a')}}), "secret_token");
  CHECK(parse_telegram_body(json{{"chat_ids", {1}}, {"secret_token", std::string(256, 'a')}}));
  expect_bad(parse_telegram_body(json{{"chat_ids", {1}}, {"webhook_url", "x"}}), "webhook_url");
  expect_bad(parse_telegram_body("x"), "body");
}

TEST_CASE("parse_decision_body", "[agents]") {
  auto none = parse_decision_body(nullptr);
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto empty = parse_decision_body(json::object());
  REQUIRE(empty);
  CHECK_FALSE(*empty);
  auto r = parse_decision_body(json{{"reason", "too expensive"}});
  REQUIRE(r);
  CHECK(*r == std::optional<std::string>{"too expensive"});
  CHECK(parse_decision_body(json{{"reason", std::string(1000, 'r')}}));
  expect_bad(parse_decision_body(json{{"reason", std::string(1001, 'r')}}), "reason");
  expect_bad(parse_decision_body(json{{"reason", 1}}), "reason");
  expect_bad(parse_decision_body(json{{"approve", true}}), "approve");
  expect_bad(parse_decision_body(json::array()), "body");
}
