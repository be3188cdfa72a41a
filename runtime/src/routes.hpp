#pragma once
/// Request classification and edge-side checks, as pure functions: which
/// route a method and path name, query decoding, bearer extraction, JSON
/// nesting limits, and body validation per route.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/actors/messages.hpp"
#include "oag/error.hpp"

namespace oag::runtime {

/// Who may call a route: a client (API key), the operator (admin token),
/// or anyone (hook deliveries: no key, the raw body is passed on verbatim
/// for the agents actor to verify its signature).
enum class audience { client, admin, hook };

/// A matched route.
struct route_match {
  actors::route_id route;
  audience who = audience::client;
  std::vector<std::string> params;
  bool has_body = false; ///< the route takes a body (JSON, or raw bytes for hook routes)
  const char* label = ""; ///< the path template, for metrics
};

/// An object id in a path (or a message naming one): 1 to 128 of
/// [A-Za-z0-9_.-].
bool valid_id_segment(std::string_view s) noexcept;

/// Matches a method and path; 404 for unknown paths, 405 for a known path
/// with the wrong method.
result<route_match> match_route(std::string_view method, std::string_view path);

/// The metrics label of a path ("/v1/chat/completions", "/admin/v1/companies/{id}/keys", …).
std::string route_label(std::string_view method, std::string_view path);

/// Decodes %XX escapes (and '+' as a space when asked); malformed escapes stay as they are.
std::string percent_decode(std::string_view text, bool plus_is_space);

/// Decodes "a=1&b=x%20y" (percent and '+'); the last value of a key wins.
std::map<std::string, std::string> parse_query(std::string_view query);

/// The token of "Authorization: Bearer <token>"; nullopt when absent or malformed.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// Rejects JSON nested deeper than `max_depth` before parsing (the parser
/// is recursive; a deep body must not exhaust the stack).
bool json_depth_ok(std::string_view body, std::size_t max_depth);

/// True for a hook id path segment: 1 to 128 of [A-Za-z0-9_-].
bool valid_hook_id(std::string_view s);

/// The request headers a hook route passes on (lower-case names, only
/// those present): x-oag-timestamp, x-oag-signature, x-oag-event-id,
/// x-telegram-bot-api-secret-token, content-type.
adapters::header_list hook_headers(const adapters::header_list& headers);

/// Parses and validates the body of a route; errors are OpenAI-shaped 400s.
/// Hook routes are never parsed (null: their bytes go in api.raw_body).
result<nlohmann::json> parse_body(const route_match& route, std::string_view body);

} // namespace oag::runtime
