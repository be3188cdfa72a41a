#include "oag/adapters/gemini_adapter.hpp"

#include <map>
#include <set>

#include "native_common.hpp"
#include "oag/adapters/openai_adapter.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;
using native::bad_request;

constexpr std::string_view default_base = "https://generativelanguage.googleapis.com/v1beta";
constexpr int max_schema_depth = 64;

json schema_of(const json& s, int depth);

/// Keywords of Gemini's Schema whose values are copied as they are.
bool is_plain_schema_key(const std::string& k) {
  static const std::set<std::string, std::less<>> keys = {
      "type",      "format",        "title",         "description", "nullable",
      "enum",      "maxItems",      "minItems",      "minProperties", "maxProperties",
      "minLength", "maxLength",     "pattern",       "example",     "default",
      "minimum",   "maximum",       "propertyOrdering", "required"};
  return keys.count(k) != 0;
}

/// Gemini accepts only these `format`s per type and answers 400 for the
/// others ("uri", "email", ...), which JSON-Schema tools use freely.
bool format_allowed(const json& type, const json& format) {
  if (!format.is_string() || !type.is_string()) return false;
  const auto& t = type.get_ref<const std::string&>();
  const auto& f = format.get_ref<const std::string&>();
  if (t == "string") return f == "enum" || f == "date-time";
  if (t == "number") return f == "float" || f == "double";
  if (t == "integer") return f == "int32" || f == "int64";
  return false;
}

json schema_list(const json& list, int depth) {
  json out = json::array();
  for (const auto& s : list) out.push_back(schema_of(s, depth + 1));
  return out;
}

json schema_of(const json& s, int depth) {
  if (!s.is_object() || depth > max_schema_depth) return json::object();
  json out = json::object();
  for (auto it = s.begin(); it != s.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "properties" && v.is_object()) {
      // The keys here are the tool's own property names, never keywords.
      json props = json::object();
      for (auto p = v.begin(); p != v.end(); ++p) props[p.key()] = schema_of(p.value(), depth + 1);
      out["properties"] = std::move(props);
    } else if (k == "items" && v.is_object()) {
      out["items"] = schema_of(v, depth + 1);
    } else if ((k == "anyOf" || k == "oneOf") && v.is_array()) {
      out["anyOf"] = schema_list(v, depth);
    } else if (k == "type" && v.is_array()) {
      // ["string","null"] is JSON Schema's nullable; Gemini has one type.
      json types = json::array();
      for (const auto& t : v) {
        if (t == "null")
          out["nullable"] = true;
        else if (t.is_string())
          types.push_back(t);
      }
      if (!types.empty()) out["type"] = types.front();
    } else if (k == "const") {
      out["enum"] = json::array({v});
    } else if (k == "format") {
      continue;  // decided below, once the type is known
    } else if (is_plain_schema_key(k)) {
      out[k] = v;
    }
  }
  if (auto f = s.find("format"); f != s.end() && out.contains("type") && format_allowed(out["type"], *f))
    out["format"] = *f;
  return out;
}

/// Gemini rejects an OBJECT schema without properties in a declaration;
/// a tool without parameters simply declares none.
bool empty_object_schema(const json& schema) {
  if (!schema.is_object() || schema.empty()) return true;
  auto t = schema.find("type");
  if (t == schema.end() || *t != "object") return false;
  auto p = schema.find("properties");
  return p == schema.end() || !p->is_object() || p->empty();
}

/// Translates one user content part; `path` names it for errors.
result<json> user_part(const json& part, const std::string& path) {
  if (part.is_string()) return json{{"text", part}};
  if (!part.is_object()) return bad_request("a content part must be an object", path);
  const std::string type = native::str(part, "type", "");
  if (type == "text") return json{{"text", native::str(part, "text", "")}};
  if (type == "image_url") {
    std::string url;
    if (auto iu = part.find("image_url"); iu != part.end()) {
      if (iu->is_string())
        url = iu->get<std::string>();
      else if (iu->is_object())
        url = native::str(*iu, "url", "");
    }
    if (auto d = native::parse_data_url(url))
      return json{{"inlineData", {{"mimeType", d->mime_type}, {"data", d->data}}}};
    if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
      json fd = {{"fileUri", url}};
      const std::string mime = native::mime_type_of_name(url);
      if (!mime.empty()) fd["mimeType"] = mime;
      return json{{"fileData", std::move(fd)}};
    }
    return bad_request("Gemini takes images as base64 data: URLs or http(s) URLs",
                       path + ".image_url.url");
  }
  if (type == "input_audio") {
    const json audio = part.value("input_audio", json::object());
    const std::string data = audio.is_object() ? native::str(audio, "data", "") : "";
    const std::string format = audio.is_object() ? native::str(audio, "format", "wav") : "wav";
    if (data.empty()) return bad_request("input_audio.data is required", path + ".input_audio.data");
    return json{{"inlineData", {{"mimeType", "audio/" + format}, {"data", data}}}};
  }
  if (type == "file") {
    const json file = part.value("file", json::object());
    const std::string data = file.is_object() ? native::str(file, "file_data", "") : "";
    if (auto d = native::parse_data_url(data))
      return json{{"inlineData", {{"mimeType", d->mime_type}, {"data", d->data}}}};
    if (!data.empty()) {
      std::string mime = native::mime_type_of_name(native::str(file, "filename", ""));
      if (mime.empty()) mime = "application/pdf";
      return json{{"inlineData", {{"mimeType", mime}, {"data", data}}}};
    }
    return bad_request("Gemini takes files only inline (file.file_data); uploaded file ids "
                       "are OpenAI's",
                       path + ".file");
  }
  return bad_request("content part type '" + type + "' is not supported for Gemini",
                     path + ".type");
}

/// The text parts of a system/developer/assistant content.
json text_parts(const json& content) {
  json parts = json::array();
  if (content.is_string()) {
    if (!content.get_ref<const std::string&>().empty()) parts.push_back({{"text", content}});
  } else if (content.is_array()) {
    for (const auto& p : content) {
      if (!p.is_object()) continue;
      std::string text;
      if (auto t = p.find("text"); t != p.end() && t->is_string())
        text = t->get<std::string>();
      else if (auto r = p.find("refusal"); r != p.end() && r->is_string())
        text = r->get<std::string>();
      if (!text.empty()) parts.push_back({{"text", std::move(text)}});
    }
  }
  return parts;
}

/// A tool result as the object `functionResponse.response` must be.
json response_object(const json& content) {
  const std::string text = native::text_of(content, "");
  json parsed = wire::parse_json(text);
  if (parsed.is_object()) return parsed;
  if (parsed.is_discarded()) return json{{"content", text}};
  return json{{"content", std::move(parsed)}};
}

result<json> function_declarations(const json& tools) {
  json decls = json::array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!t.is_object() || native::str(t, "type", "function") != "function" || !t.contains("function") ||
        !t["function"].is_object())
      return bad_request("Gemini supports only function tools", path + ".type");
    const json& fn = t["function"];
    json d = {{"name", native::str(fn, "name", "")}};
    if (auto desc = fn.find("description"); desc != fn.end() && desc->is_string())
      d["description"] = *desc;
    if (auto params = fn.find("parameters"); params != fn.end() && !empty_object_schema(*params))
      d["parameters"] = gemini_schema(*params);
    decls.push_back(std::move(d));
  }
  return decls;
}

/// OpenAI tool_choice → Gemini functionCallingConfig.
json function_calling_config(const json& choice) {
  if (choice.is_string()) {
    const auto& c = choice.get_ref<const std::string&>();
    if (c == "none") return {{"mode", "NONE"}};
    if (c == "required") return {{"mode", "ANY"}};
    return {{"mode", "AUTO"}};
  }
  if (choice.is_object()) {
    const std::string type = native::str(choice, "type", "");
    if (type == "function" && choice.contains("function") && choice["function"].is_object())
      return {{"mode", "ANY"},
              {"allowedFunctionNames", json::array({native::str(choice["function"], "name", "")})}};
    if (type == "allowed_tools" && choice.contains("allowed_tools") &&
        choice["allowed_tools"].is_object()) {
      const json& at = choice["allowed_tools"];
      // Gemini takes allowedFunctionNames only with ANY; "auto" over a
      // subset is best approximated by AUTO over all declared tools.
      if (native::str(at, "mode", "auto") != "required") return {{"mode", "AUTO"}};
      json names = json::array();
      if (auto list = at.find("tools"); list != at.end() && list->is_array())
        for (const auto& t : *list)
          if (t.is_object() && t.contains("function") && t["function"].is_object())
            names.push_back(native::str(t["function"], "name", ""));
      json out = {{"mode", "ANY"}};
      if (!names.empty()) out["allowedFunctionNames"] = std::move(names);
      return out;
    }
  }
  return {{"mode", "AUTO"}};
}

result<json> generate_content_body(const json& body) {
  if (!body.is_object())
    return make_failure(errc::invalid_request, "the request body must be a JSON object");
  const auto mit = body.find("messages");
  if (mit == body.end() || !mit->is_array())
    return bad_request("messages must be an array", "messages");
  const json& messages = *mit;

  json system_parts = json::array();
  json contents = json::array();
  std::map<std::string, std::string, std::less<>> call_names;  // tool_call_id → name

  auto append = [&](const char* role, json parts) {
    if (parts.empty()) return;
    // Gemini wants alternating turns; OpenAI histories often hold several
    // tool results (or user messages) in a row.
    if (!contents.empty() && contents.back()["role"] == role) {
      for (auto& p : parts) contents.back()["parts"].push_back(std::move(p));
    } else {
      contents.push_back({{"role", role}, {"parts", std::move(parts)}});
    }
  };

  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string path = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_request("a message must be an object", path);
    const std::string role = native::str(m, "role", "");
    const json content = m.value("content", json());
    if (role == "system" || role == "developer") {
      for (auto& p : text_parts(content)) system_parts.push_back(std::move(p));
    } else if (role == "user") {
      json parts = json::array();
      if (content.is_string()) {
        parts.push_back({{"text", content}});
      } else if (content.is_array()) {
        for (std::size_t j = 0; j < content.size(); ++j) {
          auto p = user_part(content[j], path + ".content[" + std::to_string(j) + "]");
          if (!p) return p.error();
          parts.push_back(std::move(p).value());
        }
      }
      append("user", std::move(parts));
    } else if (role == "assistant") {
      json parts = text_parts(content);
      if (auto tc = m.find("tool_calls"); tc != m.end() && tc->is_array()) {
        for (const auto& call : *tc) {
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
            continue;
          const json& fn = call["function"];
          const std::string name = native::str(fn, "name", "");
          if (auto id = call.find("id"); id != call.end() && id->is_string())
            call_names[id->get<std::string>()] = name;
          parts.push_back({{"functionCall",
                            {{"name", name},
                             {"args", native::arguments_object(fn.value("arguments", json()))}}}});
        }
      }
      append("model", std::move(parts));
    } else if (role == "tool") {
      const std::string id = native::str(m, "tool_call_id", "");
      auto it = call_names.find(id);
      if (it == call_names.end())
        return bad_request("tool_call_id '" + id +
                               "' does not match a tool call of an earlier assistant message "
                               "(Gemini needs the function's name)",
                           path + ".tool_call_id");
      append("user", json::array({{{"functionResponse",
                                    {{"name", it->second}, {"response", response_object(content)}}}}}));
    } else if (role == "function") {
      append("user", json::array({{{"functionResponse",
                                    {{"name", native::str(m, "name", "")},
                                     {"response", response_object(content)}}}}}));
    } else {
      return bad_request("role '" + role + "' is not supported", path + ".role");
    }
  }

  json out = json::object();
  if (contents.empty()) {
    // Gemini needs at least one content; a system-only request is the
    // user's instruction.
    if (system_parts.empty()) return bad_request("messages must not be empty", "messages");
    contents.push_back({{"role", "user"}, {"parts", std::move(system_parts)}});
    system_parts = json::array();
  }
  out["contents"] = std::move(contents);
  if (!system_parts.empty()) out["systemInstruction"] = {{"parts", std::move(system_parts)}};

  if (auto tools = body.find("tools"); tools != body.end() && tools->is_array() && !tools->empty()) {
    auto decls = function_declarations(*tools);
    if (!decls) return decls.error();
    out["tools"] = json::array({{{"functionDeclarations", std::move(decls).value()}}});
    if (auto tc = body.find("tool_choice"); tc != body.end() && !tc->is_null())
      out["toolConfig"] = {{"functionCallingConfig", function_calling_config(*tc)}};
  }

  json gc = json::object();
  if (auto t = body.find("temperature"); t != body.end() && t->is_number()) gc["temperature"] = *t;
  if (auto t = body.find("top_p"); t != body.end() && t->is_number()) gc["topP"] = *t;
  if (auto mt = native::max_output_of(body)) gc["maxOutputTokens"] = *mt;
  if (json stops = native::stop_list(body); !stops.empty()) gc["stopSequences"] = std::move(stops);
  if (auto n = body.find("n"); n != body.end() && n->is_number_integer()) gc["candidateCount"] = *n;
  if (auto s = body.find("seed"); s != body.end() && s->is_number_integer()) gc["seed"] = *s;
  if (auto p = body.find("presence_penalty"); p != body.end() && p->is_number())
    gc["presencePenalty"] = *p;
  if (auto p = body.find("frequency_penalty"); p != body.end() && p->is_number())
    gc["frequencyPenalty"] = *p;
  if (auto rf = body.find("response_format"); rf != body.end() && rf->is_object()) {
    const std::string type = native::str(*rf, "type", "");
    if (type == "json_object" || type == "json_schema") gc["responseMimeType"] = "application/json";
    if (type == "json_schema") {
      const json js = rf->value("json_schema", json::object());
      if (js.is_object() && js.contains("schema") && js["schema"].is_object())
        gc["responseSchema"] = gemini_schema(js["schema"]);
    }
  }
  if (!gc.empty()) out["generationConfig"] = std::move(gc);
  return out;
}

/// Gemini's finishReason as OpenAI's finish_reason.
std::string finish_of(std::string_view reason, bool had_calls) {
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason.rfind("IMAGE_", 0) == 0)
    return "content_filter";
  // Gemini says STOP even after function calls.
  return had_calls ? "tool_calls" : "stop";
}

/// usageMetadata → OpenAI usage; null when absent.
json usage_from(const json& um) {
  if (!um.is_object()) return nullptr;
  const std::int64_t prompt = native::count_field(um, "promptTokenCount") +
                              native::count_field(um, "toolUsePromptTokenCount");
  const std::int64_t thoughts = native::count_field(um, "thoughtsTokenCount");
  const std::int64_t completion = native::count_field(um, "candidatesTokenCount") + thoughts;
  return native::usage_json(prompt, completion, native::count_field(um, "cachedContentTokenCount"),
                            thoughts);
}

/// The model's answer text (thought summaries are not the answer).
bool is_answer_text(const json& part) {
  return part.is_object() && part.contains("text") && part["text"].is_string() &&
         !(part.contains("thought") && part["thought"] == true);
}

json tool_call_of(const json& fc, std::size_t id_number) {
  const json args = fc.is_object() ? fc.value("args", json::object()) : json::object();
  return json{{"id", native::tool_call_id(id_number)},
              {"type", "function"},
              {"function",
               {{"name", fc.is_object() ? native::str(fc, "name", "") : ""},
                {"arguments", wire::dump(args.is_null() ? json::object() : args)}}}};
}

std::string block_reason(const json& doc) {
  std::string reason;
  if (auto pf = doc.find("promptFeedback"); pf != doc.end() && pf->is_object())
    reason = native::str(*pf, "blockReason", "");
  return reason;
}

result<json> translate_response(const json& doc) {
  json choices = json::array();
  std::size_t calls_seen = 0;
  auto cands = doc.find("candidates");
  if (cands != doc.end() && cands->is_array() && !cands->empty()) {
    std::size_t position = 0;
    for (const auto& cand : *cands) {
      if (!cand.is_object()) return wire::upstream_invalid();
      std::string text;
      bool any_text = false;
      json tool_calls = json::array();
      if (auto content = cand.find("content"); content != cand.end() && content->is_object()) {
        if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
          for (const auto& part : *parts) {
            if (is_answer_text(part)) {
              text += part["text"].get_ref<const std::string&>();
              any_text = true;
            } else if (part.is_object() && part.contains("functionCall")) {
              tool_calls.push_back(tool_call_of(part["functionCall"], calls_seen++));
            }
          }
        }
      }
      json message = {{"role", "assistant"},
                      {"content", any_text ? json(text) : json(nullptr)},
                      {"refusal", nullptr}};
      const bool had_calls = !tool_calls.empty();
      if (had_calls) message["tool_calls"] = std::move(tool_calls);
      std::size_t index = position;
      if (auto ix = cand.find("index"); ix != cand.end() && ix->is_number_unsigned())
        index = ix->get<std::size_t>();
      choices.push_back({{"index", index},
                         {"message", std::move(message)},
                         {"logprobs", nullptr},
                         {"finish_reason", finish_of(native::str(cand, "finishReason", ""), had_calls)}});
      ++position;
    }
  } else if (!block_reason(doc).empty()) {
    // A blocked prompt is a 200 without candidates: a filtered answer.
    choices.push_back({{"index", 0},
                       {"message", {{"role", "assistant"}, {"content", nullptr}, {"refusal", nullptr}}},
                       {"logprobs", nullptr},
                       {"finish_reason", "content_filter"}});
  } else {
    return wire::upstream_invalid();
  }
  json out = {{"id", doc.contains("responseId") && doc["responseId"].is_string()
                         ? "chatcmpl-" + doc["responseId"].get<std::string>()
                         : native::new_completion_id()},
              {"object", "chat.completion"},
              {"created", native::now_seconds()},
              {"model", native::str(doc, "modelVersion", "")},
              {"choices", std::move(choices)}};
  json usage = usage_from(doc.value("usageMetadata", json()));
  if (!usage.is_null()) out["usage"] = std::move(usage);
  return out;
}

/// The Google RPC error of a body, as message and status.
struct rpc_error {
  std::optional<std::string> message;
  std::string status;                     ///< "INVALID_ARGUMENT", ...
  std::optional<std::string> reason;      ///< ErrorInfo.reason ("API_KEY_INVALID")
  std::optional<std::string> retry_delay; ///< RetryInfo.retryDelay as seconds
};

rpc_error rpc_error_of(const json& doc) {
  rpc_error e;
  e.message = wire::error_info_of(doc).message;
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return e;
  const json& err = doc["error"];
  if (auto s = err.find("status"); s != err.end() && s->is_string()) e.status = s->get<std::string>();
  if (auto details = err.find("details"); details != err.end() && details->is_array()) {
    for (const auto& d : *details) {
      if (!d.is_object()) continue;
      if (auto r = d.find("reason"); r != d.end() && r->is_string()) e.reason = r->get<std::string>();
      if (auto rd = d.find("retryDelay"); rd != d.end() && rd->is_string()) {
        // "37s" or "1.5s": whole seconds, rounded up, as Retry-After wants.
        std::string v = rd->get<std::string>();
        if (!v.empty() && v.back() == 's') v.pop_back();
        std::int64_t secs = 0;
        bool ok = !v.empty(), frac = false, frac_nonzero = false;
        for (char c : v) {
          if (c == '.' && !frac) {
            frac = true;
          } else if (c >= '0' && c <= '9') {
            if (frac) {
              frac_nonzero = frac_nonzero || c != '0';
            } else if (secs < 1000000) {
              secs = secs * 10 + (c - '0');
            }
          } else {
            ok = false;
          }
        }
        if (ok) e.retry_delay = std::to_string(secs + (frac_nonzero ? 1 : 0));
      }
    }
  }
  return e;
}

failure gemini_failure(int status, const header_list& headers, const json& doc) {
  const rpc_error e = rpc_error_of(doc);
  // Google answers a bad key with 400 INVALID_ARGUMENT: it is OAG's
  // credential that failed, not the client's request.
  if (e.reason && (*e.reason == "API_KEY_INVALID" || *e.reason == "API_KEY_SERVICE_BLOCKED"))
    status = 401;
  int effective = status;
  if (e.status == "UNAVAILABLE") effective = 503;
  if (e.status == "DEADLINE_EXCEEDED") effective = 504;
  if (e.status == "RESOURCE_EXHAUSTED") effective = 429;
  failure f = native::status_failure(effective, headers, e.message);
  if (!f.retry_after && e.retry_delay) f.retry_after = e.retry_delay;
  return f;
}

/// Runs a translation step; a JSON type error on an unexpected shape becomes
/// a failure instead of an exception escaping into the caller's actor.
template <class F>
auto guarded(F&& f, bool request) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception&) {
    if (request)
      return make_failure(errc::invalid_request, "the request could not be translated for Gemini");
    return wire::upstream_invalid();
  }
}

class gemini_stream_decoder final : public stream_decoder {
 public:
  void feed(std::string_view bytes, std::vector<stream_event>& out) override {
    if (terminal_) return;
    events_.clear();
    parser_.feed(bytes, events_);
    for (const auto& ev : events_) guarded_handle(ev.data, /*at_end=*/false, out);
  }

  void finish(std::vector<stream_event>& out) override {
    if (terminal_) return;
    // The end of the body is Gemini's only terminator; a last event
    // without its blank line still counts when it is complete JSON.
    if (parser_.has_partial_event()) {
      events_.clear();
      parser_.feed("\n\n", events_);
      for (const auto& ev : events_) guarded_handle(ev.data, /*at_end=*/true, out);
      if (terminal_) return;
    }
    terminal_ = true;
    bool all_finished = !choices_.empty();
    for (const auto& [index, c] : choices_) all_finished = all_finished && c.finished;
    if (!usage_.is_null()) native::push_chunk(out, chunks_.usage(usage_));
    if (all_finished)
      native::push_done(out);
    else
      native::push_error(out, "upstream closed the stream before it was complete");
  }

 private:
  struct choice_state {
    bool started = false;
    bool finished = false;
    std::size_t tool_calls = 0;  ///< OpenAI indices handed out in this choice
  };

  void guarded_handle(std::string_view data, bool at_end, std::vector<stream_event>& out) {
    try {
      handle(data, at_end, out);
    } catch (const std::exception&) {
      fail(out, "upstream sent an invalid stream chunk");
    }
  }

  void handle(std::string_view data, bool at_end, std::vector<stream_event>& out) {
    if (terminal_) return;
    while (!data.empty() && (data.front() == ' ' || data.front() == '\t')) data.remove_prefix(1);
    if (data.empty()) return;
    json doc = wire::parse_json(data);
    if (doc.is_discarded()) {
      if (at_end) return;  // a truncated tail: finish() reports the cut
      return fail(out, "upstream sent an invalid stream chunk");
    }
    if (!doc.is_object()) return fail(out, "upstream sent an invalid stream chunk");
    if (doc.contains("error") && !doc["error"].is_null()) {
      auto info = wire::error_info_of(doc);
      return fail(out, info.message ? *info.message : "upstream reported an error in the stream");
    }
    if (!id_set_) {
      id_set_ = true;
      if (auto r = doc.find("responseId"); r != doc.end() && r->is_string())
        chunks_.set_id("chatcmpl-" + r->get<std::string>());
      if (auto mv = doc.find("modelVersion"); mv != doc.end() && mv->is_string())
        chunks_.set_model(mv->get<std::string>());
    }
    if (auto um = doc.find("usageMetadata"); um != doc.end() && um->is_object())
      usage_ = usage_from(*um);  // cumulative: the last one is the total

    auto cands = doc.find("candidates");
    if (cands == doc.end() || !cands->is_array() || cands->empty()) {
      if (!block_reason(doc).empty()) {
        auto& c = choices_[0];
        start(0, c, out);
        if (!c.finished) {
          c.finished = true;
          native::push_chunk(out, chunks_.choice(0, json::object(), "content_filter"));
        }
      }
      return;
    }
    std::size_t position = 0;
    for (const auto& cand : *cands) {
      if (!cand.is_object()) return fail(out, "upstream sent an invalid stream chunk");
      std::size_t index = position++;
      if (auto ix = cand.find("index"); ix != cand.end() && ix->is_number_unsigned())
        index = ix->get<std::size_t>();
      auto& c = choices_[index];
      start(index, c, out);
      if (c.finished) continue;
      std::string text;
      auto flush_text = [&] {
        if (text.empty()) return;
        native::push_chunk(out, chunks_.choice(index, {{"content", text}}));
        text.clear();
      };
      if (auto content = cand.find("content"); content != cand.end() && content->is_object()) {
        if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
          for (const auto& part : *parts) {
            if (is_answer_text(part)) {
              text += part["text"].get_ref<const std::string&>();
            } else if (part.is_object() && part.contains("functionCall")) {
              flush_text();
              // Gemini sends each call whole: one complete fragment.
              json call = tool_call_of(part["functionCall"], calls_total_++);
              call["index"] = c.tool_calls++;
              native::push_chunk(out,
                                 chunks_.choice(index, {{"tool_calls", json::array({std::move(call)})}}));
            }
          }
        }
      }
      flush_text();
      if (auto fr = cand.find("finishReason"); fr != cand.end() && fr->is_string()) {
        c.finished = true;
        native::push_chunk(out, chunks_.choice(index, json::object(),
                                               finish_of(fr->get<std::string>(), c.tool_calls > 0)));
      }
    }
  }

  void start(std::size_t index, choice_state& c, std::vector<stream_event>& out) {
    if (c.started) return;
    c.started = true;
    native::push_chunk(out, chunks_.choice(index, {{"role", "assistant"}, {"content", ""}}));
  }

  void fail(std::vector<stream_event>& out, std::string message) {
    terminal_ = true;
    // Tokens the upstream already counted were billed to OAG: report them.
    if (!usage_.is_null()) native::push_chunk(out, chunks_.usage(usage_));
    native::push_error(out, std::move(message));
  }

  sse::parser parser_;
  std::vector<sse::event> events_;
  native::chunk_builder chunks_;
  std::map<std::size_t, choice_state> choices_;
  std::size_t calls_total_ = 0;
  json usage_;
  bool id_set_ = false;
  bool terminal_ = false;
};

class gemini_adapter_impl final : public provider_adapter {
 public:
  std::string_view kind() const noexcept override { return "gemini"; }

  std::optional<std::string> default_base_url() const override { return std::string(default_base); }

  result<outbound_request> chat_request(const json& body, std::string_view upstream_model,
                                        bool stream, const provider_endpoint& ep,
                                        const chat_context&) const override {
    auto payload = guarded([&] { return generate_content_body(body); }, /*request=*/true);
    if (!payload) return payload.error();
    return build(std::move(payload).value(), upstream_model,
                 stream ? ":streamGenerateContent?alt=sse" : ":generateContent", stream, ep);
  }

  result<json> chat_response(std::string_view body) const override {
    json doc = wire::parse_json(body);
    if (!doc.is_object()) return wire::upstream_invalid();
    if (auto reported = native::reported_error(doc)) return *reported;
    return guarded([&] { return translate_response(doc); }, /*request=*/false);
  }

  std::unique_ptr<stream_decoder> chat_stream_decoder() const override {
    return make_gemini_stream_decoder();
  }

  result<outbound_request> embeddings_request(const json& body, std::string_view upstream_model,
                                              const provider_endpoint& ep) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    json inputs = json::array();
    const json input = body.value("input", json());
    if (input.is_string()) {
      inputs.push_back(input);
    } else if (input.is_array()) {
      for (const auto& s : input) {
        if (!s.is_string())
          return bad_request("Gemini embeddings take text input (a string or strings), not tokens",
                             "input");
        inputs.push_back(s);
      }
    }
    if (inputs.empty()) return bad_request("input must not be empty", "input");
    const std::string model_ref = "models/" + std::string(strip_prefix(upstream_model));
    json requests = json::array();
    for (auto& text : inputs) {
      json r = {{"model", model_ref}, {"content", {{"parts", json::array({{{"text", text}}})}}}};
      if (auto d = body.find("dimensions"); d != body.end() && d->is_number_integer())
        r["outputDimensionality"] = *d;
      requests.push_back(std::move(r));
    }
    return build(json{{"requests", std::move(requests)}}, upstream_model, ":batchEmbedContents",
                 false, ep);
  }

  result<json> embeddings_response(std::string_view body) const override {
    json doc = wire::parse_json(body);
    if (!doc.is_object() || !doc.contains("embeddings") || !doc["embeddings"].is_array())
      return wire::upstream_invalid();
    json vectors = json::array();
    for (const auto& e : doc["embeddings"]) {
      if (!e.is_object() || !e.contains("values") || !e["values"].is_array())
        return wire::upstream_invalid();
      vectors.push_back(e["values"]);
    }
    // Gemini reports no token counts for embeddings; without usage the
    // call is charged by OAG's estimate, never free.
    return native::embeddings_list(vectors);
  }

  failure upstream_failure(int status, const header_list& headers,
                           std::string_view body) const override {
    return gemini_failure(status, headers, wire::parse_json(body));
  }

 private:
  /// Model names may be given as "models/gemini-…" (as Gemini lists them).
  static std::string_view strip_prefix(std::string_view model) {
    constexpr std::string_view prefix = "models/";
    if (model.size() > prefix.size() && model.compare(0, prefix.size(), prefix) == 0)
      model.remove_prefix(prefix.size());
    return model;
  }

  static result<outbound_request> build(json payload, std::string_view model,
                                        std::string_view method, bool stream,
                                        const provider_endpoint& ep) {
    return native::post_request(payload,
                                "/models/" + native::encode_path_segment(strip_prefix(model)) +
                                    std::string(method),
                                stream, ep, default_base, "x-goog-api-key", "");
  }
};

} // namespace

nlohmann::json gemini_schema(const nlohmann::json& schema) { return schema_of(schema, 0); }

const provider_adapter& gemini_adapter() noexcept {
  static const gemini_adapter_impl instance;
  return instance;
}

std::unique_ptr<stream_decoder> make_gemini_stream_decoder() {
  return std::make_unique<gemini_stream_decoder>();
}

} // namespace oag::adapters
