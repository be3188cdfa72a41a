#pragma once
/// The Beast HTTP edge: accepts connections, reads requests with limits and
/// timeouts, and hands each one to a handler with a strand-bound sink.
/// Sessions follow Beast's own examples: shared_from_this lifetimes, one
/// strand per connection, a timeout on every read, explicit header and
/// body limits, a bounded write queue.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "oag/actors/sink.hpp"
#include "oag/adapters/http_client.hpp"
#include "oag/error.hpp"

namespace oag::runtime {

/// Limits and hooks of the edge.
struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;              ///< 0 picks an ephemeral port
  std::size_t body_limit = 4 * 1024 * 1024; ///< larger bodies get 413
  std::size_t header_limit = 16 * 1024;   ///< larger heads get 431/400
  std::chrono::seconds read_timeout{30};  ///< per request read
  std::chrono::seconds keep_alive_timeout{75};
  /// Longest a single response write may take; a client that stops reading
  /// for longer is disconnected.
  std::chrono::seconds write_timeout{30};
  /// Longest wait for the handler to start a response (respond or
  /// start_stream); the edge then answers 504 itself. 0 disables.
  std::chrono::seconds response_timeout{300};
  std::size_t max_write_queue_bytes = 8 * 1024 * 1024; ///< slow client cut-off
  /// Called once per completed (or abandoned) response, on an io thread.
  std::function<void(std::string_view method, std::string_view path, int status,
                     std::chrono::microseconds elapsed, std::string_view request_id)>
      access_log;
};

/// Receives each request; must not block (it posts to actors).
using request_handler =
    std::function<void(actors::inbound_request, std::shared_ptr<actors::response_sink>)>;

/// A listening edge.
class http_server {
 public:
  /// Binds and starts accepting on the io runtime.
  static result<std::unique_ptr<http_server>> listen(adapters::io_runtime& io,
                                                     server_options options,
                                                     request_handler handler);
  virtual ~http_server() = default;

  /// The bound port (useful with port 0).
  virtual std::uint16_t port() const noexcept = 0;

  /// Stops accepting new connections; idle keep-alive connections close,
  /// requests in flight finish.
  virtual void stop_accepting() = 0;

  /// Requests whose response has not completed yet.
  virtual std::size_t in_flight() const noexcept = 0;
};

} // namespace oag::runtime
