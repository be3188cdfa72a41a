/// Control server for the edge benchmark: the plainest Beast async HTTP/1.1
/// server (one single-threaded io_context, keep-alive, TCP_NODELAY, a read
/// timeout per request as in Beast's examples) answering every request with
/// the same small JSON 200. The gateway's request rate is measured against
/// this one.
///
/// Usage: oag_bench_hello [PORT]   (0 or absent: an ephemeral port)
/// Prints "listening on 127.0.0.1:PORT" once ready.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

const std::string k_body = R"({"ok":true,"message":"hello"})";

class connection : public std::enable_shared_from_this<connection> {
 public:
  explicit connection(tcp::socket socket) : stream_(std::move(socket)) {}

  void start() { read(); }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    res_ = {};
    res_.result(http::status::ok);
    res_.version(req_.version());
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = k_body;
    res_.prepare_payload();
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code e, std::size_t) {
                        if (e || !self->res_.keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

class acceptor_loop : public std::enable_shared_from_this<acceptor_loop> {
 public:
  acceptor_loop(net::io_context& ioc, tcp::endpoint ep) : acceptor_(ioc) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::make_shared<connection>(std::move(s))->start();
      }
      self->accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

} // namespace

int main(int argc, char** argv) {
  try {
    const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
    // Concurrency hint 1: single-threaded, like the gateway on one core.
    net::io_context ioc(1);
    auto loop = std::make_shared<acceptor_loop>(
        ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    loop->accept();
    std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(loop->port()));
    std::fflush(stdout);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oag_bench_hello: %s\n", e.what());
    return 1;
  }
  return 0;
}
