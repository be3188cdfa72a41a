#pragma once
/// The Beast HTTP edge: accepts connections, reads requests with limits and
/// timeouts, and hands each one to a handler with a strand-bound sink.
/// WebSocket upgrade requests go to a separate handler that accepts
/// (the connection becomes a WebSocket session, see ws_session.cpp) or
/// rejects them with an ordinary HTTP response.
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

/// A WebSocket connection as the application holds it. Thread-safe: every
/// method may be called from any thread and returns at once.
class ws_connection {
 public:
  virtual ~ws_connection() = default;
  /// Queues one text message. False when the connection is closing or gone,
  /// or when the message would take the write queue over its byte bound:
  /// the connection is then closed with 1008 (a slow client; see
  /// websocket_options::max_queue_bytes).
  virtual bool send_text(std::string text) = 0;
  /// Runs `fn` on the connection's strand, after the callbacks already
  /// queued there (the way actors reach a session). Always runs, also after
  /// the connection is gone.
  virtual void post(std::function<void()> fn) = 0;
  /// Sends what is queued, then closes with `code` and `reason`.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  /// Bytes accepted by send_text and not yet written to the socket.
  virtual std::size_t queued_bytes() const noexcept = 0;
  virtual bool is_open() const noexcept = 0;
};

/// The application side of a WebSocket session. Every call runs on the
/// connection's strand (one at a time).
class ws_handler {
 public:
  virtual ~ws_handler() = default;
  virtual void on_open(std::shared_ptr<ws_connection> conn) = 0;
  /// One complete text message (valid UTF-8: the edge checked it).
  virtual void on_text(std::string message) = 0;
  /// One complete binary message.
  virtual void on_binary(std::string message) = 0;
  /// Once, when the connection is over: the close code sent or received
  /// (1006 when the connection broke without one).
  virtual void on_close(std::uint16_t code, std::string reason) = 0;
};

/// An upgrade request waiting for the application's answer. Thread-safe;
/// the first of accept and reject counts.
class ws_upgrade {
 public:
  virtual ~ws_upgrade() = default;
  /// Completes the handshake (101) and hands the connection to `handler`.
  virtual void accept(std::shared_ptr<ws_handler> handler) = 0;
  /// Answers with an HTTP response instead (401, 404, …) and no WebSocket.
  virtual void reject(int status, std::string body, adapters::header_list extra = {}) = 0;
};

/// Limits of WebSocket sessions.
struct websocket_options {
  std::size_t max_message_bytes = 1024 * 1024; ///< larger messages get close 1009
  /// Bytes a session may have queued for writing; beyond it the client is
  /// too slow and the session closes with 1008. One message is always
  /// accepted into an empty queue, however large.
  std::size_t max_queue_bytes = 1024 * 1024;
  /// A ping goes out after half of it without data from the client; the
  /// connection is dropped after all of it.
  std::chrono::seconds idle_timeout{60};
  /// Longest a close handshake (or the write before it) may take.
  std::chrono::seconds close_timeout{10};
  /// Hooks for metrics (called on an io thread).
  std::function<void()> on_opened;
  std::function<void(std::uint16_t code, std::size_t queue_peak_bytes)> on_closed;
  /// A session's write queue overflowed (it is closing with 1008).
  std::function<void(std::size_t queue_peak_bytes)> on_slow_client;
};

/// Receives each WebSocket upgrade request; must not block.
using upgrade_handler = std::function<void(actors::inbound_request, std::shared_ptr<ws_upgrade>)>;

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
  websocket_options websocket;
  /// WebSocket upgrade requests (GET with Upgrade: websocket) go here; when
  /// unset they are ordinary requests.
  upgrade_handler on_upgrade;
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
