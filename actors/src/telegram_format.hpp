#pragma once
// The Telegram Bot API as OAG uses it for approvals, as pure functions:
// the JSON bodies of sendMessage (with the Approve / Reject inline
// keyboard), answerCallbackQuery and editMessageText, the method URL, and
// the parsing of the Update a webhook delivers and of the Bot API's
// envelope. The HTTP exchange itself is the caller's (tool_http on the io
// threads). WIRE.md §9.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::actors::telegram {

/// The default Bot API base URL (the config key `telegram_api_base` replaces it).
inline constexpr std::string_view default_api_base = "https://api.telegram.org";

/// "<base>/bot<token>/<method>" (a trailing '/' of the base is dropped).
std::string method_url(std::string_view api_base, std::string_view bot_token, std::string_view method);

/// A bot token looks like "<digits>:<at least 30 of [A-Za-z0-9_-]>".
bool is_bot_token(std::string_view token) noexcept;

/// What an approval request shows.
struct approval_view {
  std::string approval_id;
  std::string agent_name;   ///< or the agent id
  std::string tool;
  std::string arguments;    ///< the tool call's JSON arguments (shown pretty, truncated)
  std::int64_t expires_at = 0; ///< unix seconds
  std::string approve_data;    ///< callback_data of the Approve button (≤ 64 bytes)
  std::string reject_data;     ///< callback_data of the Reject button
};

/// The sendMessage body: {"chat_id", "text", "reply_markup":{"inline_keyboard":[[Approve, Reject]]}}.
/// Plain text (no parse_mode, so nothing needs escaping), at most 4096
/// characters (the arguments are cut with "…" to fit).
nlohmann::json approval_message(const nlohmann::json& chat_id, const approval_view& view);

/// The editMessageText body after a decision: same text plus a line saying
/// who decided what ("✅ Approved by Ann", "❌ Rejected by …", "⌛ Expired"),
/// and no keyboard.
nlohmann::json decided_message(const nlohmann::json& chat_id, std::int64_t message_id, const approval_view& view,
                               std::string_view decision, std::string_view decided_by);

/// The answerCallbackQuery body: {"callback_query_id", "text"} (text ≤ 200 characters).
nlohmann::json answer_callback(std::string_view callback_query_id, std::string_view text);

/// A callback query out of an Update.
struct callback_query {
  std::int64_t update_id = 0;
  std::string id;                    ///< callback_query.id
  std::string data;                  ///< callback_query.data (empty when absent)
  std::int64_t from_id = 0;          ///< callback_query.from.id
  std::string from_name;             ///< "@username" or "first_name last_name"
  std::optional<nlohmann::json> chat_id; ///< callback_query.message.chat.id, when the message is there
  std::optional<std::int64_t> message_id;
};

/// Parses a webhook body. nullopt for a valid Update that is not a callback
/// query (a message, …: acknowledged and ignored); errc::invalid_request
/// for a body that is not an Update (not JSON, no integer update_id,
/// callback_query without a string id).
result<std::optional<callback_query>> parse_update(std::string_view body);

/// The Bot API's answer: {"ok":true,"result":…} → result; {"ok":false,
/// "error_code","description"} or anything else → errc::upstream_error with
/// the description (never the token).
result<nlohmann::json> parse_reply(int http_status, std::string_view body);

} // namespace oag::actors::telegram
