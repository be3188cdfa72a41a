#include "oag/adapters/anthropic_adapter.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "anthropic_common.hpp"
#include "oag/adapters/openai_adapter.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;
using namespace anthropic_detail;

constexpr std::string_view default_base = "https://api.anthropic.com";
constexpr std::string_view api_version = "2023-06-01";
constexpr std::size_t max_upstream_message = 2000;
/// Anthropic's temperature range is 0..1 (OpenAI's is 0..2).
constexpr double max_temperature = 1.0;

// ---------------------------------------------------------------------------
// Small utilities

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

using wire::stream_failure;
using wire::upstream_invalid;

/// Cuts an upstream message to a sane length on a UTF-8 boundary (error
/// bodies have been seen carrying whole HTML pages).
std::string clip(std::string text) {
  if (text.size() <= max_upstream_message) return text;
  std::size_t cut = max_upstream_message;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
  return text;
}

/// Anthropic's `{type:"error", error:{type, message}}`, picked apart and
/// scrubbed of anything credential-like.
struct error_info {
  std::optional<std::string> type;
  std::optional<std::string> message;
};

error_info error_info_of(const json& doc) {
  error_info info;
  const json* e = get(doc, "error");
  if (e && e->is_object()) {
    info.type = get_string(*e, "type");
    info.message = get_string(*e, "message");
  } else if (e && e->is_string()) {
    info.message = e->get<std::string>();
  } else {
    info.message = get_string(doc, "message");
  }
  if (info.message) {
    info.message = clip(scrub_credentials(*info.message));
    if (info.message->empty()) info.message.reset();
  }
  if (info.type) info.type = clip(scrub_credentials(*info.type));
  return info;
}

/// The failure for an Anthropic error. `status` is the HTTP status, or 0
/// for an `error` event inside a 200 stream. A status decides; the error
/// type only matters for stream events, and to spot an overload behind
/// some other 5xx.
failure failure_of(int status, const error_info& info, std::optional<std::string> retry_after) {
  std::string type = info.type.value_or("");
  if (status) {
    const bool overloaded = type == "overloaded_error";
    switch (status) {
      case 400: case 422: type = "invalid_request_error"; break;
      case 401: type = "authentication_error"; break;
      case 402: type = "billing_error"; break;
      case 403: type = "permission_error"; break;
      case 404: type = "not_found_error"; break;
      case 413: type = "request_too_large"; break;
      case 429: type = "rate_limit_error"; break;
      case 503: case 529: type = "overloaded_error"; break;
      case 504: type = "timeout_error"; break;
      default: type = (status >= 500 && overloaded) ? "overloaded_error" : "api_error"; break;
    }
  }
  const std::string said = info.message ? *info.message : std::string();
  const std::string generic =
      status ? "upstream returned HTTP " + std::to_string(status) : "upstream reported an error";
  failure f;
  f.retry_after = std::move(retry_after);
  if (type == "overloaded_error") {
    // Overload is transient: 503 tells the router to try the next target.
    f.code = errc::unavailable;
    f.http_status = 503;
    f.message = "the provider is overloaded" + (said.empty() ? std::string() : ": " + said);
  } else if (type == "rate_limit_error") {
    f.code = errc::rate_limited;
    f.http_status = 429;
    f.message = said.empty() ? "upstream rate limit reached (HTTP 429)" : said;
  } else if (type == "authentication_error" || type == "permission_error") {
    // The client's OAG key was accepted; it is OAG's provider credential that
    // failed, which the client cannot fix: a gateway error.
    f.code = errc::upstream_error;
    f.http_status = 502;
    f.message = "the provider rejected OAG's credentials" +
                (status ? " (HTTP " + std::to_string(status) + ")" : std::string()) +
                "; your OAG API key is fine, the provider's api_key must be fixed by an operator" +
                (said.empty() ? std::string() : ". Provider said: " + said);
  } else if (type == "billing_error") {
    f.code = errc::upstream_error;
    f.http_status = 502;
    f.message = "the provider's billing for OAG's account needs attention" +
                (said.empty() ? std::string() : ": " + said);
  } else if (type == "not_found_error") {
    // Anthropic words an unknown model as "model: <name>".
    f.code = said.rfind("model:", 0) == 0 ? errc::model_not_found : errc::not_found;
    f.http_status = 404;
    f.message = said.empty() ? generic : said;
  } else if (type == "request_too_large") {
    f.code = errc::payload_too_large;
    f.http_status = 413;
    f.message = said.empty() ? generic : said;
  } else if (type == "invalid_request_error") {
    // The provider refused the client's request itself: pass it on.
    f.code = errc::invalid_request;
    f.http_status = 400;
    f.message = said.empty() ? generic : said;
  } else if (type == "timeout_error") {
    f.code = errc::upstream_timeout;
    f.http_status = 504;
    f.message = generic + (said.empty() ? std::string() : ": " + said);
  } else {
    f.code = errc::upstream_error;
    f.http_status = 502;
    f.message = generic + (said.empty() ? std::string() : ": " + said);
  }
  return f;
}

// ---------------------------------------------------------------------------
// Request translation: OpenAI chat → Anthropic Messages

/// "data:<media>;base64,<data>" split apart; nullopt when not of that form.
struct data_url {
  std::string media_type;
  std::string data;
};

std::optional<data_url> parse_data_url(std::string_view url) {
  if (url.size() < 5 || !iequals(url.substr(0, 5), "data:")) return std::nullopt;
  url.remove_prefix(5);
  auto comma = url.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view meta = url.substr(0, comma);
  constexpr std::string_view b64 = ";base64";
  if (meta.size() < b64.size() || !iequals(meta.substr(meta.size() - b64.size()), b64))
    return std::nullopt;
  meta.remove_suffix(b64.size());
  // Parameters such as ";charset=..." may sit between type and ";base64".
  if (auto semi = meta.find(';'); semi != std::string_view::npos) meta = meta.substr(0, semi);
  data_url out;
  for (char c : meta) out.media_type += lower(c);
  out.data = std::string(url.substr(comma + 1));
  if (out.media_type.empty() || out.data.empty()) return std::nullopt;
  return out;
}

bool is_http_url(std::string_view url) {
  return (url.size() > 7 && iequals(url.substr(0, 7), "http://")) ||
         (url.size() > 8 && iequals(url.substr(0, 8), "https://"));
}

/// An OpenAI image_url part → Anthropic image block.
result<json> image_block(const json& part, const std::string& path) {
  const json* img = get(part, "image_url");
  std::optional<std::string> url;
  if (img && img->is_string()) url = img->get<std::string>();
  else if (img && img->is_object()) url = get_string(*img, "url");
  if (!url || url->empty()) return bad_param(path + ".image_url.url", "an image URL is required");
  if (auto d = parse_data_url(*url)) {
    if (d->media_type == "image/jpg") d->media_type = "image/jpeg";
    static constexpr std::string_view allowed[] = {"image/jpeg", "image/png", "image/gif",
                                                   "image/webp"};
    if (std::find(std::begin(allowed), std::end(allowed), d->media_type) == std::end(allowed))
      return bad_param(path + ".image_url.url",
                       "image type '" + d->media_type +
                           "' is not supported by Anthropic models; use JPEG, PNG, GIF or WebP");
    return json{{"type", "image"},
                {"source",
                 {{"type", "base64"}, {"media_type", d->media_type}, {"data", d->data}}}};
  }
  if (is_http_url(*url))
    return json{{"type", "image"}, {"source", {{"type", "url"}, {"url", *url}}}};
  return bad_param(path + ".image_url.url",
                   "expected an http(s) URL or a base64 data: URL for the image");
}

/// An OpenAI file part → Anthropic document block (inline PDFs only: a
/// file_id refers to OpenAI's file store, which Anthropic cannot read).
result<json> file_block(const json& part, const std::string& path) {
  const json* file = get(part, "file");
  auto data = file ? get_string(*file, "file_data") : std::nullopt;
  if (data) {
    if (auto d = parse_data_url(*data); d && d->media_type == "application/pdf")
      return json{{"type", "document"},
                  {"source",
                   {{"type", "base64"}, {"media_type", "application/pdf"}, {"data", d->data}}}};
  }
  return bad_param(path, "only inline PDF files (file.file_data as a data:application/pdf;base64 "
                         "URL) can be sent to Anthropic models");
}

/// A tool-call id Anthropic accepts (^[a-zA-Z0-9_-]+$). Ids minted by other
/// providers may hold other characters; the same mapping is applied to
/// tool_use ids and to the tool_result ids answering them, so pairs match.
std::string tool_id(std::string id) {
  for (char& c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return id;
}

/// Copies `cache_control` from a part onto a block: clients that know
/// Anthropic's prompt caching put it on OpenAI text parts too.
void keep_cache_control(const json& part, json& block) {
  if (const json* cc = get(part, "cache_control"); cc && cc->is_object())
    block["cache_control"] = *cc;
}

/// Checks an Anthropic-shaped block that passes through unchanged.
result<json> passthrough_block(const json& part, const std::string& type,
                               const std::string& path) {
  if (type == "tool_use") {
    auto id = get_string(part, "id");
    auto name = get_string(part, "name");
    if (!id || id->empty()) return bad_param(path + ".id", "a tool_use block needs an id");
    if (!name || name->empty()) return bad_param(path + ".name", "a tool_use block needs a name");
    json block = {{"type", "tool_use"}, {"id", tool_id(*id)}, {"name", *name}};
    const json* input = get(part, "input");
    if (!input) {
      block["input"] = json::object();
    } else if (input->is_object()) {
      block["input"] = *input;
    } else if (input->is_string()) {
      // Some clients store the input as JSON text, OpenAI style.
      json parsed = parse_json(trim(input->get_ref<const std::string&>()));
      if (!parsed.is_object())
        return bad_param(path + ".input", "tool_use input must be a JSON object");
      block["input"] = std::move(parsed);
    } else {
      return bad_param(path + ".input", "tool_use input must be a JSON object");
    }
    keep_cache_control(part, block);
    return block;
  }
  if (type == "tool_result") {
    auto id = get_string(part, "tool_use_id");
    if (!id || id->empty())
      return bad_param(path + ".tool_use_id", "a tool_result block needs a tool_use_id");
    json block = part;
    block["tool_use_id"] = tool_id(*id);
    if (const json* c = get(part, "content")) {
      if (c->is_array()) {
        json items = json::array();
        for (std::size_t i = 0; i < c->size(); ++i) {
          const json& item = (*c)[i];
          const std::string ipath = at(path + ".content", i);
          if (!item.is_object()) return bad_param(ipath, "must be an object");
          if (get_string(item, "type") == std::optional<std::string>("image_url")) {
            auto img = image_block(item, ipath);
            if (!img) return img.error();
            items.push_back(std::move(img).value());
          } else {
            items.push_back(item);
          }
        }
        block["content"] = std::move(items);
      } else if (!c->is_string()) {
        return bad_param(path + ".content", "must be a string or an array of blocks");
      }
    }
    if (const json* e = get(part, "is_error"); e && !e->is_boolean())
      return bad_param(path + ".is_error", "must be a boolean");
    return block;
  }
  if (type == "image" || type == "document") {
    const json* src = get(part, "source");
    if (!src || !src->is_object())
      return bad_param(path + ".source", "an " + type + " block needs a source object");
    return part;
  }
  // thinking / redacted_thinking: kept verbatim (the signature must match).
  return part;
}

enum class role { user, assistant };

/// A message's content (string, null, or parts/blocks) as Anthropic blocks.
result<json> content_blocks(const json* content, role r, const std::string& path) {
  json blocks = json::array();
  if (!content) return blocks;
  if (content->is_string()) {
    const auto& text = content->get_ref<const std::string&>();
    if (!text.empty()) blocks.push_back({{"type", "text"}, {"text", text}});
    return blocks;
  }
  if (!content->is_array()) return bad_param(path, "must be a string or an array of parts");
  for (std::size_t i = 0; i < content->size(); ++i) {
    const json& part = (*content)[i];
    const std::string ppath = at(path, i);
    if (!part.is_object()) return bad_param(ppath, "must be an object");
    auto type = get_string(part, "type");
    if (!type) return bad_param(ppath + ".type", "a content part needs a string type");
    const std::string& t = *type;
    if (t == "text" || t == "refusal") {
      // A refusal the assistant gave earlier is just text to Anthropic.
      auto text = get_string(part, t == "text" ? "text" : "refusal");
      if (!text) return bad_param(ppath + "." + t, "must be a string");
      // Anthropic rejects empty text blocks; an empty part carries nothing.
      if (text->empty()) continue;
      json block = {{"type", "text"}, {"text", *text}};
      keep_cache_control(part, block);
      blocks.push_back(std::move(block));
    } else if (t == "image_url" && r == role::user) {
      auto img = image_block(part, ppath);
      if (!img) return img.error();
      keep_cache_control(part, *img);
      blocks.push_back(std::move(img).value());
    } else if (t == "file" && r == role::user) {
      auto doc = file_block(part, ppath);
      if (!doc) return doc.error();
      blocks.push_back(std::move(doc).value());
    } else if (t == "input_audio") {
      return bad_param(ppath + ".type", "Anthropic models do not accept audio input");
    } else if (((t == "tool_result" || t == "image" || t == "document") && r == role::user) ||
               ((t == "tool_use" || t == "thinking" || t == "redacted_thinking") &&
                r == role::assistant)) {
      auto block = passthrough_block(part, t, ppath);
      if (!block) return block.error();
      blocks.push_back(std::move(block).value());
    } else {
      return bad_param(ppath + ".type", "content part type '" + t + "' is not supported in " +
                                            (r == role::user ? "a user" : "an assistant") +
                                            " message sent to an Anthropic model");
    }
  }
  return blocks;
}

/// Assistant `tool_calls` → `tool_use` blocks (arguments JSON text → input).
result<json> tool_use_blocks(const json& calls, const std::string& path) {
  json blocks = json::array();
  if (!calls.is_array()) return bad_param(path, "must be an array");
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    const std::string cpath = at(path, i);
    if (!call.is_object()) return bad_param(cpath, "must be an object");
    auto type = get_string(call, "type").value_or("function");
    if (type != "function")
      return bad_param(cpath + ".type", "only function tool calls can be sent to Anthropic models");
    auto id = get_string(call, "id");
    if (!id || id->empty()) return bad_param(cpath + ".id", "a tool call needs an id");
    const json* fn = get(call, "function");
    auto name = fn ? get_string(*fn, "name") : std::nullopt;
    if (!name || name->empty())
      return bad_param(cpath + ".function.name", "a tool call needs a function name");
    json input = json::object();
    if (const json* args = get(*fn, "arguments")) {
      if (args->is_object()) {
        input = *args;
      } else if (args->is_string()) {
        std::string_view text = trim(args->get_ref<const std::string&>());
        // Models sometimes call argument-less tools with "" as arguments.
        if (!text.empty()) {
          input = parse_json(text);
          if (input.is_discarded())
            return bad_param(cpath + ".function.arguments",
                             "the tool call arguments are not valid JSON");
          if (!input.is_object())
            return bad_param(cpath + ".function.arguments",
                             "the tool call arguments must be a JSON object for Anthropic models");
        }
      } else {
        return bad_param(cpath + ".function.arguments", "must be a string of JSON");
      }
    }
    blocks.push_back(
        {{"type", "tool_use"}, {"id", tool_id(*id)}, {"name", *name}, {"input", input}});
  }
  return blocks;
}

/// Collects the text of a system/developer message (string or text parts).
result<void> collect_system(const json* content, const std::string& path,
                            std::vector<std::string>& out) {
  if (!content) return {};
  if (content->is_string()) {
    if (!content->get_ref<const std::string&>().empty()) out.push_back(content->get<std::string>());
    return {};
  }
  if (!content->is_array()) return bad_param(path, "must be a string or an array of text parts");
  for (std::size_t i = 0; i < content->size(); ++i) {
    const json& part = (*content)[i];
    auto text = get_string(part, "text");
    if (!part.is_object() || get_string(part, "type") != std::optional<std::string>("text") ||
        !text)
      return bad_param(at(path, i), "system and developer messages take text parts only");
    if (!text->empty()) out.push_back(*text);
  }
  return {};
}

/// Builds the alternating Anthropic turn list.
class turns {
 public:
  /// Appends blocks as a `r` turn, merged into the previous turn when that
  /// has the same role (Anthropic expects strict alternation).
  void add(role r, json blocks) {
    if (blocks.empty()) return;
    const char* name = r == role::user ? "user" : "assistant";
    if (!list_.empty() && list_.back()["role"] == name) {
      auto& content = list_.back()["content"];
      for (auto& b : blocks) content.push_back(std::move(b));
      return;
    }
    list_.push_back({{"role", name}, {"content", std::move(blocks)}});
  }

  /// The final list: tool_result blocks first in every user turn (Anthropic
  /// 400s otherwise), a user turn first, and no trailing whitespace on an
  /// assistant prefill (which Anthropic also rejects).
  json take() {
    for (auto& m : list_) {
      if (m["role"] != "user") continue;
      auto& c = m["content"];
      std::vector<json> results, rest;
      for (auto& b : c) (b.is_object() && b.value("type", "") == "tool_result" ? results : rest)
          .push_back(std::move(b));
      json merged = json::array();
      for (auto& b : results) merged.push_back(std::move(b));
      for (auto& b : rest) merged.push_back(std::move(b));
      c = std::move(merged);
    }
    if (!list_.empty() && list_.back()["role"] == "assistant") {
      auto& c = list_.back()["content"];
      auto& last = c.back();
      if (last.is_object() && last.value("type", "") == "text" && last["text"].is_string()) {
        std::string text = last["text"].get<std::string>();
        while (!text.empty() && is_space(text.back())) text.pop_back();
        if (text.empty()) c.erase(c.size() - 1);
        else last["text"] = text;
      }
      if (c.empty()) list_.erase(list_.size() - 1);
    }
    if (list_.empty() || list_.front()["role"] != "user")
      list_.insert(list_.begin(),
                   json{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "."}}})}});
    return std::move(list_);
  }

 private:
  json list_ = json::array();
};

/// A `tool` message → a tool_result block.
result<json> tool_result_block(const json& m, const std::string& path) {
  auto id = get_string(m, "tool_call_id");
  if (!id || id->empty()) return bad_param(path + ".tool_call_id", "a tool message needs a tool_call_id");
  json block = {{"type", "tool_result"}, {"tool_use_id", tool_id(*id)}};
  const json* content = get(m, "content");
  if (content && content->is_string()) {
    if (!content->get_ref<const std::string&>().empty()) block["content"] = *content;
  } else if (content && content->is_array()) {
    json items = json::array();
    for (std::size_t i = 0; i < content->size(); ++i) {
      const json& part = (*content)[i];
      auto text = get_string(part, "text");
      if (!part.is_object() || !text)
        return bad_param(at(path + ".content", i), "tool message parts must be text parts");
      if (!text->empty()) items.push_back({{"type", "text"}, {"text", *text}});
    }
    if (!items.empty()) block["content"] = std::move(items);
  } else if (content) {
    return bad_param(path + ".content", "must be a string or an array of text parts");
  }
  return block;
}

/// OpenAI tools → Anthropic tools; `allowed` (from tool_choice
/// allowed_tools) keeps only the named ones, Anthropic having no subset
/// choice of its own.
result<json> translate_tools(const json& tools, const std::vector<std::string>* allowed) {
  json out = json::array();
  if (!tools.is_array()) return bad_param("tools", "must be an array");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& tool = tools[i];
    const std::string path = at("tools", i);
    if (!tool.is_object()) return bad_param(path, "must be an object");
    if (get_string(tool, "type").value_or("function") != "function")
      return bad_param(path + ".type", "only function tools can be sent to Anthropic models");
    const json* fn = get(tool, "function");
    auto name = fn ? get_string(*fn, "name") : std::nullopt;
    if (!name || name->empty()) return bad_param(path + ".function.name", "a tool needs a name");
    if (allowed && std::find(allowed->begin(), allowed->end(), *name) == allowed->end()) continue;
    json t = {{"name", *name}};
    if (auto d = get_string(*fn, "description"); d && !d->empty()) t["description"] = *d;
    json schema = json::object();
    if (const json* p = get(*fn, "parameters")) {
      if (!p->is_object()) return bad_param(path + ".function.parameters", "must be an object");
      schema = *p;
    }
    // Anthropic requires an object schema; OpenAI allows omitting it.
    if (!schema.contains("type")) schema["type"] = "object";
    t["input_schema"] = std::move(schema);
    out.push_back(std::move(t));
  }
  return out;
}

/// The name list of an allowed_tools choice.
std::vector<std::string> allowed_names(const json& at_obj) {
  std::vector<std::string> names;
  const json* list = get(at_obj, "tools");
  if (!list || !list->is_array()) return names;
  for (const auto& t : *list) {
    const json* fn = get(t, "function");
    auto n = fn ? get_string(*fn, "name") : get_string(t, "name");
    if (n) names.push_back(*n);
  }
  return names;
}

/// The JSON-only instruction standing in for response_format.
std::optional<std::string> response_format_instruction(const json& body) {
  const json* rf = get(body, "response_format");
  if (!rf) return std::nullopt;
  auto type = get_string(*rf, "type").value_or("text");
  if (type == "json_object")
    return std::string("Respond with a single valid JSON object and nothing else: no prose before "
                       "or after it and no Markdown code fences.");
  if (type != "json_schema") return std::nullopt;
  const json* js = get(*rf, "json_schema");
  std::string text = "Respond with a single valid JSON value and nothing else (no prose, no "
                     "Markdown code fences)";
  if (js) {
    if (auto n = get_string(*js, "name")) text += ", named \"" + *n + "\"";
    if (auto d = get_string(*js, "description")) text += " (" + *d + ")";
    if (const json* s = get(*js, "schema")) text += ", that conforms to this JSON Schema:\n" + dump(*s);
  }
  return text;
}

result<json> translate_request(const json& body, std::string_view upstream_model, bool stream,
                               const chat_context& cc) {
  if (!body.is_object()) return bad_param("body", "the request body must be a JSON object");
  const json* msgs = get(body, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty())
    return bad_param("messages", "'messages' must be a non-empty array");
  if (auto n = count_of(get(body, "n")); n && *n != 1)
    return bad_param("n", "Anthropic models return one choice per request; n must be 1");

  std::vector<std::string> system;
  turns conv;
  for (std::size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string path = at("messages", i);
    if (!m.is_object()) return bad_param(path, "must be an object");
    auto r = get_string(m, "role");
    if (!r) return bad_param(path + ".role", "a message needs a role");
    const json* content = get(m, "content");
    if (*r == "system" || *r == "developer") {
      auto ok = collect_system(content, path + ".content", system);
      if (!ok) return ok.error();
    } else if (*r == "user") {
      auto blocks = content_blocks(content, role::user, path + ".content");
      if (!blocks) return blocks.error();
      conv.add(role::user, std::move(blocks).value());
    } else if (*r == "assistant") {
      auto blocks = content_blocks(content, role::assistant, path + ".content");
      if (!blocks) return blocks.error();
      if (content == nullptr) {
        // A refusal with no content is what the assistant said.
        if (auto ref = get_string(m, "refusal"); ref && !ref->empty())
          blocks->push_back({{"type", "text"}, {"text", *ref}});
      }
      if (const json* calls = get(m, "tool_calls")) {
        auto uses = tool_use_blocks(*calls, path + ".tool_calls");
        if (!uses) return uses.error();
        for (auto& b : *uses) blocks->push_back(std::move(b));
      }
      if (get(m, "function_call"))
        return bad_param(path + ".function_call",
                         "legacy function_call is not supported for Anthropic models; use tools");
      conv.add(role::assistant, std::move(blocks).value());
    } else if (*r == "tool") {
      auto block = tool_result_block(m, path);
      if (!block) return block.error();
      conv.add(role::user, json::array({std::move(block).value()}));
    } else if (*r == "function") {
      return bad_param(path + ".role",
                       "legacy function messages are not supported for Anthropic models; use "
                       "tools and tool messages");
    } else {
      return bad_param(path + ".role", "unknown role '" + *r + "'");
    }
  }

  json out = json::object();
  out["model"] = std::string(upstream_model);
  // Anthropic requires max_tokens; the catalogue's full limit stands in for
  // an absent client value, never a small default that would cut answers.
  std::optional<std::int64_t> limit = count_of(get(body, "max_completion_tokens"));
  if (!limit || *limit < 1) limit = count_of(get(body, "max_tokens"));
  if (!limit || *limit < 1) limit = cc.max_output_tokens > 0 ? cc.max_output_tokens : 4096;
  out["max_tokens"] = *limit;
  out["messages"] = conv.take();

  if (auto instr = response_format_instruction(body)) system.push_back(*instr);
  if (!system.empty()) {
    std::string joined;
    for (const auto& s : system) joined += (joined.empty() ? "" : "\n\n") + s;
    out["system"] = std::move(joined);
  }

  if (const json* stop = get(body, "stop")) {
    json seqs = json::array();
    if (stop->is_string()) {
      if (!stop->get_ref<const std::string&>().empty()) seqs.push_back(*stop);
    } else if (stop->is_array()) {
      for (std::size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) return bad_param(at("stop", i), "must be a string");
        if (!(*stop)[i].get_ref<const std::string&>().empty()) seqs.push_back((*stop)[i]);
      }
    } else {
      return bad_param("stop", "must be a string or an array of strings");
    }
    if (!seqs.empty()) out["stop_sequences"] = std::move(seqs);
  }
  if (const json* t = get(body, "temperature")) {
    if (!t->is_number()) return bad_param("temperature", "must be a number");
    out["temperature"] = std::min(std::max(t->get<double>(), 0.0), max_temperature);
  }
  if (const json* p = get(body, "top_p")) {
    if (!p->is_number()) return bad_param("top_p", "must be a number");
    out["top_p"] = *p;
  }
  if (auto user = get_string(body, "user"); user && !user->empty())
    out["metadata"] = {{"user_id", *user}};

  // Tools and tool_choice.
  const json* tc = get(body, "tool_choice");
  std::optional<std::vector<std::string>> allowed;
  json choice;  // null: let Anthropic default (auto)
  if (tc && tc->is_string()) {
    const auto& s = tc->get_ref<const std::string&>();
    if (s == "auto") choice = {{"type", "auto"}};
    else if (s == "required") choice = {{"type", "any"}};
    else if (s == "none") choice = {{"type", "none"}};
    else return bad_param("tool_choice", "expected 'none', 'auto', 'required' or an object");
  } else if (tc && tc->is_object()) {
    auto type = get_string(*tc, "type").value_or("");
    if (type == "function") {
      const json* fn = get(*tc, "function");
      auto name = fn ? get_string(*fn, "name") : std::nullopt;
      if (!name) return bad_param("tool_choice.function.name", "a function name is required");
      choice = {{"type", "tool"}, {"name", *name}};
    } else if (type == "allowed_tools") {
      const json* at_obj = get(*tc, "allowed_tools");
      if (!at_obj) return bad_param("tool_choice.allowed_tools", "is required");
      allowed = allowed_names(*at_obj);
      choice = {{"type", get_string(*at_obj, "mode") == std::optional<std::string>("required")
                             ? "any"
                             : "auto"}};
    } else {
      return bad_param("tool_choice.type",
                       "only 'function' and 'allowed_tools' choices can be sent to Anthropic "
                       "models");
    }
  } else if (tc) {
    return bad_param("tool_choice", "must be a string or an object");
  }
  json tools = json::array();
  if (const json* t = get(body, "tools")) {
    auto translated = translate_tools(*t, allowed ? &*allowed : nullptr);
    if (!translated) return translated.error();
    tools = std::move(translated).value();
  }
  if (!tools.empty()) {
    // tool_choice none keeps the definitions: a history with tool_use
    // blocks is only valid next to the tools it used.
    out["tools"] = std::move(tools);
    const json* ptc = get(body, "parallel_tool_calls");
    if (ptc && ptc->is_boolean() && !ptc->get<bool>()) {
      if (choice.is_null()) choice = {{"type", "auto"}};
      if (choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
    }
    if (!choice.is_null()) out["tool_choice"] = std::move(choice);
  }
  if (stream) out["stream"] = true;
  return out;
}

// ---------------------------------------------------------------------------
// Endpoint and headers

result<outbound_request> build_request(const json& out, bool stream, const provider_endpoint& ep) {
  provider_endpoint resolved = ep;
  if (resolved.base_url.empty()) resolved.base_url = std::string(default_base);
  auto parsed = wire::resolve_origin(resolved);
  if (!parsed) return parsed.error();
  // The shared builder sets Accept after the extra headers; hand it an
  // extra Accept so that one still wins, as every other extra header does.
  std::string_view stream_accept = "text/event-stream";
  for (const auto& extra : ep.extra_headers)
    if (iequals(extra.name, "accept")) stream_accept = extra.value;
  auto h = wire::request_headers(ep, stream, "x-api-key", "", stream_accept);
  if (!h) return h.error();
  // After Content-Type and Accept, before the key; extra headers (a newer
  // anthropic-version) win.
  if (!find_header(ep.extra_headers, "anthropic-version"))
    h->insert(h->begin() + 2, header{"anthropic-version", std::string(api_version)});
  outbound_request req;
  req.method = "POST";
  // A base URL configured as ".../v1" (OpenAI habit) must not become /v1/v1.
  const std::string& prefix = parsed->path;
  const bool has_v1 = prefix.size() >= 3 && prefix.compare(prefix.size() - 3, 3, "/v1") == 0;
  req.target = prefix + (has_v1 ? "/messages" : "/v1/messages");
  req.origin = std::move(parsed).value();
  req.headers = std::move(h).value();
  req.body = dump(out);
  req.stream = stream;
  return req;
}

// ---------------------------------------------------------------------------
// Response translation: Anthropic Message → OpenAI chat.completion

const char* finish_reason_of(std::string_view stop_reason, bool had_tool_calls) {
  if (had_tool_calls || stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded")
    return "length";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";
}

/// Anthropic usage counters, accumulated.
struct usage_counts {
  std::int64_t input = 0;
  std::int64_t cache_read = 0;
  std::int64_t cache_creation = 0;
  std::int64_t output = 0;
  bool seen = false;

  /// Applies an Anthropic usage object; counts are cumulative, so a later
  /// value replaces an earlier one.
  void apply(const json* u) {
    if (!u || !u->is_object()) return;
    if (auto v = count_of(get(*u, "input_tokens"))) input = *v, seen = true;
    if (auto v = count_of(get(*u, "cache_read_input_tokens"))) cache_read = *v, seen = true;
    if (auto v = count_of(get(*u, "cache_creation_input_tokens"))) cache_creation = *v, seen = true;
    if (auto v = count_of(get(*u, "output_tokens"))) output = *v, seen = true;
  }

  json openai() const {
    // Anthropic's input_tokens excludes cache reads and writes; OpenAI's
    // prompt_tokens is the whole prompt with cached_tokens a part of it.
    const std::int64_t prompt = input + cache_read + cache_creation;
    return {{"prompt_tokens", prompt},
            {"completion_tokens", output},
            {"total_tokens", prompt + output},
            {"prompt_tokens_details", {{"cached_tokens", cache_read}}}};
  }
};

std::int64_t now_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

result<json> translate_message(const json& msg) {
  if (!msg.is_object()) return upstream_invalid();
  if (get_string(msg, "type") == std::optional<std::string>("error")) {
    auto info = error_info_of(msg);
    return upstream_invalid(info.message ? "upstream reported an error: " + *info.message
                                         : "upstream sent an invalid response");
  }
  const json* content = get(msg, "content");
  if (!content || !content->is_array()) return upstream_invalid();
  std::string text, reasoning;
  json calls = json::array();
  for (const auto& block : *content) {
    auto type = get_string(block, "type").value_or("");
    if (type == "text") {
      text += get_string(block, "text").value_or("");
    } else if (type == "thinking") {
      reasoning += get_string(block, "thinking").value_or("");
    } else if (type == "tool_use") {
      auto id = get_string(block, "id");
      auto name = get_string(block, "name");
      if (!id || !name) return upstream_invalid("upstream sent a tool_use block without id or name");
      const json* input = get(block, "input");
      calls.push_back({{"id", *id},
                       {"type", "function"},
                       {"function",
                        {{"name", *name}, {"arguments", input ? dump(*input) : std::string("{}")}}}});
    }
    // redacted_thinking, server tool blocks and unknown types carry nothing
    // an OpenAI client can use.
  }
  json message = {{"role", "assistant"}, {"refusal", nullptr}};
  message["content"] = (text.empty() && !calls.empty()) ? json(nullptr) : json(text);
  if (!calls.empty()) message["tool_calls"] = calls;
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  usage_counts usage;
  usage.apply(get(msg, "usage"));
  json out = {{"id", get_string(msg, "id").value_or("msg_unknown")},
              {"object", "chat.completion"},
              {"created", now_seconds()},
              {"model", get_string(msg, "model").value_or("")},
              {"choices",
               json::array({{{"index", 0},
                             {"message", std::move(message)},
                             {"logprobs", nullptr},
                             {"finish_reason",
                              finish_reason_of(get_string(msg, "stop_reason").value_or(""),
                                               !calls.empty())}}})},
              {"usage", usage.openai()}};
  return out;
}

// ---------------------------------------------------------------------------
// Stream decoding: Anthropic SSE → OpenAI chunks

class anthropic_stream_decoder final : public stream_decoder {
 public:
  void feed(std::string_view bytes, std::vector<stream_event>& out) override {
    if (terminal_) return;
    try {
      events_.clear();
      parser_.feed(bytes, events_);
      for (const auto& ev : events_) handle(ev, /*at_end=*/false, out);
    } catch (const std::exception&) {
      fail(out, stream_failure("upstream sent a stream OAG could not translate"));
    }
  }

  void finish(std::vector<stream_event>& out) override {
    if (terminal_) return;
    try {
      // A last event without its blank line still counts; a half-received
      // one is a cut stream.
      if (parser_.has_partial_event()) {
        events_.clear();
        parser_.feed("\n\n", events_);
        for (const auto& ev : events_) handle(ev, /*at_end=*/true, out);
      }
    } catch (const std::exception&) {
      // Reported as a cut stream below.
    }
    if (terminal_) return;
    fail(out, stream_failure("upstream closed the stream before it was complete"));
  }

 private:
  void handle(const sse::event& ev, bool at_end, std::vector<stream_event>& out) {
    if (terminal_) return;
    std::string_view data = trim(ev.data);
    if (data.empty()) return;
    json doc = parse_json(data);
    if (doc.is_discarded() || !doc.is_object()) {
      if (at_end) return;  // truncated tail: finish() reports the cut
      fail(out, stream_failure("upstream sent an invalid stream event"));
      return;
    }
    // The JSON type is authoritative; the event name is a fallback.
    std::string type = get_string(doc, "type").value_or(ev.name.value_or(""));
    if (type == "message_start") {
      const json* m = get(doc, "message");
      if (m) {
        if (auto id = get_string(*m, "id")) id_ = *id;
        if (auto model = get_string(*m, "model")) model_ = *model;
        usage_.apply(get(*m, "usage"));
      }
      ensure_started(out);
    } else if (type == "content_block_start") {
      on_block_start(doc, out);
    } else if (type == "content_block_delta") {
      on_block_delta(doc, out);
    } else if (type == "message_delta") {
      if (const json* d = get(doc, "delta"))
        if (auto sr = get_string(*d, "stop_reason")) stop_reason_ = *sr;
      usage_.apply(get(doc, "usage"));
    } else if (type == "message_stop") {
      ensure_started(out);
      json finish = chunk();
      finish["choices"][0]["delta"] = json::object();
      finish["choices"][0]["finish_reason"] = finish_reason_of(stop_reason_, tool_count_ > 0);
      push(out, std::move(finish));
      json usage = chunk();
      usage["choices"] = json::array();
      usage["usage"] = usage_.openai();
      push(out, std::move(usage));
      terminal_ = true;
      stream_event done;
      done.what = stream_event::type::done;
      out.push_back(std::move(done));
    } else if (type == "error") {
      auto info = error_info_of(doc);
      failure f = failure_of(0, info, std::nullopt);
      if (!info.message) f.message = "upstream reported an error in the stream";
      fail(out, std::move(f));
    }
    // ping, content_block_stop and unknown events carry nothing to forward.
  }

  void on_block_start(const json& doc, std::vector<stream_event>& out) {
    ensure_started(out);
    const json* block = get(doc, "content_block");
    auto index = count_of(get(doc, "index"));
    if (!block || !index) return;
    auto type = get_string(*block, "type").value_or("");
    if (type == "text") {
      emit_text("content", get_string(*block, "text").value_or(""), out);
    } else if (type == "thinking") {
      emit_text("reasoning_content", get_string(*block, "thinking").value_or(""), out);
    } else if (type == "tool_use") {
      // OpenAI numbers tool calls 0..n-1; Anthropic's block index also
      // counts text and thinking blocks, so map one to the other.
      const int call = tool_count_++;
      tool_of_block_[*index] = call;
      json frag = {{"index", call},
                   {"id", get_string(*block, "id").value_or("toolu_" + std::to_string(call))},
                   {"type", "function"},
                   {"function", {{"name", get_string(*block, "name").value_or("")},
                                 {"arguments", ""}}}};
      emit_tool(std::move(frag), out);
      // Input normally streams as deltas from {}; a complete input given up
      // front is sent as one fragment.
      const json* input = get(*block, "input");
      if (input && input->is_object() && !input->empty())
        emit_tool({{"index", call}, {"function", {{"arguments", dump(*input)}}}}, out);
    }
  }

  void on_block_delta(const json& doc, std::vector<stream_event>& out) {
    const json* delta = get(doc, "delta");
    if (!delta) return;
    auto type = get_string(*delta, "type").value_or("");
    if (type == "text_delta") {
      ensure_started(out);
      emit_text("content", get_string(*delta, "text").value_or(""), out);
    } else if (type == "thinking_delta") {
      ensure_started(out);
      emit_text("reasoning_content", get_string(*delta, "thinking").value_or(""), out);
    } else if (type == "input_json_delta") {
      auto index = count_of(get(doc, "index"));
      if (!index) return;
      auto it = tool_of_block_.find(*index);
      if (it == tool_of_block_.end()) return;  // not a tool block we announced
      auto part = get_string(*delta, "partial_json").value_or("");
      if (part.empty()) return;
      emit_tool({{"index", it->second}, {"function", {{"arguments", part}}}}, out);
    }
    // signature_delta and citations_delta have no OpenAI counterpart.
  }

  json chunk() const {
    return {{"id", id_},
            {"object", "chat.completion.chunk"},
            {"created", created_},
            {"model", model_},
            {"choices",
             json::array({{{"index", 0},
                           {"delta", json::object()},
                           {"logprobs", nullptr},
                           {"finish_reason", nullptr}}})}};
  }

  /// The role chunk, once, before anything else (also when an upstream
  /// skipped message_start).
  void ensure_started(std::vector<stream_event>& out) {
    if (started_) return;
    started_ = true;
    if (id_.empty()) id_ = "msg_oag_" + std::to_string(created_);
    json c = chunk();
    c["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
    push(out, std::move(c));
  }

  void emit_text(const char* field, const std::string& text, std::vector<stream_event>& out) {
    if (text.empty()) return;
    json c = chunk();
    c["choices"][0]["delta"] = {{field, text}};
    push(out, std::move(c));
  }

  void emit_tool(json fragment, std::vector<stream_event>& out) {
    json c = chunk();
    c["choices"][0]["delta"] = {{"tool_calls", json::array({std::move(fragment)})}};
    push(out, std::move(c));
  }

  static void push(std::vector<stream_event>& out, json data) {
    stream_event e;
    e.what = stream_event::type::chunk;
    e.data = std::move(data);
    out.push_back(std::move(e));
  }

  void fail(std::vector<stream_event>& out, failure f) {
    // What the upstream reported before the failure is still owed: the
    // usage goes out ahead of the error so the caller can charge it.
    if (!terminal_ && usage_.seen) {
      json usage = chunk();
      usage["choices"] = json::array();
      usage["usage"] = usage_.openai();
      push(out, std::move(usage));
    }
    terminal_ = true;
    stream_event e;
    e.what = stream_event::type::error;
    e.error = std::move(f);
    out.push_back(std::move(e));
  }

  sse::parser parser_;
  std::vector<sse::event> events_;
  std::string id_;
  std::string model_;
  std::int64_t created_ = now_seconds();
  usage_counts usage_;
  std::string stop_reason_;
  std::map<std::int64_t, int> tool_of_block_;
  int tool_count_ = 0;
  bool started_ = false;
  bool terminal_ = false;
};

// ---------------------------------------------------------------------------

failure internal_failure() {
  return make_failure(errc::internal, "OAG failed to translate the request for Anthropic");
}

class anthropic_adapter_impl final : public provider_adapter {
 public:
  std::string_view kind() const noexcept override { return "anthropic"; }

  std::optional<std::string> default_base_url() const override {
    return std::string(default_base);
  }

  result<outbound_request> chat_request(const json& body, std::string_view upstream_model,
                                        bool stream, const provider_endpoint& ep,
                                        const chat_context& cc) const override {
    try {
      auto out = translate_request(body, upstream_model, stream, cc);
      if (!out) return out.error();
      return build_request(*out, stream, ep);
    } catch (const std::exception&) {
      return internal_failure();
    }
  }

  result<json> chat_response(std::string_view body) const override {
    try {
      json doc = parse_json(body);
      if (doc.is_discarded()) return upstream_invalid();
      return translate_message(doc);
    } catch (const std::exception&) {
      return upstream_invalid();
    }
  }

  std::unique_ptr<stream_decoder> chat_stream_decoder() const override {
    return make_anthropic_stream_decoder();
  }

  result<outbound_request> embeddings_request(const json&, std::string_view,
                                              const provider_endpoint& ep) const override {
    return bad_param("model", "provider '" + ep.name +
                                  "' is of kind 'anthropic', which has no embeddings API; route "
                                  "embeddings to a provider that has one");
  }

  result<json> embeddings_response(std::string_view) const override {
    return upstream_invalid("Anthropic has no embeddings API");
  }

  failure upstream_failure(int status, const header_list& headers,
                           std::string_view body) const override {
    try {
      // Only the (scrubbed) body is read; OAG's request headers are not
      // even available here.
      return failure_of(status, error_info_of(parse_json(body)), wire::retry_after_of(headers));
    } catch (const std::exception&) {
      failure f = make_failure(errc::upstream_error,
                               "upstream returned HTTP " + std::to_string(status));
      f.http_status = 502;
      return f;
    }
  }
};

} // namespace

const provider_adapter& anthropic_adapter() noexcept {
  static const anthropic_adapter_impl instance;
  return instance;
}

std::unique_ptr<stream_decoder> make_anthropic_stream_decoder() {
  return std::make_unique<anthropic_stream_decoder>();
}

result<json> openai_to_anthropic_request(const json& body, std::string_view upstream_model,
                                         bool stream, const chat_context& cc) {
  try {
    return translate_request(body, upstream_model, stream, cc);
  } catch (const std::exception&) {
    return internal_failure();
  }
}

result<json> anthropic_message_to_openai(const json& message) {
  try {
    return translate_message(message);
  } catch (const std::exception&) {
    return upstream_invalid();
  }
}

} // namespace oag::adapters
