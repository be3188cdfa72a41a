#include <algorithm>
#include <map>

#include <catch2/catch.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/anthropic_adapter.hpp"
#include "oag/adapters/anthropic_inbound.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/adapters/validate.hpp"

using namespace oag;
using namespace oag::adapters;
using nlohmann::json;

namespace {

json to_openai(const std::string& anthropic) {
  auto r = anthropic_request_to_openai(json::parse(anthropic));
  REQUIRE(r);
  // Whatever comes out must be a chat request OAG itself accepts.
  auto valid = validate_chat_request(*r);
  if (!valid) FAIL("not a valid chat request: " << valid.error().message << " at "
                                                << valid.error().param.value_or("-"));
  return *r;
}

failure rejected(const std::string& anthropic) {
  auto r = anthropic_request_to_openai(json::parse(anthropic));
  REQUIRE_FALSE(r);
  CHECK(http_status_of(r.error()) == 400);
  return r.error();
}

std::string param_of(const std::string& anthropic) {
  return rejected(anthropic).param.value_or("<none>");
}

/// What an Anthropic SDK does with a stream: checks the event protocol
/// strictly (names equal `type`, message_start first, blocks opened in
/// index order and closed before the next one opens, deltas only for the
/// open block, message_delta then message_stop last) and accumulates the
/// final Message. `names` receives the event names in order.
json sdk_accumulate(const std::string& bytes, std::vector<std::string>& names) {
  sse::parser parser;
  std::vector<sse::event> events;
  parser.feed(bytes, events);
  CHECK(parser.pending_bytes() == 0);
  json msg;
  std::map<std::int64_t, std::string> partial_json;
  std::int64_t open = -1;
  bool stopped = false;
  for (const auto& ev : events) {
    REQUIRE(ev.name);
    names.push_back(*ev.name);
    json data = json::parse(ev.data);
    CHECK(data["type"] == *ev.name);
    CHECK_FALSE(stopped);
    const std::string& type = *ev.name;
    if (type == "message_start") {
      CHECK(msg.is_null());
      msg = data["message"];
    } else if (type == "content_block_start") {
      REQUIRE(msg.is_object());
      CHECK(open == -1);
      const std::int64_t index = data["index"];
      CHECK(index == static_cast<std::int64_t>(msg["content"].size()));
      msg["content"].push_back(data["content_block"]);
      open = index;
    } else if (type == "content_block_delta") {
      const std::int64_t index = data["index"];
      CHECK(index == open);
      json& block = msg["content"][index];
      const json& delta = data["delta"];
      if (delta["type"] == "text_delta") {
        CHECK(block["type"] == "text");
        block["text"] = block["text"].get<std::string>() + delta["text"].get<std::string>();
      } else {
        CHECK(delta["type"] == "input_json_delta");
        CHECK(block["type"] == "tool_use");
        partial_json[index] += delta["partial_json"].get<std::string>();
      }
    } else if (type == "content_block_stop") {
      const std::int64_t index = data["index"];
      CHECK(index == open);
      json& block = msg["content"][index];
      if (block["type"] == "tool_use")
        block["input"] = partial_json[index].empty() ? json::object()
                                                     : json::parse(partial_json[index]);
      open = -1;
    } else if (type == "message_delta") {
      CHECK(open == -1);
      msg["stop_reason"] = data["delta"]["stop_reason"];
      msg["stop_sequence"] = data["delta"]["stop_sequence"];
      for (auto& [k, v] : data["usage"].items()) msg["usage"][k] = v;
    } else if (type == "message_stop") {
      stopped = true;
    } else if (type == "error") {
      msg = data;
      stopped = true;
    } else {
      CHECK(type == "ping");
    }
  }
  return msg;
}

json chunk(json delta, json finish = nullptr) {
  return {{"id", "chatcmpl-7"},
          {"object", "chat.completion.chunk"},
          {"created", 1},
          {"model", "gpt-4o"},
          {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                    {"finish_reason", std::move(finish)}}})}};
}

} // namespace

// ---------------------------------------------------------------------------
// Requests

TEST_CASE("anthropic inbound: a Messages request becomes an OpenAI chat request", "[anthropic]") {
  const json out = to_openai(R"({"model":"claude-sonnet-4","max_tokens":1024,
    "system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Be kind.","cache_control":{"type":"ephemeral"}}],
    "messages":[{"role":"user","content":"Weather?"}],
    "tools":[{"name":"get_weather","description":"Weather now","input_schema":{"type":"object","properties":{}}}],
    "tool_choice":{"type":"any","disable_parallel_tool_use":true},
    "stop_sequences":["END"],"stream":true,"temperature":0.5,"top_p":0.9,"top_k":40,
    "metadata":{"user_id":"u1"},"thinking":{"type":"disabled"}})");
  CHECK(out == json::parse(R"({"model":"claude-sonnet-4","max_completion_tokens":1024,
    "messages":[{"role":"system","content":"Be brief.\n\nBe kind."},{"role":"user","content":"Weather?"}],
    "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
      "parameters":{"type":"object","properties":{}}}}],
    "tool_choice":"required","parallel_tool_calls":false,"stop":["END"],
    "stream":true,"stream_options":{"include_usage":true},
    "temperature":0.5,"top_p":0.9,"user":"u1"})"));

  const std::string base = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
    "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":)";
  CHECK(to_openai(base + R"({"type":"auto"}})")["tool_choice"] == "auto");
  CHECK(to_openai(base + R"({"type":"none"}})")["tool_choice"] == "none");
  CHECK(to_openai(base + R"({"type":"tool","name":"f"}})")["tool_choice"] ==
        json::parse(R"({"type":"function","function":{"name":"f"}})"));
  // No tools: a choice has nothing to apply to (and OpenAI would 400).
  CHECK_FALSE(to_openai(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
    "tool_choice":{"type":"auto"}})").contains("tool_choice"));
}

TEST_CASE("anthropic inbound: tool_use / tool_result history becomes tool_calls and tool messages",
          "[anthropic]") {
  const json out = to_openai(R"({"model":"m","max_tokens":100,"messages":[
    {"role":"user","content":[{"type":"text","text":"Weather in Oslo?"}]},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"tool time","signature":"s"},
      {"type":"text","text":"Let me check."},
      {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}},
      {"type":"tool_use","id":"toolu_2","name":"now","input":{}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_1","content":"4 C"},
      {"type":"tool_result","tool_use_id":"toolu_2","is_error":true,
       "content":[{"type":"text","text":"clock"},{"type":"text","text":"broken"},
                  {"type":"image","source":{"type":"url","url":"https://x.example/err.png"}}]},
      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},
      {"type":"text","text":"And tomorrow?"}]}],
    "tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"now","input_schema":{"type":"object"}}]})");
  // A lone text block becomes plain string content, which every provider takes.
  CHECK(out["messages"] == json::parse(R"([
    {"role":"user","content":"Weather in Oslo?"},
    {"role":"assistant","content":"Let me check.","tool_calls":[
      {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
      {"id":"toolu_2","type":"function","function":{"name":"now","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"4 C"},
    {"role":"tool","tool_call_id":"toolu_2","content":"Error: clock\nbroken"},
    {"role":"user","content":[
      {"type":"image_url","image_url":{"url":"https://x.example/err.png"}},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
      {"type":"text","text":"And tomorrow?"}]}])"));

  SECTION("and the OpenAI request translates back to the same Anthropic turns") {
    auto back = openai_to_anthropic_request(out, "claude", false, {});
    REQUIRE(back);
    CHECK((*back)["messages"][1]["content"][1] ==
          json::parse(R"({"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}})"));
    CHECK((*back)["messages"][2]["content"][0] ==
          json::parse(R"({"type":"tool_result","tool_use_id":"toolu_1","content":"4 C"})"));
    CHECK((*back)["messages"].size() == 3);
  }
}

TEST_CASE("anthropic inbound: invalid requests are 400s naming the parameter", "[anthropic]") {
  const std::string ok_msgs = R"("messages":[{"role":"user","content":"x"}])";
  CHECK(param_of(R"({"max_tokens":5,)" + ok_msgs + "}") == "model");
  CHECK(param_of(R"({"model":"m",)" + ok_msgs + "}") == "max_tokens");
  CHECK(param_of(R"({"model":"m","max_tokens":1.5,)" + ok_msgs + "}") == "max_tokens");
  CHECK(param_of(R"({"model":"m","max_tokens":0,)" + ok_msgs + "}") == "max_tokens");
  CHECK(param_of(R"({"model":"m","max_tokens":5})") == "messages");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[]})") == "messages");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},
    {"role":"system","content":"y"}]})") == "messages[1].role");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},
    {"role":"user","content":[{"type":"bogus"}]}]})") == "messages[1].content[0].type");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user"}]})") ==
        "messages[0].content");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
    {"type":"text"}]}]})") == "messages[0].content[0].text");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
    {"type":"tool_result","content":"x"}]}]})") == "messages[0].content[0].tool_use_id");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[
    {"type":"tool_use","id":"t","name":"f","input":[1]}]}]})") == "messages[0].content[0].input");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
    {"type":"image","source":{"type":"file","file_id":"f"}}]}]})") ==
        "messages[0].content[0].source.type");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"system":[{"type":"image"}],)" + ok_msgs + "}") ==
        "system[0].type");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"temperature":1.5,)" + ok_msgs + "}") ==
        "temperature");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"stop_sequences":["a","b","c","d","e"],)" +
                 ok_msgs + "}") == "stop_sequences");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"stop_sequences":[1],)" + ok_msgs + "}") ==
        "stop_sequences[0]");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"stream":"yes",)" + ok_msgs + "}") == "stream");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],)" +
                 ok_msgs + "}") == "tools[0].type");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"tools":[{"name":"f"}],)" + ok_msgs + "}") ==
        "tools[0].input_schema");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"tool_choice":{"type":"some"},)" + ok_msgs + "}") ==
        "tool_choice.type");
  CHECK(param_of(R"({"model":"m","max_tokens":5,"metadata":{"user_id":5},)" + ok_msgs + "}") ==
        "metadata.user_id");
  CHECK(param_of("[1,2]") == "body");
}

TEST_CASE("anthropic inbound: Anthropic-shaped history on /v1/chat/completions normalizes",
          "[anthropic]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"system","content":"s"},
    {"role":"user","content":"Weather in Oslo?"},
    {"role":"assistant","content":[{"type":"text","text":"Checking."},
      {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"4 C"}]}],
    "tools":[{"type":"function","function":{"name":"get_weather"}}]})");
  CHECK_FALSE(validate_chat_request(body));  // the OpenAI validator does not know these blocks
  auto r = normalize_anthropic_history(body);
  REQUIRE(r);
  CHECK(validate_chat_request(*r));
  CHECK((*r)["messages"] == json::parse(R"([
    {"role":"system","content":"s"},
    {"role":"user","content":"Weather in Oslo?"},
    {"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"4 C"}])"));

  // OpenAI-only requests come back unchanged.
  const json plain = json::parse(R"({"model":"m","messages":[{"role":"user","content":[
    {"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x"}}]}]})");
  auto same = normalize_anthropic_history(plain);
  REQUIRE(same);
  CHECK(*same == plain);
  auto bad = normalize_anthropic_history(json::parse(R"({"model":"m","messages":[
    {"role":"user","content":[{"type":"tool_result"}]}]})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().param == std::optional<std::string>("messages[0].content[0].tool_use_id"));
}

// ---------------------------------------------------------------------------
// Responses and errors

TEST_CASE("anthropic inbound: a chat.completion becomes a Message", "[anthropic]") {
  const json completion = json::parse(R"({"id":"chatcmpl-abc","object":"chat.completion","created":1,
    "model":"gpt-4o","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant",
      "content":"Checking.","tool_calls":[
        {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
        {"id":"call_2","type":"function","function":{"name":"bad","arguments":"{oops"}}]}}],
    "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
      "prompt_tokens_details":{"cached_tokens":100}}})");
  CHECK(openai_response_to_anthropic(completion, "claude-sonnet-4") == json::parse(R"({
    "id":"msg_abc","type":"message","role":"assistant","model":"claude-sonnet-4",
    "content":[{"type":"text","text":"Checking."},
      {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Oslo"}},
      {"type":"tool_use","id":"call_2","name":"bad","input":{}}],
    "stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":20,"output_tokens":30,"cache_read_input_tokens":100}})"));

  auto stop_of = [](const char* finish) {
    json c = {{"id", "x"}, {"choices", json::array({{{"index", 0}, {"finish_reason", finish},
                                                     {"message", {{"role", "assistant"},
                                                                  {"content", "hi"}}}}})}};
    return openai_response_to_anthropic(c, "m")["stop_reason"].get<std::string>();
  };
  CHECK(stop_of("stop") == "end_turn");
  CHECK(stop_of("length") == "max_tokens");
  CHECK(stop_of("content_filter") == "refusal");
  CHECK(stop_of("tool_calls") == "tool_use");
  // Garbage in does not throw; an empty message comes out.
  const json empty = openai_response_to_anthropic(json::parse("[1]"), "m");
  CHECK(empty["content"] == json::array());
  CHECK(empty["usage"]["input_tokens"] == 0);
}

TEST_CASE("anthropic inbound: error bodies use Anthropic's types", "[anthropic]") {
  auto body = [](errc code, std::optional<int> status = std::nullopt,
                 std::optional<std::string> param = std::nullopt) {
    failure f = make_failure(code, "went wrong", std::move(param));
    f.http_status = status;
    return json::parse(anthropic_error_body(f));
  };
  CHECK(body(errc::invalid_request, 400, std::string("max_tokens")) ==
        json::parse(R"({"type":"error","error":{"type":"invalid_request_error",
                      "message":"max_tokens: went wrong"}})"));
  CHECK(body(errc::invalid_api_key)["error"]["type"] == "authentication_error");
  CHECK(body(errc::permission_denied)["error"]["type"] == "permission_error");
  CHECK(body(errc::model_not_found)["error"]["type"] == "not_found_error");
  CHECK(body(errc::payload_too_large)["error"]["type"] == "request_too_large");
  CHECK(body(errc::rate_limited)["error"]["type"] == "rate_limit_error");
  CHECK(body(errc::insufficient_quota)["error"]["type"] == "billing_error");
  CHECK(body(errc::unavailable)["error"]["type"] == "overloaded_error");
  CHECK(body(errc::upstream_timeout)["error"]["type"] == "timeout_error");
  CHECK(body(errc::upstream_error)["error"]["type"] == "api_error");
  CHECK(body(errc::internal)["error"]["type"] == "api_error");
}

// ---------------------------------------------------------------------------
// The stream encoder

TEST_CASE("anthropic encoder: text and parallel tool calls in the SDK's event order",
          "[anthropic]") {
  anthropic_stream_encoder enc("claude-sonnet-4");
  std::string bytes;
  bytes += enc.on_chunk(chunk({{"role", "assistant"}, {"content", ""}}));
  CHECK(enc.started());
  bytes += enc.on_chunk(chunk({{"content", "Checking "}}));
  bytes += enc.on_chunk(chunk({{"content", "both."}}));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":0,"id":"call_a","type":"function",
    "function":{"name":"f","arguments":""}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":1,"id":"call_b","type":"function",
    "function":{"name":"g","arguments":"{}"}}]})")));
  bytes += enc.on_chunk(chunk(json::object(), "tool_calls"));
  json usage_only = {{"id", "chatcmpl-7"}, {"object", "chat.completion.chunk"}, {"choices", json::array()},
                     {"usage", {{"prompt_tokens", 50}, {"completion_tokens", 9}, {"total_tokens", 59},
                                {"prompt_tokens_details", {{"cached_tokens", 10}}}}}};
  bytes += enc.on_chunk(usage_only);
  bytes += enc.finish(std::nullopt);
  CHECK(enc.finish(std::nullopt).empty());
  CHECK(enc.on_chunk(chunk({{"content", "late"}})).empty());

  std::vector<std::string> names;
  const json msg = sdk_accumulate(bytes, names);
  CHECK(names == std::vector<std::string>{
                     "message_start",
                     "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"});
  CHECK(msg == json::parse(R"({"id":"msg_7","type":"message","role":"assistant","model":"claude-sonnet-4",
    "content":[{"type":"text","text":"Checking both."},
      {"type":"tool_use","id":"call_a","name":"f","input":{"x":1}},
      {"type":"tool_use","id":"call_b","name":"g","input":{}}],
    "stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":40,"output_tokens":9,"cache_read_input_tokens":10}})"));
}

TEST_CASE("anthropic encoder: metered usage wins, empty streams and errors", "[anthropic]") {
  SECTION("usage passed to finish wins over usage seen in chunks") {
    anthropic_stream_encoder enc("m");
    std::string bytes = enc.on_chunk(chunk({{"content", "hi"}}, "length"));
    money::token_usage u;
    u.input_tokens = 11;
    u.cached_input_tokens = 1;
    u.output_tokens = 2;
    bytes += enc.finish(u);
    std::vector<std::string> names;
    const json msg = sdk_accumulate(bytes, names);
    CHECK(msg["stop_reason"] == "max_tokens");
    CHECK(msg["usage"] == json::parse(R"({"input_tokens":10,"output_tokens":2,"cache_read_input_tokens":1})"));
    CHECK(msg["content"] == json::parse(R"([{"type":"text","text":"hi"}])"));
  }
  SECTION("a stream with no chunks is still a complete message") {
    anthropic_stream_encoder enc("m");
    std::vector<std::string> names;
    const json msg = sdk_accumulate(enc.finish(std::nullopt), names);
    CHECK(names == std::vector<std::string>{"message_start", "message_delta", "message_stop"});
    CHECK(msg["content"] == json::array());
    CHECK(msg["stop_reason"] == "end_turn");
  }
  SECTION("an error after the start ends the stream with an error event") {
    anthropic_stream_encoder enc("m");
    std::string bytes = enc.on_chunk(chunk({{"content", "par"}}));
    failure f = make_failure(errc::unavailable, "the provider is overloaded");
    bytes += enc.error(f);
    CHECK(enc.finish(std::nullopt).empty());
    CHECK(enc.error(f).empty());
    std::vector<std::string> names;
    const json last = sdk_accumulate(bytes, names);
    CHECK(names == std::vector<std::string>{"message_start", "content_block_start",
                                            "content_block_delta", "error"});
    CHECK(last == json::parse(R"({"type":"error","error":{"type":"overloaded_error",
                                "message":"the provider is overloaded"}})"));
  }
}

TEST_CASE("anthropic round trip: upstream SSE → OpenAI chunks → client SSE", "[anthropic]") {
  // An Anthropic upstream stream, decoded to OpenAI chunks and encoded
  // again for an Anthropic SDK client, yields the same message.
  const std::string upstream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_9\",\"type\":\"message\","
      "\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n"
      "event: ping\ndata: {\"type\":\"ping\"}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Sure.\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"f\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":[1,\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2]}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":17}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  auto decoder = anthropic_adapter().chat_stream_decoder();
  std::vector<stream_event> events;
  decoder->feed(upstream, events);
  decoder->finish(events);
  REQUIRE(events.back().what == stream_event::type::done);

  anthropic_stream_encoder enc("claude");
  std::string client;
  std::optional<money::token_usage> metered;
  for (const auto& e : events) {
    if (e.what != stream_event::type::chunk) continue;
    if (auto u = usage_of(e.data)) metered = u;
    client += enc.on_chunk(e.data);
  }
  client += enc.finish(metered);

  std::vector<std::string> up_names, client_names;
  json up_msg = sdk_accumulate(upstream, up_names);
  json client_msg = sdk_accumulate(client, client_names);
  up_names.erase(std::remove(up_names.begin(), up_names.end(), "ping"), up_names.end());
  CHECK(client_names == up_names);
  CHECK(client_msg["id"] == "msg_9");
  CHECK(client_msg["content"] == up_msg["content"]);
  CHECK(client_msg["stop_reason"] == "tool_use");
  CHECK(client_msg["usage"] == json::parse(R"({"input_tokens":12,"output_tokens":17,"cache_read_input_tokens":3})"));
}
