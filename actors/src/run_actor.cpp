// The run actor (see run_actor.hpp). A run moves through turns: each turn
// is one model call, streamed; its text becomes a thread message, its tool
// calls a tool_calls step. Server-side tools run as tool_call actors;
// client-side function tools park the run in requires_action. Every
// transition is one RocksDB batch, written before its event is sent.
//
// Restart policy: a run found mid-model-call is resumed by repeating that
// call only if it was never charged (its reservation was released when the
// tenant restored); a call that was charged but whose answer was lost is
// not paid for twice: the run fails with last_error saying so. Server-side
// tool calls cut by a restart are not repeated (they may have had effects):
// the model gets an error result for them.

#include "run_actor.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "agents_objects.hpp"
#include "object_store.hpp"
#include "oag/actors/triggers.hpp"
#include "oag/adapters/validate.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "run_support.hpp"

namespace oag::actors {
namespace {

using nlohmann::json;
using storage::record_kind;

struct run_state {
  std::shared_ptr<const gateway_context> ctx;
  run_launch launch;
  std::string company_id, thread_id, run_id;
  json run;   // the run object
  json state; // engine state (run_state record)
  runs::company_settings settings;
  std::map<std::string, json> registered; // server-side tools by name
  // The turn in progress.
  std::uint32_t seq = 0;
  std::weak_ptr<runs::model_call_sink> call;
  bool call_live = false;
  runs::chat_accumulator acc;
  std::optional<charge_report> charge;
  std::optional<json> call_error; // the call was refused or failed before streaming
  std::optional<json> message;  // the thread message this turn writes
  std::optional<json> msg_step; // its message_creation step
  std::optional<json> tool_step;
  std::vector<runs::prompt_layer> layers;
  std::size_t tools_outstanding = 0;
  std::vector<caf::actor> tool_actors; // server-side tool calls of this turn
  bool finished = false;
  std::shared_ptr<bool> settled_flag; // shared with the exit functor
  static inline const char* name = "oag.run";
};

using run_actor = caf::stateful_actor<run_state>;

// -- keys and objects ------------------------------------------------------------

std::string run_key(const run_state& st) {
  return storage::tenant_key(st.company_id, record_kind::run, storage::child_suffix(st.thread_id, st.run_id));
}
std::string state_key(const run_state& st) { return storage::tenant_key(st.company_id, record_kind::run_state, st.run_id); }
std::string step_key(const run_state& st, const json& step) {
  return storage::tenant_key(st.company_id, record_kind::run_step,
                             storage::child_suffix(st.run_id, step["id"].get<std::string>()));
}
std::string message_key(const run_state& st, const json& msg) {
  return storage::tenant_key(st.company_id, record_kind::message,
                             storage::child_suffix(st.thread_id, msg["id"].get<std::string>()));
}

std::int64_t now(const run_state& st) { return st.ctx->now(); }

json new_step(run_state& st, const std::string& type, json details) {
  return {{"id", crypto::time_ordered_id("step_")},
          {"object", "thread.run.step"},
          {"created_at", now(st)},
          {"run_id", st.run_id},
          {"assistant_id", st.run["assistant_id"]},
          {"thread_id", st.thread_id},
          {"type", type},
          {"status", "in_progress"},
          {"cancelled_at", nullptr},
          {"completed_at", nullptr},
          {"expired_at", nullptr},
          {"failed_at", nullptr},
          {"last_error", nullptr},
          {"step_details", std::move(details)},
          {"usage", nullptr},
          {"metadata", json::object()}};
}

json usage_json(std::int64_t prompt, std::int64_t completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json run_usage(const run_state& st) {
  const json& u = st.state["usage"];
  return usage_json(u.value("prompt_tokens", std::int64_t{0}), u.value("completion_tokens", std::int64_t{0}));
}

// -- events and persistence ------------------------------------------------------------

void emit(run_actor* self, std::string_view event, const json& data) {
  auto& sink = self->state.launch.sink;
  if (!sink) return;
  if (!sink->write(sse::frame_event(event, objects::dump(data)))) sink.reset(); // the client left; the run goes on
}

void end_events(run_actor* self) {
  auto& sink = self->state.launch.sink;
  if (!sink) return;
  sink->write(sse::frame_event("done", "[DONE]"));
  sink->end_stream();
  sink.reset();
}

/// Writes the run, its engine state and any other objects in one batch.
bool persist(run_actor* self, std::initializer_list<const json*> others = {}, bool finished = false,
             storage::write_batch batch = {}) {
  auto& st = self->state;
  batch.put(run_key(st), objects::dump(st.run));
  if (finished) {
    batch.del(state_key(st));
    batch.del(storage::tenant_key(st.company_id, record_kind::active_run, st.thread_id));
  } else {
    batch.put(state_key(st), objects::dump(st.state));
    // A run parked on a human says in_progress; its index entry says why.
    const std::string index_status = st.state.contains("awaiting_approvals") ? "awaiting_approval"
                                                                               : st.run["status"].get<std::string>();
    batch.put(storage::tenant_key(st.company_id, record_kind::active_run, st.thread_id),
              runs::encode_active_run(st.run_id, index_status, st.run.value("expires_at", std::int64_t{0})));
  }
  for (const json* o : others) {
    if (!o || o->is_null()) continue;
    const auto& object = (*o)["object"];
    if (object == "thread.run.step") batch.put(step_key(st, *o), objects::dump(*o));
    else if (object == "thread.message") batch.put(message_key(st, *o), objects::dump(*o));
  }
  auto w = st.ctx->db->write(batch);
  if (!w) {
    spdlog::error("run {}: cannot persist its state: {}", st.run_id, w.error().message);
    return false;
  }
  return true;
}

/// The run's "agent" field, null when it has none. (operator[] of a const
/// json with a missing key is undefined behaviour: it read past the map.)
const json& agent_of(const run_state& st) {
  static const json none;
  auto it = st.state.find("agent");
  return it != st.state.end() ? *it : none;
}

/// The agent run this run serves, if any (empty for plain Assistants runs).
std::string agent_run_id(const run_state& st) {
  const auto& a = agent_of(st);
  return a.is_object() ? a.value("agent_run_id", std::string{}) : std::string{};
}

void quit_settled(run_actor* self, std::optional<std::string> parked_as = std::nullopt) {
  auto& st = self->state;
  st.finished = true;
  *st.settled_flag = true;
  self->send(st.launch.parent, run_settled{st.thread_id, st.run_id, parked_as ? *parked_as : st.run["status"].get<std::string>(),
                                           st.run.value("expires_at", std::int64_t{0}), agent_run_id(st),
                                           st.state.value("cost_uot", std::int64_t{0})});
  self->quit();
}

/// Ends the run in a terminal status (completed, failed, incomplete, cancelled).
void finish_run(run_actor* self, const std::string& status, json last_error = nullptr,
                json incomplete = nullptr) {
  auto& st = self->state;
  if (st.finished) return;
  const auto t = now(st);
  st.run["status"] = status;
  st.run["required_action"] = nullptr;
  st.run["usage"] = run_usage(st);
  if (status == "completed") st.run["completed_at"] = t;
  if (status == "failed") {
    st.run["failed_at"] = t;
    st.run["last_error"] = last_error;
  }
  if (status == "cancelled") st.run["cancelled_at"] = t;
  if (status == "incomplete") st.run["incomplete_details"] = incomplete;
  // Anything of the turn still open closes with the run.
  const std::string step_status = status == "completed" ? "completed" : status == "cancelled" ? "cancelled"
                                  : status == "incomplete"                                   ? "completed"
                                                                                             : "failed";
  std::vector<json*> open;
  for (auto* s : {&st.msg_step, &st.tool_step})
    if (*s && (**s)["status"] == "in_progress") {
      (**s)["status"] = step_status;
      (**s)[step_status + "_at"] = t;
      if (step_status == "failed") (**s)["last_error"] = last_error;
      open.push_back(&**s);
    }
  if (st.message && (*st.message)["status"] == "in_progress") {
    (*st.message)["status"] = status == "completed" ? "completed" : "incomplete";
    if (status == "completed") (*st.message)["completed_at"] = t;
    else {
      (*st.message)["incomplete_at"] = t;
      (*st.message)["incomplete_details"] = {{"reason", status == "incomplete" ? "max_tokens" : "run_" + status}};
    }
    (*st.message)["content"] = json::array({{{"type", "text"}, {"text", {{"value", st.acc.text}, {"annotations", json::array()}}}}});
  }
  persist(self, {st.message ? &*st.message : nullptr, open.size() > 0 ? open[0] : nullptr,
                 open.size() > 1 ? open[1] : nullptr},
          true);
  if (st.message && (*st.message)["status"] != "in_progress")
    emit(self, (*st.message)["status"] == "completed" ? "thread.message.completed" : "thread.message.incomplete",
         *st.message);
  for (auto* s : open) emit(self, "thread.run.step." + step_status, *s);
  emit(self, "thread.run." + status, st.run);
  end_events(self);
  quit_settled(self);
}

json error_obj(const std::string& code, const std::string& message) {
  return {{"code", code}, {"message", message}};
}

// -- turns -------------------------------------------------------------------------------

void next_turn(run_actor* self);

/// The chat tools of the run (registered tools fill in what the run's
/// function tool leaves out).
json chat_tools(const run_state& st) {
  json out = json::array();
  for (auto& t : st.run["tools"]) {
    if (t.value("type", std::string{}) != "function" || !t.contains("function")) continue;
    json fn = t["function"];
    auto name = fn.value("name", std::string{});
    if (auto r = st.registered.find(name); r != st.registered.end()) {
      if (!fn.contains("description") && r->second.contains("description")) fn["description"] = r->second["description"];
      if (!fn.contains("parameters") && r->second.contains("parameters")) fn["parameters"] = r->second["parameters"];
    }
    out.push_back({{"type", "function"}, {"function", fn}});
  }
  return out;
}

/// The thread's messages, oldest first, as chat messages.
result<json> thread_history(const run_state& st) {
  json out = json::array();
  auto prefix = storage::tenant_key(st.company_id, record_kind::message, storage::child_suffix(st.thread_id, ""));
  auto r = st.ctx->db->for_each(prefix, [&](std::string_view, std::string_view v) {
    auto doc = json::parse(v, nullptr, false);
    if (doc.is_discarded()) return true;
    if (auto m = runs::message_to_chat(doc)) out.push_back(std::move(*m));
    return true;
  });
  if (!r) return r.error();
  const auto& ts = st.run["truncation_strategy"];
  if (ts.is_object() && ts.value("type", std::string{}) == "last_messages" && ts["last_messages"].is_number_integer()) {
    auto keep = ts["last_messages"].get<std::size_t>();
    if (out.size() > keep) out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(out.size() - keep));
  }
  return out;
}

void start_turn_call(run_actor* self, json body) {
  auto& st = self->state;
  st.seq = st.state.value("call_seq", 0u) + 1;
  st.state["call_seq"] = st.seq;
  const std::string call_id = "call-" + st.run_id + "-" + std::to_string(st.seq);
  st.state["call_in_flight"] = call_id;
  if (!persist(self)) return finish_run(self, "failed", error_obj("server_error", "the run's state could not be stored"));
  st.acc = {};
  st.charge.reset();
  st.call_error.reset();
  st.message.reset();
  st.msg_step.reset();
  st.tool_step.reset();
  st.call_live = true;
  st.call = runs::start_model_call(st.launch.tenant, st.company_id, call_id, std::move(body),
                                   caf::actor_cast<caf::actor>(self), st.seq);
}

void next_turn(run_actor* self) {
  auto& st = self->state;
  int max_steps = st.settings.run_max_steps.value_or(st.ctx->settings.run_max_steps);
  const json& agent = agent_of(st);
  if (agent.is_object()) {
    if (auto m = agent.find("max_steps"); m != agent.end() && m->is_number_integer()) max_steps = m->get<int>();
    if (auto b = agent.find("budget_uot"); b != agent.end() && b->is_number_integer()) {
      const auto spent = st.state.value("cost_uot", std::int64_t{0}) + st.state.value("children_cost_uot", std::int64_t{0});
      if (spent >= b->get<std::int64_t>()) return finish_run(self, "incomplete", nullptr, {{"reason", "max_budget"}});
    }
  }
  if (st.state.value("steps_used", 0) >= max_steps)
    return finish_run(self, "failed",
                      error_obj("server_error", "the run reached its limit of " + std::to_string(max_steps) +
                                                    " model calls (tool loop?)"));
  std::optional<std::int64_t> out_cap;
  if (st.run["max_completion_tokens"].is_number_integer()) {
    auto left = st.run["max_completion_tokens"].get<std::int64_t>() -
                st.state["usage"].value("completion_tokens", std::int64_t{0});
    if (left <= 0) return finish_run(self, "incomplete", nullptr, {{"reason", "max_completion_tokens"}});
    out_cap = left;
  }
  auto history = thread_history(st);
  if (!history) return finish_run(self, "failed", error_obj("server_error", history.error().message));
  json tools = chat_tools(st);
  std::optional<std::string> persona;
  if (st.run["instructions"].is_string()) persona = st.run["instructions"].get<std::string>();
  st.layers = runs::prompt_stack(*st.ctx, st.settings, persona, tools);
  json messages = runs::prompt_messages(st.layers);
  const std::size_t stack_size = messages.size();
  for (auto& m : *history) messages.push_back(m);
  for (auto& m : st.state["transcript"]) messages.push_back(m);
  json body = {{"model", st.run["model"]}, {"messages", messages}};
  if (!tools.empty()) {
    body["tools"] = tools;
    if (!st.run["tool_choice"].is_null()) body["tool_choice"] = st.run["tool_choice"];
    if (st.run["parallel_tool_calls"].is_boolean()) body["parallel_tool_calls"] = st.run["parallel_tool_calls"];
  }
  if (st.run["temperature"].is_number()) body["temperature"] = st.run["temperature"];
  if (st.run["top_p"].is_number()) body["top_p"] = st.run["top_p"];
  if (st.run["response_format"].is_object()) body["response_format"] = st.run["response_format"];
  if (out_cap) body["max_completion_tokens"] = *out_cap;
  // max_prompt_tokens: drop the oldest thread messages until the estimate fits.
  if (st.run["max_prompt_tokens"].is_number_integer()) {
    const auto cap = st.run["max_prompt_tokens"].get<std::int64_t>();
    while (adapters::estimate_prompt_tokens(body) > cap && body["messages"].size() > stack_size + 1)
      body["messages"].erase(body["messages"].begin() + static_cast<std::ptrdiff_t>(stack_size));
    if (adapters::estimate_prompt_tokens(body) > cap)
      return finish_run(self, "incomplete", nullptr, {{"reason", "max_prompt_tokens"}});
  }
  if (auto v = adapters::validate_chat_request(body); !v)
    return finish_run(self, "failed", error_obj("invalid_prompt", v.error().message));
  start_turn_call(self, std::move(body));
}

json step_oag(const run_state& st) {
  json o = {{"prompt_stack", runs::prompt_log(st.layers)}};
  if (st.charge) {
    o["model"] = st.charge->model;
    o["response_id"] = st.charge->response_id;
    o["usage"] = usage_json(st.charge->input_tokens, st.charge->output_tokens);
    o["cost_uot"] = st.charge->cost_uot;
  } else {
    o["model"] = st.run["model"];
    o["usage"] = usage_json(0, 0);
    o["cost_uot"] = 0;
  }
  return o;
}

/// The first text of a turn opens its message and message_creation step.
void open_message(run_actor* self) {
  auto& st = self->state;
  const auto t = now(st);
  json msg = {{"id", crypto::time_ordered_id("msg_")},
              {"object", "thread.message"},
              {"created_at", t},
              {"assistant_id", st.run["assistant_id"]},
              {"thread_id", st.thread_id},
              {"run_id", st.run_id},
              {"role", "assistant"},
              {"content", json::array()},
              {"attachments", json::array()},
              {"metadata", json::object()},
              {"status", "in_progress"},
              {"incomplete_details", nullptr},
              {"completed_at", nullptr},
              {"incomplete_at", nullptr}};
  st.msg_step = new_step(st, "message_creation", {{"type", "message_creation"}, {"message_creation", {{"message_id", msg["id"]}}}});
  st.message = std::move(msg);
  st.state["open"]["message_id"] = (*st.message)["id"];
  st.state["open"]["msg_step_id"] = (*st.msg_step)["id"];
  persist(self, {&*st.message, &*st.msg_step});
  emit(self, "thread.run.step.created", *st.msg_step);
  emit(self, "thread.run.step.in_progress", *st.msg_step);
  emit(self, "thread.message.created", *st.message);
  emit(self, "thread.message.in_progress", *st.message);
}

void open_tool_step(run_actor* self) {
  auto& st = self->state;
  st.tool_step = new_step(st, "tool_calls", {{"type", "tool_calls"}, {"tool_calls", json::array()}});
  st.state["open"]["tool_step_id"] = (*st.tool_step)["id"];
  persist(self, {&*st.tool_step});
  emit(self, "thread.run.step.created", *st.tool_step);
  emit(self, "thread.run.step.in_progress", *st.tool_step);
}

void on_chunks(run_actor* self, model_chunks& msg) {
  auto& st = self->state;
  if (msg.seq != st.seq || st.finished) return;
  for (auto& chunk : msg.chunks) {
    auto d = st.acc.add(chunk);
    if (!d.text.empty()) {
      if (!st.message) open_message(self);
      emit(self, "thread.message.delta",
           {{"id", (*st.message)["id"]},
            {"object", "thread.message.delta"},
            {"delta", {{"content", json::array({{{"index", 0}, {"type", "text"}, {"text", {{"value", d.text}, {"annotations", json::array()}}}}})}}}});
    }
    for (auto& frag : d.tools) {
      if (!st.tool_step) open_tool_step(self);
      json call = {{"index", frag.index}, {"type", "function"}};
      const auto& acc_call = st.acc.tool_calls[frag.index];
      if (frag.first) {
        call["id"] = acc_call.id;
        call["function"] = {{"name", acc_call.name}, {"arguments", frag.arguments}, {"output", nullptr}};
      } else {
        call["function"] = {{"arguments", frag.arguments}};
      }
      emit(self, "thread.run.step.delta",
           {{"id", (*st.tool_step)["id"]},
            {"object", "thread.run.step.delta"},
            {"delta", {{"step_details", {{"type", "tool_calls"}, {"tool_calls", json::array({call})}}}}}});
    }
  }
}

/// Marks the tool_calls step done with every output known, adds the turn
/// to the transcript, and goes on with the next turn.
void complete_tool_step(run_actor* self) {
  auto& st = self->state;
  const auto& pending = st.state["pending_calls"];
  json calls = json::array();
  json assistant_calls = json::array();
  json tool_messages = json::array();
  for (auto& c : pending) {
    const std::string id = c["id"];
    json output = st.state["outputs"].contains(id) ? st.state["outputs"][id] : json("");
    json call = {{"id", id}, {"type", "function"},
                 {"function", {{"name", c["name"]}, {"arguments", c["arguments"]}, {"output", output}}}};
    if (c.contains("oag")) call["oag"] = c["oag"];
    calls.push_back(std::move(call));
    assistant_calls.push_back({{"id", id}, {"type", "function"}, {"function", {{"name", c["name"]}, {"arguments", c["arguments"]}}}});
    tool_messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", output.is_string() ? output.get<std::string>() : output.dump()}});
  }
  if (!st.tool_step) {
    // Resumed after a restart or from submitted outputs: the step is on disk.
    auto id = st.state["open"].value("tool_step_id", std::string{});
    auto doc = objects::get_json(*st.ctx->db, storage::tenant_key(st.company_id, record_kind::run_step,
                                                                    storage::child_suffix(st.run_id, id)));
    if (doc && *doc) st.tool_step = **doc;
    else st.tool_step = new_step(st, "tool_calls", {{"type", "tool_calls"}});
  }
  (*st.tool_step)["step_details"]["tool_calls"] = calls;
  (*st.tool_step)["status"] = "completed";
  (*st.tool_step)["completed_at"] = now(st);
  st.state["transcript"].push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", assistant_calls}});
  for (auto& m : tool_messages) st.state["transcript"].push_back(m);
  st.state["pending_calls"] = json::array();
  st.state["outputs"] = json::object();
  st.state.erase("submitted_outputs");
  st.state["open"] = json::object();
  persist(self, {&*st.tool_step});
  emit(self, "thread.run.step.completed", *st.tool_step);
  st.tool_step.reset();
}

/// Every server-side call of the turn has its result: park for the
/// client's outputs, or go on.
void tools_settled(run_actor* self) {
  auto& st = self->state;
  json client_calls = json::array();
  for (auto& c : st.state["pending_calls"])
    if (!c.value("server", false))
      client_calls.push_back({{"id", c["id"]}, {"type", "function"},
                              {"function", {{"name", c["name"]}, {"arguments", c["arguments"]}}}});
  if (client_calls.empty()) {
    complete_tool_step(self);
    if (st.run["status"] == "cancelling") return finish_run(self, "cancelled");
    return next_turn(self);
  }
  st.run["status"] = "requires_action";
  st.run["required_action"] = {{"type", "submit_tool_outputs"}, {"submit_tool_outputs", {{"tool_calls", client_calls}}}};
  st.run["usage"] = run_usage(st);
  persist(self, {st.tool_step ? &*st.tool_step : nullptr});
  emit(self, "thread.run.requires_action", st.run);
  end_events(self);
  quit_settled(self);
}

/// Built-in tools of agent runs, served by the agents actor.
bool is_builtin(const run_state& st, const std::string& name) {
  return agent_of(st).is_object() && (name == "publish" || name == "delegate");
}

/// The agent's approval rule for a tool, when the run serves an agent that gates it.
std::optional<triggers::approval_rule> gate_of(const run_state& st, const std::string& tool) {
  const json& agent = agent_of(st);
  if (!agent.is_object()) return std::nullopt;
  return agents::approval_rule_for(json{{"approval", agent.value("approval", json::object())}}, tool);
}

json new_approval(const run_state& st, const json& call) {
  const json& agent = agent_of(st);
  const auto t = now(st);
  const auto& policy = agent.value("approval", json::object());
  return {{"id", crypto::time_ordered_id("apr_")},
          {"object", "approval"},
          {"status", "pending"},
          {"created_at", t},
          {"expires_at", t + agents::approval_ttl(json{{"approval", policy}})},
          {"agent_id", agent.value("agent_id", std::string{})},
          {"agent_name", agent.value("name", std::string{})},
          {"agent_run_id", agent.value("agent_run_id", std::string{})},
          {"thread_id", st.thread_id},
          {"run_id", st.run_id},
          {"tool_call_id", call["id"]},
          {"tool", call["name"]},
          {"arguments", call["arguments"]},
          {"telegram", policy.value("telegram", true)},
          {"decided_at", nullptr},
          {"decided_by", nullptr},
          {"reason", nullptr},
          {"telegram_messages", json::array()}};
}

/// Runs the turn's server-side calls. Calls the agent's approval policy
/// gates are decided first: while any waits for a human, the run parks
/// (approval records written with its state, no actor kept); a rejected or
/// expired call gets the refusal as its result.
void run_server_tools(run_actor* self) {
  auto& st = self->state;
  json opened = json::array();
  bool waiting = false;
  storage::write_batch consumed; // decisions the run takes up now
  for (auto& c : st.state["pending_calls"]) {
    if (!c.value("server", false)) continue;
    const std::string id = c["id"];
    if (st.state["outputs"].contains(id) || c.value("started", false) || c.value("approved", false)) continue;
    if (c.contains("approval_id")) {
      const std::string aid = c["approval_id"];
      auto a = objects::get_json(*st.ctx->db, storage::tenant_key(st.company_id, record_kind::approval, aid));
      if (!a || !*a) {
        st.state["outputs"][id] = "error: the approval of this call is lost";
        continue;
      }
      const std::string status = (**a)["status"];
      if (status == "pending") {
        waiting = true;
        continue;
      }
      consumed.del(storage::tenant_key(st.company_id, record_kind::approval_pending, aid));
      c["oag"] = {{"approval_id", aid}, {"approval", status}, {"decided_by", (**a)["decided_by"]}};
      if (status == "approved") {
        c["approved"] = true;
        continue;
      }
      std::string why = "rejected: a human did not approve this call (" + status;
      if ((**a)["decided_by"].is_string()) why += " by " + (**a)["decided_by"].get<std::string>();
      why += ")";
      if ((**a)["reason"].is_string()) why += ": " + (**a)["reason"].get<std::string>();
      st.state["outputs"][id] = why;
      continue;
    }
    auto rule = gate_of(st, c["name"]);
    if (!rule) continue;
    auto args = json::parse(c["arguments"].get<std::string>(), nullptr, false);
    if (!triggers::needs_approval(*rule, args.is_discarded() ? json(c["arguments"]) : args)) continue;
    json approval = new_approval(st, c);
    c["approval_id"] = approval["id"];
    opened.push_back(std::move(approval));
    waiting = true;
  }
  if (waiting) {
    storage::write_batch batch = std::move(consumed);
    for (auto& a : opened) {
      batch.put(storage::tenant_key(st.company_id, record_kind::approval, a["id"].get<std::string>()), objects::dump(a));
      // The index entry's value is the expiry: a restart rebuilds the agents'
      // pending set from one scan, without reading the approvals.
      batch.put(storage::tenant_key(st.company_id, record_kind::approval_pending, a["id"].get<std::string>()),
                std::to_string(a["expires_at"].get<std::int64_t>()));
    }
    st.state["awaiting_approvals"] = true;
    if (!persist(self, {st.tool_step ? &*st.tool_step : nullptr}, false, std::move(batch)))
      return finish_run(self, "failed", error_obj("server_error", "the run's state could not be stored"));
    if (!opened.empty()) {
      std::vector<json> list(opened.begin(), opened.end());
      self->send(st.launch.agents, approvals_opened{std::move(list)});
      // The client's stream (a WebSocket chat with an agent) learns why it ends here.
      for (auto& a : opened) emit(self, "approval.requested", json{{"approval", a}});
    }
    end_events(self);
    return quit_settled(self, std::string{"awaiting_approval"});
  }
  st.state.erase("awaiting_approvals");
  // A call with effects is marked started (durably) before it goes out: a
  // restart then reports it interrupted instead of repeating it. Built-ins
  // are idempotent by call id and are simply asked again.
  std::vector<json*> to_run;
  for (auto& c : st.state["pending_calls"]) {
    if (!c.value("server", false) || st.state["outputs"].contains(c["id"].get<std::string>()) || c.value("started", false))
      continue;
    if (!is_builtin(st, c["name"])) c["started"] = true;
    to_run.push_back(&c);
  }
  persist(self, {}, false, std::move(consumed));
  st.tools_outstanding = 0;
  const auto me = caf::actor_cast<caf::actor>(self);
  for (json* cp : to_run) {
    json& c = *cp;
    const std::string name = c["name"], id = c["id"], args = c["arguments"];
    if (is_builtin(st, name)) {
      ++st.tools_outstanding;
      if (name == "publish") self->send(st.launch.agents, publish_request{agent_run_id(st), id, st.seq, args, me});
      else
        self->send(st.launch.agents,
                   delegate_request{agent_run_id(st), st.run_id, id, st.seq, args,
                                    st.state.value("cost_uot", std::int64_t{0}) +
                                        st.state.value("children_cost_uot", std::int64_t{0}),
                                    me});
      continue;
    }
    auto tool = st.registered.find(name);
    if (tool == st.registered.end()) {
      st.state["outputs"][id] = "error: the tool is no longer registered";
      continue;
    }
    ++st.tools_outstanding;
    st.tool_actors.push_back(runs::spawn_tool_call(self->system(), st.ctx, st.company_id, tool->second, id, args,
                                                   st.settings.tool_network_allowlist, st.seq, me));
  }
  if (st.tools_outstanding == 0) tools_settled(self);
}

void on_tool_result(run_actor* self, tool_result& r) {
  auto& st = self->state;
  if (st.finished || r.turn != st.seq || st.tools_outstanding == 0) return;
  st.state["outputs"][r.tool_call_id] = r.output;
  if (r.cost_uot > 0)
    st.state["children_cost_uot"] = st.state.value("children_cost_uot", std::int64_t{0}) + r.cost_uot;
  for (auto& c : st.state["pending_calls"])
    if (c["id"] == r.tool_call_id) {
      json o = c.value("oag", json::object());
      o.update({{"server_side", true}, {"ok", r.ok}, {"duration_ms", r.duration_ms}, {"http_status", r.http_status}});
      if (r.cost_uot > 0) o["children_cost_ot"] = money::format_ot(r.cost_uot);
      c["oag"] = o;
    }
  persist(self);
  if (--st.tools_outstanding == 0) {
    st.tool_actors.clear();
    tools_settled(self);
  }
}

json error_from_reply(const model_reply& r) {
  auto doc = json::parse(r.body, nullptr, false);
  std::string message = "the model call failed with HTTP status " + std::to_string(r.status);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object())
    message = doc["error"].value("message", message);
  std::string code = r.status == 429 || r.status == 402 ? "rate_limit_exceeded"
                     : r.status == 400 || r.status == 404 ? "invalid_prompt"
                                                          : "server_error";
  return error_obj(code, message);
}

/// The model call is over: close the turn.
void on_model_end(run_actor* self, std::optional<json> error) {
  auto& st = self->state;
  st.call_live = false;
  st.state["call_in_flight"] = nullptr;
  if (st.charge) {
    auto& u = st.state["usage"];
    u["prompt_tokens"] = u.value("prompt_tokens", std::int64_t{0}) + st.charge->input_tokens;
    u["completion_tokens"] = u.value("completion_tokens", std::int64_t{0}) + st.charge->output_tokens;
    st.state["cost_uot"] = st.state.value("cost_uot", std::int64_t{0}) + st.charge->cost_uot;
  }
  st.state["steps_used"] = st.state.value("steps_used", 0) + 1;
  if (st.run["status"] == "cancelling") return finish_run(self, "cancelled");
  if (!error && st.acc.error) {
    error = error_obj("server_error", st.acc.error->value("message", std::string{"the model's stream failed"}));
  }
  if (!error && !st.acc.finish_reason && st.acc.text.empty() && st.acc.tool_calls.empty())
    error = error_obj("server_error", "the model call ended without an answer");
  const bool has_tools = !st.acc.tool_calls.empty();
  // Close the message of the turn (if it wrote text).
  const bool cut = st.acc.finish_reason == std::optional<std::string>{"length"};
  // An empty answer is still an answer: it gets its (empty) message and the
  // step that accounts for the call.
  if (!error && !has_tools && !st.message) open_message(self);
  if (st.message && !error) {
    const auto t = now(st);
    (*st.message)["content"] = json::array({{{"type", "text"}, {"text", {{"value", st.acc.text}, {"annotations", json::array()}}}}});
    if (cut && !has_tools) {
      (*st.message)["status"] = "incomplete";
      (*st.message)["incomplete_at"] = t;
      (*st.message)["incomplete_details"] = {{"reason", "max_tokens"}};
    } else {
      (*st.message)["status"] = "completed";
      (*st.message)["completed_at"] = t;
    }
    (*st.msg_step)["status"] = "completed";
    (*st.msg_step)["completed_at"] = t;
    (*st.msg_step)["oag"] = step_oag(st);
    if (!has_tools) (*st.msg_step)["usage"] = (*st.msg_step)["oag"]["usage"];
    st.state["open"].erase("message_id");
    st.state["open"].erase("msg_step_id");
    persist(self, {&*st.message, &*st.msg_step});
    emit(self, (*st.message)["status"] == "completed" ? "thread.message.completed" : "thread.message.incomplete",
         *st.message);
    emit(self, "thread.run.step.completed", *st.msg_step);
    st.message.reset();
    st.msg_step.reset();
  }
  if (error) return finish_run(self, "failed", *error);
  if (!has_tools) {
    if (cut)
      return finish_run(self, "incomplete", nullptr, {{"reason", "max_completion_tokens"}});
    return finish_run(self, "completed");
  }
  if (!st.tool_step) open_tool_step(self);
  (*st.tool_step)["oag"] = step_oag(st);
  (*st.tool_step)["usage"] = (*st.tool_step)["oag"]["usage"];
  json pending = json::array();
  std::set<std::string> offered;
  for (auto& t : st.run["tools"])
    if (t.value("type", std::string{}) == "function") offered.insert(t["function"].value("name", std::string{}));
  std::size_t n = 0;
  for (auto& c : st.acc.tool_calls) {
    std::string id = c.id.empty() ? "call_" + st.run_id.substr(4, 12) + std::to_string(n) : c.id;
    ++n;
    bool server = offered.count(c.name) && (st.registered.count(c.name) || is_builtin(st, c.name));
    pending.push_back({{"id", id}, {"name", c.name}, {"arguments", c.arguments}, {"server", server}});
  }
  st.state["pending_calls"] = pending;
  st.state["outputs"] = json::object();
  json details_calls = json::array();
  for (auto& c : pending)
    details_calls.push_back({{"id", c["id"]}, {"type", "function"},
                             {"function", {{"name", c["name"]}, {"arguments", c["arguments"]}, {"output", nullptr}}}});
  (*st.tool_step)["step_details"]["tool_calls"] = details_calls;
  persist(self, {&*st.tool_step});
  run_server_tools(self);
}

/// Starts (or continues) the run from what is on disk.
void begin(run_actor* self) {
  auto& st = self->state;
  auto& l = st.launch;
  if (l.sink) {
    l.sink->start_stream(200);
    if (l.created_thread) emit(self, "thread.created", *l.created_thread);
    if (l.fresh) emit(self, "thread.run.created", st.run);
  }
  if (st.run["status"] == "cancelling") return finish_run(self, "cancelled");
  // A model call cut by a restart.
  if (st.state["call_in_flight"].is_string()) {
    const std::string call_id = st.state["call_in_flight"];
    auto marker = st.ctx->db->get(storage::tenant_key(st.company_id, record_kind::settled_call, call_id));
    if (marker && *marker)
      return finish_run(self, "failed",
                        error_obj("server_error", "OAG restarted during a model call that was already charged; it "
                                                  "is not repeated, so it is not paid for twice"));
    st.state["call_in_flight"] = nullptr;
  }
  // Objects a restart left open are closed before the run goes on.
  const json open = st.state.value("open", json::object());
  for (const char* field : {"message_id", "msg_step_id"}) {
    if (!open.contains(field)) continue;
    const std::string id = open[field];
    std::string key = std::string{field} == "message_id"
                          ? storage::tenant_key(st.company_id, record_kind::message, storage::child_suffix(st.thread_id, id))
                          : storage::tenant_key(st.company_id, record_kind::run_step, storage::child_suffix(st.run_id, id));
    auto doc = objects::get_json(*st.ctx->db, key);
    if (!doc || !*doc) continue;
    json obj = **doc;
    if (obj["status"] != "in_progress") continue;
    if (obj["object"] == "thread.message") {
      obj["status"] = "incomplete";
      obj["incomplete_at"] = now(st);
      obj["incomplete_details"] = {{"reason", "run_failed"}};
    } else {
      obj["status"] = "failed";
      obj["failed_at"] = now(st);
      obj["last_error"] = error_obj("server_error", "interrupted by a restart");
    }
    persist(self, {&obj});
  }
  st.state["open"].erase("message_id");
  st.state["open"].erase("msg_step_id");
  // Tool outputs: submitted by the client, or server-side calls a restart
  // cut (those that had started are not repeated; those not yet started,
  // approved ones and built-ins are run now).
  bool server_left = false;
  if (!st.state["pending_calls"].empty()) {
    if (st.state.contains("submitted_outputs"))
      for (auto& o : st.state["submitted_outputs"]) st.state["outputs"][o["tool_call_id"].get<std::string>()] = o["output"];
    for (auto& c : st.state["pending_calls"]) {
      const std::string id = c["id"];
      if (st.state["outputs"].contains(id) || !c.value("server", false)) continue;
      if (c.value("started", false))
        st.state["outputs"][id] = "error: this tool call was interrupted by a restart of OAG and is not repeated";
      else
        server_left = true;
    }
    if (!server_left) {
      bool all = true;
      for (auto& c : st.state["pending_calls"])
        if (!st.state["outputs"].contains(c["id"].get<std::string>())) all = false;
      if (!all) return tools_settled(self); // still waiting for the client
      complete_tool_step(self);
    }
  }
  emit(self, "thread.run.queued", st.run);
  st.run["status"] = "in_progress";
  if (st.run["started_at"].is_null()) st.run["started_at"] = now(st);
  if (!persist(self)) return finish_run(self, "failed", error_obj("server_error", "the run's state could not be stored"));
  emit(self, "thread.run.in_progress", st.run);
  if (server_left) return run_server_tools(self);
  next_turn(self);
}

caf::behavior run_behavior(run_actor* self, std::shared_ptr<const gateway_context> ctx, run_launch launch) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.launch = std::move(launch);
  st.company_id = st.launch.company_id;
  st.run = std::move(st.launch.run);
  st.state = std::move(st.launch.state);
  st.thread_id = st.run["thread_id"];
  st.run_id = st.run["id"];
  for (const char* f : {"transcript", "pending_calls"})
    if (!st.state[f].is_array()) st.state[f] = json::array();
  for (const char* f : {"outputs", "open", "usage"})
    if (!st.state[f].is_object()) st.state[f] = json::object();
  if (auto s = runs::load_settings(*st.ctx->db, st.company_id)) st.settings = std::move(s.value());
  if (auto t = runs::load_tools(*st.ctx->db, st.company_id)) st.registered = std::move(t.value());
  self->send(self, caf::atom("begin"));
  // An abnormal exit (exception) still frees the thread for the company.
  // The functor runs after the state is gone, so it keeps its own copies.
  st.settled_flag = std::make_shared<bool>(false);
  self->attach_functor([flag = st.settled_flag, parent = st.launch.parent, tid = st.thread_id,
                        rid = st.run_id, arid = agent_run_id(st)](const caf::error&) {
    if (!*flag && parent) caf::anon_send(parent, run_settled{tid, rid, "in_progress", 0, arid, 0});
  });
  return {
    [=](caf::atom_value a) {
      if (a == caf::atom("begin")) begin(self);
    },
    [=](model_chunks& msg) { on_chunks(self, msg); },
    [=](model_charged& msg) {
      if (msg.seq == self->state.seq) self->state.charge = msg.report;
    },
    [=](model_reply& msg) {
      auto& st = self->state;
      if (msg.seq != st.seq || st.finished) return;
      if (msg.status != 200) st.call_error = error_from_reply(msg);
    },
    [=](const model_end& msg) {
      auto& st = self->state;
      if (msg.seq != st.seq || st.finished || !st.call_live) return;
      on_model_end(self, st.call_error);
    },
    [=](tool_result& r) { on_tool_result(self, r); },
    [=](run_control& c) -> caf::result<run_snapshot> {
      auto& st = self->state;
      if (c.what == run_control::kind::modify) {
        st.run["metadata"] = c.metadata;
        persist(self);
        return run_snapshot{st.run};
      }
      const std::string status = st.run["status"];
      if (status != "queued" && status != "in_progress" && status != "requires_action")
        return to_caf_error(make_failure(errc::invalid_request, "Cannot cancel run with status '" + status + "'."));
      st.run["status"] = "cancelling";
      persist(self);
      emit(self, "thread.run.cancelling", st.run);
      run_snapshot reply{st.run};
      if (st.call_live) {
        if (auto sink = st.call.lock()) sink->abort();
      } else {
        // Server-side tools in flight are stopped (their connections closed).
        for (auto& t : st.tool_actors) self->send_exit(t, caf::exit_reason::user_shutdown);
        finish_run(self, "cancelled");
      }
      return reply;
    },
  };
}

} // namespace

json initial_run_state() {
  return {{"call_seq", 0},         {"call_in_flight", nullptr}, {"transcript", json::array()},
          {"usage", json::object()}, {"cost_uot", 0},            {"steps_used", 0},
          {"pending_calls", json::array()}, {"outputs", json::object()}, {"open", json::object()}};
}

caf::actor spawn_run(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, run_launch launch) {
  return sys.spawn(run_behavior, std::move(ctx), std::move(launch));
}

} // namespace oag::actors
