#include "assistants_objects.hpp"

#include <algorithm>
#include <set>

#include "object_store.hpp"

namespace oag::actors::assistants {

using nlohmann::json;

namespace {

const auto& bad = objects::bad_request;

/// Copies the optional scalar fields shared by assistants and runs.
result<void> sampling_fields(json& obj, const json& body) {
  if (body.contains("temperature")) {
    auto t = objects::number_field(body, "temperature", 0, 2);
    if (!t) return t.error();
    obj["temperature"] = *t ? json(**t) : json(1.0);
  }
  if (body.contains("top_p")) {
    auto p = objects::number_field(body, "top_p", 0, 1);
    if (!p) return p.error();
    obj["top_p"] = *p ? json(**p) : json(1.0);
  }
  if (body.contains("response_format")) {
    auto rf = check_response_format(body["response_format"]);
    if (!rf) return rf.error();
    obj["response_format"] = *rf;
  }
  if (body.contains("reasoning_effort")) {
    const auto& re = body["reasoning_effort"];
    if (!re.is_null() && !(re.is_string() && (re == "minimal" || re == "low" || re == "medium" || re == "high")))
      return bad("'reasoning_effort' must be one of minimal, low, medium, high", "reasoning_effort");
    obj["reasoning_effort"] = re;
  }
  return {};
}

} // namespace

result<json> check_tools(const json& tools, const std::string& param) {
  if (tools.is_null()) return json::array();
  if (!tools.is_array()) return bad("'" + param + "' must be an array", param);
  if (tools.size() > 128) return bad("'" + param + "' can hold at most 128 tools", param);
  json out = json::array();
  std::set<std::string> names;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const auto& t = tools[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("type") || !t["type"].is_string())
      return bad("'" + p + ".type' is required", p + ".type");
    const std::string type = t["type"];
    if (type == "code_interpreter")
      return bad("The code_interpreter tool is not supported by OAG (it would run model-written code); register a "
                 "server-side tool with POST /v1/tools instead.",
                 p + ".type");
    if (type == "file_search")
      return bad("The file_search tool is not available yet in OAG (it comes with knowledge bases).", p + ".type");
    if (type != "function")
      return bad("Unsupported tool type '" + type + "'; OAG supports 'function' tools.", p + ".type");
    if (!t.contains("function") || !t["function"].is_object())
      return bad("'" + p + ".function' is required for function tools", p + ".function");
    const auto& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || !objects::is_name(fn["name"], 64))
      return bad("'" + p + ".function.name' must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'",
                 p + ".function.name");
    if (!names.insert(fn["name"].get<std::string>()).second)
      return bad("Duplicate function name '" + fn["name"].get<std::string>() + "' in '" + param + "'", p + ".function.name");
    if (fn.contains("description") && !fn["description"].is_null() &&
        (!fn["description"].is_string() || fn["description"].get_ref<const std::string&>().size() > 1024))
      return bad("'" + p + ".function.description' must be a string of at most 1024 characters",
                 p + ".function.description");
    if (fn.contains("parameters") && !fn["parameters"].is_null() && !fn["parameters"].is_object())
      return bad("'" + p + ".function.parameters' must be a JSON schema object", p + ".function.parameters");
    if (fn.contains("strict") && !fn["strict"].is_null() && !fn["strict"].is_boolean())
      return bad("'" + p + ".function.strict' must be a boolean", p + ".function.strict");
    json clean = {{"name", fn["name"]}};
    for (const char* k : {"description", "parameters", "strict"})
      if (fn.contains(k) && !fn[k].is_null()) clean[k] = fn[k];
    out.push_back({{"type", "function"}, {"function", clean}});
  }
  return out;
}

result<json> check_response_format(const json& value) {
  if (value.is_null() || value == "auto") return json("auto");
  if (!value.is_object() || !value.contains("type") || !value["type"].is_string())
    return bad("'response_format' must be \"auto\" or an object with a 'type'", "response_format");
  const std::string type = value["type"];
  if (type == "text" || type == "json_object") return json{{"type", type}};
  if (type == "json_schema") {
    const auto& js = value.value("json_schema", json());
    if (!js.is_object() || !js.contains("name") || !js["name"].is_string())
      return bad("'response_format.json_schema.name' is required", "response_format.json_schema");
    if (js.contains("schema") && !js["schema"].is_null() && !js["schema"].is_object())
      return bad("'response_format.json_schema.schema' must be a JSON schema object", "response_format.json_schema.schema");
    return value;
  }
  return bad("'response_format.type' must be text, json_object or json_schema", "response_format.type");
}

result<json> new_assistant(const json& body, std::string id, std::int64_t created_at) {
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  auto model = objects::string_field(body, "model", 256);
  if (!model) return model.error();
  if (!*model || (*model)->empty()) return bad("'model' is required", "model");
  json a = {{"id", std::move(id)},
            {"object", "assistant"},
            {"created_at", created_at},
            {"name", nullptr},
            {"description", nullptr},
            {"model", **model},
            {"instructions", nullptr},
            {"tools", json::array()},
            {"tool_resources", json::object()},
            {"metadata", json::object()},
            {"temperature", 1.0},
            {"top_p", 1.0},
            {"response_format", "auto"},
            {"reasoning_effort", nullptr}};
  if (auto r = modify_assistant(a, body); !r) return r.error();
  return a;
}

result<void> modify_assistant(json& a, const json& body) {
  if (body.is_null()) return {};
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"model", "name", "description", "instructions", "tools", "tool_resources",
                                           "metadata", "temperature", "top_p", "response_format", "reasoning_effort"});
      !r)
    return r.error();
  if (body.contains("model")) {
    auto m = objects::string_field(body, "model", 256);
    if (!m) return m.error();
    if (!*m || (*m)->empty()) return bad("'model' must be a non-empty string", "model");
    a["model"] = **m;
  }
  for (auto [field, max] : {std::pair<const char*, std::size_t>{"name", 256}, {"description", 512}, {"instructions", 256000}}) {
    if (!body.contains(field)) continue;
    auto v = objects::string_field(body, field, max);
    if (!v) return v.error();
    a[field] = *v ? json(**v) : json(nullptr);
  }
  if (body.contains("tools")) {
    auto t = check_tools(body["tools"]);
    if (!t) return t.error();
    a["tools"] = *t;
  }
  if (body.contains("tool_resources")) {
    const auto& tr = body["tool_resources"];
    if (!tr.is_null() && !tr.is_object()) return bad("'tool_resources' must be an object", "tool_resources");
    if (tr.is_object() && (tr.contains("code_interpreter") || tr.contains("file_search")) &&
        !(tr.value("file_search", json::object()).value("vector_store_ids", json::array()).empty() &&
          tr.value("code_interpreter", json::object()).value("file_ids", json::array()).empty()))
      return bad("'tool_resources' with files or vector stores is not available yet in OAG", "tool_resources");
    a["tool_resources"] = tr.is_null() ? json::object() : tr;
  }
  if (body.contains("metadata")) {
    auto m = objects::check_metadata(body["metadata"]);
    if (!m) return m.error();
    a["metadata"] = *m;
  }
  return sampling_fields(a, body);
}

result<json> message_content(const json& content, const std::string& param) {
  auto text_part = [](const std::string& s) {
    return json{{"type", "text"}, {"text", {{"value", s}, {"annotations", json::array()}}}};
  };
  if (content.is_string()) return json::array({text_part(content.get<std::string>())});
  if (!content.is_array() || content.empty())
    return bad("'" + param + "' must be a string or a non-empty array of content parts", param);
  json out = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const auto& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    const std::string type = part.is_object() ? part.value("type", std::string{}) : std::string{};
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        return bad("'" + p + ".text' must be a string", p + ".text");
      out.push_back(text_part(part["text"].get<std::string>()));
    } else if (type == "image_url") {
      const auto& iu = part.value("image_url", json());
      if (!iu.is_object() || !iu.contains("url") || !iu["url"].is_string())
        return bad("'" + p + ".image_url.url' must be a string", p + ".image_url.url");
      json clean = {{"url", iu["url"]}};
      if (iu.contains("detail")) clean["detail"] = iu["detail"];
      out.push_back({{"type", "image_url"}, {"image_url", clean}});
    } else if (type == "image_file") {
      return bad("'" + p + "': image_file needs the Files API, which OAG does not serve; use image_url", p + ".type");
    } else {
      return bad("'" + p + ".type' must be text or image_url", p + ".type");
    }
  }
  return out;
}

result<json> new_message(const json& body, std::string id, const std::string& thread_id, std::int64_t created_at,
                         const std::string& param) {
  const std::string pre = param.empty() ? "" : param + ".";
  if (!body.is_object()) return bad("'" + (param.empty() ? std::string{"body"} : param) + "' must be an object",
                                    param.empty() ? "body" : param);
  for (auto& [k, v] : body.items())
    if (k != "role" && k != "content" && k != "attachments" && k != "metadata")
      return bad("Unrecognized request argument supplied: " + pre + k, pre + k);
  const std::string role = body.value("role", std::string{});
  if (role != "user" && role != "assistant") return bad("'" + pre + "role' must be 'user' or 'assistant'", pre + "role");
  if (!body.contains("content")) return bad("'" + pre + "content' is required", pre + "content");
  auto content = message_content(body["content"], pre + "content");
  if (!content) return content.error();
  if (body.contains("attachments") && !body["attachments"].is_null() &&
      !(body["attachments"].is_array() && body["attachments"].empty()))
    return bad("'" + pre + "attachments' need the Files API, which OAG does not serve", pre + "attachments");
  auto meta = objects::check_metadata(body.value("metadata", json()), pre + "metadata");
  if (!meta) return meta.error();
  return json{{"id", std::move(id)},
              {"object", "thread.message"},
              {"created_at", created_at},
              {"assistant_id", nullptr},
              {"thread_id", thread_id},
              {"run_id", nullptr},
              {"role", role},
              {"content", *content},
              {"attachments", json::array()},
              {"metadata", *meta},
              {"status", "completed"},
              {"incomplete_details", nullptr},
              {"completed_at", created_at},
              {"incomplete_at", nullptr}};
}

result<json> new_thread(const json& body, std::string id, std::int64_t created_at) {
  json t = {{"id", std::move(id)}, {"object", "thread"}, {"created_at", created_at},
            {"metadata", json::object()}, {"tool_resources", json::object()}};
  if (body.is_null()) return t;
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"messages", "metadata", "tool_resources"}); !r) return r.error();
  if (body.contains("messages") && !body["messages"].is_null() && !body["messages"].is_array())
    return bad("'messages' must be an array", "messages");
  if (body.contains("messages") && body["messages"].is_array() && body["messages"].size() > 32)
    return bad("'messages' can hold at most 32 messages", "messages");
  auto meta = objects::check_metadata(body.value("metadata", json()));
  if (!meta) return meta.error();
  t["metadata"] = *meta;
  return t;
}

result<json> new_run(const json& body, const json& assistant, std::string id, const std::string& thread_id,
                     std::int64_t created_at, std::int64_t expires_at) {
  json r = {{"id", std::move(id)},
            {"object", "thread.run"},
            {"created_at", created_at},
            {"assistant_id", assistant["id"]},
            {"thread_id", thread_id},
            {"status", "queued"},
            {"started_at", nullptr},
            {"expires_at", expires_at},
            {"cancelled_at", nullptr},
            {"failed_at", nullptr},
            {"completed_at", nullptr},
            {"required_action", nullptr},
            {"last_error", nullptr},
            {"model", assistant["model"]},
            {"instructions", assistant["instructions"].is_string() ? assistant["instructions"] : json("")},
            {"tools", assistant["tools"]},
            {"metadata", json::object()},
            {"incomplete_details", nullptr},
            {"usage", nullptr},
            {"temperature", assistant.value("temperature", json(1.0))},
            {"top_p", assistant.value("top_p", json(1.0))},
            {"max_prompt_tokens", nullptr},
            {"max_completion_tokens", nullptr},
            {"truncation_strategy", {{"type", "auto"}, {"last_messages", nullptr}}},
            {"response_format", assistant.value("response_format", json("auto"))},
            {"tool_choice", "auto"},
            {"parallel_tool_calls", true},
            {"reasoning_effort", assistant.value("reasoning_effort", json(nullptr))}};
  if (body.contains("model")) {
    auto m = objects::string_field(body, "model", 256);
    if (!m) return m.error();
    if (*m && !(*m)->empty()) r["model"] = **m;
  }
  if (body.contains("instructions")) {
    auto i = objects::string_field(body, "instructions", 256000);
    if (!i) return i.error();
    if (*i) r["instructions"] = **i;
  }
  auto extra = objects::string_field(body, "additional_instructions", 256000);
  if (!extra) return extra.error();
  if (*extra && !(*extra)->empty()) {
    std::string base = r["instructions"];
    r["instructions"] = base.empty() ? **extra : base + "\n\n" + **extra;
  }
  if (body.contains("tools") && !body["tools"].is_null()) {
    auto t = check_tools(body["tools"]);
    if (!t) return t.error();
    r["tools"] = *t;
  }
  if (body.contains("metadata")) {
    auto m = objects::check_metadata(body["metadata"]);
    if (!m) return m.error();
    r["metadata"] = *m;
  }
  if (auto s = sampling_fields(r, body); !s) return s.error();
  for (const char* f : {"max_prompt_tokens", "max_completion_tokens"}) {
    auto v = objects::integer_field(body, f, 256, 100'000'000); // OpenAI's floor for runs
    if (!v) return v.error();
    if (*v) r[f] = **v;
  }
  if (body.contains("truncation_strategy") && !body["truncation_strategy"].is_null()) {
    const auto& ts = body["truncation_strategy"];
    const std::string type = ts.is_object() ? ts.value("type", std::string{}) : std::string{};
    if (type == "auto") {
      r["truncation_strategy"] = {{"type", "auto"}, {"last_messages", nullptr}};
    } else if (type == "last_messages") {
      auto n = objects::integer_field(ts, "last_messages", 1, 1'000'000);
      if (!n || !*n)
        return bad("'truncation_strategy.last_messages' must be a positive integer", "truncation_strategy.last_messages");
      r["truncation_strategy"] = {{"type", "last_messages"}, {"last_messages", **n}};
    } else {
      return bad("'truncation_strategy.type' must be 'auto' or 'last_messages'", "truncation_strategy.type");
    }
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const auto& tc = body["tool_choice"];
    bool ok = tc == "none" || tc == "auto" || tc == "required";
    if (tc.is_object() && tc.value("type", std::string{}) == "function" && tc.contains("function") &&
        tc["function"].is_object() && tc["function"].contains("name") && tc["function"]["name"].is_string()) {
      ok = false;
      for (auto& t : r["tools"])
        if (t["function"]["name"] == tc["function"]["name"]) ok = true;
      if (!ok) return bad("'tool_choice' names a function that is not among the run's tools", "tool_choice");
    }
    if (!ok) return bad("'tool_choice' must be none, auto, required or {type:'function', function:{name}}", "tool_choice");
    r["tool_choice"] = tc;
  }
  if (body.contains("parallel_tool_calls") && !body["parallel_tool_calls"].is_null()) {
    if (!body["parallel_tool_calls"].is_boolean()) return bad("'parallel_tool_calls' must be a boolean", "parallel_tool_calls");
    r["parallel_tool_calls"] = body["parallel_tool_calls"];
  }
  return r;
}

result<json> check_tool_outputs(const json& body, const json& run) {
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"tool_outputs", "stream"}); !r) return r.error();
  const auto& outputs = body.value("tool_outputs", json());
  if (!outputs.is_array() || outputs.empty()) return bad("'tool_outputs' must be a non-empty array", "tool_outputs");
  std::set<std::string> waiting;
  for (auto& c : run["required_action"]["submit_tool_outputs"]["tool_calls"]) waiting.insert(c["id"].get<std::string>());
  std::set<std::string> seen;
  json out = json::array();
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const auto& o = outputs[i];
    const std::string p = "tool_outputs[" + std::to_string(i) + "]";
    if (!o.is_object() || !o.contains("tool_call_id") || !o["tool_call_id"].is_string())
      return bad("'" + p + ".tool_call_id' is required", p + ".tool_call_id");
    const std::string id = o["tool_call_id"];
    if (!waiting.count(id)) return bad("No tool call with id '" + id + "' is waiting for output in this run.", p + ".tool_call_id");
    if (!seen.insert(id).second) return bad("Tool call '" + id + "' got two outputs.", p + ".tool_call_id");
    if (o.contains("output") && !o["output"].is_null() && !o["output"].is_string())
      return bad("'" + p + ".output' must be a string", p + ".output");
    if (o.contains("output") && o["output"].is_string() && o["output"].get_ref<const std::string&>().size() > 512 * 1024)
      return bad("'" + p + ".output' is at most 512 KiB", p + ".output");
    // A missing or null output is an empty one.
    const json output = o.contains("output") && o["output"].is_string() ? o["output"] : json("");
    out.push_back({{"tool_call_id", id}, {"output", output}});
  }
  if (seen.size() != waiting.size()) {
    std::string missing;
    for (auto& w : waiting)
      if (!seen.count(w)) missing += (missing.empty() ? "" : ", ") + w;
    return bad("Expected outputs for every tool call; missing: " + missing + ".", "tool_outputs");
  }
  return out;
}

bool is_terminal(const std::string& status) {
  return status == "completed" || status == "failed" || status == "cancelled" || status == "incomplete" ||
         status == "expired";
}

} // namespace oag::actors::assistants
