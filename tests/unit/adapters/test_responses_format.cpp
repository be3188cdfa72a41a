#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "oag/adapters/responses_format.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/adapters/validate.hpp"

using namespace oag;
using namespace oag::adapters;
using nlohmann::json;
namespace rs = oag::adapters::responses;

namespace {

/// Deterministic ids: "<prefix><n>" with a counter per prefix, so two
/// sources give the same ids for the same items whatever the interleaving.
struct counter_ids {
  std::map<std::string, int> next;
  std::string operator()(std::string_view prefix) {
    return std::string(prefix) + std::to_string(next[std::string(prefix)]++);
  }
};

rs::id_source fresh_ids() {
  auto state = std::make_shared<counter_ids>();
  return [state](std::string_view p) { return (*state)(p); };
}

rs::request parsed(const json& body) {
  auto r = rs::parse_request(body);
  if (!r) FAIL("rejected: " << r.error().message << " at " << r.error().param.value_or("-"));
  return *r;
}

failure rejected(const json& body) {
  auto r = rs::parse_request(body);
  REQUIRE_FALSE(r);
  CHECK(http_status_of(r.error()) == 400);
  CHECK(r.error().code == errc::invalid_request);
  return r.error();
}

struct frame {
  std::string name;
  json data;
};

/// Parses SSE bytes; checks every frame's name equals its `type`.
std::vector<frame> frames_of(const std::string& bytes) {
  sse::parser p;
  std::vector<sse::event> events;
  p.feed(bytes, events);
  CHECK(p.pending_bytes() == 0);
  std::vector<frame> out;
  for (const auto& e : events) {
    REQUIRE(e.name);
    json data = json::parse(e.data);
    CHECK(data.at("type") == *e.name);
    out.push_back({*e.name, std::move(data)});
  }
  return out;
}

std::vector<std::string> names_of(const std::vector<frame>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) out.push_back(f.name);
  return out;
}

/// What the official SDKs do with a stream (openai-node ResponseStream):
/// the snapshot starts from response.created; output_item.added appends to
/// output (output_index must be the next index); content_part.added
/// appends a part; deltas append to the part / arguments they address;
/// the terminal event replaces the snapshot. Returns the snapshot built
/// from the deltas alone (before the terminal event).
json sdk_accumulate(const std::vector<frame>& frames) {
  json snap;
  std::int64_t last_seq = -1;
  for (const auto& f : frames) {
    const json& d = f.data;
    REQUIRE(d.contains("sequence_number"));
    CHECK(d["sequence_number"].get<std::int64_t>() == last_seq + 1);  // strictly increasing
    last_seq = d["sequence_number"].get<std::int64_t>();
    if (snap.is_null()) {
      REQUIRE(f.name == "response.created");
      snap = d["response"];
      CHECK(snap["status"] == "in_progress");
      continue;
    }
    if (f.name == "response.output_item.added") {
      REQUIRE(d["output_index"] == snap["output"].size());
      snap["output"].push_back(d["item"]);
    } else if (f.name == "response.content_part.added") {
      json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      CHECK(item["id"] == d["item_id"]);
      REQUIRE(d["content_index"] == item["content"].size());
      item["content"].push_back(d["part"]);
    } else if (f.name == "response.output_text.delta") {
      json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      CHECK(item["id"] == d["item_id"]);
      json& part = item["content"].at(d["content_index"].get<std::size_t>());
      REQUIRE(part["type"] == "output_text");
      CHECK(d["logprobs"].is_array());
      part["text"] = part["text"].get<std::string>() + d["delta"].get<std::string>();
    } else if (f.name == "response.refusal.delta") {
      json& part = snap["output"].at(d["output_index"].get<std::size_t>())["content"].at(
          d["content_index"].get<std::size_t>());
      REQUIRE(part["type"] == "refusal");
      part["refusal"] = part["refusal"].get<std::string>() + d["delta"].get<std::string>();
    } else if (f.name == "response.function_call_arguments.delta") {
      json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      REQUIRE(item["type"] == "function_call");
      CHECK(item["id"] == d["item_id"]);
      item["arguments"] = item["arguments"].get<std::string>() + d["delta"].get<std::string>();
    } else if (f.name == "response.output_text.done") {
      const json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      CHECK(item["content"].at(d["content_index"].get<std::size_t>())["text"] == d["text"]);
    } else if (f.name == "response.function_call_arguments.done") {
      const json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      CHECK(item["arguments"] == d["arguments"]);
      CHECK(item["name"] == d["name"]);
    } else if (f.name == "response.output_item.done") {
      json& item = snap["output"].at(d["output_index"].get<std::size_t>());
      CHECK(item["id"] == d["item"]["id"]);
      item["status"] = d["item"]["status"];
    }
  }
  return snap;
}

json chunk(const json& delta, const json& finish = nullptr) {
  return {{"id", "chatcmpl-1"},
          {"object", "chat.completion.chunk"},
          {"created", 1},
          {"model", "m"},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

json usage_chunk(int prompt, int completion) {
  return {{"id", "chatcmpl-1"},
          {"object", "chat.completion.chunk"},
          {"created", 1},
          {"model", "m"},
          {"choices", json::array()},
          {"usage",
           {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion}}}};
}

json completion(const json& message, const std::string& finish, const json& usage = nullptr) {
  json c = {{"id", "chatcmpl-1"},
            {"object", "chat.completion"},
            {"created", 1},
            {"model", "m"},
            {"choices", json::array({{{"index", 0},
                                      {"message", message},
                                      {"finish_reason", finish},
                                      {"logprobs", nullptr}}})}};
  if (!usage.is_null()) c["usage"] = usage;
  return c;
}

/// The keys the spec's `Response` schema requires (openai-openapi.yaml,
/// components.schemas.Response, `required:`), plus `status` and `usage`
/// which every real response carries.
const std::vector<std::string> response_required = {
    "id",          "object", "created_at",          "error",    "incomplete_details",
    "instructions", "model", "tools",               "output",   "parallel_tool_calls",
    "metadata",    "tool_choice", "temperature",    "top_p"};

} // namespace

// ---------------------------------------------------------------------------
// parse_request

TEST_CASE("responses: a string input becomes one user message item", "[responses]") {
  auto req = parsed({{"model", "gpt-4o"}, {"input", "hello"}});
  CHECK(req.model == "gpt-4o");
  CHECK(req.input_items ==
        json::parse(R"([{"type":"message","role":"user",
                         "content":[{"type":"input_text","text":"hello"}]}])"));
  CHECK(req.store);
  CHECK_FALSE(req.stream);
  CHECK_FALSE(req.background);
  CHECK(req.tools == json::array());
  CHECK(req.tool_choice.is_null());
  CHECK(req.metadata == json::object());
  CHECK(req.text == json::parse(R"({"format":{"type":"text"}})"));
  CHECK(req.truncation == "disabled");
  CHECK_FALSE(req.instructions);
  CHECK_FALSE(req.previous_response_id);
  CHECK_FALSE(req.conversation_id);
}

TEST_CASE("responses: every known field is read", "[responses]") {
  auto req = parsed(json::parse(R"({
    "model": "m", "instructions": "be brief",
    "input": [{"role": "user", "content": "hi"},
              {"type": "message", "role": "assistant", "content": "hello"}],
    "tools": [{"type": "function", "name": "get_weather", "description": "d",
               "parameters": {"type": "object"}, "strict": true}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "previous_response_id": "resp_1", "store": false, "stream": true,
    "parallel_tool_calls": false, "temperature": 0.5, "top_p": 0.9,
    "max_output_tokens": 100, "metadata": {"k": "v"},
    "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
    "user": "u1", "reasoning": {"effort": "low"}, "truncation": "auto",
    "include": ["message.output_text.logprobs"], "service_tier": "auto"
  })"));
  CHECK(req.instructions == std::optional<std::string>("be brief"));
  // Typeless and string-content messages are normalized.
  CHECK(req.input_items == json::parse(R"([
    {"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},
    {"type":"message","role":"assistant",
     "content":[{"type":"output_text","text":"hello","annotations":[],"logprobs":[]}]}])"));
  CHECK(req.tools.size() == 1);
  CHECK(req.tool_choice["name"] == "get_weather");
  CHECK(req.previous_response_id == std::optional<std::string>("resp_1"));
  CHECK_FALSE(req.store);
  CHECK(req.stream);
  CHECK(req.parallel_tool_calls == std::optional<bool>(false));
  CHECK(req.temperature == std::optional<double>(0.5));
  CHECK(req.top_p == std::optional<double>(0.9));
  CHECK(req.max_output_tokens == std::optional<std::int64_t>(100));
  CHECK(req.metadata == json{{"k", "v"}});
  CHECK(req.text["format"]["type"] == "json_schema");
  CHECK(req.user == std::optional<std::string>("u1"));
  CHECK(req.reasoning["effort"] == "low");
  CHECK(req.truncation == "auto");
}

TEST_CASE("responses: conversation as an id or an object", "[responses]") {
  CHECK(parsed({{"model", "m"}, {"input", "x"}, {"conversation", "conv_1"}}).conversation_id ==
        std::optional<std::string>("conv_1"));
  CHECK(parsed({{"model", "m"}, {"input", "x"}, {"conversation", {{"id", "conv_2"}}}})
            .conversation_id == std::optional<std::string>("conv_2"));
  // Explicit nulls mean absent.
  auto req = parsed({{"model", "m"}, {"input", "x"}, {"conversation", nullptr},
                     {"temperature", nullptr}, {"tools", nullptr}, {"store", nullptr}});
  CHECK_FALSE(req.conversation_id);
  CHECK_FALSE(req.temperature);
  CHECK(req.store);
}

TEST_CASE("responses: parse_request rejects bad bodies with the parameter at fault",
          "[responses]") {
  struct row {
    const char* body;
    const char* param;
  };
  const std::vector<row> rows = {
      {R"({"input":"x"})", "model"},
      {R"({"model":5,"input":"x"})", "model"},
      {R"({"model":"","input":"x"})", "model"},
      {R"({"model":"m","input":5})", "input"},
      {R"({"model":"m","input":{"role":"user"}})", "input"},
      {R"({"model":"m","input":[5]})", "input[0]"},
      {R"({"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]})", "input[0].type"},
      {R"({"model":"m","input":[{"content":"x"}]})", "input[0].type"},
      {R"({"model":"m","input":[{"type":"message","role":"tool","content":"x"}]})",
       "input[0].role"},
      {R"({"model":"m","input":[{"type":"message","role":"user"}]})", "input[0].content"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]})",
       "input[0].content[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":3}]}]})",
       "input[0].content[0].text"},
      {R"({"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]})",
       "input[0].content[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]})",
       "input[0].content[0].file_id"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"refusal","refusal":"no"}]}]})",
       "input[0].content[0].type"},
      {R"({"model":"m","input":["x"]})", "input[0]"},
      {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id"},
      {R"({"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]})",
       "input[0].name"},
      {R"({"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]})",
       "input[0].arguments"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":7}]})",
       "input[0].output"},
      {R"({"model":"m","input":[{"type":"function_call_output","output":"x"}]})",
       "input[0].call_id"},
      {R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})", "input[0].type"},
      {R"({"model":"m","input":"x","tools":{}})", "tools"},
      {R"({"model":"m","input":"x","tools":[{"type":"function"}]})", "tools[0].name"},
      {R"({"model":"m","input":"x","tools":[{"type":"function","name":"bad name"}]})",
       "tools[0].name"},
      {R"({"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":"{}"}]})",
       "tools[0].parameters"},
      {R"({"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search_preview"}]})",
       "tools[1].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]})",
       "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"code_interpreter"}]})", "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"computer_use_preview"}]})", "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"mcp","server_label":"s"}]})",
       "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"image_generation"}]})", "tools[0].type"},
      {R"({"model":"m","input":"x","tools":[{"type":"custom","name":"c"}]})", "tools[0].type"},
      {R"({"model":"m","input":"x","tool_choice":"sometimes"})", "tool_choice"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"function","name":"nope"}})",
       "tool_choice.name"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"file_search"}})", "tool_choice.type"},
      {R"({"model":"m","input":"x","previous_response_id":"resp_1","conversation":"conv_1"})",
       "conversation"},
      {R"({"model":"m","input":"x","conversation":5})", "conversation"},
      {R"({"model":"m","input":"x","conversation":{}})", "conversation.id"},
      {R"({"model":"m","input":"x","previous_response_id":7})", "previous_response_id"},
      {R"({"model":"m","input":"x","metadata":[]})", "metadata"},
      {R"({"model":"m","input":"x","metadata":{"k":1}})", "metadata.k"},
      {R"({"model":"m","input":"x","store":"yes"})", "store"},
      {R"({"model":"m","input":"x","stream":1})", "stream"},
      {R"({"model":"m","input":"x","background":"no"})", "background"},
      {R"({"model":"m","input":"x","background":true,"store":false})", "background"},
      {R"({"model":"m","input":"x","parallel_tool_calls":"no"})", "parallel_tool_calls"},
      {R"({"model":"m","input":"x","temperature":"hot"})", "temperature"},
      {R"({"model":"m","input":"x","temperature":2.5})", "temperature"},
      {R"({"model":"m","input":"x","top_p":1.5})", "top_p"},
      {R"({"model":"m","input":"x","max_output_tokens":100.5})", "max_output_tokens"},
      {R"({"model":"m","input":"x","max_output_tokens":8})", "max_output_tokens"},
      {R"({"model":"m","input":"x","instructions":["a"]})", "instructions"},
      {R"({"model":"m","input":"x","user":5})", "user"},
      {R"({"model":"m","input":"x","text":"json"})", "text"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"xml"}}})", "text.format.type"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}})",
       "text.format.name"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n"}}})",
       "text.format.schema"},
      {R"({"model":"m","input":"x","reasoning":"high"})", "reasoning"},
      {R"({"model":"m","input":"x","truncation":"sometimes"})", "truncation"},
      {R"({"model":"m","input":"x","include":[1]})", "include[0]"},
      {R"({"model":"m","input":"x","prompt":{"id":"pmpt_1"}})", "prompt"},
  };
  for (const auto& r : rows) {
    INFO(r.body);
    auto f = rejected(json::parse(r.body));
    CHECK(f.param.value_or("<none>") == r.param);
    CHECK_FALSE(f.message.empty());
  }
  CHECK_FALSE(rs::parse_request(json::parse("[1]")));
}

TEST_CASE("responses: unsupported tool types say so clearly", "[responses]") {
  for (const char* type : {"web_search", "web_search_preview", "file_search", "code_interpreter",
                           "computer_use_preview", "mcp", "image_generation", "custom"}) {
    auto f = rejected({{"model", "m"}, {"input", "x"}, {"tools", {{{"type", type}}}}});
    CHECK(f.message.find(std::string("tool type '") + type + "' is not supported by OAG") !=
          std::string::npos);
  }
}

TEST_CASE("responses: metadata limits", "[responses]") {
  json md = json::object();
  for (int i = 0; i < 16; ++i) md["k" + std::to_string(i)] = "v";
  parsed({{"model", "m"}, {"input", "x"}, {"metadata", md}});
  md["k16"] = "v";
  CHECK(rejected({{"model", "m"}, {"input", "x"}, {"metadata", md}}).param ==
        std::optional<std::string>("metadata"));
  parsed({{"model", "m"}, {"input", "x"}, {"metadata", {{std::string(64, 'k'), std::string(512, 'v')}}}});
  CHECK(rejected({{"model", "m"}, {"input", "x"}, {"metadata", {{std::string(65, 'k'), "v"}}}})
            .param == std::optional<std::string>("metadata"));
  CHECK(rejected({{"model", "m"}, {"input", "x"}, {"metadata", {{"k", std::string(513, 'v')}}}})
            .param == std::optional<std::string>("metadata.k"));
  // Limits count characters, not bytes: 512 two-byte characters fit.
  std::string wide;
  for (int i = 0; i < 512; ++i) wide += "\xc3\xa9";
  parsed({{"model", "m"}, {"input", "x"}, {"metadata", {{"k", wide}}}});
}

// ---------------------------------------------------------------------------
// items → chat messages

TEST_CASE("responses: items become chat messages; function calls merge", "[responses]") {
  const json items = json::parse(R"([
    {"type":"message","role":"developer","content":"rules"},
    {"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Oslo and Rome?"}]},
    {"type":"reasoning","id":"rs_1","summary":[]},
    {"type":"message","id":"msg_1","status":"completed","role":"assistant",
     "content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
    {"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Oslo\"}","status":"completed"},
    {"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
    {"type":"function_call_output","call_id":"call_a","output":"4C"},
    {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"18C"},{"type":"input_text","text":"sunny"}]},
    {"type":"function_call","call_id":"call_c","name":"get_time","arguments":"{}"},
    {"type":"function_call","call_id":"call_d","name":"get_date","arguments":"{}"},
    {"role":"user","content":[{"type":"input_text","text":"and"},{"type":"input_image","image_url":"https://x/y.png","detail":"low"}]}
  ])");
  auto r = rs::items_to_chat_messages(items);
  REQUIRE(r);
  const json expected = json::parse(R"([
    {"role":"developer","content":"rules"},
    {"role":"user","content":"Weather in Oslo and Rome?"},
    {"role":"assistant","content":"Checking.","tool_calls":[
      {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
      {"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
    {"role":"tool","tool_call_id":"call_a","content":"4C"},
    {"role":"tool","tool_call_id":"call_b","content":"18C\nsunny"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_c","type":"function","function":{"name":"get_time","arguments":"{}"}},
      {"id":"call_d","type":"function","function":{"name":"get_date","arguments":"{}"}}]},
    {"role":"user","content":[{"type":"text","text":"and"},
                              {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}
  ])");
  CHECK(*r == expected);
  // Whatever comes out is a chat request OAG itself accepts.
  auto valid = validate_chat_request({{"model", "m"}, {"messages", *r}});
  if (!valid) FAIL(valid.error().message << " at " << valid.error().param.value_or("-"));
}

TEST_CASE("responses: images in function outputs follow the tool messages", "[responses]") {
  const json items = json::parse(R"([
    {"type":"function_call","call_id":"c1","name":"shot","arguments":"{}"},
    {"type":"function_call","call_id":"c2","name":"shot","arguments":"{}"},
    {"type":"function_call_output","call_id":"c1","output":[{"type":"input_image","image_url":"data:image/png;base64,AA=="}]},
    {"type":"function_call_output","call_id":"c2","output":"done"}
  ])");
  auto r = rs::items_to_chat_messages(items);
  REQUIRE(r);
  REQUIRE(r->size() == 4);
  CHECK((*r)[1] == json::parse(R"({"role":"tool","tool_call_id":"c1","content":""})"));
  CHECK((*r)[2]["role"] == "tool");
  CHECK((*r)[3] == json::parse(R"({"role":"user","content":[
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]})"));
  CHECK(validate_chat_request({{"model", "m"}, {"messages", *r}}));
}

TEST_CASE("responses: assistant refusals and multi-part texts", "[responses]") {
  auto r = rs::items_to_chat_messages(json::parse(R"([
    {"role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]},
    {"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
    {"role":"user","content":[]}
  ])"));
  REQUIRE(r);
  CHECK((*r)[0] == json::parse(R"({"role":"assistant","content":null,"refusal":"I can't."})"));
  CHECK((*r)[1]["content"] == json::parse(R"([{"type":"text","text":"a"},{"type":"text","text":"b"}])"));
  CHECK((*r)[2]["content"] == "");
  CHECK(validate_chat_request({{"model", "m"}, {"messages", *r}}));
  // Failures name the array the caller says the items came from.
  auto bad = rs::items_to_chat_messages(json::parse(R"([{"role":"critic","content":"x"}])"), "history");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().param == std::optional<std::string>("history[0].role"));
}

TEST_CASE("responses: output items convert back to the chat message they came from",
          "[responses]") {
  const json message = json::parse(R"({"role":"assistant","content":"Let me look.","tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},
      {"id":"call_2","type":"function","function":{"name":"b","arguments":"{}"}}]})");
  json items = rs::output_items_from_chat(completion(message, "tool_calls"), fresh_ids());
  auto back = rs::items_to_chat_messages(items, "output");
  REQUIRE(back);
  REQUIRE(back->size() == 1);
  CHECK((*back)[0] == message);
}

TEST_CASE("responses: instructions lead the chat body; the body is a valid chat request",
          "[responses]") {
  auto req = parsed(json::parse(R"({
    "model":"m","instructions":"be brief","input":"now?",
    "tools":[{"type":"function","name":"f","parameters":{"type":"object"},"strict":true}],
    "tool_choice":"required","parallel_tool_calls":false,"temperature":0.2,"top_p":0.5,
    "max_output_tokens":64,"user":"u","metadata":{"a":"b"},"reasoning":{"effort":"high"},
    "text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}
  })"));
  const json history = json::parse(R"([{"role":"user","content":"before"},
                                       {"role":"assistant","content":"ok"}])");
  json body = rs::chat_body(req, history, true);
  CHECK(body["model"] == "m");
  CHECK(body["messages"] == json::parse(R"([
    {"role":"system","content":"be brief"},
    {"role":"user","content":"before"},{"role":"assistant","content":"ok"},
    {"role":"user","content":"now?"}])"));
  CHECK(body["tools"] == json::parse(R"([{"type":"function","function":{"name":"f",
      "parameters":{"type":"object"},"strict":true}}])"));
  CHECK(body["tool_choice"] == "required");
  CHECK(body["parallel_tool_calls"] == false);
  CHECK(body["temperature"] == 0.2);
  CHECK(body["top_p"] == 0.5);
  CHECK(body["max_completion_tokens"] == 64);
  CHECK(body["user"] == "u");
  CHECK(body["reasoning_effort"] == "high");
  CHECK(body["response_format"] == json::parse(R"({"type":"json_schema","json_schema":
      {"name":"out","schema":{"type":"object"},"strict":true}})"));
  CHECK(body["stream"] == true);
  CHECK(body["stream_options"] == json{{"include_usage", true}});
  CHECK_FALSE(body.contains("metadata"));
  CHECK_FALSE(body.contains("store"));
  auto valid = validate_chat_request(body);
  if (!valid) FAIL(valid.error().message << " at " << valid.error().param.value_or("-"));

  json plain = rs::chat_body(parsed({{"model", "m"}, {"input", "x"}, {"tool_choice", "auto"},
                                     {"text", {{"format", {{"type", "json_object"}}}}}}),
                             json::array(), false);
  CHECK_FALSE(plain.contains("stream"));
  CHECK_FALSE(plain.contains("tools"));
  CHECK_FALSE(plain.contains("tool_choice"));  // no tools: nothing to choose from
  CHECK(plain["response_format"] == json{{"type", "json_object"}});
  CHECK(validate_chat_request(plain));

  CHECK(rs::with_instructions(std::nullopt, history) == history);
  CHECK(rs::with_instructions(std::string("s"), json::array())[0] ==
        json{{"role", "system"}, {"content", "s"}});
}

// ---------------------------------------------------------------------------
// tools

TEST_CASE("responses: function tools and tool_choice translate to chat", "[responses]") {
  const json tools = json::parse(R"([
    {"type":"function","name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{}},"strict":false},
    {"type":"function","name":"ping","description":null,"parameters":null}
  ])");
  CHECK(rs::tools_to_chat(tools) == json::parse(R"([
    {"type":"function","function":{"name":"get_weather","description":"Weather",
      "parameters":{"type":"object","properties":{}},"strict":false}},
    {"type":"function","function":{"name":"ping"}}])"));
  CHECK(rs::tools_to_chat(nullptr) == json::array());

  CHECK(rs::tool_choice_to_chat("auto") == "auto");
  CHECK(rs::tool_choice_to_chat("none") == "none");
  CHECK(rs::tool_choice_to_chat("required") == "required");
  CHECK(rs::tool_choice_to_chat(nullptr).is_null());
  CHECK(rs::tool_choice_to_chat({{"type", "function"}, {"name", "ping"}}) ==
        json::parse(R"({"type":"function","function":{"name":"ping"}})"));
  CHECK(rs::tool_choice_to_chat(json::parse(
            R"({"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"ping"}]})")) ==
        json::parse(R"({"type":"allowed_tools","allowed_tools":{"mode":"required",
            "tools":[{"type":"function","function":{"name":"ping"}}]}})"));

  // Both tool_choice forms pass the chat validator once translated.
  for (const char* tc : {R"({"type":"function","name":"ping"})",
                         R"({"type":"allowed_tools","mode":"auto","tools":[{"type":"function","name":"ping"}]})"}) {
    auto req = parsed({{"model", "m"}, {"input", "x"}, {"tools", tools}, {"tool_choice", json::parse(tc)}});
    auto valid = validate_chat_request(rs::chat_body(req, json::array(), false));
    if (!valid) FAIL(tc << ": " << valid.error().message);
  }
}

// ---------------------------------------------------------------------------
// chat.completion → output items and Response

TEST_CASE("responses: output items from a completion with text and two tool calls",
          "[responses]") {
  const json c = completion(json::parse(R"({"role":"assistant","content":"On it.","refusal":null,
      "tool_calls":[
        {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
        {"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]})"),
                            "tool_calls");
  CHECK(rs::output_items_from_chat(c, fresh_ids()) == json::parse(R"([
    {"id":"msg_0","type":"message","status":"completed","role":"assistant",
     "content":[{"type":"output_text","text":"On it.","annotations":[],"logprobs":[]}]},
    {"id":"fc_0","type":"function_call","status":"completed","call_id":"call_1",
     "name":"get_weather","arguments":"{\"city\":\"Oslo\"}"},
    {"id":"fc_1","type":"function_call","status":"completed","call_id":"call_2",
     "name":"get_time","arguments":"{}"}])"));

  // Only tool calls: no message item.
  json calls_only = rs::output_items_from_chat(
      completion(json::parse(R"({"role":"assistant","content":null,"tool_calls":[
          {"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]})"),
                 "tool_calls"),
      fresh_ids());
  REQUIRE(calls_only.size() == 1);
  CHECK(calls_only[0]["type"] == "function_call");

  // A refusal; an empty answer still gives one (empty) message.
  json refusal = rs::output_items_from_chat(
      completion({{"role", "assistant"}, {"content", nullptr}, {"refusal", "No."}}, "stop"),
      fresh_ids());
  CHECK(refusal[0]["content"] == json::parse(R"([{"type":"refusal","refusal":"No."}])"));
  json empty = rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", ""}}, "stop"),
                                          fresh_ids());
  REQUIRE(empty.size() == 1);
  CHECK(empty[0]["content"][0]["text"] == "");

  // Truncated: items are incomplete.
  json cut = rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", "abc"}}, "length"),
                                        fresh_ids());
  CHECK(cut[0]["status"] == "incomplete");
}

TEST_CASE("responses: the Response object carries every key the spec requires",
          "[responses]") {
  auto req = parsed({{"model", "gpt-x"}, {"input", "hi"}, {"conversation", "conv_7"}});
  const json chat_usage = json::parse(R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
      "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}})");
  json out = rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", "yo"}}, "stop"),
                                        fresh_ids());
  json r = rs::response_object(req, "resp_1", 1700000000, "completed", out, chat_usage, nullptr,
                               std::nullopt, 1700000001);
  for (const auto& key : response_required) {
    INFO(key);
    CHECK(r.contains(key));
  }
  CHECK(r["id"] == "resp_1");
  CHECK(r["object"] == "response");
  CHECK(r["created_at"] == 1700000000);
  CHECK(r["completed_at"] == 1700000001);
  CHECK(r["status"] == "completed");
  CHECK(r["error"].is_null());
  CHECK(r["incomplete_details"].is_null());
  CHECK(r["instructions"].is_null());
  CHECK(r["model"] == "gpt-x");
  CHECK(r["output"] == out);
  CHECK(r["parallel_tool_calls"] == true);
  CHECK(r["previous_response_id"].is_null());
  CHECK(r["store"] == true);
  CHECK(r["temperature"] == 1.0);
  CHECK(r["top_p"] == 1.0);
  CHECK(r["tool_choice"] == "auto");
  CHECK(r["tools"] == json::array());
  CHECK(r["text"] == json::parse(R"({"format":{"type":"text"}})"));
  CHECK(r["truncation"] == "disabled");
  CHECK(r["metadata"] == json::object());
  CHECK(r["user"].is_null());
  CHECK(r["reasoning"] == json::parse(R"({"effort":null,"summary":null})"));
  CHECK(r["conversation"] == json{{"id", "conv_7"}});
  CHECK_FALSE(r.contains("output_text"));  // the SDKs compute it
  // ResponseUsage and its required details.
  CHECK(r["usage"] == json::parse(R"({"input_tokens":10,
      "input_tokens_details":{"cached_tokens":4,"cache_write_tokens":0},
      "output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15})"));

  json inc = rs::response_object(req, "resp_2", 1, "incomplete", json::array(), nullptr, nullptr);
  CHECK(inc["incomplete_details"] == json{{"reason", "max_output_tokens"}});
  CHECK(inc["usage"].is_null());
  CHECK_FALSE(rs::response_object(parsed({{"model", "m"}}), "r", 1, "completed", json::array(),
                                  nullptr, nullptr)
                  .contains("conversation"));

  json failed = rs::response_object(req, "resp_3", 1, "failed", json::array(), nullptr,
                                    rs::response_error(make_failure(errc::upstream_error, "boom")));
  CHECK(failed["error"] == json::parse(R"({"code":"server_error","message":"boom"})"));
  CHECK(rs::response_error(make_failure(errc::rate_limited, "slow"))["code"] == "rate_limit_exceeded");
}

TEST_CASE("responses: response_from_chat derives status and usage", "[responses]") {
  auto req = parsed({{"model", "m"}, {"input", "hi"}});
  json usage = {{"prompt_tokens", 3}, {"completion_tokens", 16}, {"total_tokens", 19}};
  json r = rs::response_from_chat(req, "resp_1", 5,
                                  completion({{"role", "assistant"}, {"content", "abc"}}, "length", usage),
                                  fresh_ids(), 6);
  CHECK(r["status"] == "incomplete");
  CHECK(r["incomplete_details"] == json{{"reason", "max_output_tokens"}});
  CHECK(r["completed_at"].is_null());
  CHECK(r["usage"]["output_tokens"] == 16);
  json ok = rs::response_from_chat(req, "resp_1", 5,
                                   completion({{"role", "assistant"}, {"content", "abc"}}, "stop", usage),
                                   fresh_ids(), 6);
  CHECK(ok["status"] == "completed");
  CHECK(ok["completed_at"] == 6);
  CHECK(rs::outcome_of("content_filter").incomplete_reason == std::optional<std::string>("content_filter"));
  CHECK(rs::outcome_of("tool_calls").status == "completed");

  money::token_usage tu;
  tu.input_tokens = 10;
  tu.cached_input_tokens = 3;
  tu.output_tokens = 7;
  CHECK(rs::usage_from_tokens(tu) == json::parse(R"({"input_tokens":10,
      "input_tokens_details":{"cached_tokens":3,"cache_write_tokens":0},
      "output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":17})"));
  // Responses-shaped usage passes through.
  CHECK(rs::usage_from_chat(rs::usage_from_tokens(tu)) == rs::usage_from_tokens(tu));
  CHECK(rs::usage_from_chat("x").is_null());
}

// ---------------------------------------------------------------------------
// stream_encoder

TEST_CASE("responses stream: a text answer split across chunks", "[responses][stream]") {
  auto req = parsed({{"model", "m"}, {"input", "hi"}, {"stream", true}});
  rs::stream_encoder enc(req, "resp_1", 100, fresh_ids());
  std::string bytes = enc.start();
  CHECK(enc.start().empty());  // once
  bytes += enc.on_chunk(chunk({{"role", "assistant"}, {"content", ""}}));
  bytes += enc.on_chunk(chunk({{"content", "Hel"}}));
  bytes += enc.on_chunk(chunk({{"content", "lo, "}}));
  bytes += enc.on_chunk(chunk({{"content", "world"}}));
  bytes += enc.on_chunk(chunk(json::object(), "stop"));
  bytes += enc.on_chunk(usage_chunk(7, 3));
  CHECK(enc.final_response().is_null());
  bytes += enc.finish(nullptr, 101);
  CHECK(enc.finish(nullptr).empty());
  CHECK(enc.ended());

  auto frames = frames_of(bytes);
  CHECK(names_of(frames) == std::vector<std::string>{
                                "response.created", "response.in_progress",
                                "response.output_item.added", "response.content_part.added",
                                "response.output_text.delta", "response.output_text.delta",
                                "response.output_text.delta", "response.output_text.done",
                                "response.content_part.done", "response.output_item.done",
                                "response.completed"});
  std::string text;
  for (const auto& f : frames)
    if (f.name == "response.output_text.delta") {
      CHECK(f.data["item_id"] == "msg_0");
      CHECK(f.data["output_index"] == 0);
      CHECK(f.data["content_index"] == 0);
      text += f.data["delta"].get<std::string>();
    }
  CHECK(text == "Hello, world");
  CHECK(frames[7].data["text"] == "Hello, world");
  CHECK(frames[9].data["item"]["status"] == "completed");

  json snap = sdk_accumulate(frames);
  const json& final = frames.back().data["response"];
  CHECK(final == enc.final_response());
  CHECK(final["status"] == "completed");
  CHECK(final["id"] == "resp_1");
  CHECK(final["created_at"] == 100);
  CHECK(final["completed_at"] == 101);
  CHECK(final["usage"]["input_tokens"] == 7);
  CHECK(final["usage"]["output_tokens"] == 3);
  CHECK(snap["output"] == final["output"]);
  CHECK(final["output"] == enc.output_items());
  // The same answer not streamed gives the same items.
  CHECK(final["output"] ==
        rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", "Hello, world"}}, "stop"),
                                   fresh_ids()));
  for (const auto& key : response_required) CHECK(final.contains(key));
  CHECK(frames[0].data["response"]["status"] == "in_progress");
  CHECK(frames[0].data["response"]["output"] == json::array());
}

TEST_CASE("responses stream: text then two parallel tool calls by index",
          "[responses][stream]") {
  auto req = parsed(json::parse(R"({"model":"m","input":"hi","stream":true,
      "tools":[{"type":"function","name":"get_weather"},{"type":"function","name":"get_time"}]})"));
  rs::stream_encoder enc(req, "resp_2", 100, fresh_ids());
  std::string bytes;
  // No start(): the first chunk starts the stream.
  bytes += enc.on_chunk(chunk({{"role", "assistant"}, {"content", "Checking"}}));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[
      {"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[
      {"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\""}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"content":"..."})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Oslo\"}"}}]})")));
  bytes += enc.on_chunk(chunk(json::parse(R"({"tool_calls":[{"index":1,"function":{"arguments":":\"UTC\"}"}}]})")));
  bytes += enc.on_chunk(chunk(json::object(), "tool_calls"));
  bytes += enc.finish(json{{"prompt_tokens", 20}, {"completion_tokens", 9}, {"total_tokens", 29}});

  auto frames = frames_of(bytes);
  CHECK(names_of(frames) ==
        std::vector<std::string>{
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta",                        // Checking
            "response.output_item.added",                        // call 0
            "response.function_call_arguments.delta",            // {"ci
            "response.output_item.added",                        // call 1
            "response.function_call_arguments.delta",            // {"tz"
            "response.output_text.delta",                        // ...
            "response.function_call_arguments.delta",            // ty":"Oslo"}
            "response.function_call_arguments.delta",            // :"UTC"}
            "response.output_text.done", "response.content_part.done",
            "response.output_item.done",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.completed"});

  std::map<std::string, std::string> args;
  std::string text;
  for (const auto& f : frames) {
    if (f.name == "response.function_call_arguments.delta")
      args[f.data["item_id"].get<std::string>()] += f.data["delta"].get<std::string>();
    if (f.name == "response.output_text.delta") text += f.data["delta"].get<std::string>();
  }
  CHECK(text == "Checking...");
  CHECK(args["fc_0"] == "{\"city\":\"Oslo\"}");
  CHECK(args["fc_1"] == "{\"tz\":\"UTC\"}");
  CHECK(frames[5].data["item"] == json::parse(R"({"id":"fc_0","type":"function_call",
      "status":"in_progress","arguments":"","call_id":"call_a","name":"get_weather"})"));
  CHECK(frames[5].data["output_index"] == 1);
  CHECK(frames[7].data["output_index"] == 2);
  CHECK(frames[15].data["name"] == "get_weather");
  CHECK(frames[15].data["arguments"] == "{\"city\":\"Oslo\"}");

  json snap = sdk_accumulate(frames);
  const json& final = frames.back().data["response"];
  CHECK(snap["output"] == final["output"]);
  CHECK(final["status"] == "completed");
  CHECK(final["usage"]["total_tokens"] == 29);
  CHECK(final["tools"] == req.tools);
  const json same = completion(json::parse(R"({"role":"assistant","content":"Checking...","tool_calls":[
      {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
      {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"UTC\"}"}}]})"),
                               "tool_calls");
  CHECK(final["output"] == rs::output_items_from_chat(same, fresh_ids()));
}

TEST_CASE("responses stream: finish_reason length ends with response.incomplete",
          "[responses][stream]") {
  auto req = parsed({{"model", "m"}, {"input", "hi"}, {"max_output_tokens", 16}});
  rs::stream_encoder enc(req, "resp_3", 1, fresh_ids());
  std::string bytes = enc.start();
  bytes += enc.on_chunk(chunk({{"content", "once upon"}}));
  bytes += enc.on_chunk(chunk(json::object(), "length"));
  bytes += enc.finish();
  auto frames = frames_of(bytes);
  sdk_accumulate(frames);
  REQUIRE(frames.back().name == "response.incomplete");
  const json& final = frames.back().data["response"];
  CHECK(final["status"] == "incomplete");
  CHECK(final["incomplete_details"] == json{{"reason", "max_output_tokens"}});
  CHECK(final["max_output_tokens"] == 16);
  CHECK(final["output"][0]["status"] == "incomplete");
  CHECK(final["output"] ==
        rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", "once upon"}}, "length"),
                                   fresh_ids()));
}

TEST_CASE("responses stream: empty answers, refusals and failures", "[responses][stream]") {
  auto req = parsed({{"model", "m"}, {"input", "hi"}});
  {
    rs::stream_encoder enc(req, "r", 1, fresh_ids());
    std::string bytes = enc.start();  // one call per statement: + does not sequence them
    bytes += enc.on_chunk(chunk(json::object(), "stop"));
    bytes += enc.finish();
    auto frames = frames_of(bytes);
    CHECK(names_of(frames) == std::vector<std::string>{
                                  "response.created", "response.in_progress",
                                  "response.output_item.added", "response.content_part.added",
                                  "response.output_text.done", "response.content_part.done",
                                  "response.output_item.done", "response.completed"});
    CHECK(frames.back().data["response"]["output"] ==
          rs::output_items_from_chat(completion({{"role", "assistant"}, {"content", ""}}, "stop"),
                                     fresh_ids()));
  }
  {
    rs::stream_encoder enc(req, "r", 1, fresh_ids());
    std::string bytes = enc.on_chunk(chunk({{"refusal", "I can"}}));
    bytes += enc.on_chunk(chunk({{"refusal", "'t."}}, "stop"));
    bytes += enc.finish();
    auto frames = frames_of(bytes);
    CHECK(names_of(frames) == std::vector<std::string>{
                                  "response.created", "response.in_progress",
                                  "response.output_item.added", "response.content_part.added",
                                  "response.refusal.delta", "response.refusal.delta",
                                  "response.refusal.done", "response.content_part.done",
                                  "response.output_item.done", "response.completed"});
    CHECK(frames[6].data["refusal"] == "I can't.");
    CHECK(sdk_accumulate(frames)["output"] == frames.back().data["response"]["output"]);
    CHECK(frames.back().data["response"]["output"] ==
          rs::output_items_from_chat(
              completion({{"role", "assistant"}, {"content", nullptr}, {"refusal", "I can't."}}, "stop"),
              fresh_ids()));
  }
  {
    rs::stream_encoder enc(req, "r", 1, fresh_ids());
    std::string bytes = enc.start();
    bytes += enc.on_chunk(chunk({{"content", "partial"}}));
    failure f = make_failure(errc::upstream_error, "upstream went away");
    bytes += enc.fail(f);
    CHECK(enc.fail(f).empty());
    CHECK(enc.finish().empty());
    CHECK(enc.on_chunk(chunk({{"content", "late"}})).empty());
    auto frames = frames_of(bytes);
    REQUIRE(frames.size() == 7);
    CHECK(frames[5].name == "response.failed");
    CHECK(frames[6].name == "error");
    CHECK(frames[6].data["code"] == "server_error");
    CHECK(frames[6].data["message"] == "upstream went away");
    CHECK(frames[6].data.contains("param"));
    const json& final = frames[5].data["response"];
    CHECK(final == enc.final_response());
    CHECK(final["status"] == "failed");
    CHECK(final["error"] == json::parse(R"({"code":"server_error","message":"upstream went away"})"));
    CHECK(final["output"][0]["content"][0]["text"] == "partial");
    CHECK(final["output"][0]["status"] == "incomplete");
    CHECK(frames[6].data["sequence_number"] == 6);
  }
}

// ---------------------------------------------------------------------------
// Conversations

TEST_CASE("responses conversations: thread messages and items", "[responses]") {
  const json user_msg = json::parse(R"({"id":"msg_u","object":"thread.message","created_at":1,
      "thread_id":"conv_1","role":"user","status":"completed",
      "content":[{"type":"text","text":{"value":"hi","annotations":[]}},
                 {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]})");
  CHECK(rs::message_to_item(user_msg) == json::parse(R"({"type":"message","id":"msg_u",
      "status":"completed","role":"user","content":[{"type":"input_text","text":"hi"},
      {"type":"input_image","image_url":"https://x/y.png","detail":"low"}]})"));
  const json bot_msg = json::parse(R"({"id":"msg_a","object":"thread.message","created_at":2,
      "thread_id":"conv_1","role":"assistant","status":"completed",
      "content":[{"type":"text","text":{"value":"hello","annotations":[]}}]})");
  json bot_item = rs::message_to_item(bot_msg);
  CHECK(bot_item["content"] ==
        json::parse(R"([{"type":"output_text","text":"hello","annotations":[],"logprobs":[]}])"));
  CHECK(rs::stored_to_item(bot_msg) == bot_item);

  // Back to thread message fields, and the items still convert to chat.
  auto fields = rs::item_to_message_fields(bot_item);
  REQUIRE(fields);
  CHECK(*fields == json::parse(R"({"role":"assistant",
      "content":[{"type":"text","text":{"value":"hello","annotations":[]}}]})"));
  auto ufields = rs::item_to_message_fields(json::parse(R"({"role":"user","content":"plain"})"));
  REQUIRE(ufields);
  CHECK((*ufields)["content"][0]["text"]["value"] == "plain");
  auto chat = rs::items_to_chat_messages(json::array({rs::message_to_item(user_msg), bot_item}),
                                         "conversation");
  REQUIRE(chat);
  CHECK((*chat)[1] == json{{"role", "assistant"}, {"content", "hello"}});

  // Non-message items are stored verbatim.
  const json call = json::parse(R"({"type":"function_call","call_id":"c","name":"f","arguments":"{}"})");
  CHECK(rs::is_message_item(bot_item));
  CHECK(rs::is_message_item(json::parse(R"({"role":"user","content":"x"})")));
  CHECK_FALSE(rs::is_message_item(call));
  CHECK_FALSE(rs::item_to_message_fields(call));
  json record = rs::conversation_record(call, "fc_9");
  CHECK(record["object"] == "conversation.item");
  CHECK(record["id"] == "fc_9");
  CHECK(record["item"]["id"] == "fc_9");
  CHECK(record["item"]["status"] == "completed");
  CHECK(rs::stored_to_item(record) == record["item"]);
  CHECK(rs::conversation_record(json::parse(R"({"type":"function_call","id":"fc_own"})"), "x")["id"] ==
        "fc_own");
  CHECK(rs::stored_to_item(json::object()).is_null());

  auto file = rs::item_to_message_fields(
      json::parse(R"({"role":"user","content":[{"type":"input_file","file_data":"AA=="}]})"));
  REQUIRE_FALSE(file);
  CHECK(file.error().param == std::optional<std::string>("item.content[0].type"));
}
