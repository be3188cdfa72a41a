// The assistants actor (see assistants_actor.hpp). It is the one writer of
// a company's assistants, threads, messages, tools, secrets and settings;
// a run's own records are written by its run actor while it is alive and
// by this actor while the run is parked (the handover is run_settled).

#include "assistants_actor.hpp"

#include <set>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "agents_actor.hpp"
#include "assistants_objects.hpp"
#include "object_store.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "replies.hpp"
#include "responses_api.hpp"
#include "run_actor.hpp"
#include "run_support.hpp"
#include "tools_api.hpp"

namespace oag::actors {
namespace {

using nlohmann::json;
using storage::record_kind;

struct parked_run {
  std::string thread_id;
  std::int64_t expires_at = 0;
};

/// Parked runs by id, and in expiry order so the sweep touches only the due
/// ones and one timer (for the earliest) is all an idle company needs.
class parked_runs {
 public:
  void put(const std::string& run_id, parked_run p) {
    erase(run_id);
    by_expiry_.emplace(p.expires_at, run_id);
    by_id_.emplace(run_id, std::move(p));
  }
  void erase(const std::string& run_id) {
    auto it = by_id_.find(run_id);
    if (it == by_id_.end()) return;
    by_expiry_.erase({it->second.expires_at, run_id});
    by_id_.erase(it);
  }
  bool empty() const noexcept { return by_id_.empty(); }
  std::size_t size() const noexcept { return by_id_.size(); }
  /// The earliest expiry (only when not empty).
  std::int64_t earliest() const { return by_expiry_.begin()->first; }
  /// Thread and run ids of the runs due at `now`.
  std::vector<std::pair<std::string, std::string>> due(std::int64_t now) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto it = by_expiry_.begin(); it != by_expiry_.end() && it->first <= now; ++it)
      out.emplace_back(by_id_.at(it->second).thread_id, it->second);
    return out;
  }

 private:
  std::unordered_map<std::string, parked_run> by_id_;
  std::set<std::pair<std::int64_t, std::string>> by_expiry_;
};

struct assistants_state {
  std::shared_ptr<const gateway_context> ctx;
  std::string company_id;
  caf::actor tenant;
  std::unordered_map<std::string, caf::actor> live;       // run id -> run actor
  std::unordered_map<std::string, std::string> active;    // thread id -> unfinished run id
  parked_runs parked;                                     // waiting for tool outputs
  std::unordered_map<std::string, std::string> awaiting;  // run id -> thread id: parked on an approval
  std::set<std::string> early_decisions;                  // decided while the run was still parking
  caf::actor agents;                                      // the company's agents actor
  responses::responses_state responses;
  std::optional<std::int64_t> sweep_at; // when the pending expiry timer fires
  static inline const char* name = "oag.assistants";
};

using assistants_actor = caf::stateful_actor<assistants_state>;

// -- keys ---------------------------------------------------------------------------

std::string key(const assistants_state& st, record_kind kind, std::string_view suffix) {
  return storage::tenant_key(st.company_id, kind, suffix);
}
std::string message_key(const assistants_state& st, const std::string& thread, const std::string& id) {
  return key(st, record_kind::message, storage::child_suffix(thread, id));
}
std::string run_key(const assistants_state& st, const std::string& thread, const std::string& id) {
  return key(st, record_kind::run, storage::child_suffix(thread, id));
}

void fail(const api_request& api, const failure& f) { detail::respond_failure(api.sink, f); }
void ok(const api_request& api, const json& j) { detail::respond_json(api.sink, 200, j); }

/// Loads an object or answers 404 (returns nullopt when it answered).
std::optional<json> load_or_404(assistants_actor* self, const api_request& api, const std::string& k,
                                const std::string& what, const std::string& id) {
  auto doc = objects::get_existing(*self->state.ctx->db, k, what, id);
  if (!doc) {
    fail(api, doc.error());
    return std::nullopt;
  }
  return std::move(*doc);
}

bool write(assistants_actor* self, const api_request& api, storage::write_batch& batch) {
  if (auto w = self->state.ctx->db->write(batch); !w) {
    fail(api, w.error());
    return false;
  }
  return true;
}

/// Deletes every key under a prefix into `batch`.
result<void> delete_prefix(assistants_state& st, const std::string& prefix, storage::write_batch& batch) {
  return st.ctx->db->for_each(prefix, [&](std::string_view k, std::string_view) {
    batch.del(k);
    return true;
  });
}

// -- assistants -------------------------------------------------------------------

void assistants_route(assistants_actor* self, api_request& api) {
  auto& st = self->state;
  switch (api.route) {
    case route_id::assistants_create: {
      auto a = assistants::new_assistant(api.body, crypto::time_ordered_id("asst_"), st.ctx->now());
      if (!a) return fail(api, a.error());
      // Stored only once the company can call its model (as OpenAI checks it).
      auto sink = api.sink;
      self->request(st.tenant, std::chrono::seconds(30), model_check{(*a)["model"]})
          .then(
              [self, sink, a = std::move(*a)](model_ok) {
                auto& s = self->state;
                if (auto w = s.ctx->db->put(key(s, record_kind::assistant, a["id"].get<std::string>()), objects::dump(a)); !w)
                  return detail::respond_failure(sink, w.error());
                detail::respond_json(sink, 200, a);
              },
              [sink](caf::error& e) { detail::respond_failure(sink, from_caf_error(e)); });
      return;
    }
    case route_id::assistants_list: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return fail(api, page.error());
      auto list = objects::list_page(*st.ctx->db, storage::tenant_prefix(st.company_id, record_kind::assistant), *page);
      if (!list) return fail(api, list.error());
      return ok(api, *list);
    }
    default: break;
  }
  const std::string& id = api.params.at(0);
  const auto k = key(st, record_kind::assistant, id);
  auto a = load_or_404(self, api, k, "assistant", id);
  if (!a) return;
  switch (api.route) {
    case route_id::assistant_get: return ok(api, *a);
    case route_id::assistant_modify: {
      if (auto r = assistants::modify_assistant(*a, api.body); !r) return fail(api, r.error());
      if (!api.body.is_object() || !api.body.contains("model")) {
        if (auto w = st.ctx->db->put(k, objects::dump(*a)); !w) return fail(api, w.error());
        return ok(api, *a);
      }
      // A new model is checked first; the change is applied to the assistant
      // as stored when the answer comes (another modify may have landed).
      auto sink = api.sink;
      self->request(st.tenant, std::chrono::seconds(30), model_check{(*a)["model"]})
          .then(
              [self, sink, k, id, body = api.body](model_ok) {
                auto& s = self->state;
                auto current = objects::get_json(*s.ctx->db, k);
                if (!current) return detail::respond_failure(sink, current.error());
                if (!*current) return detail::respond_failure(sink, objects::no_such("assistant", id));
                json updated = std::move(**current);
                if (auto r = assistants::modify_assistant(updated, body); !r) return detail::respond_failure(sink, r.error());
                if (auto w = s.ctx->db->put(k, objects::dump(updated)); !w) return detail::respond_failure(sink, w.error());
                detail::respond_json(sink, 200, updated);
              },
              [sink](caf::error& e) { detail::respond_failure(sink, from_caf_error(e)); });
      return;
    }
    case route_id::assistant_delete: {
      storage::write_batch batch;
      batch.del(k);
      if (!write(self, api, batch)) return;
      return ok(api, {{"id", id}, {"object", "assistant.deleted"}, {"deleted", true}});
    }
    default: return fail(api, make_failure(errc::not_found, "unknown route"));
  }
}

// -- threads and messages -------------------------------------------------------------

/// Builds a thread and its initial messages into `batch`.
result<json> make_thread(assistants_state& st, const json& body, storage::write_batch& batch, const char* prefix) {
  auto thread = assistants::new_thread(body, crypto::time_ordered_id(prefix), st.ctx->now());
  if (!thread) return thread.error();
  const std::string tid = (*thread)["id"];
  if (body.is_object() && body.contains("messages") && body["messages"].is_array()) {
    const auto& msgs = body["messages"];
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      auto m = assistants::new_message(msgs[i], crypto::time_ordered_id("msg_"), tid, st.ctx->now(),
                                       "messages[" + std::to_string(i) + "]");
      if (!m) return m.error();
      batch.put(message_key(st, tid, (*m)["id"]), objects::dump(*m));
    }
  }
  batch.put(key(st, record_kind::thread, tid), objects::dump(*thread));
  return thread;
}

failure active_run_conflict(const std::string& thread_id, const std::string& run_id) {
  return make_failure(errc::invalid_request, "Thread " + thread_id + " already has an active run " + run_id + ".");
}

/// Deleting what an active run reads is a state conflict (409).
failure busy_thread(const std::string& thread_id, const std::string& run_id) {
  return make_failure(errc::conflict, "Thread " + thread_id + " has an active run " + run_id +
                                          "; cancel it or wait until it ends.");
}

void threads_route(assistants_actor* self, api_request& api) {
  auto& st = self->state;
  if (api.route == route_id::threads_create) {
    storage::write_batch batch;
    auto thread = make_thread(st, api.body, batch, "thread_");
    if (!thread) return fail(api, thread.error());
    if (!write(self, api, batch)) return;
    return ok(api, *thread);
  }
  const std::string& tid = api.params.at(0);
  const auto tk = key(st, record_kind::thread, tid);
  auto thread = load_or_404(self, api, tk, "thread", tid);
  if (!thread) return;
  auto active = st.active.find(tid);
  switch (api.route) {
    case route_id::thread_get: return ok(api, *thread);
    case route_id::thread_modify: {
      if (api.body.is_object()) {
        if (auto r = objects::only_fields(api.body, {"metadata", "tool_resources"}); !r) return fail(api, r.error());
        if (api.body.contains("metadata")) {
          auto m = objects::check_metadata(api.body["metadata"]);
          if (!m) return fail(api, m.error());
          (*thread)["metadata"] = *m;
        }
      }
      if (auto w = st.ctx->db->put(tk, objects::dump(*thread)); !w) return fail(api, w.error());
      return ok(api, *thread);
    }
    case route_id::thread_delete: {
      if (active != st.active.end()) return fail(api, busy_thread(tid, active->second));
      storage::write_batch batch;
      batch.del(tk);
      auto msgs = delete_prefix(st, key(st, record_kind::message, storage::child_suffix(tid, "")), batch);
      if (!msgs) return fail(api, msgs.error());
      std::vector<std::string> run_ids;
      auto runs = st.ctx->db->for_each(key(st, record_kind::run, storage::child_suffix(tid, "")),
                                       [&](std::string_view k, std::string_view v) {
                                         batch.del(k);
                                         auto doc = json::parse(v, nullptr, false);
                                         if (doc.is_object()) run_ids.push_back(doc.value("id", std::string{}));
                                         return true;
                                       });
      if (!runs) return fail(api, runs.error());
      for (auto& rid : run_ids)
        if (!rid.empty())
          if (auto r = delete_prefix(st, key(st, record_kind::run_step, storage::child_suffix(rid, "")), batch); !r)
            return fail(api, r.error());
      if (!write(self, api, batch)) return;
      return ok(api, {{"id", tid}, {"object", (*thread)["object"] == "conversation" ? "conversation.deleted" : "thread.deleted"},
                      {"deleted", true}});
    }
    case route_id::messages_create: {
      if (active != st.active.end())
        return fail(api, make_failure(errc::invalid_request, "Can't add messages to " + tid + " while a run " +
                                                                 active->second + " is active."));
      auto m = assistants::new_message(api.body, crypto::time_ordered_id("msg_"), tid, st.ctx->now());
      if (!m) return fail(api, m.error());
      if (auto w = st.ctx->db->put(message_key(st, tid, (*m)["id"]), objects::dump(*m)); !w) return fail(api, w.error());
      return ok(api, *m);
    }
    case route_id::messages_list: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return fail(api, page.error());
      std::optional<std::string> run_filter;
      if (auto it = api.query.find("run_id"); it != api.query.end()) run_filter = it->second;
      auto list = objects::list_page(*st.ctx->db, key(st, record_kind::message, storage::child_suffix(tid, "")), *page,
                                     [&](json&& doc) -> std::optional<json> {
                                       if (doc.value("object", std::string{}) != "thread.message") return std::nullopt;
                                       if (run_filter && doc.value("run_id", json()) != *run_filter) return std::nullopt;
                                       return std::move(doc);
                                     });
      if (!list) return fail(api, list.error());
      return ok(api, *list);
    }
    default: break;
  }
  // One message.
  const std::string& mid = api.params.at(1);
  const auto mk = message_key(st, tid, mid);
  auto msg = load_or_404(self, api, mk, "message", mid);
  if (!msg) return;
  if ((*msg).value("object", std::string{}) != "thread.message") return fail(api, objects::no_such("message", mid));
  switch (api.route) {
    case route_id::message_get: return ok(api, *msg);
    case route_id::message_modify: {
      if (api.body.is_object()) {
        if (auto r = objects::only_fields(api.body, {"metadata"}); !r) return fail(api, r.error());
        auto m = objects::check_metadata(api.body.value("metadata", json()));
        if (!m) return fail(api, m.error());
        if (api.body.contains("metadata")) (*msg)["metadata"] = *m;
      }
      if (auto w = st.ctx->db->put(mk, objects::dump(*msg)); !w) return fail(api, w.error());
      return ok(api, *msg);
    }
    case route_id::message_delete: {
      if (active != st.active.end()) return fail(api, busy_thread(tid, active->second));
      storage::write_batch batch;
      batch.del(mk);
      if (!write(self, api, batch)) return;
      return ok(api, {{"id", mid}, {"object", "thread.message.deleted"}, {"deleted", true}});
    }
    default: return fail(api, make_failure(errc::not_found, "unknown route"));
  }
}

// -- runs ------------------------------------------------------------------------------

void launch(assistants_actor* self, json run, json state, bool fresh, std::optional<json> created_thread,
            std::shared_ptr<response_sink> sink) {
  auto& st = self->state;
  const std::string rid = run["id"], tid = run["thread_id"];
  run_launch l;
  l.company_id = st.company_id;
  l.run = std::move(run);
  l.state = std::move(state);
  l.fresh = fresh;
  l.created_thread = std::move(created_thread);
  l.sink = std::move(sink);
  l.tenant = st.tenant;
  l.parent = caf::actor_cast<caf::actor>(self);
  l.agents = st.agents;
  st.parked.erase(rid);
  st.awaiting.erase(rid);
  st.active[tid] = rid;
  st.live[rid] = spawn_run(self->system(), st.ctx, std::move(l));
}

/// Creates a run on `thread` (already checked to exist and be idle) and starts it.
void create_run(assistants_actor* self, api_request& api, const json& thread, storage::write_batch batch,
                std::optional<json> created_thread) {
  auto& st = self->state;
  const json& body = api.body;
  if (!body.is_object()) return fail(api, make_failure(errc::invalid_request, "The body must be a JSON object.", "body"));
  auto id = objects::string_field(body, "assistant_id", 128);
  if (!id) return fail(api, id.error());
  std::optional<json> assistant;
  if (!*id && api.inline_persona) {
    // An internal caller's run without an assistant: the body's model,
    // instructions and tools are the persona (new_run reads them as overrides).
    auto model = objects::string_field(body, "model", 256);
    if (!model) return fail(api, model.error());
    if (!*model || (*model)->empty()) return fail(api, make_failure(errc::invalid_request, "'model' is required", "model"));
    assistant = json{{"id", "asst_inline"}, {"model", **model}, {"instructions", ""}, {"tools", json::array()}};
  } else {
    if (!*id) return fail(api, make_failure(errc::invalid_request, "'assistant_id' is required", "assistant_id"));
    assistant = load_or_404(self, api, key(st, record_kind::assistant, **id), "assistant", **id);
    if (!assistant) return;
  }
  if (body.contains("stream") && !body["stream"].is_null() && !body["stream"].is_boolean())
    return fail(api, make_failure(errc::invalid_request, "'stream' must be a boolean", "stream"));
  const bool stream = body.value("stream", json(false)) == true;
  const std::string tid = thread["id"];
  const auto now = st.ctx->now();
  auto run = assistants::new_run(body, *assistant, crypto::time_ordered_id("run_"), tid, now,
                                 now + st.ctx->settings.run_expiry.count());
  if (!run) return fail(api, run.error());
  if (body.contains("additional_messages") && !body["additional_messages"].is_null()) {
    const auto& extra = body["additional_messages"];
    if (!extra.is_array())
      return fail(api, make_failure(errc::invalid_request, "'additional_messages' must be an array", "additional_messages"));
    for (std::size_t i = 0; i < extra.size(); ++i) {
      auto m = assistants::new_message(extra[i], crypto::time_ordered_id("msg_"), tid, now,
                                       "additional_messages[" + std::to_string(i) + "]");
      if (!m) return fail(api, m.error());
      batch.put(message_key(st, tid, (*m)["id"]), objects::dump(*m));
    }
  }
  const std::string rid = (*run)["id"];
  json state = initial_run_state();
  batch.put(run_key(st, tid, rid), objects::dump(*run));
  batch.put(key(st, record_kind::run_state, rid), objects::dump(state));
  batch.put(key(st, record_kind::active_run, tid), runs::encode_active_run(rid, "queued", (*run)["expires_at"]));
  if (!write(self, api, batch)) return;
  std::shared_ptr<response_sink> sink;
  if (stream) sink = std::move(api.sink);
  else ok(api, *run);
  launch(self, std::move(*run), std::move(state), true, std::move(created_thread), std::move(sink));
}

/// Closes the tool_calls step a parked run waits on (status cancelled or
/// expired) into `batch`.
void close_waiting_step(assistants_state& st, const json& run, const std::string& status, storage::write_batch& batch) {
  const std::string rid = run["id"];
  auto state = objects::get_json(*st.ctx->db, key(st, record_kind::run_state, rid));
  if (!state || !*state) return;
  const auto step_id = (**state).value("open", json::object()).value("tool_step_id", std::string{});
  if (step_id.empty()) return;
  const auto sk = key(st, record_kind::run_step, storage::child_suffix(rid, step_id));
  auto step = objects::get_json(*st.ctx->db, sk);
  if (!step || !*step || (**step)["status"] != "in_progress") return;
  (**step)["status"] = status;
  (**step)[status + "_at"] = st.ctx->now();
  batch.put(sk, objects::dump(**step));
}

/// Tells the agents actor that an agent's run ended without its run actor
/// (cancelled or expired while parked), so the agent run is recorded.
void ended_outside_actor(assistants_state& st, const json& run) {
  const auto& meta = run.value("metadata", json::object());
  if (!meta.is_object() || !meta.contains("oag_agent_run_id") || !meta["oag_agent_run_id"].is_string()) return;
  caf::anon_send(st.agents, run_settled{run["thread_id"], run["id"], run["status"], 0,
                                        meta["oag_agent_run_id"].get<std::string>(), 0});
}

/// Marks a parked run expired if its time is up (true when it was).
bool expire_if_due(assistants_actor* self, json& run) {
  auto& st = self->state;
  if (run["status"] != "requires_action" || run.value("expires_at", std::int64_t{0}) > st.ctx->now()) return false;
  const std::string rid = run["id"], tid = run["thread_id"];
  run["status"] = "expired";
  run["required_action"] = nullptr;
  storage::write_batch batch;
  close_waiting_step(st, run, "expired", batch);
  batch.put(run_key(st, tid, rid), objects::dump(run));
  batch.del(key(st, record_kind::run_state, rid));
  batch.del(key(st, record_kind::active_run, tid));
  if (auto w = st.ctx->db->write(batch); !w) return false;
  st.parked.erase(rid);
  st.active.erase(tid);
  ended_outside_actor(st, run);
  return true;
}

void runs_route(assistants_actor* self, api_request& api) {
  auto& st = self->state;
  if (api.route == route_id::thread_and_run_create) {
    if (!api.body.is_object()) return fail(api, make_failure(errc::invalid_request, "The body must be a JSON object.", "body"));
    if (!api.body.contains("assistant_id") && !api.inline_persona)
      return fail(api, make_failure(errc::invalid_request, "'assistant_id' is required", "assistant_id"));
    storage::write_batch batch;
    auto thread = make_thread(st, api.body.value("thread", json()), batch, "thread_");
    if (!thread) {
      auto f = thread.error();
      if (f.param) f.param = "thread." + *f.param;
      return fail(api, f);
    }
    json body = api.body;
    body.erase("thread");
    api.body = std::move(body);
    const bool stream = api.body.value("stream", json(false)) == true;
    return create_run(self, api, *thread, std::move(batch), stream ? std::optional<json>(*thread) : std::nullopt);
  }
  const std::string& tid = api.params.at(0);
  auto thread = load_or_404(self, api, key(st, record_kind::thread, tid), "thread", tid);
  if (!thread) return;
  if (api.route == route_id::runs_create) {
    if (auto a = st.active.find(tid); a != st.active.end()) return fail(api, active_run_conflict(tid, a->second));
    return create_run(self, api, *thread, storage::write_batch{}, std::nullopt);
  }
  if (api.route == route_id::runs_list) {
    auto page = objects::parse_page_query(api.query);
    if (!page) return fail(api, page.error());
    auto list = objects::list_page(*st.ctx->db, key(st, record_kind::run, storage::child_suffix(tid, "")), *page);
    if (!list) return fail(api, list.error());
    return ok(api, *list);
  }
  const std::string& rid = api.params.at(1);
  const auto rk = run_key(st, tid, rid);
  auto run = load_or_404(self, api, rk, "run", rid);
  if (!run) return;
  const auto live = st.live.find(rid);
  switch (api.route) {
    case route_id::run_get:
      expire_if_due(self, *run);
      return ok(api, *run);
    case route_id::run_modify: {
      json meta = (*run)["metadata"];
      if (api.body.is_object()) {
        if (auto r = objects::only_fields(api.body, {"metadata"}); !r) return fail(api, r.error());
        if (api.body.contains("metadata")) {
          auto m = objects::check_metadata(api.body["metadata"]);
          if (!m) return fail(api, m.error());
          meta = *m;
        }
      }
      if (live != st.live.end()) {
        auto sink = api.sink;
        self->request(live->second, std::chrono::seconds(30), run_control{run_control::kind::modify, meta})
            .then([sink](run_snapshot& r) { detail::respond_json(sink, 200, r.run); },
                  [sink](caf::error& e) { detail::respond_failure(sink, from_caf_error(e)); });
        return;
      }
      (*run)["metadata"] = meta;
      if (auto w = st.ctx->db->put(rk, objects::dump(*run)); !w) return fail(api, w.error());
      return ok(api, *run);
    }
    case route_id::run_cancel: {
      if (live != st.live.end()) {
        auto sink = api.sink;
        self->request(live->second, std::chrono::seconds(30), run_control{run_control::kind::cancel, {}})
            .then([sink](run_snapshot& r) { detail::respond_json(sink, 200, r.run); },
                  [self, sink, rk](caf::error& e) {
                    // The run may have ended meanwhile (its actor is gone): say so as for an ended run.
                    auto now_run = objects::get_json(*self->state.ctx->db, rk);
                    if (now_run && *now_run && assistants::is_terminal((**now_run).value("status", std::string{})))
                      return detail::respond_failure(
                          sink, make_failure(errc::invalid_request, "Cannot cancel run with status '" +
                                                                        (**now_run)["status"].get<std::string>() + "'."));
                    detail::respond_failure(sink, from_caf_error(e));
                  });
        return;
      }
      if (expire_if_due(self, *run) || assistants::is_terminal((*run)["status"]))
        return fail(api, make_failure(errc::invalid_request,
                                      "Cannot cancel run with status '" + (*run)["status"].get<std::string>() + "'."));
      // Parked (or queued without an actor): nothing is in flight.
      (*run)["status"] = "cancelled";
      (*run)["cancelled_at"] = st.ctx->now();
      (*run)["required_action"] = nullptr;
      storage::write_batch batch;
      close_waiting_step(st, *run, "cancelled", batch);
      batch.put(rk, objects::dump(*run));
      batch.del(key(st, record_kind::run_state, rid));
      batch.del(key(st, record_kind::active_run, tid));
      if (!write(self, api, batch)) return;
      st.parked.erase(rid);
      st.awaiting.erase(rid);
      st.active.erase(tid);
      ended_outside_actor(st, *run);
      return ok(api, *run);
    }
    case route_id::run_submit_tool_outputs: {
      if (live != st.live.end() || (*run)["status"] != "requires_action" || expire_if_due(self, *run))
        return fail(api, make_failure(errc::invalid_request,
                                      "Runs in status \"" + (*run)["status"].get<std::string>() +
                                          "\" do not accept tool outputs."));
      auto outputs = assistants::check_tool_outputs(api.body, *run);
      if (!outputs) return fail(api, outputs.error());
      if (api.body.contains("stream") && !api.body["stream"].is_null() && !api.body["stream"].is_boolean())
        return fail(api, make_failure(errc::invalid_request, "'stream' must be a boolean", "stream"));
      auto state = objects::get_json(*st.ctx->db, key(st, record_kind::run_state, rid));
      if (!state) return fail(api, state.error());
      if (!*state) return fail(api, make_failure(errc::storage_failure, "the run's state is missing"));
      json s = **state;
      s["submitted_outputs"] = *outputs;
      (*run)["status"] = "queued";
      (*run)["required_action"] = nullptr;
      storage::write_batch batch;
      batch.put(rk, objects::dump(*run));
      batch.put(key(st, record_kind::run_state, rid), objects::dump(s));
      batch.put(key(st, record_kind::active_run, tid), runs::encode_active_run(rid, "queued", (*run)["expires_at"]));
      if (!write(self, api, batch)) return;
      std::shared_ptr<response_sink> sink;
      if (api.body.value("stream", json(false)) == true) sink = std::move(api.sink);
      else ok(api, *run);
      return launch(self, std::move(*run), std::move(s), false, std::nullopt, std::move(sink));
    }
    case route_id::run_steps_list: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return fail(api, page.error());
      auto list = objects::list_page(*st.ctx->db, key(st, record_kind::run_step, storage::child_suffix(rid, "")), *page);
      if (!list) return fail(api, list.error());
      return ok(api, *list);
    }
    case route_id::run_step_get: {
      const std::string& sid = api.params.at(2);
      auto step = load_or_404(self, api, key(st, record_kind::run_step, storage::child_suffix(rid, sid)), "run step", sid);
      if (step) ok(api, *step);
      return;
    }
    default: return fail(api, make_failure(errc::not_found, "unknown route"));
  }
}

// -- agent runs ------------------------------------------------------------------------

/// Starts a run an agents actor wrote (a firing), unless it runs already.
void adopt(assistants_actor* self, adopt_run& msg) {
  auto& st = self->state;
  if (st.live.count(msg.run_id)) return;
  auto run = objects::get_json(*st.ctx->db, run_key(st, msg.thread_id, msg.run_id));
  auto state = objects::get_json(*st.ctx->db, key(st, record_kind::run_state, msg.run_id));
  if (!run || !*run || !state || !*state) return; // finished already (or not written): nothing to start
  if (auto a = st.active.find(msg.thread_id); a != st.active.end() && a->second != msg.run_id) {
    // Another run took the thread in between: this one cannot run there.
    json r = **run;
    r["status"] = "failed";
    r["failed_at"] = st.ctx->now();
    r["last_error"] = {{"code", "server_error"}, {"message", "the thread had another active run"}};
    storage::write_batch batch;
    batch.put(run_key(st, msg.thread_id, msg.run_id), objects::dump(r));
    batch.del(key(st, record_kind::run_state, msg.run_id));
    (void)st.ctx->db->write(batch);
    self->send(st.agents, run_settled{msg.thread_id, msg.run_id, "failed", 0,
                                      (**state).value("agent", json::object()).value("agent_run_id", std::string{}), 0});
    if (msg.sink) detail::respond_failure(msg.sink, make_failure(errc::invalid_request, "the thread has an active run"));
    return;
  }
  // A streamed firing announces its run (thread.run.created) as a new run does.
  const bool streamed = msg.sink != nullptr;
  launch(self, std::move(**run), std::move(**state), streamed, std::nullopt, std::move(msg.sink));
}

/// A run parked on approvals whose decision came: it goes on (the run reads
/// the decisions from the approval records).
void resume_approved(assistants_actor* self, const std::string& run_id) {
  auto& st = self->state;
  auto it = st.awaiting.find(run_id);
  if (it == st.awaiting.end()) return;
  const std::string tid = it->second;
  auto run = objects::get_json(*st.ctx->db, run_key(st, tid, run_id));
  auto state = objects::get_json(*st.ctx->db, key(st, record_kind::run_state, run_id));
  if (!run || !*run || !state || !*state) {
    st.awaiting.erase(it);
    return;
  }
  launch(self, std::move(**run), std::move(**state), false, std::nullopt, nullptr);
}

// -- restore and expiry ------------------------------------------------------------------

void restore(assistants_actor* self) {
  auto& st = self->state;
  // A parked run is restored from its index entry alone; only runs that
  // have work to do are read and get an actor.
  std::vector<std::pair<std::string, std::string>> unfinished; // thread, run
  std::size_t total = 0;
  auto r = st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::active_run),
                                [&](std::string_view k, std::string_view v) {
                                  auto parts = storage::parse_tenant_key(k);
                                  if (!parts) return true;
                                  ++total;
                                  std::string tid{parts->suffix};
                                  auto entry = runs::decode_active_run(v);
                                  if (entry && entry->status == "requires_action") {
                                    st.active[tid] = entry->run_id;
                                    st.parked.put(entry->run_id, {tid, entry->expires_at});
                                  } else if (entry && entry->status == "awaiting_approval") {
                                    // Parked on a human: the agents actor resends decisions.
                                    st.active[tid] = entry->run_id;
                                    st.awaiting[entry->run_id] = tid;
                                  } else {
                                    unfinished.emplace_back(std::move(tid), entry ? entry->run_id : std::string{v});
                                  }
                                  return true;
                                });
  if (!r) {
    spdlog::error("company {}: cannot list unfinished runs: {}", st.company_id, r.error().message);
    return;
  }
  std::size_t resumed = 0;
  for (auto& [tid, rid] : unfinished) {
    auto run = objects::get_json(*st.ctx->db, run_key(st, tid, rid));
    auto state = objects::get_json(*st.ctx->db, key(st, record_kind::run_state, rid));
    if (!run || !*run || !state || !*state) continue;
    st.active[tid] = rid;
    ++resumed;
    launch(self, std::move(**run), std::move(**state), false, std::nullopt, nullptr);
  }
  if (total > 0)
    spdlog::info("company {}: {} unfinished runs ({} resumed, {} waiting for tool outputs)", st.company_id, total,
                 resumed, st.parked.size());
}

/// One timer, for the earliest expiry of a parked run (at least a second
/// ahead, at most a minute, so a wall clock that jumps is caught up with).
/// An idle company with no parked run has no timer at all.
void arm_sweep(assistants_actor* self) {
  auto& st = self->state;
  if (st.parked.empty()) return;
  const auto now = st.ctx->now();
  const auto wait = std::clamp<std::int64_t>(st.parked.earliest() - now, 1, 60);
  if (st.sweep_at && *st.sweep_at <= now + wait) return; // a timer fires early enough
  st.sweep_at = now + wait;
  self->delayed_send(self, std::chrono::seconds(wait), caf::atom("sweep"));
}

void sweep_expired(assistants_actor* self) {
  auto& st = self->state;
  for (auto& [tid, rid] : st.parked.due(st.ctx->now())) {
    auto run = objects::get_json(*st.ctx->db, run_key(st, tid, rid));
    if (!run) continue; // a read error: tried again at the next sweep
    // Expired now, or not parked after all (deleted, moved on): either way
    // no longer the sweep's business.
    if (!*run || !expire_if_due(self, **run)) st.parked.erase(rid);
  }
}

caf::behavior assistants_behavior(assistants_actor* self, std::shared_ptr<const gateway_context> ctx,
                                  std::string company_id, caf::actor tenant) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.company_id = std::move(company_id);
  st.tenant = std::move(tenant);
  // The agents actor first: restored runs of agents talk to it.
  st.agents = spawn_agents(self->system(), st.ctx, st.company_id, st.tenant, caf::actor_cast<caf::actor>(self));
  self->link_to(st.agents);
  restore(self);
  arm_sweep(self);
  return {
    [=](tenant_request& req) {
      auto& api = req.api;
      const auto r = api.route;
      if (is_agents_route(r)) return self->send(self->state.agents, std::move(req));
      if (r >= route_id::assistants_create && r <= route_id::assistant_delete) return assistants_route(self, api);
      if ((r >= route_id::threads_create && r <= route_id::thread_delete) ||
          (r >= route_id::messages_create && r <= route_id::message_delete))
        return threads_route(self, api);
      if (r == route_id::thread_and_run_create || (r >= route_id::runs_create && r <= route_id::run_step_get))
        return runs_route(self, api);
      if (r >= route_id::tools_create && r <= route_id::admin_settings_get)
        return tools::handle(*self->state.ctx, self->state.company_id, api);
      if (r >= route_id::responses_create && r <= route_id::conversation_item_delete)
        return responses::handle(self, self->state.responses, self->state.ctx, self->state.company_id,
                                 self->state.tenant, api);
      fail(api, make_failure(errc::not_found, "unknown route"));
    },
    [=](const run_settled& msg) {
      auto& st = self->state;
      st.live.erase(msg.run_id);
      if (!msg.agent_run_id.empty()) self->send(st.agents, msg);
      if (msg.status == "awaiting_approval") {
        st.awaiting[msg.run_id] = msg.thread_id;
        if (st.early_decisions.erase(msg.run_id)) resume_approved(self, msg.run_id);
      } else if (msg.status == "requires_action") {
        st.parked.put(msg.run_id, {msg.thread_id, msg.expires_at});
        arm_sweep(self);
      } else if (auto a = st.active.find(msg.thread_id); a != st.active.end() && a->second == msg.run_id) {
        st.active.erase(a);
      }
    },
    [=](caf::atom_value a) {
      if (a != caf::atom("sweep")) return;
      self->state.sweep_at.reset();
      sweep_expired(self);
      arm_sweep(self);
    },
    [=](const cancel_exchanges&) {},
    [=](adopt_run& msg) { adopt(self, msg); },
    [=](const approval_decided& msg) {
      auto& st = self->state;
      if (st.live.count(msg.run_id)) {
        st.early_decisions.insert(msg.run_id); // still parking: resumed when it has settled
        return;
      }
      if (st.awaiting.count(msg.run_id)) return resume_approved(self, msg.run_id);
      // The run is not waiting (cancelled, or the decision was consumed already).
      auto run = objects::get_json(*st.ctx->db, run_key(st, msg.thread_id, msg.run_id));
      if (run && (!*run || assistants::is_terminal((**run).value("status", std::string{}))))
      {
        storage::write_batch batch;
        batch.del(key(st, record_kind::approval_pending, msg.approval_id));
        (void)st.ctx->db->write(batch);
      }
    },
    [=](const clock_changed& msg) {
      self->send(self->state.agents, msg);
      sweep_expired(self);
      arm_sweep(self);
    },
  };
}

} // namespace

caf::actor spawn_assistants(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                            std::string company_id, caf::actor tenant) {
  return sys.spawn(assistants_behavior, std::move(ctx), std::move(company_id), std::move(tenant));
}

} // namespace oag::actors
