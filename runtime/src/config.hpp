#pragma once
/// The daemon's configuration (config/oag.json), parsed into plain values.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/error.hpp"
#include "oag/storage/database.hpp"

namespace oag::runtime {

/// Everything `oag serve` reads from its config file.
struct app_config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = "./data";
  std::string prices_file = "config/prices.json";
  bool demo = true;
  std::string demo_credit_ot = "1000";
  std::size_t body_limit_bytes = 4 * 1024 * 1024;
  storage::durability durability = storage::durability::wal;
  unsigned io_threads = 0;    ///< 0: one per usable core
  unsigned actor_threads = 0; ///< 0: one per usable core
  std::string log_format = "text";
  std::string log_level = "info";
  std::chrono::seconds drain_timeout{30};
  std::optional<std::string> extra_ca_file;
  /// The Cockpit's files (`cockpit_dir`, relative to the config file); unset:
  /// searched (cockpit.hpp, find_dir).
  std::optional<std::string> cockpit_dir;
  actors::gateway_settings settings;
  std::vector<actors::platform_provider_config> providers;
};

/// Parses "HOST:PORT" (IPv6 as "[::1]:8080").
result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text);

/// Parses a config document; relative paths are resolved against
/// `base_dir`; provider keys named by `api_key_env` are read with `getenv`.
/// Errors name the JSON path at fault.
result<app_config> parse_config(const nlohmann::json& doc, const std::string& base_dir,
                                const std::function<std::optional<std::string>(const std::string&)>& getenv);

/// Reads and parses a config file.
result<app_config> load_config_file(const std::string& path);

} // namespace oag::runtime
