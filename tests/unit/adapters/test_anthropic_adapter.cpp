#include <catch2/catch.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/anthropic_adapter.hpp"

using namespace oag;
using namespace oag::adapters;
using nlohmann::json;

namespace {

provider_endpoint endpoint(std::string base = "", std::optional<std::string> key = "sk-ant-test-1") {
  provider_endpoint ep;
  ep.name = "claude";
  ep.kind = "anthropic";
  ep.base_url = std::move(base);
  ep.api_key = std::move(key);
  return ep;
}

/// The Messages body OAG would send for an OpenAI request.
json sent(const json& openai, chat_context cc = {}, bool stream = false) {
  auto r = openai_to_anthropic_request(openai, "claude-sonnet-4", stream, cc);
  REQUIRE(r);
  return *r;
}

failure refused(const json& openai) {
  auto r = openai_to_anthropic_request(openai, "claude-sonnet-4", false, {});
  REQUIRE_FALSE(r);
  return r.error();
}

json chat(const std::string& messages_json) {
  json body = json::object();
  body["model"] = "claude";
  body["messages"] = json::parse(messages_json);
  return body;
}

/// Events as comparable JSON: `created` is checked to be stable and then
/// dropped (it is wall-clock time).
json normalized(const std::vector<stream_event>& events) {
  json out = json::array();
  std::optional<json> created;
  for (const auto& e : events) {
    if (e.what == stream_event::type::chunk) {
      json d = e.data;
      if (!created) created = d["created"];
      CHECK(d["created"] == *created);
      d.erase("created");
      out.push_back({{"chunk", d}});
    } else if (e.what == stream_event::type::done) {
      out.push_back("done");
    } else {
      out.push_back({{"error", e.error.message}, {"status", http_status_of(e.error)}});
    }
  }
  return out;
}

json decode_whole(std::string_view body) {
  auto d = make_anthropic_stream_decoder();
  std::vector<stream_event> out;
  d->feed(body, out);
  d->finish(out);
  return normalized(out);
}

/// Decodes `body` whole, split in two after every byte offset, and one byte
/// at a time; all must yield the same event sequence, which is returned.
json decode_every_split(std::string_view body) {
  const json whole = decode_whole(body);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    auto d = make_anthropic_stream_decoder();
    std::vector<stream_event> out;
    d->feed(body.substr(0, cut), out);
    d->feed(body.substr(cut), out);
    d->finish(out);
    json got = normalized(out);
    if (got != whole) FAIL("split after byte " << cut << " differs: " << got.dump());
  }
  auto d = make_anthropic_stream_decoder();
  std::vector<stream_event> out;
  for (char c : body) d->feed(std::string_view(&c, 1), out);
  d->finish(out);
  CHECK(normalized(out) == whole);
  return whole;
}

std::string sse(std::initializer_list<std::string> payloads) {
  std::string out;
  for (const auto& p : payloads) {
    json doc = json::parse(p);
    out += "event: " + doc["type"].get<std::string>() + "\ndata: " + p + "\n\n";
  }
  return out;
}

json chunk_of(const std::string& id, const std::string& model, json delta,
              json finish = nullptr) {
  return {{"chunk",
           {{"id", id},
            {"object", "chat.completion.chunk"},
            {"model", model},
            {"choices", json::array({{{"index", 0},
                                      {"delta", std::move(delta)},
                                      {"logprobs", nullptr},
                                      {"finish_reason", std::move(finish)}}})}}}};
}

json usage_chunk(const std::string& id, const std::string& model, int prompt, int completion,
                 int cached) {
  return {{"chunk",
           {{"id", id},
            {"object", "chat.completion.chunk"},
            {"model", model},
            {"choices", json::array()},
            {"usage",
             {{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}}}}}};
}

const std::string msg_start =
    R"({"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":1}}})";

} // namespace

// ---------------------------------------------------------------------------
// Registration and the outbound request

TEST_CASE("find_adapter knows anthropic", "[anthropic]") {
  REQUIRE(find_adapter("anthropic") == &anthropic_adapter());
  CHECK(anthropic_adapter().kind() == "anthropic");
  CHECK(anthropic_adapter().default_base_url() ==
        std::optional<std::string>("https://api.anthropic.com"));
}

TEST_CASE("anthropic chat_request targets /v1/messages with Anthropic headers", "[anthropic]") {
  const json body = chat(R"([{"role":"user","content":"hi"}])");
  auto r = anthropic_adapter().chat_request(body, "claude-sonnet-4", false, endpoint());
  REQUIRE(r);
  CHECK(r->method == "POST");
  CHECK(r->origin.origin() == "https://api.anthropic.com:443");
  CHECK(r->target == "/v1/messages");
  CHECK_FALSE(r->stream);
  CHECK(find_header(r->headers, "x-api-key") == std::optional<std::string_view>("sk-ant-test-1"));
  CHECK(find_header(r->headers, "anthropic-version") ==
        std::optional<std::string_view>("2023-06-01"));
  CHECK(find_header(r->headers, "content-type") ==
        std::optional<std::string_view>("application/json"));
  CHECK_FALSE(find_header(r->headers, "authorization"));
  CHECK(json::parse(r->body) == json::parse(R"({"model":"claude-sonnet-4","max_tokens":4096,
        "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})"));

  SECTION("streaming asks for SSE") {
    auto s = anthropic_adapter().chat_request(body, "claude-sonnet-4", true, endpoint());
    REQUIRE(s);
    CHECK(s->stream);
    CHECK(json::parse(s->body)["stream"] == true);
    CHECK(find_header(s->headers, "accept") == std::optional<std::string_view>("text/event-stream"));
  }
  SECTION("a base path is kept, and a trailing /v1 is not doubled") {
    auto p = anthropic_adapter().chat_request(body, "m", false, endpoint("https://gw.example/anthropic"));
    REQUIRE(p);
    CHECK(p->target == "/anthropic/v1/messages");
    auto v = anthropic_adapter().chat_request(body, "m", false, endpoint("https://gw.example/v1/"));
    REQUIRE(v);
    CHECK(v->target == "/v1/messages");
  }
  SECTION("extra headers are added and may override anthropic-version") {
    auto ep = endpoint();
    ep.extra_headers = {{"anthropic-beta", "prompt-caching-2024-07-31"},
                        {"Anthropic-Version", "2024-01-01"}};
    auto e = anthropic_adapter().chat_request(body, "m", false, ep);
    REQUIRE(e);
    CHECK(find_header(e->headers, "anthropic-beta") ==
          std::optional<std::string_view>("prompt-caching-2024-07-31"));
    CHECK(find_header(e->headers, "anthropic-version") ==
          std::optional<std::string_view>("2024-01-01"));
  }
  SECTION("plain http to a remote host is refused, loopback is fine") {
    auto bad = anthropic_adapter().chat_request(body, "m", false, endpoint("http://api.example"));
    REQUIRE_FALSE(bad);
    CHECK(http_status_of(bad.error()) == 400);
    CHECK(bad.error().message.find("sk-ant") == std::string::npos);
    CHECK(anthropic_adapter().chat_request(body, "m", false, endpoint("http://127.0.0.1:9000")));
  }
}

TEST_CASE("anthropic: system and developer messages anywhere go to top-level system",
          "[anthropic]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"system","content":"You are terse."},
    {"role":"user","content":"Hi"},
    {"role":"assistant","content":"Hello."},
    {"role":"developer","content":[{"type":"text","text":"Answer in French."}]},
    {"role":"user","content":"Weather?"}]})");
  const json out = sent(body);
  CHECK(out["system"] == "You are terse.\n\nAnswer in French.");
  // The developer message between assistant and user does not break the
  // alternation: it simply is not a turn.
  CHECK(out["messages"] == json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"Hi"}]},
    {"role":"assistant","content":[{"type":"text","text":"Hello."}]},
    {"role":"user","content":[{"type":"text","text":"Weather?"}]}])"));

  SECTION("a developer message between two user turns merges them") {
    const json o = sent(json::parse(R"({"model":"m","messages":[
      {"role":"user","content":"a"},{"role":"developer","content":"d"},{"role":"user","content":"b"}]})"));
    CHECK(o["system"] == "d");
    CHECK(o["messages"] == json::parse(R"([{"role":"user","content":[
      {"type":"text","text":"a"},{"type":"text","text":"b"}]}])"));
  }
  SECTION("a conversation not starting with a user turn gets a placeholder user turn") {
    const json o = sent(json::parse(R"({"model":"m","messages":[
      {"role":"system","content":"s"},{"role":"assistant","content":"How can I help?"},
      {"role":"user","content":"x"}]})"));
    CHECK(o["messages"][0] == json::parse(R"({"role":"user","content":[{"type":"text","text":"."}]})"));
    CHECK(o["messages"][1]["role"] == "assistant");
    CHECK(o["messages"].size() == 3);
  }
  SECTION("a trailing assistant prefill loses trailing whitespace") {
    const json o = sent(json::parse(R"({"model":"m","messages":[
      {"role":"user","content":"x"},{"role":"assistant","content":"The answer is "}]})"));
    CHECK(o["messages"][1]["content"][0]["text"] == "The answer is");
  }
}

TEST_CASE("anthropic: OpenAI-shaped tool round trip", "[anthropic]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"user","content":"Weather in Oslo and Bergen?"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
      {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Bergen\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":4}"},
    {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"rain"}]},
    {"role":"user","content":"And tomorrow?"}],
    "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
      {"type":"function","function":{"name":"ping"}}]})");
  const json out = sent(body);
  CHECK(out["messages"] == json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"Weather in Oslo and Bergen?"}]},
    {"role":"assistant","content":[
      {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Oslo"}},
      {"type":"tool_use","id":"call_2","name":"get_weather","input":{"city":"Bergen"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"call_1","content":"{\"temp_c\":4}"},
      {"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"rain"}]},
      {"type":"text","text":"And tomorrow?"}]}])"));
  CHECK(out["tools"] == json::parse(R"([
    {"name":"get_weather","description":"Weather now","input_schema":{"type":"object",
      "properties":{"city":{"type":"string"}},"required":["city"]}},
    {"name":"ping","input_schema":{"type":"object"}}])"));
  CHECK_FALSE(out.contains("tool_choice"));

  SECTION("text before tool results in one merged user turn is moved after them") {
    const json o = sent(json::parse(R"({"model":"m","messages":[
      {"role":"user","content":"q"},
      {"role":"assistant","content":"Checking.","tool_calls":[{"id":"c","type":"function",
        "function":{"name":"f","arguments":""}}]},
      {"role":"user","content":"hurry"},
      {"role":"tool","tool_call_id":"c","content":"ok"}]})"));
    CHECK(o["messages"][1]["content"] == json::parse(R"([{"type":"text","text":"Checking."},
      {"type":"tool_use","id":"c","name":"f","input":{}}])"));
    CHECK(o["messages"][2]["content"] == json::parse(R"([
      {"type":"tool_result","tool_use_id":"c","content":"ok"},{"type":"text","text":"hurry"}])"));
  }
  SECTION("ids Anthropic would reject are mapped the same way on both sides") {
    const json o = sent(json::parse(R"({"model":"m","messages":[
      {"role":"user","content":"q"},
      {"role":"assistant","tool_calls":[{"id":"call:1/a","type":"function",
        "function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call:1/a","content":"ok"}]})"));
    CHECK(o["messages"][1]["content"][0]["id"] == "call_1_a");
    CHECK(o["messages"][2]["content"][0]["tool_use_id"] == "call_1_a");
  }
  SECTION("invalid argument JSON is a 400 naming the parameter") {
    json bad = body;
    bad["messages"][1]["tool_calls"][1]["function"]["arguments"] = "{\"city\":";
    failure f = refused(bad);
    CHECK(http_status_of(f) == 400);
    CHECK(f.param == std::optional<std::string>("messages[1].tool_calls[1].function.arguments"));
    bad["messages"][1]["tool_calls"][1]["function"]["arguments"] = "[1,2]";
    CHECK(refused(bad).param ==
          std::optional<std::string>("messages[1].tool_calls[1].function.arguments"));
  }
}

TEST_CASE("anthropic: Anthropic-shaped tool_use/tool_result history passes through",
          "[anthropic]") {
  const json body = json::parse(R"({"model":"m","messages":[
    {"role":"user","content":"Weather in Oslo?"},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"need the tool","signature":"sig=="},
      {"type":"text","text":"Let me check."},
      {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Oslo"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"4 C"}],"is_error":false},
      {"type":"text","text":"Thanks, and in F?"}]}],
    "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]})");
  const json out = sent(body);
  CHECK(out["messages"] == json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"Weather in Oslo?"}]},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"need the tool","signature":"sig=="},
      {"type":"text","text":"Let me check."},
      {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Oslo"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"4 C"}],"is_error":false},
      {"type":"text","text":"Thanks, and in F?"}]}])"));

  SECTION("blocks in the wrong role or without ids are 400s naming the block") {
    json bad = body;
    bad["messages"][2]["content"][0].erase("tool_use_id");
    CHECK(refused(bad).param == std::optional<std::string>("messages[2].content[0].tool_use_id"));
    json wrong = body;
    wrong["messages"][0]["content"] = json::parse(R"([{"type":"tool_use","id":"x","name":"f","input":{}}])");
    CHECK(refused(wrong).param == std::optional<std::string>("messages[0].content[0].type"));
  }
}

TEST_CASE("anthropic: images, audio and files", "[anthropic]") {
  const json body = json::parse(R"({"model":"m","messages":[{"role":"user","content":[
    {"type":"text","text":"Compare"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
    {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}},
    {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]})");
  CHECK(sent(body)["messages"][0]["content"] == json::parse(R"([
    {"type":"text","text":"Compare"},
    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
    {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
    {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}])"));

  json ftp = body;
  ftp["messages"][0]["content"][1]["image_url"]["url"] = "ftp://example.com/x.png";
  CHECK(refused(ftp).param == std::optional<std::string>("messages[0].content[1].image_url.url"));
  json bmp = body;
  bmp["messages"][0]["content"][1]["image_url"]["url"] = "data:image/bmp;base64,Qk0=";
  CHECK(refused(bmp).param == std::optional<std::string>("messages[0].content[1].image_url.url"));
  json audio = body;
  audio["messages"][0]["content"][0] = {{"type", "input_audio"},
                                        {"input_audio", {{"data", "AAA"}, {"format", "wav"}}}};
  failure f = refused(audio);
  CHECK(f.param == std::optional<std::string>("messages[0].content[0].type"));
  CHECK(f.message.find("audio") != std::string::npos);
  json file_id = body;
  file_id["messages"][0]["content"][3] = {{"type", "file"}, {"file", {{"file_id", "file-1"}}}};
  CHECK(refused(file_id).param == std::optional<std::string>("messages[0].content[3]"));
}

TEST_CASE("anthropic: tool_choice variants", "[anthropic]") {
  json body = json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}]})");
  auto choice = [&](json tc, std::optional<bool> parallel = std::nullopt) {
    json b = body;
    b["tool_choice"] = std::move(tc);
    if (parallel) b["parallel_tool_calls"] = *parallel;
    return sent(b);
  };
  CHECK(choice("auto")["tool_choice"] == json{{"type", "auto"}});
  CHECK(choice("required")["tool_choice"] == json{{"type", "any"}});
  CHECK(choice(json::parse(R"({"type":"function","function":{"name":"b"}})"))["tool_choice"] ==
        json::parse(R"({"type":"tool","name":"b"})"));
  // none is Anthropic's own {type:none}; the tools stay defined because a
  // history with tool_use blocks needs them.
  const json none = choice("none");
  CHECK(none["tool_choice"] == json{{"type", "none"}});
  CHECK(none["tools"].size() == 2);
  CHECK(choice("required", false)["tool_choice"] ==
        json::parse(R"({"type":"any","disable_parallel_tool_use":true})"));
  json plain = body;
  plain["parallel_tool_calls"] = false;
  CHECK(sent(plain)["tool_choice"] == json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  const json allowed = choice(json::parse(
      R"({"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"b"}}]}})"));
  CHECK(allowed["tool_choice"] == json{{"type", "any"}});
  CHECK(allowed["tools"] == json::parse(R"([{"name":"b","input_schema":{"type":"object"}}])"));
  // Without tools there is nothing to choose from.
  CHECK_FALSE(sent(json::parse(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "tool_choice":"none"})")).contains("tool_choice"));
  json custom = body;
  custom["tools"][0] = json::parse(R"({"type":"custom","custom":{"name":"c"}})");
  CHECK(refused(custom).param == std::optional<std::string>("tools[0].type"));
}

TEST_CASE("anthropic: max_tokens, stop, sampling, user, n and response_format", "[anthropic]") {
  json body = chat(R"([{"role":"user","content":"x"}])");
  chat_context cc;
  cc.max_output_tokens = 64000;
  CHECK(sent(body, cc)["max_tokens"] == 64000);  // the catalogue's full limit, not a default
  body["max_tokens"] = 300;
  CHECK(sent(body, cc)["max_tokens"] == 300);
  body["max_completion_tokens"] = 200;
  CHECK(sent(body, cc)["max_tokens"] == 200);

  body["stop"] = "END";
  CHECK(sent(body)["stop_sequences"] == json::array({"END"}));
  body["stop"] = json::array({"a", "b"});
  CHECK(sent(body)["stop_sequences"] == json::array({"a", "b"}));

  body["temperature"] = 1.7;
  body["top_p"] = 0.9;
  body["user"] = "u-42";
  const json out = sent(body);
  CHECK(out["temperature"] == 1.0);  // Anthropic's range ends at 1
  CHECK(out["top_p"] == 0.9);
  CHECK(out["metadata"] == json{{"user_id", "u-42"}});

  body["n"] = 2;
  CHECK(refused(body).param == std::optional<std::string>("n"));
  body["n"] = 1;

  body["messages"] = json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"x"}])");
  body["response_format"] = json::parse(R"({"type":"json_schema","json_schema":{"name":"answer",
    "schema":{"type":"object","properties":{"v":{"type":"integer"}}}}})");
  const std::string sys = sent(body)["system"].get<std::string>();
  CHECK(sys.rfind("Be brief.\n\n", 0) == 0);
  CHECK(sys.find("JSON") != std::string::npos);
  CHECK(sys.find(R"({"properties":{"v":{"type":"integer"}},"type":"object"})") != std::string::npos);
  body["response_format"] = {{"type", "json_object"}};
  CHECK(sent(body)["system"].get<std::string>().find("JSON object") != std::string::npos);
  body["response_format"] = {{"type", "text"}};
  CHECK(sent(body)["system"] == "Be brief.");
}

TEST_CASE("anthropic: hostile request shapes fail cleanly", "[anthropic]") {
  CHECK(refused(json::array()).code == errc::invalid_request);
  CHECK(refused(json{{"model", "m"}}).param == std::optional<std::string>("messages"));
  CHECK(refused(chat("[1]")).param == std::optional<std::string>("messages[0]"));
  CHECK(refused(chat(R"([{"role":5}])")).param == std::optional<std::string>("messages[0].role"));
  CHECK(refused(chat(R"([{"role":"user","content":[{"type":3}]}])")).param ==
        std::optional<std::string>("messages[0].content[0].type"));
  CHECK(refused(chat(R"([{"role":"function","name":"f","content":"x"}])")).param ==
        std::optional<std::string>("messages[0].role"));
  // Invalid UTF-8 in client text does not throw while serializing.
  json bad_utf8 = chat(R"([{"role":"user","content":""}])");
  bad_utf8["messages"][0]["content"] = std::string("a\xff");
  CHECK(anthropic_adapter().chat_request(bad_utf8, "m", false, endpoint()));
}

// ---------------------------------------------------------------------------
// Responses

TEST_CASE("anthropic: chat_response translates text, usage and stop reasons", "[anthropic]") {
  const std::string body = R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4",
    "content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Hello "},
               {"type":"text","text":"there."}],
    "stop_reason":"end_turn","stop_sequence":null,
    "usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":7}})";
  auto r = anthropic_adapter().chat_response(body);
  REQUIRE(r);
  json out = *r;
  CHECK(out["created"].is_number_integer());
  out.erase("created");
  CHECK(out == json::parse(R"({"id":"msg_01","object":"chat.completion","model":"claude-sonnet-4",
    "choices":[{"index":0,"logprobs":null,"finish_reason":"stop","message":{"role":"assistant",
      "content":"Hello there.","refusal":null,"reasoning_content":"hmm"}}],
    "usage":{"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,
      "prompt_tokens_details":{"cached_tokens":100}}})"));
  auto metered = usage_of(out);
  REQUIRE(metered);
  CHECK(metered->input_tokens == 130);
  CHECK(metered->cached_input_tokens == 100);
  CHECK(metered->output_tokens == 7);

  auto finish = [](const std::string& stop_reason) {
    json msg = {{"id", "m"}, {"type", "message"}, {"content", json::array()},
                {"stop_reason", stop_reason}, {"usage", {{"input_tokens", 1}, {"output_tokens", 1}}}};
    auto t = anthropic_message_to_openai(msg);
    REQUIRE(t);
    return (*t)["choices"][0]["finish_reason"].get<std::string>();
  };
  CHECK(finish("end_turn") == "stop");
  CHECK(finish("stop_sequence") == "stop");
  CHECK(finish("pause_turn") == "stop");
  CHECK(finish("max_tokens") == "length");
  CHECK(finish("model_context_window_exceeded") == "length");
  CHECK(finish("tool_use") == "tool_calls");
  CHECK(finish("refusal") == "content_filter");
}

TEST_CASE("anthropic: chat_response translates tool_use blocks to tool_calls", "[anthropic]") {
  const std::string body = R"({"id":"msg_02","type":"message","role":"assistant","model":"c",
    "content":[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Oslo"}},
               {"type":"tool_use","id":"toolu_02","name":"now","input":{}}],
    "stop_reason":"max_tokens","usage":{"input_tokens":5,"output_tokens":9}})";
  auto r = anthropic_adapter().chat_response(body);
  REQUIRE(r);
  const json& msg = (*r)["choices"][0]["message"];
  CHECK(msg["content"].is_null());
  CHECK(msg["tool_calls"] == json::parse(R"([
    {"id":"toolu_01","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
    {"id":"toolu_02","type":"function","function":{"name":"now","arguments":"{}"}}])"));
  // Tool calls were emitted, so the client must be told to run them.
  CHECK((*r)["choices"][0]["finish_reason"] == "tool_calls");
  CHECK((*r)["usage"]["prompt_tokens"] == 5);

  CHECK_FALSE(anthropic_adapter().chat_response("not json"));
  CHECK_FALSE(anthropic_adapter().chat_response(R"({"type":"message"})"));
  auto err = anthropic_adapter().chat_response(
      R"({"type":"error","error":{"type":"api_error","message":"boom"}})");
  REQUIRE_FALSE(err);
  CHECK(http_status_of(err.error()) == 502);
  CHECK(err.error().message.find("boom") != std::string::npos);
}

// ---------------------------------------------------------------------------
// Streams

TEST_CASE("anthropic stream: text then tool_use, split at every byte", "[anthropic]") {
  const std::string body = sse({
      msg_start,
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      R"({"type": "ping"})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check \u00e9\u20ac."}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"lo\"}"}})",
      R"({"type":"content_block_stop","index":1})",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}})",
      R"({"type":"message_stop"})"});
  const std::string id = "msg_01", m = "claude-sonnet-4";
  const json expected = json::array({
      chunk_of(id, m, {{"role", "assistant"}, {"content", ""}}),
      chunk_of(id, m, {{"content", "Let me check \u00e9\u20ac."}}),
      // Anthropic's block index is 1, the OpenAI tool-call index is 0.
      chunk_of(id, m, json::parse(R"({"tool_calls":[{"index":0,"id":"toolu_01","type":"function",
                                   "function":{"name":"get_weather","arguments":""}}]})")),
      chunk_of(id, m, json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Os"}}]})")),
      chunk_of(id, m, json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"lo\"}"}}]})")),
      chunk_of(id, m, json::object(), "tool_calls"),
      usage_chunk(id, m, 30, 40, 5),
      "done"});
  CHECK(decode_every_split(body) == expected);

  SECTION("CRLF framing decodes the same") {
    std::string crlf;
    for (char c : body) {
      if (c == '\n') crlf += "\r\n";
      else crlf += c;
    }
    CHECK(decode_every_split(crlf) == expected);
  }
  SECTION("a last event without its blank line still ends the stream cleanly") {
    CHECK(decode_whole(body.substr(0, body.size() - 1)) == expected);
  }
}

TEST_CASE("anthropic stream: two tool_use blocks without text never merge", "[anthropic]") {
  const std::string body = sse({
      R"({"type":"message_start","message":{"id":"msg_2","model":"c","usage":{"input_tokens":7,"output_tokens":1}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_a","name":"f","input":{}}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_b","name":"g","input":{}}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"y\""}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":":2}"}})",
      R"({"type":"content_block_stop","index":1})",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}})",
      R"({"type":"message_stop"})"});
  const json expected = json::array({
      chunk_of("msg_2", "c", {{"role", "assistant"}, {"content", ""}}),
      chunk_of("msg_2", "c", json::parse(R"({"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"f","arguments":""}}]})")),
      chunk_of("msg_2", "c", json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]})")),
      chunk_of("msg_2", "c", json::parse(R"({"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"g","arguments":""}}]})")),
      chunk_of("msg_2", "c", json::parse(R"({"tool_calls":[{"index":1,"function":{"arguments":"{\"y\""}}]})")),
      chunk_of("msg_2", "c", json::parse(R"({"tool_calls":[{"index":1,"function":{"arguments":":2}"}}]})")),
      // end_turn, but tool calls were emitted: tool_calls.
      chunk_of("msg_2", "c", json::object(), "tool_calls"),
      usage_chunk("msg_2", "c", 7, 12, 0),
      "done"});
  CHECK(decode_every_split(body) == expected);
}

TEST_CASE("anthropic stream: a thinking block first shifts block indices, not call indices",
          "[anthropic]") {
  const std::string body = sse({
      R"({"type":"message_start","message":{"id":"msg_3","model":"c","usage":{"input_tokens":3,"output_tokens":0}}})",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Look it up."}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":"On it."}})",
      R"({"type":"content_block_stop","index":1})",
      R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_c","name":"search","input":{}}})",
      R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}})",
      R"({"type":"content_block_stop","index":2})",
      R"({"type":"some_future_event","index":9})",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}})",
      R"({"type":"message_stop"})"});
  const json expected = json::array({
      chunk_of("msg_3", "c", {{"role", "assistant"}, {"content", ""}}),
      // Reasoning never lands in content.
      chunk_of("msg_3", "c", {{"reasoning_content", "Look it up."}}),
      chunk_of("msg_3", "c", {{"content", "On it."}}),
      chunk_of("msg_3", "c", json::parse(R"({"tool_calls":[{"index":0,"id":"toolu_c","type":"function","function":{"name":"search","arguments":""}}]})")),
      chunk_of("msg_3", "c", json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]})")),
      chunk_of("msg_3", "c", json::object(), "tool_calls"),
      usage_chunk("msg_3", "c", 3, 20, 0),
      "done"});
  CHECK(decode_every_split(body) == expected);
}

TEST_CASE("anthropic stream: stop reasons map as in non-stream answers", "[anthropic]") {
  auto finish_of = [](const std::string& stop_reason) {
    const std::string body = sse({
        R"({"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1,"output_tokens":0}}})",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})",
        R"({"type":"content_block_stop","index":0})",
        R"({"type":"message_delta","delta":{"stop_reason":")" + stop_reason + R"("},"usage":{"output_tokens":1}})",
        R"({"type":"message_stop"})"});
    json events = decode_whole(body);
    REQUIRE(events.size() == 5);
    return events[2]["chunk"]["choices"][0]["finish_reason"].get<std::string>();
  };
  CHECK(finish_of("end_turn") == "stop");
  CHECK(finish_of("stop_sequence") == "stop");
  CHECK(finish_of("max_tokens") == "length");
  CHECK(finish_of("refusal") == "content_filter");
}

TEST_CASE("anthropic stream: an error event becomes an error stream event", "[anthropic]") {
  const std::string body = sse({
      msg_start,
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})",
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ignored"}})"});
  const json events = decode_every_split(body);
  REQUIRE(events.size() == 4);
  CHECK(events[1]["chunk"]["choices"][0]["delta"] == json{{"content", "Hi"}});
  // The usage reported so far (message_start) precedes the error, so it can be charged.
  CHECK(events[2]["chunk"]["choices"].empty());
  CHECK(events[2]["chunk"]["usage"].is_object());
  CHECK(events[3]["error"].get<std::string>().find("Overloaded") != std::string::npos);
  CHECK(events[3]["status"] == 503);

  const json api = decode_whole(sse({R"({"type":"error","error":{"type":"api_error","message":"Internal sk-ant-api03-abcdef123"}})"}));
  REQUIRE(api.size() == 1);
  CHECK(api[0]["status"] == 502);
  CHECK(api[0]["error"].get<std::string>().find("abcdef123") == std::string::npos);
}

TEST_CASE("anthropic stream: a stream cut without message_stop ends in an error", "[anthropic]") {
  const std::string full = sse({
      msg_start,
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}})"});
  const json events = decode_every_split(full);
  REQUIRE(events.size() == 4);
  CHECK(events[1]["chunk"]["choices"][0]["delta"] == json{{"content", "Hel"}});
  CHECK(events[2]["chunk"]["usage"]["completion_tokens"] == 2);
  CHECK(events[3]["error"].get<std::string>().find("before it was complete") != std::string::npos);
  for (const auto& e : events) CHECK(e != "done");

  // Cut in the middle of an event, and an empty body.
  const json mid = decode_whole(full.substr(0, full.size() - 20));
  CHECK(mid.back().contains("error"));
  const json empty = decode_whole("");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].contains("error"));
  // Garbage instead of JSON is an error, not a crash.
  const json garbage = decode_whole("event: message_start\ndata: {nope\n\n");
  REQUIRE(garbage.size() == 1);
  CHECK(garbage[0]["status"] == 502);
}

// ---------------------------------------------------------------------------
// Errors and embeddings

TEST_CASE("anthropic upstream_failure maps statuses and scrubs credentials", "[anthropic]") {
  auto fail = [](int status, const std::string& type, const std::string& message,
                 header_list headers = {}) {
    json body = {{"type", "error"}, {"error", {{"type", type}, {"message", message}}},
                 {"request_id", "req_1"}};
    return anthropic_adapter().upstream_failure(status, headers, body.dump());
  };
  failure bad = fail(400, "invalid_request_error", "messages.0.content: Field required");
  CHECK(http_status_of(bad) == 400);
  CHECK(bad.code == errc::invalid_request);
  CHECK(bad.message == "messages.0.content: Field required");

  for (int status : {401, 403}) {
    failure f = fail(status, status == 401 ? "authentication_error" : "permission_error",
                     "invalid x-api-key sk-ant-api03-SECRETSECRET");
    CHECK(http_status_of(f) == 502);
    CHECK(f.message.find("provider rejected OAG's credentials") != std::string::npos);
    CHECK(f.message.find("SECRETSECRET") == std::string::npos);
  }
  failure nf = fail(404, "not_found_error", "model: claude-9");
  CHECK(http_status_of(nf) == 404);
  CHECK(nf.code == errc::model_not_found);
  CHECK(fail(404, "not_found_error", "no such route").code == errc::not_found);
  CHECK(http_status_of(fail(413, "request_too_large", "too big")) == 413);

  failure rl = fail(429, "rate_limit_error", "slow down", {{"Retry-After", "7"}});
  CHECK(http_status_of(rl) == 429);
  CHECK(rl.code == errc::rate_limited);
  CHECK(rl.retry_after == std::optional<std::string>("7"));
  CHECK(rl.message == "slow down");

  failure ov = fail(529, "overloaded_error", "Overloaded", {{"retry-after", "3"}});
  CHECK(http_status_of(ov) == 503);
  CHECK(ov.code == errc::unavailable);
  CHECK(ov.retry_after == std::optional<std::string>("3"));

  failure api = fail(500, "api_error", "Internal server error");
  CHECK(http_status_of(api) == 502);
  CHECK(api.message.find("Internal server error") != std::string::npos);
  CHECK(http_status_of(fail(504, "timeout_error", "slow")) == 504);
  CHECK(http_status_of(fail(502, "overloaded_error", "x")) == 503);

  failure html = anthropic_adapter().upstream_failure(502, {{"retry-after", "bad\r\nx: y"}},
                                                      "<html>Bad gateway</html>");
  CHECK(http_status_of(html) == 502);
  CHECK_FALSE(html.retry_after);
}

TEST_CASE("anthropic has no embeddings", "[anthropic]") {
  auto r = anthropic_adapter().embeddings_request(json{{"model", "m"}, {"input", "x"}}, "m",
                                                  endpoint());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_request);
  CHECK(http_status_of(r.error()) == 400);
  CHECK(r.error().message.find("no embeddings") != std::string::npos);
  CHECK_FALSE(anthropic_adapter().embeddings_response("{}"));
}
