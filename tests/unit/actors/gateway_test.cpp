// Actor-level tests: a real actor system, a real RocksDB in a temp dir and
// the built-in mock provider; requests go in as the edge sends them and
// answers are captured from the response sink.

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>

#include <caf/all.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "oag/storage/wallet.hpp"

using namespace oag;
using nlohmann::json;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/oag-actors-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

/// A response sink that records what the actors wrote.
class capture_sink : public actors::response_sink {
 public:
  void respond(int status, std::string body, adapters::header_list extra, std::string) override {
    std::lock_guard<std::mutex> g(mu_);
    if (done_) return;
    status_ = status;
    body_ = std::move(body);
    headers_ = std::move(extra);
    done_ = true;
    cv_.notify_all();
  }
  void start_stream(int status, adapters::header_list, std::string) override {
    std::lock_guard<std::mutex> g(mu_);
    status_ = status;
    streamed_ = true;
  }
  bool write(std::string bytes) override {
    std::lock_guard<std::mutex> g(mu_);
    body_ += bytes;
    return !gone_;
  }
  void end_stream() override {
    std::lock_guard<std::mutex> g(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void on_disconnect(std::function<void()> fn) override {
    std::lock_guard<std::mutex> g(mu_);
    on_gone_ = std::move(fn);
  }
  bool disconnected() const noexcept override { return gone_; }

  /// Waits for the response to complete; false on timeout.
  bool wait() {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return done_; });
  }
  int status() {
    std::lock_guard<std::mutex> g(mu_);
    return status_;
  }
  std::string body() {
    std::lock_guard<std::mutex> g(mu_);
    return body_;
  }
  json json_body() { return json::parse(body()); }
  bool streamed() {
    std::lock_guard<std::mutex> g(mu_);
    return streamed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int status_ = 0;
  std::string body_;
  adapters::header_list headers_;
  bool streamed_ = false;
  bool done_ = false;
  std::atomic<bool> gone_{false};
  std::function<void()> on_gone_;
};

/// One running gateway (actor system + directory) over a data dir.
struct gateway {
  std::shared_ptr<actors::gateway_context> ctx = std::make_shared<actors::gateway_context>();
  adapters::io_runtime io{1};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor directory;

  gateway(const std::string& dir, const std::string& master_key) {
    auto db = storage::database::open(dir, storage::durability::wal);
    REQUIRE(db);
    ctx->db = db.value();
    ctx->vault = std::make_shared<crypto::vault>(crypto::vault::create(master_key).value());
    adapters::catalog cat;
    adapters::model_info echo;
    echo.price = {100000, 50000, 200000}; // $0.1 / $0.05 / $0.2 per Mtok
    echo.max_output_tokens = 1000;
    cat.set("mock/echo", echo);
    ctx->catalog = std::make_shared<adapters::catalog>(cat);
    ctx->io = &io;
    cfg.set("scheduler.max-threads", std::size_t{2});
    cfg.add_error_category(actors::oag_error_category(), actors::render_oag_error);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto d = actors::spawn_directory(*sys, ctx, {{"mock", "mock", "", std::nullopt, false}});
    REQUIRE(d);
    directory = d.value();
  }
  ~gateway() {
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
    sys->await_all_actors_done();
    sys.reset();
    ctx->db->close();
  }

  std::shared_ptr<capture_sink> admin(actors::route_id route, std::vector<std::string> params, json body,
                                      std::map<std::string, std::string> query = {}) {
    auto sink = std::make_shared<capture_sink>();
    actors::api_request api{route, std::move(params), std::move(query), std::move(body), "req_test", sink};
    caf::anon_send(directory, actors::admin_request{std::move(api)});
    REQUIRE(sink->wait());
    return sink;
  }
  std::shared_ptr<capture_sink> client(const std::string& key, actors::route_id route, json body,
                                       std::map<std::string, std::string> query = {}) {
    auto sink = std::make_shared<capture_sink>();
    actors::api_request api{route, {}, std::move(query), std::move(body), "req_test", sink};
    caf::anon_send(directory, actors::client_request{crypto::sha256(key), std::move(api)});
    REQUIRE(sink->wait());
    return sink;
  }
  /// Creates a company with credit and a key; returns {company id, key}.
  std::pair<std::string, std::string> company(const std::string& credit_ot) {
    auto c = admin(actors::route_id::admin_companies_create, {}, {{"name", "Acme"}, {"credit_ot", credit_ot}});
    REQUIRE(c->status() == 201);
    std::string id = c->json_body()["id"];
    auto k = admin(actors::route_id::admin_keys_create, {id}, {{"name", "backend"}});
    REQUIRE(k->status() == 201);
    return {id, k->json_body()["key"]};
  }
};

json chat(const std::string& text, bool stream = false) {
  json body = {{"model", "mock/echo"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

money::uot expected_cost(const json& usage) {
  money::token_usage u;
  u.input_tokens = usage["prompt_tokens"];
  u.output_tokens = usage["completion_tokens"];
  return money::cost_of(u, {100000, 50000, 200000});
}

} // namespace

TEST_CASE("a chat call through the actors is answered, charged exactly and written to the ledger", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("1");

  auto r = gw.client(key, actors::route_id::chat_completions, chat("hello there world"));
  REQUIRE(r->status() == 200);
  auto body = r->json_body();
  CHECK(body["choices"][0]["message"]["content"] == "hello there world");
  CHECK(body["model"] == "mock/echo");
  std::string id = body["id"];
  CHECK(id.rfind("chatcmpl-", 0) == 0);
  auto cost = expected_cost(body["usage"]);
  CHECK(cost > 0);

  auto w = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(w["spent_uot"] == cost);
  CHECK(w["reserved_uot"] == 0);
  CHECK(w["balance_uot"] == 1'000'000 - cost);
  CHECK(w["credits_uot"] == 1'000'000);

  auto l = gw.client(key, actors::route_id::ledger_list, nullptr)->json_body();
  REQUIRE(l["data"].size() == 1);
  CHECK(l["data"][0]["response_id"] == id);
  CHECK(l["data"][0]["cost_uot"] == cost);
  CHECK(l["data"][0]["provider"] == "mock");
  CHECK(l["has_more"] == false);
}

TEST_CASE("streamed calls end with one usage chunk, then [DONE], after the charge", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("1");
  auto r = gw.client(key, actors::route_id::chat_completions, chat("one two three four", true));
  REQUIRE(r->streamed());
  sse::parser p;
  std::vector<sse::event> events;
  p.feed(r->body(), events);
  REQUIRE(events.size() >= 3);
  CHECK(events.back().data == "[DONE]");
  auto usage_chunk = json::parse(events[events.size() - 2].data);
  CHECK(usage_chunk["choices"].empty());
  REQUIRE(usage_chunk["usage"].is_object());
  std::string text;
  std::set<std::string> ids;
  int usage_chunks = 0;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto c = json::parse(events[i].data);
    ids.insert(c["id"].get<std::string>());
    if (c.contains("usage") && c["usage"].is_object()) ++usage_chunks;
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content"))
      text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  CHECK(usage_chunks == 1);
  CHECK(ids.size() == 1);
  CHECK(text == "one two three four");
  auto w = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(w["spent_uot"] == expected_cost(usage_chunk["usage"]));
}

TEST_CASE("an empty wallet refuses with 402 and charges nothing", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("0");
  auto r = gw.client(key, actors::route_id::chat_completions, chat("hi"));
  CHECK(r->status() == 402);
  CHECK(r->json_body()["error"]["code"] == "insufficient_quota");
  auto w = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(w["spent_uot"] == 0);
  CHECK(w["reserved_uot"] == 0);
}

TEST_CASE("unknown keys and revoked keys are 401 at once; unknown models 404", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("1");
  CHECK(gw.client("oag-nope", actors::route_id::wallet_get, nullptr)->status() == 401);
  auto m = gw.client(key, actors::route_id::chat_completions,
                     {{"model", "nope/x"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  CHECK(m->status() == 404);
  CHECK(m->json_body()["error"]["code"] == "model_not_found");

  auto keys = gw.admin(actors::route_id::admin_keys_list, {company}, nullptr)->json_body();
  REQUIRE(keys["data"].size() == 1);
  CHECK_FALSE(keys["data"][0].contains("key"));
  std::string key_id = keys["data"][0]["id"];
  CHECK(gw.admin(actors::route_id::admin_keys_revoke, {company, key_id}, nullptr)->status() == 200);
  CHECK(gw.client(key, actors::route_id::wallet_get, nullptr)->status() == 401);
}

TEST_CASE("credits are idempotent by key", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("0");
  json credit = {{"amount_ot", "12.5"}, {"idempotency_key", "topup-1"}};
  auto a = gw.admin(actors::route_id::admin_credits_add, {company}, credit);
  auto b = gw.admin(actors::route_id::admin_credits_add, {company}, credit);
  CHECK(a->status() == 200);
  CHECK(b->status() == 200);
  CHECK(a->body() == b->body());
  auto w = gw.admin(actors::route_id::admin_wallet_get, {company}, nullptr)->json_body();
  CHECK(w["balance_uot"] == 12'500'000);
  CHECK(w["credits_uot"] == 12'500'000);
  CHECK(gw.admin(actors::route_id::admin_credits_add, {company}, {{"amount_ot", "-1"}})->status() == 400);
  CHECK(gw.admin(actors::route_id::admin_credits_add, {company}, {{"amount_ot", 1.5}})->status() == 400);
}

TEST_CASE("companies cannot reach each other's state", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [a_id, a_key] = gw.company("1");
  auto [b_id, b_key] = gw.company("2");
  gw.client(a_key, actors::route_id::chat_completions, chat("secret of a"));
  auto lb = gw.client(b_key, actors::route_id::ledger_list, nullptr)->json_body();
  CHECK(lb["data"].empty());
  auto wb = gw.client(b_key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(wb["credits_uot"] == 2'000'000);
  CHECK(wb["spent_uot"] == 0);
}

TEST_CASE("provider keys are sealed at rest and never returned", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("1");
  auto put = gw.admin(actors::route_id::admin_provider_put, {company, "openai"},
                      {{"kind", "openai"}, {"base_url", "http://127.0.0.1:9/v1"}, {"api_key", "sk-very-secret"}});
  REQUIRE(put->status() == 200);
  CHECK(put->body().find("sk-very-secret") == std::string::npos);
  auto raw = gw.ctx->db->get(storage::tenant_key(company, storage::record_kind::provider, "openai"));
  REQUIRE(raw);
  REQUIRE(raw->has_value());
  CHECK(raw->value().find("sk-very-secret") == std::string::npos);
  auto get = gw.admin(actors::route_id::admin_provider_get, {company, "openai"}, nullptr);
  CHECK(get->status() == 200);
  CHECK(get->json_body()["has_api_key"] == true);
  CHECK(get->body().find("sk-very-secret") == std::string::npos);
  auto insecure = gw.admin(actors::route_id::admin_provider_put, {company, "remote"},
                           {{"kind", "openai"}, {"base_url", "http://example.com/v1"}});
  CHECK(insecure->status() == 400);
  CHECK(gw.admin(actors::route_id::admin_provider_delete, {company, "openai"}, nullptr)->status() == 200);
  CHECK(gw.admin(actors::route_id::admin_provider_get, {company, "openai"}, nullptr)->status() == 404);
}

TEST_CASE("a restart keeps the wallet and releases reservations left by a crash", "[actors]") {
  temp_dir dir;
  auto master = crypto::random_bytes(32);
  std::string company, key;
  money::uot spent = 0;
  {
    gateway gw(dir.path, master);
    std::tie(company, key) = gw.company("1");
    gw.client(key, actors::route_id::chat_completions, chat("a b c"));
    spent = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body()["spent_uot"];
    REQUIRE(spent > 0);
  }
  {
    // Simulate a process that died mid-call: an open reservation on disk.
    auto db = storage::database::open(dir.path, storage::durability::wal).value();
    auto w = storage::decode_wallet(db->get(storage::tenant_key(company, storage::record_kind::wallet))->value())
                 .value();
    storage::reservation_record res{"call-orphan", 5000, 0};
    auto change = storage::plan_reserve(company, w, res);
    REQUIRE(change);
    REQUIRE(db->write(change->batch));
    db->close();
  }
  gateway gw(dir.path, master);
  auto w = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(w["reserved_uot"] == 0);
  CHECK(w["spent_uot"] == spent);
  CHECK(w["balance_uot"].get<money::uot>() + w["reserved_uot"].get<money::uot>() + w["spent_uot"].get<money::uot>() ==
        w["credits_uot"].get<money::uot>());
  // Ledger sequence continues after the restart.
  gw.client(key, actors::route_id::chat_completions, chat("again"));
  auto l = gw.client(key, actors::route_id::ledger_list, nullptr)->json_body();
  REQUIRE(l["data"].size() == 2);
  CHECK(l["data"][0]["id"] == "led_1");
  CHECK(l["data"][1]["id"] == "led_2");
  auto page = gw.client(key, actors::route_id::ledger_list, nullptr, {{"limit", "1"}, {"after", "led_1"}})->json_body();
  REQUIRE(page["data"].size() == 1);
  CHECK(page["data"][0]["id"] == "led_2");
  CHECK(page["has_more"] == false);
  auto first = gw.client(key, actors::route_id::ledger_list, nullptr, {{"limit", "1"}})->json_body();
  CHECK(first["has_more"] == true);
  CHECK(gw.client(key, actors::route_id::ledger_list, nullptr, {{"limit", "0"}})->status() == 400);
}

TEST_CASE("a provider's own prices override the catalogue", "[actors]") {
  temp_dir dir;
  gateway gw(dir.path, crypto::random_bytes(32));
  auto [company, key] = gw.company("10");
  auto put = gw.admin(actors::route_id::admin_provider_put, {company, "cheap"},
                      {{"kind", "mock"}, {"prices", {{"echo", {{"input", 1.0}, {"output", 2.5}}}}}});
  REQUIRE(put->status() == 200);
  CHECK(put->json_body()["prices"]["echo"]["cached_input"] == 1.0);
  auto r = gw.client(key, actors::route_id::chat_completions,
                     {{"model", "cheap/echo"}, {"messages", {{{"role", "user"}, {"content", "x y"}}}}});
  REQUIRE(r->status() == 200);
  auto usage = r->json_body()["usage"];
  money::token_usage u;
  u.input_tokens = usage["prompt_tokens"];
  u.output_tokens = usage["completion_tokens"];
  auto w = gw.client(key, actors::route_id::wallet_get, nullptr)->json_body();
  CHECK(w["spent_uot"] == money::cost_of(u, {1'000'000, 1'000'000, 2'500'000}));
  auto bad = gw.admin(actors::route_id::admin_provider_put, {company, "cheap"},
                      {{"kind", "mock"}, {"prices", {{"echo", {{"input", -1}, {"output", 1}}}}}});
  CHECK(bad->status() == 400);
  CHECK(bad->json_body()["error"]["param"] == "prices.echo.input");
}
