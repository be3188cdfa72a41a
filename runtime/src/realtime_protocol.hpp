#pragma once
/// The WebSocket chat protocol (GET /v1/realtime/chat, docs/REALTIME.md) as
/// pure functions, tested without sockets: parsing and validating what a
/// client sends, building the internal API call a chat message becomes, and
/// translating a run's SSE stream (Assistants v2 events) into the events the
/// server sends.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/actors/messages.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/error.hpp"

namespace oag::runtime::realtime {

/// `{"type":"chat.message", ...}`: a user message; the persona fields are
/// optional (the session remembers the last ones).
struct chat_message {
  std::string content;
  std::optional<std::string> thread_id;
  std::optional<std::string> assistant_id;
  std::optional<std::string> agent_id;
  std::optional<std::string> model;
  std::optional<std::string> instructions;
};

/// One parsed client message.
struct client_message {
  enum class kind { chat_message, chat_cancel, subscribe, ping };
  kind type = kind::ping;
  chat_message chat;               ///< chat_message only
  std::vector<std::string> events; ///< subscribe only
};

/// Event names a client may subscribe to.
const std::vector<std::string>& subscribable_events();

/// Parses and validates one text frame. A failure is an OpenAI-style 400
/// whose `param` names the offending field.
result<client_message> parse_client_message(std::string_view text);

/// Who answers the session's chat messages; the session keeps the last one
/// so a follow-up message needs only its content.
struct persona {
  std::optional<std::string> assistant_id;
  std::optional<std::string> agent_id;
  std::optional<std::string> model;
  std::optional<std::string> instructions;
  bool empty() const { return !assistant_id && !agent_id && !model; }
};

/// The persona a message asks for: its own fields when it names an
/// assistant, agent or model, else the remembered one (instructions alone
/// refine the remembered model persona).
persona persona_for(const chat_message& m, const persona& remembered);

/// The internal API call of a chat message.
struct chat_call {
  actors::route_id route = actors::route_id::thread_and_run_create;
  std::vector<std::string> params;
  nlohmann::json body;
  bool inline_persona = false;
};

/// Builds the call: thread_and_run_create without a thread, runs_create
/// with `additional_messages` on a thread, agent_fire for an agent. Fails
/// (400) when there is no persona at all.
result<chat_call> build_chat_call(const std::string& content, const persona& p,
                                  const std::optional<std::string>& thread_id);

/// `{"type":"error","error":{message,type,param,code}}`.
nlohmann::json error_event(const failure& f);

/// The error event of an HTTP-style error answer (status and OpenAI error
/// body) that a call got instead of a stream.
nlohmann::json error_event_from_response(int status, std::string_view body);

/// Translates the SSE stream of one run (bytes as they come, split
/// anywhere) into protocol events:
///   thread.run.created           → run.created {thread_id, run_id}
///   thread.message.delta         → delta {text, message_id}
///   thread.run.step.completed    → message.completed {text, usage, cost_uot, cost_ot, …}
///                                  (message step), tool_call + tool_result (tool step)
///   thread.run.requires_action   → tool_call (each client call), run.requires_action {run}
///   thread.run.completed/failed/cancelled/incomplete/expired → run.<status> {run}
///   approval.* (agent runs)      → passed through
///   error                        → error {error}
class run_translator {
 public:
  void feed(std::string_view bytes, std::vector<nlohmann::json>& out);
  void on_event(const sse::event& e, std::vector<nlohmann::json>& out);

  const std::optional<std::string>& thread_id() const noexcept { return thread_id_; }
  const std::optional<std::string>& run_id() const noexcept { return run_id_; }
  /// A terminal run event (or requires_action) was seen.
  bool finished() const noexcept { return finished_; }

 private:
  struct pending_call {
    std::string id, name, arguments;
    bool announced = false;
  };
  void announce_call(const std::string& id, const std::string& name, const std::string& arguments,
                     std::vector<nlohmann::json>& out);

  sse::parser parser_;
  std::vector<sse::event> scratch_;
  std::optional<std::string> thread_id_;
  std::optional<std::string> run_id_;
  // The message of the current turn.
  std::string text_;
  std::string message_id_;
  std::optional<std::string> message_status_;
  bool message_reported_ = true;
  // Tool calls seen in step deltas, by step id and index.
  std::map<std::pair<std::string, int>, pending_call> calls_;
  std::map<std::string, bool> announced_; ///< tool call ids already sent as tool_call
  bool finished_ = false;
};

/// Formats µO₮ as an O₮ decimal string ("0.001234").
std::string cost_ot(std::int64_t uot);

} // namespace oag::runtime::realtime
