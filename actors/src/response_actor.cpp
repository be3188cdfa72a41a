// The response actor (see response_actor.hpp). One response is a loop of
// model calls: each call is streamed from the tenant into a per-call
// stream_encoder (which builds the output items, with their ids, exactly as
// they are streamed); a call that asks for registered server-side tools
// runs them and calls the model again; a call that asks for client function
// tools, or only answers, ends the response.
//
// The client sees ONE response: the per-call events are relayed with one
// sequence_number counter and output_index counted over the whole response;
// the response.created / in_progress / terminal events are this actor's
// own, carrying the whole output and the usage summed over the calls.
// Server-side tool calls are not output items (a client must not answer
// them); they are listed under the response's `oag` field and kept in the
// chat history of the response, so a continuation sees them.

#include "response_actor.hpp"

#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "object_store.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/adapters/validate.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "replies.hpp"
#include "run_support.hpp"

namespace oag::actors::responses {

using nlohmann::json;
using storage::record_kind;
namespace wire = adapters::responses;

const std::string& boot_id() {
  static const std::string id = crypto::random_id("boot_", 16);
  return id;
}

std::string response_key(const std::string& company_id, const std::string& response_id) {
  return storage::tenant_key(company_id, record_kind::response, response_id);
}

std::string item_key(const std::string& company_id, const std::string& conversation_id, const std::string& item_id) {
  return storage::tenant_key(company_id, record_kind::message, storage::child_suffix(conversation_id, item_id));
}

json with_new_ids(const json& items) {
  json out = json::array();
  if (!items.is_array()) return out;
  for (const auto& item : items) {
    json copy = item;
    if (copy.is_object()) copy["id"] = crypto::time_ordered_id(item_prefix);
    out.push_back(std::move(copy));
  }
  return out;
}

json put_conversation_items(const std::string& company_id, const std::string& conversation_id, const json& items,
                            std::int64_t now, storage::write_batch& batch) {
  json listed = json::array();
  for (const auto& item : items) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_string()) continue;
    const std::string id = item["id"];
    json stored;
    if (wire::is_message_item(item)) {
      if (auto fields = wire::item_to_message_fields(item)) {
        const bool incomplete = item.value("status", std::string{}) == "incomplete";
        stored = {{"id", id},
                  {"object", "thread.message"},
                  {"created_at", now},
                  {"assistant_id", nullptr},
                  {"thread_id", conversation_id},
                  {"run_id", nullptr},
                  {"role", (*fields)["role"]},
                  {"content", (*fields)["content"]},
                  {"attachments", json::array()},
                  {"metadata", json::object()},
                  {"status", incomplete ? "incomplete" : "completed"},
                  {"incomplete_details", incomplete ? json{{"reason", "max_tokens"}} : json(nullptr)},
                  {"completed_at", incomplete ? json(nullptr) : json(now)},
                  {"incomplete_at", incomplete ? json(now) : json(nullptr)}};
      }
    }
    if (stored.is_null()) stored = wire::conversation_record(item, id);
    batch.put(item_key(company_id, conversation_id, id), objects::dump(stored));
    json shown = wire::stored_to_item(stored);
    if (!shown.is_null()) listed.push_back(std::move(shown));
  }
  return listed;
}

namespace {

struct model_call_log {
  std::string model;
  std::string response_id;
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cost_uot = 0;
};

struct response_state {
  std::shared_ptr<const gateway_context> ctx;
  response_launch l;
  runs::company_settings settings;
  std::map<std::string, json> registered; // server-side tools by name
  std::set<std::string> offered;          // function tool names of the request
  json transcript = json::array();        // this response's chat messages (input first)
  json output = json::array();            // the visible output items so far
  json server_calls = json::array();      // server-side tool calls made (for `oag`)
  std::vector<model_call_log> calls;
  // The model call in progress.
  std::uint32_t seq = 0;
  std::weak_ptr<runs::model_call_sink> call;
  bool call_live = false;
  runs::chat_accumulator acc;
  std::optional<wire::stream_encoder> enc;
  std::optional<charge_report> charge;
  std::optional<model_reply> refused; // the call ended in an HTTP error
  // Server-side tools of the current turn.
  json pending = json::array(); // [{call_id, name, arguments, server}]
  std::map<std::string, std::string> outputs;
  std::size_t tools_outstanding = 0;
  // Client stream.
  std::shared_ptr<response_sink> sink; // null: nobody listens (background, or the client left)
  bool streaming = false;              // start_stream was sent
  std::int64_t event_seq = 0;
  std::map<std::int64_t, std::int64_t> index_of; // this call's output_index -> the response's
  std::set<std::int64_t> hidden;                 // this call's hidden output indexes
  bool announced = false;                        // in_progress record written / created event sent
  bool finished = false;
  static inline const char* name = "oag.response";
};

using response_actor = caf::stateful_actor<response_state>;

json error_obj(const std::string& code, const std::string& message) { return {{"code", code}, {"message", message}}; }

json usage_now(const response_state& st) {
  if (st.calls.empty()) return nullptr;
  money::token_usage u;
  for (auto& c : st.calls) {
    u.input_tokens += c.input_tokens;
    u.cached_input_tokens += c.cached_input_tokens;
    u.output_tokens += c.output_tokens;
  }
  return wire::usage_from_tokens(u);
}

json oag_field(const response_state& st) {
  json calls = json::array();
  for (auto& c : st.calls)
    calls.push_back({{"model", c.model},
                     {"response_id", c.response_id},
                     {"usage", {{"input_tokens", c.input_tokens}, {"output_tokens", c.output_tokens}}},
                     {"cost_uot", c.cost_uot}});
  return {{"model_calls", calls}, {"server_tool_calls", st.server_calls}};
}

json snapshot(const response_state& st, const std::string& status, const json& error = nullptr,
              const std::optional<std::string>& incomplete_reason = std::nullopt) {
  std::optional<std::int64_t> completed_at;
  if (status == "completed") completed_at = st.ctx->now();
  json r = wire::response_object(st.l.req, st.l.response_id, st.l.created_at, status, st.output,
                                status == "in_progress" ? json(nullptr) : usage_now(st), error, incomplete_reason,
                                completed_at);
  r["oag"] = oag_field(st);
  return r;
}

// -- the client stream ------------------------------------------------------------------

void write_frames(response_actor* self, const std::string& frames) {
  auto& st = self->state;
  if (!st.sink || !st.streaming || frames.empty()) return;
  if (!st.sink->write(frames)) {
    st.sink.reset(); // the client left
    if (!st.l.req.store)
      if (auto c = st.call.lock()) c->abort(); // nobody will ever see it: stop paying for it
  }
}

void emit(response_actor* self, json payload) {
  auto& st = self->state;
  payload["sequence_number"] = st.event_seq++;
  const std::string type = payload.value("type", std::string{});
  write_frames(self, sse::frame_event(type, objects::dump(payload)));
}

bool is_server_tool(const response_state& st, const std::string& name) {
  return st.offered.count(name) && st.registered.count(name);
}

/// Relays one call's encoder frames into the response's stream.
void relay(response_actor* self, const std::string& frames) {
  auto& st = self->state;
  if (frames.empty()) return;
  sse::parser parser;
  std::vector<sse::event> events;
  parser.feed(frames, events);
  for (auto& ev : events) {
    auto p = json::parse(ev.data, nullptr, false);
    if (!p.is_object()) continue;
    const std::string type = p.value("type", std::string{});
    if (type == "response.created" || type == "response.in_progress" || type == "response.completed" ||
        type == "response.incomplete" || type == "response.failed" || type == "error")
      continue; // this actor's own
    if (p.contains("output_index") && p["output_index"].is_number_integer()) {
      const auto local = p["output_index"].get<std::int64_t>();
      if (type == "response.output_item.added") {
        const json& item = p["item"];
        if (item.value("type", std::string{}) == "function_call" && is_server_tool(st, item.value("name", std::string{})))
          st.hidden.insert(local);
        else
          st.index_of[local] = static_cast<std::int64_t>(st.output.size() + st.index_of.size());
      }
      if (st.hidden.count(local)) continue;
      auto it = st.index_of.find(local);
      if (it == st.index_of.end()) continue;
      p["output_index"] = it->second;
    }
    emit(self, std::move(p));
  }
}

/// Writes the in_progress record (stored responses) and opens the stream.
bool announce(response_actor* self) {
  auto& st = self->state;
  if (st.announced) return true;
  st.announced = true;
  json obj = snapshot(st, "in_progress");
  if (st.l.req.store) {
    json record = {{"object", "oag.response_record"}, {"response", obj}, {"input_items", st.l.input_items},
                   {"boot", boot_id()}};
    if (auto w = st.ctx->db->put(response_key(st.l.company_id, st.l.response_id), objects::dump(record)); !w) {
      spdlog::error("response {}: cannot store it: {}", st.l.response_id, w.error().message);
      return false;
    }
  }
  if (st.sink && st.l.req.stream) {
    st.sink->start_stream(200, {}, "text/event-stream");
    st.streaming = true;
    emit(self, {{"type", "response.created"}, {"response", obj}});
    emit(self, {{"type", "response.in_progress"}, {"response", obj}});
  }
  return true;
}

// -- the end ------------------------------------------------------------------------------

/// Stores the final response (and its conversation items), then tells the client.
void finish(response_actor* self, const std::string& status, json error = nullptr,
            std::optional<std::string> incomplete_reason = std::nullopt) {
  auto& st = self->state;
  if (st.finished) return;
  if (!st.announced) announce(self); // a stream opens even to say it failed
  st.finished = true;
  if (status == "failed")
    for (auto& item : st.output)
      if (item.value("status", std::string{}) == "in_progress") item["status"] = "incomplete";
  json obj = snapshot(st, status, error, incomplete_reason);
  const auto& company = st.l.company_id;
  if (st.l.req.store) {
    storage::write_batch batch;
    const auto rk = response_key(company, st.l.response_id);
    // Deleted while it was being produced: it stays deleted.
    bool deleted = false;
    if (st.announced) {
      auto doc = st.ctx->db->get(rk);
      deleted = doc && !*doc;
    }
    if (!deleted) {
      json history = st.l.history;
      for (auto& m : st.transcript) history.push_back(m);
      json record = {{"object", "oag.response_record"}, {"response", obj}, {"history", std::move(history)},
                     {"input_items", st.l.input_items}, {"boot", boot_id()}};
      batch.put(rk, objects::dump(record));
    }
    // A conversation gets the turn's input and output items (not for a failed turn).
    if (st.l.req.conversation_id && status != "failed") {
      const auto& conv = *st.l.req.conversation_id;
      auto doc = objects::get_json(*st.ctx->db, storage::tenant_key(company, record_kind::thread, conv));
      if (doc && *doc) {
        json items = st.l.input_items;
        for (auto& o : st.output) {
          // Output messages keep their ids (msg_…, made during the call, so
          // after the input's); other items get one with the shared prefix.
          json copy = o;
          if (copy.value("id", std::string{}).rfind(item_prefix, 0) != 0) copy["id"] = crypto::time_ordered_id(item_prefix);
          items.push_back(std::move(copy));
        }
        put_conversation_items(company, conv, items, st.ctx->now(), batch);
      }
    }
    if (batch.size() > 0)
      if (auto w = st.ctx->db->write(batch); !w) {
        spdlog::error("response {}: cannot store it: {}", st.l.response_id, w.error().message);
        obj = snapshot(st, "failed", error_obj("server_error", "the response could not be stored"));
      }
  }
  if (st.sink) {
    if (st.streaming) {
      const std::string ostatus = obj["status"];
      if (ostatus == "failed") {
        emit(self, {{"type", "response.failed"}, {"response", obj}});
        emit(self, {{"type", "error"}, {"code", obj["error"]["code"]}, {"message", obj["error"]["message"]},
                    {"param", nullptr}});
      } else {
        emit(self, {{"type", "response." + ostatus}, {"response", obj}});
      }
      if (st.sink) st.sink->end_stream();
    } else {
      detail::respond_json(st.sink, 200, obj);
    }
    st.sink.reset();
  }
  self->quit();
}

/// The first model call was refused (no funds, unknown model, …) or failed
/// before it answered: the client gets that HTTP error, as for a chat
/// completion, and nothing is stored.
void refuse(response_actor* self, const model_reply& r) {
  auto& st = self->state;
  st.finished = true;
  if (st.sink) {
    auto doc = json::parse(r.body, nullptr, false);
    if (doc.is_object() && doc.contains("error")) {
      st.sink->respond(r.status, r.body);
    } else {
      failure f = make_failure(errc::upstream_error, "the model call failed with HTTP status " + std::to_string(r.status));
      f.http_status = r.status;
      st.sink->respond(r.status, to_openai_error_body(f));
    }
    st.sink.reset();
  }
  self->quit();
}

json error_from_reply(const model_reply& r) {
  auto doc = json::parse(r.body, nullptr, false);
  std::string message = "the model call failed with HTTP status " + std::to_string(r.status);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object() && doc["error"].contains("message") &&
      doc["error"]["message"].is_string())
    message = doc["error"]["message"].get<std::string>();
  const char* code = r.status == 429 || r.status == 402 ? "rate_limit_exceeded"
                     : r.status == 400 || r.status == 404 ? "invalid_prompt"
                                                          : "server_error";
  return error_obj(code, message);
}

// -- turns ----------------------------------------------------------------------------------

void next_turn(response_actor* self) {
  auto& st = self->state;
  const int max_steps = st.settings.run_max_steps.value_or(st.ctx->settings.run_max_steps);
  if (static_cast<int>(st.calls.size()) >= max_steps || static_cast<int>(st.seq) >= max_steps)
    return finish(self, "failed",
                  error_obj("server_error", "the response reached its limit of " + std::to_string(max_steps) +
                                                " model calls (tool loop?)"));
  // The request as this turn sends it: the prompt stack and history as
  // messages, the function tools completed from their registrations.
  wire::request turn = st.l.req;
  turn.instructions.reset();
  turn.input_items = json::array();
  for (auto& t : turn.tools) {
    auto r = st.registered.find(t.value("name", std::string{}));
    if (r == st.registered.end()) continue;
    for (const char* f : {"description", "parameters"})
      if ((!t.contains(f) || t[f].is_null()) && r->second.contains(f)) t[f] = r->second[f];
  }
  if (st.seq > 0) { // after tool results the model may answer: no forced call again
    const auto& tc = turn.tool_choice;
    if (tc == "required" || (tc.is_object() && tc.value("type", std::string{}) == "function")) turn.tool_choice = nullptr;
  }
  json chat_tools = wire::tools_to_chat(turn.tools);
  auto layers = runs::prompt_stack(*st.ctx, st.settings, st.l.req.instructions, chat_tools);
  json messages = runs::prompt_messages(layers);
  for (auto& m : st.l.history) messages.push_back(m);
  for (auto& m : st.transcript) messages.push_back(m);
  json body = wire::chat_body(turn, messages, true);
  if (auto v = adapters::validate_chat_request(body); !v) {
    if (st.seq == 0) {
      // Nothing was asked of a model yet: a plain 400.
      st.finished = true;
      detail::respond_failure(st.sink, v.error());
      st.sink.reset();
      return self->quit();
    }
    return finish(self, "failed", error_obj("invalid_prompt", v.error().message));
  }
  ++st.seq;
  st.acc = {};
  st.charge.reset();
  st.refused.reset();
  st.index_of.clear();
  st.hidden.clear();
  st.enc.emplace(st.l.req, st.l.response_id, st.l.created_at,
                 [](std::string_view prefix) { return crypto::time_ordered_id(prefix); });
  st.call_live = true;
  const std::string call_id = "call-" + st.l.response_id + "-" + std::to_string(st.seq);
  st.call = runs::start_model_call(st.l.tenant, st.l.company_id, call_id, std::move(body),
                                   caf::actor_cast<caf::actor>(self), st.seq);
}

void on_chunks(response_actor* self, model_chunks& msg) {
  auto& st = self->state;
  if (msg.seq != st.seq || st.finished || !st.enc) return;
  if (!announce(self)) {
    if (auto c = st.call.lock()) c->abort();
    return;
  }
  for (auto& chunk : msg.chunks) {
    st.acc.add(chunk);
    if (chunk.is_object() && chunk.contains("error") && !chunk["error"].is_null()) continue;
    relay(self, st.enc->on_chunk(chunk));
  }
}

void tools_settled(response_actor* self) {
  auto& st = self->state;
  bool client_calls = false;
  for (auto& c : st.pending) {
    if (!c.value("server", false)) {
      client_calls = true;
      continue;
    }
    const std::string id = c["call_id"];
    auto out = st.outputs.count(id) ? st.outputs[id] : std::string{"error: no result"};
    st.transcript.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", out}});
  }
  st.pending = json::array();
  st.outputs.clear();
  if (client_calls) return finish(self, "completed"); // the client answers the function calls
  next_turn(self);
}

void on_tool_result(response_actor* self, tool_result& r) {
  auto& st = self->state;
  if (st.finished || r.turn != st.seq || st.tools_outstanding == 0) return;
  st.outputs[r.tool_call_id] = r.output;
  for (auto& c : st.server_calls)
    if (c["call_id"] == r.tool_call_id && c["output"].is_null()) {
      c["output"] = r.output;
      c["ok"] = r.ok;
      c["duration_ms"] = r.duration_ms;
      c["http_status"] = r.http_status;
    }
  if (--st.tools_outstanding == 0) tools_settled(self);
}

/// A call that broke off: what it streamed joins the output, incomplete.
void absorb_partial(response_actor* self) {
  auto& st = self->state;
  if (!st.enc) return;
  for (auto& item : st.enc->output_items()) {
    if (item.value("type", std::string{}) == "function_call" && is_server_tool(st, item.value("name", std::string{})))
      continue;
    item["status"] = "incomplete";
    st.output.push_back(std::move(item));
  }
  st.enc.reset();
}

void on_model_end(response_actor* self) {
  auto& st = self->state;
  st.call_live = false;
  if (st.charge) {
    model_call_log c;
    c.model = st.charge->model;
    c.response_id = st.charge->response_id;
    c.input_tokens = st.charge->input_tokens;
    c.cached_input_tokens = st.charge->cached_input_tokens;
    c.output_tokens = st.charge->output_tokens;
    c.cost_uot = st.charge->cost_uot;
    st.calls.push_back(std::move(c));
  }
  if (st.refused) {
    if (st.seq == 1 && !st.announced) return refuse(self, *st.refused);
    absorb_partial(self);
    return finish(self, "failed", error_from_reply(*st.refused));
  }
  if (st.acc.error) {
    std::string m = "the model's stream failed";
    if (st.acc.error->is_object() && st.acc.error->contains("message") && (*st.acc.error)["message"].is_string())
      m = (*st.acc.error)["message"].get<std::string>();
    absorb_partial(self);
    return finish(self, "failed", error_obj("server_error", m));
  }
  if (!st.acc.finish_reason && st.acc.text.empty() && st.acc.tool_calls.empty()) {
    absorb_partial(self);
    return finish(self, "failed", error_obj("server_error", "the model call ended without an answer"));
  }
  announce(self);
  relay(self, st.enc->finish());
  json items = st.enc->final_response().is_object() ? st.enc->final_response()["output"] : json::array();
  // Visible items join the output; function calls become the turn's tool calls.
  json tool_calls = json::array();
  json pending = json::array();
  for (auto& item : items) {
    const std::string type = item.value("type", std::string{});
    if (type == "function_call") {
      const std::string name = item.value("name", std::string{});
      const bool server = is_server_tool(st, name);
      tool_calls.push_back({{"id", item["call_id"]}, {"type", "function"},
                            {"function", {{"name", name}, {"arguments", item["arguments"]}}}});
      pending.push_back({{"call_id", item["call_id"]}, {"name", name}, {"arguments", item["arguments"]}, {"server", server}});
      if (server) continue;
    }
    st.output.push_back(item);
  }
  json assistant = {{"role", "assistant"}, {"content", st.acc.text.empty() ? json(nullptr) : json(st.acc.text)}};
  if (!tool_calls.empty()) assistant["tool_calls"] = tool_calls;
  else if (assistant["content"].is_null()) assistant["content"] = "";
  st.transcript.push_back(std::move(assistant));
  if (tool_calls.empty()) {
    const auto o = wire::outcome_of(st.acc.finish_reason.value_or(""));
    return finish(self, o.status, nullptr, o.incomplete_reason);
  }
  st.pending = pending;
  st.outputs.clear();
  st.tools_outstanding = 0;
  for (auto& c : st.pending) {
    if (!c.value("server", false)) continue;
    const std::string name = c["name"], id = c["call_id"], args = c["arguments"];
    st.server_calls.push_back({{"call_id", id}, {"name", name}, {"arguments", args}, {"output", nullptr}});
    ++st.tools_outstanding;
    runs::spawn_tool_call(self->system(), st.ctx, st.l.company_id, st.registered[name], id, args,
                          st.settings.tool_network_allowlist, st.seq, caf::actor_cast<caf::actor>(self));
  }
  if (st.tools_outstanding == 0) tools_settled(self);
}

/// Runs a handler; an exception (malformed JSON somewhere) fails the response instead of the actor.
template <class F>
void guarded(response_actor* self, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("response {}: {}", self->state.l.response_id, e.what());
    auto& st = self->state;
    if (!st.finished) {
      if (auto c = st.call.lock()) c->abort();
      finish(self, "failed", error_obj("server_error", "internal error while producing the response"));
    }
  }
}

caf::behavior response_behavior(response_actor* self, std::shared_ptr<const gateway_context> ctx,
                                response_launch launch) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.l = std::move(launch);
  st.sink = st.l.sink;
  st.l.sink.reset();
  for (auto& t : st.l.req.tools)
    if (t.is_object() && t.value("type", std::string{}) == "function") st.offered.insert(t.value("name", std::string{}));
  if (auto s = runs::load_settings(*st.ctx->db, st.l.company_id)) st.settings = std::move(s.value());
  if (auto t = runs::load_tools(*st.ctx->db, st.l.company_id)) st.registered = std::move(t.value());
  if (auto input = wire::items_to_chat_messages(st.l.req.input_items)) st.transcript = std::move(*input);
  self->send(self, caf::atom("begin"));
  return {
    [=](caf::atom_value a) {
      if (a != caf::atom("begin")) return;
      guarded(self, [&] {
        auto& s = self->state;
        if (s.l.req.background && !s.l.req.stream) {
          // Background: answered at once with the in_progress object; the client polls.
          if (!announce(self)) {
            s.finished = true;
            detail::respond_failure(s.sink, make_failure(errc::storage_failure, "the response could not be stored"));
            return self->quit();
          }
          detail::respond_json(s.sink, 200, snapshot(s, "in_progress"));
          s.sink.reset();
        }
        next_turn(self);
      });
    },
    [=](model_chunks& msg) { guarded(self, [&] { on_chunks(self, msg); }); },
    [=](model_charged& msg) {
      if (msg.seq == self->state.seq) self->state.charge = msg.report;
    },
    [=](model_reply& msg) {
      auto& s = self->state;
      if (msg.seq != s.seq || s.finished) return;
      if (msg.status != 200) s.refused = msg;
    },
    [=](const model_end& msg) {
      auto& s = self->state;
      if (msg.seq != s.seq || s.finished || !s.call_live) return;
      guarded(self, [&] { on_model_end(self); });
    },
    [=](tool_result& r) { guarded(self, [&] { on_tool_result(self, r); }); },
  };
}

} // namespace

void spawn_response(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, response_launch launch) {
  sys.spawn(response_behavior, std::move(ctx), std::move(launch));
}

} // namespace oag::actors::responses
