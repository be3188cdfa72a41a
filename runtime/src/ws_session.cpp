/// WebSocket sessions, as in Beast's own websocket server examples: the
/// session owns the stream and lives as long as an operation holds it
/// (shared_from_this); every handler runs on the connection's strand (the
/// socket's executor); one read is always pending; writes go out one
/// message at a time from a queue bounded in bytes.
///
/// Limits and the close codes they lead to:
///   - a message over max_message_bytes            → 1009 (counted here, closed with a handshake)
///   - invalid UTF-8 in a text message             → 1007 (Beast checks text frames)
///   - protocol violations (bad opcode, unmasked,  → 1002 (Beast)
///     fragmented control frame, reserved bits …)
///   - a write queue over max_queue_bytes           → 1008 "client too slow …"
///   - no data from the client for idle_timeout     → dropped (a ping goes out at half)
///   - a close handshake (or the write it waits for) longer than close_timeout → dropped
///   - server shutdown                              → 1001

#include "ws_session.hpp"

#include <algorithm>
#include <deque>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace oag::runtime::ws {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace http = boost::beast::http;
using timer_t = net::basic_waitable_timer<std::chrono::steady_clock,
                                          net::wait_traits<std::chrono::steady_clock>, strand_t>;

/// The close code a failed read stands for (Beast has already sent it).
std::uint16_t close_code_of(const beast::error_code& ec) {
  if (ec == websocket::error::message_too_big) return websocket::close_code::too_big;          // 1009
  if (ec == websocket::error::bad_frame_payload) return websocket::close_code::bad_payload;    // 1007
  if (ec.category() == websocket::make_error_code(websocket::error::bad_opcode).category())
    return websocket::close_code::protocol_error;                                               // 1002
  return websocket::close_code::abnormal;                                                        // 1006
}

class session final : public ws_connection, public std::enable_shared_from_this<session> {
 public:
  session(socket_t socket, std::shared_ptr<ws_handler> handler, const websocket_options& opts,
          std::shared_ptr<registry> reg)
      : ws_(std::move(socket)),
        timer_(ws_.get_executor()),
        handler_(std::move(handler)),
        opts_(opts),
        reg_(std::move(reg)) {}

  ~session() override {
    std::lock_guard<std::mutex> lock(reg_->mu);
    reg_->live.erase(id_);
  }

  void start(request_t req) {
    req_ = std::move(req);
    {
      std::lock_guard<std::mutex> lock(reg_->mu);
      id_ = ++reg_->next;
      reg_->live.emplace(id_, weak_from_this());
    }
    websocket::stream_base::timeout t;
    t.handshake_timeout = opts_.close_timeout;  // Beast uses it for the close handshake, too
    t.idle_timeout = opts_.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "oag"); }));
    // The session counts message bytes itself (see on_read); Beast's own
    // limit is a backstop for frames that announce an absurd length.
    ws_.read_message_max(2 * opts_.max_message_bytes + (64u << 10));
    ws_.auto_fragment(false);
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  // ---- ws_connection (any thread)

  bool send_text(std::string text) override {
    if (!open_.load(std::memory_order_acquire)) return false;
    const std::size_t n = text.size();
    const std::size_t before = queued_.fetch_add(n, std::memory_order_acq_rel);
    if (before > 0 && before + n > opts_.max_queue_bytes) {
      queued_.fetch_sub(n, std::memory_order_acq_rel);
      open_.store(false, std::memory_order_release);
      net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
        if (!self->closing_ && self->opts_.on_slow_client) self->opts_.on_slow_client(self->peak_);
        self->begin_close(websocket::close_code::policy_error,
                          "client too slow: more than " + std::to_string(self->opts_.max_queue_bytes) +
                              " bytes of events waiting to be written",
                          true);
      });
      return false;
    }
    net::dispatch(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
      self->enqueue(std::move(text));
    });
    return true;
  }

  void post(std::function<void()> fn) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
      try {
        fn();
      } catch (...) {
        // An application callback must not unwind into the io thread.
      }
    });
  }

  void close(std::uint16_t code, std::string reason) override {
    net::dispatch(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason), false);
    });
  }

  std::size_t queued_bytes() const noexcept override { return queued_.load(std::memory_order_acquire); }
  bool is_open() const noexcept override { return open_.load(std::memory_order_acquire); }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return finish(websocket::close_code::abnormal, "handshake failed: " + ec.message());
    accepted_ = true;
    req_ = {};
    if (reg_->stopping.load(std::memory_order_acquire)) {
      open_.store(false, std::memory_order_release);
      begin_close(websocket::close_code::going_away, "server shutting down", true);
      do_read();
      return;
    }
    open_.store(true, std::memory_order_release);
    opened_ = true;
    if (opts_.on_opened) opts_.on_opened();
    if (handler_) handler_->on_open(shared_from_this());
    do_read();
  }

  void do_read() {
    reading_ = true;
    ws_.async_read_some(rbuf_, 64u << 10,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (ec) {
      std::uint16_t code;
      std::string reason;
      if (closing_) {
        code = close_code_;
        reason = close_reason_;
      } else if (ec == websocket::error::closed) {
        code = ws_.reason().code == websocket::close_code::none ? std::uint16_t{1005}
                                                                : static_cast<std::uint16_t>(ws_.reason().code);
        reason = std::string(ws_.reason().reason.data(), ws_.reason().reason.size());
      } else {
        code = close_code_of(ec);
        reason = ec.message();
      }
      return finish(code, std::move(reason));
    }
    if (rbuf_.size() > opts_.max_message_bytes) {
      // Closed by a handshake rather than by Beast's read_message_max:
      // Beast then tears the connection down while the client is still
      // sending, and its teardown stops draining early (beast/websocket/
      // impl/teardown.hpp, the bytes_transferred == 0 break), so the client
      // gets a reset (1006) instead of the 1009 close frame.
      rbuf_.consume(rbuf_.size());
      return begin_close(websocket::close_code::too_big,
                         "message too big: more than " + std::to_string(opts_.max_message_bytes) + " bytes", true);
    }
    if (!ws_.is_message_done()) return do_read();
    std::string msg = beast::buffers_to_string(rbuf_.data());
    rbuf_.consume(rbuf_.size());
    const bool text = ws_.got_text();
    if (handler_ && !closing_) {
      try {
        if (text) handler_->on_text(std::move(msg));
        else handler_->on_binary(std::move(msg));
      } catch (...) {
      }
    }
    do_read();
  }

  void enqueue(std::string text) {
    if (closing_ || finished_) {
      queued_.fetch_sub(text.size(), std::memory_order_acq_rel);
      return;
    }
    queue_.push_back(std::move(text));
    peak_ = (std::max)(peak_, queued_.load(std::memory_order_acquire));
    if (!writing_) do_write();
  }

  void do_write() {
    if (queue_.empty() || finished_) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (!queue_.empty()) {
      queued_.fetch_sub(queue_.front().size(), std::memory_order_acq_rel);
      queue_.pop_front();
    }
    if (ec) {
      // The connection broke; the pending read reports it.
      drop_queue();
      return;
    }
    if (!queue_.empty()) return do_write();
    if (closing_ && !close_sent_) send_close();
  }

  void drop_queue() {
    // The message being written stays (Beast reads from it).
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queued_.fetch_sub(queue_.back().size(), std::memory_order_acq_rel);
      queue_.pop_back();
    }
  }

  /// Stops accepting messages and closes after the message being written
  /// (and, unless `drop`, after the rest of the queue).
  void begin_close(std::uint16_t code, std::string reason, bool drop) {
    open_.store(false, std::memory_order_release);
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (close_reason_.size() > 123) close_reason_.resize(123);  // a close frame's payload is at most 125 bytes
    if (drop) drop_queue();
    timer_.expires_after(opts_.close_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      // The client does not read: drop the connection.
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).close(ignored);
    });
    if (!accepted_) return;
    if (!writing_ && queue_.empty()) send_close();
  }

  void send_close() {
    close_sent_ = true;
    ws_.async_close(websocket::close_reason(code_of(close_code_), close_reason_),
                    [self = shared_from_this()](beast::error_code) {
                      // A pending read completes too and finishes the session;
                      // without one (the message-size close) the close does.
                      if (!self->reading_) self->finish(self->close_code_, self->close_reason_);
                    });
  }

  static websocket::close_code code_of(std::uint16_t c) { return static_cast<websocket::close_code>(c); }

  void finish(std::uint16_t code, std::string reason) {
    if (finished_) return;
    finished_ = true;
    open_.store(false, std::memory_order_release);
    timer_.cancel();
    drop_queue();
    if (opened_ && opts_.on_closed) opts_.on_closed(code, peak_);
    // The handler holds this connection: letting go of it breaks the cycle.
    auto h = std::move(handler_);
    if (h && accepted_) {
      try {
        h->on_close(code, std::move(reason));
      } catch (...) {
      }
    }
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

  websocket::stream<socket_t> ws_;
  timer_t timer_;
  std::shared_ptr<ws_handler> handler_;
  const websocket_options& opts_;
  std::shared_ptr<registry> reg_;
  std::uint64_t id_ = 0;
  request_t req_;
  beast::flat_buffer rbuf_;
  std::deque<std::string> queue_;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> open_{false};
  std::size_t peak_ = 0;
  bool accepted_ = false;
  bool opened_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
};

} // namespace

void start_session(socket_t socket, request_t req, std::shared_ptr<ws_handler> handler,
                   const websocket_options& opts, std::shared_ptr<registry> reg) {
  auto s = std::make_shared<session>(std::move(socket), std::move(handler), opts, std::move(reg));
  s->start(std::move(req));
}

void close_all(registry& reg) {
  reg.stopping.store(true, std::memory_order_release);
  std::vector<std::shared_ptr<ws_connection>> live;
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    for (auto& [id, w] : reg.live)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->close(1001, "server shutting down");
}

} // namespace oag::runtime::ws
