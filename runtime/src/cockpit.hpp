#pragma once
/// The Cockpit (docs/COCKPIT.md): the static web UI under /cockpit, served
/// from a directory of plain files (cockpit/ in the repository,
/// /usr/share/oag/cockpit in the Docker image). Pure functions and one file
/// read per request: no caching, so an edited file is served at once.

#include <optional>
#include <string>
#include <string_view>

#include "oag/adapters/http_types.hpp"

namespace oag::runtime::cockpit {

/// The directory to serve, canonical (realpath), or nullopt when none is
/// usable. `configured` (the `cockpit_dir` config key) is the only candidate
/// when set; else the first existing of `cockpit` (working directory),
/// `<dir of the binary>/../../cockpit` (the build tree) and
/// `/usr/share/oag/cockpit` (packages, Docker).
std::optional<std::string> find_dir(const std::optional<std::string>& configured);

/// True for the paths the Cockpit answers: `/cockpit` and `/cockpit/…`.
bool is_cockpit_path(std::string_view path) noexcept;

/// The Content-Type of a file by its extension (nullopt: not served).
std::optional<std::string> content_type_for(std::string_view file_name);

/// True when `rel` (the path after `/cockpit/`) names a file directly in
/// the directory or in one level of subfolders: 1 or 2 segments of
/// [A-Za-z0-9_.-], none empty, none starting with '.' (no `..`, no hidden
/// files), with a known extension.
bool safe_relative_path(std::string_view rel) noexcept;

/// One answer of the file server.
struct answer {
  int status = 404;
  std::string body;
  adapters::header_list headers;
  std::string content_type = "application/json";
};

/// Answers `method path` (path as requested, without the query) from the
/// canonical directory `root` (nullopt: the Cockpit is not installed).
/// `host` is the request's Host header, used for the CSP's ws:/wss:
/// connect-src when it is a plain host[:port]. GET and HEAD only (405 with
/// Allow otherwise); `/cockpit` redirects to `/cockpit/`, which is
/// index.html; every file is resolved with realpath and must stay inside
/// `root` (symlinks pointing out are 404) and be a regular file of at most
/// 4 MiB. Errors are OpenAI-shaped JSON.
answer serve(const std::optional<std::string>& root, std::string_view method, std::string_view path,
             std::string_view host);

/// The Content-Security-Policy sent with every Cockpit answer.
std::string content_security_policy(std::string_view host);

} // namespace oag::runtime::cockpit
