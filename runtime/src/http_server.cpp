/// The Beast HTTP edge. One session per connection, on its own strand, kept
/// alive by the operations it has pending (shared_from_this), as in Beast's
/// async server examples. Responses are framed by hand (status line,
/// Content-Length or chunked) and written with gather writes, so a full
/// response is one sendmsg and stream pieces that queue up while a write is
/// in flight go out together.
///
/// The per-request path is kept to the system calls a keep-alive exchange
/// needs (one recvmsg, one sendmsg, epoll): a response is first written
/// straight into the socket (non-blocking) and only falls back to an
/// asynchronous write for what the kernel did not take; read, write and
/// response deadlines share one lazily armed timer per session instead of a
/// timer operation per read and write; the read that watches for hang-ups
/// during a response stays pending afterwards as the wait for the next
/// request; and a sink called on the session's own strand (a handler that
/// answers at once) runs inline instead of being posted.

#include "http_server.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "oag/adapters/io_runtime_asio.hpp"
#include "ws_session.hpp"

namespace oag::runtime {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using adapters::header;
using adapters::header_list;

// Concrete executor types: no any_io_executor type erasure per operation.
using strand_t = net::strand<net::io_context::executor_type>;
using socket_t = net::basic_stream_socket<tcp, strand_t>;
using acceptor_t = net::basic_socket_acceptor<tcp, strand_t>;
using timer_t = net::basic_waitable_timer<std::chrono::steady_clock,
                                          net::wait_traits<std::chrono::steady_clock>, strand_t>;
using clock = std::chrono::steady_clock;
constexpr clock::time_point k_never = (clock::time_point::max)();

// Bytes the disconnect watch reads per operation, and how many bytes of a
// pipelined next request it buffers before it stops reading (the client
// then waits for our response, as HTTP/1.1 clients must anyway).
constexpr std::size_t k_watch_read = 2048;
constexpr std::size_t k_watch_cap = 64 * 1024;
// asio's sendmsg gathers at most 64 buffers; stay below it.
constexpr std::size_t k_max_gather = 63;
// After an error response we read and discard what the client still sends
// for a moment, so closing does not reset the connection before it read
// our answer.
constexpr std::chrono::seconds k_linger{2};
constexpr std::size_t k_linger_cap = 1024 * 1024;

class session;

struct server_state {
  server_options opts;
  request_handler handler;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;  ///< guards `sessions` (touched once per connection, not per request)
  std::unordered_map<std::uint64_t, std::weak_ptr<session>> sessions;
  std::uint64_t next_session = 0;
  /// WebSocket sessions (the connections of accepted upgrades).
  std::shared_ptr<ws::registry> websockets = std::make_shared<ws::registry>();
};

// ---------------------------------------------------------------- helpers

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Beast 1.74 speaks boost::string_view.
std::string_view sv(beast::string_view s) noexcept { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

bool sane_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::uint64_t process_salt() {
  // A per-process random prefix keeps ids unique across restarts; the
  // counter keeps generation to one atomic increment per request.
  std::uint64_t salt = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
  try {
    std::random_device rd;
    salt ^= (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    // No entropy source: the clock-based salt is still unique per start.
  }
  return salt;
}

std::string make_request_id() {
  static const std::uint32_t salt = static_cast<std::uint32_t>(process_salt() ^ (process_salt() >> 32));
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(4 + 8 + 12, '0');
  id[0] = 'r';
  id[1] = 'e';
  id[2] = 'q';
  id[3] = '_';
  for (int i = 0; i < 8; ++i) id[4 + i] = hex[(salt >> (28 - 4 * i)) & 0xf];
  for (int i = 0; i < 12; ++i) id[12 + i] = hex[(n >> (44 - 4 * i)) & 0xf];
  return id;
}

bool header_is_safe(const header& h) noexcept {
  if (h.name.empty()) return false;
  if (h.name.find_first_of(":\r\n ") != std::string::npos) return false;
  return h.value.find_first_of("\r\n") == std::string::npos;
}

// Framing headers are ours to set; a handler must not contradict them.
bool framing_header(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection");
}

/// A gather-write view over our buffer vector; copying it (asio copies the
/// sequence into each operation) is two pointers, not a vector allocation.
struct buffer_span {
  using value_type = net::const_buffer;
  using const_iterator = const net::const_buffer*;
  const net::const_buffer* first = nullptr;
  const net::const_buffer* last = nullptr;
  const_iterator begin() const noexcept { return first; }
  const_iterator end() const noexcept { return last; }
};

const std::string k_crlf = "\r\n";

/// One queued piece of output. Chunk framing lives beside the data so the
/// caller's bytes are written without being copied.
struct out_item {
  std::string data;
  std::size_t accounted = 0;  ///< bytes charged to the sink's write queue
  bool chunk = false;         ///< wrap in chunked framing
  bool last = false;          ///< completes the response once written
  char frame[20] = {};
  std::uint8_t frame_len = 0;
};

// ---------------------------------------------------------------- sink

class edge_sink;

class session : public std::enable_shared_from_this<session> {
 public:
  session(socket_t socket, std::shared_ptr<server_state> state, std::uint64_t id)
      : socket_(std::move(socket)),
        ex_(socket_.get_executor()),
        timer_(ex_),
        state_(std::move(state)),
        opts_(state_->opts),
        id_(id) {
    // Synchronous writes try the kernel and return would_block instead of
    // waiting; asynchronous operations are unaffected.
    beast::error_code ignored;
    socket_.non_blocking(true, ignored);
  }

  ~session() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->sessions.erase(id_);
  }

  /// The session strand (immutable; safe to read from any thread).
  const strand_t& executor() const noexcept { return ex_; }

  void run() {
    net::dispatch(executor(), [self = shared_from_this()] { self->read_head(); });
  }

  /// After stop_accepting: close now when idle, else after this response.
  void stop_if_idle() {
    if (closed_) return;
    keep_alive_ = false;
    if (phase_ == phase::idle && buffer_.size() == 0 && (!parser_ || !parser_->got_some())) {
      close();
    }
  }

  // Sink entry points, run on the strand. `seq` ties a call to the request
  // the sink was created for; calls for an older request are ignored.
  void sink_respond(std::uint64_t seq, int status, std::string body, header_list extra,
                    std::string content_type);
  void sink_start(std::uint64_t seq, int status, header_list extra, std::string content_type);
  void sink_write(std::uint64_t seq, std::string bytes);
  void sink_end(std::uint64_t seq);
  void sink_overflow(std::uint64_t seq) {
    if (seq == seq_ && resp_open_) close();
  }
  /// The handler accepted a WebSocket upgrade: the HTTP exchange ends and
  /// the socket moves to a WebSocket session.
  void sink_accept_ws(std::uint64_t seq, std::shared_ptr<ws_handler> handler);

 private:
  enum class phase { idle, reading, handling, responding, closing };

  // ---- reading a request

  void read_head() {
    if (closed_) return;
    if (state_->stopping.load(std::memory_order_acquire) && buffer_.size() == 0) return close();
    phase_ = phase::idle;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts_.header_limit));
    parser_->body_limit(opts_.body_limit);
    // Bytes already buffered (read by the watch, or pipelined) are parsed
    // here: a complete head needs no read operation and no handler hop.
    while (buffer_.size() > 0 && !parser_->is_header_done()) {
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return on_read_error(ec);
      if (used == 0) break;
    }
    if (parser_->is_header_done()) return on_head({});
    // The first request must arrive promptly; later ones may wait out the
    // keep-alive period.
    set_read_deadline(served_ == 0 ? opts_.read_timeout : opts_.keep_alive_timeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_head(ec);
                            });
  }

  void on_head(beast::error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    phase_ = phase::reading;
    // Usually the body arrived with the head: parse it from the buffer now
    // and skip a second asynchronous operation.
    if (!parser_->is_done() && buffer_.size() > 0) {
      parser_->eager(true);
      for (;;) {
        beast::error_code pec;
        const std::size_t used = parser_->put(buffer_.data(), pec);
        buffer_.consume(used);
        if (pec == http::error::need_more) break;
        if (pec) return on_read_error(pec);
        if (parser_->is_done() || used == 0 || buffer_.size() == 0) break;
      }
    }
    if (parser_->is_done()) return dispatch();

    set_read_deadline(opts_.read_timeout);
    const auto expect = sv(parser_->get()[http::field::expect]);
    if (!expect.empty() && iequals(expect, "100-continue")) {
      // curl and others wait for this before sending larger bodies.
      static const std::string k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
      set_write_deadline(opts_.write_timeout);
      net::async_write(socket_, net::buffer(k_continue),
                       [self = shared_from_this()](beast::error_code e, std::size_t) {
                         self->write_deadline_ = k_never;
                         if (self->closed_) return;
                         if (e) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    set_read_deadline(opts_.read_timeout);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (self->closed_) return;
                       if (ec) return self->on_read_error(ec);
                       self->dispatch();
                     });
  }

  void on_read_error(beast::error_code ec) {
    static const auto& http_category = http::make_error_code(http::error::bad_method).category();
    if (ec == http::error::body_limit) {
      auto f = make_failure(errc::payload_too_large, "request body exceeds the " +
                                                         std::to_string(opts_.body_limit) +
                                                         " byte limit");
      return reply_error_and_close(f);
    }
    if (ec == http::error::header_limit) {
      auto f = make_failure(errc::invalid_request, "request headers exceed the " +
                                                       std::to_string(opts_.header_limit) +
                                                       " byte limit");
      f.http_status = 431;
      f.error_code = "request_header_fields_too_large";
      return reply_error_and_close(f);
    }
    // Idle close, hang-up mid-request, timeout or socket error: nobody is
    // waiting for an answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http_category) {
      return close();
    }
    auto f = make_failure(errc::invalid_request, "malformed HTTP request: " + ec.message());
    f.error_code = "malformed_request";
    reply_error_and_close(f);
  }

  /// Answers a request we could not read (400/413/431) and closes.
  void reply_error_and_close(const failure& f) {
    phase_ = phase::closing;
    const int status = http_status_of(f);
    const std::string body = to_openai_error_body(f);
    const std::string rid = make_request_id();
    error_out_.clear();
    append_status_line(error_out_, status);
    error_out_ += "Content-Type: application/json\r\nContent-Length: ";
    append_number(error_out_, body.size());
    error_out_ += "\r\nx-request-id: ";
    error_out_ += rid;
    error_out_ += "\r\nConnection: close\r\n\r\n";
    error_out_ += body;
    if (opts_.access_log) {
      const bool have_head = parser_ && parser_->is_header_done();
      const auto method = have_head ? sv(parser_->get().method_string()) : std::string_view("-");
      const auto target = have_head ? sv(parser_->get().target()) : std::string_view("-");
      const auto path = target.substr(0, target.find('?'));
      try {
        opts_.access_log(method, path, status, std::chrono::microseconds(0), rid);
      } catch (...) {
      }
    }
    read_deadline_ = k_never;
    set_write_deadline(opts_.write_timeout);
    net::async_write(socket_, net::buffer(error_out_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->write_deadline_ = k_never;
                       if (self->closed_) return;
                       if (ec) return self->close();
                       self->linger();
                     });
  }

  void linger() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    set_read_deadline(k_linger);
    drain();
  }

  void drain() {
    socket_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (self->closed_) return;
                              self->drained_ += n;
                              if (ec || self->drained_ > k_linger_cap) return self->close();
                              self->drain();
                            });
  }

  // ---- handing a request to the handler

  void dispatch();

  /// Keeps a read pending while the handler works and the response is
  /// written, so a client that hangs up is noticed even when we are not
  /// writing (a slow non-streaming call) or only writing into the kernel
  /// buffer.
  void start_watch() {
    if (watch_pending_ || closed_ || buffer_.size() >= k_watch_cap) return;
    watch_pending_ = true;
    socket_.async_read_some(buffer_.prepare(k_watch_read),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->on_watch(ec, n);
                            });
  }

  void on_watch(beast::error_code ec, std::size_t n) {
    watch_pending_ = false;
    if (ws_handler_) return hand_over();
    if (closed_) return;
    if (ec) {
      if (ec == net::error::operation_aborted && resume_after_watch_) {
        resume_after_watch_ = false;
        return read_head();
      }
      // EOF or reset: the client went away (during a response that is a
      // disconnect; after it, an ordinary close).
      return close();
    }
    buffer_.commit(n);
    if (resp_open_) return start_watch();
    resume_after_watch_ = false;
    read_head();
  }

  // ---- deadlines
  //
  // One timer per session serves the read, write and response deadlines.
  // It is armed lazily: setting a deadline later than the one the timer is
  // already armed for costs nothing, and the timer re-checks all deadlines
  // when it fires. A busy keep-alive connection thus costs no timer
  // operation (no timerfd_settime) per request.

  void set_read_deadline(clock::duration d) {
    read_deadline_ = clock::now() + d;
    arm_timer(read_deadline_);
  }

  void set_write_deadline(clock::duration d) {
    write_deadline_ = clock::now() + d;
    arm_timer(write_deadline_);
  }

  clock::time_point response_deadline() const {
    if (opts_.response_timeout.count() <= 0 || !resp_open_ || phase_ != phase::handling)
      return k_never;
    return handling_since_ + opts_.response_timeout;
  }

  void arm_timer(clock::time_point at) {
    if (closed_ || at == k_never) return;
    if (timer_armed_ && timer_.expiry() <= at) return;  // it fires first and re-checks
    // Re-arming cancels the earlier wait; its handler sees a stale
    // generation and does nothing.
    timer_armed_ = true;
    const std::uint64_t gen = ++timer_gen_;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
      self->on_timer(ec, gen);
    });
  }

  void on_timer(beast::error_code ec, std::uint64_t gen);

  // ---- writing the response

  void append_status_line(std::string& out, int status) {
    out += "HTTP/1.1 ";
    append_number(out, static_cast<std::uint64_t>(status));
    out += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
    out += "\r\n";
  }

  std::string build_head(int status, const std::string& content_type,
                         std::optional<std::size_t> content_length, const header_list& extra) {
    std::string head;
    std::size_t extra_size = 0;
    for (const auto& h : extra) extra_size += h.name.size() + h.value.size() + 4;
    head.reserve(128 + request_id_.size() + content_type.size() + extra_size);
    append_status_line(head, status);
    if (!content_type.empty()) {
      head += "Content-Type: ";
      head += content_type;
      head += "\r\n";
    }
    if (content_length) {
      head += "Content-Length: ";
      append_number(head, *content_length);
      head += "\r\n";
    } else {
      if (chunked_) head += "Transfer-Encoding: chunked\r\n";
      head += "Cache-Control: no-cache\r\n";
    }
    head += "x-request-id: ";
    head += request_id_;
    head += "\r\n";
    for (const auto& h : extra) {
      if (!header_is_safe(h) || framing_header(h.name) || iequals(h.name, "x-request-id")) continue;
      if (!content_type.empty() && iequals(h.name, "content-type")) continue;
      if (!content_length && iequals(h.name, "cache-control")) continue;
      head += h.name;
      head += ": ";
      head += h.value;
      head += "\r\n";
    }
    if (!keep_alive_) {
      head += "Connection: close\r\n";
    } else if (version_ < 11) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return head;
  }

  bool accepts(std::uint64_t seq) const {
    return !closed_ && resp_open_ && seq == seq_;
  }

  void push(std::string data, bool chunk, bool last, std::size_t accounted = 0) {
    out_item item;
    item.data = std::move(data);
    item.chunk = chunk;
    item.last = last;
    item.accounted = accounted;
    out_.push_back(std::move(item));
  }

  /// Collects the queued items into bufs_ (at most one response's worth);
  /// returns how many items it took.
  std::size_t gather() {
    bufs_.clear();
    std::size_t items = 0;
    for (auto& it : out_) {
      const std::size_t need = it.chunk ? 3 : 1;
      if (bufs_.size() + need > k_max_gather) break;
      if (it.chunk) {
        // "<hex size>\r\n" <data> "\r\n"
        auto r = std::to_chars(it.frame, it.frame + 16, it.data.size(), 16);
        r.ptr[0] = '\r';
        r.ptr[1] = '\n';
        it.frame_len = static_cast<std::uint8_t>(r.ptr + 2 - it.frame);
        bufs_.emplace_back(it.frame, it.frame_len);
        bufs_.emplace_back(it.data.data(), it.data.size());
        bufs_.emplace_back(k_crlf.data(), k_crlf.size());
      } else if (!it.data.empty()) {
        bufs_.emplace_back(it.data.data(), it.data.size());
      }
      ++items;
      if (it.last) break;
    }
    return items;
  }

  /// Writes what is queued: straight into the socket when the kernel takes
  /// it all (the usual case), else the rest asynchronously.
  void do_write() {
    while (!writing_ && !closed_ && !out_.empty()) {
      const std::size_t items = gather();
      std::size_t total = 0;
      for (const auto& b : bufs_) total += b.size();
      beast::error_code ec;
      std::size_t n = 0;
      if (total > 0) {
        n = socket_.write_some(buffer_span{bufs_.data(), bufs_.data() + bufs_.size()}, ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
          ec = {};
          n = 0;
        }
      }
      if (ec) return close();  // the client is gone
      if (n < total) {
        // Skip what went out; the rest waits for the socket.
        std::size_t skip = 0;
        while (skip < bufs_.size() && n >= bufs_[skip].size()) n -= bufs_[skip++].size();
        if (n > 0) bufs_[skip] += n;
        writing_items_ = items;
        writing_ = true;
        set_write_deadline(opts_.write_timeout);
        buffer_span span{bufs_.data() + skip, bufs_.data() + bufs_.size()};
        net::async_write(socket_, span,
                         [self = shared_from_this()](beast::error_code e, std::size_t) {
                           self->on_write(e);
                         });
        return;
      }
      if (written(items)) return;
    }
  }

  void on_write(beast::error_code ec);

  /// Retires `items` written items; true when that completed the response
  /// (the session has then moved on).
  bool written(std::size_t items);

  void complete_response();

  /// Ends the connection; a response still open is abandoned (the handler
  /// is told through on_disconnect).
  void close();

  beast::error_code graceful_shutdown() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    return ec;
  }

  void log_access(int status) {
    if (!opts_.access_log) return;
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() -
                                                                               handling_since_);
    try {
      opts_.access_log(log_method_, log_path_, status, elapsed, request_id_);
    } catch (...) {
      // A logging hook must not break the connection.
    }
  }

  socket_t socket_;
  const strand_t ex_;
  timer_t timer_;
  std::shared_ptr<server_state> state_;
  const server_options& opts_;
  std::uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string error_out_;
  std::size_t drained_ = 0;

  phase phase_ = phase::idle;
  bool closed_ = false;
  bool watch_pending_ = false;
  bool resume_after_watch_ = false;
  bool timer_armed_ = false;
  std::uint64_t timer_gen_ = 0;
  clock::time_point read_deadline_ = k_never;   ///< of the head/body read, keep-alive or linger
  clock::time_point write_deadline_ = k_never;  ///< of an asynchronous write in flight
  std::uint64_t served_ = 0;

  // The current request/response.
  std::uint64_t seq_ = 0;
  bool resp_open_ = false;
  bool keep_alive_ = true;
  bool chunked_ = true;
  bool streaming_ = false;
  bool ended_ = false;
  bool head_request_ = false;
  unsigned version_ = 11;
  int status_ = 0;
  clock::time_point handling_since_{};
  std::string request_id_;
  std::string log_method_;
  std::string log_path_;
  std::shared_ptr<edge_sink> sink_;

  std::deque<out_item> out_;
  std::vector<net::const_buffer> bufs_;
  std::size_t writing_items_ = 0;
  bool writing_ = false;

  // A WebSocket upgrade: the request (for the handshake) and, once
  // accepted, the handler the socket goes to.
  std::optional<ws::request_t> upgrade_req_;
  std::shared_ptr<ws_handler> ws_handler_;

  void hand_over() {
    auto handler = std::move(ws_handler_);
    ws::start_session(std::move(socket_), std::move(*upgrade_req_), std::move(handler), opts_.websocket,
                      state_->websockets);
    upgrade_req_.reset();
  }
};

/// The response_sink handed to the handler. Every call runs on the session
/// strand: respond is dispatched (run inline when the caller is already on
/// the strand, i.e. a handler answering at once, else posted); the stream
/// calls are always posted, so pieces a handler writes on the strand queue
/// up behind each other. The sink holds the session weakly, so a sink that
/// outlives its connection turns into a no-op.
class edge_sink final : public actors::response_sink {
 public:
  edge_sink(std::weak_ptr<session> s, std::uint64_t seq, std::size_t queue_limit)
      : session_(std::move(s)), seq_(seq), queue_limit_(queue_limit) {}

  void respond(int status, std::string body, header_list extra,
               std::string content_type) override {
    if (!claim()) return;
    if (auto s = session_.lock()) {
      auto ex = s->executor();
      net::dispatch(ex, [s = std::move(s), seq = seq_, status, body = std::move(body),
                         extra = std::move(extra), ct = std::move(content_type)]() mutable {
        s->sink_respond(seq, status, std::move(body), std::move(extra), std::move(ct));
      });
    }
  }

  void start_stream(int status, header_list extra, std::string content_type) override {
    if (!claim()) return;
    if (auto s = session_.lock()) {
      auto ex = s->executor();
      net::post(ex, [s = std::move(s), seq = seq_, status, extra = std::move(extra),
                     ct = std::move(content_type)]() mutable {
        s->sink_start(seq, status, std::move(extra), std::move(ct));
      });
    }
  }

  bool write(std::string bytes) override {
    if (disconnected_.load(std::memory_order_acquire)) return false;
    if (bytes.empty()) return true;  // an empty chunk would end the stream
    auto s = session_.lock();
    if (!s) {
      disconnected_.store(true, std::memory_order_release);
      return false;
    }
    const std::size_t n = bytes.size();
    // Charged here, on the caller's thread, so the answer is immediate;
    // the session refunds as bytes reach the socket.
    if (queued_.fetch_add(n, std::memory_order_acq_rel) + n > queue_limit_) {
      disconnected_.store(true, std::memory_order_release);
      auto ex = s->executor();
      net::post(ex, [s = std::move(s), seq = seq_] { s->sink_overflow(seq); });
      return false;
    }
    auto ex = s->executor();
    net::post(ex, [s = std::move(s), seq = seq_, bytes = std::move(bytes)]() mutable {
      s->sink_write(seq, std::move(bytes));
    });
    return true;
  }

  void end_stream() override {
    if (auto s = session_.lock()) {
      auto ex = s->executor();
      net::post(ex, [s = std::move(s), seq = seq_] { s->sink_end(seq); });
    }
  }

  void on_disconnect(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (fired_) {
      lock.unlock();
      call(fn);
      return;
    }
    if (completed_) return;  // can no longer fire: do not keep captures alive
    fn_ = std::move(fn);
  }

  bool disconnected() const noexcept override {
    return disconnected_.load(std::memory_order_acquire);
  }

  /// First of respond/start_stream/edge-timeout wins.
  bool claim() noexcept { return !claimed_.exchange(true, std::memory_order_acq_rel); }

  /// Bytes written to the socket are no longer queued.
  void refund(std::size_t n) noexcept { queued_.fetch_sub(n, std::memory_order_acq_rel); }

  /// The client left before the response completed (strand only).
  void fire_disconnect() {
    disconnected_.store(true, std::memory_order_release);
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (fired_ || completed_) return;
      fired_ = true;
      fn = std::move(fn_);
      fn_ = nullptr;
    }
    call(fn);
  }

  /// The response is complete: on_disconnect can no longer fire.
  void complete() {
    std::function<void()> drop;
    std::lock_guard<std::mutex> lock(mu_);
    completed_ = true;
    drop = std::move(fn_);
    fn_ = nullptr;
  }

 private:
  static void call(std::function<void()>& fn) noexcept {
    if (!fn) return;
    try {
      fn();
    } catch (...) {
      // The handler's callback must not unwind into the io thread.
    }
  }

  std::weak_ptr<session> session_;
  std::uint64_t seq_;
  std::size_t queue_limit_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> disconnected_{false};
  std::atomic<std::size_t> queued_{0};
  std::mutex mu_;  ///< guards fn_, fired_, completed_
  std::function<void()> fn_;
  bool fired_ = false;
  bool completed_ = false;
};

/// A pending WebSocket upgrade. Rejecting answers through the request's
/// sink; accepting claims the sink too, so the edge's 504 cannot race it.
class edge_upgrade final : public ws_upgrade {
 public:
  edge_upgrade(std::shared_ptr<edge_sink> sink, std::weak_ptr<session> s, std::uint64_t seq)
      : sink_(std::move(sink)), session_(std::move(s)), seq_(seq) {}

  void accept(std::shared_ptr<ws_handler> handler) override {
    if (!handler || !sink_->claim()) return;
    if (auto s = session_.lock()) {
      auto ex = s->executor();
      net::dispatch(ex, [s = std::move(s), seq = seq_, h = std::move(handler)]() mutable {
        s->sink_accept_ws(seq, std::move(h));
      });
    }
  }

  void reject(int status, std::string body, header_list extra) override {
    sink_->respond(status, std::move(body), std::move(extra), "application/json");
  }

 private:
  std::shared_ptr<edge_sink> sink_;
  std::weak_ptr<session> session_;
  std::uint64_t seq_;
};

// ---------------------------------------------------------------- session

void session::sink_accept_ws(std::uint64_t seq, std::shared_ptr<ws_handler> handler) {
  if (!accepts(seq) || phase_ != phase::handling || !upgrade_req_) return;
  // The exchange is over for the HTTP side: 101 is its response.
  status_ = 101;
  resp_open_ = false;
  state_->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  log_access(101);
  if (sink_) {
    sink_->complete();
    sink_.reset();
  }
  closed_ = true;  // every pending HTTP callback is now a no-op
  phase_ = phase::closing;
  timer_.cancel();
  ws_handler_ = std::move(handler);
  if (watch_pending_) {
    // The hang-up watch holds the socket: hand over once it is cancelled.
    beast::error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  hand_over();
}

void session::dispatch() {
  auto msg = parser_->release();
  parser_.reset();

  actors::inbound_request req;
  req.method.assign(msg.method_string().data(), msg.method_string().size());
  req.target.assign(msg.target().data(), msg.target().size());
  const auto q = req.target.find('?');
  if (q == std::string::npos) {
    req.path = req.target;
  } else {
    req.path = req.target.substr(0, q);
    req.query = req.target.substr(q + 1);
  }
  std::string_view rid;
  std::size_t fields = 0;
  for (auto it = msg.begin(); it != msg.end(); ++it) ++fields;
  req.headers.reserve(fields);
  for (const auto& f : msg) {
    header h;
    const auto name = f.name_string();
    h.name.resize(name.size());
    for (std::size_t i = 0; i < name.size(); ++i) h.name[i] = lower(name[i]);
    h.value.assign(f.value().data(), f.value().size());
    req.headers.push_back(std::move(h));
  }
  for (const auto& h : req.headers) {
    if (h.name == "x-request-id") {
      rid = h.value;
      break;
    }
  }
  req.request_id = sane_request_id(rid) ? std::string(rid) : make_request_id();
  req.body = std::move(msg.body());
  req.received = clock::now();
  const bool upgrade = opts_.on_upgrade && beast::websocket::is_upgrade(msg);

  ++seq_;
  ++served_;
  phase_ = phase::handling;
  resp_open_ = true;
  keep_alive_ = msg.keep_alive() && !state_->stopping.load(std::memory_order_acquire) && !upgrade;
  version_ = msg.version();
  chunked_ = version_ >= 11;
  head_request_ = msg.method() == http::verb::head;
  streaming_ = false;
  ended_ = false;
  status_ = 0;
  handling_since_ = req.received;
  request_id_ = req.request_id;
  if (opts_.access_log) {
    log_method_ = req.method;
    log_path_ = req.path;
  }
  state_->in_flight.fetch_add(1, std::memory_order_acq_rel);

  read_deadline_ = k_never;  // the watch read has none
  arm_timer(response_deadline());
  const std::uint64_t seq = seq_;
  auto sink = std::make_shared<edge_sink>(weak_from_this(), seq, opts_.max_write_queue_bytes);
  sink_ = sink;
  try {
    if (upgrade) {
      upgrade_req_.emplace(std::move(msg));
      opts_.on_upgrade(std::move(req), std::make_shared<edge_upgrade>(std::move(sink), weak_from_this(), seq));
    } else {
      upgrade_req_.reset();
      state_->handler(std::move(req), std::move(sink));
    }
  } catch (...) {
    // A throwing handler must not unwind into the io thread; answer 500
    // unless it already started a response.
    if (seq == seq_ && sink_ && sink_->claim()) {
      sink_respond(seq_, 500,
                   to_openai_error_body(make_failure(errc::internal, "internal error")), {},
                   "application/json");
    }
  }
  // A response the handler completed inline (health checks, errors) needs
  // no watch: the session has already moved on to the next request.
  if (!closed_ && resp_open_ && seq == seq_) start_watch();
}

void session::on_timer(beast::error_code ec, std::uint64_t gen) {
  if (gen != timer_gen_ || closed_) return;  // re-armed since, or closing
  timer_armed_ = false;
  if (ec) return;
  const auto now = clock::now();
  // A read or write that overran its deadline: the client is too slow or
  // gone (an idle keep-alive connection, too).
  if (read_deadline_ <= now || write_deadline_ <= now) return close();
  const auto due = response_deadline();
  if (now < due) {
    arm_timer((std::min)({read_deadline_, write_deadline_, due}));
    return;
  }
  // The handler never answered: answer for it so the client is not left
  // hanging, and keep the connection usable.
  if (sink_ && sink_->claim()) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(opts_.response_timeout);
    sink_respond(seq_, 504,
                 to_openai_error_body(make_failure(
                     errc::upstream_timeout, "the gateway did not produce a response within " +
                                                 std::to_string(secs.count()) + " seconds")),
                 {}, "application/json");
  }
  if (!closed_) arm_timer((std::min)({read_deadline_, write_deadline_, response_deadline()}));
}

void session::sink_respond(std::uint64_t seq, int status, std::string body, header_list extra,
                           std::string content_type) {
  if (!accepts(seq) || phase_ != phase::handling) return;
  if (status < 100 || status > 999) status = 500;
  phase_ = phase::responding;
  status_ = status;
  const std::size_t length = body.size();
  std::string head = build_head(status, content_type, length, extra);
  if (head_request_ || body.empty()) {
    push(std::move(head), false, true);
  } else {
    push(std::move(head), false, false);
    push(std::move(body), false, true);
  }
  do_write();
}

void session::sink_start(std::uint64_t seq, int status, header_list extra,
                         std::string content_type) {
  if (!accepts(seq) || phase_ != phase::handling) return;
  if (status < 100 || status > 999) status = 500;
  phase_ = phase::responding;
  status_ = status;
  streaming_ = true;
  // HTTP/1.0 has no chunked encoding: the stream ends with the connection.
  if (!chunked_) keep_alive_ = false;
  push(build_head(status, content_type, std::nullopt, extra), false, false);
  do_write();
}

void session::sink_write(std::uint64_t seq, std::string bytes) {
  if (!accepts(seq)) return;
  const std::size_t n = bytes.size();
  if (!streaming_ || ended_ || head_request_) {
    if (sink_) sink_->refund(n);
    return;
  }
  push(std::move(bytes), chunked_, false, n);
  do_write();
}

void session::sink_end(std::uint64_t seq) {
  if (!accepts(seq) || !streaming_ || ended_) return;
  ended_ = true;
  push(chunked_ && !head_request_ ? std::string("0\r\n\r\n") : std::string(), false, true);
  do_write();
}

void session::on_write(beast::error_code ec) {
  writing_ = false;
  write_deadline_ = k_never;
  if (closed_) return;
  if (ec) return close();  // the client is gone
  const std::size_t items = writing_items_;
  writing_items_ = 0;
  if (written(items)) return;
  do_write();
}

bool session::written(std::size_t items) {
  bool done = false;
  for (std::size_t i = 0; i < items && !out_.empty(); ++i) {
    auto& it = out_.front();
    if (it.accounted && sink_) sink_->refund(it.accounted);
    done = done || it.last;
    out_.pop_front();
  }
  if (done) complete_response();
  return done;
}

void session::complete_response() {
  resp_open_ = false;
  state_->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  log_access(status_);
  if (sink_) {
    sink_->complete();
    sink_.reset();
  }
  if (!keep_alive_ || state_->stopping.load(std::memory_order_acquire)) {
    graceful_shutdown();
    return close();
  }
  if (watch_pending_) {
    if (buffer_.size() == 0) {
      // The watch read stays pending as the wait for the next request;
      // on_watch hands what it reads to read_head.
      phase_ = phase::idle;
      set_read_deadline(opts_.keep_alive_timeout);
      return;
    }
    // The watch already buffered (part of) a pipelined request: stop it
    // and parse from the buffer, reading more as needed.
    resume_after_watch_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  if (buffer_.size() > 0) {
    // Pipelined requests already buffered: continue from a fresh handler
    // so a long pipeline does not nest one response inside the other.
    net::post(ex_, [self = shared_from_this()] { self->read_head(); });
    return;
  }
  read_head();
}

void session::close() {
  if (closed_) return;
  closed_ = true;
  phase_ = phase::closing;
  if (resp_open_) {
    resp_open_ = false;
    state_->in_flight.fetch_sub(1, std::memory_order_acq_rel);
    // 499: client closed before we answered (the nginx convention).
    log_access(status_ != 0 ? status_ : 499);
    if (sink_) sink_->fire_disconnect();
  }
  sink_.reset();
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
}

// ---------------------------------------------------------------- listener

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& ioc, std::shared_ptr<server_state> state)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_(acceptor_.get_executor()),
        state_(std::move(state)) {}

  result<std::uint16_t> open(const tcp::endpoint& ep, const std::string& where) {
    beast::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return make_failure(errc::unavailable, "could not listen on " + where + ": " + ec.message());
    const auto local = acceptor_.local_endpoint(ec);
    if (ec) return make_failure(errc::unavailable, "could not listen on " + where + ": " + ec.message());
    return local.port();
  }

  void start() {
    net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->accept(); });
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_.cancel();
    });
  }

 private:
  void accept() {
    if (!acceptor_.is_open()) return;
    // Each connection gets its own strand, as in Beast's examples.
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, socket_t socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(beast::error_code ec, socket_t socket) {
    if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::shared_ptr<session> s;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      const auto id = ++state_->next_session;
      s = std::make_shared<session>(std::move(socket), state_, id);
      state_->sessions.emplace(id, s);
    }
    s->run();
    accept();
  }

  net::io_context& ioc_;
  acceptor_t acceptor_;
  timer_t retry_;
  std::shared_ptr<server_state> state_;
};

class beast_server final : public http_server {
 public:
  beast_server(std::shared_ptr<server_state> state, std::shared_ptr<listener> l,
               std::uint16_t port)
      : state_(std::move(state)), listener_(std::move(l)), port_(port) {}

  ~beast_server() override { stop_accepting(); }

  std::uint16_t port() const noexcept override { return port_; }

  void stop_accepting() override {
    if (state_->stopping.exchange(true, std::memory_order_acq_rel)) return;
    listener_->stop();
    std::vector<std::shared_ptr<session>> live;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      live.reserve(state_->sessions.size());
      for (auto& [id, w] : state_->sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) {
      auto ex = s->executor();
      net::post(ex, [s] { s->stop_if_idle(); });
    }
    ws::close_all(*state_->websockets);
  }

  std::size_t in_flight() const noexcept override {
    return state_->in_flight.load(std::memory_order_acquire);
  }

 private:
  std::shared_ptr<server_state> state_;
  std::shared_ptr<listener> listener_;
  std::uint16_t port_;
};

} // namespace

result<std::unique_ptr<http_server>> http_server::listen(adapters::io_runtime& io,
                                                         server_options options,
                                                         request_handler handler) {
  if (!handler) return make_failure(errc::internal, "http_server::listen needs a handler");
  beast::error_code ec;
  auto address = net::ip::make_address(options.host, ec);
  if (ec) {
    if (iequals(options.host, "localhost")) {
      address = net::ip::address_v4::loopback();
    } else {
      return make_failure(errc::invalid_request,
                          "listen address must be an IP address, got '" + options.host + "'");
    }
  }
  const std::string where = options.host + ":" + std::to_string(options.port);
  const tcp::endpoint endpoint(address, options.port);

  auto state = std::make_shared<server_state>();
  state->opts = std::move(options);
  state->handler = std::move(handler);
  auto& ioc = io.native().ioc;
  auto l = std::make_shared<listener>(ioc, state);
  auto port = l->open(endpoint, where);
  if (!port) return std::move(port).error();
  l->start();
  return std::unique_ptr<http_server>(new beast_server(std::move(state), std::move(l), *port));
}

} // namespace oag::runtime
