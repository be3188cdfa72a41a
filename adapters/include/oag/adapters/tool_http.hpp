#pragma once
/// HTTP tools: a company registers an endpoint (method, URL template,
/// headers, limits); when a model calls the tool, the arguments fill the
/// template and the call goes out from the io threads. Destinations are
/// checked against internal address ranges (SSRF protection) and the
/// company's network allowlist. Beast and Asio stay in the .cpp.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/adapters/http_client.hpp"
#include "oag/adapters/http_types.hpp"
#include "oag/error.hpp"

namespace oag::adapters {

/// A registered HTTP tool.
struct http_tool_endpoint {
  /// GET, POST, PUT, PATCH or DELETE (any letter case).
  std::string method = "POST";
  /// "http(s)://host[:port]/path?query" with `{name}` placeholders in the
  /// path and query only (never in the scheme, host or port). Printable
  /// ASCII; other characters must be percent-encoded; no fragment, no
  /// userinfo.
  std::string url_template;
  /// Sent as given, values already secret-resolved by the caller (never
  /// logged or echoed in errors). Host, Content-Length, Transfer-Encoding,
  /// Connection and other hop-by-hop names are refused. A Content-Type
  /// here replaces application/json for bodies.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Bounds the whole call: resolution, connects, TLS, every redirect hop
  /// and the body. 1 ms to 10 minutes.
  std::chrono::milliseconds timeout{10000};
  /// Larger response bodies fail the call. 1 byte to 64 MiB.
  std::size_t max_response_bytes = 1 << 20;
};

/// Checks an endpoint definition (pure): method known, URL template well
/// formed (http/https, valid host and port, balanced `{name}` placeholders
/// with names of [A-Za-z0-9_.-]), header names are HTTP tokens and values
/// free of control characters, limits in range. Error: errc::invalid_request;
/// messages name fields and header names, never header values.
result<void> check_http_tool_endpoint(const http_tool_endpoint& endpoint);

/// An outbound tool request, ready to send.
struct http_tool_request {
  /// method (upper case), origin, target (path and query), headers (the
  /// endpoint's, plus Content-Type for bodies), body.
  outbound_request request;
  /// The full URL (for logs and audit: it holds argument values but no
  /// header secrets).
  std::string url;
};

/// Builds the request for one call (pure). `arguments` is the model's JSON
/// object (null counts as {}). Each `{name}` is replaced by the
/// percent-encoded argument (RFC 3986 unreserved characters kept; strings
/// as-is, numbers and booleans as JSON text) and that argument is consumed;
/// a missing, null, object or array placeholder argument is an error, and
/// so is "." or ".." in the path. The remaining top-level arguments become
/// the query string for GET/DELETE (sorted by name; null skipped, arrays of
/// scalars repeat the key, objects and nested arrays as JSON text) or the
/// JSON body for POST/PUT/PATCH (Content-Type application/json). Errors:
/// errc::invalid_request (bad endpoint or arguments).
result<http_tool_request> build_http_tool_request(const http_tool_endpoint& endpoint,
                                                  const nlohmann::json& arguments);

/// Destinations a company's tools may reach besides public addresses.
/// Entries: host names ("localhost", "svc.internal"; "*.corp" covers every
/// subdomain of corp), IP literals ("10.1.2.3", "::1", "[::1]") or CIDRs
/// ("10.0.0.0/8", "fd00::/8"). Case-insensitive. Malformed entries never
/// match (check_network_allowlist reports them).
struct network_allowlist {
  std::vector<std::string> entries;
};

/// Checks every allowlist entry parses as a host name, IP literal or CIDR.
/// Error: errc::invalid_request naming the entry.
result<void> check_network_allowlist(const network_allowlist& allow);

/// True for addresses a tool must not reach unless allowlisted: loopback
/// (127/8, ::1), unspecified/"this network" (0/8, ::), link-local
/// (169.254/16, fe80::/10), private (10/8, 172.16/12, 192.168/16,
/// fc00::/7, fec0::/10), CGNAT (100.64/10), IETF/benchmark/documentation
/// ranges (192.0.0/24, 198.18/15, 192.0.2/24, 198.51.100/24, 203.0.113/24,
/// 2001:db8::/32, 100::/64), multicast (224/4, ff00::/8), reserved and
/// broadcast (240/4), and IPv6 forms embedding such an IPv4 address
/// (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
/// 64:ff9b::/96, 6to4 2002::/16; local NAT64 64:ff9b:1::/48). Brackets and
/// a zone suffix ("%eth0") are accepted. Anything that is not an IP literal
/// also counts as internal (fail closed).
bool is_internal_address(std::string_view ip_literal) noexcept;

/// True when the allowlist names `host` (exactly or by "*." suffix) or
/// covers the address `ip` (equal literal or containing CIDR; an
/// IPv4-mapped IPv6 address also matches as its IPv4 form).
bool allowlist_permits(const network_allowlist& allow, std::string_view host,
                       std::string_view ip);

/// What an HTTP tool call returned. Any status counts: a 404 or 500 is a
/// result for the model to read, not a failure.
struct http_tool_result {
  int status = 0;
  std::string body;
  /// The Content-Type header of the final response ("" if absent).
  std::string content_type;
  /// From the call's start to the end of the final body.
  std::chrono::milliseconds duration{0};
  /// Redirects followed (0 to 3).
  int redirects = 0;
  /// The URL of the final response.
  std::string final_url;
};

/// A call in flight.
class http_tool_call {
 public:
  virtual ~http_tool_call() = default;
  /// Ends the call early: `done` gets errc::upstream_error ("... was
  /// cancelled") unless it already ran. Safe from any thread, idempotent.
  virtual void cancel() = 0;
};

/// Runs one HTTP tool call asynchronously on the io threads. `done` is
/// called exactly once, on an io thread (also for errors found before any
/// I/O, e.g. bad arguments), provided `io` is running and not stopped
/// before then. The returned handle may be dropped; the call keeps itself
/// alive until `done`.
///
/// Destinations: the host is resolved once per hop; EVERY resolved address
/// is checked and an internal one (is_internal_address) refuses the hop
/// unless `allow` names the host or covers the address; the connection
/// then goes only to those checked addresses (no second lookup, so no DNS
/// rebinding). Redirects (301/302/303/307/308 with a Location) are followed
/// up to 3 times, each target checked the same way; 303, and 301/302 after
/// POST, continue as GET without a body; the endpoint's headers (they carry
/// credentials) are sent only to the endpoint's own origin. TLS peers are
/// verified through `tls` (certificate chain and host name).
///
/// Errors: errc::invalid_request (bad endpoint or arguments),
/// errc::permission_denied (destination refused), errc::upstream_timeout
/// (`endpoint.timeout` passed), errc::upstream_error (DNS, connect, TLS,
/// malformed response, body over max_response_bytes, too many redirects,
/// cancelled), errc::internal (https without a TLS context).
std::shared_ptr<http_tool_call> call_http_tool(io_runtime& io,
                                               std::shared_ptr<tls_client_context> tls,
                                               const http_tool_endpoint& endpoint,
                                               const nlohmann::json& arguments,
                                               const network_allowlist& allow,
                                               std::function<void(result<http_tool_result>)> done);

} // namespace oag::adapters
