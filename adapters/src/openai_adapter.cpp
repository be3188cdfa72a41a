#include "oag/adapters/openai_adapter.hpp"

#include <string>

#include "oag/adapters/mock_upstream.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::adapters {
namespace {

using nlohmann::json;

constexpr std::string_view invalid_response_message = "upstream sent an invalid response";
constexpr std::size_t max_upstream_message = 2000;

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alnum(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool starts_with_ci(std::string_view text, std::size_t pos, std::string_view word) noexcept {
  if (text.size() - pos < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (lower(text[pos + i]) != lower(word[i])) return false;
  return true;
}

std::string dump(const json& j) {
  // Client text may carry invalid UTF-8; replacing beats throwing here.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

failure upstream_invalid(std::string message = std::string(invalid_response_message)) {
  failure f = make_failure(errc::upstream_error, std::move(message));
  f.http_status = 502;
  return f;
}

failure bad_endpoint(std::string message) {
  failure f = make_failure(errc::invalid_request, std::move(message));
  f.http_status = 400;
  return f;
}

/// Cuts a message to a sane length on a UTF-8 boundary (upstreams have been
/// seen answering with whole HTML pages inside `message`).
std::string clip(std::string text) {
  if (text.size() <= max_upstream_message) return text;
  std::size_t cut = max_upstream_message;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
  return text;
}

/// The `error` member of an OpenAI-shaped error body, picked apart.
struct upstream_error_info {
  std::optional<std::string> message;
  std::optional<std::string> code;
  std::optional<std::string> param;
};

upstream_error_info error_info_of(const json& doc) {
  upstream_error_info info;
  if (!doc.is_object()) return info;
  auto it = doc.find("error");
  if (it != doc.end()) {
    if (it->is_string()) {
      info.message = it->get<std::string>();
    } else if (it->is_object()) {
      if (auto m = it->find("message"); m != it->end() && m->is_string())
        info.message = m->get<std::string>();
      if (auto c = it->find("code"); c != it->end()) {
        if (c->is_string()) info.code = c->get<std::string>();
        // Some providers use numeric codes; they mean nothing to an OpenAI SDK.
      }
      if (auto p = it->find("param"); p != it->end() && p->is_string())
        info.param = p->get<std::string>();
    }
  } else if (auto m = doc.find("message"); m != doc.end() && m->is_string()) {
    info.message = m->get<std::string>();
  }
  if (info.message) {
    info.message = clip(scrub_credentials(*info.message));
    if (info.message->empty()) info.message.reset();
  }
  if (info.code) info.code = clip(scrub_credentials(*info.code));
  if (info.param) info.param = clip(scrub_credentials(*info.param));
  return info;
}

json parse_json(std::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

/// Retry-After is either delta-seconds or an HTTP date; anything else (or
/// anything that could smuggle header syntax) is dropped.
std::optional<std::string> sane_retry_after(const header_list& headers) {
  auto v = find_header(headers, "retry-after");
  if (!v) return std::nullopt;
  std::string_view s = *v;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 64) return std::nullopt;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return std::nullopt;
  }
  return std::string(s);
}

bool is_header_token(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    if (is_alnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_header_value(std::string_view value) noexcept {
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void set_header(header_list& headers, std::string name, std::string value) {
  for (auto& h : headers) {
    if (h.name.size() == name.size() && starts_with_ci(h.name, 0, name)) {
      h.value = std::move(value);
      return;
    }
  }
  headers.push_back(header{std::move(name), std::move(value)});
}

result<url> resolve_origin(const provider_endpoint& ep) {
  if (ep.kind == "mock" && ep.base_url.empty()) return mock_origin();
  auto parsed = parse_url(ep.base_url);
  if (!parsed) return bad_endpoint("provider '" + ep.name + "': " + parsed.error().message);
  if (parsed->scheme == "http" && !is_loopback_host(parsed->host) && !ep.allow_insecure_http)
    return bad_endpoint("provider '" + ep.name + "' uses plain http:// to the non-loopback host '" +
                        parsed->host +
                        "'; OAG refuses to send credentials and prompts unencrypted (use "
                        "https://, or set allow_insecure_http for this provider)");
  return std::move(parsed).value();
}

result<header_list> build_headers(const provider_endpoint& ep, bool stream) {
  header_list h;
  h.push_back({"Content-Type", "application/json"});
  h.push_back({"Accept", stream ? "text/event-stream" : "application/json"});
  if (ep.api_key && !ep.api_key->empty()) {
    // Never echo the key itself in the message.
    if (!is_header_value(*ep.api_key))
      return bad_endpoint("provider '" + ep.name + "' has an api_key with line breaks");
    h.push_back({"Authorization", "Bearer " + *ep.api_key});
  }
  for (const auto& extra : ep.extra_headers) {
    if (!is_header_token(extra.name) || !is_header_value(extra.value))
      return bad_endpoint("provider '" + ep.name + "' has an invalid extra header '" +
                          std::string(is_header_token(extra.name) ? extra.name : "?") + "'");
    set_header(h, extra.name, extra.value);
  }
  return h;
}

result<outbound_request> build_request(json out, std::string_view path, bool stream,
                                       const provider_endpoint& ep) {
  auto origin = resolve_origin(ep);
  if (!origin) return origin.error();
  auto headers = build_headers(ep, stream);
  if (!headers) return headers.error();
  outbound_request req;
  req.method = "POST";
  req.target = origin->path + std::string(path);
  req.origin = std::move(origin).value();
  req.headers = std::move(headers).value();
  req.body = dump(out);
  req.stream = stream;
  return req;
}

failure stream_error(std::string message) {
  failure f = make_failure(errc::upstream_error, std::move(message));
  f.http_status = 502;
  return f;
}

class openai_stream_decoder final : public stream_decoder {
 public:
  void feed(std::string_view bytes, std::vector<stream_event>& out) override {
    if (terminal_) return;
    events_.clear();
    parser_.feed(bytes, events_);
    for (const auto& ev : events_) handle(ev, /*at_end=*/false, out);
  }

  void finish(std::vector<stream_event>& out) override {
    if (terminal_) return;
    // Some servers end with "data: [DONE]" and no blank line; complete the
    // last event so it counts, but a half-received chunk is a cut stream.
    if (parser_.has_partial_event()) {
      events_.clear();
      parser_.feed("\n\n", events_);
      for (const auto& ev : events_) handle(ev, /*at_end=*/true, out);
    }
    if (terminal_) return;
    terminal_ = true;
    stream_event e;
    e.what = stream_event::type::error;
    e.error = stream_error("upstream closed the stream before it was complete");
    out.push_back(std::move(e));
  }

 private:
  void handle(const sse::event& ev, bool at_end, std::vector<stream_event>& out) {
    if (terminal_) return;
    std::string_view data = ev.data;
    while (!data.empty() && (data.front() == ' ' || data.front() == '\t')) data.remove_prefix(1);
    while (!data.empty() && (data.back() == ' ' || data.back() == '\t')) data.remove_suffix(1);
    if (data.empty()) return;
    if (data == "[DONE]") {
      terminal_ = true;
      stream_event e;
      e.what = stream_event::type::done;
      out.push_back(std::move(e));
      return;
    }
    json doc = parse_json(data);
    if (doc.is_discarded()) {
      if (at_end) return;  // truncated tail: finish() reports the cut
      fail(out, "upstream sent an invalid stream chunk");
      return;
    }
    const bool named_error = ev.name && *ev.name == "error";
    if (named_error || (doc.is_object() && doc.contains("error") && !doc["error"].is_null())) {
      auto info = error_info_of(doc);
      fail(out, info.message ? *info.message : "upstream reported an error in the stream");
      return;
    }
    if (!doc.is_object()) {
      fail(out, "upstream sent an invalid stream chunk");
      return;
    }
    auto choices = doc.find("choices");
    if (choices != doc.end() && !choices->is_array()) {
      fail(out, "upstream sent an invalid stream chunk");
      return;
    }
    const bool has_choices = choices != doc.end() && !choices->empty();
    const bool has_usage = doc.contains("usage") && doc["usage"].is_object();
    // Azure sends a first chunk with `choices: []` and only content-filter
    // results; it carries nothing for an OpenAI client.
    if (!has_choices && !has_usage) return;
    stream_event e;
    e.what = stream_event::type::chunk;
    e.data = std::move(doc);
    out.push_back(std::move(e));
  }

  void fail(std::vector<stream_event>& out, std::string message) {
    terminal_ = true;
    stream_event e;
    e.what = stream_event::type::error;
    e.error = stream_error(std::move(message));
    out.push_back(std::move(e));
  }

  sse::parser parser_;
  std::vector<sse::event> events_;
  bool terminal_ = false;
};

class openai_adapter_impl final : public provider_adapter {
 public:
  std::string_view kind() const noexcept override { return "openai"; }

  result<outbound_request> chat_request(const json& body, std::string_view upstream_model,
                                        bool stream, const provider_endpoint& ep,
                                        const chat_context&) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    json out = body;
    out["model"] = std::string(upstream_model);
    if (stream) {
      out["stream"] = true;
      auto so = out.find("stream_options");
      if (so == out.end() || !so->is_object()) out["stream_options"] = json::object();
      out["stream_options"]["include_usage"] = true;
    } else if (auto s = out.find("stream"); s != out.end() && s->is_boolean() && s->get<bool>()) {
      // The caller decided on a plain response; an upstream stream would not
      // be decodable as one, and OpenAI rejects stream_options without it.
      *s = false;
      out.erase("stream_options");
    }
    return build_request(std::move(out), "/chat/completions", stream, ep);
  }

  result<json> chat_response(std::string_view body) const override {
    json doc = parse_json(body);
    if (doc.is_object() && doc.contains("error") && !doc["error"].is_null()) {
      auto info = error_info_of(doc);
      return upstream_invalid(info.message ? "upstream reported an error: " + *info.message
                                           : std::string(invalid_response_message));
    }
    if (!doc.is_object() || !doc.contains("choices") || !doc["choices"].is_array())
      return upstream_invalid();
    return doc;
  }

  std::unique_ptr<stream_decoder> chat_stream_decoder() const override {
    return make_openai_stream_decoder();
  }

  result<outbound_request> embeddings_request(const json& body, std::string_view upstream_model,
                                              const provider_endpoint& ep) const override {
    if (!body.is_object())
      return make_failure(errc::invalid_request, "the request body must be a JSON object");
    json out = body;
    out["model"] = std::string(upstream_model);
    return build_request(std::move(out), "/embeddings", false, ep);
  }

  result<json> embeddings_response(std::string_view body) const override {
    json doc = parse_json(body);
    if (doc.is_object() && doc.contains("error") && !doc["error"].is_null()) {
      auto info = error_info_of(doc);
      return upstream_invalid(info.message ? "upstream reported an error: " + *info.message
                                           : std::string(invalid_response_message));
    }
    if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array())
      return upstream_invalid();
    return doc;
  }

  failure upstream_failure(int status, const header_list& headers,
                           std::string_view body) const override {
    // Only the body is read: request headers (with OAG's credentials) are
    // not even available here, and the body is scrubbed.
    auto info = error_info_of(parse_json(body));
    const std::string generic = "upstream returned HTTP " + std::to_string(status);
    failure f;
    f.retry_after = sane_retry_after(headers);
    if (status == 429) {
      f.code = errc::rate_limited;
      f.http_status = 429;
      if (info.code && *info.code == "insufficient_quota")
        f.message = "the provider's quota for OAG's account is exhausted" +
                    (info.message ? ": " + *info.message : std::string());
      else
        f.message = info.message ? *info.message : "upstream rate limit reached (HTTP 429)";
    } else if (status == 401 || status == 403) {
      // The client's OAG key was accepted; it is OAG's provider credential
      // that failed, which the client cannot fix: a gateway error.
      f.code = errc::upstream_error;
      f.http_status = 502;
      f.message = "the provider rejected OAG's credentials (HTTP " + std::to_string(status) +
                  "); your OAG API key is fine, the provider's api_key must be fixed by an "
                  "operator" +
                  (info.message ? ". Provider said: " + *info.message : std::string());
    } else if (status == 400 || status == 404 || status == 422) {
      // The provider refused the client's request itself: pass it on.
      f.code = (status == 404 && info.code && *info.code == "model_not_found")
                   ? errc::model_not_found
                   : errc::invalid_request;
      f.http_status = status;
      f.error_code = info.code;
      f.param = info.param;
      f.message = info.message ? *info.message : generic;
    } else if (status == 413) {
      f.code = errc::payload_too_large;
      f.http_status = 413;
      f.message = info.message ? *info.message : generic;
    } else {
      f.code = errc::upstream_error;
      f.http_status = 502;
      f.message = generic + (info.message ? ": " + *info.message : std::string());
    }
    return f;
  }
};

/// Length of the run of credential-ish characters starting at `pos`.
std::size_t token_run(std::string_view s, std::size_t pos, std::string_view extra) noexcept {
  std::size_t end = pos;
  while (end < s.size() &&
         (is_alnum(s[end]) || extra.find(s[end]) != std::string_view::npos))
    ++end;
  return end - pos;
}

} // namespace

std::string scrub_credentials(std::string_view s) {
  constexpr std::string_view redacted = "[redacted]";
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const bool boundary = i == 0 || !is_alnum(s[i - 1]);
    if (boundary && starts_with_ci(s, i, "bearer")) {
      std::size_t j = i + 6;
      std::size_t spaces = 0;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j, ++spaces;
      std::size_t run = spaces ? token_run(s, j, "-._~+/=*") : 0;
      if (run > 0) {
        out.append(s.substr(i, j - i));
        out += redacted;
        i = j + run;
        continue;
      }
    }
    if (boundary && s.compare(i, 3, "sk-") == 0) {
      std::size_t run = token_run(s, i + 3, "-_*");
      if (run > 0) {
        out += redacted;
        i += 3 + run;
        continue;
      }
    }
    if (boundary && s.compare(i, 4, "AIza") == 0) {
      std::size_t run = token_run(s, i + 4, "-_");
      if (run >= 16) {
        out += redacted;
        i += 4 + run;
        continue;
      }
    }
    if (boundary && (starts_with_ci(s, i, "api_key") || starts_with_ci(s, i, "api-key") ||
                     starts_with_ci(s, i, "apikey"))) {
      std::size_t j = i + (starts_with_ci(s, i, "apikey") ? 6 : 7);
      std::size_t k = j;
      while (k < s.size() && (s[k] == ' ' || s[k] == '"' || s[k] == '\'')) ++k;
      if (k < s.size() && (s[k] == '=' || s[k] == ':')) {
        ++k;
        while (k < s.size() && (s[k] == ' ' || s[k] == '"' || s[k] == '\'')) ++k;
        std::size_t run = token_run(s, k, "-._~+/=*");
        if (run > 0) {
          out.append(s.substr(i, k - i));
          out += redacted;
          i = k + run;
          continue;
        }
      }
    }
    out += s[i];
    ++i;
  }
  return out;
}

const provider_adapter& openai_adapter() noexcept {
  static const openai_adapter_impl instance;
  return instance;
}

std::unique_ptr<stream_decoder> make_openai_stream_decoder() {
  return std::make_unique<openai_stream_decoder>();
}

// The shared plumbing forwards to the implementations above, which stay in
// the anonymous namespace so the OpenAI kind's own code is unchanged.
namespace wire {

json parse_json(std::string_view text) { return adapters::parse_json(text); }

std::string dump(const json& j) { return adapters::dump(j); }

failure upstream_invalid(std::string message) {
  return adapters::upstream_invalid(std::move(message));
}

failure stream_failure(std::string message) { return stream_error(std::move(message)); }

result<url> resolve_origin(const provider_endpoint& ep) { return adapters::resolve_origin(ep); }

result<header_list> request_headers(const provider_endpoint& ep, bool stream,
                                    std::string_view auth_name, std::string_view auth_prefix,
                                    std::string_view stream_accept) {
  if (ep.api_key && !ep.api_key->empty() && !is_header_value(*ep.api_key))
    return bad_endpoint("provider '" + ep.name + "' has an api_key with line breaks");
  // build_headers writes the OpenAI credential; build without the key and
  // put this kind's own credential header where that one would be.
  provider_endpoint keyless = ep;
  keyless.api_key.reset();
  auto h = build_headers(keyless, stream);
  if (!h) return h;
  if (stream) set_header(*h, "Accept", std::string(stream_accept));
  if (ep.api_key && !ep.api_key->empty() && !auth_name.empty()) {
    bool overridden = false;
    for (const auto& extra : ep.extra_headers)
      if (extra.name.size() == auth_name.size() && starts_with_ci(extra.name, 0, auth_name))
        overridden = true;
    if (!overridden) {
      auto pos = h->size() < 2 ? h->end() : h->begin() + 2;
      h->insert(pos, header{std::string(auth_name), std::string(auth_prefix) + *ep.api_key});
    }
  }
  return h;
}

error_info error_info_of(const json& doc) {
  auto info = adapters::error_info_of(doc);
  return error_info{std::move(info.message), std::move(info.code), std::move(info.param)};
}

std::optional<std::string> retry_after_of(const header_list& headers) {
  return sane_retry_after(headers);
}

} // namespace wire

} // namespace oag::adapters
