#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "oag/adapters/http_client.hpp"
#include "oag/adapters/tool_http.hpp"

using namespace oag::adapters;
using namespace std::chrono_literals;
using nlohmann::json;
using oag::errc;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// ---------------------------------------------------------------------------
// Pure helpers.

http_tool_endpoint endpoint(std::string method, std::string url) {
  http_tool_endpoint e;
  e.method = std::move(method);
  e.url_template = std::move(url);
  return e;
}

http_tool_request built(const http_tool_endpoint& e, const char* args) {
  auto r = build_http_tool_request(e, json::parse(args));
  if (!r) INFO("error: " << r.error().message);
  REQUIRE(r);
  return std::move(r.value());
}

std::string build_error(const http_tool_endpoint& e, const char* args) {
  auto r = build_http_tool_request(e, json::parse(args));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_request);
  return r.error().message;
}

std::string endpoint_error(const http_tool_endpoint& e) {
  auto r = check_http_tool_endpoint(e);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_request);
  return r.error().message;
}

// ---------------------------------------------------------------------------
// A small asynchronous HTTP server on 127.0.0.1 (or another loopback
// address), port 0, on its own thread. `respond` maps each request to the
// raw bytes to answer, or nullopt to never answer (the connection is held
// open until the server goes away).

struct seen_request {
  std::string method;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;  ///< lower-case names
};

class test_server {
 public:
  using responder = std::function<std::optional<std::string>(const seen_request&)>;

  explicit test_server(responder respond, const char* ip = "127.0.0.1",
                       net::ssl::context* tls = nullptr)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address(ip), 0)),
        respond_(std::move(respond)),
        tls_(tls) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~test_server() {
    ioc_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string base() const {
    return std::string(tls_ ? "https" : "http") + "://" +
           acceptor_.local_endpoint().address().to_string() + ":" + std::to_string(port());
  }

  std::vector<seen_request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.size();
  }

  /// Resolves once a request has arrived (for tests that need to act then).
  std::future<void> first_request() { return arrived_.get_future(); }

 private:
  template <class Stream>
  struct session : std::enable_shared_from_this<session<Stream>> {
    template <class... A>
    explicit session(test_server& s, A&&... a) : srv(s), stream(std::forward<A>(a)...) {}
    test_server& srv;
    Stream stream;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    std::string reply;

    void read() {
      auto self = this->shared_from_this();
      http::async_read(stream, buf, req, [self](boost::system::error_code ec, std::size_t) {
        if (ec) return;
        seen_request r;
        r.method = std::string(self->req.method_string());
        r.target = std::string(self->req.target());
        r.body = self->req.body();
        for (const auto& f : self->req) {
          std::string name(f.name_string());
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          r.headers[name] = std::string(f.value());
        }
        auto answer = self->srv.record(r);
        if (!answer) {
          self->srv.park(self);
          return;
        }
        self->reply = std::move(*answer);
        net::async_write(self->stream, net::buffer(self->reply),
                         [self](boost::system::error_code, std::size_t) { self->close(); });
      });
    }

    void close() {
      boost::system::error_code ec;
      beast::get_lowest_layer(stream).shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(stream).close(ec);
    }
  };

  using plain_session = session<tcp::socket>;
  using tls_session = session<net::ssl::stream<tcp::socket>>;

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      if (tls_) {
        auto sess = std::make_shared<tls_session>(*this, std::move(s), *tls_);
        sess->stream.async_handshake(net::ssl::stream_base::server,
                                     [sess](boost::system::error_code e) {
                                       if (!e) sess->read();
                                     });
      } else {
        std::make_shared<plain_session>(*this, std::move(s))->read();
      }
      accept();
    });
  }

  std::optional<std::string> record(const seen_request& r) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(r);
      if (seen_.size() == 1) arrived_.set_value();
    }
    return respond_(r);
  }

  void park(std::shared_ptr<void> s) { parked_.push_back(std::move(s)); }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  responder respond_;
  net::ssl::context* tls_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<seen_request> seen_;
  std::promise<void> arrived_;
  std::vector<std::shared_ptr<void>> parked_;  // only touched on the server thread
};

std::string reply(int status, const std::string& body, const std::string& extra_headers = "",
                  const char* content_type = "application/json") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" +
         body;
}

std::string redirect(int status, const std::string& location) {
  return reply(status, "", "Location: " + location + "\r\n");
}

/// The outcome of one call_http_tool, with where and how often `done` ran.
struct call_outcome {
  std::optional<oag::result<http_tool_result>> r;
  std::thread::id thread;
};

struct pending_call {
  std::shared_ptr<std::promise<call_outcome>> p = std::make_shared<std::promise<call_outcome>>();
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::future<call_outcome> f = p->get_future();
  std::shared_ptr<http_tool_call> handle;

  call_outcome wait(std::chrono::seconds bound = 20s) {
    REQUIRE(f.wait_for(bound) == std::future_status::ready);
    return f.get();
  }
};

pending_call start_call(io_runtime& io, const http_tool_endpoint& e, const json& args,
                        const network_allowlist& allow,
                        std::shared_ptr<tls_client_context> tls = nullptr) {
  pending_call pc;
  auto p = pc.p;
  auto calls = pc.calls;
  pc.handle = call_http_tool(io, std::move(tls), e, args, allow,
                             [p, calls](oag::result<http_tool_result> r) {
                               if (calls->fetch_add(1) == 0) {
                                 p->set_value(call_outcome{std::move(r), std::this_thread::get_id()});
                               }
                             });
  return pc;
}

oag::result<http_tool_result> run_call(io_runtime& io, const http_tool_endpoint& e,
                                       const json& args, const network_allowlist& allow,
                                       std::shared_ptr<tls_client_context> tls = nullptr) {
  auto pc = start_call(io, e, args, allow, std::move(tls));
  auto out = pc.wait();
  CHECK(out.thread != std::this_thread::get_id());
  return std::move(*out.r);
}

struct running_io {
  io_runtime io{2};
  running_io() { io.start(); }
  ~running_io() { io.stop(); }
};

} // namespace

// ===========================================================================
// Endpoint definitions.

TEST_CASE("tool endpoint: well-formed definitions pass", "[tool_http]") {
  for (const char* url :
       {"https://api.example.com/weather/{city}", "http://10.0.0.1:8080/x?units=metric&q={q}",
        "https://api.example.com", "https://api.example.com?fixed=1", "http://[::1]:9000/{a.b-c_d}",
        "https://h/a%20b/{x}/{x}", "https://h/p;v=1/@me:~!$&'()*+,="}) {
    INFO(url);
    auto e = endpoint("GET", url);
    auto r = check_http_tool_endpoint(e);
    if (!r) INFO(r.error().message);
    CHECK(r);
  }
  for (const char* m : {"GET", "post", "Put", "PATCH", "delete"}) {
    CHECK(check_http_tool_endpoint(endpoint(m, "https://h/")));
  }
  auto e = endpoint("POST", "https://h/");
  e.headers = {{"Authorization", "Bearer sk-1"}, {"X-Api-Key", "k\tv"}, {"Content-Type", "application/vnd+json"}};
  CHECK(check_http_tool_endpoint(e));
}

TEST_CASE("tool endpoint: bad definitions are refused", "[tool_http]") {
  CHECK(endpoint_error(endpoint("TRACE", "https://h/")).find("method") != std::string::npos);
  CHECK(endpoint_error(endpoint("", "https://h/")).find("method") != std::string::npos);
  struct bad_url {
    const char* url;
    const char* says;
  };
  for (auto [url, says] : std::vector<bad_url>{
           {"", "empty"},
           {"ftp://h/x", "unsupported scheme"},
           {"api.example.com/x", "http:// or https://"},
           {"https://{host}/x", "only allowed in the path and query"},
           {"https://h:{port}/x", "only allowed in the path and query"},
           {"https://user:pw@h/x", "credentials"},
           {"https://h/x#frag", "fragment"},
           {"https://h/a b", "printable ASCII"},
           {"https://h/caf\xc3\xa9", "printable ASCII"},
           {"https://h/x\r\nHost: evil", "printable ASCII"},
           {"https://h/{city", "without a matching '}'"},
           {"https://h/city}", "without a matching '{'"},
           {"https://h/{}", "1 to 64 characters"},
           {"https://h/{a/b}", "invalid placeholder"},
           {"https://h/{a{b}}", "invalid placeholder"},
           {"https://h/%zz", "percent-escape"},
           {"https://h/%2", "percent-escape"},
           {"https://h/a\"b", "not allowed in a URL"},
           {"https://h/a<b>", "not allowed in a URL"},
           {"https://h:99999/", "port"},
       }) {
    INFO(url);
    CHECK(endpoint_error(endpoint("GET", url)).find(says) != std::string::npos);
  }

  auto with_header = [](std::string name, std::string value) {
    auto e = endpoint("POST", "https://h/");
    e.headers = {{std::move(name), std::move(value)}};
    return e;
  };
  CHECK(endpoint_error(with_header("Bad Name", "v")).find("not a valid HTTP token") !=
        std::string::npos);
  CHECK(endpoint_error(with_header("", "v")).find("header names") != std::string::npos);
  for (const char* reserved : {"Host", "content-length", "Transfer-Encoding", "Connection"}) {
    CHECK(endpoint_error(with_header(reserved, "v")).find("set by the gateway") !=
          std::string::npos);
  }
  // Values carry secrets: the message names the header, never the value.
  auto msg = endpoint_error(with_header("Authorization", "Bearer sk-secret\r\nX-Evil: 1"));
  CHECK(msg.find("Authorization") != std::string::npos);
  CHECK(msg.find("control characters") != std::string::npos);
  CHECK(msg.find("sk-secret") == std::string::npos);
  CHECK(endpoint_error(with_header("X", std::string("a\0b", 3))).find("control") != std::string::npos);

  auto e = endpoint("GET", "https://h/");
  e.timeout = 0ms;
  CHECK(endpoint_error(e).find("timeout") != std::string::npos);
  e.timeout = 11min;
  CHECK(endpoint_error(e).find("timeout") != std::string::npos);
  e = endpoint("GET", "https://h/");
  e.max_response_bytes = 0;
  CHECK(endpoint_error(e).find("max_response_bytes") != std::string::npos);
}

// ===========================================================================
// Request building.

TEST_CASE("tool request: placeholders are percent-encoded and consumed", "[tool_http]") {
  auto e = endpoint("GET", "https://api.example.com/weather/{city}/{days}");
  auto r = built(e, R"({"city":"São Paulo/Centro?x=1&y#z","days":3,"units":"metric"})");
  CHECK(r.request.method == "GET");
  CHECK(r.request.origin.host == "api.example.com");
  CHECK(r.request.origin.port == "443");
  CHECK(r.request.origin.tls());
  CHECK(r.request.target ==
        "/weather/S%C3%A3o%20Paulo%2FCentro%3Fx%3D1%26y%23z/3?units=metric");
  CHECK(r.url == "https://api.example.com/weather/S%C3%A3o%20Paulo%2FCentro%3Fx%3D1%26y%23z/3?units=metric");
  CHECK(r.request.body.empty());

  // Booleans and floats as JSON text, unreserved characters kept, the same
  // placeholder twice, a placeholder in the query.
  auto e2 = endpoint("GET", "http://h:8080/a/{flag}/{x}/{id}-{id}?q={q}&fixed=1");
  auto r2 = built(e2, R"({"flag":true,"x":1.5,"id":"A-z_0.9~","q":"日本"})");
  CHECK(r2.request.target == "/a/true/1.5/A-z_0.9~-A-z_0.9~?q=%E6%97%A5%E6%9C%AC&fixed=1");
  CHECK(r2.url == "http://h:8080" + r2.request.target);

  // No path at all.
  CHECK(built(endpoint("GET", "https://h"), "{}").request.target == "/");
  CHECK(built(endpoint("GET", "https://h?fixed=1"), R"({"a":"b"})").request.target ==
        "/?fixed=1&a=b");
}

TEST_CASE("tool request: bad placeholder arguments", "[tool_http]") {
  auto e = endpoint("GET", "https://h/weather/{city}?day={day}");
  CHECK(build_error(e, R"({"day":1})") ==
        "missing argument \"city\" for the URL placeholder {city}");
  CHECK(build_error(e, R"({"city":null,"day":1})").find("must be a string, number or boolean") !=
        std::string::npos);
  CHECK(build_error(e, R"({"city":{"a":1},"day":1})").find("must be a string") != std::string::npos);
  CHECK(build_error(e, R"({"city":["x"],"day":1})").find("must be a string") != std::string::npos);
  // Dot segments would climb out of the registered path.
  CHECK(build_error(e, R"({"city":"..","day":1})").find("must not be") != std::string::npos);
  CHECK(build_error(e, R"({"city":".","day":1})").find("must not be") != std::string::npos);
  // In the query they are just text.
  CHECK(built(e, R"({"city":"x","day":".."})").request.target == "/weather/x?day=..");
  // "..." or "a.." are ordinary names.
  CHECK(built(e, R"({"city":"a..","day":1})").request.target == "/weather/a..?day=1");
  CHECK(build_error(e, "[1]") == "tool arguments must be a JSON object");
  CHECK(build_error(e, R"("city")") == "tool arguments must be a JSON object");
  // A bad endpoint is reported by the builder too.
  CHECK(build_error(endpoint("GET", "https://{h}/"), "{}").find("placeholders") != std::string::npos);
}

TEST_CASE("tool request: remaining arguments go to the query or the JSON body", "[tool_http]") {
  auto get = endpoint("GET", "https://h/search/{kind}");
  auto g = built(get, R"({"kind":"books","q":"a&b=c d","n":10,"exact":false,"tags":["x y",2,null],
                          "skip":null,"filter":{"year":1999}})");
  CHECK(g.request.target ==
        "/search/books?exact=false&filter=%7B%22year%22%3A1999%7D&n=10&q=a%26b%3Dc%20d&tags=x%20y&tags=2");
  CHECK(g.request.body.empty());
  CHECK_FALSE(find_header(g.request.headers, "content-type"));

  auto del = endpoint("delete", "https://h/items/{id}");
  auto d = built(del, R"({"id":7,"hard":true})");
  CHECK(d.request.method == "DELETE");
  CHECK(d.request.target == "/items/7?hard=true");

  auto post = endpoint("POST", "https://h/items/{id}");
  post.headers = {{"Authorization", "Bearer sk-1"}};
  auto p = built(post, R"({"id":"a b","name":"Ölgii","n":[1,2],"o":{"k":null}})");
  CHECK(p.request.method == "POST");
  CHECK(p.request.target == "/items/a%20b");
  CHECK(json::parse(p.request.body) == json::parse(R"({"name":"Ölgii","n":[1,2],"o":{"k":null}})"));
  CHECK(find_header(p.request.headers, "content-type") == std::optional<std::string_view>("application/json"));
  CHECK(find_header(p.request.headers, "authorization") == std::optional<std::string_view>("Bearer sk-1"));

  // Everything consumed by placeholders: an empty object body.
  auto put = endpoint("PUT", "https://h/items/{id}");
  CHECK(built(put, R"({"id":1})").request.body == "{}");
  auto patch = endpoint("PATCH", "https://h/x");
  patch.headers = {{"content-type", "application/merge-patch+json"}};
  auto pa = built(patch, "null");
  CHECK(pa.request.body == "{}");
  CHECK(find_header(pa.request.headers, "content-type") ==
        std::optional<std::string_view>("application/merge-patch+json"));
  CHECK(pa.request.headers.size() == 1);
}

// ===========================================================================
// Addresses and allowlists.

TEST_CASE("is_internal_address: internal ranges, IPv6 and mapped forms", "[tool_http]") {
  for (const char* ip :
       {"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
        "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "100.127.255.255", "224.0.0.1", "239.255.255.255", "255.255.255.255", "240.0.0.1",
        "192.0.0.8", "198.18.0.1", "198.19.255.255", "192.0.2.1", "::1", "::", "[::1]",
        "0:0:0:0:0:0:0:1", "fe80::1", "fe80::1%eth0", "[fe80::1%25eth0]", "febf::1", "fec0::1",
        "fc00::1", "fd12:3456::1", "ff02::1", "ff05::2", "::ffff:127.0.0.1", "::ffff:7f00:1",
        "::FFFF:10.1.2.3", "::ffff:169.254.169.254", "::ffff:192.168.0.1", "::127.0.0.1",
        "::10.0.0.1", "::ffff:0:10.0.0.1", "64:ff9b::a00:1", "64:ff9b::127.0.0.1",
        "64:ff9b:1::1", "2002:a00:1::1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "100::1",
        "2001:db8::1",
        // Not IP literals: fail closed.
        "not-an-ip", "", "localhost", "1.2.3", "0x7f000001", "127.0.0.1.nip.io", "[::1",
        "2130706433"}) {
    INFO(ip);
    CHECK(is_internal_address(ip));
  }
  for (const char* ip :
       {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1",
        "169.253.0.1", "169.255.0.1", "192.169.0.1", "11.0.0.1", "9.255.255.255",
        "223.255.255.255", "198.20.0.1", "192.0.3.1", "2606:4700:4700::1111",
        "2001:4860:4860::8888", "[2606:4700::1]", "::ffff:8.8.8.8", "::8.8.8.8",
        "64:ff9b::808:808", "2002:808:808::1", "2a00:1450::1"}) {
    INFO(ip);
    CHECK_FALSE(is_internal_address(ip));
  }
}

TEST_CASE("network allowlist: hosts, literals and CIDRs", "[tool_http]") {
  network_allowlist allow{{"10.0.0.0/8", "fd00::/8", "svc.internal", "*.corp.example",
                           "192.168.1.5", "[::1]", "bogus/99", "not a host", "172.20.0.0/33"}};
  struct row {
    const char* host;
    const char* ip;
    bool permitted;
  };
  for (auto [host, ip, permitted] : std::vector<row>{
           {"x", "10.1.2.3", true},
           {"x", "11.0.0.1", false},
           {"x", "fd12::1", true},
           {"x", "fc00::1", false},
           {"x", "::ffff:10.0.0.1", true},      // mapped form matches the IPv4 CIDR
           {"x", "::ffff:192.168.1.5", true},
           {"x", "192.168.1.5", true},
           {"x", "192.168.1.6", false},
           {"x", "::1", true},
           {"x", "127.0.0.1", false},
           {"svc.internal", "172.16.0.1", true},
           {"SVC.Internal.", "172.16.0.1", true},
           {"a.svc.internal", "172.16.0.1", false},
           {"db.corp.example", "172.16.0.1", true},
           {"a.b.corp.example", "172.16.0.1", true},
           {"corp.example", "172.16.0.1", false},
           {"evilcorp.example", "172.16.0.1", false},
           {"x", "172.20.0.1", false},          // malformed CIDR never matches
       }) {
    INFO(host << " " << ip);
    CHECK(allowlist_permits(allow, host, ip) == permitted);
  }
  CHECK_FALSE(allowlist_permits(network_allowlist{}, "localhost", "127.0.0.1"));
  CHECK(allowlist_permits(network_allowlist{{"LocalHost"}}, "localhost", "::1"));
  CHECK(allowlist_permits(network_allowlist{{"0.0.0.0/0"}}, "x", "127.0.0.1"));
  CHECK_FALSE(allowlist_permits(network_allowlist{{"0.0.0.0/0"}}, "x", "::1"));

  CHECK(check_network_allowlist(network_allowlist{
      {"10.0.0.0/8", "fd00::/8", "svc.internal", "*.corp", "::1", "[::1]", "localhost", "0.0.0.0/0"}}));
  for (const char* bad : {"bogus/99", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "not a host", "",
                          "*.", "a..b", "http://x"}) {
    INFO(bad);
    auto r = check_network_allowlist(network_allowlist{{bad}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_request);
  }
}

// ===========================================================================
// Real calls.

TEST_CASE("tool call: loopback is refused without an allowlist, allowed with one", "[tool_http][net]") {
  test_server srv([](const seen_request& r) {
    return reply(200, R"({"echo":)" + json(r.target).dump() + "}");
  });
  running_io rt;
  auto e = endpoint("POST", srv.base() + "/weather/{city}");
  e.headers = {{"Authorization", "Bearer sk-tool"}};
  const json args = json::parse(R"({"city":"Ulaanbaatar","days":2})");

  auto refused = run_call(rt.io, e, args, network_allowlist{});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::permission_denied);
  CHECK(oag::http_status_of(refused.error()) == 403);
  CHECK(refused.error().message.find("127.0.0.1 is an internal address") != std::string::npos);
  CHECK(refused.error().message.find("sk-tool") == std::string::npos);
  CHECK(srv.count() == 0);

  auto ok = run_call(rt.io, e, args, network_allowlist{{"127.0.0.1"}});
  if (!ok) INFO(ok.error().message);
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(json::parse(ok->body) == json::parse(R"({"echo":"/weather/Ulaanbaatar"})"));
  CHECK(ok->content_type == "application/json");
  CHECK(ok->redirects == 0);
  CHECK(ok->final_url == srv.base() + "/weather/Ulaanbaatar");
  CHECK(ok->duration >= 0ms);
  CHECK(ok->duration < 20s);
  auto seen = srv.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(json::parse(seen[0].body) == json::parse(R"({"days":2})"));
  CHECK(seen[0].headers["content-type"] == "application/json");
  CHECK(seen[0].headers["authorization"] == "Bearer sk-tool");
  CHECK(seen[0].headers["host"] == "127.0.0.1:" + std::to_string(srv.port()));

  // A CIDR covers it as well; an unrelated one does not.
  CHECK(run_call(rt.io, e, args, network_allowlist{{"127.0.0.0/8"}}));
  auto other = run_call(rt.io, e, args, network_allowlist{{"10.0.0.0/8", "127.0.0.2"}});
  REQUIRE_FALSE(other);
  CHECK(other.error().code == errc::permission_denied);
}

TEST_CASE("tool call: a host name resolving to loopback is refused unless named", "[tool_http][net]") {
  test_server srv([](const seen_request&) { return reply(200, "{}"); });
  running_io rt;
  auto e = endpoint("GET", "http://localhost:" + std::to_string(srv.port()) + "/ping");
  auto refused = run_call(rt.io, e, json::object(), network_allowlist{{"svc.internal", "10.0.0.0/8"}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::permission_denied);
  CHECK(refused.error().message.find("localhost resolves to the internal address") !=
        std::string::npos);
  CHECK(srv.count() == 0);

  auto ok = run_call(rt.io, e, json::object(), network_allowlist{{"localhost"}});
  if (!ok) INFO(ok.error().message);
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(srv.count() == 1);
}

TEST_CASE("tool call: GET sends the remaining arguments as the query", "[tool_http][net]") {
  test_server srv([](const seen_request&) { return reply(200, "[]"); });
  running_io rt;
  auto e = endpoint("GET", srv.base() + "/w/{city}?units=metric");
  auto ok = run_call(rt.io, e, json::parse(R"({"city":"Ulan Bator","days":3,"tags":["a","b"]})"),
                     network_allowlist{{"127.0.0.1"}});
  REQUIRE(ok);
  auto seen = srv.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/w/Ulan%20Bator?units=metric&days=3&tags=a&tags=b");
  CHECK(seen[0].body.empty());
  CHECK(seen[0].headers.count("content-type") == 0);
}

TEST_CASE("tool call: a non-2xx status is a result, not an error", "[tool_http][net]") {
  test_server srv([](const seen_request& r) {
    if (r.target == "/missing") return reply(404, "no such city", "", "text/plain");
    return reply(500, R"({"error":"boom"})");
  });
  running_io rt;
  const network_allowlist allow{{"127.0.0.1"}};
  auto nf = run_call(rt.io, endpoint("GET", srv.base() + "/missing"), json::object(), allow);
  REQUIRE(nf);
  CHECK(nf->status == 404);
  CHECK(nf->body == "no such city");
  CHECK(nf->content_type == "text/plain");
  auto ise = run_call(rt.io, endpoint("POST", srv.base() + "/x"), json::object(), allow);
  REQUIRE(ise);
  CHECK(ise->status == 500);
  CHECK(ise->body == R"({"error":"boom"})");
}

TEST_CASE("tool call: redirects are followed and re-checked", "[tool_http][net]") {
  test_server other([](const seen_request& r) {
    return reply(200, R"({"at":"other","method":)" + json(r.method).dump() + "}");
  });
  const std::string other_base = other.base();
  test_server srv([&](const seen_request& r) -> std::optional<std::string> {
    if (r.target == "/start") return redirect(307, "/next?x=1");
    if (r.target == "/next?x=1") return reply(200, R"({"at":"next"})");
    if (r.target == "/see-other") return redirect(303, other_base + "/done");
    if (r.target == "/moved") return redirect(302, other_base + "/done");
    if (r.target == "/internal") return redirect(302, "http://127.0.0.2:" + std::to_string(other.port()) + "/x");
    if (r.target == "/loop") return redirect(301, "/loop");
    if (r.target == "/ftp") return redirect(302, "ftp://example.com/file");
    if (r.target == "/nowhere") return reply(302, "no location here");
    return reply(404, "");
  });
  running_io rt;
  const network_allowlist both{{"127.0.0.1"}};

  SECTION("same origin, 307 keeps the method, body and headers") {
    auto e = endpoint("POST", srv.base() + "/start");
    e.headers = {{"X-Api-Key", "sk-home"}};
    auto ok = run_call(rt.io, e, json::parse(R"({"a":1})"), both);
    if (!ok) INFO(ok.error().message);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(ok->body == R"({"at":"next"})");
    CHECK(ok->redirects == 1);
    CHECK(ok->final_url == srv.base() + "/next?x=1");
    auto seen = srv.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].method == "POST");
    CHECK(seen[1].body == R"({"a":1})");
    CHECK(seen[1].headers["x-api-key"] == "sk-home");
  }
  SECTION("303 continues as GET without a body; credentials stay home") {
    auto e = endpoint("POST", srv.base() + "/see-other");
    e.headers = {{"X-Api-Key", "sk-home"}};
    auto ok = run_call(rt.io, e, json::parse(R"({"a":1})"), both);
    REQUIRE(ok);
    CHECK(ok->status == 200);
    CHECK(json::parse(ok->body)["method"] == "GET");
    CHECK(ok->final_url == other_base + "/done");
    auto home = srv.requests();
    REQUIRE(home.size() == 1);
    CHECK(home[0].headers["x-api-key"] == "sk-home");
    auto away = other.requests();
    REQUIRE(away.size() == 1);
    CHECK(away[0].method == "GET");
    CHECK(away[0].body.empty());
    CHECK(away[0].headers.count("content-type") == 0);
    CHECK(away[0].headers.count("x-api-key") == 0);
  }
  SECTION("302 after POST continues as GET") {
    auto ok = run_call(rt.io, endpoint("POST", srv.base() + "/moved"), json::object(), both);
    REQUIRE(ok);
    CHECK(json::parse(ok->body)["method"] == "GET");
  }
  SECTION("a redirect to a non-allowed internal address is refused before connecting") {
    auto r = run_call(rt.io, endpoint("GET", srv.base() + "/internal"), json::object(), both);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::permission_denied);
    CHECK(r.error().message.find("127.0.0.2") != std::string::npos);
    CHECK(srv.count() == 1);
    CHECK(other.count() == 0);
  }
  SECTION("at most three redirects") {
    auto r = run_call(rt.io, endpoint("GET", srv.base() + "/loop"), json::object(), both);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::upstream_error);
    CHECK(r.error().message.find("redirected more than 3 times") != std::string::npos);
    CHECK(srv.count() == 4);
  }
  SECTION("a redirect to another scheme is an error") {
    auto r = run_call(rt.io, endpoint("GET", srv.base() + "/ftp"), json::object(), both);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::upstream_error);
    CHECK(r.error().message.find("unusable location") != std::string::npos);
  }
  SECTION("a 3xx without Location is returned as is") {
    auto r = run_call(rt.io, endpoint("GET", srv.base() + "/nowhere"), json::object(), both);
    REQUIRE(r);
    CHECK(r->status == 302);
    CHECK(r->body == "no location here");
  }
}

TEST_CASE("tool call: the timeout covers a server that never answers", "[tool_http][net]") {
  test_server srv([](const seen_request&) -> std::optional<std::string> { return std::nullopt; });
  running_io rt;
  auto e = endpoint("GET", srv.base() + "/slow");
  e.timeout = 300ms;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_call(rt.io, e, json::object(), network_allowlist{{"127.0.0.1"}});
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::upstream_timeout);
  CHECK(oag::http_status_of(r.error()) == 504);
  CHECK(r.error().message.find("300 ms") != std::string::npos);
  CHECK(took >= 290ms);
  CHECK(took < 10s);
  CHECK(srv.count() == 1);
}

TEST_CASE("tool call: cancel ends a call in flight", "[tool_http][net]") {
  test_server srv([](const seen_request&) -> std::optional<std::string> { return std::nullopt; });
  auto arrived = srv.first_request();
  running_io rt;
  auto e = endpoint("GET", srv.base() + "/slow");
  e.timeout = 60s;
  auto pc = start_call(rt.io, e, json::object(), network_allowlist{{"127.0.0.1"}});
  REQUIRE(arrived.wait_for(20s) == std::future_status::ready);
  pc.handle->cancel();
  pc.handle->cancel();
  auto out = pc.wait();
  REQUIRE(out.r);
  REQUIRE_FALSE(*out.r);
  CHECK(out.r->error().code == errc::upstream_error);
  CHECK(out.r->error().message.find("cancelled") != std::string::npos);
  rt.io.stop();
  CHECK(pc.calls->load() == 1);
}

TEST_CASE("tool call: response bodies over the limit are an error", "[tool_http][net]") {
  test_server srv([](const seen_request& r) -> std::optional<std::string> {
    const std::string big(5000, 'x');
    if (r.target == "/chunked") {
      std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      for (int i = 0; i < 5; ++i) out += "3e8\r\n" + std::string(1000, 'y') + "\r\n";
      return out + "0\r\n\r\n";
    }
    if (r.target == "/eof") return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big;
    return reply(200, big);
  });
  running_io rt;
  const network_allowlist allow{{"127.0.0.1"}};
  for (const char* path : {"/length", "/chunked", "/eof"}) {
    INFO(path);
    auto e = endpoint("GET", srv.base() + path);
    e.max_response_bytes = 1000;
    auto r = run_call(rt.io, e, json::object(), allow);
    if (r) UNSCOPED_INFO("status " << r->status << " body bytes " << r->body.size());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::upstream_error);
    CHECK(r.error().message.find("larger than 1000 bytes") != std::string::npos);
    // Within the limit all three framings work.
    e.max_response_bytes = 5000;
    auto ok = run_call(rt.io, e, json::object(), allow);
    if (!ok) INFO(ok.error().message);
    REQUIRE(ok);
    CHECK(ok->body.size() == 5000);
  }
}

TEST_CASE("tool call: errors before any I/O still arrive on an io thread", "[tool_http][net]") {
  running_io rt;
  auto e = endpoint("GET", "https://h/{city}");
  auto pc = start_call(rt.io, e, json::object(), network_allowlist{});
  auto out = pc.wait();
  CHECK(out.thread != std::this_thread::get_id());
  REQUIRE_FALSE(*out.r);
  CHECK(out.r->error().code == errc::invalid_request);
  CHECK(out.r->error().message.find("missing argument \"city\"") != std::string::npos);

  // https without a TLS context.
  auto no_tls = run_call(rt.io, endpoint("GET", "https://127.0.0.1:1/"), json::object(),
                         network_allowlist{{"127.0.0.1"}});
  REQUIRE_FALSE(no_tls);
  CHECK(no_tls.error().code == errc::internal);

  // Nothing listens on a closed port.
  std::uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto closed = run_call(rt.io, endpoint("GET", "http://127.0.0.1:" + std::to_string(port) + "/"),
                         json::object(), network_allowlist{{"127.0.0.1"}});
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code == errc::upstream_error);
  CHECK(closed.error().message.find("could not connect") != std::string::npos);
}

namespace {

/// A self-signed certificate for "localhost" in a temporary directory.
struct temp_cert {
  std::string dir, cert, key;
  temp_cert() {
    char tmpl[] = "/tmp/oag-tool-tls-XXXXXX";
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

} // namespace

TEST_CASE("tool call: TLS verifies the certificate and the host name", "[tool_http][net][tls]") {
  temp_cert cert;
  net::ssl::context server_ctx(net::ssl::context::tls_server);
  server_ctx.use_certificate_chain_file(cert.cert);
  server_ctx.use_private_key_file(cert.key, net::ssl::context::pem);
  test_server srv([](const seen_request&) { return reply(200, R"({"secure":true})"); }, "127.0.0.1",
                  &server_ctx);
  running_io rt;
  const std::string port = std::to_string(srv.port());

  auto trusted = tls_client_context::create(cert.cert);
  REQUIRE(trusted);
  auto ok = run_call(rt.io, endpoint("GET", "https://localhost:" + port + "/s"), json::object(),
                     network_allowlist{{"localhost"}}, trusted.value());
  if (!ok) INFO(ok.error().message);
  REQUIRE(ok);
  CHECK(ok->body == R"({"secure":true})");

  // The certificate names localhost, not 127.0.0.1.
  auto by_ip = run_call(rt.io, endpoint("GET", "https://127.0.0.1:" + port + "/s"), json::object(),
                        network_allowlist{{"127.0.0.1"}}, trusted.value());
  REQUIRE_FALSE(by_ip);
  CHECK(by_ip.error().code == errc::upstream_error);
  CHECK(by_ip.error().message.find("rejected") != std::string::npos);

  // Without the extra CA the self-signed certificate is not trusted.
  auto system_only = tls_client_context::create(std::nullopt);
  REQUIRE(system_only);
  auto untrusted = run_call(rt.io, endpoint("GET", "https://localhost:" + port + "/s"),
                            json::object(), network_allowlist{{"localhost"}}, system_only.value());
  REQUIRE_FALSE(untrusted);
  CHECK(untrusted.error().code == errc::upstream_error);
  CHECK(untrusted.error().message.find("TLS certificate") != std::string::npos);
}
