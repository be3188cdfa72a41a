#include <catch2/catch.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/embeddings_format.hpp"
#include "oag/adapters/ollama_adapter.hpp"
#include "stream_test_util.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint ollama_endpoint(std::string base = "", std::optional<std::string> key = std::nullopt) {
  provider_endpoint ep;
  ep.name = "local";
  ep.kind = "ollama";
  ep.base_url = std::move(base);
  ep.api_key = std::move(key);
  return ep;
}

const oag::test::decoder_factory ollama_decoder = [] { return make_ollama_stream_decoder(); };

std::string line(const std::string& content_json, bool done = false, const std::string& extra = "") {
  return R"({"model":"llama3.2","created_at":"2025-07-07T20:22:19.18Z","message":)" + content_json +
         R"(,"done":)" + (done ? "true" : "false") + extra + "}\n";
}

} // namespace

TEST_CASE("ollama is registered with its default local base URL", "[ollama]") {
  REQUIRE(find_adapter("ollama") == &ollama_adapter());
  CHECK(ollama_adapter().kind() == "ollama");
  CHECK(ollama_adapter().default_base_url() == std::optional<std::string>("http://localhost:11434"));
}

TEST_CASE("ollama request: exact /api/chat payload", "[ollama]") {
  const json body = json::parse(R"({
    "model": "local",
    "messages": [
      {"role": "system", "content": "Be terse."},
      {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
        {"id": "call_y", "type": "function", "function": {"name": "get_time", "arguments": ""}}]},
      {"role": "tool", "tool_call_id": "call_x", "content": "{\"temp_c\":4}"},
      {"role": "tool", "tool_call_id": "call_y", "content": [{"type": "text", "text": "noon"}]},
      {"role": "developer", "content": "Answer in French."},
      {"role": "user", "content": "Summary?"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
      "strict": true, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "temperature": 0.1, "top_p": 0.5, "max_tokens": 128, "stop": ["END", "STOP"], "seed": 42,
    "response_format": {"type": "json_schema", "json_schema": {"name": "x",
      "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
  })");
  auto r = ollama_adapter().chat_request(body, "llama3.2", false, ollama_endpoint());
  REQUIRE(r);
  CHECK(r->origin.origin() == "http://localhost:11434");
  CHECK(r->target == "/api/chat");
  CHECK_FALSE(r->stream);
  CHECK_FALSE(find_header(r->headers, "authorization"));
  const json expected = json::parse(R"({
    "model": "llama3.2",
    "stream": false,
    "messages": [
      {"role": "system", "content": "Be terse."},
      {"role": "user", "content": "What is this?", "images": ["/9j/4AAQ"]},
      {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
        {"function": {"name": "get_time", "arguments": {}}}]},
      {"role": "tool", "content": "{\"temp_c\":4}", "tool_name": "get_weather"},
      {"role": "tool", "content": "noon", "tool_name": "get_time"},
      {"role": "system", "content": "Answer in French."},
      {"role": "user", "content": "Summary?"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "format": {"type": "object", "properties": {"a": {"type": "integer"}}},
    "options": {"temperature": 0.1, "top_p": 0.5, "num_predict": 128, "stop": ["END", "STOP"], "seed": 42}
  })");
  CHECK(json::parse(r->body) == expected);
}

TEST_CASE("ollama request: streaming, json mode, tool_choice none, remote images, keys", "[ollama]") {
  json body = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
    "response_format":{"type":"json_object"},"tool_choice":"none",
    "tools":[{"type":"function","function":{"name":"f"}}]})");
  auto r = ollama_adapter().chat_request(body, "qwen2.5:7b", true,
                                         ollama_endpoint("https://ollama.example.com/", "secret"));
  REQUIRE(r);
  CHECK(r->stream);
  CHECK(r->origin.origin() == "https://ollama.example.com:443");
  CHECK(r->target == "/api/chat");
  CHECK(find_header(r->headers, "accept") == std::optional<std::string_view>("application/x-ndjson"));
  CHECK(find_header(r->headers, "authorization") == std::optional<std::string_view>("Bearer secret"));
  CHECK(json::parse(r->body) == json::parse(R"({"model":"qwen2.5:7b","stream":true,"format":"json",
    "messages":[{"role":"user","content":"hi"}]})"));

  json remote = json::parse(R"({"model":"m","messages":[{"role":"user","content":[
    {"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]})");
  auto bad = ollama_adapter().chat_request(remote, "m", false, ollama_endpoint());
  REQUIRE_FALSE(bad);
  CHECK(bad.error().param == std::optional<std::string>("messages[0].content[0].image_url.url"));

  // Plain http to a remote host carries prompts unencrypted: refused.
  CHECK_FALSE(ollama_adapter().chat_request(body, "m", false, ollama_endpoint("http://10.1.2.3:11434")));
}

TEST_CASE("ollama response: tool calls get ids and string arguments, usage, length", "[ollama]") {
  auto r = ollama_adapter().chat_response(R"({"model":"llama3.2","created_at":"2025-07-07T20:22:19Z",
    "message":{"role":"assistant","content":"","tool_calls":[
      {"function":{"name":"get_weather","arguments":{"city":"Oslo"}}},
      {"function":{"index":1,"name":"get_weather","arguments":{"city":"Bergen"}}}]},
    "done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":12})");
  REQUIRE(r);
  const json& c = (*r)["choices"][0];
  CHECK((*r)["object"] == "chat.completion");
  CHECK((*r)["model"] == "llama3.2");
  CHECK(c["finish_reason"] == "tool_calls");
  CHECK(c["message"]["content"].is_null());
  CHECK(c["message"]["tool_calls"] == json::parse(R"([
    {"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
    {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bergen\"}"}}])"));
  CHECK((*r)["usage"]["prompt_tokens"] == 26);
  CHECK((*r)["usage"]["completion_tokens"] == 12);
  CHECK((*r)["usage"]["total_tokens"] == 38);

  auto longer = ollama_adapter().chat_response(R"({"model":"m","message":{"role":"assistant","content":"Hi"},
    "done":true,"done_reason":"length","eval_count":1})");
  REQUIRE(longer);
  CHECK((*longer)["choices"][0]["finish_reason"] == "length");
  CHECK((*longer)["choices"][0]["message"]["content"] == "Hi");
  CHECK((*longer)["usage"]["prompt_tokens"] == 0);

  CHECK_FALSE(ollama_adapter().chat_response(R"({"error":"boom"})"));
  CHECK_FALSE(ollama_adapter().chat_response(R"({"done":true})"));
  CHECK_FALSE(ollama_adapter().chat_response("not json"));
}

TEST_CASE("ollama stream: parallel tool calls get indices 0..n-1 and never merge", "[ollama]") {
  const std::string body =
      line(R"({"role":"assistant","content":"Checking"})") +
      line(R"({"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Oslo"}}},{"function":{"name":"get_weather","arguments":{"city":"Bergen"}}}]})") +
      line(R"({"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_time","arguments":{}}}]})") +
      line(R"({"role":"assistant","content":""})", true,
           R"(,"done_reason":"stop","prompt_eval_count":30,"eval_count":20)");
  const auto events = oag::test::decode_whole(ollama_decoder, body);
  REQUIRE(events.size() == 8);
  CHECK(events.back().what == stream_event::type::done);
  const auto chunks = oag::test::chunks_of(events);
  for (const auto& c : chunks) {
    CHECK(c["id"] == chunks[0]["id"]);
    CHECK(c["object"] == "chat.completion.chunk");
    CHECK(c["model"] == "llama3.2");
  }
  CHECK(chunks[0]["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
  CHECK(chunks[1]["choices"][0]["delta"] == json{{"content", "Checking"}});
  std::vector<json> calls;
  for (std::size_t i = 2; i <= 4; ++i) {
    const json& tc = chunks[i]["choices"][0]["delta"]["tool_calls"];
    REQUIRE(tc.size() == 1);
    calls.push_back(tc[0]);
  }
  CHECK(calls[0] == json::parse(R"({"index":0,"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}})"));
  CHECK(calls[1] == json::parse(R"({"index":1,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bergen\"}"}})"));
  CHECK(calls[2] == json::parse(R"({"index":2,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}})"));
  CHECK(chunks[5]["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(chunks[6]["choices"] == json::array());
  CHECK(chunks[6]["usage"]["prompt_tokens"] == 30);
  CHECK(chunks[6]["usage"]["completion_tokens"] == 20);

  std::string diff;
  CHECK(oag::test::split_invariant(ollama_decoder, body, &diff));
  INFO(diff);
  // CRLF line ends and a last line without its newline decode the same.
  std::string crlf;
  for (char ch : body) crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
  CHECK(oag::test::render(oag::test::decode_whole(ollama_decoder, crlf)) == oag::test::render(events));
  CHECK(oag::test::render(oag::test::decode_whole(ollama_decoder, body.substr(0, body.size() - 1))) ==
        oag::test::render(events));
}

TEST_CASE("ollama stream: text with length, cut streams and error lines", "[ollama]") {
  const std::string text = line(R"({"role":"assistant","content":"Hel"})") +
                           line(R"({"role":"assistant","content":"lo"})") +
                           line(R"({"role":"assistant","content":""})", true,
                                R"(,"done_reason":"length","prompt_eval_count":3,"eval_count":2)");
  auto events = oag::test::decode_whole(ollama_decoder, text);
  REQUIRE(events.size() == 6);
  CHECK(events[3].data["choices"][0]["finish_reason"] == "length");
  CHECK(events[5].what == stream_event::type::done);
  std::string diff;
  CHECK(oag::test::split_invariant(ollama_decoder, text, &diff));
  INFO(diff);

  // Every cut before the done line is complete is an error, never a clean end.
  const std::size_t last_brace = text.rfind('}');
  for (std::size_t i = 0; i < last_brace; ++i) {
    auto ev = oag::test::decode_whole(ollama_decoder, text.substr(0, i));
    REQUIRE_FALSE(ev.empty());
    CHECK(ev.back().what == stream_event::type::error);
  }

  auto err = oag::test::decode_whole(ollama_decoder,
                                     line(R"({"role":"assistant","content":"a"})") +
                                         "{\"error\":\"out of memory; Authorization: Bearer abc123\"}\n");
  REQUIRE(err.size() == 3);
  CHECK(err[2].what == stream_event::type::error);
  CHECK(err[2].error.message.find("out of memory") != std::string::npos);
  CHECK(err[2].error.message.find("abc123") == std::string::npos);

  auto garbage = oag::test::decode_whole(ollama_decoder, "{\"model\":\n");
  REQUIRE(garbage.size() == 1);
  CHECK(garbage[0].what == stream_event::type::error);
}

TEST_CASE("ollama errors map to OpenAI statuses", "[ollama]") {
  const auto& a = ollama_adapter();
  auto missing = a.upstream_failure(404, {}, R"({"error":"model 'llama9' not found, try pulling it first"})");
  CHECK(oag::http_status_of(missing) == 404);
  CHECK(missing.code == oag::errc::model_not_found);
  CHECK(missing.message == "model 'llama9' not found, try pulling it first");
  auto bad = a.upstream_failure(400, {}, R"({"error":"invalid options"})");
  CHECK(oag::http_status_of(bad) == 400);
  CHECK(bad.code == oag::errc::invalid_request);
  auto limited = a.upstream_failure(429, {{"retry-after", "3"}}, R"({"error":"busy"})");
  CHECK(oag::http_status_of(limited) == 429);
  CHECK(limited.retry_after == std::optional<std::string>("3"));
  auto denied = a.upstream_failure(401, {}, R"({"error":"bad token sk-live-abcdef123456"})");
  CHECK(oag::http_status_of(denied) == 502);
  CHECK(denied.message.find("abcdef123456") == std::string::npos);
  CHECK(oag::http_status_of(a.upstream_failure(500, {}, R"({"error":"llama runner crashed"})")) == 502);
  CHECK(oag::http_status_of(a.upstream_failure(503, {}, "")) == 503);
}

TEST_CASE("ollama embeddings via /api/embed", "[ollama]") {
  const json body = json::parse(R"({"model":"e","input":["a","b"],"dimensions":2,"encoding_format":"base64"})");
  auto r = ollama_adapter().embeddings_request(body, "nomic-embed-text", ollama_endpoint());
  REQUIRE(r);
  CHECK(r->target == "/api/embed");
  CHECK(json::parse(r->body) == json::parse(R"({"model":"nomic-embed-text","input":["a","b"],"dimensions":2})"));
  CHECK_FALSE(ollama_adapter().embeddings_request(json::parse(R"({"input":[1,2]})"), "e", ollama_endpoint()));

  auto resp = ollama_adapter().embeddings_response(
      R"({"model":"nomic-embed-text","embeddings":[[1.0,-2.0],[0.5,0.5]],"prompt_eval_count":4})");
  REQUIRE(resp);
  CHECK((*resp)["object"] == "list");
  CHECK((*resp)["data"][1] == json::parse(R"({"object":"embedding","index":1,"embedding":[0.5,0.5]})"));
  CHECK((*resp)["usage"] == json::parse(R"({"prompt_tokens":4,"total_tokens":4})"));
  json encoded = *resp;
  apply_encoding_format(body, encoded);
  CHECK(encoded["data"][0]["embedding"] == "AACAPwAAAMA=");
  CHECK_FALSE(ollama_adapter().embeddings_response(R"({"embeddings":[1,2]})"));
}
