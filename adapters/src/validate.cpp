#include "oag/adapters/validate.hpp"

#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>

#include "param_errors.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;

constexpr std::size_t max_stop_sequences = 4;
constexpr std::size_t max_tools = 128;
constexpr std::size_t max_embedding_inputs = 2048;
/// Images are priced by tiles; 1600 tokens is above the cost of any single
/// high-detail image OpenAI documents, so a reservation never falls short.
constexpr std::int64_t tokens_per_image = 1600;

using param_errors::invalid;
using param_errors::type_name;
using param_errors::wrong_type;
using param_errors::bad_value;
using param_errors::missing;

using param_errors::check_bool;
using param_errors::check_object;
using param_errors::check_string;
using param_errors::get;
using param_errors::index_path;
using param_errors::one_of;
using param_errors::valid_name;

std::string format_bound(double d) {
  if (d == static_cast<double>(static_cast<std::int64_t>(d)))
    return std::to_string(static_cast<std::int64_t>(d));
  return json(d).dump();
}

result<void> check_number(const json& obj, const char* key, double lo, double hi) {
  const json* v = get(obj, key);
  if (!v) return {};
  if (!v->is_number()) return wrong_type(key, *v, "a number");
  double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    return bad_value(key, "must be between " + format_bound(lo) + " and " + format_bound(hi) +
                              ", got " + v->dump() + ".");
  return {};
}

result<void> check_int(const json& obj, const char* key, std::int64_t lo, std::int64_t hi) {
  const json* v = get(obj, key);
  if (!v) return {};
  if (!v->is_number_integer()) return wrong_type(key, *v, "an integer");
  const bool too_big = v->is_number_unsigned() &&
                       v->get<std::uint64_t>() >
                           static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const std::int64_t i = too_big ? std::numeric_limits<std::int64_t>::max() : v->get<std::int64_t>();
  if (i < lo || i > hi) {
    std::string range = hi == std::numeric_limits<std::int64_t>::max()
                            ? "must be at least " + std::to_string(lo)
                            : "must be between " + std::to_string(lo) + " and " +
                                  std::to_string(hi);
    return bad_value(key, range + ", got " + v->dump() + ".");
  }
  return {};
}


#define OAG_TRY(expr)              \
  do {                             \
    auto oag_try_r_ = (expr);      \
    if (!oag_try_r_) return oag_try_r_; \
  } while (false)

/// One content part of a message; `allowed` are the part types the role
/// accepts.
result<void> check_part(const json& part, const std::string& path,
                        std::initializer_list<std::string_view> allowed) {
  if (!part.is_object()) return wrong_type(path, part, "an object");
  const json* t = get(part, "type");
  if (!t) return missing(path + ".type");
  if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
  const std::string& type = t->get_ref<const std::string&>();
  if (!one_of(type, allowed)) {
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "'" : ", '") + std::string(a) + "'";
    return bad_value(path + ".type", "'" + type + "' is not supported here; expected one of " +
                                         list + ".");
  }
  if (type == "text") return check_string(part, "text", path + ".text", true);
  if (type == "refusal") return check_string(part, "refusal", path + ".refusal", true);
  if (type == "image_url") {
    OAG_TRY(check_object(part, "image_url", path + ".image_url", true));
    const json& img = part["image_url"];
    OAG_TRY(check_string(img, "url", path + ".image_url.url", true, true));
    if (const json* d = get(img, "detail")) {
      if (!d->is_string()) return wrong_type(path + ".image_url.detail", *d, "a string");
      if (!one_of(d->get<std::string>(), {"auto", "low", "high"}))
        return bad_value(path + ".image_url.detail", "expected 'auto', 'low' or 'high'.");
    }
    return {};
  }
  if (type == "input_audio") {
    OAG_TRY(check_object(part, "input_audio", path + ".input_audio", true));
    const json& audio = part["input_audio"];
    OAG_TRY(check_string(audio, "data", path + ".input_audio.data", true, true));
    const json* f = get(audio, "format");
    if (!f) return missing(path + ".input_audio.format");
    if (!f->is_string() || !one_of(f->get<std::string>(), {"wav", "mp3"}))
      return bad_value(path + ".input_audio.format", "expected 'wav' or 'mp3'.");
    return {};
  }
  if (type == "file") {
    OAG_TRY(check_object(part, "file", path + ".file", true));
    const json& file = part["file"];
    OAG_TRY(check_string(file, "file_id", path + ".file.file_id"));
    OAG_TRY(check_string(file, "file_data", path + ".file.file_data"));
    OAG_TRY(check_string(file, "filename", path + ".file.filename"));
    if (!get(file, "file_id") && !get(file, "file_data"))
      return invalid(path + ".file", "Invalid value for '" + path +
                                         ".file': one of 'file_id' or 'file_data' is required.");
    return {};
  }
  return {};
}

/// `content` as a string or a non-empty array of allowed parts.
result<void> check_content(const json& content, const std::string& path,
                           std::initializer_list<std::string_view> allowed) {
  if (content.is_string()) return {};
  if (!content.is_array())
    return wrong_type(path, content, "a string or an array of content parts");
  if (content.empty()) return bad_value(path, "an array of content parts must not be empty.");
  for (std::size_t i = 0; i < content.size(); ++i)
    OAG_TRY(check_part(content[i], index_path(path, i), allowed));
  return {};
}

result<void> check_tool_call(const json& call, const std::string& path) {
  if (!call.is_object()) return wrong_type(path, call, "an object");
  OAG_TRY(check_string(call, "id", path + ".id", true, true));
  const json* t = get(call, "type");
  if (!t) return missing(path + ".type");
  if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
  const std::string& type = t->get_ref<const std::string&>();
  if (type == "function") {
    OAG_TRY(check_object(call, "function", path + ".function", true));
    const json& fn = call["function"];
    OAG_TRY(check_string(fn, "name", path + ".function.name", true, true));
    return check_string(fn, "arguments", path + ".function.arguments", true);
  }
  if (type == "custom") {
    OAG_TRY(check_object(call, "custom", path + ".custom", true));
    const json& c = call["custom"];
    OAG_TRY(check_string(c, "name", path + ".custom.name", true, true));
    return check_string(c, "input", path + ".custom.input", true);
  }
  return bad_value(path + ".type", "expected 'function' or 'custom'.");
}

result<void> check_message(const json& m, const std::string& path) {
  if (!m.is_object()) return wrong_type(path, m, "an object");
  const json* r = get(m, "role");
  if (!r) return missing(path + ".role");
  if (!r->is_string()) return wrong_type(path + ".role", *r, "a string");
  const std::string& role = r->get_ref<const std::string&>();
  OAG_TRY(check_string(m, "name", path + ".name"));
  const std::string content_path = path + ".content";
  const json* content = get(m, "content");

  if (role == "system" || role == "developer") {
    if (!content) return missing(content_path);
    return check_content(*content, content_path, {"text"});
  }
  if (role == "user") {
    if (!content) return missing(content_path);
    return check_content(*content, content_path, {"text", "image_url", "input_audio", "file"});
  }
  if (role == "assistant") {
    if (content) OAG_TRY(check_content(*content, content_path, {"text", "refusal"}));
    OAG_TRY(check_string(m, "refusal", path + ".refusal"));
    bool has_calls = false;
    if (const json* calls = get(m, "tool_calls")) {
      if (!calls->is_array()) return wrong_type(path + ".tool_calls", *calls, "an array");
      for (std::size_t i = 0; i < calls->size(); ++i)
        OAG_TRY(check_tool_call((*calls)[i], index_path(path + ".tool_calls", i)));
      has_calls = !calls->empty();
    }
    OAG_TRY(check_object(m, "function_call", path + ".function_call"));
    OAG_TRY(check_object(m, "audio", path + ".audio"));
    if (!content && !has_calls && !get(m, "function_call") && !get(m, "audio") &&
        !get(m, "refusal"))
      return invalid(content_path, "Missing required parameter: '" + content_path +
                                       "' (an assistant message needs content or tool_calls).");
    return {};
  }
  if (role == "tool") {
    OAG_TRY(check_string(m, "tool_call_id", path + ".tool_call_id", true, true));
    if (!content) return missing(content_path);
    return check_content(*content, content_path, {"text"});
  }
  if (role == "function") {
    // Legacy function-calling result: a name and string (or null) content.
    OAG_TRY(check_string(m, "name", path + ".name", true, true));
    if (content && !content->is_string()) return wrong_type(content_path, *content, "a string");
    return {};
  }
  return bad_value(path + ".role", "'" + role +
                                       "' is not one of 'system', 'developer', 'user', "
                                       "'assistant', 'tool', 'function'.");
}

result<void> check_function_def(const json& fn, const std::string& path) {
  if (!fn.is_object()) return wrong_type(path, fn, "an object");
  const json* name = get(fn, "name");
  if (!name) return missing(path + ".name");
  if (!name->is_string()) return wrong_type(path + ".name", *name, "a string");
  if (!valid_name(name->get<std::string>()))
    return bad_value(path + ".name",
                     "must match ^[a-zA-Z0-9_-]{1,64}$ (letters, digits, '_' and '-', at most "
                     "64 characters).");
  OAG_TRY(check_string(fn, "description", path + ".description"));
  OAG_TRY(check_object(fn, "parameters", path + ".parameters"));
  return check_bool(fn, "strict", path + ".strict");
}

result<void> check_tools(const json& body) {
  const json* tools = get(body, "tools");
  if (!tools) return {};
  if (!tools->is_array()) return wrong_type("tools", *tools, "an array");
  if (tools->size() > max_tools)
    return bad_value("tools", "at most " + std::to_string(max_tools) + " tools are allowed.");
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const std::string path = index_path("tools", i);
    const json& tool = (*tools)[i];
    if (!tool.is_object()) return wrong_type(path, tool, "an object");
    const json* t = get(tool, "type");
    if (!t) return missing(path + ".type");
    if (!t->is_string()) return wrong_type(path + ".type", *t, "a string");
    const std::string& type = t->get_ref<const std::string&>();
    if (type == "function") {
      if (!get(tool, "function")) return missing(path + ".function");
      OAG_TRY(check_function_def(tool["function"], path + ".function"));
    } else if (type == "custom") {
      OAG_TRY(check_object(tool, "custom", path + ".custom", true));
      const json& c = tool["custom"];
      const json* name = get(c, "name");
      if (!name) return missing(path + ".custom.name");
      if (!name->is_string() || !valid_name(name->get<std::string>()))
        return bad_value(path + ".custom.name", "must match ^[a-zA-Z0-9_-]{1,64}$.");
    } else {
      return bad_value(path + ".type", "expected 'function' or 'custom'.");
    }
  }
  return {};
}

result<void> check_tool_choice(const json& body) {
  const json* tc = get(body, "tool_choice");
  if (!tc) return {};
  const json* tools = get(body, "tools");
  const bool has_tools = tools && tools->is_array() && !tools->empty();
  if (tc->is_string()) {
    const std::string& s = tc->get_ref<const std::string&>();
    if (!one_of(s, {"none", "auto", "required"}))
      return bad_value("tool_choice", "expected 'none', 'auto', 'required' or an object.");
    if (s != "none" && !has_tools)
      return bad_value("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.");
    return {};
  }
  if (!tc->is_object()) return wrong_type("tool_choice", *tc, "a string or an object");
  const json* t = get(*tc, "type");
  if (!t) return missing("tool_choice.type");
  if (!t->is_string()) return wrong_type("tool_choice.type", *t, "a string");
  const std::string& type = t->get_ref<const std::string&>();
  if (type == "function") {
    OAG_TRY(check_object(*tc, "function", "tool_choice.function", true));
    const json* name = get((*tc)["function"], "name");
    if (!name) return missing("tool_choice.function.name");
    if (!name->is_string() || !valid_name(name->get<std::string>()))
      return bad_value("tool_choice.function.name", "must match ^[a-zA-Z0-9_-]{1,64}$.");
  } else if (type == "custom") {
    OAG_TRY(check_object(*tc, "custom", "tool_choice.custom", true));
    OAG_TRY(check_string((*tc)["custom"], "name", "tool_choice.custom.name", true, true));
  } else if (type == "allowed_tools") {
    OAG_TRY(check_object(*tc, "allowed_tools", "tool_choice.allowed_tools", true));
    const json& at = (*tc)["allowed_tools"];
    const json* mode = get(at, "mode");
    if (!mode) return missing("tool_choice.allowed_tools.mode");
    if (!mode->is_string() || !one_of(mode->get<std::string>(), {"auto", "required"}))
      return bad_value("tool_choice.allowed_tools.mode", "expected 'auto' or 'required'.");
    const json* list = get(at, "tools");
    if (!list) return missing("tool_choice.allowed_tools.tools");
    if (!list->is_array())
      return wrong_type("tool_choice.allowed_tools.tools", *list, "an array");
    for (std::size_t i = 0; i < list->size(); ++i)
      if (!(*list)[i].is_object())
        return wrong_type(index_path("tool_choice.allowed_tools.tools", i), (*list)[i],
                          "an object");
  } else {
    return bad_value("tool_choice.type", "expected 'function', 'custom' or 'allowed_tools'.");
  }
  if (!has_tools)
    return bad_value("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.");
  return {};
}

result<void> check_response_format(const json& body) {
  const json* rf = get(body, "response_format");
  if (!rf) return {};
  if (!rf->is_object()) return wrong_type("response_format", *rf, "an object");
  const json* t = get(*rf, "type");
  if (!t) return missing("response_format.type");
  if (!t->is_string()) return wrong_type("response_format.type", *t, "a string");
  const std::string& type = t->get_ref<const std::string&>();
  if (type == "text" || type == "json_object") return {};
  if (type != "json_schema")
    return bad_value("response_format.type", "expected 'text', 'json_object' or 'json_schema'.");
  OAG_TRY(check_object(*rf, "json_schema", "response_format.json_schema", true));
  const json& js = (*rf)["json_schema"];
  const json* name = get(js, "name");
  if (!name) return missing("response_format.json_schema.name");
  if (!name->is_string()) return wrong_type("response_format.json_schema.name", *name, "a string");
  if (!valid_name(name->get<std::string>()))
    return bad_value("response_format.json_schema.name",
                     "must match ^[a-zA-Z0-9_-]{1,64}$ (letters, digits, '_' and '-', at most "
                     "64 characters).");
  OAG_TRY(check_string(js, "description", "response_format.json_schema.description"));
  OAG_TRY(check_object(js, "schema", "response_format.json_schema.schema"));
  return check_bool(js, "strict", "response_format.json_schema.strict");
}

result<void> check_stop(const json& body) {
  const json* stop = get(body, "stop");
  if (!stop || stop->is_string()) return {};
  if (!stop->is_array()) return wrong_type("stop", *stop, "a string or an array of strings");
  if (stop->size() > max_stop_sequences)
    return bad_value("stop", "at most 4 stop sequences are allowed.");
  for (std::size_t i = 0; i < stop->size(); ++i)
    if (!(*stop)[i].is_string()) return wrong_type(index_path("stop", i), (*stop)[i], "a string");
  return {};
}

result<void> check_model(const json& body) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null())
    return invalid("model", "you must provide a model parameter");
  if (!it->is_string()) return wrong_type("model", *it, "a string");
  if (it->get_ref<const std::string&>().empty())
    return bad_value("model", "must not be empty.");
  return {};
}

std::int64_t utf8_bytes(const json& v) {
  return v.is_string() ? static_cast<std::int64_t>(v.get_ref<const std::string&>().size()) : 0;
}

std::int64_t dumped_bytes(const json& v) {
  return static_cast<std::int64_t>(v.dump(-1, ' ', false, json::error_handler_t::replace).size());
}

} // namespace

result<void> validate_chat_request(const json& body) {
  if (!body.is_object())
    return make_failure(errc::invalid_request, "The request body must be a JSON object.");
  OAG_TRY(check_model(body));

  auto msgs = body.find("messages");
  if (msgs == body.end() || msgs->is_null()) return missing("messages");
  if (!msgs->is_array()) return wrong_type("messages", *msgs, "an array");
  if (msgs->empty())
    return bad_value("messages", "'messages' must contain at least one message.");
  for (std::size_t i = 0; i < msgs->size(); ++i)
    OAG_TRY(check_message((*msgs)[i], index_path("messages", i)));

  OAG_TRY(check_bool(body, "stream", "stream"));
  if (const json* so = get(body, "stream_options")) {
    if (!so->is_object()) return wrong_type("stream_options", *so, "an object");
    const json* stream = get(body, "stream");
    if (!stream || !stream->get<bool>())
      return bad_value("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    OAG_TRY(check_bool(*so, "include_usage", "stream_options.include_usage"));
    OAG_TRY(check_bool(*so, "include_obfuscation", "stream_options.include_obfuscation"));
  }
  OAG_TRY(check_int(body, "n", 1, 128));
  OAG_TRY(check_stop(body));
  OAG_TRY(check_int(body, "max_tokens", 1, std::numeric_limits<std::int64_t>::max()));
  OAG_TRY(check_int(body, "max_completion_tokens", 1, std::numeric_limits<std::int64_t>::max()));
  OAG_TRY(check_number(body, "temperature", 0.0, 2.0));
  OAG_TRY(check_number(body, "top_p", 0.0, 1.0));
  OAG_TRY(check_number(body, "frequency_penalty", -2.0, 2.0));
  OAG_TRY(check_number(body, "presence_penalty", -2.0, 2.0));
  OAG_TRY(check_bool(body, "logprobs", "logprobs"));
  OAG_TRY(check_int(body, "top_logprobs", 0, 20));
  OAG_TRY(check_int(body, "seed", std::numeric_limits<std::int64_t>::min(),
                    std::numeric_limits<std::int64_t>::max()));
  OAG_TRY(check_bool(body, "parallel_tool_calls", "parallel_tool_calls"));
  OAG_TRY(check_bool(body, "store", "store"));
  OAG_TRY(check_string(body, "user", "user"));
  OAG_TRY(check_object(body, "metadata", "metadata"));
  OAG_TRY(check_object(body, "logit_bias", "logit_bias"));
  OAG_TRY(check_tools(body));
  OAG_TRY(check_tool_choice(body));
  OAG_TRY(check_response_format(body));
  return {};
}

result<void> validate_embeddings_request(const json& body) {
  if (!body.is_object())
    return make_failure(errc::invalid_request, "The request body must be a JSON object.");
  OAG_TRY(check_model(body));
  auto in = body.find("input");
  if (in == body.end() || in->is_null()) return missing("input");
  if (in->is_string()) {
    if (in->get_ref<const std::string&>().empty())
      return bad_value("input", "'input' must not be an empty string.");
  } else if (in->is_array()) {
    if (in->empty()) return bad_value("input", "'input' must not be an empty array.");
    if (in->size() > max_embedding_inputs)
      return bad_value("input", "at most 2048 inputs are allowed per request.");
    // The array's first element decides the form (string[], int[] or
    // int[][]); every element must then have that form.
    const json& first = (*in)[0];
    enum class form { strings, tokens, token_arrays } f;
    if (first.is_string()) f = form::strings;
    else if (first.is_number_integer()) f = form::tokens;
    else if (first.is_array()) f = form::token_arrays;
    else return wrong_type("input[0]", first, "a string, an integer token or an array of tokens");
    for (std::size_t i = 0; i < in->size(); ++i) {
      const json& e = (*in)[i];
      const std::string path = index_path("input", i);
      if (f == form::strings) {
        if (!e.is_string()) return wrong_type(path, e, "a string");
        if (e.get_ref<const std::string&>().empty())
          return bad_value(path, "inputs must not be empty strings.");
      } else if (f == form::tokens) {
        if (!e.is_number_integer() || e.get<std::int64_t>() < 0)
          return wrong_type(path, e, "a non-negative integer token");
      } else {
        if (!e.is_array()) return wrong_type(path, e, "an array of tokens");
        if (e.empty()) return bad_value(path, "token arrays must not be empty.");
        for (std::size_t j = 0; j < e.size(); ++j)
          if (!e[j].is_number_integer() || e[j].get<std::int64_t>() < 0)
            return wrong_type(index_path(path, j), e[j], "a non-negative integer token");
      }
    }
  } else {
    return wrong_type("input", *in, "a string or an array");
  }
  if (const json* ef = get(body, "encoding_format")) {
    if (!ef->is_string()) return wrong_type("encoding_format", *ef, "a string");
    if (!one_of(ef->get<std::string>(), {"float", "base64"}))
      return bad_value("encoding_format", "expected 'float' or 'base64'.");
  }
  OAG_TRY(check_int(body, "dimensions", 1, std::numeric_limits<std::int64_t>::max()));
  OAG_TRY(check_string(body, "user", "user"));
  return {};
}

std::int64_t estimate_prompt_tokens(const json& body) {
  if (!body.is_object()) return 16;
  std::int64_t bytes = 0;
  std::int64_t exact_tokens = 0;
  std::int64_t messages = 0;
  std::int64_t images = 0;
  if (auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array()) {
    for (const auto& m : *msgs) {
      ++messages;
      if (!m.is_object()) continue;
      if (auto n = m.find("name"); n != m.end()) bytes += utf8_bytes(*n);
      if (auto id = m.find("tool_call_id"); id != m.end()) bytes += utf8_bytes(*id);
      if (auto r = m.find("refusal"); r != m.end()) bytes += utf8_bytes(*r);
      if (auto c = m.find("content"); c != m.end()) {
        if (c->is_string()) {
          bytes += utf8_bytes(*c);
        } else if (c->is_array()) {
          for (const auto& part : *c) {
            if (!part.is_object()) continue;
            if (auto t = part.find("text"); t != part.end()) bytes += utf8_bytes(*t);
            if (auto r = part.find("refusal"); r != part.end()) bytes += utf8_bytes(*r);
            if (part.contains("image_url")) ++images;
            if (auto a = part.find("input_audio"); a != part.end() && a->is_object())
              if (auto d = a->find("data"); d != a->end()) bytes += utf8_bytes(*d);
            if (auto f = part.find("file"); f != part.end() && f->is_object())
              if (auto d = f->find("file_data"); d != f->end()) bytes += utf8_bytes(*d);
          }
        }
      }
      // Calls and legacy function calls count in full (name and arguments).
      if (auto tc = m.find("tool_calls"); tc != m.end()) bytes += dumped_bytes(*tc);
      if (auto fc = m.find("function_call"); fc != m.end()) bytes += dumped_bytes(*fc);
    }
  }
  for (const char* key : {"tools", "functions", "response_format", "prediction"})
    if (auto it = body.find(key); it != body.end() && !it->is_null()) bytes += dumped_bytes(*it);
  if (auto in = body.find("input"); in != body.end()) {
    if (in->is_string()) {
      bytes += utf8_bytes(*in);
    } else if (in->is_array()) {
      for (const auto& e : *in) {
        if (e.is_string()) bytes += utf8_bytes(e);
        else if (e.is_number_integer()) ++exact_tokens;
        else if (e.is_array()) exact_tokens += static_cast<std::int64_t>(e.size());
      }
    }
  }
  return (bytes + 1) / 2 + 8 * messages + images * tokens_per_image + exact_tokens + 16;
}

std::optional<std::int64_t> requested_output_tokens(const json& body) {
  if (!body.is_object()) return std::nullopt;
  auto read = [&](const char* key) -> std::optional<std::int64_t> {
    auto it = body.find(key);
    if (it == body.end() || !it->is_number_integer()) return std::nullopt;
    if (it->is_number_unsigned() &&
        it->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::numeric_limits<std::int64_t>::max();
    auto v = it->get<std::int64_t>();
    return v > 0 ? std::optional<std::int64_t>(v) : std::nullopt;
  };
  auto limit = read("max_completion_tokens");
  if (!limit) limit = read("max_tokens");
  if (!limit) return std::nullopt;
  std::int64_t n = read("n").value_or(1);
  if (*limit > std::numeric_limits<std::int64_t>::max() / n)
    return std::numeric_limits<std::int64_t>::max();
  return *limit * n;
}

} // namespace oag::adapters
