#include "agents_objects.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "object_store.hpp"
#include "telegram_format.hpp"
#include "oag/storage/crypto.hpp"

namespace oag::actors::agents {

using nlohmann::json;

namespace {

const auto& bad = objects::bad_request;

/// Longest input template of a trigger, in bytes.
constexpr std::size_t max_template_bytes = 32768;

std::string quoted(const std::string& p) { return "'" + p + "'"; }

/// Moves a failure of a field check made on a nested object under
/// `prefix`: param "x" becomes "<prefix>.x", in the message too.
failure under(failure f, const std::string& prefix) {
  if (!f.param || f.param->empty()) {
    f.param = prefix;
    return f;
  }
  const std::string old = *f.param;
  const std::string full = old.front() == '[' ? prefix + old : prefix + "." + old;
  if (auto pos = f.message.find(quoted(old)); pos != std::string::npos)
    f.message.replace(pos, old.size() + 2, quoted(full));
  else if (f.message.size() >= old.size() + 2 && f.message.compare(f.message.size() - old.size() - 2, std::string::npos,
                                                                    ": " + old) == 0)
    f.message.replace(f.message.size() - old.size(), old.size(), full);
  f.param = full;
  return f;
}

/// A failure of a triggers/cron check (they name no param) at `param`.
failure at(failure f, const std::string& param) {
  f.code = errc::invalid_request;
  f.message = quoted(param) + ": " + f.message;
  f.param = param;
  return f;
}

result<void> only(const json& obj, std::initializer_list<const char*> allowed, const std::string& prefix) {
  auto r = objects::only_fields(obj, allowed);
  if (!r) return under(std::move(r).error(), prefix);
  return {};
}

/// An optional boolean `field` of `obj` (null = absent).
result<std::optional<bool>> bool_field(const json& obj, const char* field, const std::string& prefix) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<bool>{};
  const std::string p = prefix.empty() ? field : prefix + "." + field;
  if (!it->is_boolean()) return bad(quoted(p) + " must be a boolean", p);
  return std::optional<bool>{it->get<bool>()};
}

result<std::optional<std::string>> string_at(const json& obj, const char* field, std::size_t max,
                                             const std::string& prefix) {
  auto r = objects::string_field(obj, field, max);
  if (!r) return prefix.empty() ? std::move(r).error() : under(std::move(r).error(), prefix);
  return r;
}

result<std::optional<std::int64_t>> integer_at(const json& obj, const char* field, std::int64_t lo, std::int64_t hi,
                                               const std::string& prefix) {
  auto r = objects::integer_field(obj, field, lo, hi);
  if (!r) return prefix.empty() ? std::move(r).error() : under(std::move(r).error(), prefix);
  return r;
}

/// A template string (default `dflt` when absent or null).
result<std::string> template_at(const json& t, const std::string& p, const char* dflt) {
  auto v = string_at(t, "input", max_template_bytes, p);
  if (!v) return v.error();
  return *v ? **v : std::string{dflt};
}

// --- tools -----------------------------------------------------------------

result<json> check_agent_tools(const json& tools) {
  if (tools.is_null()) return json::array();
  if (!tools.is_array()) return bad("'tools' must be an array", "tools");
  if (tools.size() > 128) return bad("'tools' can hold at most 128 tools", "tools");
  json out = json::array();
  std::set<std::string> seen; // "function:<name>", "publish", "delegate"
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const std::string p = "tools[" + std::to_string(i) + "]";
    const json& t = tools[i];
    std::string name;
    std::string key;
    if (t.is_string()) {
      name = t.get<std::string>();
      if (!objects::is_name(name, 64))
        return bad(quoted(p) + " must be a tool name of 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'", p);
    } else {
      if (!t.is_object() || !t.contains("type") || !t["type"].is_string())
        return bad(quoted(p + ".type") + " is required", p + ".type");
      const std::string type = t["type"];
      if (type == "publish" || type == "delegate") {
        if (auto r = only(t, {"type"}, p); !r) return r.error();
        if (!seen.insert(type).second) return bad("Duplicate tool '" + type + "' in 'tools'", p + ".type");
        out.push_back({{"type", type}});
        continue;
      }
      if (type != "function")
        return bad("Unsupported tool type '" + type + "'; agents take 'function', 'publish' and 'delegate' tools.",
                   p + ".type");
      if (auto r = only(t, {"type", "function"}, p); !r) return r.error();
      if (!t.contains("function") || !t["function"].is_object())
        return bad(quoted(p + ".function") + " is required for function tools", p + ".function");
      const json& fn = t["function"];
      if (auto r = only(fn, {"name"}, p + ".function"); !r) return r.error();
      if (!fn.contains("name") || !fn["name"].is_string() || !objects::is_name(fn["name"].get<std::string>(), 64))
        return bad(quoted(p + ".function.name") + " must be 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'",
                   p + ".function.name");
      name = fn["name"].get<std::string>();
    }
    const std::string at_name = t.is_string() ? p : p + ".function.name";
    if (name == "publish" || name == "delegate")
      return bad("'" + name + "' is a built-in tool; write it as {\"type\":\"" + name + "\"}", at_name);
    if (!seen.insert("function:" + name).second)
      return bad("Duplicate function name '" + name + "' in 'tools'", at_name);
    out.push_back({{"type", "function"}, {"function", {{"name", name}}}});
  }
  return out;
}

// --- triggers --------------------------------------------------------------

/// Gives a webhook trigger its hook id: the one it names (modify) or a new one.
using hook_assigner = std::function<result<std::string>(const json& trigger, const std::string& param)>;

result<json> check_trigger(const json& t, const std::string& p, const hook_assigner& assign_hook) {
  if (!t.is_object() || !t.contains("type") || !t["type"].is_string())
    return bad(quoted(p + ".type") + " is required (cron, webhook or topic)", p + ".type");
  const std::string type = t["type"];
  if (type == "cron") {
    if (auto r = only(t, {"type", "schedule", "timezone", "input", "catch_up", "catch_up_max"}, p); !r)
      return r.error();
    auto sched = string_at(t, "schedule", 256, p);
    if (!sched) return sched.error();
    if (!*sched || (*sched)->empty()) return bad(quoted(p + ".schedule") + " is required", p + ".schedule");
    auto tz = string_at(t, "timezone", 64, p);
    if (!tz) return tz.error();
    const std::string zone = *tz ? **tz : std::string{"UTC"};
    if (zone.empty()) return bad(quoted(p + ".timezone") + " must not be empty", p + ".timezone");
    if (auto s = cron::schedule::parse(**sched, zone); !s) {
      const bool zone_fault = s.error().message.rfind("time_zone", 0) == 0;
      return at(s.error(), p + (zone_fault ? ".timezone" : ".schedule"));
    }
    auto input = template_at(t, p, "{{trigger}}");
    if (!input) return input.error();
    auto cu = string_at(t, "catch_up", 16, p);
    if (!cu) return cu.error();
    const std::string catch_up = *cu ? **cu : std::string{"latest"};
    if (auto c = cron::parse_catch_up(catch_up); !c)
      return bad(quoted(p + ".catch_up") + " must be one of none, latest, all", p + ".catch_up");
    auto max = integer_at(t, "catch_up_max", 1, 1000, p);
    if (!max) return max.error();
    return json{{"type", "cron"},    {"schedule", **sched},      {"timezone", zone},
                {"input", *input},   {"catch_up", catch_up},     {"catch_up_max", *max ? **max : 10}};
  }
  if (type == "webhook") {
    if (auto r = only(t, {"type", "hook_id", "input", "event_id_field", "tolerance_s"}, p); !r) return r.error();
    auto input = template_at(t, p, "{{body}}");
    if (!input) return input.error();
    auto field = string_at(t, "event_id_field", 255, p);
    if (!field) return field.error();
    if (*field)
      if (auto ok = triggers::check_json_path(**field); !ok) return at(ok.error(), p + ".event_id_field");
    auto tol = integer_at(t, "tolerance_s", 1, 86400, p);
    if (!tol) return tol.error();
    auto hook = assign_hook(t, p + ".hook_id");
    if (!hook) return hook.error();
    return json{{"type", "webhook"},
                {"hook_id", *hook},
                {"input", *input},
                {"event_id_field", *field ? json(**field) : json(nullptr)},
                {"tolerance_s", *tol ? **tol : 300}};
  }
  if (type == "topic") {
    if (auto r = only(t, {"type", "pattern", "input"}, p); !r) return r.error();
    auto pat = string_at(t, "pattern", triggers::max_topic_length, p);
    if (!pat) return pat.error();
    if (!*pat) return bad(quoted(p + ".pattern") + " is required", p + ".pattern");
    if (auto ok = triggers::check_topic_pattern(**pat); !ok) return at(ok.error(), p + ".pattern");
    auto input = template_at(t, p, "{{payload}}");
    if (!input) return input.error();
    return json{{"type", "topic"}, {"pattern", **pat}, {"input", *input}};
  }
  return bad(quoted(p + ".type") + " must be cron, webhook or topic", p + ".type");
}

result<json> check_triggers(const json& list, const hook_assigner& assign_hook) {
  if (list.is_null()) return json::array();
  if (!list.is_array()) return bad("'triggers' must be an array", "triggers");
  if (list.size() > max_triggers)
    return bad("'triggers' can hold at most " + std::to_string(max_triggers) + " triggers", "triggers");
  json out = json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto t = check_trigger(list[i], "triggers[" + std::to_string(i) + "]", assign_hook);
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
  return out;
}

// --- budget, limits, approval ----------------------------------------------

result<json> check_amount(const json& v, const std::string& p) {
  if (v.is_null()) return json(nullptr);
  std::string text;
  if (v.is_string()) text = v.get<std::string>();
  else if (v.is_number_unsigned()) text = std::to_string(v.get<std::uint64_t>());
  else if (v.is_number_integer()) text = std::to_string(v.get<std::int64_t>());
  else if (v.is_number_float() && std::isfinite(v.get<double>())) text = v.dump();
  else return bad(quoted(p) + " must be a decimal O₮ amount such as \"5\" or \"12.5\"", p);
  auto uot = money::parse_ot(text);
  if (!uot)
    return bad(quoted(p) + " must be a non-negative decimal O₮ amount with at most 6 decimals (such as \"5\" or "
               "\"12.5\")",
               p);
  return json(money::format_ot(*uot));
}

result<json> check_budget(const json& b) {
  json out = {{"per_run_ot", nullptr}, {"per_day_ot", nullptr}};
  if (b.is_null()) return out;
  if (!b.is_object()) return bad("'budget' must be an object", "budget");
  if (auto r = only(b, {"per_run_ot", "per_day_ot"}, "budget"); !r) return r.error();
  for (const char* k : {"per_run_ot", "per_day_ot"}) {
    if (!b.contains(k)) continue;
    auto a = check_amount(b[k], std::string{"budget."} + k);
    if (!a) return a.error();
    out[k] = *a;
  }
  return out;
}

result<json> check_limits(const json& l) {
  json out = {{"max_steps", nullptr}, {"max_delegation_depth", 2}, {"max_parallel_children", 5}};
  if (l.is_null()) return out;
  if (!l.is_object()) return bad("'limits' must be an object", "limits");
  if (auto r = only(l, {"max_steps", "max_delegation_depth", "max_parallel_children"}, "limits"); !r)
    return r.error();
  auto steps = integer_at(l, "max_steps", 1, 100, "limits");
  if (!steps) return steps.error();
  if (*steps) out["max_steps"] = **steps;
  auto depth = integer_at(l, "max_delegation_depth", 0, max_depth_cap, "limits");
  if (!depth) return depth.error();
  if (*depth) out["max_delegation_depth"] = **depth;
  auto kids = integer_at(l, "max_parallel_children", 1, static_cast<std::int64_t>(max_children_cap), "limits");
  if (!kids) return kids.error();
  if (*kids) out["max_parallel_children"] = **kids;
  return out;
}

result<json> check_approval(const json& a) {
  json out = {{"tools", json::object()}, {"expires_in_s", 86400}, {"telegram", true}};
  if (a.is_null()) return out;
  if (!a.is_object()) return bad("'approval' must be an object", "approval");
  if (auto r = only(a, {"tools", "expires_in_s", "telegram"}, "approval"); !r) return r.error();
  if (a.contains("tools") && !a["tools"].is_null()) {
    const json& tools = a["tools"];
    if (!tools.is_object())
      return bad("'approval.tools' must be an object mapping tool names to approval rules", "approval.tools");
    if (tools.size() > 128) return bad("'approval.tools' can hold at most 128 tools", "approval.tools");
    for (auto& [name, rule] : tools.items()) {
      const std::string p = "approval.tools." + name;
      if (!objects::is_name(name, 64))
        return bad("'approval.tools' keys must be tool names of 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'",
                   p);
      auto parsed = triggers::parse_approval_rule(rule);
      if (!parsed) {
        failure f = std::move(parsed).error();
        const std::string sub = f.param.value_or("");
        const std::string full = sub.empty() ? p : (sub.front() == '[' ? p + sub : p + "." + sub);
        f.message = quoted(full) + ": " + f.message;
        f.param = full;
        return f;
      }
      out["tools"][name] = rule;
    }
  }
  auto ttl = integer_at(a, "expires_in_s", 60, 604800, "approval");
  if (!ttl) return ttl.error();
  if (*ttl) out["expires_in_s"] = **ttl;
  auto tg = bool_field(a, "telegram", "approval");
  if (!tg) return tg.error();
  if (*tg) out["telegram"] = **tg;
  return out;
}

// --- the whole object --------------------------------------------------------

result<void> apply(json& agent, const json& body, const hook_assigner& assign_hook) {
  if (auto r = objects::only_fields(body, {"name", "description", "assistant_id", "model", "instructions", "tools",
                                           "triggers", "budget", "limits", "approval", "enabled", "metadata"});
      !r)
    return r.error();
  if (body.contains("name")) {
    auto n = objects::string_field(body, "name", 256);
    if (!n) return n.error();
    if (!*n || (*n)->empty()) return bad("'name' must be a non-empty string", "name");
    agent["name"] = **n;
  }
  for (auto [field, max] : {std::pair<const char*, std::size_t>{"description", 512}, {"instructions", 256000}}) {
    if (!body.contains(field)) continue;
    auto v = objects::string_field(body, field, max);
    if (!v) return v.error();
    agent[field] = *v ? json(**v) : json(nullptr);
  }
  if (body.contains("model")) {
    auto m = objects::string_field(body, "model", 256);
    if (!m) return m.error();
    if (*m && (*m)->empty()) return bad("'model' must be a non-empty string", "model");
    agent["model"] = *m ? json(**m) : json(nullptr);
  }
  if (body.contains("assistant_id")) {
    const json& a = body["assistant_id"];
    if (!a.is_null() && !(a.is_string() && objects::is_name(a.get<std::string>(), 128)))
      return bad("'assistant_id' must be an assistant id", "assistant_id");
    agent["assistant_id"] = a;
  }
  if (body.contains("tools")) {
    auto t = check_agent_tools(body["tools"]);
    if (!t) return t.error();
    agent["tools"] = *t;
  }
  if (body.contains("triggers")) {
    auto t = check_triggers(body["triggers"], assign_hook);
    if (!t) return t.error();
    agent["triggers"] = *t;
  }
  if (body.contains("budget")) {
    auto b = check_budget(body["budget"]);
    if (!b) return b.error();
    agent["budget"] = *b;
  }
  if (body.contains("limits")) {
    auto l = check_limits(body["limits"]);
    if (!l) return l.error();
    agent["limits"] = *l;
  }
  if (body.contains("approval")) {
    auto a = check_approval(body["approval"]);
    if (!a) return a.error();
    agent["approval"] = *a;
  }
  if (body.contains("enabled")) {
    auto e = bool_field(body, "enabled", "");
    if (!e) return e.error();
    agent["enabled"] = *e ? **e : true;
  }
  if (body.contains("metadata")) {
    auto m = objects::check_metadata(body["metadata"]);
    if (!m) return m.error();
    agent["metadata"] = *m;
  }
  if (agent["assistant_id"].is_null() && agent["model"].is_null())
    return bad("'model' is required when 'assistant_id' is not given", "model");
  return {};
}

failure not_enough_hook_ids() {
  return make_failure(errc::internal, "not enough hook ids were generated for the agent's webhook triggers");
}

} // namespace

std::size_t count_webhook_triggers(const json& body) {
  if (!body.is_object()) return 0;
  auto it = body.find("triggers");
  if (it == body.end() || !it->is_array()) return 0;
  return static_cast<std::size_t>(std::count_if(it->begin(), it->end(), [](const json& t) {
    return t.is_object() && t.contains("type") && t["type"] == "webhook";
  }));
}

result<json> new_agent(const json& body, const std::string& id, std::int64_t now,
                       const std::vector<std::string>& hook_ids) {
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (!body.contains("name") || body["name"].is_null()) return bad("'name' is required", "name");
  json agent = {{"id", id},
                {"object", "agent"},
                {"created_at", now},
                {"name", nullptr},
                {"description", nullptr},
                {"assistant_id", nullptr},
                {"model", nullptr},
                {"instructions", nullptr},
                {"tools", json::array()},
                {"triggers", json::array()},
                {"budget", {{"per_run_ot", nullptr}, {"per_day_ot", nullptr}}},
                {"limits", {{"max_steps", nullptr}, {"max_delegation_depth", 2}, {"max_parallel_children", 5}}},
                {"approval", {{"tools", json::object()}, {"expires_in_s", 86400}, {"telegram", true}}},
                {"enabled", true},
                {"metadata", json::object()}};
  std::size_t next = 0;
  hook_assigner assign = [&](const json& t, const std::string& param) -> result<std::string> {
    if (t.contains("hook_id") && !t["hook_id"].is_null())
      return bad(quoted(param) + " is assigned by OAG; leave it out when creating an agent", param);
    if (next >= hook_ids.size()) return not_enough_hook_ids();
    return hook_ids[next++];
  };
  if (auto r = apply(agent, body, assign); !r) return r.error();
  return agent;
}

result<json> modify_agent(const json& agent, const json& body, const std::vector<std::string>& new_hook_ids) {
  if (body.is_null()) return agent;
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  const auto current = hook_ids(agent);
  std::set<std::string> kept;
  std::size_t next = 0;
  hook_assigner assign = [&](const json& t, const std::string& param) -> result<std::string> {
    auto it = t.find("hook_id");
    if (it != t.end() && !it->is_null()) {
      if (!it->is_string() || std::find(current.begin(), current.end(), it->get<std::string>()) == current.end())
        return bad(quoted(param) + " does not name a webhook of this agent; leave it out to create a new webhook",
                   param);
      if (!kept.insert(it->get<std::string>()).second)
        return bad(quoted(param) + " names a webhook already kept by another trigger", param);
      return it->get<std::string>();
    }
    if (next >= new_hook_ids.size()) return not_enough_hook_ids();
    return new_hook_ids[next++];
  };
  json out = agent;
  if (auto r = apply(out, body, assign); !r) return r.error();
  return out;
}

std::vector<std::string> hook_ids(const json& agent) {
  std::vector<std::string> out;
  if (!agent.is_object()) return out;
  auto it = agent.find("triggers");
  if (it == agent.end() || !it->is_array()) return out;
  for (const auto& t : *it)
    if (t.is_object() && t.value("type", "") == "webhook" && t.contains("hook_id") && t["hook_id"].is_string())
      out.push_back(t["hook_id"].get<std::string>());
  return out;
}

budget budget_of(const json& agent) {
  budget out;
  const json* b = agent.is_object() && agent.contains("budget") ? &agent["budget"] : nullptr;
  if (!b || !b->is_object()) return out;
  auto read = [&](const char* k) -> std::optional<money::uot> {
    auto it = b->find(k);
    if (it == b->end() || !it->is_string()) return std::nullopt;
    auto v = money::parse_ot(it->get<std::string>());
    if (!v) return std::nullopt;
    return *v;
  };
  out.per_run = read("per_run_ot");
  out.per_day = read("per_day_ot");
  return out;
}

limits limits_of(const json& agent) {
  limits out;
  const json* l = agent.is_object() && agent.contains("limits") ? &agent["limits"] : nullptr;
  if (!l || !l->is_object()) return out;
  auto read = [&](const char* k, std::int64_t lo, std::int64_t hi) -> std::optional<int> {
    auto it = l->find(k);
    if (it == l->end() || !it->is_number_integer()) return std::nullopt;
    return static_cast<int>(std::clamp(it->get<std::int64_t>(), lo, hi));
  };
  out.max_steps = read("max_steps", 1, 100);
  if (auto d = read("max_delegation_depth", 0, max_depth_cap)) out.max_delegation_depth = *d;
  if (auto c = read("max_parallel_children", 1, static_cast<std::int64_t>(max_children_cap)))
    out.max_parallel_children = *c;
  return out;
}

std::optional<triggers::approval_rule> approval_rule_for(const json& agent, std::string_view tool) {
  if (!agent.is_object() || !agent.contains("approval") || !agent["approval"].is_object()) return std::nullopt;
  const json& a = agent["approval"];
  if (!a.contains("tools") || !a["tools"].is_object()) return std::nullopt;
  auto it = a["tools"].find(std::string{tool});
  if (it == a["tools"].end()) return std::nullopt;
  auto rule = triggers::parse_approval_rule(*it);
  if (!rule) return triggers::approval_rule{true, {}}; // a stored rule that no longer parses gates: fail closed
  if (!rule->always && rule->any.empty()) return std::nullopt;
  return std::move(*rule);
}

std::int64_t approval_ttl(const json& agent) {
  if (agent.is_object() && agent.contains("approval") && agent["approval"].is_object()) {
    const json& a = agent["approval"];
    if (a.contains("expires_in_s") && a["expires_in_s"].is_number_integer())
      return std::clamp<std::int64_t>(a["expires_in_s"].get<std::int64_t>(), 60, 604800);
  }
  return 86400;
}

// --- templates and ids -------------------------------------------------------

std::string render_template(std::string_view tmpl, const json& vars) {
  auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  };
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  std::string out;
  out.reserve(tmpl.size());
  std::size_t i = 0;
  while (i < tmpl.size()) {
    const auto open = tmpl.find("{{", i);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, open - i));
    std::size_t j = open + 2;
    while (j < tmpl.size() && blank(tmpl[j])) ++j;
    const std::size_t name_start = j;
    while (j < tmpl.size() && name_char(tmpl[j])) ++j;
    const std::size_t name_end = j;
    while (j < tmpl.size() && blank(tmpl[j])) ++j;
    if (name_end == name_start || tmpl.substr(j, 2) != "}}") {
      // Not a placeholder: copy one brace and look again from the next.
      out.push_back('{');
      i = open + 1;
      continue;
    }
    const std::string_view name = tmpl.substr(name_start, name_end - name_start);
    const json* v = nullptr;
    if (vars.is_object()) {
      auto it = vars.find(std::string{name});
      v = it != vars.end() ? &*it : triggers::find_json_path(vars, name);
    }
    if (v) {
      if (v->is_string()) out.append(v->get_ref<const std::string&>());
      else out.append(v->dump(-1, ' ', false, json::error_handler_t::replace));
    }
    i = j + 2;
  }
  return out;
}

std::string firing_id(std::initializer_list<std::string_view> parts) {
  std::string joined;
  bool first = true;
  for (auto p : parts) {
    if (!first) joined.push_back('\0');
    first = false;
    joined.append(p);
  }
  return "arun_" + crypto::sha256_hex(joined).substr(0, 24);
}

// --- built-in tools ----------------------------------------------------------

json delegate_tool_schema() {
  json task = {
      {"type", "object"},
      {"properties",
       {{"agent_id",
         {{"type", "string"}, {"description", "Run the task as this existing agent (its id). Leave out for an inline "
                                              "sub-agent."}}},
        {"instructions",
         {{"type", "string"},
          {"description", "Instructions (persona) of an inline sub-agent; leave out to reuse yours."}}},
        {"model", {{"type", "string"}, {"description", "Model of an inline sub-agent; leave out to use yours."}}},
        {"input", {{"type", "string"}, {"description", "The task, as the child's user message."}}}}},
      {"required", json::array({"input"})},
      {"additionalProperties", false}};
  return {{"type", "object"},
          {"properties",
           {{"tasks",
             {{"type", "array"},
              {"description", "The child tasks, run in parallel."},
              {"minItems", 1},
              {"maxItems", max_children_cap},
              {"items", task}}},
            {"wait_for",
             {{"type", "integer"},
              {"minimum", 1},
              {"description", "Return as soon as this many tasks have finished (default: wait for all)."}}},
            {"deadline_s",
             {{"type", "integer"},
              {"minimum", 1},
              {"maximum", 3600},
              {"description", "Stop waiting after this many seconds and return the results so far."}}}}},
          {"required", json::array({"tasks"})},
          {"additionalProperties", false}};
}

json publish_tool_schema() {
  return {{"type", "object"},
          {"properties",
           {{"topic",
             {{"type", "string"},
              {"description", "Dot-separated topic name, e.g. \"orders.eu.created\" (segments of A-Z a-z 0-9 _ -)."}}},
            {"payload", {{"description", "The event's payload: any JSON value."}}}}},
          {"required", json::array({"topic", "payload"})},
          {"additionalProperties", false}};
}

namespace {

result<json> parse_arguments(std::string_view arguments, const char* tool) {
  json j = json::parse(arguments.begin(), arguments.end(), nullptr, false);
  if (j.is_discarded())
    return bad(std::string{"The arguments of "} + tool + " must be a JSON object; they are not valid JSON.",
               "arguments");
  if (!j.is_object()) return bad(std::string{"The arguments of "} + tool + " must be a JSON object.", "arguments");
  return j;
}

/// An integer argument; an integral float (2.0) is accepted too.
std::optional<std::int64_t> as_integer(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

} // namespace

result<delegate_call> parse_delegate(std::string_view arguments, std::size_t max_children) {
  auto parsed = parse_arguments(arguments, "delegate");
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  for (auto& [k, v] : j.items())
    if (k != "tasks" && k != "wait_for" && k != "deadline_s")
      return bad("delegate takes 'tasks', 'wait_for' and 'deadline_s'; '" + k + "' is not one of them.", k);
  const std::size_t cap = std::min(max_children, max_children_cap);
  if (!j.contains("tasks") || !j["tasks"].is_array() || j["tasks"].empty())
    return bad("delegate needs 'tasks': a non-empty array of {\"input\": ...} objects.", "tasks");
  const json& tasks = j["tasks"];
  if (tasks.size() > cap)
    return bad("delegate may start at most " + std::to_string(cap) + " tasks at once; " +
                   std::to_string(tasks.size()) + " were given. Split the work or merge tasks.",
               "tasks");
  delegate_call call;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const json& t = tasks[i];
    const std::string p = "tasks[" + std::to_string(i) + "]";
    if (!t.is_object()) return bad(p + " must be an object with an 'input'.", p);
    for (auto& [k, v] : t.items())
      if (k != "agent_id" && k != "instructions" && k != "model" && k != "input")
        return bad(p + " takes 'agent_id', 'instructions', 'model' and 'input'; '" + k + "' is not one of them.",
                   p + "." + k);
    child_task c;
    if (!t.contains("input") || !t["input"].is_string() || t["input"].get_ref<const std::string&>().empty())
      return bad(p + ".input is required: the task for the child, as a non-empty string.", p + ".input");
    c.input = t["input"].get<std::string>();
    if (t.contains("agent_id") && !t["agent_id"].is_null()) {
      if (!t["agent_id"].is_string() || !objects::is_name(t["agent_id"].get<std::string>(), 128))
        return bad(p + ".agent_id must be an agent id (a string such as \"agt_...\").", p + ".agent_id");
      c.agent_id = t["agent_id"].get<std::string>();
    }
    if (t.contains("instructions") && !t["instructions"].is_null()) {
      if (!t["instructions"].is_string() || t["instructions"].get_ref<const std::string&>().size() > 256000)
        return bad(p + ".instructions must be a string of at most 256000 characters.", p + ".instructions");
      c.instructions = t["instructions"].get<std::string>();
    }
    if (t.contains("model") && !t["model"].is_null()) {
      if (!t["model"].is_string() || t["model"].get_ref<const std::string&>().empty() ||
          t["model"].get_ref<const std::string&>().size() > 256)
        return bad(p + ".model must be a model name (a non-empty string).", p + ".model");
      c.model = t["model"].get<std::string>();
    }
    call.tasks.push_back(std::move(c));
  }
  if (j.contains("wait_for") && !j["wait_for"].is_null()) {
    auto k = as_integer(j["wait_for"]);
    if (!k || *k < 1)
      return bad("wait_for must be a positive integer: how many results to wait for.", "wait_for");
    if (static_cast<std::uint64_t>(*k) > tasks.size())
      return bad("wait_for is " + std::to_string(*k) + " but only " + std::to_string(tasks.size()) +
                     " tasks were given; it can be at most the number of tasks.",
                 "wait_for");
    call.first_k = static_cast<std::size_t>(*k);
  }
  if (j.contains("deadline_s") && !j["deadline_s"].is_null()) {
    auto d = as_integer(j["deadline_s"]);
    if (!d || *d < 1 || *d > 3600)
      return bad("deadline_s must be an integer number of seconds between 1 and 3600.", "deadline_s");
    call.deadline_s = *d;
  }
  return call;
}

result<publish_call> parse_publish(std::string_view arguments) {
  auto parsed = parse_arguments(arguments, "publish");
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  for (auto& [k, v] : j.items())
    if (k != "topic" && k != "payload")
      return bad("publish takes 'topic' and 'payload'; '" + k + "' is not one of them.", k);
  if (!j.contains("topic") || !j["topic"].is_string())
    return bad("publish needs 'topic': a dot-separated topic name such as \"orders.created\".", "topic");
  const std::string topic = j["topic"];
  if (auto ok = triggers::check_topic(topic); !ok)
    return bad("Invalid topic: " + ok.error().message + ".", "topic");
  if (!j.contains("payload")) return bad("publish needs 'payload': the event, any JSON value.", "payload");
  return publish_call{topic, j["payload"]};
}

// --- request bodies ----------------------------------------------------------

result<event_body> parse_event_body(const json& body) {
  if (!body.is_object()) return bad("The body must be a JSON object with a 'payload'.", "body");
  if (auto r = objects::only_fields(body, {"payload", "event_id"}); !r) return r.error();
  if (!body.contains("payload")) return bad("'payload' is required", "payload");
  event_body out{body["payload"], std::nullopt};
  auto id = objects::string_field(body, "event_id", triggers::max_event_id_length);
  if (!id) return id.error();
  if (*id) {
    if ((*id)->empty()) return bad("'event_id' must not be empty", "event_id");
    out.event_id = **id;
  }
  return out;
}

namespace {

bool is_channel_name(const std::string& s) {
  if (s.size() < 2 || s.size() > 33 || s[0] != '@') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

} // namespace

result<telegram_body> parse_telegram_body(const json& body) {
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"bot_token", "chat_ids", "secret_token"}); !r) return r.error();
  telegram_body out;
  if (body.contains("bot_token") && !body["bot_token"].is_null()) {
    const json& t = body["bot_token"];
    if (!t.is_string() || !telegram::is_bot_token(t.get_ref<const std::string&>()))
      return bad("'bot_token' must be a Telegram bot token as @BotFather gives it (\"<digits>:<secret>\")",
                 "bot_token");
    out.bot_token = t.get<std::string>();
  }
  if (!body.contains("chat_ids") || body["chat_ids"].is_null()) return bad("'chat_ids' is required", "chat_ids");
  const json& ids = body["chat_ids"];
  if (!ids.is_array() || ids.empty() || ids.size() > 10)
    return bad("'chat_ids' must be an array of 1 to 10 chat ids", "chat_ids");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const json& c = ids[i];
    const std::string p = "chat_ids[" + std::to_string(i) + "]";
    const bool ok = (c.is_number_integer() && c.get<std::int64_t>() != 0) ||
                    (c.is_string() && is_channel_name(c.get<std::string>()));
    if (!ok) return bad(quoted(p) + " must be an integer chat id or an \"@channelname\"", p);
    if (std::find(out.chat_ids.begin(), out.chat_ids.end(), c) != out.chat_ids.end())
      return bad(quoted(p) + " repeats a chat id", p);
    out.chat_ids.push_back(c);
  }
  if (body.contains("secret_token") && !body["secret_token"].is_null()) {
    const json& s = body["secret_token"];
    if (!s.is_string() || !objects::is_name(s.get<std::string>(), 256))
      return bad("'secret_token' must be 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-'", "secret_token");
    out.secret_token = s.get<std::string>();
  }
  return out;
}

result<std::optional<std::string>> parse_decision_body(const json& body) {
  if (body.is_null()) return std::optional<std::string>{};
  if (!body.is_object()) return bad("The body must be a JSON object.", "body");
  if (auto r = objects::only_fields(body, {"reason"}); !r) return r.error();
  return objects::string_field(body, "reason", 1000);
}

} // namespace oag::actors::agents
