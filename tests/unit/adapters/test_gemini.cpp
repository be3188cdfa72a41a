#include <catch2/catch.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/embeddings_format.hpp"
#include "oag/adapters/gemini_adapter.hpp"
#include "stream_test_util.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint gemini_endpoint(std::string base = "", std::optional<std::string> key =
                                                             "AIzaSyTESTKEY0123456789abcdef") {
  provider_endpoint ep;
  ep.name = "google";
  ep.kind = "gemini";
  ep.base_url = std::move(base);
  ep.api_key = std::move(key);
  return ep;
}

json sent_body(const json& body, bool stream = false) {
  auto r = gemini_adapter().chat_request(body, "gemini-2.5-flash", stream, gemini_endpoint());
  REQUIRE(r);
  return json::parse(r->body);
}

const oag::test::decoder_factory gemini_decoder = [] { return make_gemini_stream_decoder(); };

std::string sse(const std::vector<std::string>& payloads) {
  std::string out;
  for (const auto& p : payloads) out += "data: " + p + "\r\n\r\n";
  return out;
}

} // namespace

TEST_CASE("gemini is registered with its default base URL", "[gemini]") {
  REQUIRE(find_adapter("gemini") == &gemini_adapter());
  CHECK(gemini_adapter().kind() == "gemini");
  CHECK(gemini_adapter().default_base_url() ==
        std::optional<std::string>("https://generativelanguage.googleapis.com/v1beta"));
}

TEST_CASE("gemini request: exact payload, target and key header", "[gemini]") {
  const json body = json::parse(R"({
    "model": "fast",
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
      ]},
      {"role": "assistant", "content": "A cat."},
      {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
      {"role": "user", "content": "Again?"}
    ],
    "tools": [{"type": "function", "function": {
      "name": "lookup", "description": "Looks up a word", "strict": true,
      "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "additionalProperties": false,
        "properties": {
          "word": {"type": "string", "format": "uri", "minLength": 1},
          "tags": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                   "properties": {"type": {"type": ["string", "null"]}}}},
          "mode": {"oneOf": [{"const": "fast"}, {"type": "integer", "format": "int32"}]}
        },
        "required": ["word"]}}},
      {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}],
    "tool_choice": {"type": "function", "function": {"name": "lookup"}},
    "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 300, "max_tokens": 99,
    "stop": "END", "n": 2, "seed": 7,
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": true,
      "schema": {"type": "object", "additionalProperties": false,
                 "properties": {"fr": {"type": "string"}}, "required": ["fr"]}}}
  })");
  auto r = gemini_adapter().chat_request(body, "gemini-2.5-flash", false,
                                         gemini_endpoint("https://generativelanguage.googleapis.com/v1beta/"));
  REQUIRE(r);
  CHECK(r->method == "POST");
  CHECK(r->origin.origin() == "https://generativelanguage.googleapis.com:443");
  CHECK(r->target == "/v1beta/models/gemini-2.5-flash:generateContent");
  CHECK_FALSE(r->stream);
  CHECK(find_header(r->headers, "x-goog-api-key") ==
        std::optional<std::string_view>("AIzaSyTESTKEY0123456789abcdef"));
  CHECK_FALSE(find_header(r->headers, "authorization"));
  CHECK(find_header(r->headers, "content-type") == std::optional<std::string_view>("application/json"));

  const json expected = json::parse(R"({
    "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
    "contents": [
      {"role": "user", "parts": [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}}]},
      {"role": "model", "parts": [{"text": "A cat."}]},
      {"role": "user", "parts": [{"text": "Again?"}]}
    ],
    "tools": [{"functionDeclarations": [
      {"name": "lookup", "description": "Looks up a word",
       "parameters": {"type": "object",
         "properties": {
           "word": {"type": "string", "minLength": 1},
           "tags": {"type": "array", "items": {"type": "object",
                    "properties": {"type": {"type": "string", "nullable": true}}}},
           "mode": {"anyOf": [{"enum": ["fast"]}, {"type": "integer", "format": "int32"}]}
         },
         "required": ["word"]}},
      {"name": "now"}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}},
    "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 300,
      "stopSequences": ["END"], "candidateCount": 2, "seed": 7,
      "responseMimeType": "application/json",
      "responseSchema": {"type": "object", "properties": {"fr": {"type": "string"}}, "required": ["fr"]}}
  })");
  CHECK(json::parse(r->body) == expected);
}

TEST_CASE("gemini request: tool round trip gives user, model, user with object responses",
          "[gemini]") {
  const json body = json::parse(R"({"model": "m", "messages": [
    {"role": "user", "content": "Weather in Oslo and Bergen?"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
      {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
    {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp_c\":4}"},
    {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": "And tomorrow?"}
  ]})");
  const json sent = sent_body(body);
  const json expected = json::parse(R"({
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
      {"role": "user", "parts": [{"text": "Weather in Oslo and Bergen?"}]},
      {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
        {"functionCall": {"name": "get_time", "args": {}}}]},
      {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 4}}},
        {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
        {"text": "And tomorrow?"}]}
    ]})");
  CHECK(sent == expected);
  std::vector<std::string> roles;
  for (const auto& c : sent["contents"]) roles.push_back(c["role"]);
  CHECK(roles == std::vector<std::string>{"user", "model", "user"});
}

TEST_CASE("gemini request: non-object tool results are wrapped, unknown ids refused", "[gemini]") {
  auto with_result = [](json content) {
    return json{{"model", "m"},
                {"messages",
                 {{{"role", "user"}, {"content", "x"}},
                  {{"role", "assistant"},
                   {"tool_calls",
                    {{{"id", "c1"}, {"type", "function"},
                      {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}},
                  {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", content}}}}};
  };
  auto response_of = [&](json content) {
    return sent_body(with_result(content))["contents"][2]["parts"][0]["functionResponse"]["response"];
  };
  CHECK(response_of("42") == json{{"content", 42}});
  CHECK(response_of("[1,2]") == json{{"content", {1, 2}}});
  CHECK(response_of("not json") == json{{"content", "not json"}});
  CHECK(response_of(json::array({{{"type", "text"}, {"text", "{\"a\":"}}, {{"type", "text"}, {"text", "1}"}}})) ==
        json{{"a", 1}});

  json bad = with_result("ok");
  bad["messages"][2]["tool_call_id"] = "nope";
  auto r = gemini_adapter().chat_request(bad, "m", false, gemini_endpoint());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  CHECK(r.error().param == std::optional<std::string>("messages[2].tool_call_id"));
}

TEST_CASE("gemini request: tool_choice modes, no max tokens, streaming target", "[gemini]") {
  json body = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}]})");
  for (auto [choice, mode] : {std::pair<const char*, const char*>{"none", "NONE"},
                              {"auto", "AUTO"}, {"required", "ANY"}}) {
    body["tool_choice"] = choice;
    CHECK(sent_body(body)["toolConfig"] == json{{"functionCallingConfig", {{"mode", mode}}}});
  }
  body.erase("tool_choice");
  const json plain = sent_body(body);
  CHECK_FALSE(plain.contains("toolConfig"));
  CHECK_FALSE(plain.contains("generationConfig"));  // no silent small output limit

  body["response_format"] = {{"type", "json_object"}};
  CHECK(sent_body(body)["generationConfig"] == json{{"responseMimeType", "application/json"}});

  auto r = gemini_adapter().chat_request(body, "models/gemini-2.5-pro", true, gemini_endpoint());
  REQUIRE(r);
  CHECK(r->stream);
  CHECK(r->origin.origin() == "https://generativelanguage.googleapis.com:443");
  CHECK(r->target == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
  CHECK(find_header(r->headers, "accept") == std::optional<std::string_view>("text/event-stream"));

  // Only a system message: it becomes the user's turn (Gemini needs one).
  const json sys_only = sent_body(json::parse(R"({"model":"m","messages":[{"role":"system","content":"Say hi"}]})"));
  CHECK(sys_only == json::parse(R"({"contents":[{"role":"user","parts":[{"text":"Say hi"}]}]})"));
}

TEST_CASE("gemini response: text, function calls, finish reasons and usage", "[gemini]") {
  auto r = gemini_adapter().chat_response(R"({
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "thinking...", "thought": true},
        {"text": "Let me "}, {"text": "check."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
        {"functionCall": {"name": "get_time", "args": {}}}]},
      "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
                      "cachedContentTokenCount": 64, "totalTokenCount": 150},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc"})");
  REQUIRE(r);
  const json& out = *r;
  CHECK(out["object"] == "chat.completion");
  CHECK(out["id"] == "chatcmpl-abc");
  CHECK(out["model"] == "gemini-2.5-flash");
  REQUIRE(out["choices"].size() == 1);
  const json& c = out["choices"][0];
  CHECK(c["index"] == 0);
  CHECK(c["finish_reason"] == "tool_calls");
  CHECK(c["message"]["role"] == "assistant");
  CHECK(c["message"]["content"] == "Let me check.");
  CHECK(c["message"]["tool_calls"] == json::parse(R"([
    {"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
    {"id":"call_1","type":"function","function":{"name":"get_time","arguments":"{}"}}])"));
  CHECK(out["usage"] == json::parse(R"({"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
    "prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":30}})"));
  auto usage = usage_of(out);
  REQUIRE(usage);
  CHECK(usage->input_tokens == 100);
  CHECK(usage->cached_input_tokens == 64);
  CHECK(usage->output_tokens == 50);

  auto finish = [](const char* reason) {
    auto res = gemini_adapter().chat_response(
        std::string(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":")") + reason +
        R"("}]})");
    REQUIRE(res);
    return (*res)["choices"][0]["finish_reason"].get<std::string>();
  };
  CHECK(finish("STOP") == "stop");
  CHECK(finish("MAX_TOKENS") == "length");
  for (const char* f : {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"})
    CHECK(finish(f) == "content_filter");

  auto blocked = gemini_adapter().chat_response(R"({"promptFeedback":{"blockReason":"SAFETY"},
    "usageMetadata":{"promptTokenCount":7}})");
  REQUIRE(blocked);
  CHECK((*blocked)["choices"][0]["finish_reason"] == "content_filter");
  CHECK((*blocked)["choices"][0]["message"]["content"].is_null());

  CHECK_FALSE(gemini_adapter().chat_response("{\"candidates\":"));
  CHECK_FALSE(gemini_adapter().chat_response("[]"));
  CHECK_FALSE(gemini_adapter().chat_response(R"({"error":{"code":500,"message":"boom"}})"));
}

TEST_CASE("gemini stream: role, text, whole tool calls, finish, usage, done", "[gemini]") {
  const std::string body = sse({
      R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":9},"responseId":"r1","modelVersion":"gemini-2.5-flash"})",
      R"({"candidates":[{"content":{"role":"model","parts":[{"text":"lo "},{"functionCall":{"name":"a","args":{"x":1}}},{"functionCall":{"name":"b","args":{}}}]},"index":0}],"responseId":"r1"})",
      R"({"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"thoughtsTokenCount":2,"cachedContentTokenCount":4},"responseId":"r1"})",
  });
  const auto events = oag::test::decode_whole(gemini_decoder, body);
  const auto chunks = oag::test::chunks_of(events);
  REQUIRE(events.size() == 8);
  CHECK(events.back().what == stream_event::type::done);
  for (const auto& c : chunks) {
    CHECK(c["id"] == "chatcmpl-r1");
    CHECK(c["object"] == "chat.completion.chunk");
    CHECK(c["created"] == chunks[0]["created"]);
    CHECK(c["model"] == "gemini-2.5-flash");
  }
  REQUIRE(chunks.size() == 7);
  CHECK(chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
  CHECK(chunks[1]["choices"][0]["delta"] == json{{"content", "Hel"}});
  CHECK(chunks[2]["choices"][0]["delta"] == json{{"content", "lo "}});
  CHECK(chunks[3]["choices"][0]["delta"] == json::parse(R"({"tool_calls":[{"index":0,"id":"call_0",
    "type":"function","function":{"name":"a","arguments":"{\"x\":1}"}}]})"));
  CHECK(chunks[4]["choices"][0]["delta"] == json::parse(R"({"tool_calls":[{"index":1,"id":"call_1",
    "type":"function","function":{"name":"b","arguments":"{}"}}]})"));
  CHECK(chunks[5]["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(chunks[5]["choices"][0]["delta"] == json::object());
  // Chunks stay in order; the usage chunk is emitted with done at the end.
  const auto& last = events[6];
  REQUIRE(last.what == stream_event::type::chunk);
  CHECK(last.data["choices"] == json::array());
  CHECK(last.data["usage"] == json::parse(R"({"prompt_tokens":9,"completion_tokens":7,"total_tokens":16,
    "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}})"));

  std::string diff;
  CHECK(oag::test::split_invariant(gemini_decoder, body, &diff));
  INFO(diff);
  // LF-only framing and a last event without its blank line decode the same.
  std::string lf = body;
  for (std::size_t p; (p = lf.find("\r\n")) != std::string::npos;) lf.erase(p, 1);
  CHECK(oag::test::render(oag::test::decode_whole(gemini_decoder, lf)) == oag::test::render(events));
  CHECK(oag::test::render(oag::test::decode_whole(gemini_decoder, lf.substr(0, lf.size() - 2))) ==
        oag::test::render(events));
}

TEST_CASE("gemini stream: a body that ends without finishReason is an error", "[gemini]") {
  const std::string cut = sse({R"({"candidates":[{"content":{"parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}})"});
  auto events = oag::test::decode_whole(gemini_decoder, cut);
  REQUIRE(events.size() == 4);  // role, text, usage so far, error
  CHECK(events[2].data["usage"]["prompt_tokens"] == 3);
  CHECK(events[3].what == stream_event::type::error);
  CHECK(events[3].error.http_status == std::optional<int>(502));
  std::string diff;
  CHECK(oag::test::split_invariant(gemini_decoder, cut, &diff));
  INFO(diff);

  // Cut inside an event: still an error, never a clean end.
  const std::string full = sse({R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]})"});
  for (std::size_t i = 0; i + 4 < full.size(); ++i) {  // up to just before the closing '}'
    auto ev = oag::test::decode_whole(gemini_decoder, full.substr(0, i));
    REQUIRE_FALSE(ev.empty());
    CHECK(ev.back().what == stream_event::type::error);
  }
  auto complete = oag::test::decode_whole(gemini_decoder, full);
  CHECK(complete.back().what == stream_event::type::done);

  // An empty body is a cut stream too.
  auto empty = oag::test::decode_whole(gemini_decoder, "");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].what == stream_event::type::error);

  // An error event in the stream ends it with that message, scrubbed.
  auto err = oag::test::decode_whole(
      gemini_decoder, sse({R"({"error":{"code":503,"message":"overloaded for key AIzaSyTESTKEY0123456789abcdef","status":"UNAVAILABLE"}})"}));
  REQUIRE(err.size() == 1);
  CHECK(err[0].what == stream_event::type::error);
  CHECK(err[0].error.message.find("AIza") == std::string::npos);
  CHECK(err[0].error.message.find("overloaded") != std::string::npos);

  // Invalid JSON in a complete event is an error at once.
  auto garbage = oag::test::decode_whole(gemini_decoder, "data: {nope\n\n");
  REQUIRE(garbage.size() == 1);
  CHECK(garbage[0].what == stream_event::type::error);
}

TEST_CASE("gemini stream: two candidates and a blocked prompt", "[gemini]") {
  const std::string two = sse({
      R"({"candidates":[{"content":{"parts":[{"text":"A"}]},"index":0},{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]},"index":1}]})",
      R"({"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"STOP","index":0},{"finishReason":"STOP","index":1}]})"});
  auto events = oag::test::decode_whole(gemini_decoder, two);
  REQUIRE(events.back().what == stream_event::type::done);
  std::vector<std::string> finishes;
  for (const auto& c : oag::test::chunks_of(events))
    for (const auto& ch : c["choices"])
      if (!ch["finish_reason"].is_null())
        finishes.push_back(std::to_string(ch["index"].get<int>()) + ch["finish_reason"].get<std::string>());
  CHECK(finishes == std::vector<std::string>{"0stop", "1tool_calls"});
  // Tool-call indices count per choice.
  auto chunks = oag::test::chunks_of(events);
  CHECK(chunks[3]["choices"][0]["index"] == 1);
  CHECK(chunks[3]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0);

  // Only one of two candidates finished: the stream was cut.
  const std::string half = sse({
      R"({"candidates":[{"content":{"parts":[{"text":"A"}]},"index":0},{"content":{"parts":[{"text":"B"}]},"index":1}]})",
      R"({"candidates":[{"finishReason":"STOP","index":0}]})"});
  CHECK(oag::test::decode_whole(gemini_decoder, half).back().what == stream_event::type::error);

  auto blocked = oag::test::decode_whole(
      gemini_decoder, sse({R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":5}})"}));
  REQUIRE(blocked.size() == 4);
  CHECK(blocked[1].data["choices"][0]["finish_reason"] == "content_filter");
  CHECK(blocked[2].data["usage"]["prompt_tokens"] == 5);
  CHECK(blocked[3].what == stream_event::type::done);
}

TEST_CASE("gemini errors map to OpenAI statuses without credentials", "[gemini]") {
  const auto& a = gemini_adapter();
  auto bad_key = a.upstream_failure(400, {}, R"({"error":{"code":400,
    "message":"API key not valid. Please pass a valid API key. key=AIzaSyTESTKEY0123456789abcdef",
    "status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}})");
  CHECK(oag::http_status_of(bad_key) == 502);
  CHECK(bad_key.code == oag::errc::upstream_error);
  CHECK(bad_key.message.find("credentials") != std::string::npos);
  CHECK(bad_key.message.find("AIzaSyTESTKEY") == std::string::npos);

  auto invalid = a.upstream_failure(400, {}, R"({"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}})");
  CHECK(oag::http_status_of(invalid) == 400);
  CHECK(invalid.code == oag::errc::invalid_request);
  CHECK(invalid.message == "Invalid JSON payload");

  for (int s : {401, 403}) {
    auto f = a.upstream_failure(s, {}, R"({"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}})");
    CHECK(oag::http_status_of(f) == 502);
    CHECK(f.message.find("credentials") != std::string::npos);
  }

  auto missing = a.upstream_failure(404, {}, R"({"error":{"code":404,"message":"models/nope is not found","status":"NOT_FOUND"}})");
  CHECK(oag::http_status_of(missing) == 404);
  CHECK(missing.code == oag::errc::model_not_found);

  auto limited = a.upstream_failure(429, {}, R"({"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED",
    "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36.2s"}]}})");
  CHECK(oag::http_status_of(limited) == 429);
  CHECK(limited.code == oag::errc::rate_limited);
  CHECK(limited.retry_after == std::optional<std::string>("37"));
  auto header_wins = a.upstream_failure(429, {{"Retry-After", "5"}}, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
    "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36s"}]}})");
  CHECK(header_wins.retry_after == std::optional<std::string>("5"));

  CHECK(oag::http_status_of(a.upstream_failure(503, {}, R"({"error":{"code":503,"status":"UNAVAILABLE"}})")) == 503);
  CHECK(oag::http_status_of(a.upstream_failure(500, {}, R"({"error":{"code":500,"status":"INTERNAL"}})")) == 502);
  CHECK(oag::http_status_of(a.upstream_failure(504, {}, "")) == 504);
  auto html = a.upstream_failure(502, {}, "<html>bad gateway</html>");
  CHECK(oag::http_status_of(html) == 502);
  CHECK(html.message == "upstream returned HTTP 502");
}

TEST_CASE("gemini embeddings: batchEmbedContents both ways, base64 on request", "[gemini]") {
  const json body = json::parse(R"({"model":"emb","input":["a","b"],"dimensions":3,"encoding_format":"base64"})");
  auto r = gemini_adapter().embeddings_request(body, "text-embedding-004", gemini_endpoint());
  REQUIRE(r);
  CHECK(r->target == "/v1beta/models/text-embedding-004:batchEmbedContents");
  CHECK(json::parse(r->body) == json::parse(R"({"requests":[
    {"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]},"outputDimensionality":3},
    {"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]},"outputDimensionality":3}]})"));
  CHECK_FALSE(gemini_adapter().embeddings_request(json::parse(R"({"input":[[1,2]]})"), "e", gemini_endpoint()));

  auto resp = gemini_adapter().embeddings_response(R"({"embeddings":[{"values":[1.0,-2.0]},{"values":[0.5]}]})");
  REQUIRE(resp);
  CHECK(*resp == json::parse(R"({"object":"list","data":[
    {"object":"embedding","index":0,"embedding":[1.0,-2.0]},
    {"object":"embedding","index":1,"embedding":[0.5]}]})"));
  json encoded = *resp;
  apply_encoding_format(body, encoded);
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (little-endian float32).
  CHECK(encoded["data"][0]["embedding"] == "AACAPwAAAMA=");
  CHECK(encoded["data"][1]["embedding"] == "AAAAPw==");
  json untouched = *resp;
  apply_encoding_format(json::parse(R"({"input":"x"})"), untouched);
  CHECK(untouched == *resp);
  CHECK_FALSE(gemini_adapter().embeddings_response(R"({"embedding":{"values":[1]}})"));
}

TEST_CASE("gemini_schema drops keywords Gemini rejects, at any depth", "[gemini]") {
  const json in = json::parse(R"({"type":"object","$schema":"x","$defs":{"a":{}},"additionalProperties":false,
    "properties":{"additionalProperties":{"type":"string","examples":["q"]},
                  "list":{"type":"array","items":{"$ref":"#/$defs/a","type":"object","properties":{"z":{"type":"number","format":"double","exclusiveMinimum":0}}}}}})");
  CHECK(gemini_schema(in) == json::parse(R"({"type":"object",
    "properties":{"additionalProperties":{"type":"string"},
                  "list":{"type":"array","items":{"type":"object","properties":{"z":{"type":"number","format":"double"}}}}}})"));
  CHECK(gemini_schema(json("scalar")) == json::object());
}
