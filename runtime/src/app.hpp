#pragma once
/// The running daemon: storage, actor system, io threads and the edge,
/// started and stopped in the right order.

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "oag/error.hpp"

namespace oag::runtime {

/// Secrets the daemon runs with, from the environment or the data dir.
struct secrets {
  std::string admin_token;
  std::string master_key; ///< 32 raw bytes
  bool admin_token_generated = false;
};

/// Loads OAG_ADMIN_TOKEN / OAG_MASTER_KEY, or reads/creates them under the
/// data dir (mode 0600), warning when the master key is generated.
result<secrets> load_secrets(const std::string& data_dir);

/// The daemon. Construct, `start`, then `drain_and_stop` on SIGTERM.
class app {
 public:
  app(app_config config, secrets s);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  /// Opens the database, starts actors and io threads, binds the edge.
  result<void> start();

  /// The bound port.
  std::uint16_t port() const noexcept;

  /// Stops accepting, waits for in-flight requests (bounded by the drain
  /// timeout), stops actors and io, and closes RocksDB cleanly.
  void drain_and_stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace oag::runtime
