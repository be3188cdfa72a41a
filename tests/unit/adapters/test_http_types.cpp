#include <catch2/catch.hpp>

#include "oag/adapters/http_types.hpp"

using namespace oag::adapters;

TEST_CASE("find_header is case-insensitive and returns the first match", "[http]") {
  header_list h{{"Content-Type", "application/json"}, {"retry-after", "3"}, {"Retry-After", "9"}};
  REQUIRE(find_header(h, "content-type") == std::optional<std::string_view>("application/json"));
  REQUIRE(find_header(h, "RETRY-AFTER") == std::optional<std::string_view>("3"));
  REQUIRE_FALSE(find_header(h, "authorization"));
  REQUIRE_FALSE(find_header(h, "content-typ"));
}

TEST_CASE("parse_url accepts http(s) bases and normalises them", "[http]") {
  auto u = parse_url("https://api.openai.com/v1");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "api.openai.com");
  CHECK(u->port == "443");
  CHECK(u->path == "/v1");
  CHECK(u->tls());
  CHECK(u->origin() == "https://api.openai.com:443");

  auto v = parse_url("HTTP://LocalHost:11434/v1/");
  REQUIRE(v);
  CHECK(v->scheme == "http");
  CHECK(v->host == "localhost");
  CHECK(v->port == "11434");
  CHECK(v->path == "/v1");
  CHECK_FALSE(v->tls());

  auto w = parse_url("http://example.com");
  REQUIRE(w);
  CHECK(w->port == "80");
  CHECK(w->path.empty());

  auto six = parse_url("http://[::1]:8080/api");
  REQUIRE(six);
  CHECK(six->host == "::1");
  CHECK(six->origin() == "http://[::1]:8080");
  CHECK(six->path == "/api");
}

TEST_CASE("parse_url rejects what it cannot connect to safely", "[http]") {
  for (const char* bad : {"ftp://x/", "api.openai.com/v1", "https://user:pw@x.com/v1",
                          "https://x.com/v1#frag", "https://x.com/v1?a=b", "https:///v1",
                          "https://:443/v1", "https://x.com:/v1", "https://x.com:0/",
                          "https://x.com:65536/", "https://x.com:12a/", "https://x .com/",
                          "https://x.com/v1\r\nHost: evil", "http://[::1/", "http://[zz]/",
                          "https://x.com//v1", ""}) {
    INFO(bad);
    auto r = parse_url(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == oag::errc::invalid_request);
  }
}

TEST_CASE("is_loopback_host covers localhost, 127/8 and ::1", "[http]") {
  for (const char* yes : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "127.255.255.255",
                          "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"})
    CHECK(is_loopback_host(yes));
  for (const char* no : {"", "example.com", "128.0.0.1", "10.0.0.1", "127.0.0.256", "127.0.0",
                         "127.0.0.1.evil.com", "localhost.evil.com", "::2", "0.0.0.0",
                         "notlocalhost"})
    CHECK_FALSE(is_loopback_host(no));
}
