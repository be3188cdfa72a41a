#pragma once
// Agents as objects, as pure functions (no actors, no storage): the
// validation of an agent's definition (persona, tools, triggers, budget,
// limits, approval policy), the deterministic ids that make firings
// idempotent, the input templates, and the checks of a `delegate` or
// `publish` tool call's arguments. Tested without sockets.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/actors/cron.hpp"
#include "oag/actors/triggers.hpp"
#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::actors::agents {

/// Most triggers one agent may have.
inline constexpr std::size_t max_triggers = 16;
/// Most children one `delegate` call may start, whatever the agent allows.
inline constexpr std::size_t max_children_cap = 64;
/// Deepest delegation chain, whatever the agent allows.
inline constexpr int max_depth_cap = 8;

/// Creates an agent object from a POST /v1/agents body. The stored object:
///
///   {"id", "object":"agent", "created_at", "name", "description",
///    "assistant_id" (string or null),            -- the persona, or inline:
///    "model", "instructions" (string or null),   -- model required without assistant_id
///    "tools": [ {"type":"function","function":{"name":…}}  (a registered server tool or a
///               client function; a bare string "name" is accepted and normalised to this),
///               {"type":"publish"}, {"type":"delegate"} ],
///    "triggers": [
///       {"type":"cron", "schedule":"*/5 * * * *", "timezone":"UTC" (default),
///        "input": template (default "{{trigger}}"), "catch_up":"latest" (default)|"none"|"all",
///        "catch_up_max": 1..1000 (default 10)},
///       {"type":"webhook", "hook_id": (assigned by the caller, see new_agent),
///        "input": template (default "{{body}}"), "event_id_field": JSON path or null,
///        "tolerance_s": 1..86400 (default 300)},
///       {"type":"topic", "pattern":"orders.*.created", "input": template (default "{{payload}}")} ],
///    "budget": {"per_run_ot": "5" or null, "per_day_ot": "100" or null}   -- decimal O₮ strings
///              (numbers and strings accepted on input, parsed with money::parse_ot),
///    "limits": {"max_steps": 1..100 or null, "max_delegation_depth": 0..max_depth_cap (default 2),
///               "max_parallel_children": 1..max_children_cap (default 5)},
///    "approval": {"tools": {"<tool name>": <approval rule, see triggers::parse_approval_rule>},
///                 "expires_in_s": 60..604800 (default 86400),
///                 "telegram": bool (default true: ask on Telegram when configured)},
///    "enabled": bool (default true), "metadata": {...} (OpenAI metadata rules)}
///
/// Unknown fields are refused (400 naming them). `hook_ids` supplies the id
/// of each webhook trigger in order (the caller generates them; a webhook
/// trigger that already has a `hook_id` in `body` is refused on create).
/// Errors: errc::invalid_request with `param` the JSON path at fault
/// ("triggers[1].schedule", "budget.per_run_ot", …).
result<nlohmann::json> new_agent(const nlohmann::json& body, const std::string& id, std::int64_t now,
                                 const std::vector<std::string>& hook_ids);

/// How many webhook triggers `body["triggers"]` has (0 when it is not an
/// array), so the caller can generate their hook ids before new_agent.
std::size_t count_webhook_triggers(const nlohmann::json& body);

/// Applies a POST /v1/agents/{id} body (any subset of the create fields)
/// to `agent`. A webhook trigger in the new list keeps its hook id when it
/// names one of the agent's current hook ids ("hook_id"), else it gets the
/// next of `new_hook_ids` (the caller passes enough: count_webhook_triggers).
/// Same errors as new_agent.
result<nlohmann::json> modify_agent(const nlohmann::json& agent, const nlohmann::json& body,
                                    const std::vector<std::string>& new_hook_ids);

/// The hook ids of an agent's webhook triggers.
std::vector<std::string> hook_ids(const nlohmann::json& agent);

/// The agent's budget in µO₮ (nullopt = no cap).
struct budget {
  std::optional<money::uot> per_run;
  std::optional<money::uot> per_day;
};
budget budget_of(const nlohmann::json& agent);

/// The agent's limits with defaults applied.
struct limits {
  std::optional<int> max_steps;
  int max_delegation_depth = 2;
  int max_parallel_children = 5;
};
limits limits_of(const nlohmann::json& agent);

/// The approval rule for a tool of the agent; nullopt when the tool is not gated.
std::optional<triggers::approval_rule> approval_rule_for(const nlohmann::json& agent, std::string_view tool);

/// Seconds an approval of this agent stays open.
std::int64_t approval_ttl(const nlohmann::json& agent);

/// Renders an input template: `{{name}}` is replaced by vars[name] (a
/// string as-is, anything else as compact JSON); an unknown name renders
/// as an empty string; `{{` without a closing `}}` is copied verbatim.
/// Names are [A-Za-z0-9_.]+; a dotted name looks into objects
/// ("{{payload.order.id}}").
std::string render_template(std::string_view tmpl, const nlohmann::json& vars);

/// A deterministic agent run id: "arun_" + 24 lower-case hex digits of
/// SHA-256 over the parts (joined with 0x00). The same firing (agent +
/// trigger + scheduled time, hook + event id, subscriber + event id, parent
/// run + tool call + child index) always gets the same id, which is what
/// makes a repeated delivery a no-op.
std::string firing_id(std::initializer_list<std::string_view> parts);

/// One child task of a `delegate` call.
struct child_task {
  std::optional<std::string> agent_id;     ///< run as this agent, or inline:
  std::optional<std::string> instructions; ///< inline sub-agent persona
  std::optional<std::string> model;        ///< inline sub-agent model (default: the parent's)
  std::string input;                       ///< the child's user message
};

/// A validated `delegate` call.
struct delegate_call {
  std::vector<child_task> tasks;  ///< 1..max_children
  std::optional<std::size_t> first_k; ///< wait for the first K results (nullopt: all)
  std::optional<std::int64_t> deadline_s; ///< stop waiting after this many seconds (1..3600)
};

/// The JSON schema offered to the model for the built-in `delegate` tool:
/// {"tasks":[{"agent_id"?,"instructions"?,"model"?,"input"}], "wait_for"?: integer K, "deadline_s"?: integer}.
nlohmann::json delegate_tool_schema();

/// The JSON schema of the built-in `publish` tool: {"topic": string, "payload": any}.
nlohmann::json publish_tool_schema();

/// Parses the model's arguments of a `delegate` call (a JSON text). Errors
/// (errc::invalid_request) say what is wrong in words a model can act on;
/// more than `max_children` tasks is an error, as is K > tasks.
result<delegate_call> parse_delegate(std::string_view arguments, std::size_t max_children);

/// A validated `publish` call.
struct publish_call {
  std::string topic;
  nlohmann::json payload;
};

/// Parses the model's arguments of a `publish` call (topic checked with
/// triggers::check_topic).
result<publish_call> parse_publish(std::string_view arguments);

/// The payload of a POST /v1/topics/{topic}/events body:
/// {"payload": any (required), "event_id": string 1..200 (optional)}.
struct event_body {
  nlohmann::json payload;
  std::optional<std::string> event_id;
};
result<event_body> parse_event_body(const nlohmann::json& body);

/// Checks a PUT /v1/telegram body: {"bot_token": "<digits>:<35+ chars>" (required on first
/// put), "chat_ids": [integer or "@channel" string, 1..10] (required), "secret_token"?:
/// 1..256 of [A-Za-z0-9_-] (generated by the caller when absent)}. Unknown fields refused.
struct telegram_body {
  std::optional<std::string> bot_token;
  std::vector<nlohmann::json> chat_ids;
  std::optional<std::string> secret_token;
};
result<telegram_body> parse_telegram_body(const nlohmann::json& body);

/// An approval's decision body: {"reason"?: string up to 1000 bytes}.
result<std::optional<std::string>> parse_decision_body(const nlohmann::json& body);

} // namespace oag::actors::agents
