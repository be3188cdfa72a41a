#pragma once
/// Outbound HTTP/1.1 over TCP or TLS (OpenSSL, certificate and host name
/// verified), driven by the io threads. Beast and Asio stay inside the
/// adapters library; callers see this header only.
///
/// Ownership: a provider actor owns a pool of `upstream_connection`s for
/// its endpoint. It hands one to each call; when a response completes on a
/// keep-alive connection, `on_reusable` returns it to the pool (by message).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "oag/adapters/http_types.hpp"
#include "oag/error.hpp"

namespace oag::adapters {

/// The io threads shared by the edge and the outbound client.
class io_runtime {
 public:
  /// Creates an io_context to be run by `threads` threads.
  explicit io_runtime(unsigned threads);
  ~io_runtime();
  io_runtime(const io_runtime&) = delete;
  io_runtime& operator=(const io_runtime&) = delete;

  /// Starts the threads (idempotent).
  void start();
  /// Stops the io_context and joins the threads (idempotent).
  void stop();

  /// Opaque access for the Beast translation units (see io_runtime_asio.hpp).
  struct impl;
  impl& native() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

/// TLS settings shared by all outbound connections.
class tls_client_context {
 public:
  /// Verifies peers against the system store, plus `extra_ca_file` if set
  /// (tests use it for a self-signed fake upstream).
  static result<std::shared_ptr<tls_client_context>> create(
      std::optional<std::string> extra_ca_file);
  ~tls_client_context();
  struct impl;
  impl& native() noexcept { return *impl_; }

 private:
  tls_client_context();
  std::unique_ptr<impl> impl_;
};

/// Time limits of one exchange.
struct http_timeouts {
  std::chrono::milliseconds connect{10'000};
  /// Until the response head arrives.
  std::chrono::milliseconds first_byte{120'000};
  /// Longest silence between body reads.
  std::chrono::milliseconds idle{120'000};
};

/// Callbacks of one exchange, invoked on an io thread, in order:
/// on_head once (unless the exchange failed before), on_body zero or more
/// times, on_done exactly once (nullopt: the body ended cleanly).
struct upstream_observer {
  std::function<void(int status, header_list headers)> on_head;
  std::function<void(std::string bytes)> on_body;
  std::function<void(std::optional<failure> error)> on_done;
};

/// One keep-alive connection to an origin.
class upstream_connection : public std::enable_shared_from_this<upstream_connection> {
 public:
  virtual ~upstream_connection() = default;

  /// Creates an unconnected connection; it connects on first use.
  static std::shared_ptr<upstream_connection> create(io_runtime& io, const url& origin,
                                                     std::shared_ptr<tls_client_context> tls);

  /// Sends one request and streams the response to `observer`. After a
  /// clean end on a connection that can be kept alive, `on_reusable` is
  /// called (after on_done) with this connection. One exchange at a time.
  virtual void start(outbound_request request, http_timeouts timeouts,
                     upstream_observer observer,
                     std::function<void(std::shared_ptr<upstream_connection>)> on_reusable) = 0;

  /// Aborts the exchange in progress (on_done gets a failure); the
  /// connection is not reused. Safe from any thread.
  virtual void cancel() = 0;

  /// The origin this connection talks to.
  virtual const url& origin() const noexcept = 0;
};

} // namespace oag::adapters
