#pragma once
/// Transport-neutral HTTP types shared by the adapters, the outbound client
/// and the actors (no Beast in this header).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oag/error.hpp"

namespace oag::adapters {

/// One header line.
struct header {
  std::string name;
  std::string value;
};
using header_list = std::vector<header>;

/// Case-insensitive header lookup; nullopt when absent.
std::optional<std::string_view> find_header(const header_list& headers,
                                            std::string_view name);

/// An origin plus path prefix parsed from a base URL.
struct url {
  std::string scheme;     ///< "http" or "https"
  std::string host;       ///< host name or IP literal (no brackets)
  std::string port;       ///< always set ("80"/"443" by default)
  std::string path;       ///< path prefix without trailing slash ("/v1")
  bool tls() const noexcept { return scheme == "https"; }
  /// "scheme://host:port", the connection-pool key.
  std::string origin() const;
};

/// Parses "http(s)://host[:port][/path]"; rejects other schemes, userinfo,
/// fragments and empty hosts.
result<url> parse_url(std::string_view text);

/// True for localhost, 127.0.0.0/8 and ::1.
bool is_loopback_host(std::string_view host) noexcept;

/// A request to send upstream.
struct outbound_request {
  std::string method = "POST";
  url origin;              ///< where to connect
  std::string target;      ///< path and query, e.g. "/v1/chat/completions"
  header_list headers;     ///< includes credentials: never log these
  std::string body;
  bool stream = false;     ///< the response is a stream (SSE / NDJSON)
};

/// Settings of one provider, resolved for a call. `api_key` is plaintext in
/// memory only, never logged or echoed.
struct provider_endpoint {
  std::string name;        ///< provider name as the client routes to it
  std::string kind;        ///< adapter kind ("openai", "mock", ...)
  std::string base_url;    ///< empty for "mock"
  std::optional<std::string> api_key;
  bool allow_insecure_http = false;
  header_list extra_headers;
};

} // namespace oag::adapters
