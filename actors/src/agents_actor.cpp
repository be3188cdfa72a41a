// The agents actor (see agents_actor.hpp).
//
// What it keeps in memory is only what triggers need to be fast: the topic
// index (pattern → agent ids), the cron schedules with their last firing,
// the hook ids, the pending approvals by expiry, and the delegations being
// waited for. Agents themselves are read from RocksDB when they fire, so
// 100,000 agents cost their index entries, not their JSON.

#include "agents_actor.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "agents_objects.hpp"
#include "assistants_objects.hpp"
#include "object_store.hpp"
#include "oag/actors/cron.hpp"
#include "oag/actors/messages.hpp"
#include "oag/actors/triggers.hpp"
#include "oag/adapters/tool_http.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "oag/storage/money.hpp"
#include "replies.hpp"
#include "run_actor.hpp"
#include "run_support.hpp"
#include "telegram_format.hpp"

namespace oag::actors::agents_detail {

/// A Telegram Bot API exchange ended (sent from an io thread).
struct telegram_done {
  std::string approval_id;   ///< the approval the message is about (empty for callback answers)
  nlohmann::json chat_id;
  std::string method;
  std::optional<adapters::http_tool_result> response;
  std::optional<failure> error;
};

/// A delegation's deadline passed.
struct delegation_deadline {
  std::string key;
};

} // namespace oag::actors::agents_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::agents_detail::telegram_done)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::agents_detail::delegation_deadline)

namespace oag::actors {
namespace {

using nlohmann::json;
using storage::record_kind;
using agents_detail::delegation_deadline;
using agents_detail::telegram_done;

/// Deepest chain of topic events an agent's publishing may cause (an agent
/// that publishes to a topic it listens on would otherwise loop forever).
constexpr int max_event_hops = 4;

struct cron_entry {
  std::size_t index = 0;
  cron::schedule schedule;
  cron::catch_up_policy policy = cron::catch_up_policy::latest;
  std::size_t cap = 10;
  std::int64_t last_done = 0;
  std::optional<std::int64_t> next;
};

/// A parent run waiting for its delegate call's children.
struct waiter {
  caf::actor reply_to;
  std::uint32_t turn = 0;
  std::string tool_call_id;
};

/// Undecided approvals, by id and in expiry order (the timer needs only the
/// earliest; the sweep touches only the due ones).
class pending_approvals {
 public:
  void put(const std::string& id, std::int64_t expires_at) {
    erase(id);
    by_id_.emplace(id, expires_at);
    by_expiry_.emplace(expires_at, id);
  }
  void erase(const std::string& id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_expiry_.erase({it->second, id});
    by_id_.erase(it);
  }
  bool empty() const noexcept { return by_id_.empty(); }
  std::size_t size() const noexcept { return by_id_.size(); }
  std::optional<std::int64_t> earliest() const {
    if (by_expiry_.empty()) return std::nullopt;
    return by_expiry_.begin()->first;
  }
  std::vector<std::string> due(std::int64_t now) const {
    std::vector<std::string> out;
    for (auto it = by_expiry_.begin(); it != by_expiry_.end() && it->first <= now; ++it) out.push_back(it->second);
    return out;
  }

 private:
  std::unordered_map<std::string, std::int64_t> by_id_;
  std::set<std::pair<std::int64_t, std::string>> by_expiry_;
};

struct agents_state {
  std::shared_ptr<const gateway_context> ctx;
  std::string company_id;
  caf::actor tenant;
  caf::actor assistants;
  triggers::topic_index topics;
  std::map<std::string, std::vector<cron_entry>> crons;        // agent id → its cron triggers
  std::unordered_map<std::string, std::string> hooks;           // hook id → agent id
  std::unordered_map<std::string, std::vector<std::string>> hooks_of; // agent id → its hook ids
  pending_approvals pending;                                    // undecided approvals by expiry
  std::unordered_map<std::string, waiter> waiting;              // delegation key → parent
  std::unordered_map<std::string, std::string> child_of;        // child agent run id → delegation key
  std::optional<std::int64_t> timer_at;                         // when the pending timer fires
  std::vector<std::shared_ptr<response_sink>> subscribers;      // live event streams
  std::deque<std::int64_t> seen_updates;                        // recent Telegram update ids
  static inline const char* name = "oag.agents";
};

using agents_actor = caf::stateful_actor<agents_state>;

// -- helpers -----------------------------------------------------------------------

std::string key(const agents_state& st, record_kind kind, std::string_view suffix = {}) {
  return storage::tenant_key(st.company_id, kind, suffix);
}

void fail(const api_request& api, const failure& f) { detail::respond_failure(api.sink, f); }
void ok(const api_request& api, const json& j, int status = 200) { detail::respond_json(api.sink, status, j); }

result<std::optional<json>> get(const agents_state& st, const std::string& k) { return objects::get_json(*st.ctx->db, k); }

/// Loads an object or answers 404 (nullopt when it answered).
std::optional<json> load_or_404(const agents_state& st, const api_request& api, const std::string& k,
                                const std::string& what, const std::string& id) {
  auto doc = objects::get_existing(*st.ctx->db, k, what, id);
  if (!doc) {
    fail(api, doc.error());
    return std::nullopt;
  }
  return std::move(*doc);
}

/// The agent as the API shows it: sealed secrets stay inside.
json agent_view(json agent) {
  agent.erase("_sealed");
  return agent;
}

std::string uot_text(money::uot v) { return money::format_ot(v); }

std::string day_of(std::int64_t t) {
  const std::int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  return std::to_string(days);
}

std::string hook_aad(const std::string& company_id, const std::string& hook_id) {
  return "oag-hook/" + company_id + "/" + hook_id;
}

std::string telegram_aad(const std::string& company_id) { return "oag-telegram/" + company_id; }

/// Broadcasts a live event to the company's WebSocket subscribers.
void broadcast(agents_state& st, const json& event) {
  if (st.subscribers.empty()) return;
  const std::string text = detail::dump_json(event);
  std::vector<std::shared_ptr<response_sink>> alive;
  for (auto& s : st.subscribers)
    if (!s->disconnected() && s->write(text)) alive.push_back(s);
  st.subscribers = std::move(alive);
}

// -- trigger indexes -----------------------------------------------------------------

void unindex(agents_state& st, const std::string& agent_id) {
  st.topics.remove_subscriber(agent_id);
  st.crons.erase(agent_id);
  if (auto it = st.hooks_of.find(agent_id); it != st.hooks_of.end()) {
    for (auto& h : it->second) st.hooks.erase(h);
    st.hooks_of.erase(it);
  }
}

void index_hook(agents_state& st, const std::string& hook_id, const std::string& agent_id) {
  st.hooks[hook_id] = agent_id;
  st.hooks_of[agent_id].push_back(hook_id);
}

/// Indexes an agent's triggers; `last_done` gives a cron trigger's last
/// firing (by index), defaulting to `since`.
void index_agent(agents_state& st, const json& agent, const std::map<std::size_t, std::int64_t>& last_done,
                 std::int64_t since) {
  const std::string id = agent["id"];
  unindex(st, id);
  if (!agent.value("enabled", true)) {
    // Hooks of a disabled agent still resolve (they answer 409, not 404).
    for (auto& h : agents::hook_ids(agent)) index_hook(st, h, id);
    return;
  }
  const auto& trig = agent.value("triggers", json::array());
  for (std::size_t i = 0; i < trig.size(); ++i) {
    const auto& t = trig[i];
    const std::string type = t.value("type", std::string{});
    if (type == "topic") {
      (void)st.topics.add(t.value("pattern", std::string{}), id);
    } else if (type == "webhook") {
      index_hook(st, t.value("hook_id", std::string{}), id);
    } else if (type == "cron") {
      auto s = cron::schedule::parse(t.value("schedule", std::string{}), t.value("timezone", std::string{"UTC"}));
      if (!s) continue;
      auto p = cron::parse_catch_up(t.value("catch_up", std::string{"latest"}));
      cron_entry e{i, std::move(*s), p ? *p : cron::catch_up_policy::latest,
                   static_cast<std::size_t>(t.value("catch_up_max", 10)), since, std::nullopt};
      if (auto it = last_done.find(i); it != last_done.end()) e.last_done = it->second;
      e.next = e.schedule.next_after(e.last_done);
      st.crons[id].push_back(std::move(e));
    }
  }
}

std::string schedule_key(const agents_state& st, const std::string& agent_id, std::size_t index) {
  return key(st, record_kind::agent_schedule, storage::child_suffix(agent_id, std::to_string(index)));
}

/// The value of an agent_run_open entry: the run, and the delegating run
/// and tool call of a child ("run_id\nparent_run_id\nparent_call_id"), so
/// a restart needs no reads for runs that are still active.
struct open_entry {
  std::string run_id;
  std::string parent_run_id;
  std::string parent_call_id;
};

std::string encode_open_entry(const open_entry& e) {
  return e.run_id + "\n" + e.parent_run_id + "\n" + e.parent_call_id;
}

std::optional<open_entry> decode_open_entry(std::string_view v) {
  const auto a = v.find('\n');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = v.find('\n', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  return open_entry{std::string{v.substr(0, a)}, std::string{v.substr(a + 1, b - a - 1)}, std::string{v.substr(b + 1)}};
}

// -- firings -------------------------------------------------------------------------

struct firing_options {
  std::optional<std::string> firing_key; ///< idempotency: the same key never fires twice
  std::optional<std::string> thread_id;  ///< continue this thread instead of a new one
  json parent = nullptr;                 ///< {agent_run_id, run_id, tool_call_id} of a delegating run
  int depth = 0;
  int hops = 0;                          ///< topic events behind this firing
  std::optional<money::uot> budget;    ///< overrides the agent's per-run budget (a child's share)
  std::optional<std::string> instructions; ///< inline sub-agent persona (delegation)
  std::optional<std::string> model;
};

struct firing {
  json agent_run;
  std::string thread_id;
  std::string run_id;
  bool duplicate = false;
};

std::string firing_idem_key(const agents_state& st, const std::string& fk) {
  return storage::idempotency_key(st.company_id, "agent-firing", fk);
}

/// A firing already made under this key, if any.
result<std::optional<json>> existing_firing(const agents_state& st, const std::string& fk) {
  auto id = st.ctx->db->get(firing_idem_key(st, fk));
  if (!id) return id.error();
  if (!*id) return std::optional<json>{};
  return get(st, key(st, record_kind::agent_run, **id));
}

/// The tools of an agent run as run tools (built-ins get their schemas).
json run_tools(const json& agent) {
  json out = json::array();
  for (auto& t : agent.value("tools", json::array())) {
    const std::string type = t.value("type", std::string{});
    if (type == "publish")
      out.push_back({{"type", "function"},
                     {"function", {{"name", "publish"},
                                   {"description", "Publish an event on one of the company's topics (dot-separated, "
                                                   "e.g. orders.eu.created); agents subscribed to it act on it."},
                                   {"parameters", agents::publish_tool_schema()}}}});
    else if (type == "delegate")
      out.push_back({{"type", "function"},
                     {"function", {{"name", "delegate"},
                                   {"description", "Start sub-agents in parallel, each with its own input, wait for "
                                                   "them and get all their results at once."},
                                   {"parameters", agents::delegate_tool_schema()}}}});
    else if (type == "function")
      out.push_back({{"type", "function"}, {"function", {{"name", t["function"]["name"]}}}});
  }
  return out;
}

/// Builds the records of one firing into `batch`.
result<firing> build_firing(agents_state& st, const json& agent, json trigger, const std::string& input,
                            const firing_options& o, storage::write_batch& batch) {
  const auto now = st.ctx->now();
  const std::string agent_id = agent["id"];
  // The persona: an assistant, or the agent's own.
  json persona;
  if (agent["assistant_id"].is_string()) {
    auto a = get(st, key(st, record_kind::assistant, agent["assistant_id"].get<std::string>()));
    if (!a) return a.error();
    if (!*a)
      return make_failure(errc::not_found, "The agent's assistant '" + agent["assistant_id"].get<std::string>() +
                                               "' does not exist any more.");
    persona = **a;
  } else {
    persona = {{"id", agent_id}, {"model", agent["model"]}, {"instructions", agent["instructions"]}, {"tools", json::array()}};
  }
  persona["id"] = agent_id;
  if (agent["model"].is_string()) persona["model"] = agent["model"];
  if (o.model) persona["model"] = *o.model;
  if (o.instructions) persona["instructions"] = *o.instructions;
  if (json tools = run_tools(agent); !tools.empty()) persona["tools"] = tools;
  if (!persona["tools"].is_array()) persona["tools"] = json::array();

  const std::string arid = crypto::time_ordered_id("arun_");
  std::string tid;
  if (o.thread_id) {
    tid = *o.thread_id;
  } else {
    tid = crypto::time_ordered_id("thread_");
    auto thread = assistants::new_thread(json(), tid, now);
    if (!thread) return thread.error();
    (*thread)["metadata"] = {{"oag_agent_id", agent_id}, {"oag_agent_run_id", arid}};
    batch.put(key(st, record_kind::thread, tid), objects::dump(*thread));
  }
  auto msg = assistants::new_message({{"role", "user"}, {"content", input.empty() ? std::string{" "} : input}},
                                     crypto::time_ordered_id("msg_"), tid, now, "input");
  if (!msg) return msg.error();
  batch.put(key(st, record_kind::message, storage::child_suffix(tid, (*msg)["id"].get<std::string>())), objects::dump(*msg));
  auto run = assistants::new_run(json::object(), persona, crypto::time_ordered_id("run_"), tid, now,
                                 now + st.ctx->settings.run_expiry.count());
  if (!run) return run.error();
  (*run)["metadata"] = {{"oag_agent_id", agent_id}, {"oag_agent_run_id", arid}};
  const std::string rid = (*run)["id"];
  const auto b = agents::budget_of(agent);
  const auto lim = agents::limits_of(agent);
  std::optional<money::uot> budget = o.budget ? o.budget : b.per_run;
  json state = initial_run_state();
  state["agent"] = {{"agent_id", agent_id},
                    {"agent_run_id", arid},
                    {"name", agent.value("name", agent_id)},
                    {"depth", o.depth},
                    {"hops", o.hops},
                    {"budget_uot", budget ? json(*budget) : json(nullptr)},
                    {"max_steps", lim.max_steps ? json(*lim.max_steps) : json(nullptr)},
                    {"max_delegation_depth", lim.max_delegation_depth},
                    {"max_parallel_children", lim.max_parallel_children},
                    {"approval", agent.value("approval", json::object())}};
  json ar = {{"id", arid},
             {"object", "agent.run"},
             {"agent_id", agent_id},
             {"created_at", now},
             {"trigger", std::move(trigger)},
             {"input", input},
             {"status", "queued"},
             {"thread_id", tid},
             {"run_id", rid},
             {"depth", o.depth},
             {"hops", o.hops},
             {"parent", o.parent},
             {"budget_ot", budget ? json(uot_text(*budget)) : json(nullptr)},
             {"cost_ot", "0"},
             {"usage", nullptr},
             {"children", json::array()},
             {"published_events", json::array()},
             {"approvals", json::array()},
             {"output", nullptr},
             {"last_error", nullptr},
             {"finished_at", nullptr}};
  batch.put(key(st, record_kind::run, storage::child_suffix(tid, rid)), objects::dump(*run));
  batch.put(key(st, record_kind::run_state, rid), objects::dump(state));
  batch.put(key(st, record_kind::active_run, tid), runs::encode_active_run(rid, "queued", (*run)["expires_at"]));
  batch.put(key(st, record_kind::agent_run, arid), objects::dump(ar));
  // The index holds {"id"} only, so a page of an agent's runs is listed by
  // the usual cursor rules and each run read by id.
  batch.put(key(st, record_kind::agent_run_index, storage::child_suffix(agent_id, arid)),
            objects::dump(json{{"id", arid}}));
  batch.put(key(st, record_kind::agent_run_open, arid),
            encode_open_entry({rid, o.parent.is_object() ? o.parent.value("run_id", std::string{}) : std::string{},
                               o.parent.is_object() ? o.parent.value("tool_call_id", std::string{}) : std::string{}}));
  if (o.firing_key) batch.put(firing_idem_key(st, *o.firing_key), arid);
  return firing{std::move(ar), tid, rid, false};
}

/// Today's spend of an agent (µO₮).
money::uot spent_today(const agents_state& st, const std::string& agent_id) {
  auto v = st.ctx->db->get(key(st, record_kind::agent_spend, agent_id));
  if (!v || !*v) return 0;
  auto nl = (*v)->find('\n');
  if (nl == std::string::npos || (*v)->substr(0, nl) != day_of(st.ctx->now())) return 0;
  return std::strtoll((*v)->c_str() + nl + 1, nullptr, 10);
}

/// Why an agent may not fire now (disabled, day budget spent), if so.
std::optional<failure> refuse_firing(const agents_state& st, const json& agent) {
  if (!agent.value("enabled", true))
    return make_failure(errc::conflict, "The agent '" + agent["id"].get<std::string>() + "' is disabled.");
  const auto b = agents::budget_of(agent);
  if (b.per_day && spent_today(st, agent["id"]) >= *b.per_day) {
    auto f = make_failure(errc::insufficient_quota,
                          "The agent '" + agent["id"].get<std::string>() + "' has spent its budget for today (" +
                              uot_text(*b.per_day) + " O₮).");
    return f;
  }
  return std::nullopt;
}

/// Writes one firing (or finds the one made under the same key) and hands
/// the run to the assistants actor.
result<firing> fire(agents_actor* self, const json& agent, json trigger, const std::string& input,
                    const firing_options& o, std::shared_ptr<response_sink> sink = nullptr) {
  auto& st = self->state;
  if (o.firing_key) {
    auto prev = existing_firing(st, *o.firing_key);
    if (!prev) return prev.error();
    if (*prev) {
      firing f{**prev, (**prev)["thread_id"], (**prev)["run_id"], true};
      return f;
    }
  }
  if (auto refused = refuse_firing(st, agent)) return *refused;
  storage::write_batch batch;
  auto f = build_firing(st, agent, std::move(trigger), input, o, batch);
  if (!f) return f.error();
  if (auto w = st.ctx->db->write(batch); !w) return w.error();
  self->send(st.assistants, adopt_run{f->thread_id, f->run_id, std::move(sink)});
  return f;
}

// -- cron --------------------------------------------------------------------------------

void arm_timer(agents_actor* self);

void run_crons(agents_actor* self) {
  auto& st = self->state;
  const auto now = st.ctx->now();
  for (auto& [agent_id, entries] : st.crons) {
    for (auto& e : entries) {
      if (!e.next || *e.next > now) continue;
      auto plan = cron::plan_catch_up(e.schedule, e.last_done, now, e.policy, e.cap);
      auto agent = get(st, key(st, record_kind::agent, agent_id));
      if (!agent || !*agent) continue;
      for (auto t : plan.fire) {
        json trigger = {{"type", "cron"}, {"index", e.index}, {"schedule", e.schedule.expression()},
                        {"scheduled_at", t}, {"late_s", now - t}};
        const auto& def = (**agent)["triggers"][e.index];
        json vars = {{"trigger", "cron " + e.schedule.expression() + " at " + std::to_string(t)},
                     {"scheduled_at", t}, {"now", now}, {"schedule", e.schedule.expression()}};
        const std::string input = agents::render_template(def.value("input", std::string{"{{trigger}}"}), vars);
        firing_options o;
        o.firing_key = agents::firing_id({"cron", agent_id, std::to_string(e.index), std::to_string(t)});
        auto f = fire(self, **agent, trigger, input, o);
        if (!f) spdlog::warn("agent {}: cron firing at {} not started: {}", agent_id, t, f.error().message);
      }
      // Every firing due up to now has been decided (run or skipped).
      e.last_done = now;
      e.next = e.schedule.next_after(now);
      (void)st.ctx->db->put(schedule_key(st, agent_id, e.index), std::to_string(now));
    }
  }
}

// -- approvals ---------------------------------------------------------------------------

std::string approval_key(const agents_state& st, const std::string& id) { return key(st, record_kind::approval, id); }

json approval_event(const char* type, const json& approval) { return {{"type", type}, {"approval", approval}}; }

/// Decides an approval once. `status` is approved, rejected or expired.
result<json> decide(agents_actor* self, const std::string& id, const std::string& status, const std::string& by,
                    const std::optional<std::string>& reason);

void send_telegram(agents_actor* self, const std::string& method, json body, const std::string& approval_id,
                   json chat_id);

std::optional<json> load_telegram(const agents_state& st) {
  auto t = get(st, key(st, record_kind::telegram));
  if (!t || !*t) return std::nullopt;
  return **t;
}

std::optional<std::string> telegram_token(const agents_state& st, const json& tg) {
  auto raw = crypto::base64_decode(tg.value("_sealed_token", std::string{}));
  if (!raw) return std::nullopt;
  auto open = st.ctx->vault->open(*raw, telegram_aad(st.company_id));
  if (!open) return std::nullopt;
  return *open;
}

std::optional<std::string> callback_key(const agents_state& st, const json& tg) {
  auto raw = crypto::base64_decode(tg.value("_sealed_callback_key", std::string{}));
  if (!raw) return std::nullopt;
  auto open = st.ctx->vault->open(*raw, telegram_aad(st.company_id) + "/callback");
  if (!open) return std::nullopt;
  return *open;
}

telegram::approval_view view_of(const json& approval, const std::string& cb_key) {
  telegram::approval_view v;
  v.approval_id = approval["id"];
  v.agent_name = approval.value("agent_name", approval.value("agent_id", std::string{}));
  v.tool = approval.value("tool", std::string{});
  v.arguments = approval.value("arguments", std::string{});
  v.expires_at = approval.value("expires_at", std::int64_t{0});
  if (auto a = triggers::approval_callback_data(cb_key, v.approval_id, true)) v.approve_data = *a;
  if (auto r = triggers::approval_callback_data(cb_key, v.approval_id, false)) v.reject_data = *r;
  return v;
}

/// Asks the company's Telegram chats to decide a new approval.
void notify_telegram(agents_actor* self, const json& approval) {
  auto& st = self->state;
  if (!approval.value("telegram", true)) return;
  auto tg = load_telegram(st);
  if (!tg) return;
  auto cb = callback_key(st, *tg);
  if (!cb) return;
  auto view = view_of(approval, *cb);
  for (auto& chat : (*tg)["chat_ids"]) send_telegram(self, "sendMessage", telegram::approval_message(chat, view), approval["id"], chat);
}

/// Who decided, as a chat shows it ("@ann", not "telegram:@ann").
std::string shown_decider(const std::string& by) {
  constexpr std::string_view prefix = "telegram:";
  return by.compare(0, prefix.size(), prefix) == 0 ? by.substr(prefix.size()) : by;
}

/// Edits the Telegram messages of a decided approval to show the decision.
void telegram_decided(agents_actor* self, const json& approval) {
  auto& st = self->state;
  auto tg = load_telegram(st);
  if (!tg) return;
  auto cb = callback_key(st, *tg);
  if (!cb) return;
  auto view = view_of(approval, *cb);
  for (auto& m : approval.value("telegram_messages", json::array()))
    send_telegram(self, "editMessageText",
                  telegram::decided_message(m["chat_id"], m["message_id"].get<std::int64_t>(), view,
                                            approval["status"].get<std::string>(),
                                            shown_decider(approval.value("decided_by", std::string{}))),
                  "", m["chat_id"]);
}

void on_approvals_opened(agents_actor* self, approvals_opened& msg) {
  auto& st = self->state;
  for (auto& a : msg.approvals) {
    const std::string id = a["id"];
    st.pending.put(id, a.value("expires_at", std::int64_t{0}));
    // The agent run's log names its approvals.
    if (a["agent_run_id"].is_string()) {
      const auto ak = key(st, record_kind::agent_run, a["agent_run_id"].get<std::string>());
      if (auto ar = get(st, ak); ar && *ar) {
        (**ar)["approvals"].push_back(id);
        (void)st.ctx->db->put(ak, objects::dump(**ar));
      }
    }
    broadcast(st, approval_event("approval.requested", a));
    notify_telegram(self, a);
  }
  arm_timer(self);
}

result<json> decide(agents_actor* self, const std::string& id, const std::string& status, const std::string& by,
                    const std::optional<std::string>& reason) {
  auto& st = self->state;
  const auto ak = approval_key(st, id);
  auto doc = get(st, ak);
  if (!doc) return doc.error();
  if (!*doc) return objects::no_such("approval", id);
  json a = **doc;
  const auto now = st.ctx->now();
  if (a["status"] == "pending" && status != "expired" && a.value("expires_at", std::int64_t{0}) <= now) {
    // Too late: it counts as rejected (expired), and this decision is refused.
    (void)decide(self, id, "expired", "oag", std::nullopt);
    auto f = make_failure(errc::conflict, "Approval " + id + " expired before it was decided; it counts as rejected.");
    f.error_code = "approval_expired";
    return f;
  }
  if (a["status"] != "pending") {
    auto f = make_failure(errc::conflict, "Approval " + id + " was already decided: " + a["status"].get<std::string>() +
                                              (a["decided_by"].is_string() ? " by " + a["decided_by"].get<std::string>() : "") + ".");
    f.error_code = "approval_already_decided";
    return f;
  }
  a["status"] = status;
  a["decided_at"] = now;
  a["decided_by"] = by;
  a["reason"] = reason ? json(*reason) : json(nullptr);
  // The pending index entry stays until the run has consumed the decision
  // (the run deletes it in its own batch), so a crash in between resends it.
  storage::write_batch batch;
  batch.put(ak, objects::dump(a));
  batch.put(key(st, record_kind::approval_pending, id), "decided");
  if (auto w = st.ctx->db->write(batch); !w) return w.error();
  st.pending.erase(id);
  if (a["agent_run_id"].is_string()) {
    const auto ark = key(st, record_kind::agent_run, a["agent_run_id"].get<std::string>());
    if (auto ar = get(st, ark); ar && *ar && (**ar)["status"] == "awaiting_approval") {
      (**ar)["status"] = "in_progress";
      (void)st.ctx->db->put(ark, objects::dump(**ar));
    }
  }
  self->send(st.assistants, approval_decided{a["thread_id"], a["run_id"], id});
  broadcast(st, approval_event("approval.decided", a));
  telegram_decided(self, a);
  return a;
}

void expire_approvals(agents_actor* self) {
  auto& st = self->state;
  const auto now = st.ctx->now();
  for (auto& id : st.pending.due(now)) {
    auto r = decide(self, id, "expired", "oag", std::string{"the approval expired"});
    if (!r) st.pending.erase(id); // already decided elsewhere
  }
}

// -- timers ------------------------------------------------------------------------------

/// One timer for the earliest of: the next cron firing, the earliest
/// approval expiry (at least a second ahead, at most a minute, so a wall
/// clock that jumps, or the test clock, is caught up with).
void arm_timer(agents_actor* self) {
  auto& st = self->state;
  std::optional<std::int64_t> earliest;
  auto consider = [&](std::int64_t t) { earliest = earliest ? std::min(*earliest, t) : t; };
  for (auto& [_, entries] : st.crons)
    for (auto& e : entries)
      if (e.next) consider(*e.next);
  if (auto e = st.pending.earliest()) consider(*e);
  if (!earliest) return;
  const auto now = st.ctx->now();
  const auto wait = std::clamp<std::int64_t>(*earliest - now, 1, 60);
  if (st.timer_at && *st.timer_at <= now + wait && *st.timer_at > now) return;
  st.timer_at = now + wait;
  self->delayed_send(self, std::chrono::seconds(wait), caf::atom("tick"));
}

void tick(agents_actor* self) {
  run_crons(self);
  expire_approvals(self);
  arm_timer(self);
}

// -- Telegram ---------------------------------------------------------------------------

void send_telegram(agents_actor* self, const std::string& method, json body, const std::string& approval_id,
                   json chat_id) {
  auto& st = self->state;
  if (!st.ctx->io) return;
  auto tg = load_telegram(st);
  if (!tg) return;
  auto token = telegram_token(st, *tg);
  if (!token) {
    spdlog::warn("company {}: the Telegram bot token cannot be opened", st.company_id);
    return;
  }
  const std::string base = st.ctx->settings.telegram_api_base.empty() ? std::string{telegram::default_api_base}
                                                                      : st.ctx->settings.telegram_api_base;
  adapters::http_tool_endpoint ep;
  ep.method = "POST";
  ep.url_template = telegram::method_url(base, *token, method);
  ep.timeout = std::chrono::milliseconds(15000);
  ep.max_response_bytes = 1 << 20;
  // The Bot API's address is the operator's configuration, not a tenant's
  // choice: it may be internal (a proxy, the tests' fake server).
  adapters::network_allowlist allow;
  std::string host = base.substr(base.find("://") + 3);
  host = host.substr(0, host.find_first_of("/"));
  if (host.size() > 0 && host.front() == '[') host = host.substr(0, host.find(']') + 1);
  else host = host.substr(0, host.find(':'));
  allow.entries.push_back(host);
  auto me = caf::actor_cast<caf::actor>(self);
  adapters::call_http_tool(*st.ctx->io, st.ctx->tls, ep, body, allow,
                           [me, method, approval_id, chat_id](result<adapters::http_tool_result> r) {
                             telegram_done d;
                             d.approval_id = approval_id;
                             d.chat_id = chat_id;
                             d.method = method;
                             if (r) d.response = std::move(r.value());
                             else d.error = r.error();
                             caf::anon_send(me, std::move(d));
                           });
}

void on_telegram_done(agents_actor* self, telegram_done& d) {
  auto& st = self->state;
  if (d.error) {
    spdlog::warn("company {}: Telegram {} failed: {}", st.company_id, d.method, d.error->message);
    return;
  }
  auto reply = telegram::parse_reply(d.response->status, d.response->body);
  if (!reply) {
    spdlog::warn("company {}: Telegram {} refused: {}", st.company_id, d.method, reply.error().message);
    return;
  }
  if (d.method != "sendMessage" || d.approval_id.empty() || !reply->is_object()) return;
  // Remember the message, so the decision can be shown on it.
  const auto ak = approval_key(st, d.approval_id);
  auto a = get(st, ak);
  if (!a || !*a) return;
  (**a)["telegram_messages"].push_back({{"chat_id", d.chat_id}, {"message_id", reply->value("message_id", std::int64_t{0})}});
  (void)st.ctx->db->put(ak, objects::dump(**a));
  if ((**a)["status"] != "pending") telegram_decided(self, **a); // decided before the message was sent
}

void telegram_webhook(agents_actor* self, api_request& api) {
  auto& st = self->state;
  auto tg = load_telegram(st);
  if (!tg || tg->value("hook_id", std::string{}) != api.params.at(0))
    return fail(api, make_failure(errc::not_found, "No Telegram hook with id '" + api.params.at(0) + "'."));
  auto secret = adapters::find_header(api.headers, "x-telegram-bot-api-secret-token");
  if (!secret || !crypto::equal_constant_time(*secret, tg->value("secret_token", std::string{})))
    return fail(api, make_failure(errc::invalid_api_key, "Invalid X-Telegram-Bot-Api-Secret-Token."));
  auto update = telegram::parse_update(api.raw_body);
  if (!update) return fail(api, update.error());
  if (!*update) return ok(api, json::object()); // not a button press: acknowledged
  const auto& cq = **update;
  // Telegram redelivers an update it got no 2xx for; one seen is answered, not re-decided.
  if (std::find(st.seen_updates.begin(), st.seen_updates.end(), cq.update_id) != st.seen_updates.end())
    return ok(api, json::object());
  st.seen_updates.push_back(cq.update_id);
  if (st.seen_updates.size() > 1024) st.seen_updates.pop_front();
  auto answer = [&](const std::string& text) {
    send_telegram(self, "answerCallbackQuery", telegram::answer_callback(cq.id, text), "", nullptr);
  };
  auto cb = callback_key(st, *tg);
  if (!cb) return ok(api, json::object());
  auto decision = triggers::parse_approval_callback(*cb, cq.data);
  if (!decision) {
    answer("This button is not valid.");
    return ok(api, json::object());
  }
  // Only the configured chats may decide.
  bool allowed = false;
  if (cq.chat_id)
    for (auto& c : (*tg)["chat_ids"])
      if (c == *cq.chat_id) allowed = true;
  if (!allowed) {
    answer("This chat may not decide approvals.");
    return ok(api, json::object());
  }
  const std::string by = "telegram:" + (cq.from_name.empty() ? std::to_string(cq.from_id) : cq.from_name);
  auto r = decide(self, decision->approval_id, decision->approve ? "approved" : "rejected", by, std::nullopt);
  if (r) answer(decision->approve ? "Approved." : "Rejected.");
  else answer(r.error().message.substr(0, 190));
  ok(api, json::object());
}

void telegram_route(agents_actor* self, api_request& api) {
  auto& st = self->state;
  const auto tk = key(st, record_kind::telegram);
  auto view = [](json tg) {
    json v = {{"object", "telegram.settings"}, {"chat_ids", tg["chat_ids"]}, {"secret_token", tg["secret_token"]},
              {"webhook_path", "/telegram/" + tg["hook_id"].get<std::string>()}, {"bot_token_set", true},
              {"updated_at", tg["updated_at"]}};
    return v;
  };
  if (api.route == route_id::telegram_get) {
    auto tg = load_telegram(st);
    if (!tg) return fail(api, make_failure(errc::not_found, "Telegram is not configured for this company."));
    return ok(api, view(*tg));
  }
  if (api.route == route_id::telegram_delete) {
    auto tg = load_telegram(st);
    if (!tg) return fail(api, make_failure(errc::not_found, "Telegram is not configured for this company."));
    storage::write_batch batch;
    batch.del(tk);
    batch.del(storage::global_key(record_kind::hook_index, (*tg)["hook_id"].get<std::string>()));
    if (auto w = st.ctx->db->write(batch); !w) return fail(api, w.error());
    return ok(api, {{"object", "telegram.settings.deleted"}, {"deleted", true}});
  }
  auto body = agents::parse_telegram_body(api.body);
  if (!body) return fail(api, body.error());
  auto prev = load_telegram(st);
  if (!prev && !body->bot_token)
    return fail(api, objects::bad_request("'bot_token' is required the first time", "bot_token"));
  json tg = prev ? *prev : json::object();
  storage::write_batch batch;
  if (!prev) {
    tg["hook_id"] = crypto::random_id("tg_", 24);
    auto cbk = st.ctx->vault->seal(crypto::random_bytes(32), telegram_aad(st.company_id) + "/callback");
    if (!cbk) return fail(api, cbk.error());
    tg["_sealed_callback_key"] = crypto::base64_encode(*cbk);
    batch.put(storage::global_key(record_kind::hook_index, tg["hook_id"].get<std::string>()), st.company_id);
  }
  if (body->bot_token) {
    auto sealed = st.ctx->vault->seal(*body->bot_token, telegram_aad(st.company_id));
    if (!sealed) return fail(api, sealed.error());
    tg["_sealed_token"] = crypto::base64_encode(*sealed);
  }
  tg["chat_ids"] = body->chat_ids;
  if (body->secret_token) tg["secret_token"] = *body->secret_token;
  else if (!tg.contains("secret_token")) tg["secret_token"] = crypto::to_hex(crypto::random_bytes(24));
  tg["updated_at"] = st.ctx->now();
  batch.put(tk, objects::dump(tg));
  if (auto w = st.ctx->db->write(batch); !w) return fail(api, w.error());
  ok(api, view(tg));
}

json live_agent_run(const agents_state& st, json ar);

// -- agents API --------------------------------------------------------------------------

/// Generates the hook ids and seals the secrets of new webhook triggers.
struct hook_secrets {
  std::vector<std::string> ids;
  json shown = json::object(); ///< hook id → secret (shown once, in this answer)
};

hook_secrets new_hooks(std::size_t n) {
  hook_secrets h;
  for (std::size_t i = 0; i < n; ++i) {
    auto id = crypto::random_id("hook_", 24);
    h.shown[id] = "whsec_" + crypto::to_hex(crypto::random_bytes(24));
    h.ids.push_back(std::move(id));
  }
  return h;
}

/// Seals the secrets of the agent's hooks that are new (in `h`) into the agent.
result<void> seal_hooks(agents_state& st, json& agent, const hook_secrets& h) {
  if (!agent.contains("_sealed") || !agent["_sealed"].is_object()) agent["_sealed"] = json::object();
  json kept = json::object();
  for (auto& id : agents::hook_ids(agent)) {
    if (agent["_sealed"].contains(id)) {
      kept[id] = agent["_sealed"][id];
    } else if (h.shown.contains(id)) {
      auto sealed = st.ctx->vault->seal(h.shown[id].get<std::string>(), hook_aad(st.company_id, id));
      if (!sealed) return sealed.error();
      kept[id] = crypto::base64_encode(*sealed);
    }
  }
  agent["_sealed"] = kept;
  return {};
}

/// The answer to a create/modify: the agent, plus the secrets of new hooks (once).
json with_new_secrets(const json& agent, const hook_secrets& h) {
  json v = agent_view(agent);
  for (auto& t : v["triggers"])
    if (t.value("type", std::string{}) == "webhook" && h.shown.contains(t.value("hook_id", std::string{}))) {
      t["secret"] = h.shown[t["hook_id"].get<std::string>()];
      t["url_path"] = "/hooks/" + t["hook_id"].get<std::string>();
    }
  return v;
}

/// Checks that the agent's persona can be used (its assistant exists).
std::optional<failure> check_persona(const agents_state& st, const json& agent) {
  if (!agent["assistant_id"].is_string()) return std::nullopt;
  const std::string aid = agent["assistant_id"];
  auto a = get(st, key(st, record_kind::assistant, aid));
  if (!a) return a.error();
  if (!*a) {
    auto f = objects::no_such("assistant", aid);
    f.param = "assistant_id";
    return f;
  }
  return std::nullopt;
}

void agents_route(agents_actor* self, api_request& api, bool model_checked = false);

/// Whether a create/modify body names a model the tenant must vouch for first.
bool names_model(const api_request& api) {
  return api.body.is_object() && api.body.contains("model") && api.body["model"].is_string() &&
         !api.body["model"].get_ref<const std::string&>().empty();
}

/// Asks the tenant whether the agent's model can be called (as routed:
/// aliases, rules), then handles the request again; an uncallable model is
/// the 404 a call would get, as for assistants.
void check_model_then(agents_actor* self, const api_request& api, const std::string& model) {
  auto pending = std::make_shared<api_request>(api);
  self->request(self->state.tenant, std::chrono::seconds(30), model_check{model})
      .then([self, pending](model_ok) { agents_route(self, *pending, true); },
            [pending](caf::error& e) {
              auto f = from_caf_error(e);
              if (!f.param) f.param = "model";
              detail::respond_failure(pending->sink, f);
            });
}

void agents_route(agents_actor* self, api_request& api, bool model_checked) {
  auto& st = self->state;
  const auto now = st.ctx->now();
  if (api.route == route_id::agents_create) {
    auto h = new_hooks(agents::count_webhook_triggers(api.body));
    auto agent = agents::new_agent(api.body, crypto::time_ordered_id("agt_"), now, h.ids);
    if (!agent) return fail(api, agent.error());
    if (auto f = check_persona(st, *agent)) return fail(api, *f);
    if (!model_checked && names_model(api)) return check_model_then(self, api, (*agent)["model"]);
    if (auto s = seal_hooks(st, *agent, h); !s) return fail(api, s.error());
    storage::write_batch batch;
    const std::string id = (*agent)["id"];
    batch.put(key(st, record_kind::agent, id), objects::dump(*agent));
    for (auto& hid : agents::hook_ids(*agent)) batch.put(storage::global_key(record_kind::hook_index, hid), st.company_id);
    const auto& trig = (*agent)["triggers"];
    for (std::size_t i = 0; i < trig.size(); ++i)
      if (trig[i].value("type", std::string{}) == "cron") batch.put(schedule_key(st, id, i), std::to_string(now));
    if (auto w = st.ctx->db->write(batch); !w) return fail(api, w.error());
    index_agent(st, *agent, {}, now);
    arm_timer(self);
    return ok(api, with_new_secrets(*agent, h));
  }
  if (api.route == route_id::agents_list) {
    auto page = objects::parse_page_query(api.query);
    if (!page) return fail(api, page.error());
    auto list = objects::list_page(*st.ctx->db, storage::tenant_prefix(st.company_id, record_kind::agent), *page,
                                   [](json&& a) -> std::optional<json> { return agent_view(std::move(a)); });
    if (!list) return fail(api, list.error());
    return ok(api, *list);
  }
  const std::string& id = api.params.at(0);
  const auto k = key(st, record_kind::agent, id);
  auto agent = load_or_404(st, api, k, "agent", id);
  if (!agent) return;
  switch (api.route) {
    case route_id::agent_get: return ok(api, agent_view(*agent));
    case route_id::agent_modify: {
      auto h = new_hooks(agents::count_webhook_triggers(api.body));
      auto next = agents::modify_agent(*agent, api.body, h.ids);
      if (!next) return fail(api, next.error());
      if (auto f = check_persona(st, *next)) return fail(api, *f);
      if (!model_checked && names_model(api) && (*next)["model"] != (*agent)["model"])
        return check_model_then(self, api, (*next)["model"]);
      (*next)["_sealed"] = agent->value("_sealed", json::object());
      if (auto s = seal_hooks(st, *next, h); !s) return fail(api, s.error());
      storage::write_batch batch;
      batch.put(k, objects::dump(*next));
      auto old_hooks = agents::hook_ids(*agent), new_ids = agents::hook_ids(*next);
      for (auto& hid : old_hooks)
        if (std::find(new_ids.begin(), new_ids.end(), hid) == new_ids.end())
          batch.del(storage::global_key(record_kind::hook_index, hid));
      for (auto& hid : new_ids) batch.put(storage::global_key(record_kind::hook_index, hid), st.company_id);
      // Cron triggers start counting from now when the triggers changed.
      std::map<std::size_t, std::int64_t> last;
      const bool same_triggers = (*next)["triggers"] == (*agent)["triggers"];
      const auto& trig = (*next)["triggers"];
      for (std::size_t i = 0; i < trig.size(); ++i) {
        if (trig[i].value("type", std::string{}) != "cron") continue;
        if (same_triggers)
          if (auto it = st.crons.find(id); it != st.crons.end())
            for (auto& e : it->second)
              if (e.index == i) last[i] = e.last_done;
        if (!last.count(i)) {
          last[i] = now;
          batch.put(schedule_key(st, id, i), std::to_string(now));
        }
      }
      if (auto w = st.ctx->db->write(batch); !w) return fail(api, w.error());
      index_agent(st, *next, last, now);
      arm_timer(self);
      return ok(api, with_new_secrets(*next, h));
    }
    case route_id::agent_delete: {
      storage::write_batch batch;
      batch.del(k);
      for (auto& hid : agents::hook_ids(*agent)) batch.del(storage::global_key(record_kind::hook_index, hid));
      const auto& trig = (*agent)["triggers"];
      for (std::size_t i = 0; i < trig.size(); ++i) batch.del(schedule_key(st, id, i));
      if (auto w = st.ctx->db->write(batch); !w) return fail(api, w.error());
      unindex(st, id);
      // Its runs and their logs stay readable.
      return ok(api, {{"id", id}, {"object", "agent.deleted"}, {"deleted", true}});
    }
    case route_id::agent_fire: {
      const json& body = api.body;
      if (!body.is_null() && !body.is_object())
        return fail(api, objects::bad_request("The body must be a JSON object.", "body"));
      if (body.is_object())
        if (auto r = objects::only_fields(body, {"input", "thread_id", "stream", "metadata"}); !r) return fail(api, r.error());
      auto input = objects::string_field(body.is_object() ? body : json::object(), "input", 256000);
      if (!input) return fail(api, input.error());
      auto thread = objects::string_field(body.is_object() ? body : json::object(), "thread_id", 128);
      if (!thread) return fail(api, thread.error());
      const bool stream = body.is_object() && body.value("stream", json(false)) == true;
      firing_options o;
      if (*thread) {
        auto t = load_or_404(st, api, key(st, record_kind::thread, **thread), "thread", **thread);
        if (!t) return;
        auto busy = st.ctx->db->get(key(st, record_kind::active_run, **thread));
        if (busy && *busy) {
          auto entry = runs::decode_active_run(**busy);
          return fail(api, make_failure(errc::invalid_request, "Thread " + **thread + " already has an active run " +
                                                                   (entry ? entry->run_id : std::string{}) + "."));
        }
        o.thread_id = **thread;
      }
      const std::string text = input->value_or("");
      std::shared_ptr<response_sink> sink;
      if (stream) sink = api.sink;
      auto f = fire(self, *agent, {{"type", "manual"}}, text, o, sink);
      if (!f) return fail(api, f.error());
      if (!stream) ok(api, f->agent_run, 201);
      return;
    }
    case route_id::agent_runs_list: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return fail(api, page.error());
      const auto prefix = key(st, record_kind::agent_run_index, storage::child_suffix(id, ""));
      auto list = objects::list_page(*st.ctx->db, prefix, *page, [&st](json&& entry) -> std::optional<json> {
        auto ar = get(st, key(st, record_kind::agent_run, entry.value("id", std::string{})));
        if (!ar || !*ar) return std::nullopt;
        return live_agent_run(st, std::move(**ar));
      });
      if (!list) return fail(api, list.error());
      return ok(api, *list);
    }
    default: return fail(api, make_failure(errc::not_found, "unknown route"));
  }
}

// -- agent runs ------------------------------------------------------------------------

/// The agent run with what its run says now (status, usage, error) while
/// its end is not recorded yet.
json live_agent_run(const agents_state& st, json ar) {
  if (!ar["finished_at"].is_null()) return ar;
  auto run = get(st, key(st, record_kind::run, storage::child_suffix(ar["thread_id"].get<std::string>(),
                                                                      ar["run_id"].get<std::string>())));
  if (!run || !*run) return ar;
  const auto& r = **run;
  const std::string status = r.value("status", std::string{});
  // A run parked on a human still says in_progress; the agent run says why.
  if (!(ar["status"] == "awaiting_approval" && status == "in_progress")) ar["status"] = status;
  ar["usage"] = r["usage"];
  if (!r["last_error"].is_null()) ar["last_error"] = r["last_error"];
  return ar;
}

/// The log of an agent run: its steps, flattened into model calls and tool calls.
json log_entries(const json& steps) {
  json out = json::array();
  for (auto& s : steps) {
    const auto& oag = s.value("oag", json::object());
    if (!oag.is_null() && oag.contains("model"))
      out.push_back({{"type", "model_call"}, {"step_id", s["id"]}, {"created_at", s["created_at"]},
                     {"model", oag["model"]}, {"response_id", oag.value("response_id", json(nullptr))},
                     {"usage", oag["usage"]}, {"cost_ot", money::format_ot(oag.value("cost_uot", std::int64_t{0}))},
                     {"prompt_stack", oag.value("prompt_stack", json::array())}});
    if (s["type"] == "tool_calls")
      for (auto& c : s["step_details"].value("tool_calls", json::array())) {
        json e = {{"type", "tool_call"}, {"step_id", s["id"]}, {"id", c["id"]},
                  {"name", c["function"]["name"]}, {"arguments", c["function"]["arguments"]},
                  {"output", c["function"].value("output", json(nullptr))}};
        if (c.contains("oag")) e["oag"] = c["oag"];
        out.push_back(std::move(e));
      }
    if (s["type"] == "message_creation")
      out.push_back({{"type", "message"}, {"step_id", s["id"]},
                     {"message_id", s["step_details"]["message_creation"]["message_id"]}, {"status", s["status"]}});
  }
  return out;
}

void agent_runs_route(agents_actor* self, api_request& api) {
  auto& st = self->state;
  const std::string& id = api.params.at(0);
  auto ar = load_or_404(st, api, key(st, record_kind::agent_run, id), "agent run", id);
  if (!ar) return;
  json view = live_agent_run(st, std::move(*ar));
  const auto steps_prefix = key(st, record_kind::run_step, storage::child_suffix(view["run_id"].get<std::string>(), ""));
  if (api.route == route_id::agent_run_log) {
    auto q = api.query;
    if (!q.count("order")) q["order"] = "asc";
    auto page = objects::parse_page_query(q);
    if (!page) return fail(api, page.error());
    auto steps = objects::list_page(*st.ctx->db, steps_prefix, *page);
    if (!steps) return fail(api, steps.error());
    json out = *steps;
    out["data"] = log_entries((*steps)["data"]);
    out["steps"] = (*steps)["data"];
    return ok(api, out);
  }
  objects::page_query all;
  all.limit = 100;
  all.descending = false;
  auto steps = objects::list_page(*st.ctx->db, steps_prefix, all);
  if (!steps) return fail(api, steps.error());
  view["log"] = {{"object", "list"}, {"data", log_entries((*steps)["data"])}, {"has_more", (*steps)["has_more"]}};
  // Children with their state, approvals with theirs.
  json children = json::array();
  for (auto& c : view["children"])
    if (auto child = get(st, key(st, record_kind::agent_run, c.get<std::string>())); child && *child)
      children.push_back({{"id", c}, {"agent_id", (**child)["agent_id"]},
                          {"status", live_agent_run(st, **child)["status"]}, {"cost_ot", (**child)["cost_ot"]}});
  view["children"] = children;
  json approvals = json::array();
  for (auto& a : view["approvals"])
    if (auto ap = get(st, approval_key(st, a.get<std::string>())); ap && *ap) approvals.push_back(**ap);
  view["approvals"] = approvals;
  ok(api, view);
}

// -- topics -------------------------------------------------------------------------------

struct publish_outcome {
  json event;
  bool duplicate = false;
};

/// Persists an event and its deliveries (one firing per subscriber, each
/// idempotent by subscriber + event id) in one batch, then starts them.
result<publish_outcome> publish(agents_actor* self, const std::string& topic, json payload,
                                std::optional<std::string> event_id, json source, int hops) {
  auto& st = self->state;
  if (auto c = triggers::check_topic(topic); !c) return c.error();
  const auto now = st.ctx->now();
  const std::string eid = event_id ? *event_id : crypto::time_ordered_id("evt_");
  const auto ek = key(st, record_kind::topic_event, storage::child_suffix(topic, eid));
  if (auto prev = get(st, ek); !prev) return prev.error();
  else if (*prev) return publish_outcome{**prev, true};
  json event = {{"id", eid}, {"object", "topic.event"}, {"topic", topic}, {"payload", payload},
                {"created_at", now}, {"source", source}, {"hops", hops}, {"deliveries", json::array()}};
  storage::write_batch batch;
  std::vector<firing> started;
  if (hops <= max_event_hops) {
    for (auto& agent_id : st.topics.match(topic)) {
      auto agent = get(st, key(st, record_kind::agent, agent_id));
      if (!agent || !*agent) continue;
      if (refuse_firing(st, **agent)) {
        event["deliveries"].push_back({{"agent_id", agent_id}, {"skipped", "disabled or out of budget"}});
        continue;
      }
      std::string pattern_tmpl = "{{payload}}";
      for (auto& t : (**agent)["triggers"])
        if (t.value("type", std::string{}) == "topic" && triggers::topic_matches(t.value("pattern", std::string{}), topic)) {
          pattern_tmpl = t.value("input", pattern_tmpl);
          break;
        }
      json vars = {{"topic", topic}, {"payload", payload}, {"event_id", eid}, {"trigger", "topic " + topic}};
      firing_options o;
      o.firing_key = agents::firing_id({"topic", agent_id, topic, eid});
      o.hops = hops;
      auto f = build_firing(st, **agent, {{"type", "topic"}, {"topic", topic}, {"event_id", eid}},
                            agents::render_template(pattern_tmpl, vars), o, batch);
      if (!f) {
        event["deliveries"].push_back({{"agent_id", agent_id}, {"skipped", f.error().message}});
        continue;
      }
      event["deliveries"].push_back({{"agent_id", agent_id}, {"agent_run_id", f->agent_run["id"]}});
      started.push_back(std::move(*f));
    }
  }
  batch.put(ek, objects::dump(event));
  if (auto w = st.ctx->db->write(batch); !w) return w.error();
  for (auto& f : started) self->send(st.assistants, adopt_run{f.thread_id, f.run_id, nullptr});
  return publish_outcome{std::move(event), false};
}

void topics_route(agents_actor* self, api_request& api) {
  auto& st = self->state;
  const std::string& topic = api.params.at(0);
  if (auto c = triggers::check_topic(topic); !c) {
    auto f = c.error();
    f.param = "topic";
    return fail(api, f);
  }
  if (api.route == route_id::topic_events_list) {
    auto page = objects::parse_page_query(api.query);
    if (!page) return fail(api, page.error());
    auto list = objects::list_page(*st.ctx->db, key(st, record_kind::topic_event, storage::child_suffix(topic, "")), *page);
    if (!list) return fail(api, list.error());
    return ok(api, *list);
  }
  auto body = agents::parse_event_body(api.body);
  if (!body) return fail(api, body.error());
  auto r = publish(self, topic, body->payload, body->event_id, {{"type", "api"}}, 0);
  if (!r) return fail(api, r.error());
  json out = r->event;
  out["duplicate"] = r->duplicate;
  ok(api, out, r->duplicate ? 200 : 202);
}

void on_publish(agents_actor* self, publish_request& req) {
  auto& st = self->state;
  auto reply = [&](std::string output, bool ok) {
    self->send(req.reply_to, tool_result{req.turn, req.tool_call_id, std::move(output), ok, 0, 0, 0});
  };
  auto call = agents::parse_publish(req.arguments);
  if (!call) return reply("error: " + call.error().message, false);
  int hops = 0;
  auto ak = key(st, record_kind::agent_run, req.agent_run_id);
  auto ar = get(st, ak);
  if (ar && *ar) {
    const auto& trig = (**ar)["trigger"];
    hops = trig.value("type", std::string{}) == "topic" ? (**ar).value("hops", 0) : 0;
  }
  // The event id is derived from the call: a publish repeated after a restart is the same event.
  auto r = publish(self, call->topic, call->payload, agents::firing_id({"publish", req.agent_run_id, req.tool_call_id}),
                   {{"type", "agent_run"}, {"agent_run_id", req.agent_run_id}}, hops + 1);
  if (!r) return reply("error: " + r.error().message, false);
  if (ar && *ar && !r->duplicate) {
    (**ar)["published_events"].push_back({{"topic", call->topic}, {"event_id", r->event["id"]}});
    (void)st.ctx->db->put(ak, objects::dump(**ar));
  }
  reply(detail::dump_json({{"published", true}, {"topic", call->topic}, {"event_id", r->event["id"]},
                           {"deliveries", r->event["deliveries"].size()}}),
        true);
}

// -- delegation -------------------------------------------------------------------------

std::string delegation_key(const agents_state& st, const std::string& dkey) {
  return key(st, record_kind::delegation, dkey);
}

/// The last assistant message of a thread (a child's result).
std::string last_answer(const agents_state& st, const std::string& thread_id) {
  auto last = st.ctx->db->scan(key(st, record_kind::message, storage::child_suffix(thread_id, "")), std::nullopt, 8, true);
  if (!last) return {};
  for (auto& kv : *last) {
    auto m = json::parse(kv.value, nullptr, false);
    if (m.is_object() && m.value("role", std::string{}) == "assistant") return runs::content_text(m["content"]);
  }
  return {};
}

/// Sends the delegation's result to its parent, if it is done and the parent listens.
void deliver_delegation(agents_actor* self, const std::string& dkey, const json& d) {
  auto& st = self->state;
  if (d.value("status", std::string{}) != "done") return;
  auto w = st.waiting.find(dkey);
  if (w == st.waiting.end()) return;
  self->send(w->second.reply_to, tool_result{w->second.turn, w->second.tool_call_id, detail::dump_json(d["result"]), true,
                                             0, 0, d.value("spent_uot", std::int64_t{0})});
  st.waiting.erase(w);
}

/// Re-evaluates a delegation: finished when all children ended, the first
/// K completed, or the deadline passed. Persists and delivers the result.
// `dkey` is taken by value: callers pass the child_of entry's value, which
// this function erases.
void settle_delegation(agents_actor* self, const std::string dkey, bool deadline_passed) {
  auto& st = self->state;
  const auto dk = delegation_key(st, dkey);
  auto doc = get(st, dk);
  if (!doc || !*doc) return;
  json d = **doc;
  if (d["status"] == "done") return deliver_delegation(self, dkey, d);
  std::size_t ended = 0, completed = 0;
  money::uot spent = 0;
  json results = json::array();
  for (auto& cid : d["children"]) {
    auto child = get(st, key(st, record_kind::agent_run, cid.get<std::string>()));
    if (!child || !*child) continue;
    json c = live_agent_run(st, **child);
    const std::string status = c.value("status", std::string{});
    // Ended once its end is recorded (output, cost): its run can be terminal
    // on disk before its run_settled has reached this actor.
    const bool done = assistants::is_terminal(status) && !(**child)["finished_at"].is_null();
    ended += done;
    completed += done && status == "completed";
    if (auto cost = money::parse_ot(c.value("cost_ot", std::string{"0"}))) spent += *cost;
    json r = {{"agent_run_id", cid}, {"agent_id", c["agent_id"]}, {"status", status}, {"cost_ot", c["cost_ot"]}};
    if (done && status == "completed") r["output"] = c.value("output", json(nullptr));
    if (!c["last_error"].is_null()) r["error"] = c["last_error"];
    if (!done) r["note"] = "not waited for (still running)";
    results.push_back(std::move(r));
  }
  const std::size_t n = d["children"].size();
  const std::size_t k = d["wait_for"].is_number() ? d["wait_for"].get<std::size_t>() : n;
  if (!(ended == n || completed >= k || deadline_passed)) return;
  const auto envelope = d["budget_uot"].is_number() ? std::optional<money::uot>(d["budget_uot"].get<money::uot>())
                                                    : std::nullopt;
  json budget = {{"spent_ot", uot_text(spent)}};
  if (envelope) {
    budget["envelope_ot"] = uot_text(*envelope);
    budget["returned_ot"] = uot_text(std::max<money::uot>(0, *envelope - spent));
  }
  d["status"] = "done";
  d["spent_uot"] = spent;
  d["result"] = {{"children", results}, {"completed", completed}, {"total", n},
                 {"deadline_passed", deadline_passed && ended < n}, {"budget", budget}};
  (void)st.ctx->db->put(dk, objects::dump(d));
  for (auto& c : d["children"]) st.child_of.erase(c.get<std::string>());
  deliver_delegation(self, dkey, d);
}

void on_delegate(agents_actor* self, delegate_request& req) {
  auto& st = self->state;
  const std::string dkey = storage::child_suffix(req.run_id, req.tool_call_id);
  auto reply_error = [&](const std::string& message) {
    self->send(req.reply_to, tool_result{req.turn, req.tool_call_id, "error: " + message, false, 0, 0, 0});
  };
  st.waiting[dkey] = waiter{req.reply_to, req.turn, req.tool_call_id};
  if (auto prev = get(st, delegation_key(st, dkey)); prev && *prev) {
    // Asked again (the parent was resumed after a restart): re-attached,
    // with what is left of its deadline.
    const auto& deadline = (**prev)["deadline_at"];
    const auto now = st.ctx->now();
    if (deadline.is_number_integer() && (**prev)["status"] != "done") {
      if (deadline.get<std::int64_t>() <= now) return settle_delegation(self, dkey, true);
      self->delayed_send(self, std::chrono::seconds(deadline.get<std::int64_t>() - now), delegation_deadline{dkey});
    }
    return settle_delegation(self, dkey, false);
  }
  auto parent = get(st, key(st, record_kind::agent_run, req.agent_run_id));
  if (!parent || !*parent) {
    st.waiting.erase(dkey);
    return reply_error("the delegating agent run is unknown");
  }
  const json& par = **parent;
  auto state = get(st, key(st, record_kind::run_state, req.run_id));
  json agent_ctx = state && *state ? (**state).value("agent", json::object()) : json::object();
  const int depth = par.value("depth", 0);
  const int max_depth = agent_ctx.value("max_delegation_depth", 2);
  if (depth + 1 > max_depth) {
    st.waiting.erase(dkey);
    return reply_error("delegation is limited to a depth of " + std::to_string(max_depth) + " for this agent");
  }
  const auto max_children = static_cast<std::size_t>(agent_ctx.value("max_parallel_children", 5));
  auto call = agents::parse_delegate(req.arguments, max_children);
  if (!call) {
    st.waiting.erase(dkey);
    return reply_error(call.error().message);
  }
  auto parent_agent = get(st, key(st, record_kind::agent, par["agent_id"].get<std::string>()));
  // The envelope: what is left of the parent's budget, split evenly.
  std::optional<money::uot> envelope, share;
  if (agent_ctx["budget_uot"].is_number()) {
    envelope = std::max<money::uot>(0, agent_ctx["budget_uot"].get<money::uot>() - req.spent_uot);
    share = *envelope / static_cast<money::uot>(call->tasks.size());
  }
  storage::write_batch batch;
  std::vector<firing> started;
  json children = json::array();
  for (std::size_t i = 0; i < call->tasks.size(); ++i) {
    const auto& task = call->tasks[i];
    json agent;
    if (task.agent_id) {
      auto a = get(st, key(st, record_kind::agent, *task.agent_id));
      if (!a || !*a) {
        st.waiting.erase(dkey);
        return reply_error("tasks[" + std::to_string(i) + "].agent_id: no agent '" + *task.agent_id + "'");
      }
      agent = **a;
    } else if (parent_agent && *parent_agent) {
      agent = **parent_agent;
      // An inline sub-agent may not delegate further than its parent allows, nor publish.
      json tools = json::array();
      for (auto& t : agent.value("tools", json::array()))
        if (t.value("type", std::string{}) == "function") tools.push_back(t);
      agent["tools"] = tools;
    } else {
      st.waiting.erase(dkey);
      return reply_error("the delegating agent no longer exists");
    }
    firing_options o;
    o.firing_key = agents::firing_id({"delegate", req.run_id, req.tool_call_id, std::to_string(i)});
    o.parent = {{"agent_run_id", req.agent_run_id}, {"run_id", req.run_id}, {"tool_call_id", req.tool_call_id}};
    o.depth = depth + 1;
    if (share) o.budget = agents::budget_of(agent).per_run ? std::min(*share, *agents::budget_of(agent).per_run) : *share;
    o.instructions = task.instructions;
    o.model = task.model;
    if (auto refused = refuse_firing(st, agent)) {
      st.waiting.erase(dkey);
      return reply_error("tasks[" + std::to_string(i) + "]: " + refused->message);
    }
    auto f = build_firing(st, agent, {{"type", "delegate"}, {"parent_agent_run_id", req.agent_run_id}, {"index", i}},
                          task.input, o, batch);
    if (!f) {
      st.waiting.erase(dkey);
      return reply_error("tasks[" + std::to_string(i) + "]: " + f.error().message);
    }
    children.push_back(f->agent_run["id"]);
    started.push_back(std::move(*f));
  }
  json d = {{"parent_agent_run_id", req.agent_run_id}, {"run_id", req.run_id}, {"tool_call_id", req.tool_call_id},
            {"children", children}, {"wait_for", call->first_k ? json(*call->first_k) : json(nullptr)},
            {"deadline_at", call->deadline_s ? json(st.ctx->now() + *call->deadline_s) : json(nullptr)},
            {"budget_uot", envelope ? json(*envelope) : json(nullptr)}, {"status", "waiting"}};
  batch.put(delegation_key(st, dkey), objects::dump(d));
  json p = par;
  for (auto& c : children) p["children"].push_back(c);
  batch.put(key(st, record_kind::agent_run, req.agent_run_id), objects::dump(p));
  if (auto w = st.ctx->db->write(batch); !w) {
    st.waiting.erase(dkey);
    return reply_error("the children could not be stored: " + w.error().message);
  }
  for (auto& c : children) st.child_of[c.get<std::string>()] = dkey;
  for (auto& f : started) self->send(st.assistants, adopt_run{f.thread_id, f.run_id, nullptr});
  if (call->deadline_s) self->delayed_send(self, std::chrono::seconds(*call->deadline_s), delegation_deadline{dkey});
}

// -- run ends ------------------------------------------------------------------------------

void on_settled(agents_actor* self, const run_settled& msg) {
  auto& st = self->state;
  if (msg.agent_run_id.empty()) return;
  const auto ak = key(st, record_kind::agent_run, msg.agent_run_id);
  auto doc = get(st, ak);
  if (!doc || !*doc) return;
  json ar = **doc;
  const bool terminal = assistants::is_terminal(msg.status);
  // A run that ended while parked reports no spend: what it reported when it parked stands.
  const auto before = money::parse_ot(ar.value("cost_ot", std::string{"0"}));
  const money::uot cost = std::max<money::uot>(before ? *before : 0, msg.cost_uot);
  if (!terminal) {
    if (ar["status"] == msg.status) return;
    ar["status"] = msg.status;
    ar["cost_ot"] = uot_text(cost);
    (void)st.ctx->db->put(ak, objects::dump(ar));
    return;
  }
  if (assistants::is_terminal(ar.value("status", std::string{})) && ar["status"] != "queued" &&
      !ar["finished_at"].is_null())
    return; // recorded already (a replay after restart)
  ar["status"] = msg.status;
  ar["cost_ot"] = uot_text(cost);
  ar["finished_at"] = st.ctx->now();
  if (auto run = get(st, key(st, record_kind::run, storage::child_suffix(msg.thread_id, msg.run_id))); run && *run) {
    ar["usage"] = (**run)["usage"];
    ar["last_error"] = (**run)["last_error"];
  }
  if (msg.status == "completed") ar["output"] = last_answer(st, msg.thread_id);
  storage::write_batch batch;
  batch.put(ak, objects::dump(ar));
  batch.del(key(st, record_kind::agent_run_open, msg.agent_run_id));
  const std::string agent_id = ar["agent_id"];
  const auto today = day_of(st.ctx->now());
  batch.put(key(st, record_kind::agent_spend, agent_id), today + "\n" + std::to_string(spent_today(st, agent_id) + cost));
  if (auto w = st.ctx->db->write(batch); !w) {
    spdlog::error("agent run {}: its end cannot be recorded: {}", msg.agent_run_id, w.error().message);
    return;
  }
  broadcast(st, {{"type", "agent_run.ended"}, {"agent_run", ar}});
  if (auto c = st.child_of.find(msg.agent_run_id); c != st.child_of.end()) settle_delegation(self, c->second, false);
}

// -- approvals API ----------------------------------------------------------------------

void approvals_route(agents_actor* self, api_request& api) {
  auto& st = self->state;
  if (api.route == route_id::approvals_list) {
    auto q = api.query;
    std::optional<std::string> status;
    if (auto s = q.find("status"); s != q.end()) {
      status = s->second;
      q.erase(s);
      if (*status != "pending" && *status != "approved" && *status != "rejected" && *status != "expired")
        return fail(api, objects::bad_request("'status' must be pending, approved, rejected or expired", "status"));
    }
    auto page = objects::parse_page_query(q);
    if (!page) return fail(api, page.error());
    auto list = objects::list_page(*st.ctx->db, storage::tenant_prefix(st.company_id, record_kind::approval), *page,
                                   [status](json&& a) -> std::optional<json> {
                                     if (status && a.value("status", std::string{}) != *status) return std::nullopt;
                                     return std::move(a);
                                   });
    if (!list) return fail(api, list.error());
    return ok(api, *list);
  }
  const std::string& id = api.params.at(0);
  if (api.route == route_id::approval_get) {
    auto a = load_or_404(st, api, approval_key(st, id), "approval", id);
    if (a) ok(api, *a);
    return;
  }
  auto reason = agents::parse_decision_body(api.body);
  if (!reason) return fail(api, reason.error());
  auto r = decide(self, id, api.route == route_id::approval_approve ? "approved" : "rejected", "api", *reason);
  if (!r) return fail(api, r.error());
  ok(api, *r);
}

// -- spend ---------------------------------------------------------------------------------

void spend_route(agents_actor* self, api_request& api) {
  auto& st = self->state;
  std::string group = "day";
  if (auto g = api.query.find("group_by"); g != api.query.end()) group = g->second;
  if (group != "day" && group != "model" && group != "agent")
    return fail(api, objects::bad_request("'group_by' must be day, model or agent", "group_by"));
  std::int64_t days = 30;
  if (auto d = api.query.find("days"); d != api.query.end()) {
    char* end = nullptr;
    days = std::strtoll(d->second.c_str(), &end, 10);
    if (d->second.empty() || *end != '\0' || days < 1 || days > 366)
      return fail(api, objects::bad_request("'days' must be an integer from 1 to 366", "days"));
  }
  const auto since = st.ctx->now() - days * 86400;
  std::map<std::string, std::pair<money::uot, std::int64_t>> sums; // key → (cost, calls)
  if (group == "agent") {
    auto r = st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::agent_run),
                                  [&](std::string_view, std::string_view v) {
                                    auto ar = json::parse(v, nullptr, false);
                                    if (!ar.is_object() || ar.value("created_at", std::int64_t{0}) < since) return true;
                                    auto c = money::parse_ot(ar.value("cost_ot", std::string{"0"}));
                                    auto& s = sums[ar.value("agent_id", std::string{})];
                                    s.first += c ? *c : 0;
                                    s.second += 1;
                                    return true;
                                  });
    if (!r) return fail(api, r.error());
  } else {
    auto r = st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::ledger),
                                  [&](std::string_view, std::string_view v) {
                                    auto e = storage::decode_ledger_entry(v);
                                    if (!e || e->created_at < since || e->kind == "credit") return true;
                                    std::string k;
                                    if (group == "model") k = e->model;
                                    else {
                                      const std::time_t t = e->created_at;
                                      std::tm tm{};
                                      gmtime_r(&t, &tm);
                                      char buf[16];
                                      std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
                                      k = buf;
                                    }
                                    auto& s = sums[k];
                                    s.first += e->cost_uot;
                                    s.second += 1;
                                    return true;
                                  });
    if (!r) return fail(api, r.error());
  }
  json data = json::array();
  money::uot total = 0;
  for (auto& [k, s] : sums) {
    data.push_back({{group, k}, {"cost_ot", uot_text(s.first)}, {"cost_uot", s.first},
                    {group == "agent" ? "runs" : "calls", s.second}});
    total += s.first;
  }
  ok(api, {{"object", "spend"}, {"group_by", group}, {"days", days}, {"data", data}, {"total_ot", uot_text(total)}});
}

// -- hooks ------------------------------------------------------------------------------------

void hook_deliver(agents_actor* self, api_request& api) {
  auto& st = self->state;
  const std::string& hook_id = api.params.at(0);
  auto h = st.hooks.find(hook_id);
  if (h == st.hooks.end()) return fail(api, make_failure(errc::not_found, "No hook with id '" + hook_id + "'."));
  auto agent = get(st, key(st, record_kind::agent, h->second));
  if (!agent) return fail(api, agent.error());
  if (!*agent) return fail(api, make_failure(errc::not_found, "No hook with id '" + hook_id + "'."));
  const json& a = **agent;
  json trig;
  for (auto& t : a["triggers"])
    if (t.value("hook_id", std::string{}) == hook_id) trig = t;
  if (trig.is_null()) return fail(api, make_failure(errc::not_found, "No hook with id '" + hook_id + "'."));
  auto sealed = crypto::base64_decode(a.value("_sealed", json::object()).value(hook_id, std::string{}));
  if (!sealed) return fail(api, make_failure(errc::internal, "the hook's secret is unreadable"));
  auto secret = st.ctx->vault->open(*sealed, hook_aad(st.company_id, hook_id));
  if (!secret) return fail(api, make_failure(errc::internal, "the hook's secret is unreadable"));
  auto ts = adapters::find_header(api.headers, "x-oag-timestamp");
  auto sig = adapters::find_header(api.headers, "x-oag-signature");
  if (auto v = triggers::verify_webhook(*secret, ts, sig, api.raw_body, st.ctx->now(),
                                        trig.value("tolerance_s", std::int64_t{300}));
      !v)
    return fail(api, v.error());
  std::optional<std::string> field;
  if (trig["event_id_field"].is_string()) field = trig["event_id_field"].get<std::string>();
  auto eid = triggers::webhook_event_id(adapters::find_header(api.headers, "x-oag-event-id"), api.raw_body,
                                        field ? std::optional<std::string_view>(*field) : std::nullopt);
  firing_options o;
  if (eid) o.firing_key = agents::firing_id({"hook", hook_id, *eid});
  auto body_json = json::parse(api.raw_body, nullptr, false);
  json vars = {{"body", api.raw_body}, {"json", body_json.is_discarded() ? json(nullptr) : body_json},
               {"event_id", eid ? json(*eid) : json(nullptr)}, {"trigger", "webhook " + hook_id}};
  const std::string input = agents::render_template(trig.value("input", std::string{"{{body}}"}), vars);
  auto f = fire(self, a, {{"type", "webhook"}, {"hook_id", hook_id}, {"event_id", eid ? json(*eid) : json(nullptr)}},
                input, o);
  if (!f) return fail(api, f.error());
  ok(api, {{"object", "hook.delivery"}, {"agent_id", a["id"]}, {"agent_run_id", f->agent_run["id"]},
           {"run_id", f->run_id}, {"thread_id", f->thread_id}, {"event_id", eid ? json(*eid) : json(nullptr)},
           {"duplicate", f->duplicate}},
     202);
}

// -- restore ------------------------------------------------------------------------------

void restore(agents_actor* self) {
  auto& st = self->state;
  const auto now = st.ctx->now();
  // Cron triggers' last firings.
  std::map<std::string, std::map<std::size_t, std::int64_t>> last;
  (void)st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::agent_schedule),
                             [&](std::string_view k, std::string_view v) {
                               auto parts = storage::parse_tenant_key(k);
                               if (!parts) return true;
                               auto nul = parts->suffix.find('\0');
                               if (nul == std::string_view::npos) return true;
                               last[std::string{parts->suffix.substr(0, nul)}]
                                   [std::strtoull(std::string{parts->suffix.substr(nul + 1)}.c_str(), nullptr, 10)] =
                                       std::strtoll(std::string{v}.c_str(), nullptr, 10);
                               return true;
                             });
  std::size_t agents_n = 0;
  (void)st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::agent),
                             [&](std::string_view, std::string_view v) {
                               auto a = json::parse(v, nullptr, false);
                               if (!a.is_object()) return true;
                               ++agents_n;
                               index_agent(st, a, last[a["id"].get<std::string>()], a.value("created_at", now));
                               return true;
                             });
  // Approvals a run has not consumed yet. The index entry's value is the
  // expiry while pending and "decided" after the decision, so pending ones
  // cost no read; decided ones are resent to their runs.
  std::vector<std::string> decided;
  (void)st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::approval_pending),
                             [&](std::string_view k, std::string_view v) {
                               auto parts = storage::parse_tenant_key(k);
                               if (!parts) return true;
                               std::string id{parts->suffix};
                               if (!v.empty() && v != "decided") {
                                 st.pending.put(id, std::strtoll(std::string{v}.c_str(), nullptr, 10));
                                 return true;
                               }
                               decided.push_back(std::move(id));
                               return true;
                             });
  for (auto& id : decided) {
    auto a = get(st, approval_key(st, id));
    if (!a || !*a) continue;
    if ((**a)["status"] == "pending") st.pending.put(id, (**a).value("expires_at", now));
    else self->send(st.assistants, approval_decided{(**a)["thread_id"], (**a)["run_id"], id});
  }
  // Agent runs whose end was not recorded: those whose run is still active
  // (the assistants actor resumes or holds it) need nothing but their
  // delegation link, which the entry's value carries; the others ended
  // while their record was not written (a crash in between) and are
  // recorded now.
  std::unordered_set<std::string> active_runs;
  (void)st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::active_run),
                             [&](std::string_view, std::string_view v) {
                               if (auto e = runs::decode_active_run(v)) active_runs.insert(e->run_id);
                               return true;
                             });
  std::vector<std::string> unknown;
  (void)st.ctx->db->for_each(storage::tenant_prefix(st.company_id, record_kind::agent_run_open),
                             [&](std::string_view k, std::string_view v) {
                               auto parts = storage::parse_tenant_key(k);
                               if (!parts) return true;
                               std::string id{parts->suffix};
                               auto open = decode_open_entry(v);
                               if (!open) {
                                 unknown.push_back(std::move(id));
                                 return true;
                               }
                               if (!open->parent_run_id.empty())
                                 st.child_of[id] = storage::child_suffix(open->parent_run_id, open->parent_call_id);
                               if (!active_runs.count(open->run_id)) unknown.push_back(std::move(id));
                               return true;
                             });
  for (auto& id : unknown) {
    auto ar = get(st, key(st, record_kind::agent_run, id));
    if (!ar || !*ar) continue;
    if ((**ar)["parent"].is_object()) {
      const auto& p = (**ar)["parent"];
      st.child_of[id] = storage::child_suffix(p["run_id"].get<std::string>(), p["tool_call_id"].get<std::string>());
    }
    auto run = get(st, key(st, record_kind::run, storage::child_suffix((**ar)["thread_id"].get<std::string>(),
                                                                        (**ar)["run_id"].get<std::string>())));
    if (run && *run && assistants::is_terminal((**run).value("status", std::string{})))
      self->send(self, run_settled{(**ar)["thread_id"], (**ar)["run_id"], (**run)["status"], 0, id, 0});
  }
  if (agents_n > 0 || !st.pending.empty())
    spdlog::info("company {}: {} agents, {} topic subscriptions, {} pending approvals", st.company_id, agents_n,
                 st.topics.size(), st.pending.size());
}

caf::behavior agents_behavior(agents_actor* self, std::shared_ptr<const gateway_context> ctx, std::string company_id,
                              caf::actor tenant, caf::actor assistants) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.company_id = std::move(company_id);
  st.tenant = std::move(tenant);
  st.assistants = std::move(assistants);
  restore(self);
  // Firings due while OAG was down are decided at once.
  self->send(self, caf::atom("tick"));
  return {
    [=](tenant_request& req) {
      auto& api = req.api;
      const auto r = api.route;
      if (r >= route_id::agents_create && r <= route_id::agent_fire) return agents_route(self, api);
      if (r == route_id::agent_run_get || r == route_id::agent_run_log) return agent_runs_route(self, api);
      if (r >= route_id::approvals_list && r <= route_id::approval_reject) return approvals_route(self, api);
      if (r == route_id::topic_publish || r == route_id::topic_events_list) return topics_route(self, api);
      if (r >= route_id::telegram_put && r <= route_id::telegram_delete) return telegram_route(self, api);
      if (r == route_id::spend_get) return spend_route(self, api);
      if (r == route_id::hook_deliver) return hook_deliver(self, api);
      if (r == route_id::telegram_webhook) return telegram_webhook(self, api);
      if (r == route_id::events_subscribe) {
        if (!api.sink) return;
        api.sink->start_stream(200, {}, "application/x-ndjson");
        self->state.subscribers.push_back(api.sink);
        return;
      }
      fail(api, make_failure(errc::not_found, "unknown route"));
    },
    [=](const run_settled& msg) { on_settled(self, msg); },
    [=](publish_request& req) { on_publish(self, req); },
    [=](delegate_request& req) { on_delegate(self, req); },
    [=](approvals_opened& msg) { on_approvals_opened(self, msg); },
    [=](telegram_done& d) { on_telegram_done(self, d); },
    [=](const delegation_deadline& d) { settle_delegation(self, d.key, true); },
    [=](const clock_changed&) { tick(self); },
    [=](caf::atom_value a) {
      if (a != caf::atom("tick")) return;
      self->state.timer_at.reset();
      tick(self);
    },
  };
}

} // namespace

caf::actor spawn_agents(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, std::string company_id,
                        caf::actor tenant, caf::actor assistants) {
  return sys.spawn(agents_behavior, std::move(ctx), std::move(company_id), std::move(tenant), std::move(assistants));
}

} // namespace oag::actors
