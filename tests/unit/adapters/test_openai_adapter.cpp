#include <catch2/catch.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/openai_adapter.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint endpoint(std::string base, std::optional<std::string> key = "sk-test-123") {
  provider_endpoint ep;
  ep.name = "openai";
  ep.kind = "openai";
  ep.base_url = std::move(base);
  ep.api_key = std::move(key);
  return ep;
}

std::vector<stream_event> decode(std::string_view body, bool finish = true) {
  auto d = make_openai_stream_decoder();
  std::vector<stream_event> out;
  d->feed(body, out);
  if (finish) d->finish(out);
  return out;
}

const json chunk1 = json::parse(
    R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})");

} // namespace

TEST_CASE("find_adapter knows openai and mock", "[openai]") {
  REQUIRE(find_adapter("openai") == &openai_adapter());
  REQUIRE(find_adapter("mock") == &openai_adapter());
  REQUIRE(find_adapter("no-such-kind") == nullptr);
  REQUIRE(find_adapter("") == nullptr);
  CHECK(openai_adapter().kind() == "openai");
}

TEST_CASE("chat_request passes the body through, replacing only the model", "[openai]") {
  const json body = json::parse(R"({
    "model": "fast", "messages": [{"role":"user","content":"hi \u00e9"}],
    "temperature": 0.7, "x_vendor_field": {"keep": [1, 2.5, null]},
    "stream_options": {"include_obfuscation": false}
  })");
  auto r = openai_adapter().chat_request(body, "gpt-4o-mini", false,
                                         endpoint("https://api.openai.com/v1"));
  REQUIRE(r);
  CHECK(r->method == "POST");
  CHECK(r->target == "/v1/chat/completions");
  CHECK(r->origin.origin() == "https://api.openai.com:443");
  CHECK_FALSE(r->stream);
  json expected = body;
  expected["model"] = "gpt-4o-mini";
  CHECK(json::parse(r->body) == expected);  // include_usage not forced without streaming
  CHECK(find_header(r->headers, "content-type") == std::optional<std::string_view>("application/json"));
  CHECK(find_header(r->headers, "accept") == std::optional<std::string_view>("application/json"));
  CHECK(find_header(r->headers, "authorization") ==
        std::optional<std::string_view>("Bearer sk-test-123"));
}

TEST_CASE("chat_request forces stream and include_usage when streaming", "[openai]") {
  const json body = json::parse(R"({"model":"x","messages":[{"role":"user","content":"hi"}],
    "stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false}})");
  auto r = openai_adapter().chat_request(body, "gpt-4o", true, endpoint("https://h.example/v1/"));
  REQUIRE(r);
  CHECK(r->stream);
  CHECK(r->target == "/v1/chat/completions");
  json sent = json::parse(r->body);
  CHECK(sent["model"] == "gpt-4o");
  CHECK(sent["stream"] == true);
  CHECK(sent["stream_options"] == json::parse(R"({"include_obfuscation":false,"include_usage":true})"));
  CHECK(find_header(r->headers, "accept") == std::optional<std::string_view>("text/event-stream"));

  // Without stream_options at all, one is added.
  json plain = {{"model", "x"}, {"messages", json::array({{{"role", "user"}, {"content", "a"}}})}};
  auto s = openai_adapter().chat_request(plain, "m", true, endpoint("https://h.example"));
  REQUIRE(s);
  CHECK(json::parse(s->body)["stream_options"] == json{{"include_usage", true}});
  CHECK(s->target == "/chat/completions");

  // A streaming body sent as a plain call is turned into a plain call.
  auto t = openai_adapter().chat_request(body, "m", false, endpoint("https://h.example"));
  REQUIRE(t);
  json sent_t = json::parse(t->body);
  CHECK(sent_t["stream"] == false);
  CHECK_FALSE(sent_t.contains("stream_options"));
}

TEST_CASE("chat_request headers: no key, extra headers, injection", "[openai]") {
  json body = {{"model", "x"}, {"messages", json::array()}};
  auto ep = endpoint("https://openrouter.ai/api/v1", std::nullopt);
  ep.extra_headers = {{"HTTP-Referer", "https://oag.local"}, {"accept", "application/x-test"}};
  auto r = openai_adapter().chat_request(body, "m", false, ep);
  REQUIRE(r);
  CHECK_FALSE(find_header(r->headers, "authorization"));
  CHECK(find_header(r->headers, "http-referer") == std::optional<std::string_view>("https://oag.local"));
  CHECK(find_header(r->headers, "Accept") == std::optional<std::string_view>("application/x-test"));
  CHECK(r->target == "/api/v1/chat/completions");

  ep.extra_headers = {{"X-Bad", "a\r\nInjected: 1"}};
  auto bad = openai_adapter().chat_request(body, "m", false, ep);
  REQUIRE_FALSE(bad);
  CHECK(oag::http_status_of(bad.error()) == 400);

  auto keyed = endpoint("https://h.example", std::string("sk-abc\r\nX: y"));
  auto bad_key = openai_adapter().chat_request(body, "m", false, keyed);
  REQUIRE_FALSE(bad_key);
  CHECK(bad_key.error().message.find("sk-abc") == std::string::npos);

  REQUIRE_FALSE(openai_adapter().chat_request(json::array(), "m", false, endpoint("https://h.example")));
}

TEST_CASE("chat_request refuses plain http to remote hosts", "[openai]") {
  json body = {{"model", "x"}, {"messages", json::array()}};
  auto r = openai_adapter().chat_request(body, "m", false, endpoint("http://api.example.com/v1"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  CHECK(oag::http_status_of(r.error()) == 400);
  CHECK(r.error().message.find("allow_insecure_http") != std::string::npos);
  CHECK(r.error().message.find("sk-test") == std::string::npos);

  auto ep = endpoint("http://api.example.com/v1");
  ep.allow_insecure_http = true;
  CHECK(openai_adapter().chat_request(body, "m", false, ep));
  for (const char* local : {"http://localhost:11434/v1", "http://127.0.0.1:8080", "http://[::1]:9/v1"}) {
    INFO(local);
    CHECK(openai_adapter().chat_request(body, "m", false, endpoint(local)));
  }
  auto bad = openai_adapter().chat_request(body, "m", false, endpoint("ftp://x"));
  REQUIRE_FALSE(bad);
  CHECK(oag::http_status_of(bad.error()) == 400);
}

TEST_CASE("embeddings_request targets /embeddings", "[openai]") {
  json body = {{"model", "e"}, {"input", "hello"}, {"dimensions", 4}};
  auto r = openai_adapter().embeddings_request(body, "text-embedding-3-small",
                                               endpoint("https://api.openai.com/v1"));
  REQUIRE(r);
  CHECK(r->target == "/v1/embeddings");
  CHECK_FALSE(r->stream);
  json expected = body;
  expected["model"] = "text-embedding-3-small";
  CHECK(json::parse(r->body) == expected);
  CHECK(find_header(r->headers, "authorization") ==
        std::optional<std::string_view>("Bearer sk-test-123"));
}

TEST_CASE("chat_response and embeddings_response validate the shape", "[openai]") {
  auto ok = openai_adapter().chat_response(R"({"id":"x","object":"chat.completion","choices":[]})");
  REQUIRE(ok);
  CHECK((*ok)["id"] == "x");
  for (const char* bad : {"", "not json", "[]", "{}", R"({"choices":{}})"}) {
    INFO(bad);
    auto r = openai_adapter().chat_response(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == oag::errc::upstream_error);
    CHECK(oag::http_status_of(r.error()) == 502);
    CHECK(r.error().message == "upstream sent an invalid response");
  }
  auto err = openai_adapter().chat_response(R"({"error":{"message":"boom"}})");
  REQUIRE_FALSE(err);
  CHECK(err.error().message.find("boom") != std::string::npos);

  CHECK(openai_adapter().embeddings_response(R"({"object":"list","data":[]})"));
  CHECK_FALSE(openai_adapter().embeddings_response(R"({"object":"list"})"));
}

TEST_CASE("stream decoder: chunks then [DONE]", "[openai][stream]") {
  std::string body = "data: " + chunk1.dump() + "\n\n: keep-alive\n\ndata: [DONE]\n\n";
  auto events = decode(body);
  REQUIRE(events.size() == 2);
  CHECK(events[0].what == stream_event::type::chunk);
  CHECK(events[0].data == chunk1);
  CHECK(events[1].what == stream_event::type::done);
}

TEST_CASE("stream decoder: a stream without [DONE] fails on finish", "[openai][stream]") {
  auto events = decode("data: " + chunk1.dump() + "\n\n");
  REQUIRE(events.size() == 2);
  CHECK(events[0].what == stream_event::type::chunk);
  CHECK(events[1].what == stream_event::type::error);
  CHECK(events[1].error.message == "upstream closed the stream before it was complete");
  CHECK(oag::http_status_of(events[1].error) == 502);

  // Cut in the middle of a chunk: still the "closed" error, not a parse error.
  auto cut = decode("data: {\"id\":\"c1\",\"obj");
  REQUIRE(cut.size() == 1);
  CHECK(cut[0].error.message == "upstream closed the stream before it was complete");

  // [DONE] without the final blank line still counts as a clean end.
  auto lenient = decode("data: [DONE]");
  REQUIRE(lenient.size() == 1);
  CHECK(lenient[0].what == stream_event::type::done);

  // finish() after [DONE] adds nothing, and is idempotent.
  auto d = make_openai_stream_decoder();
  std::vector<stream_event> out;
  d->feed("data: [DONE]\n\n", out);
  d->finish(out);
  d->finish(out);
  REQUIRE(out.size() == 1);
}

TEST_CASE("stream decoder: upstream error data and invalid JSON", "[openai][stream]") {
  auto events = decode("data: " + chunk1.dump() +
                       "\n\ndata: {\"error\":{\"message\":\"overloaded, key sk-live-abcdef\","
                       "\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n");
  REQUIRE(events.size() == 2);
  CHECK(events[1].what == stream_event::type::error);
  CHECK(events[1].error.message.find("overloaded") != std::string::npos);
  CHECK(events[1].error.message.find("sk-live") == std::string::npos);
  CHECK(events[1].error.code == oag::errc::upstream_error);

  auto invalid = decode("data: {not json}\n\n");
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0].what == stream_event::type::error);
  CHECK(invalid[0].error.message == "upstream sent an invalid stream chunk");

  auto named = decode("event: error\ndata: {\"message\":\"bad thing\"}\n\n");
  REQUIRE(named.size() == 1);
  CHECK(named[0].what == stream_event::type::error);
  CHECK(named[0].error.message == "bad thing");
}

TEST_CASE("stream decoder: tool-call fragments and usage chunks are preserved", "[openai][stream]") {
  const char* frames[] = {
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Oslo\"}"}}]},"finish_reason":null}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}})",
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"prompt_filter_results":[]})",
  };
  std::string body;
  for (const char* f : frames) body += "data: " + std::string(f) + "\r\n\r\n";
  body += "data: [DONE]\r\n\r\n";
  // Feed byte by byte: fragments must survive arbitrary splits.
  auto d = make_openai_stream_decoder();
  std::vector<stream_event> out;
  for (char c : body) d->feed(std::string_view(&c, 1), out);
  d->finish(out);
  REQUIRE(out.size() == 6);  // the filter-only chunk is skipped
  std::string args;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(out[static_cast<std::size_t>(i)].what == stream_event::type::chunk);
    args += out[static_cast<std::size_t>(i)].data["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .get<std::string>();
  }
  CHECK(args == R"({"city":"Oslo"})");
  CHECK(out[0].data["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1");
  CHECK(out[3].data["choices"][0]["finish_reason"] == "tool_calls");
  auto usage = usage_of(out[4].data);
  REQUIRE(usage);
  CHECK(usage->input_tokens == 5);
  CHECK(usage->output_tokens == 3);
  CHECK(out[5].what == stream_event::type::done);
}

TEST_CASE("usage_of reads OpenAI usage", "[openai]") {
  auto u = usage_of(json::parse(
      R"({"usage":{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":40}}})"));
  REQUIRE(u);
  CHECK(u->input_tokens == 100);
  CHECK(u->cached_input_tokens == 40);
  CHECK(u->output_tokens == 20);
  CHECK_FALSE(usage_of(json::parse(R"({"usage":null})")));
  CHECK_FALSE(usage_of(json::parse(R"({"choices":[]})")));
  CHECK_FALSE(usage_of(json::parse(R"({"usage":{}})")));
  CHECK_FALSE(usage_of(json::parse("[1]")));
  auto clamped = usage_of(json::parse(
      R"({"usage":{"prompt_tokens":10,"completion_tokens":-5,"prompt_tokens_details":{"cached_tokens":99}}})"));
  REQUIRE(clamped);
  CHECK(clamped->output_tokens == 0);
  CHECK(clamped->cached_input_tokens == 10);
}

TEST_CASE("upstream_failure maps statuses", "[openai][errors]") {
  const auto& a = openai_adapter();

  SECTION("429 keeps Retry-After") {
    auto f = a.upstream_failure(429, {{"Retry-After", " 7 "}},
                                R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})");
    CHECK(f.code == oag::errc::rate_limited);
    CHECK(oag::http_status_of(f) == 429);
    CHECK(f.retry_after == std::optional<std::string>("7"));
    CHECK(f.message == "Rate limit reached");
    auto q = a.upstream_failure(429, {}, R"({"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}})");
    CHECK(q.message.find("OAG's account") != std::string::npos);
    CHECK_FALSE(q.retry_after);
  }
  SECTION("401/403 are OAG's credentials, not the client's") {
    for (int status : {401, 403}) {
      auto f = a.upstream_failure(status, {},
                                  R"({"error":{"message":"Incorrect API key provided: sk-proj-abc123****wxyz.","type":"invalid_request_error","code":"invalid_api_key"}})");
      CHECK(f.code == oag::errc::upstream_error);
      CHECK(oag::http_status_of(f) == 502);
      CHECK(f.message.find("rejected OAG's credentials") != std::string::npos);
      CHECK(f.message.find("sk-proj") == std::string::npos);
      CHECK(f.message.find("abc123") == std::string::npos);
      CHECK(oag::openai_code_of(f) == std::optional<std::string>("upstream_error"));
    }
  }
  SECTION("400/404/422 pass status, code and param") {
    auto f = a.upstream_failure(400, {},
                                R"({"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}})");
    CHECK(f.code == oag::errc::invalid_request);
    CHECK(oag::http_status_of(f) == 400);
    CHECK(f.error_code == std::optional<std::string>("invalid_value"));
    CHECK(f.param == std::optional<std::string>("temperature"));
    CHECK(f.message == "Invalid value for 'temperature'");

    auto nf = a.upstream_failure(404, {}, R"({"error":{"message":"The model `x` does not exist","code":"model_not_found"}})");
    CHECK(nf.code == oag::errc::model_not_found);
    CHECK(oag::http_status_of(nf) == 404);
    auto u = a.upstream_failure(422, {}, "<html>nope</html>");
    CHECK(oag::http_status_of(u) == 422);
    CHECK(u.message == "upstream returned HTTP 422");
  }
  SECTION("5xx and odd statuses become 502") {
    auto f = a.upstream_failure(503, {{"retry-after", "2"}}, "Service Unavailable");
    CHECK(f.code == oag::errc::upstream_error);
    CHECK(oag::http_status_of(f) == 502);
    CHECK(f.message == "upstream returned HTTP 503");
    CHECK(f.retry_after == std::optional<std::string>("2"));
    auto g = a.upstream_failure(500, {}, R"({"error":{"message":"The server had an error"}})");
    CHECK(g.message == "upstream returned HTTP 500: The server had an error");
    auto h = a.upstream_failure(418, {}, "");
    CHECK(oag::http_status_of(h) == 502);
  }
  SECTION("messages are scrubbed and clipped; odd retry-after is dropped") {
    auto f = a.upstream_failure(500, {{"Retry-After", "1\r\nX: y"}},
                                R"({"error":{"message":"echo: Authorization: Bearer abc.def-ghi and api_key=\"s3cr3t\""}})");
    CHECK(f.message.find("abc.def") == std::string::npos);
    CHECK(f.message.find("s3cr3t") == std::string::npos);
    CHECK(f.message.find("Bearer [redacted]") != std::string::npos);
    CHECK_FALSE(f.retry_after);
    json big = {{"error", {{"message", std::string(10000, 'x')}}}};
    auto g = a.upstream_failure(400, {}, big.dump());
    CHECK(g.message.size() < 2100);
  }
}

TEST_CASE("scrub_credentials", "[openai][errors]") {
  CHECK(scrub_credentials("key sk-proj-AbC_12*** is bad.") == "key [redacted] is bad.");
  CHECK(scrub_credentials("bearer xyz123") == "bearer [redacted]");
  CHECK(scrub_credentials("a task-force and desk-lamp") == "a task-force and desk-lamp");
  CHECK(scrub_credentials("key=AIzaSyA1234567890abcdefghij") == "key=[redacted]");
  CHECK(scrub_credentials("x-api-key: abc123") == "x-api-key: [redacted]");
  CHECK(scrub_credentials("nothing here") == "nothing here");
  CHECK(scrub_credentials("你好 sk-ant-api03-zzz 世界") == "你好 [redacted] 世界");
}
