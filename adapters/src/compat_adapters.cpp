#include "oag/adapters/compat_adapters.hpp"

#include <cstdint>
#include <set>

#include "native_common.hpp"
#include "oag/adapters/openai_adapter.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;

/// One OpenAI-compatible kind: where it lives, how it authenticates, and
/// which request quirks it needs (WIRE.md §8).
struct preset {
  std::string_view kind;
  std::string_view base_url;            ///< empty: a base URL must be configured
  std::string_view auth_header = "Authorization";
  std::string_view auth_prefix = "Bearer ";
  bool azure_paths = false;             ///< deployments path + api-version query
  bool stream_usage_option = true;      ///< accepts stream_options.include_usage
  bool drop_reasoning_content = false;  ///< rejects its own reasoning_content in history
  bool mistral_dialect = false;         ///< random_seed, tool_choice "any", strict fields
  bool drop_empty_content = false;      ///< rejects empty content elements
  bool tool_choice_workaround = false;  ///< ignores tool_choice none/required
  bool embeddings_without_dimensions = false;
};

constexpr preset presets[] = {
    {"deepseek", "https://api.deepseek.com/v1", "Authorization", "Bearer ", false, true,
     /*drop_reasoning_content=*/true},
    {"groq", "https://api.groq.com/openai/v1"},
    // Mistral answers 422 to stream_options and sends usage on the last
    // chunk unasked.
    {"mistral", "https://api.mistral.ai/v1", "Authorization", "Bearer ", false,
     /*stream_usage_option=*/false, false, /*mistral_dialect=*/true},
    {"xai", "https://api.x.ai/v1", "Authorization", "Bearer ", false, true,
     /*drop_reasoning_content=*/true, false, /*drop_empty_content=*/true},
    {"openrouter", "https://openrouter.ai/api/v1", "Authorization", "Bearer ", false, true, false,
     false, false, false, /*embeddings_without_dimensions=*/true},
    {"together", "https://api.together.xyz/v1", "Authorization", "Bearer ", false, true, false,
     false, false, /*tool_choice_workaround=*/true},
};

constexpr preset azure_preset{"azure", "", "api-key", "", /*azure_paths=*/true};

failure bad_request(std::string message, std::string param) {
  failure f = make_failure(errc::invalid_request, std::move(message), std::move(param));
  f.http_status = 400;
  return f;
}

bool is_mistral_tool_id(std::string_view id) {
  if (id.size() != 9) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

/// Mistral accepts only 9-character alphanumeric tool call ids; histories
/// from other providers ("call_…", "toolu_…") are mapped deterministically
/// (FNV-1a, base62) so a call and its result keep matching.
std::string mistral_tool_id(std::string_view id) {
  if (is_mistral_tool_id(id)) return std::string(id);
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  static const char* alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  for (int i = 0; i < 9; ++i, h /= 62) out += alphabet[h % 62];
  return out;
}

/// Mistral's request schema forbids unknown fields (422 extra_forbidden),
/// also on echoed assistant messages (refusal, annotations, ...).
void apply_mistral_dialect(json& body) {
  static const std::set<std::string, std::less<>> top = {
      "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
      "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
      "parallel_tool_calls", "prediction", "safe_prompt", "prompt_mode"};
  static const std::set<std::string, std::less<>> message_keys = {
      "role", "content", "tool_calls", "tool_call_id", "name", "prefix"};
  if (auto s = body.find("seed"); s != body.end()) {
    if (!body.contains("random_seed")) body["random_seed"] = *s;
  }
  if (auto m = body.find("max_completion_tokens"); m != body.end()) {
    if (!body.contains("max_tokens") || body["max_tokens"].is_null()) body["max_tokens"] = *m;
  }
  if (auto tc = body.find("tool_choice"); tc != body.end()) {
    if (*tc == "required") {
      *tc = "any";
    } else if (tc->is_object() && native::str(*tc, "type", "") == "allowed_tools") {
      // No allowed_tools in Mistral: keep its mode over all tools.
      const json at = tc->value("allowed_tools", json::object());
      *tc = (at.is_object() && native::str(at, "mode", "auto") == "required") ? "any" : "auto";
    }
  }
  for (auto it = body.begin(); it != body.end();) {
    if (top.count(it.key()) == 0)
      it = body.erase(it);
    else
      ++it;
  }
  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array()) return;
  for (auto& m : *msgs) {
    if (!m.is_object()) continue;
    for (auto it = m.begin(); it != m.end();) {
      if (message_keys.count(it.key()) == 0)
        it = m.erase(it);
      else
        ++it;
    }
    if (auto id = m.find("tool_call_id"); id != m.end() && id->is_string())
      *id = mistral_tool_id(id->get_ref<const std::string&>());
    if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array())
      for (auto& call : *calls)
        if (call.is_object())
          if (auto id = call.find("id"); id != call.end() && id->is_string())
            *id = mistral_tool_id(id->get_ref<const std::string&>());
  }
}

bool empty_content(const json& c) {
  return c.is_null() || (c.is_string() && c.get_ref<const std::string&>().empty()) ||
         (c.is_array() && c.empty());
}

/// xAI rejects empty content elements: empty text parts go, an emptied
/// assistant content becomes null (valid next to tool_calls), and a
/// message left with nothing at all is dropped.
void drop_empty_content(json& body) {
  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array()) return;
  json kept = json::array();
  for (auto& m : *msgs) {
    if (!m.is_object()) {
      kept.push_back(std::move(m));
      continue;
    }
    auto c = m.find("content");
    if (c != m.end() && c->is_array()) {
      json parts = json::array();
      for (auto& p : *c) {
        const bool empty_text = p.is_object() && native::str(p, "type", "") == "text" &&
                                p.contains("text") && p["text"] == "";
        if (!empty_text) parts.push_back(std::move(p));
      }
      *c = std::move(parts);
    }
    const std::string role = native::str(m, "role", "");
    const bool has_calls = m.contains("tool_calls") && m["tool_calls"].is_array() &&
                           !m["tool_calls"].empty();
    if (c != m.end() && empty_content(*c)) {
      if (has_calls) {
        *c = nullptr;
      } else if (role != "tool") {
        continue;  // nothing to say: leave the message out
      }
    }
    kept.push_back(std::move(m));
  }
  *msgs = std::move(kept);
}

void apply_quirks(const preset& p, json& body) {
  if (p.drop_reasoning_content) {
    if (auto msgs = body.find("messages"); msgs != body.end() && msgs->is_array())
      for (auto& m : *msgs)
        if (m.is_object() && native::str(m, "role", "") == "assistant") m.erase("reasoning_content");
  }
  if (p.tool_choice_workaround) {
    if (auto tc = body.find("tool_choice"); tc != body.end()) {
      if (*tc == "none") {
        // Together calls tools despite "none": not offering them is the
        // only reliable way.
        body.erase("tools");
        body.erase("tool_choice");
      } else if (*tc == "required") {
        *tc = "auto";
      }
    }
  }
  if (p.drop_empty_content) drop_empty_content(body);
  if (p.mistral_dialect) apply_mistral_dialect(body);
}

bool api_version_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

std::string encode_segment(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (api_version_char(c) || c == '~') {
      out += c;
    } else {
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

/// Wraps the OpenAI decoder: usage from wherever the provider put it
/// becomes one usage-only chunk just before the end (or before an error,
/// since the upstream billed those tokens either way).
class usage_normalizing_decoder final : public stream_decoder {
 public:
  void feed(std::string_view bytes, std::vector<stream_event>& out) override {
    inner_events_.clear();
    inner_->feed(bytes, inner_events_);
    process(out);
  }

  void finish(std::vector<stream_event>& out) override {
    inner_events_.clear();
    inner_->finish(inner_events_);
    process(out);
  }

 private:
  void process(std::vector<stream_event>& out) {
    for (auto& ev : inner_events_) {
      if (ev.what != stream_event::type::chunk) {
        flush_usage(out);
        out.push_back(std::move(ev));
        continue;
      }
      json& chunk = ev.data;
      for (const char* key : {"id", "created", "model"})
        if (auto it = chunk.find(key); it != chunk.end()) meta_[key] = *it;
      if (auto xg = chunk.find("x_groq"); xg != chunk.end() && xg->is_object()) {
        if (auto u = xg->find("usage"); u != xg->end() && u->is_object()) usage_ = *u;
        xg->erase("usage");
        if (xg->empty()) chunk.erase("x_groq");
      }
      if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) {
        usage_ = *u;
        chunk.erase(u);
      }
      auto choices = chunk.find("choices");
      if (choices != chunk.end() && choices->is_array() && !choices->empty())
        out.push_back(std::move(ev));
      // A chunk without choices carried nothing but usage (or filter
      // results): it is re-emitted by flush_usage.
    }
  }

  void flush_usage(std::vector<stream_event>& out) {
    if (usage_.is_null()) return;
    json chunk = {{"id", meta_.value("id", json(""))},
                  {"object", "chat.completion.chunk"},
                  {"created", meta_.value("created", json(0))},
                  {"model", meta_.value("model", json(""))},
                  {"choices", json::array()},
                  {"usage", std::move(usage_)}};
    usage_ = nullptr;
    stream_event e;
    e.what = stream_event::type::chunk;
    e.data = std::move(chunk);
    out.push_back(std::move(e));
  }

  std::unique_ptr<stream_decoder> inner_ = make_openai_stream_decoder();
  std::vector<stream_event> inner_events_;
  json meta_ = json::object();
  json usage_;
};

class compat_adapter final : public provider_adapter {
 public:
  explicit constexpr compat_adapter(const preset& p) noexcept : p_(p) {}

  std::string_view kind() const noexcept override { return p_.kind; }

  std::optional<std::string> default_base_url() const override {
    if (p_.base_url.empty()) return std::nullopt;
    return std::string(p_.base_url);
  }

  result<outbound_request> chat_request(const json& body, std::string_view upstream_model,
                                        bool stream, const provider_endpoint& ep,
                                        const chat_context&) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    json out = body;
    out["model"] = std::string(upstream_model);
    if (stream) {
      out["stream"] = true;
      if (p_.stream_usage_option) {
        auto so = out.find("stream_options");
        if (so == out.end() || !so->is_object()) out["stream_options"] = json::object();
        out["stream_options"]["include_usage"] = true;
      } else {
        out.erase("stream_options");
      }
    } else {
      // The caller decided on a plain response (as in the OpenAI kind);
      // stream_options without a stream is refused upstream.
      if (auto s = out.find("stream"); s != out.end() && s->is_boolean() && s->get<bool>()) *s = false;
      out.erase("stream_options");
    }
    apply_quirks(p_, out);
    return build(std::move(out), upstream_model, "/chat/completions", stream, ep);
  }

  result<json> chat_response(std::string_view body) const override {
    return openai_adapter().chat_response(body);
  }

  std::unique_ptr<stream_decoder> chat_stream_decoder() const override {
    return std::make_unique<usage_normalizing_decoder>();
  }

  result<outbound_request> embeddings_request(const json& body, std::string_view upstream_model,
                                              const provider_endpoint& ep) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    json out = body;
    out["model"] = std::string(upstream_model);
    if (p_.embeddings_without_dimensions) out.erase("dimensions");
    return build(std::move(out), upstream_model, "/embeddings", false, ep);
  }

  result<json> embeddings_response(std::string_view body) const override {
    return openai_adapter().embeddings_response(body);
  }

  failure upstream_failure(int status, const header_list& headers,
                           std::string_view body) const override {
    failure f = openai_adapter().upstream_failure(status, headers, body);
    const json doc = wire::parse_json(body);
    if (f.message == "upstream returned HTTP " + std::to_string(status) && doc.is_object()) {
      // Mistral's 422 puts a validation object in `message` (or `detail`);
      // it is the only explanation the client will get.
      for (const char* key : {"message", "detail"}) {
        auto it = doc.find(key);
        if (it == doc.end() || !(it->is_object() || it->is_array())) continue;
        std::string text = scrub_credentials(wire::dump(*it));
        if (text.size() > 2000) {
          std::size_t cut = 2000;  // on a UTF-8 boundary
          while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
          text.resize(cut);
        }
        f.message += ": " + text;
        break;
      }
    }
    // DeepSeek answers an unknown model with 400 "Model Not Exist", Azure
    // an unknown deployment with 404 DeploymentNotFound.
    if ((status == 400 && f.message == "Model Not Exist") ||
        (status == 404 && f.error_code && *f.error_code == "DeploymentNotFound")) {
      f.code = errc::model_not_found;
      f.http_status = 404;
    }
    return f;
  }

 private:
  result<outbound_request> build(json out, std::string_view model, std::string_view path,
                                 bool stream, const provider_endpoint& ep) const {
    provider_endpoint resolved = ep;
    if (resolved.base_url.empty()) resolved.base_url = std::string(p_.base_url);
    std::string target_suffix(path);
    if (p_.azure_paths) {
      auto split = split_azure_base_url(resolved.base_url);
      if (!split) return split.error();
      resolved.base_url = split->base_url;
      if (model.empty()) return bad_request("azure needs a deployment name as the model", "model");
      target_suffix = "/deployments/" + encode_segment(model) + std::string(path) +
                      "?api-version=" + split->api_version;
    }
    auto origin = wire::resolve_origin(resolved);
    if (!origin) return origin.error();
    auto headers = wire::request_headers(resolved, stream, p_.auth_header, p_.auth_prefix);
    if (!headers) return headers.error();
    std::string prefix = origin->path;
    if (p_.azure_paths) {
      constexpr std::string_view openai = "/openai";
      if (prefix.size() < openai.size() ||
          prefix.compare(prefix.size() - openai.size(), openai.size(), openai) != 0)
        prefix += openai;
    }
    outbound_request req;
    req.method = "POST";
    req.target = prefix + target_suffix;
    req.origin = std::move(origin).value();
    req.headers = std::move(headers).value();
    req.body = wire::dump(out);
    req.stream = stream;
    return req;
  }

  const preset& p_;
};

const compat_adapter preset_adapters[] = {
    compat_adapter(presets[0]), compat_adapter(presets[1]), compat_adapter(presets[2]),
    compat_adapter(presets[3]), compat_adapter(presets[4]), compat_adapter(presets[5]),
};
static_assert(sizeof(preset_adapters) / sizeof(preset_adapters[0]) ==
                  sizeof(presets) / sizeof(presets[0]),
              "one adapter per preset row");

} // namespace

result<azure_base> split_azure_base_url(std::string_view base_url) {
  azure_base out;
  out.api_version = std::string(azure_default_api_version);
  const auto q = base_url.find('?');
  out.base_url = std::string(base_url.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view query = base_url.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    constexpr std::string_view key = "api-version=";
    if (param.compare(0, key.size(), key) != 0) continue;
    std::string_view value = param.substr(key.size());
    if (value.empty()) continue;
    for (char c : value)
      if (!api_version_char(c))
        return bad_request("the api-version in the azure base URL has invalid characters",
                           "base_url");
    out.api_version = std::string(value);
  }
  return out;
}

const provider_adapter& azure_adapter() noexcept {
  static const compat_adapter instance(azure_preset);
  return instance;
}

const provider_adapter* openai_preset_adapter(std::string_view kind) noexcept {
  for (const auto& a : preset_adapters)
    if (a.kind() == kind) return &a;
  return nullptr;
}

} // namespace oag::adapters
