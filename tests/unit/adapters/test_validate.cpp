#include <catch2/catch.hpp>

#include "oag/adapters/validate.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

json base() {
  return json::parse(R"({"model":"mock/echo","messages":[{"role":"user","content":"hi"}]})");
}

/// `base()` with `patch` merged in (null values delete keys).
json with(const char* patch) {
  json b = base();
  b.merge_patch(json::parse(patch));
  return b;
}

json with_messages(const char* messages) {
  json b = base();
  b["messages"] = json::parse(messages);
  return b;
}

void accepts(const json& body) {
  auto r = validate_chat_request(body);
  INFO(body.dump());
  if (!r) INFO(r.error().message);
  CHECK(r);
}

void rejects(const json& body, const std::string& param) {
  auto r = validate_chat_request(body);
  INFO(body.dump());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  CHECK(oag::http_status_of(r.error()) == 400);
  CHECK(r.error().param == std::optional<std::string>(param));
  CHECK_FALSE(r.error().message.empty());
}

void embed_accepts(const char* body) {
  auto r = validate_embeddings_request(json::parse(body));
  INFO(body);
  CHECK(r);
}

void embed_rejects(const char* body, const std::string& param) {
  auto r = validate_embeddings_request(json::parse(body));
  INFO(body);
  REQUIRE_FALSE(r);
  CHECK(r.error().param == std::optional<std::string>(param));
}

} // namespace

TEST_CASE("validate: body and model", "[validate]") {
  accepts(base());
  auto r = validate_chat_request(json::array());
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().param);
  rejects(with(R"({"model":null})"), "model");
  rejects(with(R"({"model":""})"), "model");
  rejects(with(R"({"model":4})"), "model");
}

TEST_CASE("validate: messages array and roles", "[validate]") {
  rejects(with(R"({"messages":null})"), "messages");
  rejects(with(R"({"messages":[]})"), "messages");
  rejects(with(R"({"messages":{}})"), "messages");
  rejects(with_messages(R"(["hi"])"), "messages[0]");
  rejects(with_messages(R"([{"content":"x"}])"), "messages[0].role");
  rejects(with_messages(R"([{"role":"user","content":"a"},{"role":"robot","content":"x"}])"),
          "messages[1].role");
  accepts(with_messages(R"([{"role":"system","content":"s"},{"role":"developer","content":"d"},
                            {"role":"user","content":"u","name":"bob"}])"));
  rejects(with_messages(R"([{"role":"user","content":"u","name":5}])"), "messages[0].name");
}

TEST_CASE("validate: content forms per role", "[validate]") {
  // system / developer: string or text parts.
  accepts(with_messages(R"([{"role":"system","content":[{"type":"text","text":"s"}]}])"));
  rejects(with_messages(R"([{"role":"system"}])"), "messages[0].content");
  rejects(with_messages(R"([{"role":"developer","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}])"),
          "messages[0].content[0].type");
  // user: parts of several types.
  accepts(with_messages(R"([{"role":"user","content":[
      {"type":"text","text":"look"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AAA","detail":"low"}},
      {"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}},
      {"type":"file","file":{"file_id":"file-1"}}]}])"));
  rejects(with_messages(R"([{"role":"user","content":[]}])"), "messages[0].content");
  rejects(with_messages(R"([{"role":"user","content":5}])"), "messages[0].content");
  rejects(with_messages(R"([{"role":"user","content":null}])"), "messages[0].content");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"text"}]}])"), "messages[0].content[0].text");
  rejects(with_messages(R"([{"role":"user","content":[{"text":"x"}]}])"), "messages[0].content[0].type");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"video","video":{}}]}])"),
          "messages[0].content[0].type");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":""}}]}])"),
          "messages[0].content[1].image_url.url");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x","detail":"max"}}]}])"),
          "messages[0].content[0].image_url.detail");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"ogg"}}]}])"),
          "messages[0].content[0].input_audio.format");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"file","file":{}}]}])"),
          "messages[0].content[0].file");
  rejects(with_messages(R"([{"role":"user","content":[{"type":"refusal","refusal":"no"}]}])"),
          "messages[0].content[0].type");
}

TEST_CASE("validate: assistant and tool messages", "[validate]") {
  const char* ok = R"([{"role":"user","content":"weather?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
       "function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":4}"},
    {"role":"assistant","content":[{"type":"text","text":"4C"},{"type":"refusal","refusal":"no"}]}])";
  accepts(with_messages(ok));
  rejects(with_messages(R"([{"role":"assistant"}])"), "messages[0].content");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":[]}])"), "messages[0].content");
  accepts(with_messages(R"([{"role":"assistant","refusal":"I can't"}])"));
  rejects(with_messages(R"([{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"x"}}]}])"),
          "messages[0].content[0].type");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":{}}])"),
          "messages[0].tool_calls");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}])"),
          "messages[0].tool_calls[0].id");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}])"),
          "messages[0].tool_calls[0].function.arguments");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}])"),
          "messages[0].tool_calls[0].function.name");
  rejects(with_messages(R"([{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"web","function":{}}]}])"),
          "messages[0].tool_calls[0].type");
  rejects(with_messages(R"([{"role":"tool","content":"x"}])"), "messages[0].tool_call_id");
  rejects(with_messages(R"([{"role":"tool","tool_call_id":"","content":"x"}])"), "messages[0].tool_call_id");
  rejects(with_messages(R"([{"role":"tool","tool_call_id":"c"}])"), "messages[0].content");
  accepts(with_messages(R"([{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"r"}]}])"));
  accepts(with_messages(R"([{"role":"function","name":"f","content":"r"}])"));
  rejects(with_messages(R"([{"role":"function","content":"r"}])"), "messages[0].name");
}

TEST_CASE("validate: numeric ranges", "[validate]") {
  accepts(with(R"({"temperature":0,"top_p":1,"n":128,"max_tokens":1,"max_completion_tokens":4096,
                   "frequency_penalty":-2,"presence_penalty":2,"top_logprobs":20,"logprobs":true,"seed":-5})"));
  accepts(with(R"({"temperature":2.0,"top_p":0.0,"n":1})"));
  accepts(with(R"({"temperature":null,"max_tokens":null})"));
  rejects(with(R"({"temperature":2.01})"), "temperature");
  rejects(with(R"({"temperature":-0.1})"), "temperature");
  rejects(with(R"({"temperature":"1"})"), "temperature");
  rejects(with(R"({"top_p":1.5})"), "top_p");
  rejects(with(R"({"n":0})"), "n");
  rejects(with(R"({"n":129})"), "n");
  rejects(with(R"({"n":1.5})"), "n");
  rejects(with(R"({"max_tokens":0})"), "max_tokens");
  rejects(with(R"({"max_tokens":10.5})"), "max_tokens");
  rejects(with(R"({"max_completion_tokens":-1})"), "max_completion_tokens");
  rejects(with(R"({"frequency_penalty":3})"), "frequency_penalty");
  rejects(with(R"({"presence_penalty":-2.5})"), "presence_penalty");
  rejects(with(R"({"top_logprobs":21})"), "top_logprobs");
  rejects(with(R"({"logprobs":1})"), "logprobs");
  rejects(with(R"({"seed":"1"})"), "seed");
  rejects(with(R"({"user":1})"), "user");
}

TEST_CASE("validate: stop", "[validate]") {
  accepts(with(R"({"stop":"END"})"));
  accepts(with(R"({"stop":["a","b","c","d"]})"));
  accepts(with(R"({"stop":null})"));
  rejects(with(R"({"stop":["a","b","c","d","e"]})"), "stop");
  rejects(with(R"({"stop":["a",1]})"), "stop[1]");
  rejects(with(R"({"stop":7})"), "stop");
}

TEST_CASE("validate: stream and stream_options", "[validate]") {
  accepts(with(R"({"stream":true})"));
  accepts(with(R"({"stream":false})"));
  accepts(with(R"({"stream":true,"stream_options":{"include_usage":true}})"));
  accepts(with(R"({"stream":false,"stream_options":null})"));
  rejects(with(R"({"stream":"yes"})"), "stream");
  rejects(with(R"({"stream_options":{"include_usage":true}})"), "stream_options");
  rejects(with(R"({"stream":false,"stream_options":{"include_usage":true}})"), "stream_options");
  rejects(with(R"({"stream":true,"stream_options":true})"), "stream_options");
  rejects(with(R"({"stream":true,"stream_options":{"include_usage":"yes"}})"),
          "stream_options.include_usage");
}

TEST_CASE("validate: tools", "[validate]") {
  accepts(with(R"({"tools":[{"type":"function","function":{"name":"get_weather-2",
      "description":"d","parameters":{"type":"object"},"strict":true}}]})"));
  accepts(with(R"({"tools":[{"type":"custom","custom":{"name":"grammar_tool"}}]})"));
  rejects(with(R"({"tools":{}})"), "tools");
  rejects(with(R"({"tools":[{"type":"function","function":{"name":"ok"}},{"type":"function","function":{"name":"bad name"}}]})"),
          "tools[1].function.name");
  rejects(with(R"({"tools":[{"type":"function","function":{"name":"x"}},{"type":"function","function":{"name":"a234567890123456789012345678901234567890123456789012345678901234X"}}]})"),
          "tools[1].function.name");
  rejects(with(R"({"tools":[{"type":"function","function":{}}]})"), "tools[0].function.name");
  rejects(with(R"({"tools":[{"type":"function"}]})"), "tools[0].function");
  rejects(with(R"({"tools":[{"type":"retrieval"}]})"), "tools[0].type");
  rejects(with(R"({"tools":[{"function":{"name":"x"}}]})"), "tools[0].type");
  rejects(with(R"({"tools":[{"type":"function","function":{"name":"x","parameters":"{}"}}]})"),
          "tools[0].function.parameters");
  rejects(with(R"({"tools":[{"type":"function","function":{"name":"x","strict":"yes"}}]})"),
          "tools[0].function.strict");
  json many = base();
  many["tools"] = json::array();
  for (int i = 0; i < 129; ++i)
    many["tools"].push_back({{"type", "function"}, {"function", {{"name", "f" + std::to_string(i)}}}});
  rejects(many, "tools");
}

TEST_CASE("validate: tool_choice", "[validate]") {
  const char* tools = R"({"tools":[{"type":"function","function":{"name":"f"}}]})";
  for (const char* choice : {R"("none")", R"("auto")", R"("required")",
                             R"({"type":"function","function":{"name":"f"}})",
                             R"({"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"f"}}]}})"}) {
    json b = with(tools);
    b["tool_choice"] = json::parse(choice);
    accepts(b);
  }
  accepts(with(R"({"tool_choice":"none"})"));
  rejects(with(R"({"tool_choice":"auto"})"), "tool_choice");
  rejects(with(R"({"tool_choice":{"type":"function","function":{"name":"f"}}})"), "tool_choice");
  json b = with(tools);
  b["tool_choice"] = "sometimes";
  rejects(b, "tool_choice");
  b["tool_choice"] = 1;
  rejects(b, "tool_choice");
  b["tool_choice"] = json::parse(R"({"type":"function","function":{}})");
  rejects(b, "tool_choice.function.name");
  b["tool_choice"] = json::parse(R"({"type":"function"})");
  rejects(b, "tool_choice.function");
  b["tool_choice"] = json::parse(R"({"type":"tool"})");
  rejects(b, "tool_choice.type");
  b["tool_choice"] = json::parse(R"({"type":"allowed_tools","allowed_tools":{"mode":"any","tools":[]}})");
  rejects(b, "tool_choice.allowed_tools.mode");
  rejects(with(R"({"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":"no"})"),
          "parallel_tool_calls");
}

TEST_CASE("validate: response_format", "[validate]") {
  accepts(with(R"({"response_format":{"type":"text"}})"));
  accepts(with(R"({"response_format":{"type":"json_object"}})"));
  accepts(with(R"({"response_format":{"type":"json_schema","json_schema":{"name":"math_reply",
      "schema":{"type":"object"},"strict":true}}})"));
  rejects(with(R"({"response_format":"json"})"), "response_format");
  rejects(with(R"({"response_format":{}})"), "response_format.type");
  rejects(with(R"({"response_format":{"type":"yaml"}})"), "response_format.type");
  rejects(with(R"({"response_format":{"type":"json_schema"}})"), "response_format.json_schema");
  rejects(with(R"({"response_format":{"type":"json_schema","json_schema":{}}})"),
          "response_format.json_schema.name");
  rejects(with(R"({"response_format":{"type":"json_schema","json_schema":{"name":"has space"}}})"),
          "response_format.json_schema.name");
  rejects(with(R"({"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":[]}}})"),
          "response_format.json_schema.schema");
  rejects(with(R"({"response_format":{"type":"json_schema","json_schema":{"name":"n","strict":1}}})"),
          "response_format.json_schema.strict");
}

TEST_CASE("validate: embeddings", "[validate]") {
  embed_accepts(R"({"model":"e","input":"hello"})");
  embed_accepts(R"({"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":256})");
  embed_accepts(R"({"model":"e","input":[1,2,3]})");
  embed_accepts(R"({"model":"e","input":[[1,2],[3]],"encoding_format":"float","user":"u"})");
  embed_rejects(R"({"input":"x"})", "model");
  embed_rejects(R"({"model":"e"})", "input");
  embed_rejects(R"({"model":"e","input":""})", "input");
  embed_rejects(R"({"model":"e","input":[]})", "input");
  embed_rejects(R"({"model":"e","input":{}})", "input");
  embed_rejects(R"({"model":"e","input":["a",""]})", "input[1]");
  embed_rejects(R"({"model":"e","input":["a",2]})", "input[1]");
  embed_rejects(R"({"model":"e","input":[1,-2]})", "input[1]");
  embed_rejects(R"({"model":"e","input":[[1],[]]})", "input[1]");
  embed_rejects(R"({"model":"e","input":[[1],["x"]]})", "input[1][0]");
  embed_rejects(R"({"model":"e","input":[true]})", "input[0]");
  embed_rejects(R"({"model":"e","input":"x","encoding_format":"hex"})", "encoding_format");
  embed_rejects(R"({"model":"e","input":"x","dimensions":0})", "dimensions");
  embed_rejects(R"({"model":"e","input":"x","dimensions":"8"})", "dimensions");
  json big = {{"model", "e"}, {"input", json::array()}};
  for (int i = 0; i < 2049; ++i) big["input"].push_back("x");
  auto r = validate_embeddings_request(big);
  REQUIRE_FALSE(r);
  CHECK(r.error().param == std::optional<std::string>("input"));
}

TEST_CASE("estimate_prompt_tokens is deliberately high", "[validate]") {
  json small = base();
  // "hi": 2 bytes / 2 + 8 per message + 16.
  CHECK(estimate_prompt_tokens(small) == 1 + 8 + 16);

  std::string english;
  for (int i = 0; i < 250; ++i) english += "The quick brown fox jumps. ";
  json b = base();
  b["messages"][0]["content"] = english;
  // Real tokenisers give ~4 characters per English token.
  CHECK(estimate_prompt_tokens(b) >= static_cast<std::int64_t>(english.size() / 4));
  CHECK(estimate_prompt_tokens(b) >= static_cast<std::int64_t>(english.size() / 2));

  std::string cjk;
  for (int i = 0; i < 100; ++i) cjk += "你好世界";
  b["messages"][0]["content"] = cjk;
  CHECK(estimate_prompt_tokens(b) >= 400);  // at least one token per character

  json tools = base();
  tools["tools"] = json::parse(R"([{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])");
  CHECK(estimate_prompt_tokens(tools) > estimate_prompt_tokens(base()));

  json calls = with_messages(R"([{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":\"a long argument value here\"}"}}]}])");
  CHECK(estimate_prompt_tokens(calls) > 8 + 16 + 10);

  json image = with_messages(R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}])");
  CHECK(estimate_prompt_tokens(image) >= 1600);

  CHECK(estimate_prompt_tokens(json::parse(R"({"model":"e","input":[[1,2,3],[4]]})")) == 4 + 16);
  CHECK(estimate_prompt_tokens(json::parse(R"({"model":"e","input":"abcd"})")) == 2 + 16);
}

TEST_CASE("requested_output_tokens", "[validate]") {
  CHECK_FALSE(requested_output_tokens(base()));
  CHECK(requested_output_tokens(with(R"({"max_tokens":100})")) == std::optional<std::int64_t>(100));
  CHECK(requested_output_tokens(with(R"({"max_tokens":100,"max_completion_tokens":50})")) ==
        std::optional<std::int64_t>(50));
  CHECK(requested_output_tokens(with(R"({"max_completion_tokens":50,"n":3})")) ==
        std::optional<std::int64_t>(150));
  CHECK(requested_output_tokens(with(R"({"max_completion_tokens":9223372036854775807,"n":2})")) ==
        std::optional<std::int64_t>(INT64_MAX));
}
