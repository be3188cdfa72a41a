#pragma once
/// Every message type the actors exchange, and the atoms that tag them, in
/// one place. Handles are passed in messages (never globals) so a remote
/// handle can later replace a local one.
///
/// Flow of one chat call:
///   edge ──client_request──► directory ──tenant_request──► tenant
///   tenant: resolve model, reserve, spawn call actor
///   call ──upstream_send──► provider ── io thread ──► upstream
///   upstream bytes ──upstream_head/body/done──► call ──► response_sink
///   call ──settle_call/release_call──► tenant (one write batch) ──► call
///   call ──► response_sink (final bytes only after the charge is durable)

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/actor.hpp>

#include <nlohmann/json.hpp>

#include "oag/actors/sink.hpp"
#include "oag/adapters/http_client.hpp"
#include "oag/adapters/http_types.hpp"
#include "oag/error.hpp"
#include "oag/storage/money.hpp"
#include "oag/storage/records.hpp"

namespace oag::actors {

// -- error model bridge ------------------------------------------------------

/// The CAF error category of oag::errc (registered at start-up).
inline caf::atom_value oag_error_category() { return caf::atom("oag"); }

/// Wraps a failure into a CAF error (code + message context).
caf::error to_caf_error(const failure& f);

/// Recovers a failure from a CAF error (CAF's own errors become internal).
failure from_caf_error(const caf::error& e);

/// Renders errors of the oag category for CAF's logs.
std::string render_oag_error(std::uint8_t code, caf::atom_value, const caf::message& ctx);

// -- routes -----------------------------------------------------------------

/// The API operations OAG serves. The edge classifies a request into one
/// of these (a pure function, see routes.hpp) before any actor sees it.
enum class route_id : std::uint8_t {
  chat_completions,
  embeddings,
  models_list,
  model_get,
  wallet_get,
  ledger_list,
  admin_companies_create,
  admin_companies_list,
  admin_company_get,
  admin_keys_create,
  admin_keys_list,
  admin_keys_revoke,
  admin_credits_add,
  admin_wallet_get,
  admin_ledger_list,
  admin_provider_put,
  admin_provider_get,
  admin_provider_delete,
  admin_providers_list,
  admin_routing_put,
  admin_routing_get,
  admin_routing_delete,
  anthropic_messages,
  // Assistants v2
  assistants_create,
  assistants_list,
  assistant_get,
  assistant_modify,
  assistant_delete,
  threads_create,
  thread_get,
  thread_modify,
  thread_delete,
  thread_and_run_create,
  messages_create,
  messages_list,
  message_get,
  message_modify,
  message_delete,
  runs_create,
  runs_list,
  run_get,
  run_modify,
  run_cancel,
  run_submit_tool_outputs,
  run_steps_list,
  run_step_get,
  // server-side tools and their secrets (OAG's own API)
  tools_create,
  tools_list,
  tool_get,
  tool_modify,
  tool_delete,
  secret_put,
  secrets_list,
  secret_delete,
  admin_settings_put,
  admin_settings_get,
  // Responses API and conversations
  responses_create,
  response_get,
  response_delete,
  response_input_items,
  conversations_create,
  conversation_get,
  conversation_modify,
  conversation_delete,
  conversation_items_list,
  conversation_items_create,
  conversation_item_get,
  conversation_item_delete,
  // Autonomous agents (OAG's own API, issue 5), served by the company's agents actor
  agents_create,
  agents_list,
  agent_get,
  agent_modify,
  agent_delete,
  agent_runs_list,     ///< GET /v1/agents/{agent_id}/runs
  agent_fire,          ///< POST /v1/agents/{agent_id}/runs (a manual firing, body {input})
  agent_run_get,       ///< GET /v1/agent-runs/{agent_run_id} (with its log)
  agent_run_log,       ///< GET /v1/agent-runs/{agent_run_id}/log (paginated)
  approvals_list,      ///< GET /v1/approvals?status=pending|approved|rejected|expired
  approval_get,
  approval_approve,    ///< POST /v1/approvals/{id}/approve
  approval_reject,     ///< POST /v1/approvals/{id}/reject
  topic_publish,       ///< POST /v1/topics/{topic}/events
  topic_events_list,   ///< GET /v1/topics/{topic}/events
  telegram_put,        ///< PUT /v1/telegram (bot token, chat ids)
  telegram_get,
  telegram_delete,
  spend_get,           ///< GET /v1/spend?group_by=day|model|agent
  events_subscribe,    ///< internal: a WebSocket session subscribes to the company's live events
  // Unauthenticated deliveries (audience hook): the directory finds the company by hook id.
  hook_deliver,        ///< POST /hooks/{hook_id}
  telegram_webhook,    ///< POST /telegram/{hook_id}
  // Real time (the WebSocket chat). The directory answers both itself once
  // the key is known: 200 {"company_id","key_id"}; the edge then mints the
  // token or accepts the WebSocket.
  realtime_token_create, ///< POST /v1/realtime/tokens
  realtime_chat,         ///< GET /v1/realtime/chat (WebSocket upgrade)
};

/// True for the routes served by a company's assistants actor (Assistants,
/// Responses, conversations, tools, secrets, settings).
constexpr bool is_assistants_route(route_id r) noexcept {
  return r >= route_id::assistants_create && r <= route_id::conversation_item_delete;
}

/// True for the routes served by a company's agents actor (agents, agent
/// runs, approvals, topics, Telegram, spend, live events, hook deliveries).
constexpr bool is_agents_route(route_id r) noexcept {
  return r >= route_id::agents_create && r <= route_id::telegram_webhook;
}

/// True for routes that carry no API key (webhook deliveries): the edge
/// passes the raw body and headers, the directory finds the company by the
/// hook id in params[0].
constexpr bool is_hook_route(route_id r) noexcept {
  return r == route_id::hook_deliver || r == route_id::telegram_webhook;
}

/// One API call after HTTP parsing, JSON parsing and validation.
struct api_request {
  route_id route = route_id::models_list;
  /// Path parameters in order (company id, key id, provider name, model).
  std::vector<std::string> params;
  /// Decoded query parameters.
  std::map<std::string, std::string> query;
  /// The parsed body (null when the request had none).
  nlohmann::json body;
  std::string request_id;
  std::shared_ptr<response_sink> sink;
  /// Set by internal callers (runs) that name their model calls, so a call
  /// can be recognised after a restart (its settled marker); nullopt for
  /// client requests, which get a random call id.
  std::optional<std::string> call_id;
  /// The body exactly as received: set only for hook routes, whose
  /// signatures are computed over the bytes (body is then null).
  std::string raw_body;
  /// The request headers (lower-case names): set only for hook routes
  /// (X-OAG-Timestamp, X-OAG-Signature, X-OAG-Event-Id,
  /// X-Telegram-Bot-Api-Secret-Token, Content-Type).
  adapters::header_list headers;
  /// Set by internal callers (agents, the WebSocket chat): a run may be
  /// created without an assistant, from `model`, `instructions` and `tools`
  /// in the body (an inline persona).
  bool inline_persona = false;
};

/// A client API call, authenticated by the hash of its bearer key.
struct client_request {
  std::string key_hash; ///< raw SHA-256 of the presented key
  api_request api;
};

/// An admin API call (the admin token was checked by the edge).
struct admin_request {
  api_request api;
};

/// A delivery to a hook route (no API key): the directory resolves
/// params[0] (the hook id) to its company through the global hook index.
struct hook_request {
  api_request api;
};

/// A request routed to the company that owns it.
struct tenant_request {
  std::string company_id;
  std::string key_id; ///< empty for admin calls
  bool admin = false;
  api_request api;
};

// -- provider <-> call --------------------------------------------------------

/// Asks a provider actor to run one exchange and stream it to `reply_to`.
struct upstream_send {
  std::string call_id;
  std::uint32_t attempt = 0; ///< echoed in every reply, so late replies of an abandoned attempt are ignored
  adapters::outbound_request request;
  adapters::http_timeouts timeouts;
  caf::actor reply_to;
};

/// Aborts the exchange of a call (the client went away).
struct upstream_cancel {
  std::string call_id;
  std::uint32_t attempt = 0;
};

/// The upstream's response head.
struct upstream_head {
  std::uint32_t attempt = 0;
  int status = 0;
  adapters::header_list headers;
};

/// A piece of the upstream's response body.
struct upstream_body {
  std::uint32_t attempt = 0;
  std::string bytes;
};

/// The exchange ended: cleanly (no error) or not.
struct upstream_done {
  std::uint32_t attempt = 0;
  std::optional<failure> error;
};

/// A keep-alive connection is free again.
struct connection_idle {
  std::shared_ptr<adapters::upstream_connection> connection;
};

/// The exchange of a call finished (success or not): forget it.
struct exchange_finished {
  std::string call_id;
  std::uint32_t attempt = 0;
  bool healthy = true; ///< counts toward the circuit breaker when false
};

/// A timer of a call fired (backoff over, first-token deadline).
struct call_timer {
  enum class kind : std::uint8_t { retry, first_token };
  kind what = kind::retry;
  std::uint32_t attempt = 0;
};

/// The client of a call disconnected.
struct client_gone {};

/// Shutdown after the drain timeout: every upstream exchange still running
/// is cancelled, so its call ends (released or charged for what was
/// generated) while the tenants are still there to record it.
struct cancel_exchanges {};

// -- call <-> tenant (money) -------------------------------------------------

/// Charges a finished call: settles its reservation and appends the ledger
/// entry, in one write batch. Idempotent by call id. Replies with
/// `storage::wallet_record` (after) or an error.
struct settle_call {
  std::string call_id;
  storage::ledger_entry entry;
};

/// Releases a call's reservation without charge. Idempotent by call id.
struct release_call {
  std::string call_id;
};

// -- runs (Assistants / Responses) ------------------------------------------------
//
//   assistants[company] ──spawn──► run[run_id] ──tenant_request──► tenant ──► call
//   call ──► model_call_sink ──model_chunks/model_reply/model_charged/model_end──► run
//   run ──spawn──► tool_call[...] ──tool_result──► run
//   run ──run_settled──► assistants   (after its last state change is durable)

/// Chunks of a streamed model call (chat.completion.chunk objects).
struct model_chunks {
  std::uint32_t seq = 0; ///< the run's model-call number (late replies of an older call are ignored)
  std::vector<nlohmann::json> chunks;
};

/// A complete (non-streamed) answer of a model call: an error or a body.
struct model_reply {
  std::uint32_t seq = 0;
  int status = 0;
  std::string body;
};

/// The charge of a model call is durable.
struct model_charged {
  std::uint32_t seq = 0;
  charge_report report;
};

/// The model call is over (always the last message of a call).
struct model_end {
  std::uint32_t seq = 0;
};

/// The outcome of one server-side tool call.
struct tool_result {
  std::uint32_t turn = 0;
  std::string tool_call_id;
  std::string output;       ///< what the model sees (result or error text)
  bool ok = false;
  std::int64_t duration_ms = 0;
  int http_status = 0;      ///< 0 when no HTTP answer came
  std::int64_t cost_uot = 0; ///< what the call spent in model calls (delegate: the children's spend)
};

/// Asks the tenant whether a model name can be called by the company (as
/// routed: aliases and routing rules included). Replies `model_ok` or the
/// 404 a call would get.
struct model_check {
  std::string model;
};

/// The model can be called.
struct model_ok {};

/// A run object in a reply. (A bare nlohmann::json cannot travel in a CAF
/// message: CAF brace-initialises its copy, which nlohmann reads as a
/// one-element array.)
struct run_snapshot {
  nlohmann::json run;
};

/// Asks a live run to cancel, or to update its metadata; replies with a run_snapshot.
struct run_control {
  enum class kind : std::uint8_t { cancel, modify };
  kind what = kind::cancel;
  nlohmann::json metadata;
};

/// A run has ended, or parked waiting for tool outputs; its state is on disk.
struct run_settled {
  std::string thread_id;
  std::string run_id;
  std::string status;       ///< the run's status, or "awaiting_approval" (parked on a human)
  std::int64_t expires_at = 0;
  std::string agent_run_id; ///< the agent run the run serves; empty for a plain Assistants run
  std::int64_t cost_uot = 0; ///< the run's spend so far (its model calls and its children's)
};

// -- agents ----------------------------------------------------------------------
//
//   agents[company] ──firing batch (thread, message, run, agent run)──► disk
//   agents ──adopt_run──► assistants ──spawn──► run
//   run ──publish_request / delegate_request / approvals_opened──► agents
//   agents ──tool_result──► run;  agents ──approval_decided──► assistants ──► run
//   assistants ──run_settled (agent runs)──► agents

/// A run whose records an agents actor wrote (a firing): the assistants
/// actor takes it over and starts it (a no-op when it already runs it).
struct adopt_run {
  std::string thread_id;
  std::string run_id;
  std::shared_ptr<response_sink> sink; ///< the client's event stream, or null
};

/// The built-in `publish` tool of an agent run: put an event on a topic.
/// Replied to with a tool_result (sent to reply_to).
struct publish_request {
  std::string agent_run_id;
  std::string tool_call_id;
  std::uint32_t turn = 0;
  std::string arguments; ///< the model's JSON arguments
  caf::actor reply_to;
};

/// The built-in `delegate` tool: start child runs and wait for them.
/// Idempotent by (parent run, tool call): a parent resumed after a restart
/// asks again and is re-attached. Answered with one tool_result.
struct delegate_request {
  std::string agent_run_id;
  std::string run_id;
  std::string tool_call_id;
  std::uint32_t turn = 0;
  std::string arguments;
  std::int64_t spent_uot = 0; ///< what the parent has spent so far (its envelope minus this is what children share)
  caf::actor reply_to;
};

/// A run parked on approvals (the approval records are already on disk).
struct approvals_opened {
  std::vector<nlohmann::json> approvals;
};

/// A decision of an approval is durable: the run waiting on it may go on.
struct approval_decided {
  std::string thread_id;
  std::string run_id;
  std::string approval_id;
};

/// The test clock moved (POST /admin/v1/clock): the directory sends it to
/// every tenant, each tenant to its assistants actor, so timers (run
/// expiry, schedules, approval deadlines) are re-evaluated against ctx->now.
struct clock_changed {};

/// What the tenant knows about a provider, handed to call actors.
struct provider_handle {
  adapters::provider_endpoint endpoint;
  caf::actor actor;
};

/// Platform-wide providers (from config/oag.json), shared by all tenants.
struct platform_providers {
  std::map<std::string, provider_handle, std::less<>> by_name;
};

} // namespace oag::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::client_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::admin_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::hook_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::tenant_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::upstream_send)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::upstream_cancel)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::upstream_head)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::upstream_body)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::upstream_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::connection_idle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::exchange_finished)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::client_gone)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::cancel_exchanges)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::clock_changed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::call_timer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::settle_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::release_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::storage::wallet_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_chunks)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_charged)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_end)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::tool_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::run_control)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::run_settled)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::run_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_check)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::model_ok)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::adopt_run)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::publish_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::delegate_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::approvals_opened)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::approval_decided)
