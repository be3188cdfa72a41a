#include "tools_api.hpp"

#include <algorithm>

#include "object_store.hpp"
#include "oag/adapters/json_schema.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "replies.hpp"
#include "run_support.hpp"

namespace oag::actors::tools {

using nlohmann::json;
using storage::record_kind;

namespace {

const auto& bad = objects::bad_request;

/// Replaces each `{{secret:NAME}}` in `value`; fails naming a missing secret.
result<std::string> resolve_refs(const std::string& value,
                                 const std::function<std::optional<std::string>(const std::string&)>& secret) {
  static constexpr std::string_view open = "{{secret:";
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto start = value.find(open, pos);
    if (start == std::string::npos) break;
    auto end = value.find("}}", start);
    if (end == std::string::npos) return bad("an unterminated {{secret:...}} reference", "endpoint.headers");
    out.append(value, pos, start - pos);
    std::string name = value.substr(start + open.size(), end - start - open.size());
    if (!objects::is_name(name, 64))
      return bad("secret names in {{secret:NAME}} are 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'",
                 "endpoint.headers");
    auto v = secret(name);
    if (!v) return make_failure(errc::invalid_request, "the secret '" + name + "' is not set (PUT /v1/secrets/" + name + ")");
    out += *v;
    pos = end + 2;
  }
  out.append(value, pos, std::string::npos);
  return out;
}

/// Validates a tool definition; returns the stored form (without id/time).
result<json> check_tool(const json& body, const std::optional<json>& existing) {
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"name", "description", "parameters", "endpoint"}); !r) return r.error();
  json t = existing ? *existing : json::object();
  if (body.contains("name") || !existing) {
    auto name = objects::string_field(body, "name", 64);
    if (!name) return name.error();
    if (!*name || !objects::is_name(**name, 64))
      return bad("'name' is required: 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'", "name");
    t["name"] = **name;
  }
  if (body.contains("description") || !existing) {
    auto d = objects::string_field(body, "description", 1024);
    if (!d) return d.error();
    t["description"] = *d ? json(**d) : json("");
  }
  if (body.contains("parameters") || !existing) {
    json params = body.value("parameters", json());
    if (params.is_null()) params = {{"type", "object"}, {"properties", json::object()}};
    if (auto r = adapters::check_tool_schema(params); !r) {
      auto f = r.error();
      if (!f.param) f.param = "parameters";
      return f;
    }
    t["parameters"] = params;
  }
  if (body.contains("endpoint") || !existing) {
    const auto& e = body.value("endpoint", json());
    if (!e.is_object()) return bad("'endpoint' is required: {method, url, headers, timeout_ms}", "endpoint");
    for (auto& [k, v] : e.items())
      if (k != "method" && k != "url" && k != "headers" && k != "timeout_ms")
        return bad("Unrecognized request argument supplied: endpoint." + k, "endpoint." + k);
    json ep = {{"method", e.value("method", json("POST"))}, {"url", e.value("url", json())},
               {"headers", e.value("headers", json::object())}, {"timeout_ms", e.value("timeout_ms", json(10000))}};
    if (!ep["method"].is_string()) return bad("'endpoint.method' must be a string", "endpoint.method");
    if (!ep["url"].is_string()) return bad("'endpoint.url' is required", "endpoint.url");
    if (!ep["headers"].is_object()) return bad("'endpoint.headers' must be an object of strings", "endpoint.headers");
    for (auto& [k, v] : ep["headers"].items())
      if (!v.is_string()) return bad("'endpoint.headers." + k + "' must be a string", "endpoint.headers." + k);
    if (!ep["timeout_ms"].is_number_integer() || ep["timeout_ms"].get<std::int64_t>() < 1 ||
        ep["timeout_ms"].get<std::int64_t>() > 600000)
      return bad("'endpoint.timeout_ms' must be an integer from 1 to 600000", "endpoint.timeout_ms");
    t["endpoint"] = ep;
  }
  // The endpoint must be callable; secret references are checked for shape only.
  auto endpoint = resolve_endpoint(t, [](const std::string&) { return std::optional<std::string>{"x"}; });
  if (!endpoint) return endpoint.error();
  if (auto r = adapters::check_http_tool_endpoint(*endpoint); !r) {
    auto f = r.error();
    if (!f.param) f.param = "endpoint";
    else if (f.param->rfind("endpoint", 0) != 0) f.param = "endpoint." + *f.param;
    return f;
  }
  return t;
}

void fail(const api_request& api, const failure& f) { detail::respond_failure(api.sink, f); }
void ok(const api_request& api, const json& j) { detail::respond_json(api.sink, 200, j); }

std::optional<json> tool_named(const gateway_context& ctx, const std::string& company_id, const std::string& name) {
  auto all = runs::load_tools(*ctx.db, company_id);
  if (!all) return std::nullopt;
  auto it = all->find(name);
  if (it == all->end()) return std::nullopt;
  return it->second;
}

void tools_route(const gateway_context& ctx, const std::string& company_id, api_request& api) {
  const auto prefix = storage::tenant_prefix(company_id, record_kind::tool);
  if (api.route == route_id::tools_create) {
    auto t = check_tool(api.body, std::nullopt);
    if (!t) return fail(api, t.error());
    if (tool_named(ctx, company_id, (*t)["name"]))
      return fail(api, make_failure(errc::conflict, "A tool named '" + (*t)["name"].get<std::string>() + "' exists already.", std::string{"name"}));
    json rec = {{"id", crypto::time_ordered_id("tool_")}, {"object", "tool"}, {"created_at", ctx.now()}};
    rec.update(*t);
    if (auto w = ctx.db->put(prefix + rec["id"].get<std::string>(), objects::dump(rec)); !w) return fail(api, w.error());
    return ok(api, rec);
  }
  if (api.route == route_id::tools_list) {
    auto page = objects::parse_page_query(api.query);
    if (!page) return fail(api, page.error());
    auto list = objects::list_page(*ctx.db, prefix, *page);
    if (!list) return fail(api, list.error());
    return ok(api, *list);
  }
  const std::string& id = api.params.at(0);
  auto doc = objects::get_json(*ctx.db, prefix + id);
  if (!doc) return fail(api, doc.error());
  if (!*doc) return fail(api, objects::no_such("tool", id));
  json rec = **doc;
  if (api.route == route_id::tool_get) return ok(api, rec);
  if (api.route == route_id::tool_delete) {
    storage::write_batch batch;
    batch.del(prefix + id);
    if (auto w = ctx.db->write(batch); !w) return fail(api, w.error());
    return ok(api, {{"id", id}, {"object", "tool.deleted"}, {"deleted", true}});
  }
  // modify
  auto t = check_tool(api.body, rec);
  if (!t) return fail(api, t.error());
  if ((*t)["name"] != rec["name"])
    if (auto other = tool_named(ctx, company_id, (*t)["name"]); other && (*other)["id"] != id)
      return fail(api, make_failure(errc::conflict, "A tool named '" + (*t)["name"].get<std::string>() + "' exists already.", std::string{"name"}));
  if (auto w = ctx.db->put(prefix + id, objects::dump(*t)); !w) return fail(api, w.error());
  return ok(api, *t);
}

void secrets_route(const gateway_context& ctx, const std::string& company_id, api_request& api) {
  if (api.route == route_id::secrets_list) {
    json data = json::array();
    auto r = ctx.db->for_each(storage::tenant_prefix(company_id, record_kind::secret), [&](std::string_view, std::string_view v) {
      auto doc = json::parse(v, nullptr, false);
      if (doc.is_object()) data.push_back({{"object", "secret"}, {"name", doc["name"]}, {"created_at", doc["created_at"]}});
      return true;
    });
    if (!r) return fail(api, r.error());
    return ok(api, {{"object", "list"}, {"data", data}});
  }
  const std::string& name = api.params.at(0);
  if (!objects::is_name(name, 64))
    return fail(api, bad("secret names are 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'", "name"));
  const auto k = storage::tenant_key(company_id, record_kind::secret, name);
  if (api.route == route_id::secret_delete) {
    auto doc = ctx.db->get(k);
    if (!doc) return fail(api, doc.error());
    if (!*doc) return fail(api, make_failure(errc::not_found, "No secret named '" + name + "'."));
    storage::write_batch batch;
    batch.del(k);
    if (auto w = ctx.db->write(batch); !w) return fail(api, w.error());
    return ok(api, {{"object", "secret.deleted"}, {"name", name}, {"deleted", true}});
  }
  if (!api.body.is_object()) return fail(api, bad("The body must be a JSON object.", "body"));
  if (auto r = objects::only_fields(api.body, {"value"}); !r) return fail(api, r.error());
  auto value = objects::string_field(api.body, "value", 64 * 1024);
  if (!value) return fail(api, value.error());
  if (!*value || (*value)->empty()) return fail(api, bad("'value' is required: a non-empty string", "value"));
  auto sealed = ctx.vault->seal(**value, runs::secret_aad(company_id, name));
  if (!sealed) return fail(api, sealed.error());
  json rec = {{"name", name}, {"created_at", ctx.now()}, {"sealed", crypto::base64_encode(*sealed)}};
  if (auto w = ctx.db->put(k, objects::dump(rec)); !w) return fail(api, w.error());
  return ok(api, {{"object", "secret"}, {"name", name}, {"created_at", rec["created_at"]}});
}

void settings_route(const gateway_context& ctx, const std::string& company_id, api_request& api) {
  const auto k = storage::tenant_key(company_id, record_kind::settings);
  auto doc = objects::get_json(*ctx.db, k);
  if (!doc) return fail(api, doc.error());
  json current = *doc ? **doc : json{{"instructions", nullptr}, {"tool_network_allowlist", json::array()}, {"run_max_steps", nullptr}};
  auto shown = [&](json j) {
    j["object"] = "company.settings";
    j["company_id"] = company_id;
    return j;
  };
  if (api.route == route_id::admin_settings_get) return ok(api, shown(current));
  const json& body = api.body;
  if (!body.is_object()) return fail(api, bad("The body must be a JSON object.", "body"));
  if (auto r = objects::only_fields(body, {"instructions", "tool_network_allowlist", "run_max_steps"}); !r) return fail(api, r.error());
  if (body.contains("instructions")) {
    auto i = objects::string_field(body, "instructions", 256000);
    if (!i) return fail(api, i.error());
    current["instructions"] = *i ? json(**i) : json(nullptr);
  }
  if (body.contains("tool_network_allowlist")) {
    const auto& a = body["tool_network_allowlist"];
    adapters::network_allowlist allow;
    if (!a.is_null()) {
      if (!a.is_array()) return fail(api, bad("'tool_network_allowlist' must be an array of hosts, IPs or CIDRs", "tool_network_allowlist"));
      for (auto& e : a) {
        if (!e.is_string()) return fail(api, bad("'tool_network_allowlist' entries must be strings", "tool_network_allowlist"));
        allow.entries.push_back(e.get<std::string>());
      }
      if (auto r = adapters::check_network_allowlist(allow); !r) return fail(api, r.error());
    }
    current["tool_network_allowlist"] = a.is_null() ? json::array() : a;
  }
  if (body.contains("run_max_steps")) {
    auto n = objects::integer_field(body, "run_max_steps", 1, 1000);
    if (!n) return fail(api, n.error());
    current["run_max_steps"] = *n ? json(**n) : json(nullptr);
  }
  if (auto w = ctx.db->put(k, objects::dump(current)); !w) return fail(api, w.error());
  return ok(api, shown(current));
}

} // namespace

result<adapters::http_tool_endpoint> resolve_endpoint(
    const json& tool, const std::function<std::optional<std::string>(const std::string&)>& secret) {
  adapters::http_tool_endpoint e;
  const auto& ep = tool["endpoint"];
  e.method = ep.value("method", std::string{"POST"});
  e.url_template = ep.value("url", std::string{});
  e.timeout = std::chrono::milliseconds(ep.value("timeout_ms", 10000));
  for (auto& [k, v] : ep["headers"].items()) {
    auto resolved = resolve_refs(v.get<std::string>(), secret);
    if (!resolved) return resolved.error();
    e.headers.emplace_back(k, std::move(resolved.value()));
  }
  return e;
}

void handle(const gateway_context& ctx, const std::string& company_id, api_request& api) {
  const auto r = api.route;
  if (r >= route_id::tools_create && r <= route_id::tool_delete) return tools_route(ctx, company_id, api);
  if (r >= route_id::secret_put && r <= route_id::secret_delete) return secrets_route(ctx, company_id, api);
  return settings_route(ctx, company_id, api);
}

} // namespace oag::actors::tools
