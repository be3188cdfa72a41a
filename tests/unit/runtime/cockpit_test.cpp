// The Cockpit's static file server: which paths are served, the headers,
// and that nothing outside the directory is reachable (.., hidden files,
// deeper folders, symlinks pointing out).

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "cockpit.hpp"

using namespace oag::runtime;

namespace {

struct temp_tree {
  std::string base;
  std::string root;
  temp_tree() {
    char tmpl[] = "/tmp/oag-cockpit-XXXXXX";
    base = ::mkdtemp(tmpl);
    root = base + "/cockpit";
    ::mkdir(root.c_str(), 0755);
    ::mkdir((root + "/img").c_str(), 0755);
    ::mkdir((root + "/img/deep").c_str(), 0755);
    write(root + "/index.html", "<!doctype html><title>x</title>");
    write(root + "/app.js", "console.log(1)");
    write(root + "/style.css", "body{}");
    write(root + "/img/logo.svg", "<svg/>");
    write(root + "/img/deep/x.svg", "<svg/>");
    write(root + "/.hidden.js", "secret");
    write(root + "/notes.exe", "binary");
    write(base + "/secret.txt", "outside");
    (void)::symlink((base + "/secret.txt").c_str(), (root + "/out.txt").c_str());
    (void)::symlink((root + "/app.js").c_str(), (root + "/in.js").c_str());
  }
  ~temp_tree() { (void)std::system(("rm -rf '" + base + "'").c_str()); }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
};

std::string header(const cockpit::answer& a, const std::string& name) {
  for (const auto& h : a.headers)
    if (h.name == name) return h.value;
  return {};
}

} // namespace

TEST_CASE("cockpit: the paths it answers") {
  CHECK(cockpit::is_cockpit_path("/cockpit"));
  CHECK(cockpit::is_cockpit_path("/cockpit/"));
  CHECK(cockpit::is_cockpit_path("/cockpit/app.js"));
  CHECK_FALSE(cockpit::is_cockpit_path("/cockpitx"));
  CHECK_FALSE(cockpit::is_cockpit_path("/v1/cockpit"));
}

TEST_CASE("cockpit: safe relative paths") {
  CHECK(cockpit::safe_relative_path("index.html"));
  CHECK(cockpit::safe_relative_path("img/logo.svg"));
  CHECK_FALSE(cockpit::safe_relative_path("img/deep/x.svg"));
  CHECK_FALSE(cockpit::safe_relative_path("../secret.txt"));
  CHECK_FALSE(cockpit::safe_relative_path("img/../../secret.txt"));
  CHECK_FALSE(cockpit::safe_relative_path(".hidden.js"));
  CHECK_FALSE(cockpit::safe_relative_path("img//logo.svg"));
  CHECK_FALSE(cockpit::safe_relative_path("img/"));
  CHECK_FALSE(cockpit::safe_relative_path("%2e%2e/secret.txt"));
  CHECK_FALSE(cockpit::safe_relative_path("a\\b.js"));
  CHECK_FALSE(cockpit::safe_relative_path("notes.exe"));
  CHECK(cockpit::content_type_for("app.js") == std::optional<std::string>{"text/javascript; charset=utf-8"});
  CHECK(cockpit::content_type_for("a.css") == std::optional<std::string>{"text/css; charset=utf-8"});
  CHECK(cockpit::content_type_for("index.html") == std::optional<std::string>{"text/html; charset=utf-8"});
}

TEST_CASE("cockpit: serves files with their type and the security headers") {
  temp_tree t;
  auto root = cockpit::find_dir(t.root);
  REQUIRE(root);
  auto index = cockpit::serve(root, "GET", "/cockpit/", "127.0.0.1:8080");
  CHECK(index.status == 200);
  CHECK(index.body == "<!doctype html><title>x</title>");
  CHECK(index.content_type == "text/html; charset=utf-8");
  CHECK(header(index, "Cache-Control") == "no-cache");
  CHECK(header(index, "X-Content-Type-Options") == "nosniff");
  const auto csp = header(index, "Content-Security-Policy");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080") != std::string::npos);
  CHECK(csp.find("unsafe") == std::string::npos);

  auto js = cockpit::serve(root, "GET", "/cockpit/app.js", "h");
  CHECK(js.status == 200);
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  CHECK(cockpit::serve(root, "HEAD", "/cockpit/style.css", "h").status == 200);
  CHECK(cockpit::serve(root, "GET", "/cockpit/img/logo.svg", "h").content_type == "image/svg+xml");
  // A symlink to a file inside the directory is fine.
  CHECK(cockpit::serve(root, "GET", "/cockpit/in.js", "h").status == 200);

  auto redirect = cockpit::serve(root, "GET", "/cockpit", "h");
  CHECK(redirect.status == 308);
  CHECK(header(redirect, "Location") == "/cockpit/");

  auto post = cockpit::serve(root, "POST", "/cockpit/app.js", "h");
  CHECK(post.status == 405);
  CHECK(header(post, "Allow") == "GET, HEAD");
}

TEST_CASE("cockpit: nothing outside the directory") {
  temp_tree t;
  auto root = cockpit::find_dir(t.root);
  REQUIRE(root);
  for (const char* p : {"/cockpit/../secret.txt", "/cockpit/out.txt", "/cockpit/.hidden.js", "/cockpit/img/deep/x.svg",
                        "/cockpit/missing.js", "/cockpit/notes.exe", "/cockpit/img", "/cockpit/%2e%2e/secret.txt",
                        "/cockpit//etc/passwd"}) {
    INFO(p);
    auto a = cockpit::serve(root, "GET", p, "h");
    CHECK(a.status == 404);
    CHECK(a.body.find("\"error\"") != std::string::npos);
    CHECK(a.body.find("outside") == std::string::npos);
    CHECK(header(a, "X-Content-Type-Options") == "nosniff");
  }
  // Not installed: 404 that says so.
  auto none = cockpit::serve(std::nullopt, "GET", "/cockpit/", "h");
  CHECK(none.status == 404);
  CHECK(none.body.find("not installed") != std::string::npos);
  // A Host header that is not a plain host is left out of the CSP.
  CHECK(cockpit::content_security_policy("evil; script-src *").find("evil") == std::string::npos);
  // A configured directory that does not exist is nothing.
  CHECK_FALSE(cockpit::find_dir(t.base + "/nope"));
}
