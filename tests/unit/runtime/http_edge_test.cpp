// The Beast edge and the outbound client, tested against each other over
// loopback: the edge echoes, the client calls it. Synchronisation is by
// promises with deadlines, never by sleeping.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "http_server.hpp"
#include "oag/adapters/http_client.hpp"

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using oag::errc;
using oag::failure;
using oag::adapters::find_header;
using oag::adapters::header;
using oag::adapters::header_list;
using oag::adapters::http_timeouts;
using oag::adapters::io_runtime;
using oag::adapters::outbound_request;
using oag::adapters::parse_url;
using oag::adapters::tls_client_context;
using oag::adapters::upstream_connection;
using oag::adapters::upstream_observer;
using oag::adapters::url;
using oag::runtime::http_server;
using oag::runtime::server_options;
using sink_ptr = std::shared_ptr<oag::actors::response_sink>;

constexpr auto k_wait = 5s;

template <class T>
bool ready(std::future<T>& f, std::chrono::milliseconds d = k_wait) {
  return f.wait_for(d) == std::future_status::ready;
}

/// For state the edge updates just after the client can observe the
/// response: true once `pred` holds, false if it does not within k_wait.
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + k_wait;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

struct outcome {
  int status = 0;
  header_list headers;
  std::vector<std::string> pieces;
  std::optional<failure> error;
  std::string body() const {
    std::string all;
    for (const auto& p : pieces) all += p;
    return all;
  }
};

/// One client exchange in progress.
struct exchange {
  std::shared_ptr<outcome> out = std::make_shared<outcome>();
  std::shared_ptr<std::promise<void>> done = std::make_shared<std::promise<void>>();
  std::shared_ptr<std::promise<std::shared_ptr<upstream_connection>>> reuse =
      std::make_shared<std::promise<std::shared_ptr<upstream_connection>>>();
  std::future<void> done_f = done->get_future();
  std::future<std::shared_ptr<upstream_connection>> reuse_f = reuse->get_future();

  outcome wait() {
    REQUIRE(ready(done_f));
    return *out;
  }
};

outbound_request make_request(std::string method, const url& origin, std::string target,
                              std::string body = {}, header_list headers = {}) {
  outbound_request r;
  r.method = std::move(method);
  r.origin = origin;
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

exchange start(const std::shared_ptr<upstream_connection>& conn, outbound_request req,
               http_timeouts t = {},
               std::function<void(const std::string&)> on_piece = nullptr) {
  exchange ex;
  upstream_observer obs;
  auto out = ex.out;
  obs.on_head = [out](int status, header_list h) {
    out->status = status;
    out->headers = std::move(h);
  };
  obs.on_body = [out, on_piece](std::string bytes) {
    out->pieces.push_back(bytes);
    if (on_piece) on_piece(bytes);
  };
  auto done = ex.done;
  obs.on_done = [out, done](std::optional<failure> f) {
    out->error = std::move(f);
    done->set_value();
  };
  auto reuse = ex.reuse;
  conn->start(std::move(req), t, std::move(obs),
              [reuse](std::shared_ptr<upstream_connection> c) { reuse->set_value(std::move(c)); });
  return ex;
}

/// Runs the edge on two io threads for one test.
struct edge {
  io_runtime io{2};
  std::unique_ptr<http_server> server;
  url origin;
  std::mutex mu;
  std::vector<std::thread> workers;  ///< handler helper threads, joined at the end
  std::vector<sink_ptr> parked;      ///< sinks of requests never answered

  edge(server_options opts, oag::runtime::request_handler handler) {
    io.start();
    opts.port = 0;
    auto r = http_server::listen(io, std::move(opts), std::move(handler));
    REQUIRE(r.ok());
    server = std::move(r.value());
    origin = parse_url("http://127.0.0.1:" + std::to_string(server->port())).value();
  }
  ~edge() {
    for (auto& t : workers) t.join();
    server.reset();
    io.stop();
  }
  void spawn(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    workers.emplace_back(std::move(fn));
  }
  void park(sink_ptr s) {
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(s));
  }
  std::shared_ptr<upstream_connection> connect() {
    return upstream_connection::create(io, origin, nullptr);
  }
};

std::string echo_text(const oag::actors::inbound_request& r) {
  std::string x_test = "-";
  for (const auto& h : r.headers) {
    if (h.name == "x-test") x_test = h.value;  // names arrive lower-case
  }
  return r.method + " " + r.path + " q=" + r.query + " h=" + x_test + " body=" + r.body;
}

/// Plain socket helper for what the client cannot send (garbage, raw
/// pipelining). Reads until EOF with a receive timeout so a bug fails the
/// test instead of hanging it.
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  net::write(s, net::buffer(bytes));
  std::string out;
  boost::system::error_code ec;
  net::read(s, net::dynamic_buffer(out), ec);
  return out;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

oag::runtime::request_handler echo_handler() {
  return [](oag::actors::inbound_request r, sink_ptr sink) {
    const std::string rid = r.request_id;
    sink->respond(200, echo_text(r), {{"x-echo-id", rid}}, "text/plain");
  };
}

/// A raw keep-alive client for what the exchange tests drive by hand: one
/// socket, a receive timeout so a stalled server fails the test instead of
/// hanging it, and a reader that returns one Content-Length response.
struct raw_client {
  net::io_context ioc;
  tcp::socket s{ioc};
  std::string buf;

  explicit raw_client(std::uint16_t port) {
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& bytes) { net::write(s, net::buffer(bytes)); }
  /// The next response, or "" when the connection ended or stalled first.
  std::string response() {
    boost::system::error_code ec;
    const auto head_end = net::read_until(s, net::dynamic_buffer(buf), "\r\n\r\n", ec);
    if (ec) return {};
    std::size_t length = 0;
    const auto cl = buf.find("Content-Length: ");
    if (cl != std::string::npos && cl < head_end) length = std::stoul(buf.substr(cl + 16));
    if (buf.size() < head_end + length)
      net::read(s, net::dynamic_buffer(buf), net::transfer_exactly(head_end + length - buf.size()), ec);
    if (ec) return {};
    std::string one = buf.substr(0, head_end + length);
    buf.erase(0, head_end + length);
    return one;
  }
  /// True when the server closes the connection (EOF) before the timeout.
  bool closed_by_server() {
    boost::system::error_code ec;
    net::read(s, net::dynamic_buffer(buf), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }
};

/// Answers requests from its own thread, as actors do: the sink is called
/// off the session strand, while the edge watches the connection.
struct deferred_responder {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<oag::actors::inbound_request, sink_ptr>> queue;
  bool stop = false;
  std::thread worker{[this] { run(); }};

  ~deferred_responder() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_one();
    worker.join();
  }
  oag::runtime::request_handler handler() {
    return [this](oag::actors::inbound_request r, sink_ptr sink) {
      {
        std::lock_guard<std::mutex> lock(mu);
        queue.emplace_back(std::move(r), std::move(sink));
      }
      cv.notify_one();
    };
  }
  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [this] { return stop || !queue.empty(); });
      if (queue.empty()) return;
      auto [r, sink] = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      sink->respond(200, echo_text(r), {}, "text/plain");
      lock.lock();
    }
  }
};

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

/// Runs `n` sequential keep-alive GETs on one socket (pausing `pause`
/// before every `every`-th) and checks each answer; returns how many came.
int sequential_gets(std::uint16_t port, int n, int every = 0,
                    std::chrono::microseconds pause = std::chrono::microseconds(0)) {
  raw_client c(port);
  for (int i = 0; i < n; ++i) {
    if (every > 0 && i % every == 0 && pause.count() > 0) std::this_thread::sleep_for(pause);
    const std::string path = "/seq/" + std::to_string(i);
    c.send(get(path));
    const auto r = c.response();
    if (r.rfind("HTTP/1.1 200 OK", 0) != 0 || r.find("GET " + path + " q=") == std::string::npos)
      return i;
  }
  return n;
}

/// Writes `n` GETs in one send and checks the answers come back in order.
void pipelined_gets(std::uint16_t port, int n) {
  raw_client c(port);
  std::string all;
  for (int i = 0; i < n; ++i) all += get("/pipe/" + std::to_string(i));
  c.send(all);
  for (int i = 0; i < n; ++i) {
    const auto r = c.response();
    INFO("response " << i);
    REQUIRE(r.rfind("HTTP/1.1 200 OK", 0) == 0);
    REQUIRE(r.find("GET /pipe/" + std::to_string(i) + " q=") != std::string::npos);
  }
  // Still usable afterwards.
  c.send(get("/after"));
  CHECK(c.response().find("GET /after q=") != std::string::npos);
}

} // namespace

TEST_CASE("edge: plain request and response through the client", "[edge]") {
  edge e({}, echo_handler());
  auto conn = e.connect();
  auto ex = start(conn, make_request("POST", e.origin, "/v1/echo?x=1&y=2", "hello body",
                                     {{"X-Test", "yes"}}));
  auto out = ex.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.status == 200);
  CHECK(out.body() == "POST /v1/echo q=x=1&y=2 h=yes body=hello body");
  auto rid = find_header(out.headers, "x-request-id");
  REQUIRE(rid);
  CHECK(rid->substr(0, 4) == "req_");
  CHECK(find_header(out.headers, "x-echo-id") == rid);
  CHECK(find_header(out.headers, "content-type") == std::string_view("text/plain"));
}

TEST_CASE("edge: keep-alive reuse of one connection", "[edge]") {
  edge e({}, echo_handler());
  auto conn = e.connect();
  auto first = start(conn, make_request("GET", e.origin, "/one"));
  auto out1 = first.wait();
  REQUIRE_FALSE(out1.error);
  CHECK(out1.body() == "GET /one q= h=- body=");
  REQUIRE(ready(first.reuse_f));
  auto again = first.reuse_f.get();
  CHECK(again == conn);

  auto second = start(again, make_request("POST", e.origin, "/two", "b2"));
  auto out2 = second.wait();
  REQUIRE_FALSE(out2.error);
  CHECK(out2.body() == "POST /two q= h=- body=b2");
  REQUIRE(ready(second.reuse_f));
  // The edge retires a request just after its last byte reaches the
  // socket, which may be after the client has read it.
  CHECK(eventually([&] { return e.server->in_flight() == 0; }));
}

TEST_CASE("edge: request id is taken from x-request-id only when sane", "[edge]") {
  edge e({}, echo_handler());
  auto conn = e.connect();
  auto ok = start(conn, make_request("GET", e.origin, "/id", {}, {{"x-request-id", "abc.DEF_12-3"}}));
  auto out = ok.wait();
  CHECK(find_header(out.headers, "x-request-id") == std::string_view("abc.DEF_12-3"));
  auto bad = start(e.connect(),
                   make_request("GET", e.origin, "/id", {}, {{"x-request-id", "no spaces!"}}));
  out = bad.wait();
  auto rid = find_header(out.headers, "x-request-id");
  REQUIRE(rid);
  CHECK(rid->substr(0, 4) == "req_");
  auto long_id = start(e.connect(), make_request("GET", e.origin, "/id", {},
                                                 {{"x-request-id", std::string(65, 'a')}}));
  out = long_id.wait();
  CHECK(find_header(out.headers, "x-request-id")->substr(0, 4) == "req_");
}

TEST_CASE("edge: streamed writes arrive as separate pieces", "[edge]") {
  const std::vector<std::string> parts = {"data: one\n\n", "data: two\n\n", "data: three\n\n"};
  // The client acknowledges each piece; the writer waits for it before the
  // next write, so every write must reach the client on its own.
  std::vector<std::promise<void>> acks(parts.size());
  std::vector<std::future<void>> ack_f;
  for (auto& a : acks) ack_f.push_back(a.get_future());
  edge* self = nullptr;
  edge e({}, [&](oag::actors::inbound_request, sink_ptr sink) {
    self->spawn([&, sink] {
      sink->start_stream(200, {{"x-kind", "sse"}});
      for (std::size_t i = 0; i < parts.size(); ++i) {
        CHECK(sink->write(parts[i]));
        if (!ready(ack_f[i])) return;
      }
      sink->end_stream();
    });
  });
  self = &e;
  std::size_t seen = 0;
  std::string got;
  auto ex = start(e.connect(), make_request("POST", e.origin, "/stream", "{}"), {},
                  [&](const std::string& piece) {
                    got += piece;
                    std::size_t want = 0;
                    for (std::size_t i = 0; i <= seen && i < parts.size(); ++i) want += parts[i].size();
                    if (seen < parts.size() && got.size() >= want) acks[seen++].set_value();
                  });
  auto out = ex.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.status == 200);
  CHECK(out.pieces == parts);
  CHECK(find_header(out.headers, "transfer-encoding") == std::string_view("chunked"));
  CHECK(find_header(out.headers, "content-type") == std::string_view("text/event-stream"));
  CHECK(find_header(out.headers, "cache-control") == std::string_view("no-cache"));
  CHECK(find_header(out.headers, "x-kind") == std::string_view("sse"));
  REQUIRE(ready(ex.reuse_f));
}

TEST_CASE("edge: many chunks decode to the exact byte stream", "[edge]") {
  std::string expected;
  for (int i = 1; i <= 300; ++i) expected += std::string(static_cast<std::size_t>(i), static_cast<char>('a' + i % 26));
  edge e({}, [](oag::actors::inbound_request, sink_ptr sink) {
    sink->start_stream(200, {}, "application/x-ndjson");
    for (int i = 1; i <= 300; ++i) {
      sink->write(std::string(static_cast<std::size_t>(i), static_cast<char>('a' + i % 26)));
    }
    sink->write("");  // must not end the stream early
    sink->end_stream();
  });
  auto conn = e.connect();
  auto ex = start(conn, make_request("GET", e.origin, "/many"));
  auto out = ex.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.body() == expected);
  // And the connection is still in a clean state for the next exchange.
  REQUIRE(ready(ex.reuse_f));
  auto again = start(conn, make_request("GET", e.origin, "/many"));
  CHECK(again.wait().body() == expected);
}

TEST_CASE("edge: oversized body gets 413 with the OpenAI error body", "[edge]") {
  server_options opts;
  opts.body_limit = 1024;
  std::atomic<int> calls{0};
  edge e(opts, [&](oag::actors::inbound_request r, sink_ptr sink) {
    ++calls;
    sink->respond(200, r.body);
  });
  auto ex = start(e.connect(), make_request("POST", e.origin, "/v1/chat/completions",
                                            std::string(4096, 'x')));
  auto out = ex.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.status == 413);
  auto expected = oag::to_openai_error_body(oag::make_failure(
      errc::payload_too_large, "request body exceeds the 1024 byte limit"));
  CHECK(out.body() == expected);
  CHECK(out.body().find("\"code\":\"payload_too_large\"") != std::string::npos);
  CHECK(out.body().find("\"type\":\"invalid_request_error\"") != std::string::npos);
  CHECK(out.body().find("\"param\":null") != std::string::npos);
  CHECK(calls == 0);

  // A body exactly at the limit is fine.
  auto ok = start(e.connect(), make_request("POST", e.origin, "/v1/x", std::string(1024, 'y')));
  auto out2 = ok.wait();
  CHECK(out2.status == 200);
  CHECK(out2.body().size() == 1024);
}

TEST_CASE("edge: malformed HTTP gets a 400 JSON error and the connection closes", "[edge]") {
  edge e({}, echo_handler());
  const auto reply = raw_exchange(e.server->port(), "this is not http at all\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 400 ", 0) == 0);
  CHECK(reply.find("Connection: close") != std::string::npos);
  CHECK(reply.find("\"type\":\"invalid_request_error\"") != std::string::npos);
  CHECK(reply.find("malformed HTTP request") != std::string::npos);
}

TEST_CASE("edge: pipelined requests are answered in order, one at a time", "[edge]") {
  edge e({}, echo_handler());
  const auto reply = raw_exchange(
      e.server->port(),
      "GET /a?1 HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
      "GET /c HTTP/1.1\r\nHost: t\r\nx-request-id: fixed-id\r\nConnection: close\r\n\r\n");
  CHECK(count_of(reply, "HTTP/1.1 200 OK") == 3);
  const auto a = reply.find("GET /a q=1");
  const auto b = reply.find("POST /b q= h=- body=xyz");
  const auto c = reply.find("GET /c q=");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(reply.find("x-request-id: fixed-id") != std::string::npos);
  CHECK(count_of(reply, "Connection: close") == 1);
}

TEST_CASE("edge: HTTP/1.0 gets a close-delimited stream", "[edge]") {
  edge e({}, [](oag::actors::inbound_request, sink_ptr sink) {
    sink->start_stream(200);
    sink->write("abc");
    sink->write("def");
    sink->end_stream();
  });
  const auto reply = raw_exchange(e.server->port(), "GET /s HTTP/1.0\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(reply.find("Transfer-Encoding") == std::string::npos);
  CHECK(reply.size() >= 6);
  CHECK(reply.substr(reply.size() - 6) == "abcdef");
}

TEST_CASE("edge: client hanging up mid-stream fires on_disconnect", "[edge]") {
  std::promise<void> gone;
  auto gone_f = gone.get_future();
  std::promise<sink_ptr> sink_p;
  auto sink_f = sink_p.get_future();
  std::promise<int> logged;
  auto logged_f = logged.get_future();
  server_options opts;
  opts.access_log = [&](std::string_view, std::string_view path, int status,
                        std::chrono::microseconds, std::string_view) {
    if (path == "/hold") logged.set_value(status);
  };
  edge e(opts, [&](oag::actors::inbound_request, sink_ptr sink) {
    sink->on_disconnect([&] { gone.set_value(); });
    sink->start_stream(200);
    sink->write("first piece");
    sink_p.set_value(sink);  // the handler keeps the stream open, writing nothing more
  });
  auto conn = e.connect();
  auto ex = start(conn, make_request("POST", e.origin, "/hold", "{}"), {},
                  [&](const std::string&) { conn->cancel(); });
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.body() == "first piece");
  REQUIRE(ready(gone_f));
  REQUIRE(ready(sink_f));
  auto sink = sink_f.get();
  CHECK(sink->disconnected());
  CHECK_FALSE(sink->write("more"));
  REQUIRE(ready(logged_f));
  CHECK(logged_f.get() == 200);
  CHECK(e.server->in_flight() == 0);
  // Registering after the fact calls at once.
  bool late = false;
  sink->on_disconnect([&] { late = true; });
  CHECK(late);
  // Calls on a sink whose session is gone are harmless no-ops.
  sink->end_stream();
  sink->respond(200, "ignored");
}

TEST_CASE("edge: a slow reader overflowing the write queue is cut off", "[edge]") {
  server_options opts;
  opts.max_write_queue_bytes = 1000;
  std::promise<std::vector<bool>> results;
  auto results_f = results.get_future();
  edge e(opts, [&](oag::actors::inbound_request, sink_ptr sink) {
    // The handler runs on the session strand, so nothing drains while it
    // writes: the queue must refuse at the sixth 200-byte write.
    sink->start_stream(200);
    std::vector<bool> r;
    for (int i = 0; i < 8; ++i) r.push_back(sink->write(std::string(200, 'z')));
    results.set_value(r);
  });
  auto ex = start(e.connect(), make_request("GET", e.origin, "/flood"));
  auto out = ex.wait();
  REQUIRE(ready(results_f));
  const auto r = results_f.get();
  CHECK(r == std::vector<bool>{true, true, true, true, true, false, false, false});
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_error);
}

TEST_CASE("edge: a handler that never answers is answered 504 by the edge", "[edge]") {
  server_options opts;
  opts.response_timeout = 1s;
  edge* self = nullptr;
  edge e(opts, [&](oag::actors::inbound_request, sink_ptr sink) { self->park(std::move(sink)); });
  self = &e;
  auto conn = e.connect();
  auto ex = start(conn, make_request("GET", e.origin, "/never"));
  auto out = ex.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.status == 504);
  CHECK(out.body().find("did not produce a response") != std::string::npos);
  // The late answer of the handler is ignored and the connection still works.
  e.parked.front()->respond(200, "late");
  REQUIRE(ready(ex.reuse_f));
}

TEST_CASE("edge: stop_accepting closes idle keep-alive connections", "[edge]") {
  edge e({}, echo_handler());
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), e.server->port()));
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  net::write(s, net::buffer(std::string("GET /idle HTTP/1.1\r\nHost: t\r\n\r\n")));
  net::streambuf buf;
  net::read_until(s, buf, "body=");
  e.server->stop_accepting();
  boost::system::error_code ec;
  net::read(s, buf, ec);  // returns once the server closes the idle connection
  CHECK(ec == net::error::eof);
  CHECK(e.server->in_flight() == 0);
}

// A keep-alive connection must keep being served however the next request
// arrives: while the previous response is still being handled (picked up by
// the read that watches for hang-ups), just after it (the read that waits
// for the next request), or in one burst with others. The handler answers
// either inline on the strand (as /healthz does) or from another thread
// (as the actors do).
TEST_CASE("edge: sequential keep-alive GETs on one socket are all answered", "[edge][keepalive]") {
  SECTION("answered inline") {
    edge e({}, echo_handler());
    CHECK(sequential_gets(e.server->port(), 3000) == 3000);
    CHECK(sequential_gets(e.server->port(), 60, 1, std::chrono::microseconds(1000)) == 60);
    CHECK(sequential_gets(e.server->port(), 200, 10, std::chrono::microseconds(200)) == 200);
  }
  SECTION("answered from another thread") {
    deferred_responder later;
    edge e({}, later.handler());
    CHECK(sequential_gets(e.server->port(), 3000) == 3000);
    CHECK(sequential_gets(e.server->port(), 60, 1, std::chrono::microseconds(1000)) == 60);
    CHECK(sequential_gets(e.server->port(), 200, 10, std::chrono::microseconds(200)) == 200);
  }
}

TEST_CASE("edge: many pipelined GETs in one send are answered in order", "[edge][keepalive]") {
  SECTION("answered inline") {
    edge e({}, echo_handler());
    pipelined_gets(e.server->port(), 300);
  }
  SECTION("answered from another thread") {
    deferred_responder later;
    edge e({}, later.handler());
    pipelined_gets(e.server->port(), 300);
  }
}

TEST_CASE("edge: the next request may arrive while the previous is answered", "[edge][keepalive]") {
  // The client sends request n+1 before reading response n: it lands in
  // the watch read while the handler is still working.
  deferred_responder later;
  edge e({}, later.handler());
  raw_client c(e.server->port());
  c.send(get("/ahead/0"));
  for (int i = 0; i < 500; ++i) {
    c.send(get("/ahead/" + std::to_string(i + 1)));
    const auto r = c.response();
    INFO("response " << i);
    REQUIRE(r.find("GET /ahead/" + std::to_string(i) + " q=") != std::string::npos);
  }
  CHECK(c.response().find("GET /ahead/500 q=") != std::string::npos);
}

TEST_CASE("edge: an idle keep-alive connection is closed after keep_alive_timeout", "[edge][keepalive]") {
  server_options opts;
  opts.keep_alive_timeout = 1s;
  SECTION("answered inline") {
    edge e(opts, echo_handler());
    raw_client c(e.server->port());
    c.send(get("/once"));
    CHECK(c.response().find("GET /once q=") != std::string::npos);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(c.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
  }
  SECTION("answered from another thread") {
    deferred_responder later;
    edge e(opts, later.handler());
    raw_client c(e.server->port());
    c.send(get("/once"));
    CHECK(c.response().find("GET /once q=") != std::string::npos);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(c.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
  }
}

TEST_CASE("edge: a request head that never completes is dropped after read_timeout", "[edge]") {
  server_options opts;
  opts.read_timeout = 1s;
  edge e(opts, echo_handler());
  raw_client c(e.server->port());
  c.send("GET /slow HTTP/1.1\r\nHost: t\r\n");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.closed_by_server());
  CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);
  CHECK(c.buf.empty());  // nobody waits for an answer: no 408, just the close
}

TEST_CASE("edge: a client that stops reading is cut off after write_timeout", "[edge]") {
  server_options opts;
  opts.write_timeout = 1s;
  opts.max_write_queue_bytes = std::size_t{1} << 30;  // the deadline, not the queue, must end it
  std::promise<void> gone;
  auto gone_f = gone.get_future();
  edge* self = nullptr;
  edge e(opts, [&](oag::actors::inbound_request, sink_ptr sink) {
    sink->on_disconnect([&] { gone.set_value(); });
    sink->start_stream(200);
    self->spawn([sink] {
      // Far more than the socket buffers hold; stops once cut off.
      const std::string piece(64 * 1024, 'w');
      for (int i = 0; i < 1024 && sink->write(piece); ++i) {
        if (sink->disconnected()) break;
      }
    });
  });
  self = &e;
  raw_client c(e.server->port());
  c.send(get("/flood"));
  REQUIRE(ready(gone_f, 10s));
  CHECK(e.server->in_flight() == 0);
}

TEST_CASE("client: connecting to a closed port is an upstream_error", "[client]") {
  io_runtime io(1);
  io.start();
  std::uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto origin = parse_url("http://127.0.0.1:" + std::to_string(port)).value();
  auto conn = upstream_connection::create(io, origin, nullptr);
  auto ex = start(conn, make_request("POST", origin, "/v1/x", "{}",
                                     {{"Authorization", "Bearer sk-secret-value"}}));
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_error);
  CHECK(oag::http_status_of(*out.error) == 502);
  CHECK(out.error->message.rfind("could not connect to upstream " + origin.origin() + ": ", 0) == 0);
  CHECK(out.error->message.find("sk-secret") == std::string::npos);
  CHECK(out.status == 0);
  io.stop();
}

TEST_CASE("client: a server that never answers is an upstream_timeout", "[client]") {
  edge* self = nullptr;
  edge e({}, [&](oag::actors::inbound_request, sink_ptr sink) { self->park(std::move(sink)); });
  self = &e;
  http_timeouts t;
  t.first_byte = 200ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto ex = start(e.connect(), make_request("GET", e.origin, "/never"), t);
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_timeout);
  CHECK(oag::http_status_of(*out.error) == 504);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("client: idle timeout between body pieces", "[client]") {
  edge* self = nullptr;
  edge e({}, [&](oag::actors::inbound_request, sink_ptr sink) {
    sink->start_stream(200);
    sink->write("only piece");
    self->park(std::move(sink));
  });
  self = &e;
  http_timeouts t;
  t.idle = 200ms;
  auto ex = start(e.connect(), make_request("GET", e.origin, "/silent"), t);
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_timeout);
  CHECK(out.status == 200);
  CHECK(out.body() == "only piece");
}

TEST_CASE("client: cancel aborts an exchange in progress", "[client]") {
  std::promise<void> arrived;
  auto arrived_f = arrived.get_future();
  edge* self = nullptr;
  edge e({}, [&](oag::actors::inbound_request, sink_ptr sink) {
    self->park(std::move(sink));
    arrived.set_value();
  });
  self = &e;
  auto conn = e.connect();
  auto ex = start(conn, make_request("GET", e.origin, "/never"));
  REQUIRE(ready(arrived_f));
  conn->cancel();
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_error);
  CHECK(out.error->message.find("cancelled") != std::string::npos);
  CHECK(ex.reuse_f.wait_for(0ms) != std::future_status::ready);
  // The connection object can still be used: it reconnects.
  auto again = start(conn, make_request("GET", e.origin, "/never"));
  conn->cancel();
  CHECK(again.wait().error);
}

namespace {

/// A minimal blocking HTTP server for scripted upstream behaviour: each
/// accepted connection is passed to the next script in order.
struct scripted_server {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;

  explicit scripted_server(std::vector<std::function<void(tcp::socket&)>> scripts) {
    thread = std::thread([this, scripts = std::move(scripts)] {
      for (const auto& script : scripts) {
        tcp::socket s(ioc);
        boost::system::error_code ec;
        acceptor.accept(s, ec);
        if (ec) return;
        timeval tv{5, 0};
        ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        try {
          script(s);
        } catch (...) {
        }
      }
    });
  }
  ~scripted_server() {
    boost::system::error_code ec;
    acceptor.close(ec);
    thread.join();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  static void read_head(tcp::socket& s) {
    net::streambuf buf;
    net::read_until(s, buf, "\r\n\r\n");
  }
};

} // namespace

TEST_CASE("client: a pooled connection closed by the server reconnects once", "[client]") {
  std::promise<void> first_closed;
  auto first_closed_f = first_closed.get_future();
  const std::string ok_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  scripted_server srv({
      [&](tcp::socket& s) {
        scripted_server::read_head(s);
        net::write(s, net::buffer(ok_reply));
        s.close();  // the server drops the idle keep-alive connection
        first_closed.set_value();
      },
      [&](tcp::socket& s) {
        scripted_server::read_head(s);
        net::write(s, net::buffer(std::string(
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nfresh\r\n0\r\n\r\n")));
      },
  });
  io_runtime io(1);
  io.start();
  auto origin = parse_url("http://127.0.0.1:" + std::to_string(srv.port())).value();
  auto conn = upstream_connection::create(io, origin, nullptr);
  auto first = start(conn, make_request("GET", origin, "/a"));
  CHECK(first.wait().body() == "ok");
  REQUIRE(ready(first.reuse_f));
  REQUIRE(ready(first_closed_f));
  auto second = start(first.reuse_f.get(), make_request("POST", origin, "/b", "payload"));
  auto out = second.wait();
  REQUIRE_FALSE(out.error);
  CHECK(out.body() == "fresh");
  io.stop();
}

TEST_CASE("client: eof in the middle of a body is an upstream_error", "[client]") {
  scripted_server srv({[](tcp::socket& s) {
    scripted_server::read_head(s);
    net::write(s, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")));
    s.close();
  }});
  io_runtime io(1);
  io.start();
  auto origin = parse_url("http://127.0.0.1:" + std::to_string(srv.port())).value();
  auto ex = start(upstream_connection::create(io, origin, nullptr), make_request("GET", origin, "/"));
  auto out = ex.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::upstream_error);
  CHECK(out.body() == "partial");
  io.stop();
}

namespace {

/// A temporary directory with a self-signed certificate for "localhost"
/// (DNS SAN only, so connecting by IP must fail host name verification).
struct temp_cert {
  std::string dir;
  std::string cert;
  std::string key;
  temp_cert() {
    char tmpl[] = "/tmp/oag-tls-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=localhost -addext subjectAltName=DNS:localhost"
        " -keyout " + key + " -out " + cert + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  ~temp_cert() {
    std::remove(cert.c_str());
    std::remove(key.c_str());
    ::rmdir(dir.c_str());
  }
};

/// Serves `n` TLS connections, one request each, answering "secure".
struct tls_server {
  net::io_context ioc;
  net::ssl::context ctx{net::ssl::context::tls_server};
  tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;

  tls_server(const temp_cert& c, int n) {
    ctx.use_certificate_chain_file(c.cert);
    ctx.use_private_key_file(c.key, net::ssl::context::pem);
    thread = std::thread([this, n] {
      for (int i = 0; i < n; ++i) {
        tcp::socket raw(ioc);
        boost::system::error_code ec;
        acceptor.accept(raw, ec);
        if (ec) return;
        timeval tv{5, 0};
        ::setsockopt(raw.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        net::ssl::stream<tcp::socket> s(std::move(raw), ctx);
        s.handshake(net::ssl::stream_base::server, ec);
        if (ec) continue;  // the client rejected our certificate
        net::streambuf buf;
        net::read_until(s, buf, "\r\n\r\n", ec);
        if (ec) continue;
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";
        net::write(s, net::buffer(reply), ec);
        s.shutdown(ec);
      }
    });
  }
  ~tls_server() {
    boost::system::error_code ec;
    acceptor.close(ec);
    thread.join();
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
};

} // namespace

TEST_CASE("client: TLS verifies the peer against the extra CA and the host name", "[client][tls]") {
  temp_cert cert;
  tls_server srv(cert, 3);
  io_runtime io(1);
  io.start();
  const auto by_name = parse_url("https://localhost:" + std::to_string(srv.port())).value();
  const auto by_ip = parse_url("https://127.0.0.1:" + std::to_string(srv.port())).value();

  {
    auto tls = tls_client_context::create(cert.cert);
    REQUIRE(tls.ok());
    auto ex = start(upstream_connection::create(io, by_name, tls.value()),
                    make_request("GET", by_name, "/secure"));
    auto out = ex.wait();
    REQUIRE_FALSE(out.error);
    CHECK(out.status == 200);
    CHECK(out.body() == "secure");
  }
  {
    // Without the extra CA the self-signed certificate is not trusted.
    auto tls = tls_client_context::create(std::nullopt);
    REQUIRE(tls.ok());
    auto ex = start(upstream_connection::create(io, by_name, tls.value()),
                    make_request("GET", by_name, "/secure"));
    auto out = ex.wait();
    REQUIRE(out.error);
    CHECK(out.error->code == errc::upstream_error);
    CHECK(out.error->message.find("TLS certificate of upstream " + by_name.origin() +
                                  " was rejected") != std::string::npos);
    CHECK(out.status == 0);
  }
  {
    // Trusted CA but the certificate does not name 127.0.0.1.
    auto tls = tls_client_context::create(cert.cert);
    REQUIRE(tls.ok());
    auto ex = start(upstream_connection::create(io, by_ip, tls.value()),
                    make_request("GET", by_ip, "/secure"));
    auto out = ex.wait();
    REQUIRE(out.error);
    CHECK(out.error->code == errc::upstream_error);
    CHECK(out.error->message.find("rejected") != std::string::npos);
  }
  io.stop();
}

TEST_CASE("client: a missing extra CA file is reported", "[client][tls]") {
  auto tls = tls_client_context::create(std::string("/nonexistent/ca.pem"));
  REQUIRE_FALSE(tls.ok());
  CHECK(tls.error().message.find("/nonexistent/ca.pem") != std::string::npos);
}

TEST_CASE("client: an unsendable request fails without touching the network", "[client]") {
  io_runtime io(1);
  io.start();
  auto origin = parse_url("http://127.0.0.1:9").value();
  auto conn = upstream_connection::create(io, origin, nullptr);
  auto injected = start(conn, make_request("GET", origin, "/", {}, {{"x-a", "v\r\nx-b: evil"}}));
  auto out = injected.wait();
  REQUIRE(out.error);
  CHECK(out.error->message.find("evil") == std::string::npos);
  auto huge = start(conn, make_request("GET", origin, "/", {}, {{"x-big", std::string(70000, 'v')}}));
  out = huge.wait();
  REQUIRE(out.error);
  CHECK(out.error->code == errc::internal);
  io.stop();
}
