#include "app.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <utility>

#include <condition_variable>
#include <mutex>

#include <caf/all.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "cockpit.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "oag/actors/gateway.hpp"
#include "oag/adapters/anthropic_inbound.hpp"
#include "oag/adapters/catalog.hpp"
#include "oag/storage/crypto.hpp"
#include "realtime_chat.hpp"
#include "realtime_token.hpp"
#include "routes.hpp"

namespace oag::runtime {

namespace {

unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : hc;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes a secret file readable only by the owner.
result<void> write_secret_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_failure(errc::internal, "cannot create " + path);
  ::fchmod(fd, 0600);
  auto n = ::write(fd, content.data(), content.size());
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size())) return make_failure(errc::internal, "cannot write " + path);
  return {};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

result<void> ensure_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return make_failure(errc::internal, dir + " exists and is not a directory");
    return {};
  }
  // Create parents one level at a time.
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto r = ensure_dir(dir.substr(0, slash)); !r) return r;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_failure(errc::internal, "cannot create directory " + dir);
  return {};
}

/// Answers errors of the Anthropic door in Anthropic's error shape: the
/// actors speak OpenAI's, this sink rewrites bodies of error statuses.
class anthropic_error_sink final : public actors::response_sink {
 public:
  explicit anthropic_error_sink(std::shared_ptr<actors::response_sink> inner) : inner_(std::move(inner)) {}
  void respond(int status, std::string body, adapters::header_list extra, std::string content_type) override {
    if (status >= 400) {
      failure f;
      f.http_status = status;
      auto doc = nlohmann::json::parse(body, nullptr, false);
      if (!doc.is_discarded() && doc.contains("error") && doc["error"].is_object()) {
        const auto& e = doc["error"];
        if (e.contains("message") && e["message"].is_string()) f.message = e["message"];
        if (e.contains("param") && e["param"].is_string()) f.param = e["param"].get<std::string>();
      }
      body = adapters::anthropic_error_body(f);
    }
    inner_->respond(status, std::move(body), std::move(extra), std::move(content_type));
  }
  void start_stream(int status, adapters::header_list extra, std::string content_type) override {
    inner_->start_stream(status, std::move(extra), std::move(content_type));
  }
  bool write(std::string bytes) override { return inner_->write(std::move(bytes)); }
  void end_stream() override { inner_->end_stream(); }
  void on_disconnect(std::function<void()> fn) override { inner_->on_disconnect(std::move(fn)); }
  bool disconnected() const noexcept override { return inner_->disconnected(); }

 private:
  std::shared_ptr<actors::response_sink> inner_;
};

/// The access log's sink. The edge calls its hook on an io thread, inside
/// the connection's strand, once per request: a synchronous write to stderr
/// there costs a write(2) per request and, once whoever reads our stderr
/// stops reading and the pipe fills, blocks the connection (and soon every
/// io thread). Lines are formatted on the caller's thread (with the pattern
/// of the default logger) into a buffer that one writer thread flushes in
/// batches: it is woken only when the buffer turns non-empty, lets lines
/// gather for a few milliseconds and writes them with one write(2). When
/// stderr does not drain, lines beyond `k_cap` bytes are dropped (and
/// counted in a warning) instead of blocking a request.
class batched_stderr_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  batched_stderr_sink() : writer_([this] { run(); }) {}
  ~batched_stderr_sink() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    writer_.join();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (pending_.size() + line.size() > k_cap) {
      ++dropped_;
      return;
    }
    const bool was_empty = pending_.empty();
    pending_.append(line.data(), line.size());
    if (was_empty || pending_.size() >= k_batch) cv_.notify_one();
  }
  void flush_() override {}

 private:
  static constexpr std::size_t k_batch = 64 * 1024;
  static constexpr std::size_t k_cap = 4 * 1024 * 1024;

  void run() {
    std::string out;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, all written
      if (!stop_)
        cv_.wait_for(lock, std::chrono::milliseconds(5), [this] { return stop_ || pending_.size() >= k_batch; });
      out.swap(pending_);
      pending_.clear();
      const std::size_t dropped = std::exchange(dropped_, 0);
      lock.unlock();
      write_all(out);
      out.clear();
      if (dropped > 0) spdlog::warn("access log: {} lines dropped while stderr was not being read", dropped);
      lock.lock();
    }
  }

  static void write_all(const std::string& out) {
    std::size_t off = 0;
    while (off < out.size()) {
      const auto n = ::write(STDERR_FILENO, out.data() + off, out.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr closed: nothing more to do with these lines
      off += static_cast<std::size_t>(n);
    }
  }

  std::condition_variable cv_;
  std::string pending_;
  std::size_t dropped_ = 0;
  bool stop_ = false;
  std::thread writer_;  ///< last: starts once the rest is constructed
};

} // namespace

result<secrets> load_secrets(const std::string& data_dir) {
  if (auto r = ensure_dir(data_dir); !r) return r.error();
  secrets s;
  if (const char* t = std::getenv("OAG_ADMIN_TOKEN"); t && *t) {
    s.admin_token = t;
  } else {
    auto path = data_dir + "/admin_token";
    if (auto existing = read_file(path)) {
      s.admin_token = trim(*existing);
    } else {
      s.admin_token = crypto::random_id("oagadm-", 40);
      if (auto w = write_secret_file(path, s.admin_token + "\n"); !w) return w.error();
      s.admin_token_generated = true;
    }
  }
  if (s.admin_token.size() < 16)
    return make_failure(errc::invalid_request, "OAG_ADMIN_TOKEN must be at least 16 characters");
  std::string key_b64;
  if (const char* k = std::getenv("OAG_MASTER_KEY"); k && *k) {
    key_b64 = k;
  } else {
    auto path = data_dir + "/master.key";
    if (auto existing = read_file(path)) {
      key_b64 = trim(*existing);
    } else {
      key_b64 = crypto::base64_encode(crypto::random_bytes(32));
      if (auto w = write_secret_file(path, key_b64 + "\n"); !w) return w.error();
      spdlog::warn("OAG_MASTER_KEY is not set: generated a master key into {} (mode 0600). Back it up: "
                   "provider keys cannot be decrypted without it.",
                   path);
    }
  }
  auto raw = crypto::base64_decode(key_b64);
  if (!raw || raw->size() != 32)
    return make_failure(errc::invalid_request, "OAG_MASTER_KEY must be 32 bytes, base64-encoded");
  s.master_key = std::move(raw.value());
  return s;
}

struct app::impl {
  app_config config;
  secrets keys;
  std::shared_ptr<storage::database> db;
  std::shared_ptr<metrics> stats = std::make_shared<metrics>();
  std::unique_ptr<adapters::io_runtime> io;
  std::unique_ptr<caf::actor_system_config> caf_cfg;
  std::unique_ptr<caf::actor_system> sys;
  /// Writes access-log lines in batches (see batched_stderr_sink).
  std::shared_ptr<spdlog::logger> access_log;
  caf::actor directory;
  /// The WebSocket chat and its tokens.
  std::shared_ptr<realtime::service> realtime;
  std::unique_ptr<http_server> server;
  /// The Cockpit's directory (canonical); nullopt: /cockpit answers 404.
  std::optional<std::string> cockpit_root;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  bool stopped = false;
  /// The test clock's offset (OAG_TEST_CLOCK=1); null when it is off.
  std::shared_ptr<std::atomic<std::int64_t>> clock_offset;

  void handle(actors::inbound_request req, std::shared_ptr<actors::response_sink> sink);
  void handle_clock(const actors::inbound_request& req, actors::response_sink& sink);
  void bootstrap_demo();
};

static std::int64_t real_now() {
  return static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

/// GET|POST /admin/v1/clock (test clock only): {"advance_s": N} moves the
/// fake time forward by N ≥ 0 seconds, {"set_now": T} sets it to T (never
/// backwards); both answer {"now": fake now}. Every tenant is then nudged.
void app::impl::handle_clock(const actors::inbound_request& req, actors::response_sink& sink) {
  auto fail = [&](const failure& f) { sink.respond(http_status_of(f), to_openai_error_body(f)); };
  auto bad = [&](std::string msg, std::string param) {
    fail(make_failure(errc::invalid_request, std::move(msg), std::move(param)));
  };
  auto answer = [&](std::int64_t now) { sink.respond(200, nlohmann::json{{"now", now}}.dump()); };
  if (req.method == "GET") return answer(real_now() + clock_offset->load());
  if (req.method != "POST")
    return fail(make_failure(errc::method_not_allowed, "Method " + req.method + " is not allowed on " + req.path + "."));
  if (!json_depth_ok(req.body, 128)) return bad("The JSON body is nested too deeply.", "body");
  auto doc = nlohmann::json::parse(req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return bad("The body must be a JSON object: {\"advance_s\": N} or {\"set_now\": unix_seconds}.", "body");
  const bool has_advance = doc.contains("advance_s");
  const bool has_set = doc.contains("set_now");
  if (has_advance == has_set) return bad("Give exactly one of 'advance_s' and 'set_now'.", has_set ? "set_now" : "advance_s");
  std::int64_t now = 0;
  if (has_advance) {
    const auto& v = doc["advance_s"];
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<std::uint64_t>() > (1ull << 40) : v.get<std::int64_t>() < 0))
      return bad("'advance_s' must be an integer ≥ 0 (seconds): the clock never goes backwards.", "advance_s");
    const auto by = v.get<std::int64_t>();
    now = real_now() + clock_offset->fetch_add(by) + by;
  } else {
    const auto& v = doc["set_now"];
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > (1ull << 40)))
      return bad("'set_now' must be an integer (unix seconds).", "set_now");
    const auto target = v.get<std::int64_t>();
    const auto real = real_now();
    auto off = clock_offset->load();
    for (;;) {
      if (target < real + off)
        return bad("'set_now' (" + std::to_string(target) + ") is before the current time (" +
                       std::to_string(real + off) + "): the clock never goes backwards.",
                   "set_now");
      if (clock_offset->compare_exchange_weak(off, target - real)) break;
    }
    now = target;
  }
  caf::anon_send(directory, actors::clock_changed{});
  answer(now);
}

void app::impl::handle(actors::inbound_request req, std::shared_ptr<actors::response_sink> sink) {
  auto fail = [&](const failure& f) {
    adapters::header_list extra;
    if (f.retry_after) extra.push_back({"retry-after", *f.retry_after});
    sink->respond(http_status_of(f), to_openai_error_body(f), std::move(extra));
  };
  if (req.path == "/healthz") return sink->respond(200, R"({"status":"ok"})");
  if (req.path == "/readyz") {
    if (ready && !draining) return sink->respond(200, R"({"status":"ready"})");
    return sink->respond(503, R"({"status":"not ready"})");
  }
  if (req.path == "/metrics")
    return sink->respond(200, stats->render(), {}, "text/plain; version=0.0.4; charset=utf-8");
  if (cockpit::is_cockpit_path(req.path)) {
    // Static files, read here (small local files: see cockpit::serve).
    auto host = adapters::find_header(req.headers, "host");
    auto a = cockpit::serve(cockpit_root, req.method, req.path, host ? *host : std::string_view{});
    return sink->respond(a.status, std::move(a.body), std::move(a.headers), std::move(a.content_type));
  }
  if (draining || !ready) return fail(make_failure(errc::unavailable, "OAG is shutting down; retry shortly."));
  if (clock_offset && req.path == "/admin/v1/clock") {
    auto auth = adapters::find_header(req.headers, "authorization");
    std::optional<std::string_view> token;
    if (auth) token = bearer_token(*auth);
    if (!token || !crypto::equal_constant_time(*token, keys.admin_token))
      return fail(make_failure(errc::invalid_api_key, "Invalid admin token (Authorization: Bearer $OAG_ADMIN_TOKEN)."));
    return handle_clock(req, *sink);
  }
  auto route = match_route(req.method, req.path);
  if (!route) return fail(route.error());
  if (route->who == audience::hook) {
    // No key: the directory finds the company by the hook id; the agents
    // actor checks the signature over the bytes exactly as received.
    actors::api_request api;
    api.route = route->route;
    api.params = std::move(route->params);
    api.query = parse_query(req.query);
    api.raw_body = std::move(req.body);
    api.headers = hook_headers(req.headers);
    api.request_id = std::move(req.request_id);
    api.sink = std::move(sink);
    caf::anon_send(directory, actors::hook_request{std::move(api)});
    return;
  }
  if (route->route == actors::route_id::realtime_chat) return fail(realtime::upgrade_required());
  if (route->route == actors::route_id::anthropic_messages)
    sink = std::make_shared<anthropic_error_sink>(std::move(sink));
  auto auth = adapters::find_header(req.headers, "authorization");
  std::optional<std::string_view> token;
  if (auth) token = bearer_token(*auth);
  // Anthropic SDKs send the key as x-api-key.
  if (!token && route->who == audience::client)
    if (auto x = adapters::find_header(req.headers, "x-api-key"); x && !x->empty()) token = *x;
  if (route->who == audience::admin) {
    if (!token || !crypto::equal_constant_time(*token, keys.admin_token))
      return fail(make_failure(errc::invalid_api_key, "Invalid admin token (Authorization: Bearer $OAG_ADMIN_TOKEN)."));
  } else if (!token) {
    return fail(make_failure(errc::invalid_api_key,
                             "You didn't provide an API key. Send it as 'Authorization: Bearer oag-…'."));
  }
  // Assistants v2 clients send OpenAI-Beta: assistants=v2; another version
  // of the beta is refused as OpenAI does (no header is accepted).
  if (route->route >= actors::route_id::assistants_create && route->route <= actors::route_id::run_step_get)
    if (auto beta = adapters::find_header(req.headers, "openai-beta");
        beta && beta->find("assistants=") != std::string_view::npos && beta->find("assistants=v2") == std::string_view::npos) {
      auto f = make_failure(errc::invalid_request,
                            "OAG serves Assistants v2 only: send the header 'OpenAI-Beta: assistants=v2'.");
      f.error_code = "invalid_beta";
      return fail(f);
    }
  auto body = parse_body(*route, req.body);
  if (!body) return fail(body.error());
  actors::api_request api;
  api.route = route->route;
  api.params = std::move(route->params);
  api.query = parse_query(req.query);
  api.body = std::move(body.value());
  api.request_id = std::move(req.request_id);
  api.sink = std::move(sink);
  if (api.route == actors::route_id::realtime_token_create)
    api.sink = realtime->token_sink(crypto::sha256(*token), std::move(api.sink));
  if (route->who == audience::admin)
    caf::anon_send(directory, actors::admin_request{std::move(api)});
  else
    caf::anon_send(directory, actors::client_request{crypto::sha256(*token), std::move(api)});
}

void app::impl::bootstrap_demo() {
  auto path = config.data_dir + "/demo_api_key";
  if (auto existing = read_file(path)) {
    std::cout << "demo api key: " << trim(*existing) << std::endl;
    return;
  }
  auto credit = money::parse_ot(config.demo_credit_ot);
  if (!credit) {
    spdlog::error("demo_credit_ot: {}", credit.error().message);
    return;
  }
  caf::scoped_actor self{*sys};
  self->request(directory, std::chrono::seconds(30), actors::bootstrap_company{"Demo", *credit})
      .receive(
          [&](const actors::demo_bootstrap& d) {
            if (auto w = write_secret_file(path, d.api_key + "\n"); !w)
              spdlog::error("cannot store the demo key: {}", w.error().message);
            std::cout << "demo company: " << d.company_id << " (" << config.demo_credit_ot << " O₮)\n"
                      << "demo api key: " << d.api_key << std::endl;
          },
          [&](const caf::error& e) { spdlog::error("demo bootstrap failed: {}", sys->render(e)); });
}

app::app(app_config config, secrets s) : impl_(std::make_unique<impl>()) {
  impl_->config = std::move(config);
  impl_->keys = std::move(s);
}

app::~app() { drain_and_stop(); }

result<void> app::start() {
  auto& m = *impl_;
  auto& c = m.config;
  auto db = storage::database::open(c.data_dir + "/rocksdb", c.durability);
  if (!db) return db.error();
  m.db = std::move(db.value());
  auto vault = crypto::vault::create(m.keys.master_key);
  if (!vault) return vault.error();
  auto prices_text = read_file(c.prices_file);
  if (!prices_text) return make_failure(errc::invalid_request, "cannot read prices file " + c.prices_file);
  auto prices_doc = nlohmann::json::parse(*prices_text, nullptr, false);
  if (prices_doc.is_discarded())
    return make_failure(errc::invalid_request, "prices file " + c.prices_file + " is not valid JSON");
  auto cat = adapters::catalog::parse(prices_doc);
  if (!cat) return cat.error();
  auto tls = adapters::tls_client_context::create(c.extra_ca_file);
  if (!tls) return tls.error();

  unsigned cores = usable_cores();
  m.io = std::make_unique<adapters::io_runtime>(c.io_threads ? c.io_threads : cores);
  m.caf_cfg = std::make_unique<caf::actor_system_config>();
  m.caf_cfg->set("scheduler.max-threads", static_cast<std::size_t>(c.actor_threads ? c.actor_threads : cores));
  // The work-sharing scheduler parks idle workers on a condition variable
  // and wakes them on enqueue; work stealing parks them in timed sleeps
  // (up to 10 ms), which adds that much latency to each hop of a call on
  // an idle system. OAG_SCHEDULER=stealing restores CAF's default.
  const char* policy = std::getenv("OAG_SCHEDULER");
  const bool stealing = policy && std::string{policy} == "stealing";
  m.caf_cfg->set("scheduler.policy", stealing ? caf::atom("stealing") : caf::atom("sharing"));
  m.caf_cfg->add_error_category(actors::oag_error_category(), actors::render_oag_error);
  m.sys = std::make_unique<caf::actor_system>(*m.caf_cfg);

  auto ctx = std::make_shared<actors::gateway_context>();
  ctx->db = m.db;
  ctx->vault = std::make_shared<crypto::vault>(std::move(vault.value()));
  ctx->catalog = std::make_shared<adapters::catalog>(std::move(cat.value()));
  ctx->io = m.io.get();
  ctx->tls = std::move(tls.value());
  ctx->settings = c.settings;
  ctx->observer = m.stats;
  if (const char* tc = std::getenv("OAG_TEST_CLOCK"); tc && std::string{tc} == "1") {
    m.clock_offset = std::make_shared<std::atomic<std::int64_t>>(0);
    ctx->clock_offset = m.clock_offset;
    ctx->now = [offset = m.clock_offset] { return real_now() + offset->load(); };
    spdlog::warn("OAG_TEST_CLOCK=1: the clock can be moved through POST /admin/v1/clock (tests only)");
  }
  auto dir = actors::spawn_directory(*m.sys, ctx, c.providers);
  if (!dir) return dir.error();
  m.directory = std::move(dir.value());
  m.realtime = std::make_shared<realtime::service>(m.directory, realtime::derive_token_key(m.keys.master_key),
                                                   ctx->now, realtime::service_options{});
  m.io->start();

  m.cockpit_root = cockpit::find_dir(c.cockpit_dir);
  if (m.cockpit_root)
    spdlog::info("cockpit: serving {} at /cockpit/", *m.cockpit_root);
  else if (c.cockpit_dir)
    spdlog::warn("cockpit_dir {} is not a directory: /cockpit is off", *c.cockpit_dir);
  else
    spdlog::info("cockpit: no cockpit directory found (./cockpit, <binary>/../../cockpit, /usr/share/oag/cockpit): /cockpit is off");

  if (c.demo) m.bootstrap_demo();

  server_options opts;
  opts.host = c.listen_host;
  opts.port = c.listen_port;
  opts.body_limit = c.body_limit_bytes;
  opts.websocket.max_message_bytes = m.realtime->options().max_message_bytes;
  opts.websocket.on_opened = [stats = m.stats] { stats->ws_opened(); };
  opts.websocket.on_closed = [stats = m.stats](std::uint16_t code, std::size_t peak) { stats->ws_closed(code, peak); };
  opts.websocket.on_slow_client = [stats = m.stats](std::size_t peak) { stats->ws_slow_client(peak); };
  opts.on_upgrade = [this](actors::inbound_request req, std::shared_ptr<ws_upgrade> up) {
    if (impl_->draining || !impl_->ready)
      return up->reject(503, to_openai_error_body(make_failure(errc::unavailable, "OAG is shutting down; retry shortly.")));
    impl_->realtime->upgrade(std::move(req), std::move(up));
  };
  auto stats = m.stats;
  bool json_logs = c.log_format == "json";
  // Access lines must not block the io thread that completes a request
  // (see batched_stderr_sink). initialize_logger gives the logger the
  // pattern and level main() set; it stays out of the registry.
  auto access = std::make_shared<spdlog::logger>("oag.access", std::make_shared<batched_stderr_sink>());
  spdlog::drop("oag.access");
  spdlog::initialize_logger(access);
  spdlog::drop("oag.access");
  m.access_log = access;
  opts.access_log = [stats, json_logs, access](std::string_view method, std::string_view path, int status,
                                               std::chrono::microseconds elapsed, std::string_view request_id) {
    stats->request_done(route_label(method, path), status, elapsed);
    if (!access->should_log(spdlog::level::info)) return;
    if (json_logs) {
      nlohmann::json line = {{"msg", "request"},   {"request_id", request_id}, {"method", method},
                             {"path", path},       {"status", status},         {"elapsed_us", elapsed.count()}};
      access->info("{}", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      access->info("{} {} {} {} {}us", request_id, method, path, status, elapsed.count());
    }
  };
  auto server = http_server::listen(*m.io, std::move(opts),
                                    [this](actors::inbound_request req, std::shared_ptr<actors::response_sink> sink) {
                                      impl_->handle(std::move(req), std::move(sink));
                                    });
  if (!server) return server.error();
  m.server = std::move(server.value());
  m.ready = true;
  return {};
}

std::uint16_t app::port() const noexcept { return impl_->server ? impl_->server->port() : 0; }

void app::drain_and_stop() {
  auto& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.draining = true;
  if (m.server) {
    m.server->stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + m.config.drain_timeout;
    // Shutdown only: poll the in-flight count until the edge is quiet.
    while (m.server->in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (m.server->in_flight() > 0 && m.directory) {
      // Cancel what is still running upstream; the calls then end through
      // their tenants (released, or charged for what was generated), so
      // nothing is left unbilled and no client waits on a dead process.
      spdlog::warn("drain timeout: {} requests still in flight; cancelling their upstream calls",
                   m.server->in_flight());
      caf::anon_send(m.directory, actors::cancel_exchanges{});
      auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (m.server->in_flight() > 0 && std::chrono::steady_clock::now() < grace)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (m.sys) {
    caf::anon_send_exit(m.directory, caf::exit_reason::user_shutdown);
    m.directory = nullptr;
    m.sys->await_all_actors_done();
  }
  if (m.io) m.io->stop();
  m.server.reset();
  m.sys.reset();
  // The last owner joins the writer once it has written what is buffered.
  m.access_log.reset();
  if (m.db) m.db->close();
}

} // namespace oag::runtime
