#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/catalog.hpp"
#include "oag/adapters/compat_adapters.hpp"
#include "stream_test_util.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint endpoint(std::string kind, std::string base = "",
                           std::optional<std::string> key = "sk-test-key-123") {
  provider_endpoint ep;
  ep.name = kind + "-main";
  ep.kind = std::move(kind);
  ep.base_url = std::move(base);
  ep.api_key = std::move(key);
  return ep;
}

const provider_adapter& adapter(std::string_view kind) {
  const provider_adapter* a = find_adapter(kind);
  REQUIRE(a != nullptr);
  return *a;
}

json sent(std::string_view kind, const json& body, bool stream = false) {
  auto r = adapter(kind).chat_request(body, "model-x", stream, endpoint(std::string(kind)));
  REQUIRE(r);
  return json::parse(r->body);
}

oag::test::decoder_factory decoder_of(std::string_view kind) {
  const provider_adapter* a = find_adapter(kind);
  return [a] { return a->chat_stream_decoder(); };
}

std::string sse(const std::vector<std::string>& payloads, bool done = true) {
  std::string out;
  for (const auto& p : payloads) out += "data: " + p + "\n\n";
  if (done) out += "data: [DONE]\n\n";
  return out;
}

const json hello = json::parse(R"({"model":"alias","messages":[{"role":"user","content":"hi"}]})");

} // namespace

TEST_CASE("presets are registered with their base URLs and Bearer auth", "[presets]") {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"deepseek", "https://api.deepseek.com/v1"},   {"groq", "https://api.groq.com/openai/v1"},
      {"mistral", "https://api.mistral.ai/v1"},      {"xai", "https://api.x.ai/v1"},
      {"openrouter", "https://openrouter.ai/api/v1"}, {"together", "https://api.together.xyz/v1"}};
  for (const auto& [kind, base] : table) {
    INFO(kind);
    const auto& a = adapter(kind);
    CHECK(a.kind() == kind);
    CHECK(openai_preset_adapter(kind) == &a);
    CHECK(a.default_base_url() == std::optional<std::string>(base));
    auto r = a.chat_request(hello, "m1", false, endpoint(kind));
    REQUIRE(r);
    auto parsed = parse_url(base);
    REQUIRE(parsed);
    CHECK(r->origin.origin() == parsed->origin());
    CHECK(r->target == parsed->path + "/chat/completions");
    CHECK(find_header(r->headers, "authorization") ==
          std::optional<std::string_view>("Bearer sk-test-key-123"));
    CHECK(json::parse(r->body) == json::parse(R"({"model":"m1","messages":[{"role":"user","content":"hi"}]})"));
    auto e = a.embeddings_request(json::parse(R"({"model":"e","input":"x"})"), "emb", endpoint(kind));
    REQUIRE(e);
    CHECK(e->target == parsed->path + "/embeddings");
    // A configured base URL wins over the default.
    auto own = a.chat_request(hello, "m1", false, endpoint(kind, "https://proxy.example/v1"));
    REQUIRE(own);
    CHECK(own->origin.origin() == "https://proxy.example:443");
    CHECK(own->target == "/v1/chat/completions");
  }
  CHECK(openai_preset_adapter("openai") == nullptr);
  CHECK(openai_preset_adapter("azure") == nullptr);
  CHECK(find_adapter("azure") == &azure_adapter());
  CHECK(azure_adapter().default_base_url() == std::nullopt);
}

TEST_CASE("streaming presets ask for usage, except mistral which rejects stream_options",
          "[presets]") {
  for (const char* kind : {"deepseek", "groq", "xai", "openrouter", "together"}) {
    INFO(kind);
    const json s = sent(kind, hello, true);
    CHECK(s["stream"] == true);
    CHECK(s["stream_options"] == json{{"include_usage", true}});
  }
  json with_options = hello;
  with_options["stream_options"] = {{"include_usage", true}};
  const json m = sent("mistral", with_options, true);
  CHECK(m["stream"] == true);
  CHECK_FALSE(m.contains("stream_options"));
}

TEST_CASE("deepseek and xai drop reasoning_content from history", "[presets]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"user","content":"2+2?"},
    {"role":"assistant","content":"4","reasoning_content":"two plus two..."},
    {"role":"user","content":"and 3+3?"}]})");
  for (const char* kind : {"deepseek", "xai"}) {
    const json s = sent(kind, body);
    CHECK_FALSE(s["messages"][1].contains("reasoning_content"));
    CHECK(s["messages"][1]["content"] == "4");
  }
  CHECK(sent("groq", body)["messages"][1].contains("reasoning_content"));
}

TEST_CASE("mistral dialect: any, random_seed, strict fields, 9-character tool ids", "[presets]") {
  const json body = json::parse(R"({"model":"m","seed":11,"max_completion_tokens":50,"user":"u1",
    "store":false,"metadata":{"a":"b"},"logprobs":false,"tool_choice":"required",
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
    "messages":[
      {"role":"user","content":"go"},
      {"role":"assistant","content":null,"refusal":null,"annotations":[],"tool_calls":[
        {"id":"call_abc123def456","type":"function","function":{"name":"f","arguments":"{}"}},
        {"id":"Ab3dE6gH9","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_abc123def456","content":"ok"},
      {"role":"tool","tool_call_id":"Ab3dE6gH9","content":"ok"}]})");
  const json s = sent("mistral", body);
  CHECK(s["tool_choice"] == "any");
  CHECK(s["random_seed"] == 11);
  CHECK(s["max_tokens"] == 50);
  for (const char* gone : {"seed", "max_completion_tokens", "user", "store", "metadata", "logprobs"})
    CHECK_FALSE(s.contains(gone));
  const json& calls = s["messages"][1]["tool_calls"];
  CHECK_FALSE(s["messages"][1].contains("refusal"));
  CHECK_FALSE(s["messages"][1].contains("annotations"));
  const std::string mapped = calls[0]["id"];
  CHECK(mapped.size() == 9);
  CHECK(mapped.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
        std::string::npos);
  CHECK(s["messages"][2]["tool_call_id"] == mapped);  // a call and its result still match
  CHECK(calls[1]["id"] == "Ab3dE6gH9");              // already valid ids are kept
  CHECK(s["messages"][3]["tool_call_id"] == "Ab3dE6gH9");

  json named = body;
  named["tool_choice"] = {{"type", "function"}, {"function", {{"name", "f"}}}};
  CHECK(sent("mistral", named)["tool_choice"] == named["tool_choice"]);
  // Other presets keep OpenAI's spelling.
  CHECK(sent("groq", body)["tool_choice"] == "required");
  CHECK(sent("groq", body)["seed"] == 11);
}

TEST_CASE("together: tool_choice none drops the tools, required becomes auto", "[presets]") {
  json body = json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
    "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"})");
  const json none = sent("together", body);
  CHECK_FALSE(none.contains("tools"));
  CHECK_FALSE(none.contains("tool_choice"));
  body["tool_choice"] = "required";
  const json req = sent("together", body);
  CHECK(req["tool_choice"] == "auto");
  CHECK(req["tools"].size() == 1);
  body["tool_choice"] = "auto";
  CHECK(sent("together", body)["tool_choice"] == "auto");
}

TEST_CASE("xai: empty content elements are dropped", "[presets]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"system","content":""},
    {"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"hi"}]},
    {"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c","content":"done"},
    {"role":"user","content":[{"type":"text","text":""}]}]})");
  const json s = sent("xai", body);
  CHECK(s["messages"] == json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"hi"}]},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c","content":"done"}])"));
  CHECK(sent("deepseek", body)["messages"].size() == 5);
}

TEST_CASE("openrouter: attribution headers pass, comments are ignored, no dimensions",
          "[presets]") {
  auto ep = endpoint("openrouter");
  ep.extra_headers = {{"HTTP-Referer", "https://app.example"}, {"X-Title", "My App"}};
  auto r = adapter("openrouter").chat_request(hello, "anthropic/claude-sonnet-4", true, ep);
  REQUIRE(r);
  CHECK(find_header(r->headers, "http-referer") == std::optional<std::string_view>("https://app.example"));
  CHECK(find_header(r->headers, "x-title") == std::optional<std::string_view>("My App"));
  CHECK(json::parse(r->body)["model"] == "anthropic/claude-sonnet-4");

  // Keep-alive comment lines before and between events.
  const std::string comment = ": OPENROUTER PROCESSING\n\n";
  const std::string real =
      comment +
      sse({R"({"id":"gen-1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]})"}, false) +
      comment +
      sse({R"({"id":"gen-1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})",
           R"({"id":"gen-1","object":"chat.completion.chunk","created":5,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})"});
  auto events = oag::test::decode_whole(decoder_of("openrouter"), real);
  REQUIRE(events.size() == 4);
  CHECK(events[0].data["choices"][0]["delta"]["content"] == "Hi");
  CHECK(events[2].data["usage"]["total_tokens"] == 4);
  CHECK(events[3].what == stream_event::type::done);

  auto e = adapter("openrouter").embeddings_request(json::parse(R"({"model":"e","input":"x","dimensions":64})"),
                                                    "openai/text-embedding-3-small", endpoint("openrouter"));
  REQUIRE(e);
  CHECK_FALSE(json::parse(e->body).contains("dimensions"));
}

TEST_CASE("preset streams deliver usage as one final usage chunk", "[presets]") {
  // Groq: usage inside x_groq on the last chunk.
  const std::string groq = sse({
      R"({"id":"c1","object":"chat.completion.chunk","created":7,"model":"llama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"x_groq":{"id":"req_1"}})",
      R"({"id":"c1","object":"chat.completion.chunk","created":7,"model":"llama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6,"queue_time":0.01}}})"});
  auto g = oag::test::decode_whole(decoder_of("groq"), groq);
  REQUIRE(g.size() == 4);
  CHECK(g[1].data["choices"][0]["finish_reason"] == "stop");
  CHECK_FALSE(g[1].data["x_groq"].contains("usage"));
  CHECK(g[2].data["choices"] == json::array());
  CHECK(g[2].data["id"] == "c1");
  CHECK(g[2].data["created"] == 7);
  CHECK(g[2].data["usage"]["prompt_tokens"] == 5);
  CHECK(usage_of(g[2].data)->output_tokens == 1);
  CHECK(g[3].what == stream_event::type::done);
  std::string diff;
  CHECK(oag::test::split_invariant(decoder_of("groq"), groq, &diff));
  INFO(diff);

  // Mistral / Together: usage on the last choice chunk.
  const std::string mistral = sse({
      R"({"id":"m1","object":"chat.completion.chunk","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"role":"assistant","content":"Bon"},"finish_reason":null}]})",
      R"({"id":"m1","object":"chat.completion.chunk","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"content":"jour"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})"});
  auto m = oag::test::decode_whole(decoder_of("mistral"), mistral);
  REQUIRE(m.size() == 4);
  CHECK_FALSE(m[1].data.contains("usage"));
  CHECK(m[1].data["choices"][0]["delta"]["content"] == "jour");
  CHECK(m[2].data["usage"]["total_tokens"] == 6);
  CHECK(m[3].what == stream_event::type::done);
  CHECK(oag::test::split_invariant(decoder_of("mistral"), mistral, &diff));
  INFO(diff);

  // Usage in both places still yields exactly one usage chunk.
  const std::string both = sse({
      R"({"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}],"x_groq":{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}})",
      R"({"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})"});
  int usage_chunks = 0;
  for (const auto& c : oag::test::chunks_of(oag::test::decode_whole(decoder_of("groq"), both)))
    usage_chunks += c.contains("usage") ? 1 : 0;
  CHECK(usage_chunks == 1);

  // A cut stream stays an error (usage seen so far is still reported).
  auto cut = oag::test::decode_whole(decoder_of("mistral"), sse({
      R"({"id":"m1","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]})"}, false));
  REQUIRE(cut.size() == 2);
  CHECK(cut[1].what == stream_event::type::error);
}

TEST_CASE("azure: deployments path, api-version, api-key header", "[azure]") {
  const auto& a = azure_adapter();
  CHECK(a.kind() == "azure");
  auto r = a.chat_request(hello, "gpt4o-prod", false, endpoint("azure", "https://res.openai.azure.com"));
  REQUIRE(r);
  CHECK(r->origin.origin() == "https://res.openai.azure.com:443");
  CHECK(r->target == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  CHECK(find_header(r->headers, "api-key") == std::optional<std::string_view>("sk-test-key-123"));
  CHECK_FALSE(find_header(r->headers, "authorization"));
  CHECK(json::parse(r->body) == json::parse(R"({"model":"gpt4o-prod","messages":[{"role":"user","content":"hi"}]})"));

  auto v = a.chat_request(hello, "my deployment", true,
                          endpoint("azure", "https://res.openai.azure.com/openai/?api-version=2025-04-01-preview"));
  REQUIRE(v);
  CHECK(v->target == "/openai/deployments/my%20deployment/chat/completions?api-version=2025-04-01-preview");
  CHECK(json::parse(v->body)["stream_options"] == json{{"include_usage", true}});

  auto e = a.embeddings_request(json::parse(R"({"model":"e","input":"x"})"), "emb-small",
                                endpoint("azure", "https://res.openai.azure.com?foo=1&api-version=2024-06-01"));
  REQUIRE(e);
  CHECK(e->target == "/openai/deployments/emb-small/embeddings?api-version=2024-06-01");

  CHECK_FALSE(a.chat_request(hello, "d", false, endpoint("azure", "https://res.openai.azure.com?api-version=x%0d")));
  CHECK_FALSE(a.chat_request(hello, "d", false, endpoint("azure", "")));  // a base URL is required

  auto split = split_azure_base_url("https://r.example/openai?api-version=2024-02-01");
  REQUIRE(split);
  CHECK(split->base_url == "https://r.example/openai");
  CHECK(split->api_version == "2024-02-01");
  CHECK(split_azure_base_url("https://r.example")->api_version == std::string(azure_default_api_version));
}

TEST_CASE("azure stream: filter-only chunks skipped, content_filter passes, usage last", "[azure]") {
  const std::string body = sse({
      R"({"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]})",
      R"({"id":"chatcmpl-a","object":"chat.completion.chunk","created":3,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"No"},"finish_reason":null,"content_filter_results":{}}]})",
      R"({"id":"chatcmpl-a","object":"chat.completion.chunk","created":3,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]})",
      R"({"id":"chatcmpl-a","object":"chat.completion.chunk","created":3,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0}}})"});
  auto events = oag::test::decode_whole(decoder_of("azure"), body);
  REQUIRE(events.size() == 4);
  CHECK(events[0].data["choices"][0]["delta"]["content"] == "No");
  CHECK(events[1].data["choices"][0]["finish_reason"] == "content_filter");
  CHECK(events[2].data["usage"]["prompt_tokens"] == 9);
  CHECK(events[2].data["id"] == "chatcmpl-a");
  CHECK(events[3].what == stream_event::type::done);
  std::string diff;
  CHECK(oag::test::split_invariant(decoder_of("azure"), body, &diff));
  INFO(diff);

  auto full = azure_adapter().chat_response(R"({"id":"x","object":"chat.completion","created":1,"model":"gpt-4o",
    "prompt_filter_results":[],"choices":[{"index":0,"finish_reason":"content_filter","message":{"role":"assistant","content":null}}],
    "usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}})");
  REQUIRE(full);
  CHECK((*full)["choices"][0]["finish_reason"] == "content_filter");
}

TEST_CASE("azure and preset errors: statuses, scrubbing, unknown models", "[azure][presets]") {
  auto deployment = azure_adapter().upstream_failure(404, {}, R"({"error":{"code":"DeploymentNotFound",
    "message":"The API deployment for this resource does not exist."}})");
  CHECK(oag::http_status_of(deployment) == 404);
  CHECK(deployment.code == oag::errc::model_not_found);

  auto creds = azure_adapter().upstream_failure(401, {}, R"({"error":{"code":"401",
    "message":"Access denied due to invalid subscription key. api-key: 0123456789abcdef"}})");
  CHECK(oag::http_status_of(creds) == 502);
  CHECK(creds.message.find("0123456789abcdef") == std::string::npos);

  auto ds = adapter("deepseek").upstream_failure(400, {}, R"({"error":{"message":"Model Not Exist",
    "type":"invalid_request_error","code":"invalid_request_error"}})");
  CHECK(oag::http_status_of(ds) == 404);
  CHECK(ds.code == oag::errc::model_not_found);

  auto strict = adapter("mistral").upstream_failure(422, {}, R"({"object":"error","message":{"detail":[
    {"type":"extra_forbidden","loc":["body","foo"],"msg":"Extra inputs are not permitted"}]},
    "type":"invalid_request_error","param":null,"code":null})");
  CHECK(oag::http_status_of(strict) == 422);
  CHECK(strict.message.find("Extra inputs are not permitted") != std::string::npos);

  auto limited = adapter("groq").upstream_failure(429, {{"Retry-After", "2"}},
                                                  R"({"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}})");
  CHECK(oag::http_status_of(limited) == 429);
  CHECK(limited.retry_after == std::optional<std::string>("2"));

  auto key = adapter("together").upstream_failure(401, {}, R"({"error":{"message":"Invalid API key sk-abcdefgh12345"}})");
  CHECK(oag::http_status_of(key) == 502);
  CHECK(key.message.find("abcdefgh12345") == std::string::npos);
}

TEST_CASE("config/prices.json prices the common models of every new kind", "[presets][azure]") {
  std::ifstream f(std::string{OAG_SOURCE_DIR} + "/config/prices.json");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  auto cat = catalog::parse(json::parse(ss.str()));
  INFO((cat ? std::string() : cat.error().message));
  REQUIRE(cat);
  const std::vector<std::pair<const char*, const char*>> paid = {
      {"gemini", "gemini-2.5-flash"}, {"gemini", "gemini-2.5-pro"}, {"gemini", "gemini-2.0-flash"},
      {"azure", "gpt-4o"}, {"azure", "gpt-4o-mini"}, {"deepseek", "deepseek-chat"},
      {"deepseek", "deepseek-reasoner"}, {"groq", "llama-3.3-70b-versatile"},
      {"groq", "llama-3.1-8b-instant"}, {"mistral", "mistral-large-latest"},
      {"mistral", "mistral-small-latest"}, {"xai", "grok-3"}, {"xai", "grok-3-mini"},
      {"openrouter", "openai/gpt-4o-mini"}, {"together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"}};
  for (const auto& [kind, model] : paid) {
    INFO(kind << "/" << model);
    auto info = cat->find(kind, model);
    REQUIRE(info);
    CHECK(info->price.input_musd_per_mtok > 0);
    CHECK(info->price.output_musd_per_mtok > 0);
    CHECK(info->price.cached_input_musd_per_mtok <= info->price.input_musd_per_mtok);
    CHECK(info->max_output_tokens <= info->context_window);
    CHECK_FALSE(info->embeddings);
  }
  for (const char* model : {"llama3.2", "qwen2.5"}) {
    auto local = cat->find("ollama", model);
    REQUIRE(local);
    CHECK(local->price.input_musd_per_mtok == 0);  // local models cost nothing
    CHECK(local->price.output_musd_per_mtok == 0);
  }
  REQUIRE(cat->find("gemini", "text-embedding-004"));
  CHECK(cat->find("gemini", "text-embedding-004")->embeddings);
  CHECK(cat->find("gemini", "gemini-2.5-flash")->price.cached_input_musd_per_mtok == 75000);
  // Every kind in the table has an adapter, so every listed model is reachable.
  for (const auto& [key, info] : cat->all()) {
    INFO(key);
    CHECK(find_adapter(key.substr(0, key.find('/'))) != nullptr);
  }
}

TEST_CASE("new kinds never throw on odd requests or stream bytes", "[presets][azure][gemini][ollama]") {
  std::mt19937 rng(1234);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<json> odd_values = {nullptr, true, 7, -1, 2.5, "", "x", "\xff\xfe",
                                        json::array(), json::object(), json::array({1, "a"}),
                                        json{{"type", 3}}, json{{"name", json::array()}}};
  const json base = json::parse(R"({"model":"m","messages":[
    {"role":"system","content":"s"},
    {"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"c","content":"r"}],
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}],
    "tool_choice":"auto","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}},
    "stop":["x"],"max_tokens":5,"seed":1})");
  const std::vector<std::string> kinds = {"gemini", "ollama", "azure", "deepseek", "groq",
                                          "mistral", "xai", "openrouter", "together"};
  // Replaces one random node of the body by an odd value.
  std::function<void(json&, int)> mutate = [&](json& j, int depth) {
    if (depth > 0 && (pick(3) == 0 || !(j.is_object() || j.is_array()) || j.empty())) {
      j = odd_values[static_cast<std::size_t>(pick(static_cast<int>(odd_values.size())))];
      return;
    }
    if (j.is_object()) {
      auto it = j.begin();
      std::advance(it, pick(static_cast<int>(j.size())));
      mutate(it.value(), depth + 1);
    } else if (j.is_array()) {
      mutate(j[static_cast<std::size_t>(pick(static_cast<int>(j.size())))], depth + 1);
    }
  };
  for (int round = 0; round < 400; ++round) {
    json body = base;
    for (int k = 0, n = 1 + pick(3); k < n; ++k) mutate(body, 0);
    for (const auto& kind : kinds) {
      const auto& a = adapter(kind);
      auto ep = endpoint(kind, kind == "azure" ? "https://r.openai.azure.com" : "");
      CHECK_NOTHROW(a.chat_request(body, "m", pick(2) == 0, ep));
      CHECK_NOTHROW(a.embeddings_request(body, "m", ep));
    }
  }
  const std::vector<std::string> samples = {
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"},{\"functionCall\":{\"name\":1,\"args\":[]}}]},\"finishReason\":7,\"index\":-1}],\"usageMetadata\":{\"promptTokenCount\":\"x\"}}\n\n",
      "{\"message\":{\"content\":5,\"tool_calls\":[{\"function\":{\"name\":[],\"arguments\":\"s\"}},3]},\"done\":\"yes\",\"done_reason\":1}\n{\"done\":true}\n",
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"x_groq\":{\"usage\":5},\"usage\":[]}\n\ndata: [DONE]\n\n"};
  for (const auto& kind : kinds) {
    const auto make = decoder_of(kind);
    for (int round = 0; round < 150; ++round) {
      std::string bytes = samples[static_cast<std::size_t>(pick(static_cast<int>(samples.size())))];
      for (int k = 0, n = pick(6); k < n && !bytes.empty(); ++k)
        bytes[static_cast<std::size_t>(pick(static_cast<int>(bytes.size())))] = static_cast<char>(pick(256));
      std::vector<stream_event> events;
      auto d = make();
      CHECK_NOTHROW(d->feed(bytes.substr(0, bytes.size() / 2), events));
      CHECK_NOTHROW(d->feed(bytes.substr(bytes.size() / 2), events));
      CHECK_NOTHROW(d->finish(events));
      int terminals = 0;
      for (const auto& e : events) terminals += e.what == stream_event::type::chunk ? 0 : 1;
      CHECK(terminals == 1);  // exactly one done or error, always last
      REQUIRE_FALSE(events.empty());
      CHECK(events.back().what != stream_event::type::chunk);
    }
  }
  for (const auto& kind : kinds) {
    const auto& a = adapter(kind);
    for (const auto& s : samples) {
      CHECK_NOTHROW(a.chat_response(s));
      CHECK_NOTHROW(a.embeddings_response(s));
      CHECK_NOTHROW(a.upstream_failure(500, {}, s));
    }
    CHECK_NOTHROW(a.chat_response(R"({"candidates":[{"content":{"parts":[{"text":5}]}}],"message":{"tool_calls":[1]}})"));
    CHECK_NOTHROW(a.upstream_failure(429, {}, R"({"error":{"code":"x","status":5,"details":[{"retryDelay":3},{"reason":[]}]}})"));
  }
}
