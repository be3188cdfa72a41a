#include "oag/adapters/http_types.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace oag::adapters {
namespace {

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_alnum(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

failure bad_url(std::string why) {
  return make_failure(errc::invalid_request, "invalid base URL: " + std::move(why));
}

} // namespace

std::optional<std::string_view> find_header(const header_list& headers,
                                            std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return std::string_view{h.value};
  return std::nullopt;
}

std::string url::origin() const {
  // IPv6 literals are stored without brackets; the origin string needs them
  // so that the port separator stays unambiguous.
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = scheme + "://";
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += port;
  return out;
}

result<url> parse_url(std::string_view text) {
  // Control characters and spaces would end up in a request line or Host
  // header; a base URL is configuration, so refusing is the safe answer.
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad_url("it contains whitespace or control characters");
  }
  url out;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad_url("expected http:// or https://");
  out.scheme = lower(text.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https")
    return bad_url("unsupported scheme '" + out.scheme + "' (use http or https)");
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) return bad_url("fragments are not allowed");
  if (rest.find('?') != std::string_view::npos)
    return bad_url("a query string is not allowed in a base URL");

  const auto path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos)
    return bad_url("credentials in the URL are not allowed (use the provider's api_key)");

  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad_url("unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad_url("unexpected characters after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return bad_url("empty port");
    }
    in6_addr addr{};
    const std::string h(host);
    if (h.empty() || inet_pton(AF_INET6, h.c_str(), &addr) != 1)
      return bad_url("invalid IPv6 literal");
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return bad_url("empty port");
    }
    for (char c : host)
      if (!is_alnum(c) && c != '-' && c != '.' && c != '_')
        return bad_url("invalid character in host name");
  }
  if (host.empty()) return bad_url("empty host");

  if (!port.empty()) {
    if (port.size() > 5) return bad_url("invalid port");
    unsigned value = 0;
    for (char c : port) {
      if (!is_digit(c)) return bad_url("invalid port");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return bad_url("port out of range");
    out.port = std::to_string(value);
  } else {
    out.port = out.tls() ? "443" : "80";
  }
  out.host = lower(host);

  // Targets are built as path + "/chat/completions", so the prefix keeps no
  // trailing slash ("https://x/v1/" and "https://x/v1" are the same base).
  std::string p(path);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.find("//") != std::string::npos) return bad_url("empty path segment");
  out.path = std::move(p);
  return out;
}

bool is_loopback_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (iequals(host, "localhost")) return true;
  char buf[64];
  if (host.empty() || host.size() >= sizeof buf) return false;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    const auto* b = reinterpret_cast<const unsigned char*>(&v4.s_addr);
    return b[0] == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    if (std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0) return true;
    // IPv4-mapped ::ffff:127.x.x.x reaches the IPv4 loopback too.
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(v6.s6_addr, mapped, 12) == 0 && v6.s6_addr[12] == 127;
  }
  return false;
}

} // namespace oag::adapters
