#include "oag/adapters/ollama_adapter.hpp"

#include <algorithm>
#include <map>

#include "native_common.hpp"
#include "oag/adapters/openai_adapter.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;
using native::bad_request;

constexpr std::string_view default_base = "http://localhost:11434";
/// A stream line longer than this is not Ollama talking; stop buffering.
constexpr std::size_t max_line_bytes = 16u << 20;

result<json> user_message(const json& content, const std::string& path) {
  json msg = {{"role", "user"}};
  if (!content.is_array()) {
    msg["content"] = content.is_string() ? content : json("");
    return msg;
  }
  std::string text;
  json images = json::array();
  for (std::size_t j = 0; j < content.size(); ++j) {
    const json& part = content[j];
    const std::string ppath = path + ".content[" + std::to_string(j) + "]";
    if (!part.is_object()) return bad_request("a content part must be an object", ppath);
    const std::string type = native::str(part, "type", "");
    if (type == "text") {
      if (!text.empty()) text += "\n";
      text += native::str(part, "text", "");
    } else if (type == "image_url") {
      std::string url;
      if (auto iu = part.find("image_url"); iu != part.end() && iu->is_object())
        url = native::str(*iu, "url", "");
      auto d = native::parse_data_url(url);
      if (!d)
        return bad_request("Ollama takes images only as base64 data: URLs (it cannot fetch URLs)",
                           ppath + ".image_url.url");
      images.push_back(d->data);
    } else {
      return bad_request("content part type '" + type + "' is not supported by Ollama",
                         ppath + ".type");
    }
  }
  msg["content"] = std::move(text);
  if (!images.empty()) msg["images"] = std::move(images);
  return msg;
}

result<json> chat_body(const json& body, std::string_view model, bool stream) {
  if (!body.is_object())
    return make_failure(errc::invalid_request, "the request body must be a JSON object");
  const auto mit = body.find("messages");
  if (mit == body.end() || !mit->is_array())
    return bad_request("messages must be an array", "messages");
  json messages = json::array();
  std::map<std::string, std::string, std::less<>> call_names;  // tool_call_id → name
  for (std::size_t i = 0; i < mit->size(); ++i) {
    const json& m = (*mit)[i];
    const std::string path = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_request("a message must be an object", path);
    const std::string role = native::str(m, "role", "");
    const json content = m.value("content", json());
    if (role == "system" || role == "developer") {
      // Ollama's templates know only "system".
      messages.push_back({{"role", "system"}, {"content", native::text_of(content)}});
    } else if (role == "user") {
      auto msg = user_message(content, path);
      if (!msg) return msg.error();
      messages.push_back(std::move(msg).value());
    } else if (role == "assistant") {
      json msg = {{"role", "assistant"}, {"content", native::text_of(content)}};
      if (auto tc = m.find("tool_calls"); tc != m.end() && tc->is_array() && !tc->empty()) {
        json calls = json::array();
        for (const auto& call : *tc) {
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
            continue;
          const json& fn = call["function"];
          const std::string name = native::str(fn, "name", "");
          if (auto id = call.find("id"); id != call.end() && id->is_string())
            call_names[id->get<std::string>()] = name;
          calls.push_back({{"function",
                            {{"name", name},
                             {"arguments", native::arguments_object(fn.value("arguments", json()))}}}});
        }
        if (!calls.empty()) msg["tool_calls"] = std::move(calls);
      }
      messages.push_back(std::move(msg));
    } else if (role == "tool") {
      json msg = {{"role", "tool"}, {"content", native::text_of(content, "")}};
      auto it = call_names.find(native::str(m, "tool_call_id", ""));
      if (it != call_names.end()) msg["tool_name"] = it->second;
      messages.push_back(std::move(msg));
    } else if (role == "function") {
      messages.push_back({{"role", "tool"},
                          {"content", native::text_of(content, "")},
                          {"tool_name", native::str(m, "name", "")}});
    } else {
      return bad_request("role '" + role + "' is not supported", path + ".role");
    }
  }

  json out = {{"model", std::string(model)}, {"messages", std::move(messages)}, {"stream", stream}};

  // Ollama has no tool_choice; "none" is honoured by not offering tools.
  const auto tc = body.find("tool_choice");
  const bool no_tools = tc != body.end() && *tc == "none";
  if (auto tools = body.find("tools"); !no_tools && tools != body.end() && tools->is_array() &&
                                       !tools->empty()) {
    json list = json::array();
    for (std::size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      if (!t.is_object() || native::str(t, "type", "function") != "function" || !t.contains("function") ||
          !t["function"].is_object())
        return bad_request("Ollama supports only function tools",
                           "tools[" + std::to_string(i) + "].type");
      const json& fn = t["function"];
      json f = {{"name", native::str(fn, "name", "")}};
      if (auto d = fn.find("description"); d != fn.end() && d->is_string()) f["description"] = *d;
      if (auto p = fn.find("parameters"); p != fn.end() && p->is_object()) f["parameters"] = *p;
      list.push_back({{"type", "function"}, {"function", std::move(f)}});
    }
    out["tools"] = std::move(list);
  }

  if (auto rf = body.find("response_format"); rf != body.end() && rf->is_object()) {
    const std::string type = native::str(*rf, "type", "");
    if (type == "json_object") {
      out["format"] = "json";
    } else if (type == "json_schema") {
      const json js = rf->value("json_schema", json::object());
      if (js.is_object() && js.contains("schema") && js["schema"].is_object())
        out["format"] = js["schema"];
      else
        out["format"] = "json";
    }
  }

  json options = json::object();
  if (auto t = body.find("temperature"); t != body.end() && t->is_number()) options["temperature"] = *t;
  if (auto t = body.find("top_p"); t != body.end() && t->is_number()) options["top_p"] = *t;
  if (auto mt = native::max_output_of(body)) options["num_predict"] = *mt;
  if (json stops = native::stop_list(body); !stops.empty()) options["stop"] = std::move(stops);
  if (auto s = body.find("seed"); s != body.end() && s->is_number_integer()) options["seed"] = *s;
  if (auto p = body.find("presence_penalty"); p != body.end() && p->is_number())
    options["presence_penalty"] = *p;
  if (auto p = body.find("frequency_penalty"); p != body.end() && p->is_number())
    options["frequency_penalty"] = *p;
  if (!options.empty()) out["options"] = std::move(options);
  return out;
}

/// Ollama's tool call as an OpenAI one (arguments object → JSON string).
json tool_call_of(const json& call, std::size_t n) {
  json fn = call.is_object() ? call.value("function", json::object()) : json::object();
  if (!fn.is_object()) fn = json::object();
  json args = fn.value("arguments", json::object());
  return json{{"id", native::tool_call_id(n)},
              {"type", "function"},
              {"function",
               {{"name", native::str(fn, "name", "")},
                {"arguments", args.is_string() ? args.get<std::string>() : wire::dump(args)}}}};
}

std::string finish_of(const json& doc, bool had_calls) {
  if (had_calls) return "tool_calls";
  if (native::str(doc, "done_reason", "") == "length") return "length";
  return "stop";
}

json usage_of_line(const json& doc) {
  return native::usage_json(native::count_field(doc, "prompt_eval_count"),
                            native::count_field(doc, "eval_count"), 0, 0);
}

class ollama_stream_decoder final : public stream_decoder {
 public:
  void feed(std::string_view bytes, std::vector<stream_event>& out) override {
    if (terminal_) return;
    std::size_t start = 0;
    while (!terminal_) {
      const auto nl = bytes.find('\n', start);
      if (nl == std::string_view::npos) break;
      if (buffer_.empty()) {
        line(bytes.substr(start, nl - start), /*at_end=*/false, out);
      } else {
        buffer_.append(bytes.substr(start, nl - start));
        std::string whole = std::move(buffer_);
        buffer_.clear();
        line(whole, /*at_end=*/false, out);
      }
      start = nl + 1;
    }
    if (terminal_) return;
    buffer_.append(bytes.substr(start));
    if (buffer_.size() > max_line_bytes) fail(out, "upstream sent an oversized stream line");
  }

  void finish(std::vector<stream_event>& out) override {
    if (terminal_) return;
    // A final line without its newline still counts when it is complete.
    if (!buffer_.empty()) {
      std::string rest = std::move(buffer_);
      buffer_.clear();
      line(rest, /*at_end=*/true, out);
      if (terminal_) return;
    }
    fail(out, "upstream closed the stream before it was complete");
  }

 private:
  void line(std::string_view text, bool at_end, std::vector<stream_event>& out) {
    // A JSON type error on an unexpected shape must not escape into the
    // caller's actor.
    try {
      translate_line(text, at_end, out);
    } catch (const std::exception&) {
      fail(out, "upstream sent an invalid stream line");
    }
  }

  void translate_line(std::string_view text, bool at_end, std::vector<stream_event>& out) {
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t'))
      text.remove_suffix(1);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    if (text.empty()) return;
    json doc = wire::parse_json(text);
    if (doc.is_discarded()) {
      if (at_end) return;  // a cut tail: finish() reports it
      return fail(out, "upstream sent an invalid stream line");
    }
    if (!doc.is_object()) return fail(out, "upstream sent an invalid stream line");
    if (doc.contains("error") && !doc["error"].is_null()) {
      auto info = wire::error_info_of(doc);
      return fail(out, info.message ? *info.message : "upstream reported an error in the stream");
    }
    if (!started_) {
      started_ = true;
      if (auto m = doc.find("model"); m != doc.end() && m->is_string())
        chunks_.set_model(m->get<std::string>());
      native::push_chunk(out, chunks_.choice(0, {{"role", "assistant"}, {"content", ""}}));
    }
    if (auto msg = doc.find("message"); msg != doc.end() && msg->is_object()) {
      if (auto c = msg->find("content"); c != msg->end() && c->is_string() &&
                                         !c->get_ref<const std::string&>().empty())
        native::push_chunk(out, chunks_.choice(0, {{"content", *c}}));
      if (auto tc = msg->find("tool_calls"); tc != msg->end() && tc->is_array()) {
        for (const auto& call : *tc) {
          // One complete fragment per call with its own index, so parallel
          // calls can never be concatenated by the client.
          json fragment = tool_call_of(call, tool_calls_);
          fragment["index"] = tool_calls_++;
          native::push_chunk(out, chunks_.choice(0, {{"tool_calls", json::array({std::move(fragment)})}}));
        }
      }
    }
    if (auto d = doc.find("done"); d != doc.end() && *d == true) {
      terminal_ = true;
      native::push_chunk(out, chunks_.choice(0, json::object(), finish_of(doc, tool_calls_ > 0)));
      native::push_chunk(out, chunks_.usage(usage_of_line(doc)));
      native::push_done(out);
    }
  }

  void fail(std::vector<stream_event>& out, std::string message) {
    terminal_ = true;
    native::push_error(out, std::move(message));
  }

  std::string buffer_;
  native::chunk_builder chunks_;
  std::size_t tool_calls_ = 0;
  bool started_ = false;
  bool terminal_ = false;
};

class ollama_adapter_impl final : public provider_adapter {
 public:
  std::string_view kind() const noexcept override { return "ollama"; }

  std::optional<std::string> default_base_url() const override { return std::string(default_base); }

  result<outbound_request> chat_request(const json& body, std::string_view upstream_model,
                                        bool stream, const provider_endpoint& ep,
                                        const chat_context&) const override {
    auto payload = [&]() -> result<json> {
      try {
        return chat_body(body, upstream_model, stream);
      } catch (const std::exception&) {
        return make_failure(errc::invalid_request, "the request could not be translated for Ollama");
      }
    }();
    if (!payload) return payload.error();
    return build(std::move(payload).value(), "/api/chat", stream, ep);
  }

  result<json> chat_response(std::string_view body) const override {
    try {
      return translate(body);
    } catch (const std::exception&) {
      return wire::upstream_invalid();
    }
  }

  static result<json> translate(std::string_view body) {
    json doc = wire::parse_json(body);
    if (!doc.is_object()) return wire::upstream_invalid();
    if (auto reported = native::reported_error(doc)) return *reported;
    auto msg = doc.find("message");
    if (msg == doc.end() || !msg->is_object()) return wire::upstream_invalid();
    json message = {{"role", "assistant"}, {"content", nullptr}, {"refusal", nullptr}};
    if (auto c = msg->find("content"); c != msg->end() && c->is_string() &&
                                       !c->get_ref<const std::string&>().empty())
      message["content"] = *c;
    json calls = json::array();
    if (auto tc = msg->find("tool_calls"); tc != msg->end() && tc->is_array())
      for (const auto& call : *tc) calls.push_back(tool_call_of(call, calls.size()));
    const bool had_calls = !calls.empty();
    if (had_calls) {
      message["tool_calls"] = std::move(calls);
    } else if (message["content"].is_null()) {
      message["content"] = "";  // an empty answer is still an answer
    }
    return json{{"id", native::new_completion_id()},
                {"object", "chat.completion"},
                {"created", native::now_seconds()},
                {"model", native::str(doc, "model", "")},
                {"choices", json::array({{{"index", 0},
                                          {"message", std::move(message)},
                                          {"logprobs", nullptr},
                                          {"finish_reason", finish_of(doc, had_calls)}}})},
                {"usage", usage_of_line(doc)}};
  }

  std::unique_ptr<stream_decoder> chat_stream_decoder() const override {
    return make_ollama_stream_decoder();
  }

  result<outbound_request> embeddings_request(const json& body, std::string_view upstream_model,
                                              const provider_endpoint& ep) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    const json input = body.value("input", json());
    const bool text = input.is_string() ||
                      (input.is_array() && !input.empty() &&
                       std::all_of(input.begin(), input.end(), [](const json& s) { return s.is_string(); }));
    if (!text)
      return bad_request("Ollama embeddings take text input (a string or strings), not tokens",
                         "input");
    json out = {{"model", std::string(upstream_model)}, {"input", input}};
    if (auto d = body.find("dimensions"); d != body.end() && d->is_number_integer())
      out["dimensions"] = *d;
    return build(std::move(out), "/api/embed", false, ep);
  }

  result<json> embeddings_response(std::string_view body) const override {
    json doc = wire::parse_json(body);
    if (!doc.is_object() || !doc.contains("embeddings") || !doc["embeddings"].is_array())
      return wire::upstream_invalid();
    for (const auto& v : doc["embeddings"])
      if (!v.is_array()) return wire::upstream_invalid();
    json out = native::embeddings_list(doc["embeddings"]);
    if (auto m = doc.find("model"); m != doc.end() && m->is_string()) out["model"] = *m;
    if (doc.contains("prompt_eval_count")) {
      const auto n = native::count_field(doc, "prompt_eval_count");
      out["usage"] = {{"prompt_tokens", n}, {"total_tokens", n}};
    }
    return out;
  }

  failure upstream_failure(int status, const header_list& headers,
                           std::string_view body) const override {
    return native::status_failure(status, headers, wire::error_info_of(wire::parse_json(body)).message);
  }

 private:
  static result<outbound_request> build(json payload, std::string_view path, bool stream,
                                        const provider_endpoint& ep) {
    return native::post_request(payload, std::string(path), stream, ep, default_base,
                                "Authorization", "Bearer ", "application/x-ndjson");
  }
};

} // namespace

const provider_adapter& ollama_adapter() noexcept {
  static const ollama_adapter_impl instance;
  return instance;
}

std::unique_ptr<stream_decoder> make_ollama_stream_decoder() {
  return std::make_unique<ollama_stream_decoder>();
}

} // namespace oag::adapters
