#include "oag/adapters/responses_format.hpp"

#include <initializer_list>
#include <limits>
#include <utility>

#include "oag/adapters/openai_adapter.hpp"
#include "oag/adapters/sse.hpp"
#include "param_errors.hpp"

namespace oag::adapters::responses {
namespace {

using nlohmann::json;
using wire::dump;

// ---------------------------------------------------------------------------
// Small JSON helpers

using param_errors::get;

std::optional<std::string> get_string(const json& obj, std::string_view key) {
  const json* v = get(obj, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

/// A non-negative integer count (integral floats accepted); nullopt otherwise.
std::optional<std::int64_t> count_of(const json* v) {
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) {
    auto i = v->get<std::int64_t>();
    if (i < 0) return std::nullopt;
    return i;
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (!(d >= 0) || d > 9.0e18 || static_cast<double>(static_cast<std::int64_t>(d)) != d)
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

using param_errors::one_of;

/// Characters (UTF-8 code points) of a string.
std::size_t char_count(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

using param_errors::valid_name;

std::string at(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// ---------------------------------------------------------------------------
// Failures (all 400 invalid_request, OpenAI's wording)

using param_errors::invalid;
using param_errors::type_name;
using param_errors::wrong_type;
using param_errors::bad_value;
using param_errors::missing;

failure internal_failure() {
  return make_failure(errc::internal, "OAG failed to translate the Responses request");
}

#define OAG_RESP_TRY(expr)          \
  do {                              \
    auto oag_r_ = (expr);           \
    if (!oag_r_) return oag_r_.error(); \
  } while (0)

/// `key` of `obj` must be absent, null or a string (non-empty if asked).
using param_errors::check_bool;
using param_errors::check_object;
using param_errors::check_string;

/// A number in [lo, hi] or absent.
result<std::optional<double>> number_in(const json& obj, const char* key, double lo, double hi) {
  const json* v = get(obj, key);
  if (!v) return std::optional<double>();
  if (!v->is_number()) return wrong_type(key, *v, "a number");
  double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    return bad_value(key, "must be between " + json(lo).dump() + " and " + json(hi).dump() + ".");
  return std::optional<double>(d);
}

/// An integer >= lo (and <= hi) or absent.
result<std::optional<std::int64_t>> integer_in(const json& obj, const char* key, std::int64_t lo,
                                               std::int64_t hi) {
  const json* v = get(obj, key);
  if (!v) return std::optional<std::int64_t>();
  if (!is_int(*v)) return wrong_type(key, *v, "an integer");
  if (v->is_number_unsigned() &&
      v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return bad_value(key, "is too large.");
  std::int64_t i = v->get<std::int64_t>();
  if (i < lo) return bad_value(key, "must be at least " + std::to_string(lo) + ".");
  if (i > hi) return bad_value(key, "must be at most " + std::to_string(hi) + ".");
  return std::optional<std::int64_t>(i);
}

// ---------------------------------------------------------------------------
// Items → chat messages

/// Built-in tools and item types of OpenAI that OAG cannot run.
std::string unsupported_tool(const std::string& type) {
  return "tool type '" + type + "' is not supported by OAG; only 'function' tools are.";
}

/// Chat `detail` for an input_image detail ("original" has no chat
/// counterpart; the closest is "high").
std::optional<std::string> chat_detail(const json& part, const std::string& path,
                                       failure* error) {
  const json* d = get(part, "detail");
  if (!d) return std::nullopt;
  if (!d->is_string()) {
    *error = wrong_type(path + ".detail", *d, "a string");
    return std::nullopt;
  }
  const std::string& s = d->get_ref<const std::string&>();
  if (!one_of(s, {"auto", "low", "high", "original"})) {
    *error = bad_value(path + ".detail", "expected 'auto', 'low', 'high' or 'original'.");
    return std::nullopt;
  }
  return s == "original" ? std::string("high") : s;
}

/// The text of a text-like part.
result<std::string> part_text(const json& part, const std::string& path) {
  const json* t = get(part, "text");
  if (!t) return missing(path + ".text");
  if (!t->is_string()) return wrong_type(path + ".text", *t, "a string");
  return t->get<std::string>();
}

/// An input_image part → chat image_url part.
result<json> image_part(const json& part, const std::string& path) {
  const json* url = get(part, "image_url");
  if (!url) {
    if (get(part, "file_id"))
      return invalid(path + ".file_id",
                     "input_image with a file_id is not supported by OAG; send 'image_url' (an "
                     "https URL or a data URL) instead.");
    return missing(path + ".image_url");
  }
  if (!url->is_string()) return wrong_type(path + ".image_url", *url, "a string");
  if (url->get_ref<const std::string&>().empty()) return bad_value(path + ".image_url", "must not be empty.");
  failure err;
  err.code = errc::none;
  auto detail = chat_detail(part, path, &err);
  if (err.code != errc::none) return err;
  json img = {{"url", *url}};
  if (detail) img["detail"] = *detail;
  return json{{"type", "image_url"}, {"image_url", std::move(img)}};
}

/// An input_file part → chat file part.
result<json> file_part(const json& part, const std::string& path) {
  OAG_RESP_TRY(check_string(part, "filename", path + ".filename"));
  json file = json::object();
  if (auto name = get_string(part, "filename")) file["filename"] = *name;
  if (const json* data = get(part, "file_data")) {
    if (!data->is_string()) return wrong_type(path + ".file_data", *data, "a string");
    file["file_data"] = *data;
  } else if (const json* id = get(part, "file_id")) {
    if (!id->is_string()) return wrong_type(path + ".file_id", *id, "a string");
    file["file_id"] = *id;
  } else if (get(part, "file_url")) {
    return invalid(path + ".file_url",
                   "input_file with a file_url is not supported by OAG; send 'file_data' instead.");
  } else {
    return missing(path + ".file_data");
  }
  return json{{"type", "file"}, {"file", std::move(file)}};
}

/// Text parts as chat content: "" for none, a string for one, text parts
/// for several (their boundaries are kept).
json text_content(const std::vector<std::string>& texts) {
  if (texts.empty()) return "";
  if (texts.size() == 1) return texts.front();
  json parts = json::array();
  for (const auto& t : texts) parts.push_back({{"type", "text"}, {"text", t}});
  return parts;
}

/// One message item → one chat message.
result<json> message_item(const json& item, const std::string& path) {
  const json* r = get(item, "role");
  if (!r) return missing(path + ".role");
  if (!r->is_string()) return wrong_type(path + ".role", *r, "a string");
  const std::string role = r->get<std::string>();
  if (!one_of(role, {"user", "system", "developer", "assistant"}))
    return bad_value(path + ".role", "'" + role +
                                         "' is not one of 'user', 'system', 'developer', "
                                         "'assistant'.");
  const json* content = get(item, "content");
  const std::string cpath = path + ".content";
  if (!content) return missing(cpath);
  if (content->is_string()) return json{{"role", role}, {"content", *content}};
  if (!content->is_array()) return wrong_type(cpath, *content, "a string or an array of content parts");

  std::vector<std::string> texts;
  std::vector<std::string> refusals;
  json parts = json::array();  // user content in order, when it holds more than text
  bool rich = false;
  for (std::size_t j = 0; j < content->size(); ++j) {
    const json& part = (*content)[j];
    const std::string ppath = at(cpath, j);
    if (!part.is_object()) return wrong_type(ppath, part, "an object");
    const json* t = get(part, "type");
    if (!t) return missing(ppath + ".type");
    if (!t->is_string()) return wrong_type(ppath + ".type", *t, "a string");
    const std::string type = t->get<std::string>();
    if (type == "input_text" || type == "output_text" || type == "text") {
      auto text = part_text(part, ppath);
      if (!text) return text.error();
      texts.push_back(*text);
      parts.push_back({{"type", "text"}, {"text", *text}});
    } else if (type == "refusal") {
      if (role != "assistant")
        return invalid(ppath + ".type", "refusal parts are only allowed in assistant messages.");
      const json* rf = get(part, "refusal");
      if (!rf) return missing(ppath + ".refusal");
      if (!rf->is_string()) return wrong_type(ppath + ".refusal", *rf, "a string");
      refusals.push_back(rf->get<std::string>());
    } else if (type == "input_image" || type == "input_file") {
      if (role != "user")
        return invalid(ppath + ".type", type + " parts are only supported in user messages.");
      auto converted = type == "input_image" ? image_part(part, ppath) : file_part(part, ppath);
      if (!converted) return converted.error();
      parts.push_back(std::move(converted).value());
      rich = true;
    } else {
      return invalid(ppath + ".type", "content part type '" + type + "' is not supported by OAG.");
    }
  }
  json msg = {{"role", role}};
  if (role == "assistant") {
    if (!texts.empty() || refusals.empty()) msg["content"] = text_content(texts);
    else msg["content"] = nullptr;
    if (!refusals.empty()) {
      std::string joined;
      for (const auto& s : refusals) joined += (joined.empty() ? "" : "\n") + s;
      msg["refusal"] = joined;
    }
  } else {
    msg["content"] = rich ? parts : text_content(texts);
  }
  return msg;
}

/// A function_call item → a chat tool call.
result<json> function_call(const json& item, const std::string& path) {
  OAG_RESP_TRY(check_string(item, "call_id", path + ".call_id", true, true));
  OAG_RESP_TRY(check_string(item, "name", path + ".name", true, true));
  OAG_RESP_TRY(check_string(item, "arguments", path + ".arguments", true));
  return json{{"id", item["call_id"]},
              {"type", "function"},
              {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}};
}

/// A function_call_output item → a tool message; image and file parts of
/// the output go to `user_parts`.
result<json> function_output(const json& item, const std::string& path, json& user_parts) {
  OAG_RESP_TRY(check_string(item, "call_id", path + ".call_id", true, true));
  const json* out = get(item, "output");
  const std::string opath = path + ".output";
  if (!out) return missing(opath);
  std::string text;
  if (out->is_string()) {
    text = out->get<std::string>();
  } else if (out->is_array()) {
    for (std::size_t j = 0; j < out->size(); ++j) {
      const json& part = (*out)[j];
      const std::string ppath = at(opath, j);
      if (!part.is_object()) return wrong_type(ppath, part, "an object");
      const json* t = get(part, "type");
      if (!t) return missing(ppath + ".type");
      if (!t->is_string()) return wrong_type(ppath + ".type", *t, "a string");
      const std::string type = t->get<std::string>();
      if (type == "input_text" || type == "output_text" || type == "text") {
        auto s = part_text(part, ppath);
        if (!s) return s.error();
        if (!text.empty() && !s->empty()) text += "\n";
        text += *s;
      } else if (type == "input_image" || type == "input_file") {
        // Chat tool messages carry text only; the image or file follows
        // in a user message, where every provider can see it.
        auto converted = type == "input_image" ? image_part(part, ppath) : file_part(part, ppath);
        if (!converted) return converted.error();
        user_parts.push_back(std::move(converted).value());
      } else {
        return invalid(ppath + ".type", "output part type '" + type + "' is not supported by OAG.");
      }
    }
  } else {
    return wrong_type(opath, *out, "a string or an array of content parts");
  }
  return json{{"role", "tool"}, {"tool_call_id", item["call_id"]}, {"content", text}};
}

/// The type of an item ("message" for a typeless item with a role).
result<std::string> item_type(const json& item, const std::string& path) {
  const json* t = get(item, "type");
  if (!t) {
    if (get(item, "role")) return std::string("message");
    return missing(path + ".type");
  }
  if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
  return t->get<std::string>();
}

result<json> convert_items(const json& items, std::string_view prefix) {
  const std::string base(prefix);
  if (!items.is_array()) return wrong_type(base, items, "an array of items");
  json messages = json::array();
  json user_parts = json::array();  // from function_call_output items, pending
  // The last message is an assistant turn later function_calls may join.
  bool assistant_open = false;
  auto flush_user_parts = [&] {
    if (user_parts.empty()) return;
    messages.push_back({{"role", "user"}, {"content", user_parts}});
    user_parts = json::array();
    assistant_open = false;
  };
  for (std::size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    const std::string path = at(base, i);
    if (!item.is_object()) return wrong_type(path, item, "an object");
    auto type = item_type(item, path);
    if (!type) return type.error();
    if (*type != "function_call_output") flush_user_parts();
    if (*type == "message") {
      auto msg = message_item(item, path);
      if (!msg) return msg.error();
      assistant_open = (*msg)["role"] == "assistant";
      messages.push_back(std::move(msg).value());
    } else if (*type == "function_call") {
      auto call = function_call(item, path);
      if (!call) return call.error();
      if (assistant_open && !messages.empty()) {
        json& last = messages.back();
        if (!last.contains("tool_calls")) last["tool_calls"] = json::array();
        last["tool_calls"].push_back(std::move(call).value());
      } else {
        messages.push_back({{"role", "assistant"},
                            {"content", nullptr},
                            {"tool_calls", json::array({std::move(call).value()})}});
        assistant_open = true;
      }
    } else if (*type == "function_call_output") {
      auto msg = function_output(item, path, user_parts);
      if (!msg) return msg.error();
      messages.push_back(std::move(msg).value());
      assistant_open = false;
    } else if (*type == "reasoning") {
      // Reasoning items only mean something to the model that wrote them.
      continue;
    } else if (*type == "item_reference") {
      return invalid(path + ".type",
                     "item_reference items are not supported by OAG; send the item itself.");
    } else {
      return invalid(path + ".type", "input item type '" + *type + "' is not supported by OAG.");
    }
  }
  flush_user_parts();
  return messages;
}

/// Normalizes validated items: message items get type "message" and an
/// array of parts.
json normalize_items(const json& items) {
  json out = json::array();
  for (const auto& item : items) {
    if (!is_message_item(item)) {
      out.push_back(item);
      continue;
    }
    json m = item;
    m["type"] = "message";
    if (m["content"].is_string()) {
      const bool assistant = m["role"] == "assistant";
      json part = {{"type", assistant ? "output_text" : "input_text"}, {"text", m["content"]}};
      if (assistant) {
        part["annotations"] = json::array();
        part["logprobs"] = json::array();
      }
      m["content"] = json::array({std::move(part)});
    }
    out.push_back(std::move(m));
  }
  return out;
}

// ---------------------------------------------------------------------------
// parse_request

result<void> check_tools(const json& body, request& req) {
  const json* tools = get(body, "tools");
  if (!tools) return {};
  if (!tools->is_array()) return wrong_type("tools", *tools, "an array");
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const json& tool = (*tools)[i];
    const std::string path = at("tools", i);
    if (!tool.is_object()) return wrong_type(path, tool, "an object");
    const json* t = get(tool, "type");
    if (!t) return missing(path + ".type");
    if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
    const std::string type = t->get<std::string>();
    if (type != "function") return invalid(path + ".type", unsupported_tool(type));
    const json* name = get(tool, "name");
    if (!name) return missing(path + ".name");
    if (!name->is_string()) return wrong_type(path + ".name", *name, "a string");
    if (!valid_name(name->get<std::string>()))
      return bad_value(path + ".name",
                       "must match ^[a-zA-Z0-9_-]{1,64}$ (letters, digits, '_' and '-', at most 64 "
                       "characters).");
    OAG_RESP_TRY(check_string(tool, "description", path + ".description"));
    OAG_RESP_TRY(check_object(tool, "parameters", path + ".parameters"));
    OAG_RESP_TRY(check_bool(tool, "strict", path + ".strict"));
  }
  req.tools = *tools;
  return {};
}

bool has_tool(const json& tools, const std::string& name) {
  for (const auto& t : tools)
    if (get_string(t, "name") == std::optional<std::string>(name)) return true;
  return false;
}

/// A `{type:"function", name}` reference to one of the request's tools.
result<void> check_function_ref(const json& ref, const std::string& path, const json& tools) {
  if (!ref.is_object()) return wrong_type(path, ref, "an object");
  const json* t = get(ref, "type");
  if (!t) return missing(path + ".type");
  if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
  const std::string type = t->get<std::string>();
  if (type != "function") return invalid(path + ".type", unsupported_tool(type));
  const json* name = get(ref, "name");
  if (!name) return missing(path + ".name");
  if (!name->is_string()) return wrong_type(path + ".name", *name, "a string");
  if (!has_tool(tools, name->get<std::string>()))
    return bad_value(path + ".name", "no function named '" + name->get<std::string>() +
                                         "' is in 'tools'.");
  return {};
}

result<void> check_tool_choice(const json& body, request& req) {
  const json* tc = get(body, "tool_choice");
  if (!tc) return {};
  if (tc->is_string()) {
    if (!one_of(tc->get<std::string>(), {"none", "auto", "required"}))
      return bad_value("tool_choice", "expected 'none', 'auto', 'required' or an object.");
  } else if (tc->is_object()) {
    const json* t = get(*tc, "type");
    if (!t) return missing("tool_choice.type");
    if (!t->is_string()) return wrong_type("tool_choice.type", *t, "a string");
    const std::string type = t->get<std::string>();
    if (type == "function") {
      OAG_RESP_TRY(check_function_ref(*tc, "tool_choice", req.tools));
    } else if (type == "allowed_tools") {
      const json* mode = get(*tc, "mode");
      if (!mode) return missing("tool_choice.mode");
      if (!mode->is_string() || !one_of(mode->get<std::string>(), {"auto", "required"}))
        return bad_value("tool_choice.mode", "expected 'auto' or 'required'.");
      const json* list = get(*tc, "tools");
      if (!list) return missing("tool_choice.tools");
      if (!list->is_array()) return wrong_type("tool_choice.tools", *list, "an array");
      for (std::size_t i = 0; i < list->size(); ++i)
        OAG_RESP_TRY(check_function_ref((*list)[i], at("tool_choice.tools", i), req.tools));
    } else {
      return invalid("tool_choice.type", "tool_choice type '" + type + "' is not supported by OAG.");
    }
  } else {
    return wrong_type("tool_choice", *tc, "a string or an object");
  }
  req.tool_choice = *tc;
  return {};
}

result<void> check_metadata(const json& body, request& req) {
  const json* md = get(body, "metadata");
  if (!md) return {};
  if (!md->is_object()) return wrong_type("metadata", *md, "an object");
  if (md->size() > 16) return bad_value("metadata", "at most 16 keys are allowed.");
  for (auto it = md->begin(); it != md->end(); ++it) {
    const std::string path = "metadata." + it.key();
    if (char_count(it.key()) > 64)
      return bad_value("metadata", "keys must be at most 64 characters.");
    if (!it.value().is_string()) return wrong_type(path, it.value(), "a string");
    if (char_count(it.value().get_ref<const std::string&>()) > 512)
      return bad_value(path, "values must be at most 512 characters.");
  }
  req.metadata = *md;
  return {};
}

result<void> check_text(const json& body, request& req) {
  const json* text = get(body, "text");
  if (!text) return {};
  if (!text->is_object()) return wrong_type("text", *text, "an object");
  json out = *text;
  if (const json* v = get(*text, "verbosity")) {
    if (!v->is_string()) return wrong_type("text.verbosity", *v, "a string");
    if (!one_of(v->get<std::string>(), {"low", "medium", "high"}))
      return bad_value("text.verbosity", "expected 'low', 'medium' or 'high'.");
  }
  const json* f = get(*text, "format");
  if (!f) {
    out["format"] = {{"type", "text"}};
  } else {
    if (!f->is_object()) return wrong_type("text.format", *f, "an object");
    const json* t = get(*f, "type");
    if (!t) return missing("text.format.type");
    if (!t->is_string()) return wrong_type("text.format.type", *t, "a string");
    const std::string type = t->get<std::string>();
    if (type == "json_schema") {
      const json* name = get(*f, "name");
      if (!name) return missing("text.format.name");
      if (!name->is_string()) return wrong_type("text.format.name", *name, "a string");
      if (!valid_name(name->get<std::string>()))
        return bad_value("text.format.name", "must match ^[a-zA-Z0-9_-]{1,64}$.");
      const json* schema = get(*f, "schema");
      if (!schema) return missing("text.format.schema");
      if (!schema->is_object()) return wrong_type("text.format.schema", *schema, "an object");
      OAG_RESP_TRY(check_string(*f, "description", "text.format.description"));
      OAG_RESP_TRY(check_bool(*f, "strict", "text.format.strict"));
    } else if (type != "text" && type != "json_object") {
      return bad_value("text.format.type", "expected 'text', 'json_object' or 'json_schema'.");
    }
  }
  req.text = std::move(out);
  return {};
}

result<void> check_reasoning(const json& body, request& req) {
  const json* r = get(body, "reasoning");
  if (!r) return {};
  if (!r->is_object()) return wrong_type("reasoning", *r, "an object");
  OAG_RESP_TRY(check_string(*r, "effort", "reasoning.effort"));
  OAG_RESP_TRY(check_string(*r, "summary", "reasoning.summary"));
  OAG_RESP_TRY(check_string(*r, "generate_summary", "reasoning.generate_summary"));
  req.reasoning = *r;
  return {};
}

result<void> check_conversation(const json& body, request& req) {
  if (const json* p = get(body, "previous_response_id")) {
    if (!p->is_string()) return wrong_type("previous_response_id", *p, "a string");
    if (p->get_ref<const std::string&>().empty())
      return bad_value("previous_response_id", "must not be empty.");
    req.previous_response_id = p->get<std::string>();
  }
  if (const json* c = get(body, "conversation")) {
    if (c->is_string()) {
      req.conversation_id = c->get<std::string>();
    } else if (c->is_object()) {
      const json* id = get(*c, "id");
      if (!id) return missing("conversation.id");
      if (!id->is_string()) return wrong_type("conversation.id", *id, "a string");
      req.conversation_id = id->get<std::string>();
    } else {
      return wrong_type("conversation", *c, "a string or an object");
    }
    if (req.conversation_id->empty()) return bad_value("conversation", "must not be empty.");
    if (req.previous_response_id)
      return invalid("conversation",
                     "'previous_response_id' and 'conversation' cannot be used together.");
  }
  return {};
}

/// Fields OAG does not act on, still checked so typos of type surface.
result<void> check_ignored(const json& body) {
  if (const json* inc = get(body, "include")) {
    if (!inc->is_array()) return wrong_type("include", *inc, "an array");
    for (std::size_t i = 0; i < inc->size(); ++i)
      if (!(*inc)[i].is_string()) return wrong_type(at("include", i), (*inc)[i], "a string");
  }
  OAG_RESP_TRY(check_object(body, "stream_options", "stream_options"));
  for (const char* key : {"service_tier", "prompt_cache_key", "safety_identifier"})
    OAG_RESP_TRY(check_string(body, key, key));
  auto top = integer_in(body, "top_logprobs", 0, 20);
  if (!top) return top.error();
  auto calls = integer_in(body, "max_tool_calls", 0, std::numeric_limits<std::int64_t>::max());
  if (!calls) return calls.error();
  if (const json* cm = get(body, "context_management"); cm && !cm->is_array())
    return wrong_type("context_management", *cm, "an array");
  return {};
}

result<bool> flag(const json& body, const char* key, bool fallback) {
  const json* v = get(body, key);
  if (!v) return fallback;
  if (!v->is_boolean()) return wrong_type(key, *v, "a boolean");
  return v->get<bool>();
}

result<request> parse(const json& body) {
  if (!body.is_object())
    return make_failure(errc::invalid_request, "The request body must be a JSON object.");
  request req;

  const json* model = get(body, "model");
  if (!model) return missing("model");
  if (!model->is_string()) return wrong_type("model", *model, "a string");
  if (model->get_ref<const std::string&>().empty()) return bad_value("model", "must not be empty.");
  req.model = model->get<std::string>();

  if (get(body, "prompt"))
    return invalid("prompt", "prompt templates are not supported by OAG; send 'input' and "
                             "'instructions' instead.");

  if (const json* ins = get(body, "instructions")) {
    if (!ins->is_string()) return wrong_type("instructions", *ins, "a string");
    req.instructions = ins->get<std::string>();
  }

  if (const json* in = get(body, "input")) {
    json items;
    if (in->is_string()) {
      items = json::array({{{"type", "message"},
                            {"role", "user"},
                            {"content", json::array({{{"type", "input_text"}, {"text", *in}}})}}});
    } else if (in->is_array()) {
      items = *in;
    } else {
      return wrong_type("input", *in, "a string or an array of input items");
    }
    auto converted = convert_items(items, "input");
    if (!converted) return converted.error();
    req.input_items = normalize_items(items);
  }

  OAG_RESP_TRY(check_tools(body, req));
  OAG_RESP_TRY(check_tool_choice(body, req));
  OAG_RESP_TRY(check_conversation(body, req));

  auto store = flag(body, "store", true);
  if (!store) return store.error();
  req.store = *store;
  auto stream = flag(body, "stream", false);
  if (!stream) return stream.error();
  req.stream = *stream;
  auto background = flag(body, "background", false);
  if (!background) return background.error();
  req.background = *background;
  if (req.background && !req.store)
    return invalid("background", "background responses require 'store' to be true.");
  if (const json* p = get(body, "parallel_tool_calls")) {
    if (!p->is_boolean()) return wrong_type("parallel_tool_calls", *p, "a boolean");
    req.parallel_tool_calls = p->get<bool>();
  }

  auto temperature = number_in(body, "temperature", 0.0, 2.0);
  if (!temperature) return temperature.error();
  req.temperature = *temperature;
  auto top_p = number_in(body, "top_p", 0.0, 1.0);
  if (!top_p) return top_p.error();
  req.top_p = *top_p;
  // The spec's minimum for max_output_tokens is 16.
  auto max_out = integer_in(body, "max_output_tokens", 16, std::numeric_limits<std::int64_t>::max());
  if (!max_out) return max_out.error();
  req.max_output_tokens = *max_out;

  OAG_RESP_TRY(check_metadata(body, req));
  OAG_RESP_TRY(check_text(body, req));
  OAG_RESP_TRY(check_reasoning(body, req));

  if (const json* u = get(body, "user")) {
    if (!u->is_string()) return wrong_type("user", *u, "a string");
    req.user = u->get<std::string>();
  }
  if (const json* t = get(body, "truncation")) {
    if (!t->is_string()) return wrong_type("truncation", *t, "a string");
    if (!one_of(t->get<std::string>(), {"auto", "disabled"}))
      return bad_value("truncation", "expected 'auto' or 'disabled'.");
    req.truncation = t->get<std::string>();
  }
  OAG_RESP_TRY(check_ignored(body));
  return req;
}

// ---------------------------------------------------------------------------
// Chat → Responses

/// The call_id of a tool call that came without an id.
std::string fallback_call_id(const std::string& item_id) {
  std::string tail = item_id.rfind("fc_", 0) == 0 ? item_id.substr(3) : item_id;
  return "call_" + tail;
}

/// Chat message annotations (url_citation) → output_text annotations.
json annotations_of(const json& message) {
  json out = json::array();
  const json* list = get(message, "annotations");
  if (!list || !list->is_array()) return out;
  for (const auto& a : *list) {
    if (get_string(a, "type") != std::optional<std::string>("url_citation")) continue;
    const json* c = get(a, "url_citation");
    if (!c || !c->is_object()) continue;
    out.push_back({{"type", "url_citation"},
                   {"start_index", count_of(get(*c, "start_index")).value_or(0)},
                   {"end_index", count_of(get(*c, "end_index")).value_or(0)},
                   {"url", get_string(*c, "url").value_or("")},
                   {"title", get_string(*c, "title").value_or("")}});
  }
  return out;
}

json output_text_part(std::string text, json annotations = json::array()) {
  return {{"type", "output_text"},
          {"text", std::move(text)},
          {"annotations", std::move(annotations)},
          {"logprobs", json::array()}};
}

/// The first choice (index 0) of a completion or chunk, or nullptr.
const json* first_choice(const json& doc) {
  const json* choices = get(doc, "choices");
  if (!choices || !choices->is_array()) return nullptr;
  for (const auto& c : *choices)
    if (count_of(get(c, "index")).value_or(0) == 0) return &c;
  return nullptr;
}

json convert_output(const json& completion, const id_source& new_id) {
  json items = json::array();
  const json* choice = first_choice(completion);
  const json* msg = choice ? get(*choice, "message") : nullptr;
  const std::string finish = choice ? get_string(*choice, "finish_reason").value_or("") : "";
  const std::string status = outcome_of(finish).status == "incomplete" ? "incomplete" : "completed";

  std::string text;
  std::optional<std::string> refusal;
  const json* calls = nullptr;
  if (msg) {
    if (const json* c = get(*msg, "content")) {
      if (c->is_string()) {
        text = c->get<std::string>();
      } else if (c->is_array()) {
        for (const auto& p : *c)
          if (auto t = get_string(p, "text")) text += *t;
      }
    }
    refusal = get_string(*msg, "refusal");
    if (refusal && refusal->empty()) refusal.reset();
    calls = get(*msg, "tool_calls");
    if (calls && (!calls->is_array() || calls->empty())) calls = nullptr;
  }
  if (!text.empty() || refusal || !calls) {
    json content = json::array();
    if (!text.empty() || !refusal)
      content.push_back(output_text_part(text, msg ? annotations_of(*msg) : json::array()));
    if (refusal) content.push_back({{"type", "refusal"}, {"refusal", *refusal}});
    items.push_back({{"id", new_id("msg_")},
                     {"type", "message"},
                     {"status", status},
                     {"role", "assistant"},
                     {"content", std::move(content)}});
  }
  if (calls) {
    for (const auto& call : *calls) {
      const json* fn = get(call, "function");
      if (!fn) continue;
      std::string id = new_id("fc_");
      std::string args;
      if (const json* a = get(*fn, "arguments")) args = a->is_string() ? a->get<std::string>() : dump(*a);
      std::string call_id = get_string(call, "id").value_or(fallback_call_id(id));
      items.push_back({{"id", std::move(id)},
                       {"type", "function_call"},
                       {"status", status},
                       {"call_id", std::move(call_id)},
                       {"name", get_string(*fn, "name").value_or("")},
                       {"arguments", std::move(args)}});
    }
  }
  return items;
}

json usage_json(std::int64_t input, std::int64_t cached, std::int64_t cache_write,
                std::int64_t output, std::int64_t reasoning, std::int64_t total) {
  return {{"input_tokens", input},
          {"input_tokens_details", {{"cached_tokens", cached}, {"cache_write_tokens", cache_write}}},
          {"output_tokens", output},
          {"output_tokens_details", {{"reasoning_tokens", reasoning}}},
          {"total_tokens", total}};
}

json convert_usage(const json& u) {
  if (!u.is_object()) return nullptr;
  auto detail = [&](const char* obj, const char* key) -> std::int64_t {
    const json* d = get(u, obj);
    return d ? count_of(get(*d, key)).value_or(0) : 0;
  };
  if (get(u, "input_tokens") || get(u, "output_tokens")) {
    const std::int64_t in = count_of(get(u, "input_tokens")).value_or(0);
    const std::int64_t out = count_of(get(u, "output_tokens")).value_or(0);
    return usage_json(in, detail("input_tokens_details", "cached_tokens"),
                      detail("input_tokens_details", "cache_write_tokens"), out,
                      detail("output_tokens_details", "reasoning_tokens"),
                      count_of(get(u, "total_tokens")).value_or(in + out));
  }
  if (get(u, "prompt_tokens") || get(u, "completion_tokens")) {
    const std::int64_t in = count_of(get(u, "prompt_tokens")).value_or(0);
    const std::int64_t out = count_of(get(u, "completion_tokens")).value_or(0);
    return usage_json(in, detail("prompt_tokens_details", "cached_tokens"), 0, out,
                      detail("completion_tokens_details", "reasoning_tokens"),
                      count_of(get(u, "total_tokens")).value_or(in + out));
  }
  return nullptr;
}

json build_response(const request& req, std::string_view id, std::int64_t created_at,
                    std::string_view status, const json& output, const json& usage,
                    const json& error, const std::optional<std::string>& incomplete_reason,
                    std::optional<std::int64_t> completed_at) {
  json reasoning = {{"effort", nullptr}, {"summary", nullptr}};
  if (const json* e = get(req.reasoning, "effort")) reasoning["effort"] = *e;
  if (const json* s = get(req.reasoning, "summary")) reasoning["summary"] = *s;
  json r = {
      {"id", std::string(id)},
      {"object", "response"},
      {"created_at", created_at},
      {"status", std::string(status)},
      {"completed_at", completed_at ? json(*completed_at) : json(nullptr)},
      {"error", error.is_object() ? error : json(nullptr)},
      {"incomplete_details",
       status == "incomplete"
           ? json{{"reason", incomplete_reason.value_or("max_output_tokens")}}
           : json(nullptr)},
      {"instructions", req.instructions ? json(*req.instructions) : json(nullptr)},
      {"max_output_tokens", req.max_output_tokens ? json(*req.max_output_tokens) : json(nullptr)},
      {"model", req.model},
      {"output", output.is_array() ? output : json::array()},
      {"parallel_tool_calls", req.parallel_tool_calls.value_or(true)},
      {"previous_response_id",
       req.previous_response_id ? json(*req.previous_response_id) : json(nullptr)},
      {"reasoning", std::move(reasoning)},
      {"store", req.store},
      {"background", req.background},
      {"temperature", req.temperature.value_or(1.0)},
      {"text", req.text.is_object() ? req.text : json{{"format", {{"type", "text"}}}}},
      {"tool_choice", req.tool_choice.is_null() ? json("auto") : req.tool_choice},
      {"tools", req.tools.is_array() ? req.tools : json::array()},
      {"top_p", req.top_p.value_or(1.0)},
      {"truncation", req.truncation},
      {"usage", convert_usage(usage)},
      {"user", req.user ? json(*req.user) : json(nullptr)},
      {"metadata", req.metadata.is_object() ? req.metadata : json::object()},
  };
  if (req.conversation_id) r["conversation"] = {{"id", *req.conversation_id}};
  return r;
}

std::string_view text_of_part_key(const json& part) {
  return part.value("type", "") == "refusal" ? "refusal" : "text";
}

} // namespace

// ---------------------------------------------------------------------------
// Public functions

result<request> parse_request(const json& body) {
  try {
    return parse(body);
  } catch (const std::exception&) {
    return internal_failure();
  }
}

result<json> items_to_chat_messages(const json& items, std::string_view param_prefix) {
  try {
    return convert_items(items, param_prefix);
  } catch (const std::exception&) {
    return internal_failure();
  }
}

json with_instructions(const std::optional<std::string>& instructions, json chat_messages) {
  if (!chat_messages.is_array()) chat_messages = json::array();
  if (!instructions || instructions->empty()) return chat_messages;
  json out = json::array({{{"role", "system"}, {"content", *instructions}}});
  for (auto& m : chat_messages) out.push_back(std::move(m));
  return out;
}

json tools_to_chat(const json& tools) {
  json out = json::array();
  if (!tools.is_array()) return out;
  for (const auto& t : tools) {
    if (get_string(t, "type") != std::optional<std::string>("function")) continue;
    json fn = {{"name", get_string(t, "name").value_or("")}};
    if (auto d = get_string(t, "description")) fn["description"] = *d;
    if (const json* p = get(t, "parameters"); p && p->is_object()) fn["parameters"] = *p;
    if (const json* s = get(t, "strict"); s && s->is_boolean()) fn["strict"] = *s;
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

json tool_choice_to_chat(const json& tool_choice) {
  if (tool_choice.is_string()) return tool_choice;
  if (!tool_choice.is_object()) return nullptr;
  const auto type = get_string(tool_choice, "type").value_or("");
  if (type == "function")
    return {{"type", "function"},
            {"function", {{"name", get_string(tool_choice, "name").value_or("")}}}};
  if (type == "allowed_tools") {
    json list = json::array();
    if (const json* tools = get(tool_choice, "tools"); tools && tools->is_array())
      for (const auto& t : *tools)
        if (get_string(t, "type") == std::optional<std::string>("function"))
          list.push_back(
              {{"type", "function"}, {"function", {{"name", get_string(t, "name").value_or("")}}}});
    return {{"type", "allowed_tools"},
            {"allowed_tools",
             {{"mode", get_string(tool_choice, "mode").value_or("auto")}, {"tools", std::move(list)}}}};
  }
  return nullptr;
}

json chat_body(const request& req, const json& history_messages, bool stream) {
  json messages = json::array();
  if (history_messages.is_array())
    for (const auto& m : history_messages) messages.push_back(m);
  // parse_request converted these once already, so this cannot fail.
  auto input = items_to_chat_messages(req.input_items);
  if (input)
    for (auto& m : *input) messages.push_back(std::move(m));
  json body = {{"model", req.model}, {"messages", with_instructions(req.instructions, std::move(messages))}};

  json tools = tools_to_chat(req.tools);
  if (!tools.empty()) {
    body["tools"] = std::move(tools);
    json tc = tool_choice_to_chat(req.tool_choice);
    if (!tc.is_null()) body["tool_choice"] = std::move(tc);
    if (req.parallel_tool_calls) body["parallel_tool_calls"] = *req.parallel_tool_calls;
  }
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (req.max_output_tokens) body["max_completion_tokens"] = *req.max_output_tokens;
  if (req.user) body["user"] = *req.user;
  if (const json* f = get(req.text, "format")) {
    const auto type = get_string(*f, "type").value_or("text");
    if (type == "json_object") {
      body["response_format"] = {{"type", "json_object"}};
    } else if (type == "json_schema") {
      json js = {{"name", get_string(*f, "name").value_or("response")}};
      if (const json* s = get(*f, "schema")) js["schema"] = *s;
      if (auto d = get_string(*f, "description")) js["description"] = *d;
      if (const json* s = get(*f, "strict"); s && s->is_boolean()) js["strict"] = *s;
      body["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
    }
  }
  if (auto v = get_string(req.text, "verbosity")) body["verbosity"] = *v;
  if (auto e = get_string(req.reasoning, "effort")) body["reasoning_effort"] = *e;
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

json usage_from_chat(const json& chat_usage) {
  try {
    return convert_usage(chat_usage);
  } catch (const std::exception&) {
    return nullptr;
  }
}

json usage_from_tokens(const money::token_usage& usage) {
  return usage_json(usage.input_tokens, usage.cached_input_tokens, 0, usage.output_tokens, 0,
                    usage.input_tokens + usage.output_tokens);
}

outcome outcome_of(std::string_view finish_reason) {
  outcome o;
  if (finish_reason == "length") {
    o.status = "incomplete";
    o.incomplete_reason = "max_output_tokens";
  } else if (finish_reason == "content_filter") {
    o.status = "incomplete";
    o.incomplete_reason = "content_filter";
  }
  return o;
}

json output_items_from_chat(const json& chat_completion, const id_source& new_id) {
  try {
    return convert_output(chat_completion, new_id);
  } catch (const std::exception&) {
    return json::array();
  }
}

json response_object(const request& req, std::string_view id, std::int64_t created_at,
                     std::string_view status, const json& output, const json& usage,
                     const json& error, const std::optional<std::string>& incomplete_reason,
                     std::optional<std::int64_t> completed_at) {
  try {
    return build_response(req, id, created_at, status, output, usage, error, incomplete_reason,
                          completed_at);
  } catch (const std::exception&) {
    return {{"id", std::string(id)}, {"object", "response"}, {"status", "failed"}};
  }
}

json response_from_chat(const request& req, std::string_view id, std::int64_t created_at,
                        const json& chat_completion, const id_source& new_id,
                        std::optional<std::int64_t> completed_at) {
  const json* choice = first_choice(chat_completion);
  const std::string finish = choice ? get_string(*choice, "finish_reason").value_or("") : "";
  const outcome o = outcome_of(finish);
  const json* usage = get(chat_completion, "usage");
  return response_object(req, id, created_at, o.status, output_items_from_chat(chat_completion, new_id),
                         usage ? *usage : json(nullptr), nullptr, o.incomplete_reason,
                         o.status == "completed" ? completed_at : std::nullopt);
}

json response_error(const failure& f) {
  const int status = http_status_of(f);
  const char* code = status == 429 ? "rate_limit_exceeded" : status == 400 ? "invalid_prompt"
                                                                            : "server_error";
  std::string message = f.message.empty() ? "The model failed to generate a response." : f.message;
  return {{"code", code}, {"message", std::move(message)}};
}

// ---------------------------------------------------------------------------
// stream_encoder

stream_encoder::stream_encoder(request req, std::string response_id, std::int64_t created_at,
                               id_source new_id)
    : req_(std::move(req)),
      id_(std::move(response_id)),
      created_at_(created_at),
      new_id_(std::move(new_id)) {}

std::string stream_encoder::event(json payload) {
  payload["sequence_number"] = seq_++;
  const std::string type = payload.value("type", "");
  return sse::frame_event(type, dump(payload));
}

json stream_encoder::snapshot(std::string_view status, const json& output, const json& usage,
                              const json& error, const std::optional<std::string>& incomplete_reason,
                              std::optional<std::int64_t> completed_at) const {
  return response_object(req_, id_, created_at_, status, output, usage, error, incomplete_reason,
                         completed_at);
}

std::string stream_encoder::start() {
  if (started_ || ended_) return {};
  try {
    started_ = true;
    const json initial = snapshot("in_progress", json::array(), nullptr, nullptr, std::nullopt,
                                  std::nullopt);
    std::string out = event({{"type", "response.created"}, {"response", initial}});
    out += event({{"type", "response.in_progress"}, {"response", initial}});
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

std::string stream_encoder::open_message() {
  if (message_slot_ >= 0) return {};
  slot s;
  s.item = {{"id", new_id_("msg_")},
            {"type", "message"},
            {"status", "in_progress"},
            {"role", "assistant"},
            {"content", json::array()}};
  message_slot_ = static_cast<std::int64_t>(slots_.size());
  slots_.push_back(s);
  return event({{"type", "response.output_item.added"},
                {"output_index", message_slot_},
                {"item", s.item}});
}

std::string stream_encoder::text_delta(const std::string& fragment, bool refusal) {
  std::string out = open_message();
  slot& m = slots_[static_cast<std::size_t>(message_slot_)];
  const json item_id = m.item["id"];
  std::int64_t& index = refusal ? m.refusal_part : m.text_part;
  if (index < 0) {
    index = static_cast<std::int64_t>(m.item["content"].size());
    json part = refusal ? json{{"type", "refusal"}, {"refusal", ""}} : output_text_part("");
    m.item["content"].push_back(part);
    out += event({{"type", "response.content_part.added"},
                  {"item_id", item_id},
                  {"output_index", message_slot_},
                  {"content_index", index},
                  {"part", std::move(part)}});
  }
  if (fragment.empty()) return out;
  json& part = m.item["content"][static_cast<std::size_t>(index)];
  const char* key = refusal ? "refusal" : "text";
  part[key] = part[key].get<std::string>() + fragment;
  json ev = {{"type", refusal ? "response.refusal.delta" : "response.output_text.delta"},
             {"item_id", item_id},
             {"output_index", message_slot_},
             {"content_index", index},
             {"delta", fragment}};
  if (!refusal) ev["logprobs"] = json::array();
  out += event(std::move(ev));
  return out;
}

std::string stream_encoder::call_fragment(const json& fragment) {
  if (!fragment.is_object()) return {};
  std::string out;
  const std::int64_t call = count_of(get(fragment, "index")).value_or(0);
  const json* fn = get(fragment, "function");
  auto it = slot_of_call_.find(call);
  if (it == slot_of_call_.end()) {
    slot s;
    s.is_call = true;
    std::string id = new_id_("fc_");
    std::string call_id = get_string(fragment, "id").value_or(fallback_call_id(id));
    s.item = {{"id", std::move(id)},
              {"type", "function_call"},
              {"status", "in_progress"},
              {"arguments", ""},
              {"call_id", std::move(call_id)},
              {"name", fn ? get_string(*fn, "name").value_or("") : std::string()}};
    it = slot_of_call_.emplace(call, slots_.size()).first;
    slots_.push_back(s);
    out += event({{"type", "response.output_item.added"},
                  {"output_index", static_cast<std::int64_t>(it->second)},
                  {"item", s.item}});
  } else if (fn && slots_[it->second].item["name"] == "") {
    // A name that came after the first fragment (unusual) still counts.
    if (auto name = get_string(*fn, "name")) slots_[it->second].item["name"] = *name;
  }
  const std::string args = fn ? get_string(*fn, "arguments").value_or("") : std::string();
  if (!args.empty()) {
    json& item = slots_[it->second].item;
    item["arguments"] = item["arguments"].get<std::string>() + args;
    out += event({{"type", "response.function_call_arguments.delta"},
                  {"item_id", item["id"]},
                  {"output_index", static_cast<std::int64_t>(it->second)},
                  {"delta", args}});
  }
  return out;
}

std::string stream_encoder::on_chunk(const json& chunk) {
  if (ended_) return {};
  try {
    std::string out = start();
    if (const json* u = get(chunk, "usage"); u && u->is_object()) usage_ = *u;
    const json* choice = first_choice(chunk);
    if (!choice) return out;
    if (const json* delta = get(*choice, "delta")) {
      if (auto c = get_string(*delta, "content"); c && !c->empty()) out += text_delta(*c, false);
      if (auto r = get_string(*delta, "refusal"); r && !r->empty()) out += text_delta(*r, true);
      if (const json* calls = get(*delta, "tool_calls"); calls && calls->is_array())
        for (const auto& frag : *calls) out += call_fragment(frag);
    }
    if (auto fr = get_string(*choice, "finish_reason")) finish_reason_ = *fr;
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

std::string stream_encoder::close_items(std::string_view item_status) {
  std::string out;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slot& s = slots_[i];
    const auto output_index = static_cast<std::int64_t>(i);
    const json item_id = s.item["id"];
    if (s.is_call) {
      out += event({{"type", "response.function_call_arguments.done"},
                    {"item_id", item_id},
                    {"output_index", output_index},
                    {"name", s.item["name"]},
                    {"arguments", s.item["arguments"]}});
    } else {
      const json& content = s.item["content"];
      for (std::size_t j = 0; j < content.size(); ++j) {
        const json& part = content[j];
        const bool refusal = text_of_part_key(part) == "refusal";
        json done = {{"type", refusal ? "response.refusal.done" : "response.output_text.done"},
                     {"item_id", item_id},
                     {"output_index", output_index},
                     {"content_index", static_cast<std::int64_t>(j)}};
        if (refusal) {
          done["refusal"] = part["refusal"];
        } else {
          done["text"] = part["text"];
          done["logprobs"] = json::array();
        }
        out += event(std::move(done));
        out += event({{"type", "response.content_part.done"},
                      {"item_id", item_id},
                      {"output_index", output_index},
                      {"content_index", static_cast<std::int64_t>(j)},
                      {"part", part}});
      }
    }
    s.item["status"] = std::string(item_status);
    out += event({{"type", "response.output_item.done"},
                  {"output_index", output_index},
                  {"item", s.item}});
  }
  return out;
}

std::string stream_encoder::finish(const json& usage, std::optional<std::int64_t> completed_at) {
  if (ended_) return {};
  try {
    std::string out = start();
    // An answer with neither text nor calls is still one (empty) message,
    // as output_items_from_chat gives for the same completion.
    if (slots_.empty()) out += text_delta("", false);
    const outcome o = outcome_of(finish_reason_.value_or(""));
    out += close_items(o.status == "incomplete" ? "incomplete" : "completed");
    ended_ = true;
    final_ = snapshot(o.status, output_items(), usage.is_null() ? usage_ : usage, nullptr,
                      o.incomplete_reason, o.status == "completed" ? completed_at : std::nullopt);
    out += event({{"type", o.status == "incomplete" ? "response.incomplete" : "response.completed"},
                  {"response", final_}});
    return out;
  } catch (const std::exception&) {
    ended_ = true;
    return {};
  }
}

std::string stream_encoder::fail(const failure& f) {
  if (ended_) return {};
  try {
    std::string out = start();
    ended_ = true;
    const json err = response_error(f);
    json output = output_items();
    for (auto& item : output) item["status"] = "incomplete";
    final_ = snapshot("failed", output, usage_, err, std::nullopt, std::nullopt);
    // The terminal state first: some SDKs raise on the `error` event and
    // would never show response.failed after it.
    out += event({{"type", "response.failed"}, {"response", final_}});
    out += event({{"type", "error"},
                  {"code", err["code"]},
                  {"message", err["message"]},
                  {"param", f.param ? json(*f.param) : json(nullptr)}});
    return out;
  } catch (const std::exception&) {
    ended_ = true;
    return {};
  }
}

json stream_encoder::output_items() const {
  json out = json::array();
  for (const auto& s : slots_) out.push_back(s.item);
  return out;
}

// ---------------------------------------------------------------------------
// Conversations

bool is_message_item(const json& item) {
  if (!item.is_object()) return false;
  const json* t = get(item, "type");
  if (!t) return get(item, "role") != nullptr;
  return t->is_string() && t->get_ref<const std::string&>() == "message";
}

json message_to_item(const json& thread_message) {
  try {
    const std::string role = get_string(thread_message, "role").value_or("user");
    const bool assistant = role == "assistant";
    auto text_part = [&](std::string text) {
      return assistant ? output_text_part(std::move(text))
                       : json{{"type", "input_text"}, {"text", std::move(text)}};
    };
    json content = json::array();
    if (const json* c = get(thread_message, "content")) {
      if (c->is_string()) {
        content.push_back(text_part(c->get<std::string>()));
      } else if (c->is_array()) {
        for (const auto& part : *c) {
          const auto type = get_string(part, "type").value_or("");
          if (type == "text") {
            const json* t = get(part, "text");
            if (t && t->is_string()) content.push_back(text_part(t->get<std::string>()));
            else if (t) content.push_back(text_part(get_string(*t, "value").value_or("")));
          } else if (type == "image_url") {
            const json* img = get(part, "image_url");
            json p = {{"type", "input_image"},
                      {"image_url", img ? get_string(*img, "url").value_or("") : std::string()},
                      {"detail", img ? get_string(*img, "detail").value_or("auto") : "auto"}};
            content.push_back(std::move(p));
          } else if (type == "image_file") {
            const json* img = get(part, "image_file");
            content.push_back({{"type", "input_image"},
                               {"file_id", img ? get_string(*img, "file_id").value_or("") : std::string()},
                               {"detail", img ? get_string(*img, "detail").value_or("auto") : "auto"}});
          } else if (type == "refusal") {
            content.push_back({{"type", "refusal"}, {"refusal", get_string(part, "refusal").value_or("")}});
          }
        }
      }
    }
    return {{"type", "message"},
            {"id", get_string(thread_message, "id").value_or("")},
            {"status", get_string(thread_message, "status").value_or("completed")},
            {"role", role},
            {"content", std::move(content)}};
  } catch (const std::exception&) {
    return nullptr;
  }
}

result<json> item_to_message_fields(const json& item) {
  try {
    if (!is_message_item(item))
      return invalid("item.type", "only message items can be stored as thread messages.");
    const json* r = get(item, "role");
    if (!r || !r->is_string()) return missing("item.role");
    const std::string role = r->get<std::string>();
    if (!one_of(role, {"user", "assistant", "system", "developer"}))
      return bad_value("item.role", "'" + role + "' is not one of 'user', 'assistant', 'system', "
                                                 "'developer'.");
    auto text = [](std::string s) {
      return json{{"type", "text"}, {"text", {{"value", std::move(s)}, {"annotations", json::array()}}}};
    };
    json content = json::array();
    const json* c = get(item, "content");
    if (!c) return missing("item.content");
    if (c->is_string()) {
      content.push_back(text(c->get<std::string>()));
    } else if (c->is_array()) {
      for (std::size_t j = 0; j < c->size(); ++j) {
        const json& part = (*c)[j];
        const std::string path = at("item.content", j);
        const auto type = get_string(part, "type").value_or("");
        if (type == "input_text" || type == "output_text" || type == "text") {
          auto t = part_text(part, path);
          if (!t) return t.error();
          content.push_back(text(*t));
        } else if (type == "input_image") {
          json detail = nullptr;
          if (auto d = get_string(part, "detail"); d && one_of(*d, {"auto", "low", "high"})) detail = *d;
          if (auto url = get_string(part, "image_url")) {
            json img = {{"url", *url}};
            if (!detail.is_null()) img["detail"] = detail;
            content.push_back({{"type", "image_url"}, {"image_url", std::move(img)}});
          } else if (auto id = get_string(part, "file_id")) {
            json img = {{"file_id", *id}};
            if (!detail.is_null()) img["detail"] = detail;
            content.push_back({{"type", "image_file"}, {"image_file", std::move(img)}});
          } else {
            return missing(path + ".image_url");
          }
        } else if (type == "refusal") {
          content.push_back({{"type", "refusal"}, {"refusal", get_string(part, "refusal").value_or("")}});
        } else {
          return invalid(path + ".type", "content part type '" + type +
                                             "' cannot be stored as a thread message.");
        }
      }
    } else {
      return wrong_type("item.content", *c, "a string or an array of content parts");
    }
    return json{{"role", role}, {"content", std::move(content)}};
  } catch (const std::exception&) {
    return internal_failure();
  }
}

json conversation_record(const json& item, std::string_view id) {
  try {
    json copy = item.is_object() ? item : json::object();
    if (!get_string(copy, "id")) copy["id"] = std::string(id);
    if (!get(copy, "status")) copy["status"] = "completed";
    return {{"object", "conversation.item"}, {"id", copy["id"]}, {"item", std::move(copy)}};
  } catch (const std::exception&) {
    return nullptr;
  }
}

json stored_to_item(const json& stored) {
  const auto object = get_string(stored, "object").value_or("");
  if (object == "thread.message") return message_to_item(stored);
  if (object == "conversation.item") {
    const json* item = get(stored, "item");
    return item && item->is_object() ? *item : json(nullptr);
  }
  return nullptr;
}

} // namespace oag::adapters::responses
