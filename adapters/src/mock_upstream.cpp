#include "oag/adapters/mock_upstream.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "native_common.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::adapters {
namespace {

using json = nlohmann::json;
/// Responses keep OpenAI's key order ("id" first), as SDK users see it.
using ojson = nlohmann::ordered_json;

constexpr std::string_view error_prefix = "#mock:error=";
constexpr std::string_view tool_prefix = "#mock:tool=";
constexpr std::int64_t default_dimensions = 8;
constexpr std::int64_t max_dimensions = 3072;

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex16(std::uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 0xf];
  return out;
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::int64_t count_words(std::string_view s) noexcept {
  std::int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

/// Splits text into stream pieces, one per word, each carrying the
/// whitespace before it (trailing whitespace joins the last piece), so the
/// pieces concatenate back to exactly the text.
std::vector<std::string> word_pieces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && is_space(s[i])) ++i;
    if (i == s.size()) {
      if (out.empty()) out.emplace_back(s.substr(start));
      else out.back().append(s.substr(start));
      break;
    }
    while (i < s.size() && !is_space(s[i])) ++i;
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

/// Splits tool arguments into at least two pieces (when there are two or
/// more characters), cutting only on UTF-8 character boundaries so each
/// piece is valid JSON string content on its own.
std::vector<std::string> argument_pieces(std::string_view s) {
  std::vector<std::string> out;
  const std::size_t step = s.size() >= 16 ? 8 : std::max<std::size_t>(1, s.size() / 2);
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t cut = std::min(s.size(), pos + step);
    while (cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) ++cut;
    out.emplace_back(s.substr(pos, cut - pos));
    pos = cut;
  }
  return out;
}

/// The text of a message's content: a string, or its text parts joined by
/// newlines (other parts carry no text).
using native::text_of;

std::string role_of(const json& msg) {
  if (!msg.is_object()) return {};
  auto r = msg.find("role");
  return (r != msg.end() && r->is_string()) ? r->get<std::string>() : std::string();
}

mock_response json_answer(int status, const ojson& body, header_list extra = {}) {
  mock_response r;
  r.status = status;
  r.headers.push_back({"content-type", "application/json"});
  for (auto& h : extra) r.headers.push_back(std::move(h));
  r.body = dump(body);
  return r;
}

mock_response error_answer(int status, std::string message,
                           std::optional<std::string> param = std::nullopt,
                           std::optional<std::string> code_override = std::nullopt) {
  std::string type = "invalid_request_error";
  std::optional<std::string> code;
  header_list extra;
  if (status == 401) code = "invalid_api_key";
  else if (status == 403) type = "permission_error";
  else if (status == 404) code = "model_not_found";
  else if (status == 405) code = "method_not_allowed";
  else if (status == 429) {
    type = "requests";
    code = "rate_limit_exceeded";
    extra.push_back({"retry-after", "1"});
  } else if (status >= 500) type = "server_error";
  if (code_override) code = std::move(code_override);
  ojson err;
  err["message"] = std::move(message);
  err["type"] = type;
  err["param"] = param ? ojson(*param) : ojson(nullptr);
  err["code"] = code ? ojson(*code) : ojson(nullptr);
  ojson body;
  body["error"] = std::move(err);
  return json_answer(status, body, std::move(extra));
}

struct tool_call {
  std::string name;
  std::string arguments;
};

struct directives {
  std::optional<int> error_status;
  std::vector<tool_call> tools;
  std::optional<std::string> invalid;  ///< why a directive could not be read
};

/// End (exclusive) of the JSON object starting at `open`, honouring strings
/// and escapes; npos when unbalanced.
std::size_t object_end(std::string_view s, std::size_t open) noexcept {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

directives parse_directives(std::string_view text) {
  directives d;
  for (std::size_t pos = text.find("#mock:"); pos != std::string_view::npos;
       pos = text.find("#mock:", pos + 1)) {
    std::string_view rest = text.substr(pos);
    if (rest.substr(0, error_prefix.size()) == error_prefix) {
      std::size_t i = error_prefix.size();
      int status = 0;
      std::size_t digits = 0;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && digits < 4) {
        status = status * 10 + (rest[i] - '0');
        ++i;
        ++digits;
      }
      if (digits != 3 || status < 400 || status > 599) {
        d.invalid = "#mock:error needs an HTTP status between 400 and 599";
        return d;
      }
      if (!d.error_status) d.error_status = status;
    } else if (rest.substr(0, tool_prefix.size()) == tool_prefix) {
      std::size_t i = tool_prefix.size();
      std::size_t name_start = i;
      while (i < rest.size() && is_name_char(rest[i])) ++i;
      tool_call call;
      call.name = std::string(rest.substr(name_start, i - name_start));
      if (call.name.empty() || call.name.size() > 64) {
        d.invalid = "#mock:tool needs a function name ([A-Za-z0-9_-], at most 64)";
        return d;
      }
      call.arguments = "{}";
      if (i < rest.size() && rest[i] == ':') {
        ++i;
        if (i >= rest.size() || rest[i] != '{') {
          d.invalid = "#mock:tool=" + call.name + ": must be followed by a JSON object";
          return d;
        }
        std::size_t end = object_end(rest, i);
        std::string_view args = end == std::string_view::npos ? rest.substr(i)
                                                               : rest.substr(i, end - i);
        json parsed = json::parse(args.begin(), args.end(), nullptr, false);
        if (end == std::string_view::npos || parsed.is_discarded() || !parsed.is_object()) {
          d.invalid = "#mock:tool=" + call.name + ": the arguments are not a valid JSON object";
          return d;
        }
        call.arguments = std::string(args);
      }
      d.tools.push_back(std::move(call));
    }
  }
  return d;
}

std::optional<std::int64_t> positive_int(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_number_integer()) return std::nullopt;
  auto v = it->get<std::int64_t>();
  return v > 0 ? std::optional<std::int64_t>(v) : std::nullopt;
}

ojson usage_json(std::int64_t prompt, std::int64_t completion) {
  ojson u;
  u["prompt_tokens"] = prompt;
  u["completion_tokens"] = completion;
  u["total_tokens"] = prompt + completion;
  u["prompt_tokens_details"] = {{"cached_tokens", 0}, {"audio_tokens", 0}};
  u["completion_tokens_details"] = {{"reasoning_tokens", 0},
                                    {"audio_tokens", 0},
                                    {"accepted_prediction_tokens", 0},
                                    {"rejected_prediction_tokens", 0}};
  return u;
}

/// What every choice of one mock answer says (all `n` choices are equal:
/// the mock is deterministic).
struct reply {
  std::optional<std::string> content;  ///< nullopt when tools are called
  std::vector<tool_call> tools;
  std::string finish_reason;
  std::int64_t completion_tokens = 0;  ///< per choice
};

mock_response answer_chat(const json& body, bool stream_requested) {
  auto msgs_it = body.find("messages");
  if (msgs_it == body.end() || !msgs_it->is_array() || msgs_it->empty())
    return error_answer(400, "'messages' must be a non-empty array", std::string("messages"));
  const json& messages = *msgs_it;
  std::string model = "mock";
  if (auto m = body.find("model"); m != body.end() && m->is_string()) model = m->get<std::string>();

  std::int64_t n = 1;
  if (auto it = body.find("n"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 128)
      return error_answer(400, "'n' must be an integer between 1 and 128", std::string("n"));
    n = it->get<std::int64_t>();
  }

  std::int64_t prompt_tokens = 0;
  for (const auto& m : messages) {
    prompt_tokens += 3;
    if (!m.is_object()) continue;
    if (auto c = m.find("content"); c != m.end()) prompt_tokens += count_words(text_of(*c));
    if (auto tc = m.find("tool_calls"); tc != m.end() && tc->is_array()) {
      for (const auto& call : *tc) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
          continue;
        const auto& fn = call["function"];
        if (auto a = fn.find("arguments"); a != fn.end() && a->is_string())
          prompt_tokens += count_words(a->get<std::string>());
      }
    }
  }

  // A conversation ending in tool results is the agent's next turn: reply
  // with those results instead of re-running the user's directives (which
  // would loop an agent forever).
  std::string text;
  directives d;
  if (role_of(messages.back()) == "tool") {
    std::size_t first = messages.size();
    while (first > 0 && role_of(messages[first - 1]) == "tool") --first;
    for (std::size_t i = first; i < messages.size(); ++i) {
      if (i > first) text += '\n';
      if (auto c = messages[i].find("content"); c != messages[i].end()) text += text_of(*c);
    }
  } else {
    for (std::size_t i = messages.size(); i > 0; --i) {
      if (role_of(messages[i - 1]) == "user") {
        if (auto c = messages[i - 1].find("content"); c != messages[i - 1].end())
          text = text_of(*c);
        break;
      }
    }
    d = parse_directives(text);
    if (d.invalid) return error_answer(400, *d.invalid, std::string("messages"));
    if (d.error_status)
      return error_answer(*d.error_status,
                          "mock error requested by #mock:error=" + std::to_string(*d.error_status));
  }

  reply r;
  if (!d.tools.empty()) {
    r.tools = d.tools;
    r.finish_reason = "tool_calls";
    for (const auto& t : r.tools) r.completion_tokens += count_words(t.arguments);
  } else {
    r.finish_reason = "stop";
    // Stop sequences cut at the earliest match of any of them, as OpenAI does.
    std::vector<std::string> stops;
    if (auto s = body.find("stop"); s != body.end()) {
      if (s->is_string()) stops.push_back(s->get<std::string>());
      else if (s->is_array())
        for (const auto& e : *s)
          if (e.is_string()) stops.push_back(e.get<std::string>());
    }
    std::size_t cut = std::string::npos;
    for (const auto& stop : stops) {
      if (stop.empty()) continue;
      cut = std::min(cut, text.find(stop));
    }
    if (cut != std::string::npos) text.resize(cut);
    auto limit = positive_int(body, "max_completion_tokens");
    if (!limit) limit = positive_int(body, "max_tokens");
    if (limit && count_words(text) > *limit) {
      auto pieces = word_pieces(text);
      std::string kept;
      for (std::int64_t i = 0; i < *limit; ++i) kept += pieces[static_cast<std::size_t>(i)];
      // The last kept piece may carry trailing whitespace only if it was the
      // final piece, which cannot be the case when truncating.
      text = std::move(kept);
      r.finish_reason = "length";
    }
    r.completion_tokens = count_words(text);
    r.content = text;
  }

  const std::string id =
      "chatcmpl-mock-" + hex16(fnv1a(model + "\n" + messages.dump(-1, ' ', false,
                                                                  json::error_handler_t::replace)));
  const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
  const std::int64_t completion_tokens = r.completion_tokens * n;

  auto call_id = [](std::int64_t choice, std::size_t i, std::size_t per_choice) {
    return "call_" + std::to_string(static_cast<std::size_t>(choice) * per_choice + i + 1);
  };

  if (!stream_requested) {
    ojson choices = ojson::array();
    for (std::int64_t c = 0; c < n; ++c) {
      ojson msg;
      msg["role"] = "assistant";
      msg["content"] = r.content ? ojson(*r.content) : ojson(nullptr);
      msg["refusal"] = nullptr;
      msg["annotations"] = ojson::array();
      if (!r.tools.empty()) {
        ojson calls = ojson::array();
        for (std::size_t i = 0; i < r.tools.size(); ++i) {
          ojson call;
          call["id"] = call_id(c, i, r.tools.size());
          call["type"] = "function";
          call["function"] = {{"name", r.tools[i].name}, {"arguments", r.tools[i].arguments}};
          calls.push_back(std::move(call));
        }
        msg["tool_calls"] = std::move(calls);
      }
      ojson choice;
      choice["index"] = c;
      choice["message"] = std::move(msg);
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = r.finish_reason;
      choices.push_back(std::move(choice));
    }
    ojson out;
    out["id"] = id;
    out["object"] = "chat.completion";
    out["created"] = created;
    out["model"] = model;
    out["system_fingerprint"] = "fp_mock";
    out["choices"] = std::move(choices);
    out["usage"] = usage_json(prompt_tokens, completion_tokens);
    return json_answer(200, out);
  }

  bool include_usage = false;
  if (auto so = body.find("stream_options"); so != body.end() && so->is_object()) {
    auto iu = so->find("include_usage");
    include_usage = iu != so->end() && iu->is_boolean() && iu->get<bool>();
  }
  std::string sse_body;
  auto emit = [&](std::int64_t index, ojson delta, const std::optional<std::string>& finish) {
    ojson chunk;
    chunk["id"] = id;
    chunk["object"] = "chat.completion.chunk";
    chunk["created"] = created;
    chunk["model"] = model;
    chunk["system_fingerprint"] = "fp_mock";
    ojson choice;
    choice["index"] = index;
    choice["delta"] = std::move(delta);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish ? ojson(*finish) : ojson(nullptr);
    chunk["choices"] = ojson::array({std::move(choice)});
    if (include_usage) chunk["usage"] = nullptr;
    sse_body += sse::frame_data(dump(chunk));
  };
  for (std::int64_t c = 0; c < n; ++c) {
    if (r.content) {
      emit(c, ojson{{"role", "assistant"}, {"content", ""}}, std::nullopt);
      for (auto& piece : word_pieces(*r.content)) emit(c, ojson{{"content", piece}}, std::nullopt);
    } else {
      emit(c, ojson{{"role", "assistant"}, {"content", nullptr}}, std::nullopt);
      for (std::size_t i = 0; i < r.tools.size(); ++i) {
        ojson first;
        first["index"] = i;
        first["id"] = call_id(c, i, r.tools.size());
        first["type"] = "function";
        first["function"] = {{"name", r.tools[i].name}, {"arguments", ""}};
        emit(c, ojson{{"tool_calls", ojson::array({std::move(first)})}}, std::nullopt);
        for (auto& piece : argument_pieces(r.tools[i].arguments)) {
          ojson frag;
          frag["index"] = i;
          frag["function"] = {{"arguments", piece}};
          emit(c, ojson{{"tool_calls", ojson::array({std::move(frag)})}}, std::nullopt);
        }
      }
    }
    emit(c, ojson::object(), r.finish_reason);
  }
  if (include_usage) {
    ojson chunk;
    chunk["id"] = id;
    chunk["object"] = "chat.completion.chunk";
    chunk["created"] = created;
    chunk["model"] = model;
    chunk["system_fingerprint"] = "fp_mock";
    chunk["choices"] = ojson::array();
    chunk["usage"] = usage_json(prompt_tokens, completion_tokens);
    sse_body += sse::frame_data(dump(chunk));
  }
  sse_body += sse::done_frame;
  mock_response out;
  out.status = 200;
  out.headers.push_back({"content-type", "text/event-stream"});
  out.headers.push_back({"cache-control", "no-cache"});
  out.body = std::move(sse_body);
  return out;
}

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A unit-length vector derived only from `key`.
std::vector<float> embedding_of(std::string_view key, std::int64_t dims) {
  std::uint64_t state = fnv1a(key);
  std::vector<double> v(static_cast<std::size_t>(dims));
  double norm = 0;
  for (auto& x : v) {
    x = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    norm += x * x;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = norm > 0 ? static_cast<float>(v[i] / norm) : (i == 0 ? 1.0f : 0.0f);
  return out;
}

std::string base64_floats(const std::vector<float>& v) {
  static const char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  bytes.reserve(v.size() * 4);
  for (float f : v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) bytes += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t chunk = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<unsigned char>(bytes[i + 2]);
    out += table[(chunk >> 18) & 63];
    out += table[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[chunk & 63] : '=';
  }
  return out;
}

mock_response answer_embeddings(const json& body) {
  std::string model = "mock";
  if (auto m = body.find("model"); m != body.end() && m->is_string()) model = m->get<std::string>();
  auto in = body.find("input");
  if (in == body.end()) return error_answer(400, "'input' is required", std::string("input"));

  // Each input becomes (hash key, token count).
  std::vector<std::pair<std::string, std::int64_t>> inputs;
  auto token_key = [](const json& arr) -> std::optional<std::string> {
    std::string key = "tokens:";
    for (const auto& t : arr) {
      if (!t.is_number_integer()) return std::nullopt;
      key += std::to_string(t.get<std::int64_t>());
      key += ',';
    }
    return key;
  };
  if (in->is_string()) {
    auto s = in->get<std::string>();
    inputs.emplace_back(s, count_words(s));
  } else if (in->is_array() && !in->empty()) {
    if ((*in)[0].is_number_integer()) {
      auto key = token_key(*in);
      if (!key) return error_answer(400, "'input' mixes token ids and other values",
                                    std::string("input"));
      inputs.emplace_back(*key, static_cast<std::int64_t>(in->size()));
    } else {
      for (const auto& e : *in) {
        if (e.is_string()) {
          auto s = e.get<std::string>();
          inputs.emplace_back(s, count_words(s));
        } else if (e.is_array()) {
          auto key = token_key(e);
          if (!key) return error_answer(400, "'input' has an invalid token array",
                                        std::string("input"));
          inputs.emplace_back(*key, static_cast<std::int64_t>(e.size()));
        } else {
          return error_answer(400, "'input' must be strings or token arrays",
                              std::string("input"));
        }
      }
    }
  } else {
    return error_answer(400, "'input' must be a string or a non-empty array",
                        std::string("input"));
  }
  for (const auto& [key, words] : inputs) {
    (void)words;
    auto d = parse_directives(key);
    if (d.invalid) return error_answer(400, *d.invalid, std::string("input"));
    if (d.error_status)
      return error_answer(*d.error_status,
                          "mock error requested by #mock:error=" + std::to_string(*d.error_status));
  }

  std::int64_t dims = default_dimensions;
  if (auto it = body.find("dimensions"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
        it->get<std::int64_t>() > max_dimensions)
      return error_answer(400, "'dimensions' must be an integer between 1 and 3072",
                          std::string("dimensions"));
    dims = it->get<std::int64_t>();
  }
  bool b64 = false;
  if (auto it = body.find("encoding_format"); it != body.end() && !it->is_null()) {
    if (*it == "base64") b64 = true;
    else if (*it != "float")
      return error_answer(400, "'encoding_format' must be 'float' or 'base64'",
                          std::string("encoding_format"));
  }

  ojson data = ojson::array();
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tokens += inputs[i].second;
    auto vec = embedding_of(inputs[i].first, dims);
    ojson item;
    item["object"] = "embedding";
    item["index"] = i;
    if (b64) {
      item["embedding"] = base64_floats(vec);
    } else {
      ojson arr = ojson::array();
      for (float f : vec) arr.push_back(static_cast<double>(f));
      item["embedding"] = std::move(arr);
    }
    data.push_back(std::move(item));
  }
  ojson out;
  out["object"] = "list";
  out["data"] = std::move(data);
  out["model"] = model;
  out["usage"] = {{"prompt_tokens", tokens}, {"total_tokens", tokens}};
  return json_answer(200, out);
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

url mock_origin() {
  url u;
  u.scheme = "http";
  u.host = "mock";
  u.port = "0";
  u.path = "/v1";
  return u;
}

bool is_mock_origin(const url& origin) noexcept {
  return origin.scheme == "http" && origin.host == "mock" && origin.port == "0";
}

mock_response mock_answer(const outbound_request& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  const bool chat = ends_with(path, "/chat/completions");
  const bool embeddings = ends_with(path, "/embeddings");
  if (!chat && !embeddings)
    return error_answer(404, "Unknown request URL: " + request.method + " " +
                                 std::string(path) + ". Please check the URL for typos.",
                        std::nullopt, std::string("unknown_url"));
  if (request.method != "POST")
    return error_answer(405, "Method " + request.method + " is not allowed on " +
                                 std::string(path) + " (use POST).");
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return error_answer(400, "We could not parse the JSON body of your request.");
  try {
    if (embeddings) return answer_embeddings(body);
    bool stream = request.stream;
    if (auto s = body.find("stream"); s != body.end() && s->is_boolean()) stream = s->get<bool>();
    return answer_chat(body, stream);
  } catch (const std::exception& e) {
    // A json type error on some unexpected shape must not escape into the
    // caller's io thread; the mock answers like a server would.
    return error_answer(500, std::string("mock upstream failed: ") + e.what());
  }
}

} // namespace oag::adapters
