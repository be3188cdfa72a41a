#include "native_common.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>

#include "oag/adapters/embeddings_format.hpp"
#include "oag/adapters/openai_adapter.hpp"

namespace oag::adapters::native {

using nlohmann::json;

failure bad_request(std::string message, std::string param) {
  failure f = make_failure(errc::invalid_request, std::move(message), std::move(param));
  f.http_status = 400;
  return f;
}

std::string str(const json& obj, const char* key, std::string_view fallback) {
  if (obj.is_object()) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_string()) return it->get<std::string>();
  }
  return std::string(fallback);
}

std::string text_of(const json& content, std::string_view separator) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (!content.is_array()) return out;
  bool first = true;
  for (const auto& part : content) {
    if (!part.is_object()) continue;
    auto t = part.find("text");
    if (t == part.end() || !t->is_string()) continue;
    if (!first) out.append(separator);
    out += t->get_ref<const std::string&>();
    first = false;
  }
  return out;
}

std::optional<data_url> parse_data_url(std::string_view url) {
  constexpr std::string_view scheme = "data:";
  if (url.size() < scheme.size() || url.compare(0, scheme.size(), scheme) != 0)
    return std::nullopt;
  url.remove_prefix(scheme.size());
  const auto comma = url.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view meta = url.substr(0, comma);
  constexpr std::string_view b64 = ";base64";
  if (meta.size() < b64.size() || meta.compare(meta.size() - b64.size(), b64.size(), b64) != 0)
    return std::nullopt;
  meta.remove_suffix(b64.size());
  // Parameters such as ";charset=..." may sit between the type and ";base64".
  meta = meta.substr(0, meta.find(';'));
  data_url out;
  out.mime_type = meta.empty() ? "application/octet-stream" : std::string(meta);
  out.data = std::string(url.substr(comma + 1));
  if (out.data.empty()) return std::nullopt;
  return out;
}

std::string mime_type_of_name(std::string_view name) {
  name = name.substr(0, name.find_first_of("?#"));
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {};
  std::string ext;
  for (char c : name.substr(dot + 1))
    ext += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  static const std::pair<const char*, const char*> table[] = {
      {"png", "image/png"},   {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},   {"webp", "image/webp"},     {"heic", "image/heic"},
      {"pdf", "application/pdf"}, {"txt", "text/plain"},  {"mp3", "audio/mp3"},
      {"wav", "audio/wav"},   {"mp4", "video/mp4"},
  };
  for (const auto& [e, mime] : table)
    if (ext == e) return mime;
  return {};
}

std::optional<std::int64_t> max_output_of(const json& body) {
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    auto it = body.find(key);
    if (it != body.end() && it->is_number_integer()) return it->get<std::int64_t>();
  }
  return std::nullopt;
}

json stop_list(const json& body) {
  json out = json::array();
  auto it = body.find("stop");
  if (it == body.end()) return out;
  if (it->is_string()) {
    out.push_back(*it);
  } else if (it->is_array()) {
    for (const auto& s : *it)
      if (s.is_string()) out.push_back(s);
  }
  return out;
}

json arguments_object(const json& arguments) {
  if (arguments.is_object()) return arguments;
  if (!arguments.is_string()) return arguments.is_null() ? json::object() : json{{"value", arguments}};
  const auto& text = arguments.get_ref<const std::string&>();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  json parsed = wire::parse_json(text);
  if (parsed.is_object()) return parsed;
  if (parsed.is_discarded()) return json{{"value", text}};
  return json{{"value", std::move(parsed)}};
}

json usage_json(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
                std::int64_t reasoning) {
  if (cached > prompt) cached = prompt;
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}},
              {"completion_tokens_details", {{"reasoning_tokens", reasoning}}}};
}

std::int64_t count_field(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end()) return 0;
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? 0
               : static_cast<std::int64_t>(u);
  }
  if (it->is_number_integer()) return std::max<std::int64_t>(0, it->get<std::int64_t>());
  return 0;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_completion_id() {
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  static const char* hex = "0123456789abcdef";
  std::string out = "chatcmpl-oag";
  std::uint64_t seed = static_cast<std::uint64_t>(now_seconds()) * 1000003ULL + n;
  for (int i = 0; i < 16; ++i, seed >>= 4) out += hex[seed & 0xF];
  return out;
}

std::string tool_call_id(std::size_t n) { return "call_" + std::to_string(n); }

std::string encode_path_segment(std::string_view segment) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
  }
  return out;
}

chunk_builder::chunk_builder() : id_(new_completion_id()), created_(now_seconds()) {}

json chunk_builder::choice(std::size_t index, json delta, std::optional<std::string> finish) const {
  json c = {{"index", index},
            {"delta", std::move(delta)},
            {"logprobs", nullptr},
            {"finish_reason", finish ? json(*finish) : json(nullptr)}};
  return json{{"id", id_},
              {"object", "chat.completion.chunk"},
              {"created", created_},
              {"model", model_},
              {"choices", json::array({std::move(c)})}};
}

json chunk_builder::usage(json usage) const {
  return json{{"id", id_},
              {"object", "chat.completion.chunk"},
              {"created", created_},
              {"model", model_},
              {"choices", json::array()},
              {"usage", std::move(usage)}};
}

void push_chunk(std::vector<stream_event>& out, json chunk) {
  stream_event e;
  e.what = stream_event::type::chunk;
  e.data = std::move(chunk);
  out.push_back(std::move(e));
}

void push_error(std::vector<stream_event>& out, std::string message) {
  stream_event e;
  e.what = stream_event::type::error;
  e.error = wire::stream_failure(std::move(message));
  out.push_back(std::move(e));
}

void push_done(std::vector<stream_event>& out) {
  stream_event e;
  e.what = stream_event::type::done;
  out.push_back(std::move(e));
}

failure status_failure(int status, const header_list& headers, std::optional<std::string> message) {
  const std::string generic = "upstream returned HTTP " + std::to_string(status);
  failure f;
  f.retry_after = wire::retry_after_of(headers);
  if (status == 429) {
    f.code = errc::rate_limited;
    f.http_status = 429;
    f.message = message ? *message : "upstream rate limit reached (HTTP 429)";
  } else if (status == 401 || status == 403) {
    // The client's OAG key was fine; OAG's provider credential failed, which
    // only an operator can fix.
    f.code = errc::upstream_error;
    f.http_status = 502;
    f.message = "the provider rejected OAG's credentials (HTTP " + std::to_string(status) +
                "); your OAG API key is fine, the provider's api_key must be fixed by an "
                "operator" +
                (message ? ". Provider said: " + *message : std::string());
  } else if (status == 404) {
    // Both providers answer 404 for an unknown model on the chat routes.
    f.code = errc::model_not_found;
    f.http_status = 404;
    f.message = message ? *message : generic;
  } else if (status == 400 || status == 422) {
    f.code = errc::invalid_request;
    f.http_status = status;
    f.message = message ? *message : generic;
  } else if (status == 413) {
    f.code = errc::payload_too_large;
    f.http_status = 413;
    f.message = message ? *message : generic;
  } else if (status == 503) {
    f.code = errc::unavailable;
    f.http_status = 503;
    f.message = generic + (message ? ": " + *message : std::string());
  } else if (status == 504 || status == 408) {
    f.code = errc::upstream_timeout;
    f.http_status = 504;
    f.message = generic + (message ? ": " + *message : std::string());
  } else {
    f.code = errc::upstream_error;
    f.http_status = 502;
    f.message = generic + (message ? ": " + *message : std::string());
  }
  return f;
}

std::optional<failure> reported_error(const json& doc) {
  if (!doc.is_object() || !doc.contains("error") || doc["error"].is_null()) return std::nullopt;
  auto info = wire::error_info_of(doc);
  return wire::upstream_invalid(info.message ? "upstream reported an error: " + *info.message
                                             : "upstream sent an invalid response");
}

result<outbound_request> post_request(const json& payload, const std::string& target, bool stream,
                                      const provider_endpoint& ep, std::string_view default_base,
                                      std::string_view auth_name, std::string_view auth_prefix,
                                      std::string_view stream_accept) {
  provider_endpoint resolved = ep;
  if (resolved.base_url.empty()) resolved.base_url = std::string(default_base);
  auto origin = wire::resolve_origin(resolved);
  if (!origin) return origin.error();
  auto headers = wire::request_headers(resolved, stream, auth_name, auth_prefix, stream_accept);
  if (!headers) return headers.error();
  outbound_request req;
  req.method = "POST";
  req.target = origin->path + target;
  req.origin = std::move(origin).value();
  req.headers = std::move(headers).value();
  req.body = wire::dump(payload);
  req.stream = stream;
  return req;
}

json embeddings_list(const json& vectors) {
  json data = json::array();
  std::size_t i = 0;
  for (const auto& v : vectors)
    data.push_back({{"object", "embedding"}, {"index", i++}, {"embedding", v}});
  return json{{"object", "list"}, {"data", std::move(data)}};
}

} // namespace oag::adapters::native

namespace oag::adapters {

namespace {

std::string base64_of(const std::string& bytes) {
  static const char* alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

} // namespace

void apply_encoding_format(const nlohmann::json& request, nlohmann::json& response) {
  if (!request.is_object() || !response.is_object()) return;
  auto ef = request.find("encoding_format");
  if (ef == request.end() || !ef->is_string() || *ef != "base64") return;
  auto data = response.find("data");
  if (data == response.end() || !data->is_array()) return;
  for (auto& item : *data) {
    if (!item.is_object()) continue;
    auto emb = item.find("embedding");
    if (emb == item.end() || !emb->is_array()) continue;  // already encoded upstream
    std::string bytes;
    bytes.reserve(emb->size() * 4);
    bool numeric = true;
    for (const auto& x : *emb) {
      if (!x.is_number()) {
        numeric = false;
        break;
      }
      const float f = static_cast<float>(x.get<double>());
      std::uint32_t bits = 0;
      std::memcpy(&bits, &f, sizeof bits);
      // OpenAI's base64 embeddings are little-endian float32, whatever the host.
      for (int b = 0; b < 4; ++b) bytes += static_cast<char>((bits >> (8 * b)) & 0xFF);
    }
    if (numeric) *emb = base64_of(bytes);
  }
}

} // namespace oag::adapters
