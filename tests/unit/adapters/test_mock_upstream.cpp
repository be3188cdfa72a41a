#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>

#include "oag/adapters/mock_upstream.hpp"
#include "oag/adapters/openai_adapter.hpp"
#include "oag/adapters/sse.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint mock_ep() {
  provider_endpoint ep;
  ep.name = "mock";
  ep.kind = "mock";
  return ep;
}

json user_chat(const std::string& text, json extra = json::object()) {
  json body = {{"model", "client-model"},
               {"messages", json::array({{{"role", "system"}, {"content", "be brief"}},
                                         {{"role", "user"}, {"content", text}}})}};
  for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
  return body;
}

/// Builds the request exactly as the call path does, then asks the mock.
mock_response ask(const json& body, bool stream = false) {
  auto req = openai_adapter().chat_request(body, "echo", stream, mock_ep());
  REQUIRE(req);
  CHECK(is_mock_origin(req->origin));
  return mock_answer(*req);
}

json ask_json(const json& body) {
  auto r = ask(body);
  REQUIRE(r.status == 200);
  auto parsed = openai_adapter().chat_response(r.body);
  REQUIRE(parsed);
  return *parsed;
}

/// A client-side reassembly of a stream, the way SDKs accumulate it.
struct assembled {
  std::map<int, std::string> content;
  std::map<int, std::string> finish;
  std::map<int, std::map<int, json>> tool_calls;  // choice -> index -> {id,name,arguments}
  std::optional<json> usage;
  std::vector<json> chunks;
  bool done = false;
  std::size_t role_chunks = 0;
};

assembled reassemble(const std::string& body) {
  assembled a;
  auto d = make_openai_stream_decoder();
  std::vector<stream_event> events;
  d->feed(body, events);
  d->finish(events);
  for (auto& e : events) {
    if (e.what == stream_event::type::done) {
      a.done = true;
      continue;
    }
    REQUIRE(e.what == stream_event::type::chunk);
    a.chunks.push_back(e.data);
    if (e.data.contains("usage") && e.data["usage"].is_object()) a.usage = e.data["usage"];
    for (auto& c : e.data["choices"]) {
      int idx = c["index"].get<int>();
      auto& delta = c["delta"];
      if (delta.contains("role")) ++a.role_chunks;
      if (delta.contains("content") && delta["content"].is_string())
        a.content[idx] += delta["content"].get<std::string>();
      if (delta.contains("tool_calls")) {
        for (auto& tc : delta["tool_calls"]) {
          auto& slot = a.tool_calls[idx][tc["index"].get<int>()];
          if (tc.contains("id")) slot["id"] = tc["id"];
          if (tc.contains("function")) {
            if (tc["function"].contains("name")) slot["name"] = tc["function"]["name"];
            std::string prev = slot.contains("arguments") ? slot["arguments"].get<std::string>() : "";
            slot["arguments"] = prev + tc["function"].value("arguments", "");
            slot["fragments"] = slot.value("fragments", 0) + 1;
          }
        }
      }
      if (!c["finish_reason"].is_null()) a.finish[idx] = c["finish_reason"].get<std::string>();
    }
  }
  return a;
}

} // namespace

TEST_CASE("mock echoes the last user message in exact chat.completion shape", "[mock]") {
  json out = ask_json(user_chat("Hello there, world"));
  CHECK(out["object"] == "chat.completion");
  CHECK(out["id"].get<std::string>().rfind("chatcmpl-mock-", 0) == 0);
  CHECK(out["created"].is_number_integer());
  CHECK(out["model"] == "echo");
  REQUIRE(out["choices"].size() == 1);
  const auto& c = out["choices"][0];
  CHECK(c["index"] == 0);
  CHECK(c["finish_reason"] == "stop");
  CHECK(c["logprobs"].is_null());
  CHECK(c["message"]["role"] == "assistant");
  CHECK(c["message"]["content"] == "Hello there, world");
  CHECK(c["message"].contains("refusal"));
  CHECK(c["message"]["refusal"].is_null());
  CHECK_FALSE(c["message"].contains("tool_calls"));
  // prompt: "be brief" (2) + "Hello there, world" (3) + 3 per message (6).
  const auto& u = out["usage"];
  CHECK(u["prompt_tokens"] == 11);
  CHECK(u["completion_tokens"] == 3);
  CHECK(u["total_tokens"] == 14);
  CHECK(u["prompt_tokens_details"]["cached_tokens"] == 0);
  auto usage = usage_of(out);
  REQUIRE(usage);
  CHECK(usage->input_tokens == 11);

  // Deterministic ids; different content, different id.
  CHECK(ask_json(user_chat("Hello there, world"))["id"] == out["id"]);
  CHECK(ask_json(user_chat("something else"))["id"] != out["id"]);

  // Text parts are joined.
  json parts = user_chat("");
  parts["messages"][1]["content"] = json::parse(
      R"([{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"c"}])");
  CHECK(ask_json(parts)["choices"][0]["message"]["content"] == "a b\nc");
}

TEST_CASE("mock respects n, stop and max_tokens", "[mock]") {
  json out = ask_json(user_chat("one two three four", {{"n", 3}}));
  REQUIRE(out["choices"].size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(out["choices"][i]["index"] == i);
    CHECK(out["choices"][i]["message"]["content"] == "one two three four");
  }
  CHECK(out["usage"]["completion_tokens"] == 12);

  json stopped = ask_json(user_chat("alpha beta. gamma END delta", {{"stop", {"END", "."}}}));
  CHECK(stopped["choices"][0]["message"]["content"] == "alpha beta");
  CHECK(stopped["choices"][0]["finish_reason"] == "stop");
  CHECK(stopped["usage"]["completion_tokens"] == 2);
  CHECK(ask_json(user_chat("x STOP y", {{"stop", "STOP"}}))["choices"][0]["message"]["content"] == "x ");

  json limited = ask_json(user_chat("a b c d e", {{"max_completion_tokens", 2}}));
  CHECK(limited["choices"][0]["message"]["content"] == "a b");
  CHECK(limited["choices"][0]["finish_reason"] == "length");
  CHECK(limited["usage"]["completion_tokens"] == 2);
}

TEST_CASE("mock tool directives produce parallel tool calls", "[mock]") {
  json out = ask_json(user_chat(
      R"(please #mock:tool=get_weather:{"city": "Oslo", "nested": {"a": "}"}} and #mock:tool=get_time)",
      {{"tools", json::array()}}));
  const auto& c = out["choices"][0];
  CHECK(c["finish_reason"] == "tool_calls");
  CHECK(c["message"]["content"].is_null());
  const auto& calls = c["message"]["tool_calls"];
  REQUIRE(calls.size() == 2);
  CHECK(calls[0]["id"] == "call_1");
  CHECK(calls[0]["type"] == "function");
  CHECK(calls[0]["function"]["name"] == "get_weather");
  CHECK(calls[0]["function"]["arguments"] == R"({"city": "Oslo", "nested": {"a": "}"}})");
  CHECK(calls[1]["id"] == "call_2");
  CHECK(calls[1]["function"]["name"] == "get_time");
  CHECK(calls[1]["function"]["arguments"] == "{}");
  // completion = words in the arguments: 5 + 1.
  CHECK(out["usage"]["completion_tokens"] == 6);

  auto bad = ask(user_chat("#mock:tool=f:{broken"));
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["error"]["message"].get<std::string>().find("#mock:tool") != std::string::npos);

  // After the tool ran, the mock answers with the results rather than
  // calling the tool again.
  json turn2 = user_chat("#mock:tool=get_time");
  turn2["messages"].push_back(json::parse(
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]})"));
  turn2["messages"].push_back(json::parse(R"({"role":"tool","tool_call_id":"call_1","content":"12:00"})"));
  json answer = ask_json(turn2);
  CHECK(answer["choices"][0]["finish_reason"] == "stop");
  CHECK(answer["choices"][0]["message"]["content"] == "12:00");
}

TEST_CASE("mock error directive answers with an OpenAI error body", "[mock]") {
  for (int status : {400, 401, 404, 429, 500, 503}) {
    INFO(status);
    auto r = ask(user_chat("#mock:error=" + std::to_string(status)));
    CHECK(r.status == status);
    json body = json::parse(r.body);
    REQUIRE(body["error"].is_object());
    for (const char* key : {"message", "type", "param", "code"}) CHECK(body["error"].contains(key));
    CHECK(find_header(r.headers, "content-type") == std::optional<std::string_view>("application/json"));
    if (status == 429) {
      CHECK(find_header(r.headers, "retry-after") == std::optional<std::string_view>("1"));
      CHECK(body["error"]["code"] == "rate_limit_exceeded");
      auto f = openai_adapter().upstream_failure(r.status, r.headers, r.body);
      CHECK(f.code == oag::errc::rate_limited);
      CHECK(f.retry_after == std::optional<std::string>("1"));
    } else {
      CHECK_FALSE(find_header(r.headers, "retry-after"));
    }
  }
  CHECK(ask(user_chat("#mock:error=200")).status == 400);
  // Streams are refused before they start, like OpenAI does.
  auto s = ask(user_chat("#mock:error=503", {{"stream", true}}), true);
  CHECK(s.status == 503);
}

TEST_CASE("mock stream framing is exact and reassembles to the plain answer", "[mock][stream]") {
  const std::string text = "Hello  wide 世界 world ";
  auto r = ask(user_chat(text, {{"stream", true}}), true);
  REQUIRE(r.status == 200);
  CHECK(find_header(r.headers, "content-type") == std::optional<std::string_view>("text/event-stream"));
  // Framing: only "data: <json>\n\n" events, ending with [DONE].
  const std::string& b = r.body;
  REQUIRE(b.size() > 14);
  CHECK(b.substr(b.size() - 14) == "data: [DONE]\n\n");
  CHECK(b.find("event:") == std::string::npos);
  CHECK(b.find("\r") == std::string::npos);

  auto a = reassemble(b);
  CHECK(a.done);
  CHECK(a.content[0] == text);
  CHECK(a.finish[0] == "stop");
  CHECK(a.role_chunks == 1);
  // role chunk + one per word (4) + finish chunk + usage chunk (forced by the adapter).
  REQUIRE(a.chunks.size() == 7);
  CHECK(a.chunks[0]["choices"][0]["delta"] == json({{"role", "assistant"}, {"content", ""}}));
  CHECK(a.chunks[1]["choices"][0]["delta"]["content"] == "Hello");
  CHECK(a.chunks[5]["choices"][0]["delta"] == json::object());
  for (const auto& c : a.chunks) {
    CHECK(c["id"] == a.chunks[0]["id"]);
    CHECK(c["created"] == a.chunks[0]["created"]);
    CHECK(c["object"] == "chat.completion.chunk");
  }
  // With include_usage every normal chunk has "usage": null, and the last
  // one has choices [] and the usage.
  CHECK(a.chunks[1]["usage"].is_null());
  CHECK(a.chunks[6]["choices"] == json::array());
  REQUIRE(a.usage);
  json plain = ask_json(user_chat(text));
  CHECK(*a.usage == plain["usage"]);
  CHECK(a.chunks[0]["id"] == plain["id"]);
}

TEST_CASE("mock stream without include_usage and with n", "[mock][stream]") {
  // Straight to the mock, bypassing the adapter's include_usage forcing.
  outbound_request req;
  req.origin = mock_origin();
  req.target = "/v1/chat/completions";
  req.stream = true;
  req.body = user_chat("a b", {{"stream", true}, {"n", 2}}).dump();
  auto r = mock_answer(req);
  REQUIRE(r.status == 200);
  auto a = reassemble(r.body);
  CHECK_FALSE(a.usage);
  CHECK(a.content[0] == "a b");
  CHECK(a.content[1] == "a b");
  CHECK(a.finish[1] == "stop");
  CHECK(a.role_chunks == 2);
  for (const auto& c : a.chunks) CHECK_FALSE(c.contains("usage"));
}

TEST_CASE("mock streams tool calls as fragments", "[mock][stream]") {
  auto r = ask(user_chat(R"(#mock:tool=lookup:{"q":"你好世界 and more text"} #mock:tool=other:{"x":1})",
                         {{"stream", true}}),
               true);
  REQUIRE(r.status == 200);
  auto a = reassemble(r.body);
  CHECK(a.done);
  CHECK(a.finish[0] == "tool_calls");
  CHECK(a.content.count(0) == 0);
  REQUIRE(a.tool_calls[0].size() == 2);
  auto& first = a.tool_calls[0][0];
  CHECK(first["id"] == "call_1");
  CHECK(first["name"] == "lookup");
  CHECK(first["arguments"] == R"({"q":"你好世界 and more text"})");
  CHECK(first["fragments"].get<int>() >= 3);  // the opening one plus 2+ pieces
  auto& second = a.tool_calls[0][1];
  CHECK(second["id"] == "call_2");
  CHECK(second["arguments"] == R"({"x":1})");
  CHECK(second["fragments"].get<int>() >= 3);
  // The first fragment of each call carries id, type, name and "" arguments.
  bool saw_opening = false;
  for (const auto& c : a.chunks) {
    if (c["choices"].empty() || !c["choices"][0]["delta"].contains("tool_calls")) continue;
    const auto& tc = c["choices"][0]["delta"]["tool_calls"][0];
    if (tc.contains("id")) {
      CHECK(tc["type"] == "function");
      CHECK(tc["function"]["arguments"] == "");
      saw_opening = true;
    }
  }
  CHECK(saw_opening);
  json plain = ask_json(user_chat(R"(#mock:tool=lookup:{"q":"你好世界 and more text"} #mock:tool=other:{"x":1})"));
  CHECK(*a.usage == plain["usage"]);
}

TEST_CASE("mock embeddings", "[mock][embeddings]") {
  auto embed = [](json body) {
    auto req = openai_adapter().embeddings_request(body, "embed", mock_ep());
    REQUIRE(req);
    return mock_answer(*req);
  };
  auto r = embed({{"model", "mock/embed"}, {"input", json::array({"hello world", "other", "hello world"})}});
  REQUIRE(r.status == 200);
  auto parsed = openai_adapter().embeddings_response(r.body);
  REQUIRE(parsed);
  json& out = *parsed;
  CHECK(out["object"] == "list");
  CHECK(out["model"] == "embed");
  REQUIRE(out["data"].size() == 3);
  for (int i = 0; i < 3; ++i) {
    const auto& item = out["data"][i];
    CHECK(item["object"] == "embedding");
    CHECK(item["index"] == i);
    REQUIRE(item["embedding"].size() == 8);
    double norm = 0;
    for (double x : item["embedding"]) norm += x * x;
    CHECK(std::abs(norm - 1.0) < 1e-5);
  }
  CHECK(out["data"][0]["embedding"] == out["data"][2]["embedding"]);
  CHECK(out["data"][0]["embedding"] != out["data"][1]["embedding"]);
  CHECK(out["usage"]["prompt_tokens"] == 5);  // 2 + 1 + 2 words
  CHECK(out["usage"]["total_tokens"] == 5);

  auto dims = json::parse(embed({{"model", "m"}, {"input", "x"}, {"dimensions", 3}}).body);
  CHECK(dims["data"][0]["embedding"].size() == 3);

  auto tokens = json::parse(embed({{"model", "m"}, {"input", json::array({1, 2, 3})}}).body);
  CHECK(tokens["data"].size() == 1);
  CHECK(tokens["usage"]["prompt_tokens"] == 3);

  // base64: little-endian float32 of the same vector.
  auto b64 = json::parse(embed({{"model", "m"}, {"input", "hello world"}, {"encoding_format", "base64"}}).body);
  std::string enc = b64["data"][0]["embedding"].get<std::string>();
  static const std::string table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : enc) {
    if (ch == '=') break;
    acc = (acc << 6) | static_cast<std::uint32_t>(table.find(ch));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  REQUIRE(bytes.size() == 32);
  for (std::size_t i = 0; i < 8; ++i) {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i * 4 + k])) << (8 * k);
    float f;
    std::memcpy(&f, &v, 4);
    CHECK(static_cast<double>(f) == out["data"][0]["embedding"][i].get<double>());
  }

  CHECK(embed({{"model", "m"}, {"input", "#mock:error=429"}}).status == 429);
  CHECK(embed({{"model", "m"}, {"input", "x"}, {"dimensions", 0}}).status == 400);
}

TEST_CASE("mock rejects unknown targets and bad bodies", "[mock]") {
  outbound_request req;
  req.origin = mock_origin();
  req.target = "/v1/completions";
  req.body = "{}";
  auto r = mock_answer(req);
  CHECK(r.status == 404);
  json body = json::parse(r.body);
  CHECK(body["error"]["type"] == "invalid_request_error");
  CHECK(body["error"]["code"] == "unknown_url");

  req.target = "/v1/chat/completions";
  req.body = "not json";
  CHECK(mock_answer(req).status == 400);
  req.body = R"({"model":"m","messages":[]})";
  CHECK(mock_answer(req).status == 400);
  req.method = "GET";
  CHECK(mock_answer(req).status == 405);
}
