#include "cockpit.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace oag::runtime::cockpit {

namespace {

constexpr std::string_view k_prefix = "/cockpit";
/// Larger files are not served (the Cockpit's files are a few tens of KiB).
constexpr std::size_t k_max_file_bytes = 4 * 1024 * 1024;

std::optional<std::string> canonical_dir(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) return std::nullopt;
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return std::string{buf};
}

std::string binary_dir() {
  char buf[PATH_MAX];
  const auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string exe(buf, static_cast<std::size_t>(n));
  const auto slash = exe.rfind('/');
  return slash == std::string::npos ? std::string{} : exe.substr(0, slash);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// Host header values that are safe to echo into the CSP: host[:port], IPv6 in brackets.
bool plain_host(std::string_view host) noexcept {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

std::string error_body(errc code, std::string message) { return to_openai_error_body(make_failure(code, std::move(message))); }

adapters::header_list common_headers(std::string_view host) {
  return {{"Cache-Control", "no-cache"},
          {"X-Content-Type-Options", "nosniff"},
          {"Content-Security-Policy", content_security_policy(host)},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"},
          {"Cross-Origin-Opener-Policy", "same-origin"}};
}

answer not_found(std::string_view host, std::string_view path) {
  answer a;
  a.status = 404;
  a.body = error_body(errc::not_found, "No Cockpit file at " + std::string{path} + ".");
  a.headers = common_headers(host);
  return a;
}

} // namespace

std::optional<std::string> find_dir(const std::optional<std::string>& configured) {
  if (configured) return canonical_dir(*configured);
  std::vector<std::string> candidates{"cockpit"};
  if (auto bin = binary_dir(); !bin.empty()) candidates.push_back(bin + "/../../cockpit");
  candidates.push_back("/usr/share/oag/cockpit");
  for (const auto& c : candidates) {
    auto dir = canonical_dir(c);
    if (!dir) continue;
    // A directory that is not the Cockpit (no index.html) is not taken.
    struct stat st {};
    if (::stat((*dir + "/index.html").c_str(), &st) == 0 && S_ISREG(st.st_mode)) return dir;
  }
  return std::nullopt;
}

bool is_cockpit_path(std::string_view path) noexcept {
  if (path.substr(0, k_prefix.size()) != k_prefix) return false;
  return path.size() == k_prefix.size() || path[k_prefix.size()] == '/';
}

std::optional<std::string> content_type_for(std::string_view name) {
  struct entry {
    std::string_view ext, type;
  };
  static constexpr entry types[] = {
      {".html", "text/html; charset=utf-8"},     {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},             {".svg", "image/svg+xml"},
      {".png", "image/png"},                     {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},     {".webmanifest", "application/manifest+json"},
  };
  for (const auto& t : types)
    if (ends_with(name, t.ext)) return std::string{t.type};
  return std::nullopt;
}

bool safe_relative_path(std::string_view rel) noexcept {
  if (rel.empty() || rel.size() > 200) return false;
  int segments = 0;
  std::size_t start = 0;
  while (start <= rel.size()) {
    auto slash = rel.find('/', start);
    if (slash == std::string_view::npos) slash = rel.size();
    const auto seg = rel.substr(start, slash - start);
    if (seg.empty() || seg[0] == '.') return false;  // "", ".", "..", hidden files
    for (char c : seg) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.';
      if (!ok) return false;
    }
    if (++segments > 2) return false;
    start = slash + 1;
  }
  return content_type_for(rel).has_value();
}

std::string content_security_policy(std::string_view host) {
  // 'self' covers ws:/wss: of the same origin in CSP 3; the explicit origins
  // are for browsers that do not apply it to WebSockets yet.
  std::string connect = "'self'";
  if (plain_host(host)) {
    connect += " ws://";
    connect += host;
    connect += " wss://";
    connect += host;
  }
  return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
         "connect-src " +
         connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

answer serve(const std::optional<std::string>& root, std::string_view method, std::string_view path,
             std::string_view host) {
  answer a;
  if (method != "GET" && method != "HEAD") {
    a.status = 405;
    a.body = error_body(errc::method_not_allowed, "Method " + std::string{method} + " is not allowed on " +
                                                      std::string{path} + ": the Cockpit is read-only (GET).");
    a.headers = common_headers(host);
    a.headers.push_back({"Allow", "GET, HEAD"});
    return a;
  }
  if (path == k_prefix) {
    a.status = 308;
    a.body = "";
    a.content_type = "text/plain; charset=utf-8";
    a.headers = common_headers(host);
    a.headers.push_back({"Location", "/cockpit/"});
    return a;
  }
  if (!root) {
    a.status = 404;
    a.body = error_body(errc::not_found,
                        "The Cockpit is not installed: no cockpit directory was found (set cockpit_dir in the config).");
    a.headers = common_headers(host);
    return a;
  }
  std::string rel{path.substr(k_prefix.size() + 1)};
  if (rel.empty()) rel = "index.html";
  if (!safe_relative_path(rel)) return not_found(host, path);

  // The files are small and local, so they are read here, on the io thread
  // that took the request, at request time (an edited file is served at
  // once): a read of a few KiB from the page cache costs microseconds, far
  // less than a hop to another thread would. Nothing here waits on the network.
  char buf[PATH_MAX];
  const std::string joined = *root + "/" + rel;
  if (!::realpath(joined.c_str(), buf)) return not_found(host, path);
  const std::string resolved{buf};
  // Symlinks are resolved: whatever they point to must still be inside root.
  if (resolved.size() <= root->size() + 1 || resolved.compare(0, root->size(), *root) != 0 ||
      resolved[root->size()] != '/')
    return not_found(host, path);
  const int fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return not_found(host, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > k_max_file_bytes) {
    ::close(fd);
    return not_found(host, path);
  }
  std::string body;
  body.resize(static_cast<std::size_t>(st.st_size));
  std::size_t off = 0;
  while (off < body.size()) {
    const auto n = ::read(fd, body.data() + off, body.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  body.resize(off);
  a.status = 200;
  a.body = std::move(body);
  a.content_type = *content_type_for(rel);
  a.headers = common_headers(host);
  return a;
}

} // namespace oag::runtime::cockpit
