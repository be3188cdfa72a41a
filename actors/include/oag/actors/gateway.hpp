#pragma once
/// The actor interfaces: what the runtime needs to start OAG's actors, and
/// the shared, immutable context they run with.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/messages.hpp"
#include "oag/actors/routing.hpp"
#include "oag/adapters/catalog.hpp"
#include "oag/adapters/http_client.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/database.hpp"

namespace oag::actors {

/// Counters the actors report to (implemented by the runtime's metrics).
class call_observer {
 public:
  virtual ~call_observer() = default;
  /// An upstream exchange failed (connect, timeout, non-2xx, cut stream).
  virtual void upstream_error(const std::string& provider, int status) = 0;
  /// A call was charged.
  virtual void charged(const std::string& company_id, const std::string& model,
                       const money::token_usage& usage, money::uot cost) = 0;
};

/// A provider declared in config/oag.json for every company.
struct platform_provider_config {
  std::string name;
  std::string kind;
  std::string base_url;
  std::optional<std::string> api_key; ///< resolved from the environment
  bool allow_insecure_http = false;
};

/// Settings the actors need (from config/oag.json).
struct gateway_settings {
  /// Model aliases: "fast" -> "mock/echo".
  std::map<std::string, std::string, std::less<>> aliases;
  adapters::http_timeouts upstream_timeouts;
  /// Upper bound of output tokens reserved when the client sets no limit
  /// (nullopt: the model's full output limit from the catalogue).
  std::optional<std::int64_t> reserve_output_cap;
  /// Largest upstream (non-streamed) body accepted.
  std::size_t max_upstream_body = 64 * 1024 * 1024;
  /// Idle keep-alive connections a provider actor keeps per endpoint.
  std::size_t max_idle_connections = 64;
  /// The routing policy of companies that set none (from the config file;
  /// null: no rules, the requested model is called).
  std::shared_ptr<const routing::policy> default_routing;
  /// Routing policies from the config file by company id; one set through
  /// the admin API takes precedence.
  std::map<std::string, std::shared_ptr<const routing::policy>, std::less<>> company_routing;
  /// The platform layer of every run's prompt stack (nullopt: none).
  std::optional<std::string> system_prompt;
  /// How long a run may wait for tool outputs before it expires.
  std::chrono::seconds run_expiry{600};
  /// Most model calls one run makes (a tool loop that never ends fails).
  int run_max_steps = 25;
  /// Where Telegram's Bot API is called (a fake in tests); http:// or https://.
  std::string telegram_api_base = "https://api.telegram.org";
};

/// Shared by all actors; immutable after start (the database and the
/// vault are thread-safe services, not shared mutable state).
struct gateway_context {
  std::shared_ptr<storage::database> db;
  std::shared_ptr<const crypto::vault> vault;
  std::shared_ptr<const adapters::catalog> catalog;
  adapters::io_runtime* io = nullptr;
  std::shared_ptr<adapters::tls_client_context> tls;
  gateway_settings settings;
  std::shared_ptr<call_observer> observer; ///< may be null
  /// The test clock's offset in seconds, added to the real time by `now`
  /// (OAG_TEST_CLOCK=1; moved forward through POST /admin/v1/clock, after
  /// which every tenant gets a `clock_changed`). Null when the test clock is off.
  std::shared_ptr<std::atomic<std::int64_t>> clock_offset;
  /// Wall clock in unix seconds (a fake clock in tests).
  std::function<std::int64_t()> now = [] {
    return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  };
};

/// Spawns the directory: it restores the key index and company list from
/// RocksDB, spawns platform provider actors, and spawns tenant actors on
/// first use. Fails if the stored state cannot be read.
result<caf::actor> spawn_directory(caf::actor_system& sys,
                                   std::shared_ptr<const gateway_context> ctx,
                                   std::vector<platform_provider_config> platform);

/// Spawns the provider actor for one upstream endpoint (kind "mock" answers
/// in-process; every other kind uses pooled HTTP(S) connections).
caf::actor spawn_provider(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                          adapters::provider_endpoint endpoint);

/// What the demo bootstrap created.
struct demo_bootstrap {
  std::string company_id;
  std::string api_key; ///< plaintext, to print
};

/// Asks the directory to create a company with a key and credit (used for
/// the demo company on first start). Replies `demo_bootstrap` or an error.
struct bootstrap_company {
  std::string name;
  money::uot credit_uot = 0;
};

} // namespace oag::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::bootstrap_company)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::demo_bootstrap)
