#include "realtime_chat.hpp"

#include <atomic>
#include <optional>
#include <utility>
#include <vector>

#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "oag/actors/messages.hpp"
#include "oag/storage/crypto.hpp"
#include "realtime_protocol.hpp"
#include "realtime_token.hpp"
#include "routes.hpp"

namespace oag::runtime::realtime {

namespace {

using nlohmann::json;
using actors::route_id;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

failure unauthorized(std::string message) { return make_failure(errc::invalid_api_key, std::move(message)); }

class chat_session;

/// What a sink was created for.
enum class purpose { run, cancel, events };

/// The sink handed to the actors for one call of a session. Thread-safe:
/// each call is posted onto the session's strand; the session is held
/// weakly, so a sink that outlives its session turns into a no-op (and
/// write answers false, which stops the producer).
class strand_sink final : public actors::response_sink, public std::enable_shared_from_this<strand_sink> {
 public:
  strand_sink(std::weak_ptr<chat_session> session, std::weak_ptr<ws_connection> conn, purpose p,
              std::uint64_t gen, std::size_t backlog_limit)
      : session_(std::move(session)), conn_(std::move(conn)), purpose_(p), gen_(gen), limit_(backlog_limit) {}

  void respond(int status, std::string body, adapters::header_list, std::string) override;
  void start_stream(int, adapters::header_list, std::string) override {}
  bool write(std::string bytes) override;
  void end_stream() override;

  void on_disconnect(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (gone_.load(std::memory_order_acquire)) {
      lock.unlock();
      if (fn) fn();
      return;
    }
    fn_ = std::move(fn);
  }

  bool disconnected() const noexcept override { return gone_.load(std::memory_order_acquire); }

  /// The session is over (strand).
  void fire() {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gone_.exchange(true, std::memory_order_acq_rel)) return;
      fn = std::move(fn_);
    }
    if (fn) {
      try {
        fn();
      } catch (...) {
      }
    }
  }

  void done_bytes(std::size_t n) { backlog_.fetch_sub(n, std::memory_order_acq_rel); }

 private:
  std::weak_ptr<chat_session> session_;
  std::weak_ptr<ws_connection> conn_;
  purpose purpose_;
  std::uint64_t gen_;
  std::size_t limit_;
  std::atomic<std::size_t> backlog_{0}; ///< bytes posted, not yet translated
  std::atomic<bool> gone_{false};
  std::mutex mu_;
  std::function<void()> fn_;
};

class chat_session final : public ws_handler, public std::enable_shared_from_this<chat_session> {
 public:
  chat_session(std::shared_ptr<service> svc, std::string key_hash, std::string company_id, std::string request_id)
      : svc_(std::move(svc)),
        key_hash_(std::move(key_hash)),
        company_id_(std::move(company_id)),
        session_id_(crypto::random_id("rtc_", 20)),
        request_id_(std::move(request_id)) {}

  void on_open(std::shared_ptr<ws_connection> conn) override {
    conn_ = std::move(conn);
    send({{"type", "session.created"},
          {"session",
           {{"id", session_id_},
            {"object", "realtime.session"},
            {"company_id", company_id_},
            {"thread_id", nullptr},
            {"max_message_bytes", svc_->options().max_message_bytes}}}});
  }

  void on_text(std::string message) override {
    auto parsed = parse_client_message(message);
    if (!parsed) return emit(error_event(parsed.error()));
    auto& m = parsed.value();
    switch (m.type) {
      case client_message::kind::ping:
        return emit({{"type", "pong"}});
      case client_message::kind::chat_message:
        return chat(m.chat);
      case client_message::kind::chat_cancel:
        return cancel();
      case client_message::kind::subscribe:
        return subscribe(m.events);
    }
  }

  void on_binary(std::string) override {
    send(error_event(make_failure(errc::invalid_request,
                                  "Binary messages are not supported: send JSON text messages.", "message")));
  }

  void on_close(std::uint16_t, std::string) override {
    closed_ = true;
    // The run goes on (its result is in the thread); the subscription ends.
    for (auto* s : {&run_sink_, &events_sink_, &cancel_sink_})
      if (*s) {
        (*s)->fire();
        s->reset();
      }
    conn_.reset();
  }

  // ---- from the sinks (strand)

  void sink_respond(purpose p, std::uint64_t gen, int status, const std::string& body) {
    if (closed_) return;
    if (p == purpose::run) {
      if (gen != gen_ || !busy_) return;
      end_generation();
      if (status >= 200 && status < 300) {
        // An answer without a stream (nothing to translate): passed on as is.
        auto doc = json::parse(body, nullptr, false);
        send({{"type", "response"}, {"status", status}, {"body", doc.is_discarded() ? json(body) : doc}});
        return;
      }
      send(error_event_from_response(status, body));
      if (status == 401) conn_->close(1008, "the API key is no longer valid");
      return;
    }
    if (p == purpose::cancel) {
      if (status >= 400) send(error_event_from_response(status, body));
      return;
    }
    // events: the subscription was refused (or answered at once)
    if (gen != events_gen_) return;
    events_sink_.reset();
    if (status >= 400) send(error_event_from_response(status, body));
  }

  void sink_bytes(purpose p, std::uint64_t gen, std::string bytes) {
    if (closed_) return;
    if (p == purpose::events) {
      if (gen != events_gen_ || bytes.empty()) return;
      if (conn_) conn_->send_text(std::move(bytes));
      return;
    }
    if (p != purpose::run || gen != gen_ || !busy_) return;
    std::vector<json> out;
    translator_.feed(bytes, out);
    for (auto& ev : out) {
      const std::string& type = ev["type"].get_ref<const std::string&>();
      if (type == "run.created") {
        if (translator_.thread_id() && !translator_.thread_id()->empty()) thread_id_ = translator_.thread_id();
        persona_ = pending_persona_;
        if (!send(ev)) return;
        if (cancel_pending_) send_cancel();
        continue;
      }
      if (!send(ev)) return;
    }
    if (translator_.finished()) end_generation();
  }

  void sink_end(purpose p, std::uint64_t gen) {
    if (closed_) return;
    if (p == purpose::events) {
      if (gen != events_gen_ || !events_sink_) return;
      events_sink_.reset();
      send({{"type", "subscription.ended"}});
      return;
    }
    if (p == purpose::run && gen == gen_ && busy_) end_generation();
  }

 private:
  bool send(const json& ev) {
    if (!conn_) return false;
    return conn_->send_text(dump(ev));
  }
  void emit(const json& ev) { send(ev); }

  std::size_t backlog_limit() const { return 4 * 1024 * 1024; }

  std::shared_ptr<strand_sink> make_sink(purpose p, std::uint64_t gen) {
    return std::make_shared<strand_sink>(weak_from_this(), conn_, p, gen, backlog_limit());
  }

  void to_directory(actors::api_request api) {
    api.request_id = request_id_ + "-" + std::to_string(++calls_);
    caf::anon_send(svc_->directory(), actors::client_request{key_hash_, std::move(api)});
  }

  void chat(const chat_message& m) {
    if (busy_)
      return emit(error_event([] {
        auto f = make_failure(errc::invalid_request,
                              "A generation is in progress in this session: wait for it to end or send chat.cancel.",
                              "type");
        f.error_code = "generation_in_progress";
        return f;
      }()));
    const auto p = persona_for(m, persona_);
    const auto thread = m.thread_id ? m.thread_id : thread_id_;
    auto call = build_chat_call(m.content, p, thread);
    if (!call) return emit(error_event(call.error()));
    // Persona and thread are the session's once a run exists with them.
    pending_persona_ = p;
    ++gen_;
    busy_ = true;
    cancel_pending_ = false;
    translator_ = run_translator{};
    run_sink_ = make_sink(purpose::run, gen_);
    actors::api_request api;
    api.route = call->route;
    api.params = std::move(call->params);
    api.body = std::move(call->body);
    api.inline_persona = call->inline_persona;
    api.sink = run_sink_;
    to_directory(std::move(api));
  }

  void end_generation() {
    busy_ = false;
    cancel_pending_ = false;
    run_sink_.reset();
  }

  void cancel() {
    if (!busy_) {
      auto f = make_failure(errc::invalid_request, "There is no generation in progress to cancel.", "type");
      f.error_code = "no_generation";
      return emit(error_event(f));
    }
    if (!translator_.run_id()) {
      cancel_pending_ = true;  // sent once the run exists
      return;
    }
    send_cancel();
  }

  void send_cancel() {
    cancel_pending_ = false;
    if (!translator_.run_id() || !translator_.thread_id()) return;
    cancel_sink_ = make_sink(purpose::cancel, gen_);
    actors::api_request api;
    api.route = route_id::run_cancel;
    api.params = {*translator_.thread_id(), *translator_.run_id()};
    api.sink = cancel_sink_;
    to_directory(std::move(api));
  }

  void subscribe(const std::vector<std::string>& events) {
    if (events_sink_) {
      auto f = make_failure(errc::invalid_request, "This session is already subscribed.", "type");
      f.error_code = "already_subscribed";
      return emit(error_event(f));
    }
    events_sink_ = make_sink(purpose::events, ++events_gen_);
    actors::api_request api;
    api.route = route_id::events_subscribe;
    api.body = {{"events", events}};
    api.sink = events_sink_;
    to_directory(std::move(api));
    send({{"type", "subscribed"}, {"events", events}});
  }

  std::shared_ptr<service> svc_;
  std::string key_hash_;
  std::string company_id_;
  std::string session_id_;
  std::string request_id_;
  std::shared_ptr<ws_connection> conn_;
  bool closed_ = false;
  std::uint64_t calls_ = 0;

  std::optional<std::string> thread_id_;
  persona persona_;
  persona pending_persona_;
  // The generation in progress.
  bool busy_ = false;
  std::uint64_t gen_ = 0;
  bool cancel_pending_ = false;
  run_translator translator_;
  std::shared_ptr<strand_sink> run_sink_;
  std::shared_ptr<strand_sink> cancel_sink_;
  // The live-events subscription.
  std::uint64_t events_gen_ = 0;
  std::shared_ptr<strand_sink> events_sink_;
};

void strand_sink::respond(int status, std::string body, adapters::header_list, std::string) {
  auto conn = conn_.lock();
  if (!conn) return;
  conn->post([s = session_, p = purpose_, gen = gen_, status, body = std::move(body)] {
    if (auto c = s.lock()) c->sink_respond(p, gen, status, body);
  });
}

bool strand_sink::write(std::string bytes) {
  if (gone_.load(std::memory_order_acquire)) return false;
  auto conn = conn_.lock();
  if (!conn || !conn->is_open()) {
    gone_.store(true, std::memory_order_release);
    return false;
  }
  const std::size_t n = bytes.size();
  // Bytes posted and not yet translated count against the client too: a
  // session that cannot keep up is closed like one whose queue overflows.
  const std::size_t before = backlog_.fetch_add(n, std::memory_order_acq_rel);
  if (before > 0 && before + n + conn->queued_bytes() > limit_) {
    backlog_.fetch_sub(n, std::memory_order_acq_rel);
    gone_.store(true, std::memory_order_release);
    conn->close(1008, "client too slow: its events are not being read");
    return false;
  }
  auto self = shared_from_this();
  conn->post([s = session_, self, p = purpose_, gen = gen_, bytes = std::move(bytes), n]() mutable {
    self->done_bytes(n);
    if (auto c = s.lock()) c->sink_bytes(p, gen, std::move(bytes));
  });
  return true;
}

void strand_sink::end_stream() {
  auto conn = conn_.lock();
  if (!conn) return;
  conn->post([s = session_, p = purpose_, gen = gen_] {
    if (auto c = s.lock()) c->sink_end(p, gen);
  });
}

/// Answers the directory's key check of an upgrade: 200 accepts the
/// WebSocket, anything else is the HTTP answer.
class upgrade_sink final : public actors::response_sink {
 public:
  upgrade_sink(std::shared_ptr<service> svc, std::string key_hash, std::string request_id,
               std::shared_ptr<ws_upgrade> up)
      : svc_(std::move(svc)), key_hash_(std::move(key_hash)), request_id_(std::move(request_id)), up_(std::move(up)) {}

  void respond(int status, std::string body, adapters::header_list extra, std::string) override {
    if (status != 200) return up_->reject(status, std::move(body), std::move(extra));
    auto doc = json::parse(body, nullptr, false);
    std::string company = doc.is_object() ? doc.value("company_id", std::string{}) : std::string{};
    up_->accept(std::make_shared<chat_session>(svc_, key_hash_, std::move(company), request_id_));
  }
  void start_stream(int, adapters::header_list, std::string) override {}
  bool write(std::string) override { return false; }
  void end_stream() override {}
  void on_disconnect(std::function<void()>) override {}
  bool disconnected() const noexcept override { return false; }

 private:
  std::shared_ptr<service> svc_;
  std::string key_hash_;
  std::string request_id_;
  std::shared_ptr<ws_upgrade> up_;
};

/// Turns the directory's 200 for a valid key into a minted token.
class token_response_sink final : public actors::response_sink {
 public:
  token_response_sink(std::shared_ptr<service> svc, std::string key, std::string key_hash,
                      std::shared_ptr<actors::response_sink> inner, std::int64_t ttl)
      : svc_(std::move(svc)), key_(std::move(key)), key_hash_(std::move(key_hash)), inner_(std::move(inner)), ttl_(ttl) {}

  void respond(int status, std::string body, adapters::header_list extra, std::string content_type) override {
    if (status != 200) return inner_->respond(status, std::move(body), std::move(extra), std::move(content_type));
    auto t = mint_token(key_, key_hash_, svc_->now(), ttl_);
    inner_->respond(200, dump({{"object", "realtime.token"}, {"token", t.token}, {"expires_at", t.expires_at}}));
  }
  void start_stream(int, adapters::header_list, std::string) override {}
  bool write(std::string) override { return false; }
  void end_stream() override {}
  void on_disconnect(std::function<void()> fn) override { inner_->on_disconnect(std::move(fn)); }
  bool disconnected() const noexcept override { return inner_->disconnected(); }

 private:
  std::shared_ptr<service> svc_;
  std::string key_;
  std::string key_hash_;
  std::shared_ptr<actors::response_sink> inner_;
  std::int64_t ttl_;
};

} // namespace

service::service(caf::actor directory, std::string signing_key, std::function<std::int64_t()> now,
                 service_options opts)
    : directory_(std::move(directory)), key_(std::move(signing_key)), now_(std::move(now)), opts_(opts) {}

std::shared_ptr<actors::response_sink> service::token_sink(std::string key_hash,
                                                           std::shared_ptr<actors::response_sink> inner) {
  return std::make_shared<token_response_sink>(shared_from_this(), key_, std::move(key_hash), std::move(inner),
                                               opts_.token_ttl_s);
}

bool service::consume_nonce(const std::string& nonce, std::int64_t expires_at) {
  const auto t = now_();
  std::lock_guard<std::mutex> lock(mu_);
  if (used_.size() > 1024)
    for (auto it = used_.begin(); it != used_.end();) it = it->second <= t ? used_.erase(it) : std::next(it);
  return used_.emplace(nonce, expires_at).second;
}

failure upgrade_required() {
  auto f = make_failure(errc::invalid_request,
                        "GET /v1/realtime/chat is a WebSocket endpoint: connect with a WebSocket client "
                        "(Upgrade: websocket).");
  f.http_status = 426;
  f.error_code = "upgrade_required";
  return f;
}

void service::upgrade(actors::inbound_request req, std::shared_ptr<ws_upgrade> up) {
  auto fail = [&](const failure& f) { up->reject(http_status_of(f), to_openai_error_body(f)); };
  auto route = match_route(req.method, req.path);
  if (!route) return fail(route.error());
  if (route->route != route_id::realtime_chat)
    return fail(make_failure(errc::not_found, "There is no WebSocket endpoint at " + req.path +
                                                  "; the chat is at GET /v1/realtime/chat."));
  std::string key_hash;
  const auto auth = adapters::find_header(req.headers, "authorization");
  const auto query = parse_query(req.query);
  const auto token = query.find("token");
  if (auth) {
    auto key = bearer_token(*auth);
    if (!key) return fail(unauthorized("Malformed Authorization header: send 'Authorization: Bearer oag-…'."));
    key_hash = crypto::sha256(*key);
  } else if (token != query.end()) {
    auto v = verify_token(key_, token->second, now_());
    if (!v) return fail(v.error());
    if (!consume_nonce(v->nonce, v->expires_at)) {
      auto f = unauthorized("The realtime token was already used; tokens are single-use. Mint a new one with POST "
                            "/v1/realtime/tokens.");
      f.error_code = "invalid_realtime_token";
      return fail(f);
    }
    key_hash = std::move(v->key_hash);
  } else {
    return fail(unauthorized("You didn't provide an API key: send 'Authorization: Bearer oag-…', or (from a "
                             "browser) ?token= with a token from POST /v1/realtime/tokens."));
  }
  actors::api_request api;
  api.route = route_id::realtime_chat;
  api.request_id = req.request_id;
  api.sink = std::make_shared<upgrade_sink>(shared_from_this(), key_hash, req.request_id, std::move(up));
  caf::anon_send(directory_, actors::client_request{key_hash, std::move(api)});
}

} // namespace oag::runtime::realtime
