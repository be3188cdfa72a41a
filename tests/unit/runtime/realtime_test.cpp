// The WebSocket chat's pure parts: client message parsing and validation,
// the internal call a chat message becomes, the SSE → WebSocket event
// translation (also with the stream split at every byte), and tokens.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "oag/adapters/sse.hpp"
#include "oag/storage/crypto.hpp"
#include "realtime_protocol.hpp"
#include "realtime_token.hpp"
#include "routes.hpp"

using namespace oag;
using namespace oag::runtime::realtime;
using nlohmann::json;
using oag::actors::route_id;

namespace {

failure parse_error(std::string_view text) {
  auto r = parse_client_message(text);
  REQUIRE_FALSE(r);
  return r.error();
}

std::string ev(const std::string& name, const json& data) { return sse::frame_event(name, data.dump()); }

json run_obj(const std::string& status) {
  return {{"id", "run_1"}, {"object", "thread.run"}, {"thread_id", "thread_1"}, {"assistant_id", "asst_1"},
          {"model", "mock/echo"}, {"status", status}, {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}}},
          {"last_error", status == "failed" ? json{{"code", "server_error"}, {"message", "boom"}} : json(nullptr)}};
}

json msg_delta(const std::string& text) {
  return {{"id", "msg_1"}, {"object", "thread.message.delta"},
          {"delta", {{"content", json::array({{{"index", 0}, {"type", "text"}, {"text", {{"value", text}, {"annotations", json::array()}}}}})}}}};
}

json message(const std::string& text, const std::string& status) {
  return {{"id", "msg_1"}, {"object", "thread.message"}, {"status", status},
          {"content", json::array({{{"type", "text"}, {"text", {{"value", text}, {"annotations", json::array()}}}}})}};
}

json msg_step(const std::string& status, bool with_oag) {
  json s = {{"id", "step_1"}, {"object", "thread.run.step"}, {"status", status},
            {"step_details", {{"type", "message_creation"}, {"message_creation", {{"message_id", "msg_1"}}}}}};
  if (with_oag)
    s["oag"] = {{"model", "mock/echo"}, {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}}},
                {"cost_uot", 1234}};
  return s;
}

/// A streamed run answering "Hello, wörld" (a multi-byte character, so byte
/// splits land inside it).
std::string text_run() {
  std::string s;
  s += ev("thread.created", {{"id", "thread_1"}, {"object", "thread"}});
  s += ev("thread.run.created", run_obj("queued"));
  s += ev("thread.run.queued", run_obj("queued"));
  s += ev("thread.run.in_progress", run_obj("in_progress"));
  s += ev("thread.run.step.created", msg_step("in_progress", false));
  s += ev("thread.message.created", message("", "in_progress"));
  s += ev("thread.message.delta", msg_delta("Hello, "));
  s += ev("thread.message.delta", msg_delta("wörld"));
  s += ev("thread.message.completed", message("Hello, wörld", "completed"));
  s += ev("thread.run.step.completed", msg_step("completed", true));
  s += ev("thread.run.completed", run_obj("completed"));
  s += sse::frame_event("done", "[DONE]");
  return s;
}

std::vector<json> translate(const std::vector<std::string_view>& pieces) {
  run_translator t;
  std::vector<json> out;
  for (auto p : pieces) t.feed(p, out);
  return out;
}

std::vector<std::string> types(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (auto& e : events) out.push_back(e["type"]);
  return out;
}

} // namespace

TEST_CASE("realtime: client messages parse", "[realtime]") {
  auto m = parse_client_message(
      R"({"type":"chat.message","content":"hi","thread_id":"thread_1","assistant_id":"asst_1","model":"mock/echo","instructions":"be brief"})");
  REQUIRE(m);
  CHECK(m->type == client_message::kind::chat_message);
  CHECK(m->chat.content == "hi");
  CHECK(m->chat.thread_id == std::optional<std::string>{"thread_1"});
  CHECK(m->chat.assistant_id == std::optional<std::string>{"asst_1"});
  CHECK(m->chat.model == std::optional<std::string>{"mock/echo"});
  CHECK(m->chat.instructions == std::optional<std::string>{"be brief"});
  CHECK_FALSE(m->chat.agent_id);

  CHECK(parse_client_message(R"({"type":"ping"})")->type == client_message::kind::ping);
  CHECK(parse_client_message(R"({"type":"chat.cancel"})")->type == client_message::kind::chat_cancel);
  auto s = parse_client_message(R"({"type":"subscribe","events":["approvals","approvals"]})");
  REQUIRE(s);
  CHECK(s->type == client_message::kind::subscribe);
  CHECK(s->events == std::vector<std::string>{"approvals"});
  // null optional fields are absent ones
  auto n = parse_client_message(R"({"type":"chat.message","content":"x","thread_id":null})");
  REQUIRE(n);
  CHECK_FALSE(n->chat.thread_id);
}

TEST_CASE("realtime: malformed client messages are 400s naming the field", "[realtime]") {
  CHECK(parse_error("not json").param == std::optional<std::string>{"message"});
  CHECK(parse_error("{\"type\":\"ping\"").param == std::optional<std::string>{"message"});
  CHECK(parse_error("[1,2]").param == std::optional<std::string>{"message"});
  CHECK(parse_error("{}").param == std::optional<std::string>{"type"});
  CHECK(parse_error(R"({"type":7})").param == std::optional<std::string>{"type"});
  CHECK(parse_error(R"({"type":"chat.nope"})").param == std::optional<std::string>{"type"});
  CHECK(parse_error(R"({"type":"chat.message"})").param == std::optional<std::string>{"content"});
  CHECK(parse_error(R"({"type":"chat.message","content":""})").param == std::optional<std::string>{"content"});
  CHECK(parse_error(R"({"type":"chat.message","content":5})").param == std::optional<std::string>{"content"});
  CHECK(parse_error(R"({"type":"chat.message","content":"x","thread_id":"a/b"})").param ==
        std::optional<std::string>{"thread_id"});
  CHECK(parse_error(R"({"type":"chat.message","content":"x","model":""})").param ==
        std::optional<std::string>{"model"});
  CHECK(parse_error(R"({"type":"chat.message","content":"x","stream":true})").param ==
        std::optional<std::string>{"stream"});
  CHECK(parse_error(R"({"type":"chat.message","content":"x","agent_id":"agt_1","model":"m"})").param ==
        std::optional<std::string>{"agent_id"});
  CHECK(parse_error(R"({"type":"ping","x":1})").param == std::optional<std::string>{"x"});
  CHECK(parse_error(R"({"type":"subscribe"})").param == std::optional<std::string>{"events"});
  CHECK(parse_error(R"({"type":"subscribe","events":[]})").param == std::optional<std::string>{"events"});
  CHECK(parse_error(R"({"type":"subscribe","events":["everything"]})").param ==
        std::optional<std::string>{"events[0]"});
  std::string deep(100, '[');
  CHECK(parse_error(deep).param == std::optional<std::string>{"message"});
  // the error event has OpenAI's error shape
  auto e = error_event(parse_error("nope"));
  CHECK(e["type"] == "error");
  CHECK(e["error"]["type"] == "invalid_request_error");
  CHECK(e["error"]["param"] == "message");
  CHECK(e["error"]["message"].is_string());
}

TEST_CASE("realtime: a chat message becomes the run call", "[realtime]") {
  chat_message m;
  m.content = "hello";
  m.assistant_id = "asst_1";
  auto p = persona_for(m, {});
  auto c = build_chat_call(m.content, p, std::nullopt);
  REQUIRE(c);
  CHECK(c->route == route_id::thread_and_run_create);
  CHECK(c->params.empty());
  CHECK_FALSE(c->inline_persona);
  CHECK(c->body == json{{"assistant_id", "asst_1"},
                        {"stream", true},
                        {"thread", {{"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}}}});

  // on a thread: runs_create with additional_messages
  auto on_thread = build_chat_call("again", p, std::string{"thread_9"});
  REQUIRE(on_thread);
  CHECK(on_thread->route == route_id::runs_create);
  CHECK(on_thread->params == std::vector<std::string>{"thread_9"});
  CHECK(on_thread->body["additional_messages"] == json::array({{{"role", "user"}, {"content", "again"}}}));
  CHECK_FALSE(on_thread->body.contains("thread"));

  // model only: an inline persona
  chat_message mm;
  mm.content = "hi";
  mm.model = "mock/echo";
  mm.instructions = "Answer in French.";
  auto inline_call = build_chat_call(mm.content, persona_for(mm, {}), std::nullopt);
  REQUIRE(inline_call);
  CHECK(inline_call->inline_persona);
  CHECK(inline_call->body["model"] == "mock/echo");
  CHECK(inline_call->body["instructions"] == "Answer in French.");
  CHECK_FALSE(inline_call->body.contains("assistant_id"));

  // an agent
  chat_message am;
  am.content = "do it";
  am.agent_id = "agt_1";
  auto agent = build_chat_call(am.content, persona_for(am, {}), std::string{"thread_2"});
  REQUIRE(agent);
  CHECK(agent->route == route_id::agent_fire);
  CHECK(agent->params == std::vector<std::string>{"agt_1"});
  CHECK(agent->body == json{{"input", "do it"}, {"stream", true}, {"thread_id", "thread_2"}});

  // nobody to answer
  chat_message none;
  none.content = "x";
  auto missing = build_chat_call(none.content, persona_for(none, {}), std::nullopt);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().param == std::optional<std::string>{"assistant_id"});
}

TEST_CASE("realtime: the session remembers its persona", "[realtime]") {
  persona remembered;
  remembered.model = "mock/echo";
  remembered.instructions = "terse";
  chat_message follow;
  follow.content = "next";
  auto p = persona_for(follow, remembered);
  CHECK(p.model == std::optional<std::string>{"mock/echo"});
  CHECK(p.instructions == std::optional<std::string>{"terse"});
  follow.instructions = "verbose";
  CHECK(persona_for(follow, remembered).instructions == std::optional<std::string>{"verbose"});
  chat_message switch_to;
  switch_to.content = "x";
  switch_to.assistant_id = "asst_2";
  auto q = persona_for(switch_to, remembered);
  CHECK(q.assistant_id == std::optional<std::string>{"asst_2"});
  CHECK_FALSE(q.model);
  CHECK_FALSE(q.instructions);
}

TEST_CASE("realtime: a run's stream becomes protocol events", "[realtime]") {
  const auto bytes = text_run();
  auto out = translate({bytes});
  CHECK(types(out) == std::vector<std::string>{"run.created", "delta", "delta", "message.completed", "run.completed"});
  CHECK(out[0]["thread_id"] == "thread_1");
  CHECK(out[0]["run_id"] == "run_1");
  CHECK(out[1]["text"] == "Hello, ");
  CHECK(out[2]["text"] == "wörld");
  CHECK(out[3]["text"] == "Hello, wörld");
  CHECK(out[3]["status"] == "completed");
  CHECK(out[3]["message_id"] == "msg_1");
  CHECK(out[3]["usage"]["completion_tokens"] == 2);
  CHECK(out[3]["cost_uot"] == 1234);
  CHECK(out[3]["cost_ot"] == "0.001234");
  CHECK(out[4]["run"]["status"] == "completed");

  run_translator t;
  std::vector<json> sink;
  t.feed(bytes, sink);
  CHECK(t.finished());
  CHECK(t.thread_id() == std::optional<std::string>{"thread_1"});
  CHECK(t.run_id() == std::optional<std::string>{"run_1"});
}

TEST_CASE("realtime: the translation does not depend on how the stream is split", "[realtime]") {
  const auto bytes = text_run();
  const auto whole = translate({bytes});
  // one byte at a time (splits inside "ö", inside "\n\n", inside field names)
  std::vector<std::string_view> bytewise;
  for (std::size_t i = 0; i < bytes.size(); ++i) bytewise.push_back(std::string_view(bytes).substr(i, 1));
  CHECK(translate(bytewise) == whole);
  // every split into two pieces
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    std::string_view v(bytes);
    auto two = translate({v.substr(0, cut), v.substr(cut)});
    if (two != whole) FAIL("split at byte " << cut << " differs");
  }
}

TEST_CASE("realtime: tool calls, tool results and requires_action", "[realtime]") {
  json tool_step = {{"id", "step_t"}, {"object", "thread.run.step"}, {"status", "in_progress"},
                    {"step_details", {{"type", "tool_calls"}, {"tool_calls", json::array()}}}};
  auto delta = [](json call) {
    return json{{"id", "step_t"}, {"object", "thread.run.step.delta"},
                {"delta", {{"step_details", {{"type", "tool_calls"}, {"tool_calls", json::array({call})}}}}}};
  };
  json done = tool_step;
  done["status"] = "completed";
  done["step_details"]["tool_calls"] = json::array(
      {{{"id", "call_1"}, {"type", "function"},
        {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Oslo"})"}, {"output", "sunny"}}}}});
  std::string s;
  s += ev("thread.run.created", run_obj("queued"));
  s += ev("thread.run.step.created", tool_step);
  s += ev("thread.run.step.delta", delta({{"index", 0}, {"id", "call_1"}, {"type", "function"},
                                          {"function", {{"name", "get_weather"}, {"arguments", "{\"ci"}, {"output", nullptr}}}}));
  s += ev("thread.run.step.delta", delta({{"index", 0}, {"type", "function"}, {"function", {{"arguments", "ty\":\"Oslo\"}"}}}}));
  s += ev("thread.run.step.completed", done);
  auto out = translate({s});
  REQUIRE(types(out) == std::vector<std::string>{"run.created", "tool_call", "tool_result"});
  CHECK(out[1] == json{{"type", "tool_call"}, {"id", "call_1"}, {"name", "get_weather"}, {"arguments", R"({"city":"Oslo"})"}});
  CHECK(out[2]["id"] == "call_1");
  CHECK(out[2]["output"] == "sunny");

  // a client tool: the run parks; the call is announced once
  json parked = run_obj("requires_action");
  parked["required_action"] = {{"type", "submit_tool_outputs"},
                               {"submit_tool_outputs",
                                {{"tool_calls", json::array({{{"id", "call_2"}, {"type", "function"},
                                                              {"function", {{"name", "local"}, {"arguments", "{}"}}}}})}}}};
  run_translator t;
  std::vector<json> o2;
  t.feed(ev("thread.run.created", run_obj("queued")) + ev("thread.run.requires_action", parked), o2);
  REQUIRE(types(o2) == std::vector<std::string>{"run.created", "tool_call", "run.requires_action"});
  CHECK(o2[1]["name"] == "local");
  CHECK(t.finished());
}

TEST_CASE("realtime: cancelled and failed runs, errors and approvals", "[realtime]") {
  std::string s;
  s += ev("thread.run.created", run_obj("queued"));
  s += ev("thread.message.created", message("", "in_progress"));
  s += ev("thread.message.delta", msg_delta("Hel"));
  s += ev("thread.run.cancelling", run_obj("cancelling"));
  s += ev("thread.message.incomplete", message("Hel", "incomplete"));
  s += ev("thread.run.step.cancelled", msg_step("cancelled", false));
  s += ev("thread.run.cancelled", run_obj("cancelled"));
  auto out = translate({s});
  REQUIRE(types(out) == std::vector<std::string>{"run.created", "delta", "message.completed", "run.cancelled"});
  CHECK(out[2]["status"] == "incomplete");
  CHECK(out[2]["text"] == "Hel");
  CHECK(out[2]["cost_ot"].is_null());
  CHECK(out[3]["run"]["usage"]["completion_tokens"] == 2);

  auto failed = translate({ev("thread.run.created", run_obj("queued")) + ev("thread.run.failed", run_obj("failed"))});
  REQUIRE(types(failed) == std::vector<std::string>{"run.created", "run.failed"});
  CHECK(failed[1]["error"]["message"] == "boom");

  auto other = translate({sse::frame_event("error", R"({"error":{"message":"bad","type":"server_error"}})") +
                          ev("approval.requested", {{"approval_id", "apr_1"}, {"tool", "pay"}})});
  REQUIRE(types(other) == std::vector<std::string>{"error", "approval.requested"});
  CHECK(other[0]["error"]["message"] == "bad");
  CHECK(other[1]["approval_id"] == "apr_1");

  auto e = error_event_from_response(404, R"({"error":{"message":"No assistant found","type":"invalid_request_error","param":null,"code":null}})");
  CHECK(e["type"] == "error");
  CHECK(e["error"]["message"] == "No assistant found");
  CHECK(e["error"]["status"] == 404);
  auto e2 = error_event_from_response(502, "garbage");
  CHECK(e2["error"]["type"] == "server_error");
}

TEST_CASE("realtime: tokens verify until they expire and cannot be forged", "[realtime][token]") {
  const std::string master(32, 'k');
  const auto key = derive_token_key(master);
  CHECK(key.size() == 32);
  CHECK(key != derive_token_key(std::string(32, 'j')));
  const auto hash = crypto::sha256("oag-some-company-key");
  const std::int64_t now = 1'700'000'000;
  auto t = mint_token(key, hash, now, 60);
  CHECK(t.expires_at == now + 60);
  CHECK(t.token.rfind("oagrt_v1.", 0) == 0);
  CHECK(t.token.find("oag-some-company-key") == std::string::npos);  // no secret in clear
  for (char c : t.token) CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'));  // URL-safe

  auto v = verify_token(key, t.token, now);
  REQUIRE(v);
  CHECK(v->key_hash == hash);
  CHECK(v->expires_at == now + 60);
  CHECK(v->nonce.size() == 32);
  CHECK(verify_token(key, t.token, now + 59));
  // expired: not replayable afterwards
  auto expired = verify_token(key, t.token, now + 60);
  REQUIRE_FALSE(expired);
  CHECK(http_status_of(expired.error()) == 401);
  CHECK(expired.error().message.find("expired") != std::string::npos);
  // another signing key (another master key)
  CHECK_FALSE(verify_token(derive_token_key(std::string(32, 'j')), t.token, now));
  // a longer life written into the token breaks the signature
  std::string extended = t.token;
  const auto at = extended.find(std::to_string(now + 60));
  REQUIRE(at != std::string::npos);
  extended.replace(at, std::to_string(now + 60).size(), std::to_string(now + 6000));
  auto forged = verify_token(key, extended, now + 100);
  REQUIRE_FALSE(forged);
  CHECK(forged.error().message.find("signature") != std::string::npos);
  // another key hash written into the token breaks it too
  std::string other = t.token;
  other[10] = other[10] == 'a' ? 'b' : 'a';
  CHECK_FALSE(verify_token(key, other, now));
  // garbage
  CHECK_FALSE(verify_token(key, "", now));
  CHECK_FALSE(verify_token(key, "oag-key", now));
  CHECK_FALSE(verify_token(key, "oagrt_v1.", now));
  CHECK_FALSE(verify_token(key, std::string(600, 'a'), now));
  // two tokens differ (nonce)
  CHECK(mint_token(key, hash, now, 60).token != t.token);
}

TEST_CASE("realtime: routes", "[realtime][routes]") {
  using oag::runtime::match_route;
  auto chat = match_route("GET", "/v1/realtime/chat");
  REQUIRE(chat);
  CHECK(chat->route == route_id::realtime_chat);
  CHECK(chat->who == oag::runtime::audience::client);
  auto tok = match_route("POST", "/v1/realtime/tokens");
  REQUIRE(tok);
  CHECK(tok->route == route_id::realtime_token_create);
  // no body is fine, an empty object too
  CHECK(oag::runtime::parse_body(*tok, ""));
  CHECK(oag::runtime::parse_body(*tok, "{}"));
  CHECK(http_status_of(match_route("POST", "/v1/realtime/chat").error()) == 405);
  CHECK(http_status_of(match_route("GET", "/v1/realtime/tokens").error()) == 405);
  CHECK(http_status_of(match_route("GET", "/v1/realtime").error()) == 404);
  // appended after the last route, so stored values of the others keep their meaning
  CHECK(static_cast<int>(route_id::realtime_token_create) == static_cast<int>(route_id::telegram_webhook) + 1);
  CHECK(static_cast<int>(route_id::realtime_chat) == static_cast<int>(route_id::telegram_webhook) + 2);
  CHECK_FALSE(oag::actors::is_agents_route(route_id::realtime_chat));
  CHECK_FALSE(oag::actors::is_assistants_route(route_id::realtime_chat));
}
