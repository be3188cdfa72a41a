/// The outbound HTTP/1.1 client: one keep-alive connection per object,
/// driven on its own strand. Plain TCP or TLS (OpenSSL, peer certificate and
/// host name verified). Response bodies are streamed piece by piece through
/// a buffer_body parser so chunked encoding is decoded and SSE events reach
/// the caller as soon as they arrive.

#include <array>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "oag/adapters/io_runtime_asio.hpp"

namespace oag::adapters {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// Concrete executor types (no any_io_executor type erasure on the hot path).
using strand_t = net::strand<net::io_context::executor_type>;
using plain_stream = beast::basic_stream<tcp, strand_t>;
using tls_stream = beast::ssl_stream<plain_stream>;
using resolver_t = net::ip::basic_resolver<tcp, strand_t>;
using timer_t = net::basic_waitable_timer<std::chrono::steady_clock,
                                          net::wait_traits<std::chrono::steady_clock>, strand_t>;

// Generous but finite: a response head with more header bytes than this is
// garbage or an attack; bodies (incl. long streams) get a large cap so a
// runaway upstream cannot fill memory of a caller that buffers.
constexpr std::uint32_t k_header_limit = 64 * 1024;
constexpr std::uint64_t k_body_limit = 256ull * 1024 * 1024;
constexpr std::size_t k_body_piece = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool has_line_break(std::string_view s) noexcept {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// Callbacks belong to the caller; an exception thrown there must not unwind
// into Asio (it would skip our state cleanup and end the io thread's run).
template <class F, class... Args>
void call_quietly(F& f, Args&&... args) noexcept {
  if (!f) return;
  try {
    f(std::forward<Args>(args)...);
  } catch (...) {
  }
}

class beast_connection final : public upstream_connection {
 public:
  beast_connection(net::io_context& ioc, url origin, std::shared_ptr<tls_client_context> tls)
      : strand_(net::make_strand(ioc)),
        resolver_(strand_),
        resolve_timer_(strand_),
        origin_(std::move(origin)),
        origin_text_(origin_.origin()),
        tls_ctx_(std::move(tls)) {
    const bool default_port = (origin_.tls() && origin_.port == "443") ||
                              (!origin_.tls() && origin_.port == "80");
    host_header_ = origin_.host.find(':') != std::string::npos ? "[" + origin_.host + "]"
                                                               : origin_.host;
    if (!default_port && !origin_.port.empty()) host_header_ += ":" + origin_.port;
  }

  void start(outbound_request request, http_timeouts timeouts, upstream_observer observer,
             std::function<void(std::shared_ptr<upstream_connection>)> on_reusable) override {
    net::post(strand_, [self = self_ptr(), request = std::move(request), timeouts,
                        observer = std::move(observer),
                        on_reusable = std::move(on_reusable)]() mutable {
      self->begin(std::move(request), timeouts, std::move(observer), std::move(on_reusable));
    });
  }

  void cancel() override {
    net::post(strand_, [self = self_ptr()] { self->do_cancel(); });
  }

  const url& origin() const noexcept override { return origin_; }

 private:
  std::shared_ptr<beast_connection> self_ptr() {
    return std::static_pointer_cast<beast_connection>(shared_from_this());
  }

  plain_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *tcp_; }
  bool is_open() const {
    if (tls_) return beast::get_lowest_layer(*tls_).socket().is_open();
    return tcp_ && tcp_->socket().is_open();
  }

  // Runs `f` with whichever stream this connection uses; both branches are
  // instantiated, so `f` must be generic.
  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*tcp_);
    }
  }

  // ---- exchange lifecycle (all on the strand) ----

  void begin(outbound_request request, http_timeouts timeouts, upstream_observer observer,
             std::function<void(std::shared_ptr<upstream_connection>)> on_reusable) {
    if (busy_) {
      // Contract violation by the caller; report it on the new exchange
      // without disturbing the one in progress.
      call_quietly(observer.on_done,
                   std::optional<failure>(make_failure(
                       errc::internal, "upstream connection already has an exchange in progress")));
      return;
    }
    busy_ = true;
    cancelled_ = false;
    retried_ = false;
    observer_ = std::move(observer);
    on_reusable_ = std::move(on_reusable);
    timeouts_ = timeouts;
    head_request_ = request.method == "HEAD";

    std::optional<failure> bad;
    try {
      bad = build_request(std::move(request));
    } catch (const std::exception& e) {
      // Beast throws length_error for header fields over 64 KiB; the
      // message never contains header values.
      bad = make_failure(errc::internal, std::string("could not build the upstream request: ") +
                                             e.what());
    }
    if (bad) return fail(std::move(*bad));
    if (origin_.tls() && !tls_ctx_) {
      return fail(make_failure(errc::internal,
                               "no TLS context configured for upstream " + origin_text_));
    }
    if (is_open()) {
      reused_ = true;
      send();
    } else {
      reused_ = false;
      connect();
    }
  }

  std::optional<failure> build_request(outbound_request request) {
    req_ = {};
    req_.version(11);
    const auto verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) {
      if (request.method.empty() || has_line_break(request.method) ||
          request.method.find(' ') != std::string::npos) {
        return make_failure(errc::internal, "invalid upstream request method");
      }
      req_.method_string(request.method);
    } else {
      req_.method(verb);
    }
    if (has_line_break(request.target) || request.target.find(' ') != std::string::npos) {
      return make_failure(errc::internal, "invalid upstream request target");
    }
    req_.target(request.target.empty() ? beast::string_view("/")
                                       : beast::string_view(request.target.data(), request.target.size()));
    bool has_host = false;
    bool has_agent = false;
    for (const auto& h : request.headers) {
      // Never echo values: they carry credentials. Names are safe to report.
      if (h.name.empty() || has_line_break(h.name) || has_line_break(h.value)) {
        return make_failure(errc::internal,
                            "upstream request header '" + h.name + "' contains a line break");
      }
      // Framing is ours: the body length and connection management must
      // match what we actually send.
      if (iequals(h.name, "content-length") || iequals(h.name, "transfer-encoding") ||
          iequals(h.name, "connection")) {
        continue;
      }
      if (iequals(h.name, "host")) has_host = true;
      if (iequals(h.name, "user-agent")) has_agent = true;
      req_.insert(h.name, h.value);
    }
    if (!has_host) req_.set(http::field::host, host_header_);
    if (!has_agent) req_.set(http::field::user_agent, "oag/0.1");
    req_.body() = std::move(request.body);
    req_.prepare_payload();
    req_.keep_alive(true);
    return std::nullopt;
  }

  void connect() {
    if (!endpoints_.empty()) return open_socket();
    // Asio's resolver has no deadline of its own; the connect timeout
    // covers name resolution too.
    resolve_timed_out_ = false;
    resolve_timer_.expires_after(timeouts_.connect);
    resolve_timer_.async_wait([self = self_ptr()](boost::system::error_code ec) {
      if (ec) return;
      self->resolve_timed_out_ = true;
      self->resolver_.cancel();
    });
    resolver_.async_resolve(
        origin_.host, origin_.port,
        [self = self_ptr()](boost::system::error_code ec, resolver_t::results_type results) {
          self->resolve_timer_.cancel();
          self->on_resolve(ec, std::move(results));
        });
  }

  void on_resolve(boost::system::error_code ec, resolver_t::results_type results) {
    if (cancelled_) return fail(cancelled_failure());
    if (resolve_timed_out_) {
      return fail(make_failure(errc::upstream_timeout, "timed out resolving upstream " +
                                                           origin_text_ + " after " +
                                                           ms_text(timeouts_.connect)));
    }
    if (ec) {
      return fail(make_failure(errc::upstream_error, "could not connect to upstream " +
                                                         origin_text_ + ": " + ec.message()));
    }
    endpoints_ = std::move(results);
    open_socket();
  }

  void open_socket() {
    // No operation is pending on the old stream here, so replacing it is safe.
    tls_.reset();
    tcp_.reset();
    buffer_.clear();
    if (origin_.tls()) {
      tls_.emplace(strand_, tls_ctx_->native().ctx);
    } else {
      tcp_.emplace(strand_);
    }
    lowest().expires_after(timeouts_.connect);
    lowest().async_connect(endpoints_,
                           [self = self_ptr()](boost::system::error_code ec, const tcp::endpoint&) {
                             self->on_connect(ec);
                           });
  }

  void on_connect(boost::system::error_code ec) {
    if (cancelled_) return fail(cancelled_failure());
    if (ec == beast::error::timeout) {
      return fail(make_failure(errc::upstream_timeout, "timed out connecting to upstream " +
                                                           origin_text_ + " after " +
                                                           ms_text(timeouts_.connect)));
    }
    if (ec) {
      return fail(make_failure(errc::upstream_error, "could not connect to upstream " +
                                                         origin_text_ + ": " + ec.message()));
    }
    boost::system::error_code ignored;
    lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (!tls_) return send();

    SSL* ssl_handle = tls_->native_handle();
    const bool ip = is_ip_literal(origin_.host);
    // SNI must not carry IP literals (RFC 6066); IPs are matched against the
    // certificate's IP SANs instead of DNS names.
    if (!ip && SSL_set_tlsext_host_name(ssl_handle, origin_.host.c_str()) != 1) {
      return fail(make_failure(errc::internal, "could not set TLS SNI for " + origin_text_));
    }
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle),
                                                      origin_.host.c_str())
                      : SSL_set1_host(ssl_handle, origin_.host.c_str());
    if (ok != 1) {
      return fail(make_failure(errc::internal,
                               "could not set TLS host name check for " + origin_text_));
    }
    tls_->set_verify_mode(ssl::verify_peer, ignored);
    lowest().expires_after(timeouts_.connect);
    tls_->async_handshake(ssl::stream_base::client,
                          [self = self_ptr()](boost::system::error_code e) {
                            self->on_handshake(e);
                          });
  }

  void on_handshake(boost::system::error_code ec) {
    if (cancelled_) return fail(cancelled_failure());
    if (ec == beast::error::timeout) {
      return fail(make_failure(errc::upstream_timeout, "timed out in the TLS handshake with "
                                                       "upstream " +
                                                           origin_text_));
    }
    if (ec) {
      const long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) {
        return fail(make_failure(errc::upstream_error,
                                 "TLS certificate of upstream " + origin_text_ +
                                     " was rejected: " + X509_verify_cert_error_string(verify)));
      }
      return fail(make_failure(errc::upstream_error, "TLS handshake with upstream " +
                                                         origin_text_ + " failed: " +
                                                         ec.message()));
    }
    send();
  }

  void send() {
    // One deadline for writing the request and receiving the head: the
    // stream keeps it until the head read completes.
    lowest().expires_after(timeouts_.first_byte);
    with_stream([this](auto& s) {
      http::async_write(s, req_, [self = self_ptr()](boost::system::error_code ec, std::size_t) {
        self->on_write(ec);
      });
    });
  }

  void on_write(boost::system::error_code ec) {
    if (cancelled_) return fail(cancelled_failure());
    if (ec) {
      if (try_reconnect(ec)) return;
      if (ec == beast::error::timeout) return fail(first_byte_timeout());
      return fail(make_failure(errc::upstream_error, "error sending the request to upstream " +
                                                         origin_text_ + ": " + ec.message()));
    }
    parser_.emplace();
    parser_->header_limit(k_header_limit);
    parser_->body_limit(k_body_limit);
    // A HEAD response announces a length but carries no body.
    if (head_request_) parser_->skip(true);
    with_stream([this](auto& s) {
      http::async_read_header(s, buffer_, *parser_,
                              [self = self_ptr()](boost::system::error_code e, std::size_t n) {
                                self->on_head(e, n);
                              });
    });
  }

  void on_head(boost::system::error_code ec, std::size_t consumed) {
    if (cancelled_) return fail(cancelled_failure());
    if (ec) {
      if (consumed == 0 && try_reconnect(ec)) return;
      if (ec == beast::error::timeout) return fail(first_byte_timeout());
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == net::error::eof || ec == net::error::connection_reset) {
        return fail(make_failure(errc::upstream_error, "upstream " + origin_text_ +
                                                           " closed the connection before "
                                                           "sending a response"));
      }
      if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return fail(make_failure(errc::upstream_error, "upstream " + origin_text_ +
                                                           " sent an invalid HTTP response: " +
                                                           ec.message()));
      }
      return fail(make_failure(errc::upstream_error, "error reading from upstream " +
                                                         origin_text_ + ": " + ec.message()));
    }
    const auto& msg = parser_->get();
    header_list headers;
    for (const auto& f : msg) {
      headers.push_back(header{std::string(f.name_string()), std::string(f.value())});
    }
    call_quietly(observer_.on_head, msg.result_int(), std::move(headers));
    read_body();
  }

  void read_body() {
    if (cancelled_) return fail(cancelled_failure());
    if (parser_->is_done()) return finish();
    auto& body = parser_->get().body();
    body.data = body_buf_.data();
    body.size = body_buf_.size();
    body.more = true;
    // Re-armed on every read: the idle timeout bounds silence, not the
    // length of a stream.
    lowest().expires_after(timeouts_.idle);
    with_stream([this](auto& s) {
      // read_some (not read): deliver each piece as soon as it is parsed
      // instead of waiting for the piece buffer to fill.
      http::async_read_some(s, buffer_, *parser_,
                            [self = self_ptr()](boost::system::error_code e, std::size_t) {
                              self->on_body(e);
                            });
    });
  }

  void on_body(boost::system::error_code ec) {
    // need_buffer only says our piece buffer is full; we drain it below.
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = body_buf_.size() - parser_->get().body().size;
    if (cancelled_) return fail(cancelled_failure());
    if (got > 0) call_quietly(observer_.on_body, std::string(body_buf_.data(), got));
    if (ec) {
      if (ec == beast::error::timeout) {
        return fail(make_failure(errc::upstream_timeout, "upstream " + origin_text_ +
                                                             " sent nothing for " +
                                                             ms_text(timeouts_.idle)));
      }
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == net::error::eof || ec == net::error::connection_reset) {
        return fail(make_failure(errc::upstream_error, "upstream " + origin_text_ +
                                                           " closed the connection mid-response"));
      }
      return fail(make_failure(errc::upstream_error, "error reading the response body from "
                                                     "upstream " +
                                                         origin_text_ + ": " + ec.message()));
    }
    read_body();
  }

  // A pooled connection the server closed while idle fails on first use
  // with nothing received. The request was not processed, so one fresh
  // attempt is safe, even for POST.
  bool try_reconnect(boost::system::error_code ec) {
    if (!reused_ || retried_ || cancelled_ || ec == beast::error::timeout) return false;
    retried_ = true;
    reused_ = false;
    close_socket();
    connect();
    return true;
  }

  void finish() {
    const bool reusable = !cancelled_ && parser_->get().keep_alive() && !parser_->need_eof() &&
                          buffer_.size() == 0 && is_open();
    if (!reusable) close_socket();
    busy_ = false;
    auto observer = std::move(observer_);
    auto on_reusable = std::move(on_reusable_);
    observer_ = {};
    on_reusable_ = nullptr;
    parser_.reset();
    call_quietly(observer.on_done, std::optional<failure>{});
    if (reusable) call_quietly(on_reusable, std::static_pointer_cast<upstream_connection>(self_ptr()));
  }

  void fail(failure f) {
    close_socket();
    busy_ = false;
    auto observer = std::move(observer_);
    observer_ = {};
    on_reusable_ = nullptr;
    parser_.reset();
    call_quietly(observer.on_done, std::optional<failure>(std::move(f)));
  }

  void do_cancel() {
    if (busy_) {
      cancelled_ = true;
      resolver_.cancel();
      resolve_timer_.cancel();
    }
    // Closing makes the pending operation complete with an error, which
    // then reports the cancellation; an idle connection is simply dropped.
    close_socket();
  }

  void close_socket() {
    if (!tls_ && !tcp_) return;
    boost::system::error_code ignored;
    auto& s = lowest();
    if (s.socket().is_open()) s.socket().shutdown(tcp::socket::shutdown_both, ignored);
    s.close();
  }

  failure cancelled_failure() const {
    return make_failure(errc::upstream_error,
                        "request to upstream " + origin_text_ + " was cancelled");
  }

  failure first_byte_timeout() const {
    return make_failure(errc::upstream_timeout, "upstream " + origin_text_ +
                                                    " did not answer within " +
                                                    ms_text(timeouts_.first_byte));
  }

  strand_t strand_;
  resolver_t resolver_;
  timer_t resolve_timer_;
  url origin_;
  std::string origin_text_;
  std::string host_header_;
  std::shared_ptr<tls_client_context> tls_ctx_;
  resolver_t::results_type endpoints_;

  std::optional<plain_stream> tcp_;
  std::optional<tls_stream> tls_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, k_body_piece> body_buf_{};

  http_timeouts timeouts_;
  upstream_observer observer_;
  std::function<void(std::shared_ptr<upstream_connection>)> on_reusable_;
  bool busy_ = false;
  bool cancelled_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool resolve_timed_out_ = false;
  bool head_request_ = false;
};

} // namespace

std::shared_ptr<upstream_connection> upstream_connection::create(
    io_runtime& io, const url& origin, std::shared_ptr<tls_client_context> tls) {
  return std::make_shared<beast_connection>(io.native().ioc, origin, std::move(tls));
}

} // namespace oag::adapters
