#include "telegram_format.hpp"

#include <algorithm>
#include <cstdio>

namespace oag::actors::telegram {

using nlohmann::json;

namespace {

/// Telegram's limits (WIRE.md §9), counted in UTF-16 code units as the Bot
/// API does (so a text within them is within them in characters too).
constexpr std::size_t max_text = 4096;
constexpr std::size_t max_answer = 200;
constexpr std::size_t max_description = 500;

/// Length of the UTF-8 sequence starting at s[i] when it is valid, else 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  std::size_t n;
  std::uint32_t min;
  if ((b & 0xE0) == 0xC0) n = 2, min = 0x80;
  else if ((b & 0xF0) == 0xE0) n = 3, min = 0x800;
  else if ((b & 0xF8) == 0xF0) n = 4, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  std::uint32_t cp = b & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

/// `s` with every invalid UTF-8 byte replaced by U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// UTF-16 code units of a valid UTF-8 text.
std::size_t units(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = std::max<std::size_t>(1, utf8_sequence(s, i));
    n += len == 4 ? 2 : 1;
    i += len;
  }
  return n;
}

/// The longest prefix of a valid UTF-8 text within `max` UTF-16 units,
/// cut between characters.
std::string_view cut(std::string_view s, std::size_t max) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t len = std::max<std::size_t>(1, utf8_sequence(s, i));
    const std::size_t w = len == 4 ? 2 : 1;
    if (n + w > max) break;
    n += w;
    i += len;
  }
  return s.substr(0, i);
}

/// Unix seconds as "2024-01-31 12:00 UTC".
std::string utc_time(std::int64_t t) {
  std::int64_t days = t / 86400;
  std::int64_t secs = t % 86400;
  if (secs < 0) secs += 86400, --days;
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld UTC", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs % 3600 / 60));
  return buf;
}

/// The approval's text, with `suffix` after it, within max_text: the
/// arguments are cut (with "…") to make room.
std::string approval_text(const approval_view& v, std::string_view suffix) {
  std::string head = "\xF0\x9F\x94\x90 Approval needed\n";
  head += "Agent: " + valid_utf8(v.agent_name) + "\n";
  head += "Tool: " + valid_utf8(v.tool) + "\n";
  head += "Expires: " + utc_time(v.expires_at) + "\n";
  head += "Approval: " + valid_utf8(v.approval_id) + "\n";
  head += "Arguments:\n";
  std::string args;
  if (v.arguments.empty()) {
    args = "{}";
  } else {
    json j = json::parse(v.arguments, nullptr, false);
    args = j.is_discarded() ? valid_utf8(v.arguments) : j.dump(2, ' ', false, json::error_handler_t::replace);
  }
  const std::string tail = valid_utf8(suffix);
  const std::size_t fixed = units(head) + units(tail);
  const std::size_t room = fixed < max_text ? max_text - fixed : 0;
  if (units(args) > room) args = room > 0 ? std::string{cut(args, room - 1)} + "\xE2\x80\xA6" : std::string{};
  std::string text = head + args + tail;
  if (units(text) > max_text) text = std::string{cut(text, max_text - 1)} + "\xE2\x80\xA6";
  return text;
}

/// Blanks out anything shaped like a bot token ("<digits>:<30+ token chars>").
std::string redact_tokens(std::string s) {
  auto token_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] >= '0' && s[i] <= '9') {
      std::size_t j = i;
      while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
      if (j < s.size() && s[j] == ':') {
        std::size_t k = j + 1;
        while (k < s.size() && token_char(s[k])) ++k;
        if (k - j - 1 >= 30) {
          out += "<redacted>";
          i = k;
          continue;
        }
      }
      out.append(s, i, j - i);
      i = j;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

failure upstream(std::string message) { return make_failure(errc::upstream_error, std::move(message)); }

failure bad_update(std::string message) {
  return make_failure(errc::invalid_request, "Not a Telegram Update: " + std::move(message), std::string{"body"});
}

} // namespace

std::string method_url(std::string_view api_base, std::string_view bot_token, std::string_view method) {
  while (!api_base.empty() && api_base.back() == '/') api_base.remove_suffix(1);
  std::string url{api_base};
  url += "/bot";
  url += bot_token;
  url += '/';
  url += method;
  return url;
}

bool is_bot_token(std::string_view token) noexcept {
  const auto colon = token.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 20 || token.size() > 256) return false;
  for (std::size_t i = 0; i < colon; ++i)
    if (token[i] < '0' || token[i] > '9') return false;
  const auto rest = token.substr(colon + 1);
  if (rest.size() < 30) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

json approval_message(const json& chat_id, const approval_view& view) {
  return {{"chat_id", chat_id},
          {"text", approval_text(view, "")},
          {"reply_markup",
           {{"inline_keyboard",
             json::array({json::array({{{"text", "\xE2\x9C\x85 Approve"}, {"callback_data", view.approve_data}},
                                       {{"text", "\xE2\x9D\x8C Reject"}, {"callback_data", view.reject_data}}})})}}}};
}

json decided_message(const json& chat_id, std::int64_t message_id, const approval_view& view,
                     std::string_view decision, std::string_view decided_by) {
  std::string line;
  const std::string who = decided_by.empty() ? std::string{} : " by " + valid_utf8(decided_by);
  if (decision == "approved" || decision == "approve") line = "\xE2\x9C\x85 Approved" + who;
  else if (decision == "rejected" || decision == "reject") line = "\xE2\x9D\x8C Rejected" + who;
  else if (decision == "expired") line = "\xE2\x8C\x9B Expired";
  else line = valid_utf8(decision) + who;
  // Cap the decision line so the approval itself always shows.
  line = std::string{cut(line, 300)};
  return {{"chat_id", chat_id}, {"message_id", message_id}, {"text", approval_text(view, "\n\n" + line)}};
}

json answer_callback(std::string_view callback_query_id, std::string_view text) {
  std::string t = valid_utf8(text);
  return {{"callback_query_id", std::string{callback_query_id}}, {"text", std::string{cut(t, max_answer)}}};
}

result<std::optional<callback_query>> parse_update(std::string_view body) {
  json u = json::parse(body.begin(), body.end(), nullptr, false);
  if (u.is_discarded()) return bad_update("the body is not JSON");
  if (!u.is_object()) return bad_update("the body is not a JSON object");
  if (!u.contains("update_id") || !u["update_id"].is_number_integer())
    return bad_update("it has no integer update_id");
  auto it = u.find("callback_query");
  if (it == u.end() || it->is_null()) return std::optional<callback_query>{};
  const json& q = *it;
  if (!q.is_object()) return bad_update("callback_query is not an object");
  if (!q.contains("id") || !q["id"].is_string()) return bad_update("callback_query has no string id");
  callback_query out;
  out.update_id = u["update_id"].get<std::int64_t>();
  out.id = q["id"].get<std::string>();
  if (q.contains("data") && q["data"].is_string()) out.data = q["data"].get<std::string>();
  if (q.contains("from") && q["from"].is_object()) {
    const json& f = q["from"];
    if (f.contains("id") && f["id"].is_number_integer()) out.from_id = f["id"].get<std::int64_t>();
    if (f.contains("username") && f["username"].is_string() && !f["username"].get_ref<const std::string&>().empty()) {
      out.from_name = "@" + f["username"].get<std::string>();
    } else {
      std::string name;
      if (f.contains("first_name") && f["first_name"].is_string()) name = f["first_name"].get<std::string>();
      if (f.contains("last_name") && f["last_name"].is_string() && !f["last_name"].get_ref<const std::string&>().empty())
        name += (name.empty() ? "" : " ") + f["last_name"].get<std::string>();
      out.from_name = std::move(name);
    }
  }
  if (q.contains("message") && q["message"].is_object()) {
    const json& m = q["message"];
    if (m.contains("chat") && m["chat"].is_object() && m["chat"].contains("id") &&
        m["chat"]["id"].is_number_integer())
      out.chat_id = m["chat"]["id"];
    if (m.contains("message_id") && m["message_id"].is_number_integer())
      out.message_id = m["message_id"].get<std::int64_t>();
  }
  return std::optional<callback_query>{std::move(out)};
}

result<json> parse_reply(int http_status, std::string_view body) {
  json r = json::parse(body.begin(), body.end(), nullptr, false);
  if (r.is_discarded() || !r.is_object())
    return upstream("The Telegram Bot API answered HTTP " + std::to_string(http_status) + " without a JSON envelope");
  auto ok = r.find("ok");
  if (ok != r.end() && ok->is_boolean() && ok->get<bool>()) {
    auto res = r.find("result");
    return res == r.end() ? json(nullptr) : *res;
  }
  std::string message = "The Telegram Bot API refused the call";
  if (r.contains("error_code") && r["error_code"].is_number_integer())
    message += " (" + std::to_string(r["error_code"].get<std::int64_t>()) + ")";
  else
    message += " (HTTP " + std::to_string(http_status) + ")";
  if (r.contains("description") && r["description"].is_string()) {
    std::string d = redact_tokens(valid_utf8(r["description"].get<std::string>()));
    if (units(d) > max_description) d = std::string{cut(d, max_description)} + "\xE2\x80\xA6";
    message += ": " + d;
  }
  failure f = upstream(std::move(message));
  if (r.contains("parameters") && r["parameters"].is_object()) {
    const json& p = r["parameters"];
    if (p.contains("retry_after") && p["retry_after"].is_number_integer() && p["retry_after"].get<std::int64_t>() >= 0)
      f.retry_after = std::to_string(p["retry_after"].get<std::int64_t>());
  }
  return f;
}

} // namespace oag::actors::telegram
