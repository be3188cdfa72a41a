#include "config.hpp"

#include "oag/adapters/adapter.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace oag::runtime {

using nlohmann::json;

result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text) {
  auto bad = [&] {
    return make_failure(errc::invalid_request, "listen address must be HOST:PORT, got '" + text + "'");
  };
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return bad();
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) return bad();
  return std::make_pair(host, static_cast<std::uint16_t>(p));
}

namespace {

std::string resolve_path(const std::string& base, const std::string& p) {
  if (p.empty() || p[0] == '/' || base.empty()) return p;
  return base + "/" + p;
}

} // namespace

result<app_config> parse_config(const json& doc, const std::string& base_dir,
                                const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  app_config c;
  auto bad = [](const std::string& path, const std::string& why) {
    return make_failure(errc::invalid_request, "config " + path + ": " + why, path);
  };
  if (!doc.is_object()) return bad("$", "must be a JSON object");
  auto str = [&](const char* key, std::string& out) -> std::optional<failure> {
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return bad(std::string{"$."} + key, "must be a string");
    out = it->get<std::string>();
    return std::nullopt;
  };
  auto uint = [&](const json& obj, const std::string& path, const char* key,
                  std::uint64_t max) -> result<std::optional<std::uint64_t>> {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::optional<std::uint64_t>{};
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max)
      return bad(path + "." + key, "must be a non-negative integer up to " + std::to_string(max));
    return std::optional<std::uint64_t>{it->get<std::uint64_t>()};
  };
  std::string listen;
  if (auto e = str("listen", listen)) return *e;
  if (!listen.empty()) {
    auto l = parse_listen(listen);
    if (!l) return bad("$.listen", l.error().message);
    c.listen_host = l->first;
    c.listen_port = l->second;
  }
  if (auto e = str("data_dir", c.data_dir)) return *e;
  if (auto e = str("prices_file", c.prices_file)) return *e;
  // data_dir stays relative to the working directory ("./data" by default);
  // files the config names are relative to the config file.
  c.prices_file = resolve_path(base_dir, c.prices_file);
  if (auto it = doc.find("demo"); it != doc.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("$.demo", "must be a boolean");
    c.demo = it->get<bool>();
  }
  if (auto e = str("demo_credit_ot", c.demo_credit_ot)) return *e;
  if (auto v = uint(doc, "$", "body_limit_bytes", 1ull << 30); !v) return v.error();
  else if (*v) c.body_limit_bytes = **v;
  std::string durability;
  if (auto e = str("durability", durability)) return *e;
  if (durability == "fsync") c.durability = storage::durability::fsync;
  else if (!durability.empty() && durability != "wal") return bad("$.durability", "must be \"wal\" or \"fsync\"");
  if (auto v = uint(doc, "$", "io_threads", 256); !v) return v.error();
  else if (*v) c.io_threads = static_cast<unsigned>(**v);
  if (auto v = uint(doc, "$", "actor_threads", 256); !v) return v.error();
  else if (*v) c.actor_threads = static_cast<unsigned>(**v);
  if (auto e = str("log_format", c.log_format)) return *e;
  if (c.log_format != "text" && c.log_format != "json") return bad("$.log_format", "must be \"text\" or \"json\"");
  if (auto e = str("log_level", c.log_level)) return *e;
  if (auto v = uint(doc, "$", "drain_timeout_s", 3600); !v) return v.error();
  else if (*v) c.drain_timeout = std::chrono::seconds(**v);
  std::string ca;
  if (auto e = str("extra_ca_file", ca)) return *e;
  if (!ca.empty()) c.extra_ca_file = resolve_path(base_dir, ca);
  std::string cockpit;
  if (auto e = str("cockpit_dir", cockpit)) return *e;
  if (!cockpit.empty()) c.cockpit_dir = resolve_path(base_dir, cockpit);
  if (auto v = uint(doc, "$", "reserve_output_cap", 100'000'000); !v) return v.error();
  else if (*v) c.settings.reserve_output_cap = static_cast<std::int64_t>(**v);
  if (auto v = uint(doc, "$", "max_idle_connections", 100'000); !v) return v.error();
  else if (*v) c.settings.max_idle_connections = **v;
  {
    std::string system_prompt;
    if (auto e = str("system_prompt", system_prompt)) return *e;
    if (!system_prompt.empty()) c.settings.system_prompt = system_prompt;
  }
  if (auto v = uint(doc, "$", "run_expiry_s", 7 * 24 * 3600); !v) return v.error();
  else if (*v) c.settings.run_expiry = std::chrono::seconds(std::max<std::uint64_t>(1, **v));
  if (auto v = uint(doc, "$", "run_max_steps", 1000); !v) return v.error();
  else if (*v) c.settings.run_max_steps = static_cast<int>(std::max<std::uint64_t>(1, **v));
  if (auto e = str("telegram_api_base", c.settings.telegram_api_base)) return *e;
  {
    const auto& base = c.settings.telegram_api_base;
    if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0)
      return bad("$.telegram_api_base", "must start with http:// or https://");
    while (c.settings.telegram_api_base.size() > 8 && c.settings.telegram_api_base.back() == '/')
      c.settings.telegram_api_base.pop_back();
  }

  if (auto it = doc.find("upstream_timeouts"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("$.upstream_timeouts", "must be an object");
    const std::string path = "$.upstream_timeouts";
    auto& t = c.settings.upstream_timeouts;
    if (auto v = uint(*it, path, "connect_ms", 3'600'000); !v) return v.error();
    else if (*v) t.connect = std::chrono::milliseconds(**v);
    if (auto v = uint(*it, path, "first_byte_ms", 3'600'000); !v) return v.error();
    else if (*v) t.first_byte = std::chrono::milliseconds(**v);
    if (auto v = uint(*it, path, "idle_ms", 3'600'000); !v) return v.error();
    else if (*v) t.idle = std::chrono::milliseconds(**v);
  }
  if (auto it = doc.find("aliases"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("$.aliases", "must be an object of alias -> \"provider/model\"");
    for (auto& [k, v] : it->items()) {
      if (!v.is_string() || v.get<std::string>().find('/') == std::string::npos)
        return bad("$.aliases." + k, "must be a string \"provider/model\"");
      c.settings.aliases.emplace(k, v.get<std::string>());
    }
  }
  if (auto it = doc.find("default_routing"); it != doc.end() && !it->is_null()) {
    auto p = actors::routing::policy::compile(*it);
    if (!p) return bad("$.default_routing" + p.error().param.value_or("").substr(1), p.error().message);
    c.settings.default_routing = p.value();
  }
  if (auto it = doc.find("routing"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("$.routing", "must be an object of company id -> routing config");
    for (auto& [company, cfg] : it->items()) {
      auto p = actors::routing::policy::compile(cfg);
      if (!p) return bad("$.routing." + company + p.error().param.value_or("").substr(1), p.error().message);
      c.settings.company_routing.emplace(company, p.value());
    }
  }
  if (auto it = doc.find("providers"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("$.providers", "must be an object of name -> provider");
    for (auto& [name, p] : it->items()) {
      const std::string path = "$.providers." + name;
      if (!p.is_object()) return bad(path, "must be an object");
      actors::platform_provider_config pc;
      pc.name = name;
      auto kind = p.find("kind");
      if (kind == p.end() || !kind->is_string()) return bad(path + ".kind", "is required (a string)");
      pc.kind = kind->get<std::string>();
      if (auto b = p.find("base_url"); b != p.end() && !b->is_null()) {
        if (!b->is_string()) return bad(path + ".base_url", "must be a string");
        pc.base_url = b->get<std::string>();
      }
      const auto* adapter = adapters::find_adapter(pc.kind);
      if (!adapter) return bad(path + ".kind", "is not a supported provider kind");
      if (pc.kind != "mock" && pc.base_url.empty() && !adapter->default_base_url())
        return bad(path + ".base_url", "is required for kind " + pc.kind);
      if (auto e = p.find("api_key_env"); e != p.end() && !e->is_null()) {
        if (!e->is_string()) return bad(path + ".api_key_env", "must be a string");
        pc.api_key = getenv(e->get<std::string>());
        // A provider whose key is not in the environment is left out rather
        // than sending unauthenticated calls.
        if (!pc.api_key) continue;
      }
      if (auto ins = p.find("allow_insecure_http"); ins != p.end() && !ins->is_null()) {
        if (!ins->is_boolean()) return bad(path + ".allow_insecure_http", "must be a boolean");
        pc.allow_insecure_http = ins->get<bool>();
      }
      c.providers.push_back(std::move(pc));
    }
  }
  return c;
}

result<app_config> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_failure(errc::invalid_request, "cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded()) return make_failure(errc::invalid_request, "config file " + path + " is not valid JSON");
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
  return parse_config(doc, base, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string{v};
  });
}

} // namespace oag::runtime
