/// HTTP tool calls: endpoint checks and request building (pure), address
/// classification and allowlists (pure), and the call itself: one fresh
/// Beast connection per hop on its own strand, a single deadline for the
/// whole call, addresses checked between resolution and connect.

#include "oag/adapters/tool_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "oag/adapters/io_runtime_asio.hpp"

namespace oag::adapters {
namespace {

using json = nlohmann::json;

constexpr std::size_t k_max_template_bytes = 8 * 1024;
constexpr std::size_t k_max_target_bytes = 16 * 1024;
constexpr std::size_t k_max_headers = 64;
constexpr std::size_t k_max_header_name = 256;
constexpr std::size_t k_max_header_value = 8 * 1024;
constexpr std::size_t k_max_placeholder_name = 64;
constexpr std::size_t k_max_response_limit = 64u << 20;
constexpr std::uint32_t k_response_header_limit = 64 * 1024;
constexpr int k_max_redirects = 3;
constexpr std::chrono::milliseconds k_max_timeout{10 * 60 * 1000};

// ---------------------------------------------------------------------------
// Text helpers.

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

char ascii_upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/// RFC 3986 percent-encoding: everything but the unreserved set.
std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (is_unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

/// RFC 7230 token characters (header names, methods).
bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

/// Characters a URL path or query may hold literally (RFC 3986 unreserved,
/// sub-delims, ':', '@', '/', '?'); '%' escapes are handled separately.
bool is_url_char(unsigned char c) noexcept {
  return is_unreserved(c) || (c != '\0' && std::strchr("!$&'()*+,;=:@/?", c) != nullptr);
}

bool is_placeholder_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::string json_text(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

failure bad_request(std::string message) {
  return make_failure(errc::invalid_request, std::move(message));
}

bool is_hop_by_hop(std::string_view name) noexcept {
  for (const char* reserved : {"host", "content-length", "transfer-encoding", "connection",
                               "keep-alive", "upgrade", "te", "trailer", "proxy-connection"}) {
    if (iequals(name, reserved)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// URL templates.

/// One piece of the path/query part of a template.
struct template_piece {
  bool placeholder = false;
  bool in_query = false;
  std::string text;  ///< literal text, or the placeholder's name
};

struct parsed_template {
  url origin;
  std::vector<template_piece> pieces;  ///< path and query ("" means "/")
};

/// Splits "scheme://authority" from the rest ("/path?query", "?query" or "").
std::pair<std::string_view, std::string_view> split_origin(std::string_view text) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return {text, {}};
  const auto rest_at = text.find_first_of("/?", sep + 3);
  if (rest_at == std::string_view::npos) return {text, {}};
  return {text.substr(0, rest_at), text.substr(rest_at)};
}

/// parse_url's message without its "invalid base URL: " lead.
std::string url_reason(const failure& f) {
  static const std::string lead = "invalid base URL: ";
  if (f.message.rfind(lead, 0) == 0) return f.message.substr(lead.size());
  return f.message;
}

result<parsed_template> parse_template(std::string_view text) {
  if (text.empty()) return bad_request("url_template is empty");
  if (text.size() > k_max_template_bytes) {
    return bad_request("url_template is longer than " + std::to_string(k_max_template_bytes) +
                       " bytes");
  }
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      return bad_request(
          "url_template must be printable ASCII without spaces (percent-encode other "
          "characters)");
    }
  }
  if (text.find('#') != std::string_view::npos) {
    return bad_request("url_template must not contain a fragment ('#')");
  }
  if (text.find("://") == std::string_view::npos) {
    return bad_request("url_template must start with http:// or https://");
  }
  auto [origin_text, rest] = split_origin(text);
  if (origin_text.find_first_of("{}") != std::string_view::npos) {
    return bad_request(
        "url_template: placeholders are only allowed in the path and query, not in the scheme, "
        "host or port");
  }
  if (origin_text.find('@') != std::string_view::npos) {
    return bad_request("url_template must not contain credentials (send them as headers)");
  }
  auto origin = parse_url(origin_text);
  if (!origin) return bad_request("url_template: " + url_reason(origin.error()));

  parsed_template out;
  out.origin = std::move(origin.value());
  bool in_query = false;
  std::string literal;
  auto flush = [&] {
    if (literal.empty()) return;
    out.pieces.push_back(template_piece{false, in_query, std::move(literal)});
    literal.clear();
  };
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '}') return bad_request("url_template: '}' without a matching '{'");
    if (c == '%') {
      if (i + 2 >= rest.size() || !is_hex(rest[i + 1]) || !is_hex(rest[i + 2])) {
        return bad_request("url_template: '%' must start a percent-escape such as %20");
      }
      literal.append(rest.substr(i, 3));
      i += 2;
      continue;
    }
    if (c == '{') {
      const auto close = rest.find('}', i + 1);
      if (close == std::string_view::npos) {
        return bad_request("url_template: '{' without a matching '}'");
      }
      const std::string_view name = rest.substr(i + 1, close - i - 1);
      if (name.empty() || name.size() > k_max_placeholder_name) {
        return bad_request("url_template: a placeholder name must have 1 to " +
                           std::to_string(k_max_placeholder_name) + " characters");
      }
      for (char n : name) {
        if (!is_placeholder_char(n)) {
          return bad_request("url_template: invalid placeholder {" + std::string(name) +
                             "} (names use letters, digits, '_', '.' and '-')");
        }
      }
      flush();
      out.pieces.push_back(template_piece{true, in_query, std::string(name)});
      i = close;
      continue;
    }
    if (!is_url_char(static_cast<unsigned char>(c))) {
      return bad_request(std::string("url_template: character '") + c +
                         "' is not allowed in a URL (percent-encode it)");
    }
    if (c == '?' && !in_query) {
      flush();
      in_query = true;
    }
    literal += c;
  }
  flush();
  return out;
}

std::string host_for_url(const url& u) {
  const bool v6 = u.host.find(':') != std::string::npos;
  return v6 ? "[" + u.host + "]" : u.host;
}

bool default_port(const url& u) {
  return (u.tls() && u.port == "443") || (!u.tls() && u.port == "80");
}

/// "scheme://host[:port]" with the port only when it is not the default.
std::string display_origin(const url& u) {
  std::string out = u.scheme + "://" + host_for_url(u);
  if (!default_port(u)) out += ":" + u.port;
  return out;
}

/// The Host header value for an origin.
std::string host_header(const url& u) {
  std::string out = host_for_url(u);
  if (!default_port(u)) out += ":" + u.port;
  return out;
}

bool method_has_body(std::string_view m) noexcept {
  return m == "POST" || m == "PUT" || m == "PATCH";
}

std::optional<std::string> normalized_method(std::string_view m) {
  std::string up(m);
  for (char& c : up) c = ascii_upper(c);
  if (up == "GET" || up == "POST" || up == "PUT" || up == "PATCH" || up == "DELETE") return up;
  return std::nullopt;
}

/// A placeholder argument as URL text (before encoding).
std::optional<std::string> scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return json_text(v);
  return std::nullopt;
}

void append_query(std::string& target, std::string_view key, std::string_view value) {
  const auto q = target.find('?');
  if (q == std::string::npos) {
    target += '?';
  } else if (target.back() != '?' && target.back() != '&') {
    target += '&';
  }
  target += percent_encode(key);
  target += '=';
  target += percent_encode(value);
}

// ---------------------------------------------------------------------------
// Addresses.

/// An IPv4 (family 4, first 4 bytes) or IPv6 (family 6) address.
struct ip_bytes {
  int family = 0;
  std::array<std::uint8_t, 16> b{};
};

std::optional<ip_bytes> parse_ip(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= 64) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  ip_bytes out;
  if (inet_pton(AF_INET, buf, out.b.data()) == 1) {
    out.family = 4;
    return out;
  }
  // A zone ("fe80::1%eth0") does not change which range the address is in.
  if (char* pct = std::strchr(buf, '%')) *pct = '\0';
  if (inet_pton(AF_INET6, buf, out.b.data()) == 1) {
    out.family = 6;
    return out;
  }
  return std::nullopt;
}

bool v4_in(const std::uint8_t* a, std::uint32_t net, int bits) noexcept {
  const std::uint32_t x = (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) |
                          (std::uint32_t{a[2]} << 8) | std::uint32_t{a[3]};
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (x & mask) == (net & mask);
}

bool v4_internal(const std::uint8_t* a) noexcept {
  return v4_in(a, 0x00000000, 8) ||   // "this network", incl. 0.0.0.0
         v4_in(a, 0x0A000000, 8) ||   // private
         v4_in(a, 0x64400000, 10) ||  // CGNAT
         v4_in(a, 0x7F000000, 8) ||   // loopback
         v4_in(a, 0xA9FE0000, 16) ||  // link-local (cloud metadata)
         v4_in(a, 0xAC100000, 12) ||  // private
         v4_in(a, 0xC0000000, 24) ||  // IETF protocol assignments
         v4_in(a, 0xC0000200, 24) ||  // documentation
         v4_in(a, 0xC0A80000, 16) ||  // private
         v4_in(a, 0xC6120000, 15) ||  // benchmarking
         v4_in(a, 0xC6336400, 24) ||  // documentation
         v4_in(a, 0xCB007100, 24) ||  // documentation
         v4_in(a, 0xE0000000, 4) ||   // multicast
         v4_in(a, 0xF0000000, 4);     // reserved, incl. 255.255.255.255
}

bool bytes_zero(const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

/// The IPv4 address an IPv6 address stands for, when it is a mapped one.
std::optional<ip_bytes> mapped_v4(const ip_bytes& a) {
  if (a.family != 6) return std::nullopt;
  if (!bytes_zero(a.b.data(), 10) || a.b[10] != 0xff || a.b[11] != 0xff) return std::nullopt;
  ip_bytes v4;
  v4.family = 4;
  std::memcpy(v4.b.data(), a.b.data() + 12, 4);
  return v4;
}

bool internal(const ip_bytes& a) noexcept {
  if (a.family == 4) return v4_internal(a.b.data());
  const std::uint8_t* b = a.b.data();
  // ::/96 (unspecified, loopback, IPv4-compatible), ::ffff:0:0/96 (mapped)
  // and ::ffff:0:0:0/96 (IPv4-translated) all carry an IPv4 address in
  // their last 4 bytes; ::1 lands in 0/8 and :: in 0/8 too.
  if (bytes_zero(b, 12)) return v4_internal(b + 12);
  if (bytes_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) return v4_internal(b + 12);
  if (bytes_zero(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return v4_internal(b + 12);
  }
  // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (bytes_zero(b + 4, 8)) return v4_internal(b + 12);
    if (b[4] == 0x00 && b[5] == 0x01) return true;
  }
  if (b[0] == 0x20 && b[1] == 0x02) return v4_internal(b + 2);   // 6to4
  if ((b[0] & 0xfe) == 0xfc) return true;                         // fc00::/7 ULA
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;         // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;         // fec0::/10 site-local
  if (b[0] == 0xff) return true;                                  // multicast
  if (b[0] == 0x01 && b[1] == 0x00 && bytes_zero(b + 2, 6)) return true;  // 100::/64 discard
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;  // docs
  return false;
}

struct cidr {
  ip_bytes net;
  int bits = 0;
};

std::optional<cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto net = parse_ip(text.substr(0, slash));
  if (!net) return std::nullopt;
  const std::string_view len = text.substr(slash + 1);
  if (len.empty() || len.size() > 3) return std::nullopt;
  int bits = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > (net->family == 4 ? 32 : 128)) return std::nullopt;
  return cidr{*net, bits};
}

bool cidr_contains(const cidr& c, const ip_bytes& a) noexcept {
  if (c.net.family != a.family) return false;
  int bits = c.bits;
  for (std::size_t i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask =
        bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((c.net.b[i] & mask) != (a.b[i] & mask)) return false;
  }
  return true;
}

bool same_ip(const ip_bytes& x, const ip_bytes& y) noexcept {
  if (x.family != y.family) return false;
  const std::size_t n = x.family == 4 ? 4 : 16;
  return std::memcmp(x.b.data(), y.b.data(), n) == 0;
}

std::string normalized_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return lower(host);
}

bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.' || c == '_')) {
      return false;
    }
  }
  return h.find("..") == std::string_view::npos && h.front() != '.';
}

/// Does one entry permit this host / address pair?
bool entry_permits(std::string_view entry, const std::string& host,
                   const std::optional<ip_bytes>& ip, const std::optional<ip_bytes>& ip_v4) {
  if (entry.find('/') != std::string_view::npos) {
    auto c = parse_cidr(entry);
    if (!c) return false;
    return (ip && cidr_contains(*c, *ip)) || (ip_v4 && cidr_contains(*c, *ip_v4));
  }
  if (auto literal = parse_ip(entry)) {
    return (ip && same_ip(*literal, *ip)) || (ip_v4 && same_ip(*literal, *ip_v4));
  }
  const std::string name = normalized_host(entry);
  if (!valid_host_name(name.rfind("*.", 0) == 0 ? std::string_view(name).substr(2) : name)) {
    return false;
  }
  if (name.rfind("*.", 0) == 0) {
    const std::string_view suffix = std::string_view(name).substr(1);  // ".corp"
    return host.size() > suffix.size() &&
           std::string_view(host).substr(host.size() - suffix.size()) == suffix;
  }
  return !host.empty() && name == host;
}

bool permits(const network_allowlist& allow, std::string_view host, const ip_bytes& ip) {
  const std::string h = normalized_host(host);
  const std::optional<ip_bytes> a = ip;
  const std::optional<ip_bytes> v4 = mapped_v4(ip);
  for (const auto& e : allow.entries) {
    if (entry_permits(e, h, a, v4)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Redirect targets.

/// Resolves a Location header against the URL it came from. Returns the
/// new origin and target, or nullopt when it is not a usable http(s) URL.
std::optional<std::pair<url, std::string>> resolve_location(const url& base,
                                                            const std::string& base_target,
                                                            std::string_view location) {
  // Trim surrounding whitespace; drop a fragment (never sent).
  while (!location.empty() && (location.front() == ' ' || location.front() == '\t'))
    location.remove_prefix(1);
  while (!location.empty() && (location.back() == ' ' || location.back() == '\t'))
    location.remove_suffix(1);
  if (const auto hash = location.find('#'); hash != std::string_view::npos) {
    location = location.substr(0, hash);
  }
  if (location.empty()) return std::nullopt;

  // Non-ASCII or control bytes are percent-encoded; a Location should not
  // carry them, but some servers send raw UTF-8.
  std::string loc;
  for (char ch : location) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return std::nullopt;
    if (c >= 0x80 || c == ' ') {
      loc += percent_encode(std::string_view(&ch, 1));
    } else {
      loc += ch;
    }
  }

  std::string absolute;
  if (loc.rfind("//", 0) == 0) {
    absolute = base.scheme + ":" + loc;
  } else if (const auto colon = loc.find(':');
             colon != std::string::npos && loc.find_first_of("/?") > colon) {
    absolute = loc;  // has a scheme
  }
  if (!absolute.empty()) {
    auto [origin_text, rest] = split_origin(absolute);
    auto origin = parse_url(origin_text);
    if (!origin) return std::nullopt;
    std::string target(rest);
    if (target.empty() || target.front() == '?') target.insert(0, "/");
    return std::make_pair(std::move(origin.value()), std::move(target));
  }
  if (loc.front() == '/') return std::make_pair(base, loc);
  const std::string base_path = base_target.substr(0, base_target.find('?'));
  if (loc.front() == '?') return std::make_pair(base, base_path + loc);
  const auto slash = base_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "/" : base_path.substr(0, slash + 1);
  return std::make_pair(base, dir + loc);
}

// ---------------------------------------------------------------------------
// The call.

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using strand_t = net::strand<net::io_context::executor_type>;
using socket_t = net::basic_stream_socket<tcp, strand_t>;
using tls_t = ssl::stream<socket_t>;
using resolver_t = net::ip::basic_resolver<tcp, strand_t>;
using timer_t = net::basic_waitable_timer<std::chrono::steady_clock,
                                          net::wait_traits<std::chrono::steady_clock>, strand_t>;

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

template <class F, class... Args>
void call_quietly(F& f, Args&&... args) noexcept {
  if (!f) return;
  try {
    f(std::forward<Args>(args)...);
  } catch (...) {
  }
}

bool is_redirect(int status) noexcept {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

ip_bytes to_bytes(const net::ip::address& a) {
  ip_bytes out;
  if (a.is_v4()) {
    out.family = 4;
    const auto b = a.to_v4().to_bytes();
    std::memcpy(out.b.data(), b.data(), 4);
  } else {
    out.family = 6;
    const auto b = a.to_v6().to_bytes();
    std::memcpy(out.b.data(), b.data(), 16);
  }
  return out;
}

class tool_call final : public http_tool_call, public std::enable_shared_from_this<tool_call> {
 public:
  tool_call(net::io_context& ioc, std::shared_ptr<tls_client_context> tls,
            const http_tool_endpoint& endpoint, network_allowlist allow,
            std::function<void(result<http_tool_result>)> done)
      : strand_(net::make_strand(ioc)),
        resolver_(strand_),
        deadline_(strand_),
        tls_ctx_(std::move(tls)),
        allow_(std::move(allow)),
        timeout_(endpoint.timeout),
        max_body_(endpoint.max_response_bytes),
        done_(std::move(done)),
        started_(std::chrono::steady_clock::now()) {}

  /// Starts with a built request (on the strand).
  void start(http_tool_request built) {
    net::post(strand_, [self = shared_from_this(), built = std::move(built)]() mutable {
      self->begin(std::move(built));
    });
  }

  /// Reports an error found before any I/O (on the strand).
  void reject(failure f) {
    net::post(strand_, [self = shared_from_this(), f = std::move(f)]() mutable {
      self->finish(std::move(f));
    });
  }

  void cancel() override {
    net::post(strand_, [self = shared_from_this()] {
      if (self->finished_) return;
      self->finish(make_failure(errc::upstream_error,
                                "HTTP tool call to " + self->where() + " was cancelled"));
    });
  }

 private:
  // ---- lifecycle (all on the strand) ----

  void begin(http_tool_request built) {
    if (finished_) return;
    home_ = built.request.origin;
    origin_ = built.request.origin;
    method_ = built.request.method;
    target_ = built.request.target;
    body_ = std::move(built.request.body);
    for (auto& h : built.request.headers) {
      if (iequals(h.name, "content-type")) {
        body_type_ = h.value;
      } else {
        user_headers_.push_back(std::move(h));
      }
    }
    // The budget counts from call_http_tool, not from when the strand ran.
    deadline_.expires_at(started_ + timeout_);
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->finished_) return;
      self->finish(make_failure(errc::upstream_timeout, "HTTP tool call to " + self->where() +
                                                            " did not complete within " +
                                                            ms_text(self->timeout_)));
    });
    hop();
  }

  /// One request/response exchange with origin_ / target_.
  void hop() {
    if (origin_.tls() && !tls_ctx_) {
      return finish(make_failure(errc::internal, "no TLS context for HTTP tool call to " + where()));
    }
    resolver_.async_resolve(
        origin_.host, origin_.port,
        [self = shared_from_this()](boost::system::error_code ec, resolver_t::results_type r) {
          self->on_resolve(ec, std::move(r));
        });
  }

  void on_resolve(boost::system::error_code ec, resolver_t::results_type results) {
    if (finished_) return;
    if (ec || results.empty()) {
      return finish(make_failure(errc::upstream_error,
                                 "could not resolve " + origin_.host + " for HTTP tool call: " +
                                     (ec ? ec.message() : std::string("no addresses"))));
    }
    // Every address must pass: the resolver's order is not ours to trust,
    // and connect() may fall through to any of them.
    std::vector<tcp::endpoint> checked;
    for (const auto& entry : results) {
      const auto ep = entry.endpoint();
      const ip_bytes ip = to_bytes(ep.address());
      if (internal(ip) && !permits(allow_, origin_.host, ip)) {
        const std::string address = ep.address().to_string();
        const std::string what = address == origin_.host
                                     ? "is an internal address"
                                     : "resolves to the internal address " + address;
        return finish(make_failure(errc::permission_denied,
                                   "HTTP tool destination " + origin_.host + " " + what +
                                       ", which the company's network allowlist does not "
                                       "permit"));
      }
      checked.push_back(ep);
    }
    open(std::move(checked));
  }

  void open(std::vector<tcp::endpoint> endpoints) {
    close();
    tls_.reset();
    tcp_.reset();
    buffer_.clear();
    if (origin_.tls()) {
      tls_.emplace(strand_, tls_ctx_->native().ctx);
    } else {
      tcp_.emplace(strand_);
    }
    net::async_connect(lowest(), endpoints,
                       [self = shared_from_this()](boost::system::error_code ec,
                                                   const tcp::endpoint&) { self->on_connect(ec); });
  }

  void on_connect(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(make_failure(errc::upstream_error, "could not connect to " + where() +
                                                           " for HTTP tool call: " + ec.message()));
    }
    boost::system::error_code ignored;
    lowest().set_option(tcp::no_delay(true), ignored);
    if (!tls_) return send();

    SSL* handle = tls_->native_handle();
    boost::system::error_code ip_ec;
    net::ip::make_address(origin_.host, ip_ec);
    const bool ip = !ip_ec;
    // SNI carries names only (RFC 6066); IPs are checked against IP SANs.
    if (!ip && SSL_set_tlsext_host_name(handle, origin_.host.c_str()) != 1) {
      return finish(make_failure(errc::internal, "could not set TLS SNI for " + where()));
    }
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), origin_.host.c_str())
                      : SSL_set1_host(handle, origin_.host.c_str());
    if (ok != 1) {
      return finish(make_failure(errc::internal, "could not set TLS host check for " + where()));
    }
    tls_->set_verify_mode(ssl::verify_peer, ignored);
    tls_->async_handshake(ssl::stream_base::client,
                          [self = shared_from_this()](boost::system::error_code e) {
                            self->on_handshake(e);
                          });
  }

  void on_handshake(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      const long verify = SSL_get_verify_result(tls_->native_handle());
      if (verify != X509_V_OK) {
        return finish(make_failure(errc::upstream_error,
                                   "TLS certificate of " + where() + " was rejected: " +
                                       X509_verify_cert_error_string(verify)));
      }
      return finish(make_failure(errc::upstream_error,
                                 "TLS handshake with " + where() + " failed: " + ec.message()));
    }
    send();
  }

  void send() {
    try {
      build_request();
    } catch (const std::exception& e) {
      // Beast refuses oversized fields by throwing; nothing may unwind
      // into Asio (done would never run).
      return finish(make_failure(errc::internal,
                                 std::string("could not build the HTTP tool request: ") + e.what()));
    }
    with_stream([this](auto& s) {
      http::async_write(s, req_, [self = shared_from_this()](boost::system::error_code ec,
                                                             std::size_t) { self->on_write(ec); });
    });
  }

  void build_request() {
    req_ = {};
    req_.version(11);
    req_.method_string(method_);
    req_.target(beast::string_view(target_.data(), target_.size()));
    bool has_agent = false;
    bool has_accept = false;
    // Credentials belong to the registered origin: a redirect elsewhere
    // gets none of the endpoint's headers.
    if (origin_.origin() == home_.origin()) {
      for (const auto& h : user_headers_) {
        if (iequals(h.name, "user-agent")) has_agent = true;
        if (iequals(h.name, "accept")) has_accept = true;
        req_.insert(h.name, h.value);
      }
    }
    req_.set(http::field::host, host_header(origin_));
    if (!has_agent) req_.set(http::field::user_agent, "oag-tool/0.1");
    if (!has_accept) req_.set(http::field::accept, "application/json, */*;q=0.8");
    req_.set(http::field::connection, "close");
    if (method_has_body(method_)) {
      req_.set(http::field::content_type, body_type_.empty() ? "application/json" : body_type_);
      req_.body() = body_;
    }
    req_.prepare_payload();
  }

  void on_write(boost::system::error_code ec) {
    if (finished_) return;
    if (ec) {
      return finish(make_failure(errc::upstream_error, "error sending the HTTP tool request to " +
                                                           where() + ": " + ec.message()));
    }
    parser_.emplace();
    parser_->header_limit(k_response_header_limit);
    parser_->body_limit(max_body_);
    // The head first, then the body: Beast 1.74 drops the body_limit error
    // for an oversized Content-Length when it parses head and body in one
    // eager pass, so the announced length is checked here in between.
    with_stream([this](auto& s) {
      http::async_read_header(s, buffer_, *parser_,
                              [self = shared_from_this()](boost::system::error_code e,
                                                          std::size_t) { self->on_head(e); });
    });
  }

  void on_head(boost::system::error_code ec) {
    if (finished_) return;
    if (ec == http::error::body_limit) return finish(too_large());
    if (ec) {
      return finish(make_failure(errc::upstream_error,
                                 "error reading the HTTP tool response from " + where() + ": " +
                                     ec.message()));
    }
    if (auto len = parser_->content_length(); len && *len > max_body_) return finish(too_large());
    with_stream([this](auto& s) {
      http::async_read(s, buffer_, *parser_,
                       [self = shared_from_this()](boost::system::error_code e, std::size_t) {
                         self->on_read(e);
                       });
    });
  }

  failure too_large() const {
    return make_failure(errc::upstream_error, "the response of " + where() + " is larger than " +
                                                  std::to_string(max_body_) +
                                                  " bytes (max_response_bytes)");
  }

  void on_read(boost::system::error_code ec) {
    if (finished_) return;
    if (ec == http::error::body_limit) return finish(too_large());
    if (ec) {
      return finish(make_failure(errc::upstream_error,
                                 "error reading the HTTP tool response from " + where() + ": " +
                                     ec.message()));
    }
    auto& msg = parser_->get();
    const int status = static_cast<int>(msg.result_int());
    const auto location = msg.find(http::field::location);
    if (is_redirect(status) && location != msg.end()) {
      if (redirects_ >= k_max_redirects) {
        return finish(make_failure(errc::upstream_error,
                                   "HTTP tool call to " + where() + " redirected more than " +
                                       std::to_string(k_max_redirects) + " times"));
      }
      auto next = resolve_location(origin_, target_, std::string_view(location->value().data(),
                                                                      location->value().size()));
      if (!next || next->second.size() > k_max_target_bytes) {
        return finish(make_failure(errc::upstream_error,
                                   "HTTP tool call to " + where() +
                                       " was redirected to an unusable location"));
      }
      ++redirects_;
      if (status == 303 || ((status == 301 || status == 302) && method_ == "POST")) {
        method_ = "GET";
        body_.clear();
      }
      origin_ = std::move(next->first);
      target_ = std::move(next->second);
      parser_.reset();
      close();
      return hop();
    }
    http_tool_result out;
    out.status = status;
    out.body = std::move(msg.body());
    if (auto ct = msg.find(http::field::content_type); ct != msg.end()) {
      out.content_type = std::string(ct->value());
    }
    out.redirects = redirects_;
    out.final_url = display_origin(origin_) + target_;
    finish(std::move(out));
  }

  void finish(result<http_tool_result> r) {
    if (finished_) return;
    finished_ = true;
    if (r) {
      r->duration = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started_);
    }
    deadline_.cancel();
    resolver_.cancel();
    close();
    auto done = std::move(done_);
    done_ = nullptr;
    call_quietly(done, std::move(r));
  }

  // ---- streams ----

  socket_t& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }

  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*tcp_);
    }
  }

  void close() {
    if (!tls_ && !tcp_) return;
    boost::system::error_code ignored;
    auto& s = lowest();
    if (s.is_open()) {
      s.shutdown(tcp::socket::shutdown_both, ignored);
      s.close(ignored);
    }
  }

  std::string where() const { return display_origin(origin_); }

  strand_t strand_;
  resolver_t resolver_;
  timer_t deadline_;
  std::shared_ptr<tls_client_context> tls_ctx_;
  network_allowlist allow_;
  std::chrono::milliseconds timeout_;
  std::size_t max_body_;
  std::function<void(result<http_tool_result>)> done_;
  std::chrono::steady_clock::time_point started_;

  url home_;      ///< the endpoint's origin: the only one that gets its headers
  url origin_;    ///< where the current hop goes
  std::string method_;
  std::string target_;
  std::string body_;
  std::string body_type_;
  header_list user_headers_;
  int redirects_ = 0;
  bool finished_ = false;

  std::optional<socket_t> tcp_;
  std::optional<tls_t> tls_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

} // namespace

// ---------------------------------------------------------------------------
// Public functions.

result<void> check_http_tool_endpoint(const http_tool_endpoint& endpoint) {
  if (!normalized_method(endpoint.method)) {
    return bad_request("method must be one of GET, POST, PUT, PATCH, DELETE");
  }
  auto parsed = parse_template(endpoint.url_template);
  if (!parsed) return std::move(parsed).error();
  if (endpoint.headers.size() > k_max_headers) {
    return bad_request("at most " + std::to_string(k_max_headers) + " headers are allowed");
  }
  for (const auto& [name, value] : endpoint.headers) {
    if (name.empty() || name.size() > k_max_header_name) {
      return bad_request("header names must have 1 to " + std::to_string(k_max_header_name) +
                         " characters");
    }
    for (char c : name) {
      if (!is_tchar(static_cast<unsigned char>(c))) {
        return bad_request("header name " + json_text(json(name)) +
                           " is not a valid HTTP token");
      }
    }
    if (is_hop_by_hop(name)) {
      return bad_request("header " + name + " is set by the gateway and cannot be configured");
    }
    if (value.size() > k_max_header_value) {
      return bad_request("the value of header " + name + " is longer than " +
                         std::to_string(k_max_header_value) + " bytes");
    }
    for (char ch : value) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return bad_request("the value of header " + name + " contains control characters");
      }
    }
  }
  if (endpoint.timeout.count() < 1 || endpoint.timeout > k_max_timeout) {
    return bad_request("timeout must be between 1 ms and " + ms_text(k_max_timeout));
  }
  if (endpoint.max_response_bytes < 1 || endpoint.max_response_bytes > k_max_response_limit) {
    return bad_request("max_response_bytes must be between 1 and " +
                       std::to_string(k_max_response_limit));
  }
  return {};
}

result<http_tool_request> build_http_tool_request(const http_tool_endpoint& endpoint,
                                                  const nlohmann::json& arguments) {
  if (auto ok = check_http_tool_endpoint(endpoint); !ok) return std::move(ok).error();
  if (!arguments.is_null() && !arguments.is_object()) {
    return bad_request("tool arguments must be a JSON object");
  }
  auto parsed = parse_template(endpoint.url_template);
  if (!parsed) return std::move(parsed).error();

  json rest = arguments.is_object() ? arguments : json::object();
  std::string target;
  for (const auto& piece : parsed->pieces) {
    if (!piece.placeholder) {
      target += piece.text;
      continue;
    }
    auto it = arguments.is_object() ? arguments.find(piece.text) : arguments.end();
    if (!arguments.is_object() || it == arguments.end()) {
      return bad_request("missing argument \"" + piece.text + "\" for the URL placeholder {" +
                         piece.text + "}");
    }
    auto text = scalar_text(*it);
    if (!text) {
      return bad_request("argument \"" + piece.text +
                         "\" fills a URL placeholder and must be a string, number or boolean");
    }
    if (!piece.in_query && (*text == "." || *text == "..")) {
      return bad_request("argument \"" + piece.text + "\" must not be \".\" or \"..\"");
    }
    target += percent_encode(*text);
    rest.erase(piece.text);
  }
  if (target.empty() || target.front() == '?') target.insert(0, "/");

  http_tool_request out;
  out.request.method = *normalized_method(endpoint.method);
  out.request.origin = parsed->origin;
  for (const auto& [name, value] : endpoint.headers) {
    out.request.headers.push_back(header{name, value});
  }
  if (method_has_body(out.request.method)) {
    out.request.body = json_text(rest);
    if (!find_header(out.request.headers, "content-type")) {
      out.request.headers.push_back(header{"Content-Type", "application/json"});
    }
  } else {
    for (auto it = rest.begin(); it != rest.end(); ++it) {
      const json& v = it.value();
      if (v.is_null()) continue;
      if (v.is_array()) {
        for (const auto& item : v) {
          if (item.is_null()) continue;
          auto text = scalar_text(item);
          append_query(target, it.key(), text ? *text : json_text(item));
        }
        continue;
      }
      auto text = scalar_text(v);
      append_query(target, it.key(), text ? *text : json_text(v));
    }
  }
  if (target.size() > k_max_target_bytes) {
    return bad_request("the tool URL would be longer than " + std::to_string(k_max_target_bytes) +
                       " bytes");
  }
  out.url = display_origin(parsed->origin) + target;
  out.request.target = std::move(target);
  return out;
}

result<void> check_network_allowlist(const network_allowlist& allow) {
  for (const auto& e : allow.entries) {
    if (e.find('/') != std::string::npos) {
      if (!parse_cidr(e)) {
        return bad_request("network allowlist entry " + json_text(json(e)) +
                           " is not a valid CIDR (e.g. 10.0.0.0/8 or fd00::/8)");
      }
      continue;
    }
    if (parse_ip(e)) continue;
    const std::string name = normalized_host(e);
    const std::string_view bare =
        name.rfind("*.", 0) == 0 ? std::string_view(name).substr(2) : std::string_view(name);
    if (!valid_host_name(bare)) {
      return bad_request("network allowlist entry " + json_text(json(e)) +
                         " is not a host name, IP address or CIDR");
    }
  }
  return {};
}

bool is_internal_address(std::string_view ip_literal) noexcept {
  auto ip = parse_ip(ip_literal);
  return !ip || internal(*ip);
}

bool allowlist_permits(const network_allowlist& allow, std::string_view host,
                       std::string_view ip) {
  auto parsed = parse_ip(ip);
  const std::string h = normalized_host(host);
  const std::optional<ip_bytes> v4 = parsed ? mapped_v4(*parsed) : std::nullopt;
  for (const auto& e : allow.entries) {
    if (entry_permits(e, h, parsed, v4)) return true;
  }
  return false;
}

std::shared_ptr<http_tool_call> call_http_tool(io_runtime& io,
                                               std::shared_ptr<tls_client_context> tls,
                                               const http_tool_endpoint& endpoint,
                                               const nlohmann::json& arguments,
                                               const network_allowlist& allow,
                                               std::function<void(result<http_tool_result>)> done) {
  auto call = std::make_shared<tool_call>(io.native().ioc, std::move(tls), endpoint, allow,
                                          std::move(done));
  auto built = build_http_tool_request(endpoint, arguments);
  if (!built) {
    call->reject(std::move(built).error());
  } else {
    call->start(std::move(built.value()));
  }
  return call;
}

} // namespace oag::adapters
