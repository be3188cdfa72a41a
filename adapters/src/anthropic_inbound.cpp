#include "oag/adapters/anthropic_inbound.hpp"

#include <vector>

#include "anthropic_common.hpp"
#include "oag/adapters/adapter.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;
using namespace anthropic_detail;

/// OpenAI's limit on stop sequences; the request may be routed anywhere.
constexpr std::size_t max_stop_sequences = 4;

failure internal_failure() {
  return make_failure(errc::internal, "OAG failed to translate the Anthropic request");
}

failure missing(const std::string& param) { return bad_param(param, "Field required"); }

bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

/// "msg_…" for an OpenAI completion id, so Anthropic clients see their
/// familiar prefix while the id still traces back to the call.
std::string message_id(const json& chunk_or_completion) {
  auto id = get_string(chunk_or_completion, "id").value_or("");
  if (id.rfind("msg_", 0) == 0) return id;
  if (id.rfind("chatcmpl-", 0) == 0) id.erase(0, 9);
  return "msg_" + (id.empty() ? std::string("oag") : id);
}

// ---------------------------------------------------------------------------
// Anthropic blocks → OpenAI parts and messages

/// An Anthropic image block → OpenAI image_url part.
result<json> image_part(const json& block, const std::string& path) {
  const json* src = get(block, "source");
  if (!src || !src->is_object()) return missing(path + ".source");
  auto type = get_string(*src, "type");
  if (type == std::optional<std::string>("base64")) {
    auto media = get_string(*src, "media_type");
    auto data = get_string(*src, "data");
    if (!media || media->empty()) return missing(path + ".source.media_type");
    if (!data || data->empty()) return missing(path + ".source.data");
    return json{{"type", "image_url"},
                {"image_url", {{"url", "data:" + *media + ";base64," + *data}}}};
  }
  if (type == std::optional<std::string>("url")) {
    auto url = get_string(*src, "url");
    if (!url || url->empty()) return missing(path + ".source.url");
    return json{{"type", "image_url"}, {"image_url", {{"url", *url}}}};
  }
  return bad_param(path + ".source.type", "expected 'base64' or 'url'");
}

/// An Anthropic document block → OpenAI file part (base64 PDF) or text part
/// (plain-text source); other sources cannot be carried to other providers.
result<json> document_part(const json& block, const std::string& path) {
  const json* src = get(block, "source");
  if (!src || !src->is_object()) return missing(path + ".source");
  auto type = get_string(*src, "type").value_or("");
  if (type == "base64" &&
      get_string(*src, "media_type") == std::optional<std::string>("application/pdf")) {
    auto data = get_string(*src, "data");
    if (!data || data->empty()) return missing(path + ".source.data");
    std::string name = get_string(block, "title").value_or("document");
    return json{{"type", "file"},
                {"file",
                 {{"file_data", "data:application/pdf;base64," + *data},
                  {"filename", name + ".pdf"}}}};
  }
  if (type == "text") {
    auto data = get_string(*src, "data");
    if (!data) return missing(path + ".source.data");
    return json{{"type", "text"}, {"text", *data}};
  }
  return bad_param(path + ".source.type",
                   "only base64 PDF and plain-text documents can be routed through OAG");
}

/// The text of a text block.
result<std::string> text_of(const json& block, const std::string& path) {
  const json* t = get(block, "text");
  if (!t) return missing(path + ".text");
  if (!t->is_string()) return bad_param(path + ".text", "must be a string");
  return t->get<std::string>();
}

/// One converted user turn: tool messages first (OpenAI wants them right
/// after the assistant turn that called the tools), then what the user said.
struct user_turn {
  json tool_messages = json::array();
  json parts = json::array();
};

result<void> add_tool_result(const json& block, const std::string& path, user_turn& turn) {
  const json* id = get(block, "tool_use_id");
  if (!id) return missing(path + ".tool_use_id");
  if (!id->is_string() || id->get_ref<const std::string&>().empty())
    return bad_param(path + ".tool_use_id", "must be a non-empty string");
  bool is_error = false;
  if (const json* e = get(block, "is_error")) {
    if (!e->is_boolean()) return bad_param(path + ".is_error", "must be a boolean");
    is_error = e->get<bool>();
  }
  std::string text;
  if (const json* c = get(block, "content")) {
    if (c->is_string()) {
      text = c->get<std::string>();
    } else if (c->is_array()) {
      for (std::size_t i = 0; i < c->size(); ++i) {
        const json& item = (*c)[i];
        const std::string ipath = at(path + ".content", i);
        if (!item.is_object()) return bad_param(ipath, "must be an object");
        auto type = get_string(item, "type");
        if (!type) return missing(ipath + ".type");
        if (*type == "text") {
          auto t = text_of(item, ipath);
          if (!t) return t.error();
          if (!text.empty() && !t->empty()) text += "\n";
          text += *t;
        } else if (*type == "image") {
          // OpenAI tool messages carry text only; the image follows as
          // part of the user turn, where every provider can see it.
          auto img = image_part(item, ipath);
          if (!img) return img.error();
          turn.parts.push_back(std::move(img).value());
        } else {
          return bad_param(ipath + ".type", "tool_result content blocks must be 'text' or 'image'");
        }
      }
    } else {
      return bad_param(path + ".content", "must be a string or an array of blocks");
    }
  }
  // OpenAI has no is_error flag; saying it in the text keeps the meaning.
  if (is_error) text = text.empty() ? "Error" : "Error: " + text;
  turn.tool_messages.push_back(
      {{"role", "tool"}, {"tool_call_id", id->get<std::string>()}, {"content", text}});
  return {};
}

/// The `type` of a content block, which must be an object with a string type.
result<std::string> block_type(const json& block, const std::string& bpath) {
  if (!block.is_object()) return bad_param(bpath, "must be an object");
  const json* tj = get(block, "type");
  if (!tj) return missing(bpath + ".type");
  if (!tj->is_string()) return bad_param(bpath + ".type", "must be a string");
  return tj->get<std::string>();
}

/// Converts a user turn's blocks. `openai_parts_too` lets OpenAI parts pass
/// (for histories that mix both shapes on /v1/chat/completions).
result<void> convert_user(const json& content, const std::string& path, bool openai_parts_too,
                          json& out) {
  if (content.is_string()) {
    out.push_back({{"role", "user"}, {"content", content}});
    return {};
  }
  if (!content.is_array()) return bad_param(path, "must be a string or an array of blocks");
  if (content.empty()) return bad_param(path, "must contain at least one block");
  user_turn turn;
  json said = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    const std::string bpath = at(path, i);
    auto checked = block_type(block, bpath);
    if (!checked) return checked.error();
    const std::string& type = *checked;
    if (type == "text") {
      auto t = text_of(block, bpath);
      if (!t) return t.error();
      said.push_back({{"type", "text"}, {"text", *t}});
    } else if (type == "image") {
      auto img = image_part(block, bpath);
      if (!img) return img.error();
      said.push_back(std::move(img).value());
    } else if (type == "document") {
      auto doc = document_part(block, bpath);
      if (!doc) return doc.error();
      said.push_back(std::move(doc).value());
    } else if (type == "tool_result") {
      auto ok = add_tool_result(block, bpath, turn);
      if (!ok) return ok.error();
    } else if (openai_parts_too && (type == "image_url" || type == "input_audio" || type == "file")) {
      said.push_back(block);
    } else if (type == "tool_use" || type == "thinking" || type == "redacted_thinking") {
      return bad_param(bpath + ".type", "'" + type + "' blocks belong in assistant messages");
    } else {
      return bad_param(bpath + ".type", "block type '" + type + "' is not supported in user "
                                        "messages; expected 'text', 'image', 'document' or "
                                        "'tool_result'");
    }
  }
  for (auto& m : turn.tool_messages) out.push_back(std::move(m));
  for (auto& p : said) turn.parts.push_back(std::move(p));
  if (turn.parts.empty()) return {};
  if (turn.parts.size() == 1 && turn.parts[0]["type"] == "text")
    out.push_back({{"role", "user"}, {"content", turn.parts[0]["text"]}});
  else
    out.push_back({{"role", "user"}, {"content", std::move(turn.parts)}});
  return {};
}

/// Converts an assistant turn's blocks; `existing_calls` (OpenAI
/// tool_calls already on the message) are kept after the converted ones.
result<void> convert_assistant(const json& content, const std::string& path,
                               bool openai_parts_too, const json* existing_calls, json& out) {
  if (content.is_string()) {
    json m = {{"role", "assistant"}, {"content", content}};
    if (existing_calls) m["tool_calls"] = *existing_calls;
    out.push_back(std::move(m));
    return {};
  }
  if (!content.is_array()) return bad_param(path, "must be a string or an array of blocks");
  std::string text;
  json calls = json::array();
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& block = content[i];
    const std::string bpath = at(path, i);
    auto checked = block_type(block, bpath);
    if (!checked) return checked.error();
    const std::string& type = *checked;
    if (type == "text" || (openai_parts_too && type == "refusal")) {
      const json* t = get(block, type == "text" ? "text" : "refusal");
      if (!t) return missing(bpath + "." + type);
      if (!t->is_string()) return bad_param(bpath + "." + type, "must be a string");
      // Anthropic splits one answer into several text blocks (citations):
      // they are pieces of the same text, so they join without a separator.
      text += t->get<std::string>();
    } else if (type == "tool_use") {
      const json* id = get(block, "id");
      const json* name = get(block, "name");
      if (!id) return missing(bpath + ".id");
      if (!id->is_string() || id->get_ref<const std::string&>().empty())
        return bad_param(bpath + ".id", "must be a non-empty string");
      if (!name) return missing(bpath + ".name");
      if (!name->is_string() || name->get_ref<const std::string&>().empty())
        return bad_param(bpath + ".name", "must be a non-empty string");
      const json* input = get(block, "input");
      if (input && !input->is_object()) return bad_param(bpath + ".input", "must be an object");
      calls.push_back({{"id", *id},
                       {"type", "function"},
                       {"function",
                        {{"name", *name},
                         {"arguments", input ? dump(*input) : std::string("{}")}}}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      // Signed reasoning only the producing model can verify; other
      // providers would reject or misread it.
    } else if (type == "tool_result" || type == "image" || type == "document") {
      return bad_param(bpath + ".type", "'" + type + "' blocks belong in user messages");
    } else {
      return bad_param(bpath + ".type", "block type '" + type + "' is not supported in "
                                        "assistant messages; expected 'text', 'tool_use' or "
                                        "'thinking'");
    }
  }
  if (existing_calls && existing_calls->is_array())
    for (const auto& c : *existing_calls) calls.push_back(c);
  if (text.empty() && calls.empty()) return {};  // nothing but reasoning
  json m = {{"role", "assistant"}};
  m["content"] = (text.empty() && !calls.empty()) ? json(nullptr) : json(text);
  if (!calls.empty()) m["tool_calls"] = std::move(calls);
  out.push_back(std::move(m));
  return {};
}

// ---------------------------------------------------------------------------
// Top-level fields

result<void> convert_system(const json& body, json& messages) {
  const json* sys = get(body, "system");
  if (!sys) return {};
  std::string text;
  if (sys->is_string()) {
    text = sys->get<std::string>();
  } else if (sys->is_array()) {
    for (std::size_t i = 0; i < sys->size(); ++i) {
      const json& block = (*sys)[i];
      const std::string path = at("system", i);
      if (!block.is_object()) return bad_param(path, "must be an object");
      if (get_string(block, "type") != std::optional<std::string>("text"))
        return bad_param(path + ".type", "system blocks must be of type 'text'");
      auto t = text_of(block, path);
      if (!t) return t.error();
      if (t->empty()) continue;
      text += (text.empty() ? "" : "\n\n") + *t;
    }
  } else {
    return bad_param("system", "must be a string or an array of text blocks");
  }
  if (!text.empty()) messages.push_back({{"role", "system"}, {"content", text}});
  return {};
}

result<void> check_number(const json& body, const char* name, double lo, double hi, json& out) {
  const json* v = get(body, name);
  if (!v) return {};
  if (!v->is_number()) return bad_param(name, "must be a number");
  double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    return bad_param(name, "must be between " + std::to_string(lo).substr(0, 3) + " and " +
                               std::to_string(hi).substr(0, 3));
  out[name] = *v;
  return {};
}

result<json> convert_tools(const json& tools) {
  if (!tools.is_array()) return bad_param("tools", "must be an array");
  json out = json::array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string path = at("tools", i);
    if (!t.is_object()) return bad_param(path, "must be an object");
    if (auto type = get_string(t, "type"); type && *type != "custom")
      return bad_param(path + ".type", "server tool '" + *type +
                                           "' is not supported by OAG; only client tools "
                                           "(name, description, input_schema) can be routed");
    const json* name = get(t, "name");
    if (!name) return missing(path + ".name");
    if (!name->is_string() || name->get_ref<const std::string&>().empty())
      return bad_param(path + ".name", "must be a non-empty string");
    const json* schema = get(t, "input_schema");
    if (!schema) return missing(path + ".input_schema");
    if (!schema->is_object()) return bad_param(path + ".input_schema", "must be an object");
    json fn = {{"name", *name}, {"parameters", *schema}};
    if (const json* d = get(t, "description")) {
      if (!d->is_string()) return bad_param(path + ".description", "must be a string");
      fn["description"] = *d;
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

/// tool_choice → OpenAI tool_choice / parallel_tool_calls on `out`.
result<void> convert_tool_choice(const json& body, bool has_tools, json& out) {
  const json* tc = get(body, "tool_choice");
  if (!tc) return {};
  if (!tc->is_object()) return bad_param("tool_choice", "must be an object");
  const json* tj = get(*tc, "type");
  if (!tj) return missing("tool_choice.type");
  if (!tj->is_string()) return bad_param("tool_choice.type", "must be a string");
  const std::string& type = tj->get_ref<const std::string&>();
  json choice;
  if (type == "auto") {
    choice = "auto";
  } else if (type == "any") {
    choice = "required";
  } else if (type == "none") {
    choice = "none";
  } else if (type == "tool") {
    const json* name = get(*tc, "name");
    if (!name) return missing("tool_choice.name");
    if (!name->is_string() || name->get_ref<const std::string&>().empty())
      return bad_param("tool_choice.name", "must be a non-empty string");
    choice = {{"type", "function"}, {"function", {{"name", *name}}}};
  } else {
    return bad_param("tool_choice.type", "expected 'auto', 'any', 'tool' or 'none'");
  }
  bool disable_parallel = false;
  if (const json* d = get(*tc, "disable_parallel_tool_use")) {
    if (!d->is_boolean())
      return bad_param("tool_choice.disable_parallel_tool_use", "must be a boolean");
    disable_parallel = d->get<bool>();
  }
  // OpenAI refuses tool_choice (and parallel_tool_calls) without tools.
  if (!has_tools) return {};
  out["tool_choice"] = std::move(choice);
  if (disable_parallel && type != "none") out["parallel_tool_calls"] = false;
  return {};
}

result<json> convert_request(const json& body) {
  if (!body.is_object()) return bad_param("body", "the request body must be a JSON object");
  json out = json::object();

  const json* model = get(body, "model");
  if (!model) return missing("model");
  if (!model->is_string() || model->get_ref<const std::string&>().empty())
    return bad_param("model", "must be a non-empty string");
  out["model"] = *model;

  const json* max_tokens = get(body, "max_tokens");
  if (!max_tokens) return missing("max_tokens");
  auto limit = is_int(*max_tokens) ? count_of(max_tokens) : std::nullopt;
  if (!limit || *limit < 1) return bad_param("max_tokens", "must be an integer of at least 1");
  // max_completion_tokens is the non-deprecated OpenAI field, the only one
  // OpenAI's reasoning models accept.
  out["max_completion_tokens"] = *limit;

  json messages = json::array();
  auto sys = convert_system(body, messages);
  if (!sys) return sys.error();

  const json* msgs = get(body, "messages");
  if (!msgs) return missing("messages");
  if (!msgs->is_array()) return bad_param("messages", "must be an array");
  if (msgs->empty()) return bad_param("messages", "must contain at least one message");
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string path = at("messages", i);
    if (!m.is_object()) return bad_param(path, "must be an object");
    const json* role = get(m, "role");
    if (!role) return missing(path + ".role");
    const json* content = get(m, "content");
    if (!content) return missing(path + ".content");
    if (*role == "user") {
      auto ok = convert_user(*content, path + ".content", false, messages);
      if (!ok) return ok.error();
    } else if (*role == "assistant") {
      auto ok = convert_assistant(*content, path + ".content", false, nullptr, messages);
      if (!ok) return ok.error();
    } else {
      return bad_param(path + ".role", "expected 'user' or 'assistant' (the system prompt goes "
                                       "in the top-level 'system' field)");
    }
  }
  if (messages.empty() || (messages.size() == 1 && messages[0]["role"] == "system"))
    return bad_param("messages", "must contain at least one message with content");
  out["messages"] = std::move(messages);

  if (const json* stop = get(body, "stop_sequences")) {
    if (!stop->is_array()) return bad_param("stop_sequences", "must be an array of strings");
    for (std::size_t i = 0; i < stop->size(); ++i)
      if (!(*stop)[i].is_string()) return bad_param(at("stop_sequences", i), "must be a string");
    if (stop->size() > max_stop_sequences)
      return bad_param("stop_sequences",
                       "OAG routes at most 4 stop sequences (the limit of OpenAI-format "
                       "providers)");
    if (!stop->empty()) out["stop"] = *stop;
  }
  if (const json* s = get(body, "stream")) {
    if (!s->is_boolean()) return bad_param("stream", "must be a boolean");
    if (s->get<bool>()) {
      out["stream"] = true;
      out["stream_options"] = {{"include_usage", true}};
    }
  }
  if (auto ok = check_number(body, "temperature", 0.0, 1.0, out); !ok) return ok.error();
  if (auto ok = check_number(body, "top_p", 0.0, 1.0, out); !ok) return ok.error();
  if (const json* k = get(body, "top_k"); k && !(is_int(*k) && count_of(k)))
    return bad_param("top_k", "must be a non-negative integer");
  if (const json* md = get(body, "metadata")) {
    if (!md->is_object()) return bad_param("metadata", "must be an object");
    if (const json* uid = get(*md, "user_id")) {
      if (!uid->is_string()) return bad_param("metadata.user_id", "must be a string");
      if (!uid->get_ref<const std::string&>().empty()) out["user"] = *uid;
    }
  }
  bool has_tools = false;
  if (const json* tools = get(body, "tools")) {
    auto converted = convert_tools(*tools);
    if (!converted) return converted.error();
    has_tools = !converted->empty();
    if (has_tools) out["tools"] = std::move(converted).value();
  }
  if (auto ok = convert_tool_choice(body, has_tools, out); !ok) return ok.error();
  return out;
}

/// True for content holding a block only Anthropic's shape has.
bool has_anthropic_blocks(const json& content) {
  if (!content.is_array()) return false;
  for (const auto& b : content) {
    auto type = get_string(b, "type").value_or("");
    if (type == "tool_use" || type == "tool_result" || type == "image" || type == "document" ||
        type == "thinking" || type == "redacted_thinking")
      return true;
  }
  return false;
}

result<json> normalize(const json& body) {
  const json* msgs = get(body, "messages");
  if (!msgs || !msgs->is_array()) return body;
  bool any = false;
  for (const auto& m : *msgs)
    if (const json* c = get(m, "content"); c && has_anthropic_blocks(*c)) any = true;
  if (!any) return body;
  json messages = json::array();
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const json* content = get(m, "content");
    const std::string path = at("messages", i) + ".content";
    if (!content || !has_anthropic_blocks(*content)) {
      messages.push_back(m);
      continue;
    }
    auto role = get_string(m, "role").value_or("");
    result<void> ok;
    if (role == "user") {
      ok = convert_user(*content, path, true, messages);
    } else if (role == "assistant") {
      ok = convert_assistant(*content, path, true, get(m, "tool_calls"), messages);
    } else {
      ok = bad_param(path, "Anthropic-shaped blocks are only understood in user and assistant "
                           "messages");
    }
    if (!ok) return ok.error();
  }
  json out = body;
  out["messages"] = std::move(messages);
  return out;
}

// ---------------------------------------------------------------------------
// OpenAI answer → Anthropic Message

const char* stop_reason_of(std::string_view finish_reason, bool had_tool_calls) {
  if (had_tool_calls || finish_reason == "tool_calls" || finish_reason == "function_call")
    return "tool_use";
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "content_filter") return "refusal";
  return "end_turn";
}

/// Anthropic usage for OpenAI-style token counts: Anthropic's input_tokens
/// excludes cache reads, OpenAI's prompt_tokens includes them.
json anthropic_usage(const std::optional<money::token_usage>& u) {
  const std::int64_t in = u ? u->input_tokens : 0;
  const std::int64_t cached = u ? std::min(u->cached_input_tokens, in) : 0;
  return {{"input_tokens", in - cached},
          {"output_tokens", u ? u->output_tokens : 0},
          {"cache_read_input_tokens", cached}};
}

/// Tool-call arguments (JSON text) as the object Anthropic's `input` must
/// be; a model's invalid or non-object arguments become {} rather than a
/// shape the Anthropic SDK would choke on.
json input_of(const json* fn) {
  if (!fn) return json::object();
  const json* args = get(*fn, "arguments");
  if (args && args->is_object()) return *args;
  if (!args || !args->is_string()) return json::object();
  json parsed = parse_json(args->get_ref<const std::string&>());
  return parsed.is_object() ? parsed : json::object();
}

json convert_response(const json& completion, std::string_view model) {
  json content = json::array();
  std::string finish;
  bool had_calls = false;
  const json* choices = get(completion, "choices");
  const json* choice = (choices && choices->is_array() && !choices->empty()) ? &(*choices)[0]
                                                                            : nullptr;
  if (choice) {
    finish = get_string(*choice, "finish_reason").value_or("");
    const json* msg = get(*choice, "message");
    if (msg) {
      std::string text;
      if (const json* c = get(*msg, "content")) {
        if (c->is_string()) {
          text = c->get<std::string>();
        } else if (c->is_array()) {
          for (const auto& p : *c) text += get_string(p, "text").value_or("");
        }
      }
      if (text.empty()) text = get_string(*msg, "refusal").value_or("");
      if (!text.empty()) content.push_back({{"type", "text"}, {"text", text}});
      if (const json* calls = get(*msg, "tool_calls"); calls && calls->is_array()) {
        for (std::size_t i = 0; i < calls->size(); ++i) {
          const json& call = (*calls)[i];
          const json* fn = get(call, "function");
          content.push_back(
              {{"type", "tool_use"},
               {"id", get_string(call, "id").value_or("toolu_oag_" + std::to_string(i))},
               {"name", fn ? get_string(*fn, "name").value_or("") : std::string()},
               {"input", input_of(fn)}});
          had_calls = true;
        }
      }
    }
  }
  return {{"id", message_id(completion)},
          {"type", "message"},
          {"role", "assistant"},
          {"model", std::string(model)},
          {"content", std::move(content)},
          {"stop_reason", stop_reason_of(finish, had_calls)},
          {"stop_sequence", nullptr},
          {"usage", anthropic_usage(usage_of(completion))}};
}

json error_json(const failure& f) {
  std::string message = f.message.empty() ? "request failed" : f.message;
  // Anthropic has no `param`; its own messages lead with the field path.
  if (f.param && !f.param->empty() && message.find(*f.param) == std::string::npos)
    message = *f.param + ": " + message;
  return {{"type", "error"},
          {"error",
           {{"type", anthropic_error_type_for_status(http_status_of(f))},
            {"message", message}}}};
}

std::string frame(const char* name, const json& payload) {
  return sse::frame_event(name, dump(payload));
}

} // namespace

result<json> anthropic_request_to_openai(const json& anthropic_body) {
  try {
    return convert_request(anthropic_body);
  } catch (const std::exception&) {
    return internal_failure();
  }
}

result<json> normalize_anthropic_history(const json& chat_body) {
  try {
    return normalize(chat_body);
  } catch (const std::exception&) {
    return internal_failure();
  }
}

json openai_response_to_anthropic(const json& chat_completion, std::string_view model) {
  try {
    return convert_response(chat_completion, model);
  } catch (const std::exception&) {
    return convert_response(json::object(), model);
  }
}

std::string anthropic_error_body(const failure& f) {
  try {
    return dump(error_json(f));
  } catch (const std::exception&) {
    return R"({"type":"error","error":{"type":"api_error","message":"request failed"}})";
  }
}

// ---------------------------------------------------------------------------
// anthropic_stream_encoder

anthropic_stream_encoder::anthropic_stream_encoder(std::string model) : model_(std::move(model)) {}

std::string anthropic_stream_encoder::start(const json& chunk) {
  started_ = true;
  id_ = message_id(chunk);
  json message = {{"id", id_},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", model_},
                  {"content", json::array()},
                  {"stop_reason", nullptr},
                  {"stop_sequence", nullptr},
                  // Input tokens are known only at the end of an OpenAI
                  // stream; message_delta carries them (the SDKs take
                  // message_delta's usage over message_start's).
                  {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
  return frame("message_start", {{"type", "message_start"}, {"message", std::move(message)}});
}

std::string anthropic_stream_encoder::close_block() {
  if (open_ == block::none) return {};
  open_ = block::none;
  return frame("content_block_stop", {{"type", "content_block_stop"}, {"index", open_index_}});
}

std::string anthropic_stream_encoder::text(const std::string& fragment) {
  std::string out;
  if (open_ != block::text) {
    out += close_block();
    open_ = block::text;
    open_index_ = next_index_++;
    out += frame("content_block_start", {{"type", "content_block_start"},
                                         {"index", open_index_},
                                         {"content_block", {{"type", "text"}, {"text", ""}}}});
  }
  out += frame("content_block_delta",
               {{"type", "content_block_delta"},
                {"index", open_index_},
                {"delta", {{"type", "text_delta"}, {"text", fragment}}}});
  return out;
}

std::string anthropic_stream_encoder::tool(const json& fragment) {
  std::string out;
  if (!fragment.is_object()) return out;
  const std::int64_t call = count_of(get(fragment, "index")).value_or(0);
  const json* fn = get(fragment, "function");
  auto it = block_of_tool_.find(call);
  if (it == block_of_tool_.end()) {
    out += close_block();
    open_ = block::tool;
    open_index_ = next_index_++;
    it = block_of_tool_.emplace(call, open_index_).first;
    json start = {{"type", "tool_use"},
                  {"id", get_string(fragment, "id").value_or("toolu_oag_" + std::to_string(call))},
                  {"name", fn ? get_string(*fn, "name").value_or("") : std::string()},
                  {"input", json::object()}};
    out += frame("content_block_start", {{"type", "content_block_start"},
                                         {"index", open_index_},
                                         {"content_block", std::move(start)}});
  }
  auto args = fn ? get_string(*fn, "arguments").value_or("") : std::string();
  if (!args.empty()) {
    // Fragments of an earlier call (interleaving is legal in OpenAI
    // streams, though rare) go to that call's block index; the SDKs
    // accumulate deltas by index.
    out += frame("content_block_delta",
                 {{"type", "content_block_delta"},
                  {"index", it->second},
                  {"delta", {{"type", "input_json_delta"}, {"partial_json", args}}}});
  }
  return out;
}

std::string anthropic_stream_encoder::on_chunk(const json& openai_chunk) {
  if (ended_) return {};
  try {
    std::string out;
    if (!started_) out += start(openai_chunk);
    if (auto u = usage_of(openai_chunk)) usage_ = u;
    const json* choices = get(openai_chunk, "choices");
    if (!choices || !choices->is_array()) return out;
    for (const auto& choice : *choices) {
      // Anthropic has one answer per message; other choices cannot be shown.
      if (count_of(get(choice, "index")).value_or(0) != 0) continue;
      if (const json* delta = get(choice, "delta")) {
        if (auto c = get_string(*delta, "content"); c && !c->empty()) out += text(*c);
        if (auto r = get_string(*delta, "refusal"); r && !r->empty()) out += text(*r);
        if (const json* calls = get(*delta, "tool_calls"); calls && calls->is_array())
          for (const auto& frag : *calls) out += tool(frag);
      }
      if (auto fr = get_string(choice, "finish_reason")) finish_reason_ = *fr;
    }
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

std::string anthropic_stream_encoder::finish(const std::optional<money::token_usage>& usage) {
  if (ended_) return {};
  try {
    std::string out;
    if (!started_) out += start(json::object());
    out += close_block();
    ended_ = true;
    const char* stop = stop_reason_of(finish_reason_.value_or(""), !block_of_tool_.empty());
    out += frame("message_delta",
                 {{"type", "message_delta"},
                  {"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}},
                  {"usage", anthropic_usage(usage ? usage : usage_)}});
    out += frame("message_stop", {{"type", "message_stop"}});
    return out;
  } catch (const std::exception&) {
    ended_ = true;
    return {};
  }
}

std::string anthropic_stream_encoder::error(const failure& f) {
  if (ended_) return {};
  ended_ = true;
  try {
    return frame("error", error_json(f));
  } catch (const std::exception&) {
    return {};
  }
}

} // namespace oag::adapters
