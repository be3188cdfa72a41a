#include "routes.hpp"

#include "oag/adapters/anthropic_inbound.hpp"
#include "oag/adapters/validate.hpp"

namespace oag::runtime {

using actors::route_id;

bool valid_id_segment(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

namespace {

/// Splits "/a/b/c" into {"a","b","c"}; empty segments (double slashes) are kept
/// so that they never match a template.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path[0] != '/') return out;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  if (!out.empty() && out.back().empty()) out.pop_back(); // one trailing slash is fine
  return out;
}

failure not_found(std::string_view method, std::string_view path) {
  return make_failure(errc::not_found, "Unknown request URL: " + std::string{method} + " " +
                                           std::string{path} + ". Please check the URL and method.");
}

failure wrong_method(std::string_view method, std::string_view path) {
  return make_failure(errc::method_not_allowed,
                      "Method " + std::string{method} + " is not allowed on " + std::string{path} + ".");
}

/// The Assistants, Responses, conversations, tools and secrets routes
/// (seg[0] == "v1"); nullopt when the path is none of them.
template <class Pick>
std::optional<result<route_match>> match_assistants_route(const std::vector<std::string_view>& seg,
                                                          std::string_view method, std::string_view path,
                                                          route_match& m, Pick& pick) {
  const auto c = audience::client;
  const std::size_t n = seg.size();
  auto id_at = [&](std::size_t i) { return i < n && valid_id_segment(seg[i]); };
  auto param = [&](std::size_t i) { m.params.emplace_back(seg[i]); };
  auto unknown = [&]() -> std::optional<result<route_match>> { return result<route_match>(not_found(method, path)); };
  const auto top = seg[1];
  if (top == "assistants") {
    if (n == 2) return pick({{"POST", route_id::assistants_create}, {"GET", route_id::assistants_list}}, "/v1/assistants", c);
    if (n == 3 && id_at(2)) {
      param(2);
      return pick({{"GET", route_id::assistant_get}, {"POST", route_id::assistant_modify}, {"DELETE", route_id::assistant_delete}},
                  "/v1/assistants/{id}", c);
    }
    return unknown();
  }
  if (top == "threads") {
    if (n == 2) return pick({{"POST", route_id::threads_create}}, "/v1/threads", c);
    if (n == 3 && seg[2] == "runs") return pick({{"POST", route_id::thread_and_run_create}}, "/v1/threads/runs", c);
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3)
      return pick({{"GET", route_id::thread_get}, {"POST", route_id::thread_modify}, {"DELETE", route_id::thread_delete}},
                  "/v1/threads/{id}", c);
    if (seg[3] == "messages") {
      if (n == 4) return pick({{"POST", route_id::messages_create}, {"GET", route_id::messages_list}}, "/v1/threads/{id}/messages", c);
      if (n == 5 && id_at(4)) {
        param(4);
        return pick({{"GET", route_id::message_get}, {"POST", route_id::message_modify}, {"DELETE", route_id::message_delete}},
                    "/v1/threads/{id}/messages/{message_id}", c);
      }
      return unknown();
    }
    if (seg[3] == "runs") {
      if (n == 4) return pick({{"POST", route_id::runs_create}, {"GET", route_id::runs_list}}, "/v1/threads/{id}/runs", c);
      if (!id_at(4)) return unknown();
      param(4);
      if (n == 5)
        return pick({{"GET", route_id::run_get}, {"POST", route_id::run_modify}}, "/v1/threads/{id}/runs/{run_id}", c);
      if (n == 6 && seg[5] == "cancel")
        return pick({{"POST", route_id::run_cancel}}, "/v1/threads/{id}/runs/{run_id}/cancel", c);
      if (n == 6 && seg[5] == "submit_tool_outputs")
        return pick({{"POST", route_id::run_submit_tool_outputs}}, "/v1/threads/{id}/runs/{run_id}/submit_tool_outputs", c);
      if (n == 6 && seg[5] == "steps")
        return pick({{"GET", route_id::run_steps_list}}, "/v1/threads/{id}/runs/{run_id}/steps", c);
      if (n == 7 && seg[5] == "steps" && id_at(6)) {
        param(6);
        return pick({{"GET", route_id::run_step_get}}, "/v1/threads/{id}/runs/{run_id}/steps/{step_id}", c);
      }
    }
    return unknown();
  }
  if (top == "tools") {
    if (n == 2) return pick({{"POST", route_id::tools_create}, {"GET", route_id::tools_list}}, "/v1/tools", c);
    if (n == 3 && id_at(2)) {
      param(2);
      return pick({{"GET", route_id::tool_get}, {"POST", route_id::tool_modify}, {"DELETE", route_id::tool_delete}},
                  "/v1/tools/{id}", c);
    }
    return unknown();
  }
  if (top == "secrets") {
    if (n == 2) return pick({{"GET", route_id::secrets_list}}, "/v1/secrets", c);
    if (n == 3 && id_at(2)) {
      param(2);
      return pick({{"PUT", route_id::secret_put}, {"DELETE", route_id::secret_delete}}, "/v1/secrets/{name}", c);
    }
    return unknown();
  }
  if (top == "responses") {
    if (n == 2) return pick({{"POST", route_id::responses_create}}, "/v1/responses", c);
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3)
      return pick({{"GET", route_id::response_get}, {"DELETE", route_id::response_delete}}, "/v1/responses/{id}", c);
    if (n == 4 && seg[3] == "input_items")
      return pick({{"GET", route_id::response_input_items}}, "/v1/responses/{id}/input_items", c);
    return unknown();
  }
  if (top == "conversations") {
    if (n == 2) return pick({{"POST", route_id::conversations_create}}, "/v1/conversations", c);
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3)
      return pick({{"GET", route_id::conversation_get}, {"POST", route_id::conversation_modify},
                   {"DELETE", route_id::conversation_delete}},
                  "/v1/conversations/{id}", c);
    if (seg[3] != "items") return unknown();
    if (n == 4)
      return pick({{"GET", route_id::conversation_items_list}, {"POST", route_id::conversation_items_create}},
                  "/v1/conversations/{id}/items", c);
    if (n == 5 && id_at(4)) {
      param(4);
      return pick({{"GET", route_id::conversation_item_get}, {"DELETE", route_id::conversation_item_delete}},
                  "/v1/conversations/{id}/items/{item_id}", c);
    }
    return unknown();
  }
  return std::nullopt;
}

/// The autonomous-agents routes (seg[0] == "v1"): agents, agent runs,
/// approvals, topics, Telegram settings, spend; nullopt when the path is
/// none of them.
template <class Pick>
std::optional<result<route_match>> match_agents_route(const std::vector<std::string_view>& seg,
                                                      std::string_view method, std::string_view path,
                                                      route_match& m, Pick& pick) {
  const auto c = audience::client;
  const std::size_t n = seg.size();
  auto id_at = [&](std::size_t i) { return i < n && valid_id_segment(seg[i]); };
  auto param = [&](std::size_t i) { m.params.emplace_back(seg[i]); };
  auto unknown = [&]() -> std::optional<result<route_match>> { return result<route_match>(not_found(method, path)); };
  const auto top = seg[1];
  if (top == "agents") {
    if (n == 2) return pick({{"POST", route_id::agents_create}, {"GET", route_id::agents_list}}, "/v1/agents", c);
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3)
      return pick({{"GET", route_id::agent_get}, {"POST", route_id::agent_modify}, {"DELETE", route_id::agent_delete}},
                  "/v1/agents/{id}", c);
    if (n == 4 && seg[3] == "runs")
      return pick({{"GET", route_id::agent_runs_list}, {"POST", route_id::agent_fire}}, "/v1/agents/{id}/runs", c);
    return unknown();
  }
  if (top == "agent-runs") {
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3) return pick({{"GET", route_id::agent_run_get}}, "/v1/agent-runs/{id}", c);
    if (n == 4 && seg[3] == "log") return pick({{"GET", route_id::agent_run_log}}, "/v1/agent-runs/{id}/log", c);
    return unknown();
  }
  if (top == "approvals") {
    if (n == 2) return pick({{"GET", route_id::approvals_list}}, "/v1/approvals", c);
    if (!id_at(2)) return unknown();
    param(2);
    if (n == 3) return pick({{"GET", route_id::approval_get}}, "/v1/approvals/{id}", c);
    if (n == 4 && seg[3] == "approve")
      return pick({{"POST", route_id::approval_approve}}, "/v1/approvals/{id}/approve", c);
    if (n == 4 && seg[3] == "reject")
      return pick({{"POST", route_id::approval_reject}}, "/v1/approvals/{id}/reject", c);
    return unknown();
  }
  if (top == "topics") {
    // Topic names may hold dots (and anything percent-encoded): the agents
    // actor validates them; the edge only refuses an empty one.
    if (n != 4 || seg[3] != "events" || seg[2].empty()) return unknown();
    auto topic = percent_decode(seg[2], false);
    if (topic.empty()) return unknown();
    m.params.push_back(std::move(topic));
    return pick({{"POST", route_id::topic_publish}, {"GET", route_id::topic_events_list}},
                "/v1/topics/{topic}/events", c);
  }
  if (top == "telegram") {
    if (n == 2)
      return pick({{"PUT", route_id::telegram_put}, {"GET", route_id::telegram_get}, {"DELETE", route_id::telegram_delete}},
                  "/v1/telegram", c);
    return unknown();
  }
  if (top == "spend") {
    if (n == 2) return pick({{"GET", route_id::spend_get}}, "/v1/spend", c);
    return unknown();
  }
  return std::nullopt;
}

/// Routes whose POST may come without a body (the SDK sends none).
bool body_optional(route_id r) {
  return r == route_id::admin_keys_create || r == route_id::threads_create || r == route_id::run_cancel ||
         r == route_id::conversations_create || r == route_id::assistant_modify || r == route_id::thread_modify ||
         r == route_id::message_modify || r == route_id::run_modify || r == route_id::conversation_modify ||
         r == route_id::agent_fire || r == route_id::approval_approve || r == route_id::approval_reject ||
         r == route_id::realtime_token_create;
}

} // namespace

bool valid_hook_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

adapters::header_list hook_headers(const adapters::header_list& headers) {
  static constexpr std::string_view names[] = {"x-oag-timestamp", "x-oag-signature", "x-oag-event-id",
                                               "x-telegram-bot-api-secret-token", "content-type"};
  adapters::header_list out;
  for (auto name : names)
    if (auto v = adapters::find_header(headers, name)) out.push_back({std::string{name}, std::string{*v}});
  return out;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string r;
  r.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+' && plus_is_space) {
      r += ' ';
    } else if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      r += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      r += c;
    }
  }
  return r;
}

result<route_match> match_route(std::string_view method, std::string_view path) {
  auto seg = segments(path);
  route_match m;
  auto is = [&](std::initializer_list<std::string_view> want) {
    if (seg.size() != want.size()) return false;
    std::size_t i = 0;
    for (auto w : want) {
      if (w != "*" && seg[i] != w) return false;
      ++i;
    }
    return true;
  };
  auto pick = [&](std::initializer_list<std::pair<std::string_view, route_id>> options, const char* label,
                  audience who) -> result<route_match> {
    for (auto& [meth, id] : options) {
      if (meth == method) {
        m.route = id;
        m.who = who;
        m.label = label;
        m.has_body = method == "POST" || method == "PUT";
        return m;
      }
    }
    return wrong_method(method, path);
  };
  if (seg.size() >= 2 && seg[0] == "v1") {
    if (is({"v1", "chat", "completions"}))
      return pick({{"POST", route_id::chat_completions}}, "/v1/chat/completions", audience::client);
    if (is({"v1", "embeddings"})) return pick({{"POST", route_id::embeddings}}, "/v1/embeddings", audience::client);
    if (is({"v1", "messages"}))
      return pick({{"POST", route_id::anthropic_messages}}, "/v1/messages", audience::client);
    if (is({"v1", "models"})) return pick({{"GET", route_id::models_list}}, "/v1/models", audience::client);
    if (seg.size() >= 3 && seg[1] == "models") {
      // Model ids contain '/', so the rest of the path is the id.
      // SDKs percent-encode the slash ("openai%2Fgpt-4o"); both forms work.
      std::string id;
      for (std::size_t i = 2; i < seg.size(); ++i) {
        if (seg[i].empty()) return not_found(method, path);
        if (!id.empty()) id += '/';
        id += percent_decode(seg[i], false);
      }
      m.params.push_back(id);
      return pick({{"GET", route_id::model_get}}, "/v1/models/{model}", audience::client);
    }
    if (auto r = match_assistants_route(seg, method, path, m, pick); r) return *r;
    if (auto r = match_agents_route(seg, method, path, m, pick); r) return *r;
    if (is({"v1", "realtime", "chat"}))
      return pick({{"GET", route_id::realtime_chat}}, "/v1/realtime/chat", audience::client);
    if (is({"v1", "realtime", "tokens"}))
      return pick({{"POST", route_id::realtime_token_create}}, "/v1/realtime/tokens", audience::client);
    if (is({"v1", "wallet"})) return pick({{"GET", route_id::wallet_get}}, "/v1/wallet", audience::client);
    if (is({"v1", "ledger"})) return pick({{"GET", route_id::ledger_list}}, "/v1/ledger", audience::client);
    return not_found(method, path);
  }
  // Deliveries without an API key: webhooks and Telegram updates.
  if (seg.size() >= 1 && (seg[0] == "hooks" || seg[0] == "telegram")) {
    if (seg.size() != 2 || !valid_hook_id(seg[1])) return not_found(method, path);
    m.params.emplace_back(seg[1]);
    if (seg[0] == "hooks") return pick({{"POST", route_id::hook_deliver}}, "/hooks/{id}", audience::hook);
    return pick({{"POST", route_id::telegram_webhook}}, "/telegram/{id}", audience::hook);
  }
  if (seg.size() >= 3 && seg[0] == "admin" && seg[1] == "v1" && seg[2] == "companies") {
    const auto admin = audience::admin;
    if (seg.size() == 3)
      return pick({{"POST", route_id::admin_companies_create}, {"GET", route_id::admin_companies_list}},
                  "/admin/v1/companies", admin);
    if (!valid_id_segment(seg[3])) return not_found(method, path);
    m.params.emplace_back(seg[3]);
    if (seg.size() == 4) return pick({{"GET", route_id::admin_company_get}}, "/admin/v1/companies/{id}", admin);
    if (is({"admin", "v1", "companies", "*", "keys"}))
      return pick({{"POST", route_id::admin_keys_create}, {"GET", route_id::admin_keys_list}},
                  "/admin/v1/companies/{id}/keys", admin);
    if (is({"admin", "v1", "companies", "*", "keys", "*"}) && valid_id_segment(seg[5])) {
      m.params.emplace_back(seg[5]);
      return pick({{"DELETE", route_id::admin_keys_revoke}}, "/admin/v1/companies/{id}/keys/{key_id}", admin);
    }
    if (is({"admin", "v1", "companies", "*", "settings"}))
      return pick({{"PUT", route_id::admin_settings_put}, {"GET", route_id::admin_settings_get}},
                  "/admin/v1/companies/{id}/settings", admin);
    if (is({"admin", "v1", "companies", "*", "credits"}))
      return pick({{"POST", route_id::admin_credits_add}}, "/admin/v1/companies/{id}/credits", admin);
    if (is({"admin", "v1", "companies", "*", "wallet"}))
      return pick({{"GET", route_id::admin_wallet_get}}, "/admin/v1/companies/{id}/wallet", admin);
    if (is({"admin", "v1", "companies", "*", "ledger"}))
      return pick({{"GET", route_id::admin_ledger_list}}, "/admin/v1/companies/{id}/ledger", admin);
    if (is({"admin", "v1", "companies", "*", "routing"}))
      return pick({{"PUT", route_id::admin_routing_put},
                   {"GET", route_id::admin_routing_get},
                   {"DELETE", route_id::admin_routing_delete}},
                  "/admin/v1/companies/{id}/routing", admin);
    if (is({"admin", "v1", "companies", "*", "providers"}))
      return pick({{"GET", route_id::admin_providers_list}}, "/admin/v1/companies/{id}/providers", admin);
    if (is({"admin", "v1", "companies", "*", "providers", "*"}) && valid_id_segment(seg[5])) {
      m.params.emplace_back(seg[5]);
      return pick({{"PUT", route_id::admin_provider_put},
                   {"GET", route_id::admin_provider_get},
                   {"DELETE", route_id::admin_provider_delete}},
                  "/admin/v1/companies/{id}/providers/{name}", admin);
    }
  }
  return not_found(method, path);
}

std::string route_label(std::string_view method, std::string_view path) {
  if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/admin/v1/clock")
    return std::string{path};
  auto m = match_route(method, path);
  return m ? std::string{m->label} : std::string{"unmatched"};
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view s) { return percent_decode(s, true); };
  std::size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    auto amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    auto part = query.substr(pos, amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string_view::npos)
        out[decode(part)] = "";
      else
        out[decode(part.substr(0, eq))] = decode(part.substr(eq + 1));
    }
    pos = amp + 1;
  }
  return out;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return std::nullopt;
  }
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

bool json_depth_ok(std::string_view body, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

result<nlohmann::json> parse_body(const route_match& route, std::string_view body) {
  // Hook bodies are signed bytes (and need not be JSON): passed on raw.
  if (!route.has_body || route.who == audience::hook) return nlohmann::json(nullptr);
  if (body.empty()) {
    if (body_optional(route.route)) return nlohmann::json(nullptr);
    return make_failure(errc::invalid_request,
                        "The request body is empty; this endpoint expects a JSON object.");
  }
  if (!json_depth_ok(body, 128))
    return make_failure(errc::invalid_request, "The JSON body is nested too deeply (more than 128 levels).");
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded())
    return make_failure(errc::invalid_request,
                        "We could not parse the JSON body of your request: it is not valid JSON (or not valid "
                        "UTF-8).");
  if (!doc.is_object()) return make_failure(errc::invalid_request, "The JSON body must be an object.");
  if (route.route == route_id::chat_completions) {
    if (auto v = adapters::validate_chat_request(doc); !v) {
      // Anthropic-shaped history (tool_use / tool_result blocks) is accepted
      // too: rewritten to OpenAI's shape so any provider can take it.
      auto normalized = adapters::normalize_anthropic_history(doc);
      if (!normalized || !adapters::validate_chat_request(*normalized)) return v.error();
      return std::move(normalized.value());
    }
  } else if (route.route == route_id::anthropic_messages) {
    auto translated = adapters::anthropic_request_to_openai(doc);
    if (!translated) return translated.error();
    if (auto v = adapters::validate_chat_request(*translated); !v) return v.error();
    return std::move(translated.value());
  } else if (route.route == route_id::embeddings) {
    if (auto v = adapters::validate_embeddings_request(doc); !v) return v.error();
  }
  return doc;
}

} // namespace oag::runtime
