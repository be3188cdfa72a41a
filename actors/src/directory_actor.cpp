// The directory: the one place that maps API keys to companies and company
// ids to tenant actors. It restores the key index at start, spawns tenants
// on first use, and owns the global records (key hashes, company index).
// It does no per-call work beyond a hash lookup and a forward, so it stays
// off the critical path of the tenants.

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "oag/actors/gateway.hpp"
#include "oag/storage/keys.hpp"
#include "oag/storage/wallet.hpp"
#include "replies.hpp"
#include "tenant_actor.hpp"

namespace oag::actors {
namespace {

using nlohmann::json;
using storage::record_kind;

struct key_ref {
  std::string company_id;
  std::string key_id;
};

struct directory_state {
  std::shared_ptr<const gateway_context> ctx;
  std::shared_ptr<const platform_providers> platform;
  std::unordered_map<std::string, key_ref> keys; // raw sha256 -> owner
  std::unordered_set<std::string> companies;
  std::unordered_map<std::string, caf::actor> tenants;
  static inline const char* name = "oag.directory";
};

using directory_actor = caf::stateful_actor<directory_state>;

caf::actor tenant_of(directory_actor* self, const std::string& company_id) {
  auto& st = self->state;
  auto it = st.tenants.find(company_id);
  if (it != st.tenants.end()) return it->second;
  auto t = spawn_tenant(self->system(), st.ctx, company_id, st.platform);
  self->link_to(t);
  st.tenants.emplace(company_id, t);
  return t;
}

json key_json(const storage::api_key_record& k) {
  return {{"id", k.id}, {"object", "api_key"}, {"name", k.name}, {"company_id", k.company_id},
          {"created_at", k.created_at}, {"revoked", k.revoked}};
}

struct created_key {
  storage::api_key_record record;
  std::string plaintext;
};

result<created_key> create_key(directory_actor* self, const std::string& company_id, std::string name) {
  auto& st = self->state;
  created_key out;
  out.plaintext = crypto::random_id("oag-", 40);
  auto hash = crypto::sha256(out.plaintext);
  out.record.id = crypto::random_id("key_", 20);
  out.record.company_id = company_id;
  out.record.name = std::move(name);
  out.record.hash_hex = crypto::to_hex(hash);
  out.record.created_at = st.ctx->now();
  storage::write_batch batch;
  batch.put(storage::tenant_key(company_id, record_kind::api_key, out.record.id), storage::encode(out.record));
  batch.put(storage::global_key(record_kind::key_hash, hash), company_id + "\n" + out.record.id);
  if (auto w = st.ctx->db->write(batch); !w) return w.error();
  st.keys[hash] = key_ref{company_id, out.record.id};
  return out;
}

result<storage::company_record> create_company(directory_actor* self, std::string name, money::uot credit) {
  auto& st = self->state;
  storage::company_record rec;
  rec.id = crypto::random_id("co_", 20);
  rec.name = std::move(name);
  rec.created_at = st.ctx->now();
  storage::write_batch batch;
  batch.put(storage::tenant_key(rec.id, record_kind::company), storage::encode(rec));
  batch.put(storage::global_key(record_kind::company_index, rec.id), rec.id);
  storage::wallet_record wallet;
  wallet.credits_uot = credit;
  wallet.balance_uot = credit;
  batch.put(storage::tenant_key(rec.id, record_kind::wallet), storage::encode(wallet));
  if (auto w = st.ctx->db->write(batch); !w) return w.error();
  st.companies.insert(rec.id);
  return rec;
}

void admin(directory_actor* self, admin_request& req) {
  auto& st = self->state;
  auto& api = req.api;
  auto fail = [&](failure f) { detail::respond_failure(api.sink, f); };
  auto bad = [&](std::string msg, std::string param) {
    fail(make_failure(errc::invalid_request, std::move(msg), std::move(param)));
  };
  if (api.route == route_id::admin_companies_create) {
    if (!api.body.is_object()) return bad("the body must be a JSON object", "body");
    auto name = detail::optional_string(api.body, "name");
    if (!name) return fail(name.error());
    if (!*name || name.value()->empty() || name.value()->size() > 200)
      return bad("'name' is required: 1 to 200 characters", "name");
    money::uot credit = 0;
    if (auto it = api.body.find("credit_ot"); it != api.body.end() && !it->is_null()) {
      if (!it->is_string() && !it->is_number_unsigned())
        return bad("'credit_ot' must be a decimal string such as \"1000\"", "credit_ot");
      auto parsed = money::parse_ot(it->is_string() ? it->get<std::string>()
                                                    : std::to_string(it->get<std::uint64_t>()));
      if (!parsed) return bad(parsed.error().message, "credit_ot");
      credit = *parsed;
    }
    auto rec = create_company(self, **name, credit);
    if (!rec) return fail(rec.error());
    return detail::respond_json(api.sink, 201,
                                {{"id", rec->id}, {"object", "company"}, {"name", rec->name},
                                 {"created_at", rec->created_at}, {"credits_uot", credit}});
  }
  if (api.route == route_id::admin_companies_list) {
    json data = json::array();
    auto r = st.ctx->db->for_each(storage::global_prefix(record_kind::company_index),
                                  [&](std::string_view, std::string_view id) {
                                    auto c = st.ctx->db->get(storage::tenant_key(id, record_kind::company));
                                    if (c && *c)
                                      if (auto rec = storage::decode_company(**c))
                                        data.push_back({{"id", rec->id}, {"object", "company"},
                                                        {"name", rec->name}, {"created_at", rec->created_at}});
                                    return true;
                                  });
    if (!r) return fail(r.error());
    return detail::respond_json(api.sink, 200, {{"object", "list"}, {"data", data}});
  }
  // Every other admin route is about one company.
  const std::string& company_id = api.params.at(0);
  if (!st.companies.count(company_id))
    return fail(make_failure(errc::not_found, "no company with id '" + company_id + "'"));
  switch (api.route) {
    case route_id::admin_keys_create: {
      std::string name = "default";
      if (api.body.is_object()) {
        auto n = detail::optional_string(api.body, "name");
        if (!n) return fail(n.error());
        if (*n) name = **n;
      } else if (!api.body.is_null()) {
        return bad("the body must be a JSON object", "body");
      }
      if (name.size() > 200) return bad("'name' is at most 200 characters", "name");
      auto key = create_key(self, company_id, name);
      if (!key) return fail(key.error());
      auto j = key_json(key->record);
      j["key"] = key->plaintext;
      return detail::respond_json(api.sink, 201, j);
    }
    case route_id::admin_keys_list: {
      json data = json::array();
      auto r = st.ctx->db->for_each(storage::tenant_prefix(company_id, record_kind::api_key),
                                    [&](std::string_view, std::string_view v) {
                                      if (auto k = storage::decode_api_key(v)) data.push_back(key_json(*k));
                                      return true;
                                    });
      if (!r) return fail(r.error());
      return detail::respond_json(api.sink, 200, {{"object", "list"}, {"data", data}});
    }
    case route_id::admin_keys_revoke: {
      const std::string& key_id = api.params.at(1);
      auto raw = st.ctx->db->get(storage::tenant_key(company_id, record_kind::api_key, key_id));
      if (!raw) return fail(raw.error());
      if (!*raw) return fail(make_failure(errc::not_found, "no key with id '" + key_id + "'"));
      auto rec = storage::decode_api_key(**raw);
      if (!rec) return fail(rec.error());
      rec->revoked = true;
      // The index is keyed by the raw digest; the record keeps it as hex.
      std::string hash;
      auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
      for (std::size_t i = 0; i + 1 < rec->hash_hex.size(); i += 2)
        hash += static_cast<char>(nibble(rec->hash_hex[i]) * 16 + nibble(rec->hash_hex[i + 1]));
      if (auto it = st.keys.find(hash); it == st.keys.end() || it->second.key_id != key_id) hash.clear();
      storage::write_batch batch;
      batch.put(storage::tenant_key(company_id, record_kind::api_key, key_id), storage::encode(*rec));
      if (!hash.empty()) batch.del(storage::global_key(record_kind::key_hash, hash));
      if (auto w = st.ctx->db->write(batch); !w) return fail(w.error());
      if (!hash.empty()) st.keys.erase(hash);
      return detail::respond_json(api.sink, 200, key_json(*rec));
    }
    default:
      self->send(tenant_of(self, company_id), tenant_request{company_id, std::string{}, true, std::move(api)});
      return;
  }
}

caf::behavior directory_behavior(directory_actor* self, std::shared_ptr<const gateway_context> ctx,
                                 std::shared_ptr<const platform_providers> platform,
                                 std::unordered_map<std::string, key_ref> keys,
                                 std::unordered_set<std::string> companies) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.platform = std::move(platform);
  st.keys = std::move(keys);
  st.companies = std::move(companies);
  for (auto& [name, p] : st.platform->by_name) self->link_to(p.actor);
  // Companies with work of their own get their tenant now, without waiting
  // for their next request: unfinished runs resume, cron triggers fire,
  // approvals expire, agent runs whose end was not recorded are recorded.
  std::vector<std::string> with_runs;
  for (auto& id : st.companies) {
    for (auto kind : {record_kind::active_run, record_kind::agent_schedule, record_kind::approval_pending,
                      record_kind::agent_run_open}) {
      auto first = st.ctx->db->scan(storage::tenant_prefix(id, kind), std::nullopt, 1);
      if (first && !first->empty()) {
        with_runs.push_back(id);
        break;
      }
    }
  }
  for (auto& id : with_runs) tenant_of(self, id);
  return {
    [=](client_request& req) {
      auto& st = self->state;
      auto it = st.keys.find(req.key_hash);
      if (it == st.keys.end())
        return detail::respond_failure(req.api.sink,
                                       make_failure(errc::invalid_api_key,
                                                    "Incorrect API key provided. Create a key with the admin API "
                                                    "(POST /admin/v1/companies/{id}/keys)."));
      // Real time: the key is valid; the edge mints the token or accepts the WebSocket.
      if (req.api.route == route_id::realtime_token_create || req.api.route == route_id::realtime_chat)
        return detail::respond_json(req.api.sink, 200,
                                    {{"company_id", it->second.company_id}, {"key_id", it->second.key_id}});
      self->send(tenant_of(self, it->second.company_id),
                 tenant_request{it->second.company_id, it->second.key_id, false, std::move(req.api)});
    },
    [=](admin_request& req) { admin(self, req); },
    [=](hook_request& req) {
      // No key: the hook id names the company (one point read of the
      // global hook index, written by the company's agents actor).
      auto& st = self->state;
      const std::string hook_id = req.api.params.empty() ? std::string{} : req.api.params.front();
      auto not_found = [&] {
        detail::respond_failure(req.api.sink, make_failure(errc::not_found, "No hook with id '" + hook_id + "'."));
      };
      if (hook_id.empty()) return not_found();
      auto raw = st.ctx->db->get(storage::global_key(record_kind::hook_index, hook_id));
      if (!raw) return detail::respond_failure(req.api.sink, raw.error());
      if (!*raw || !st.companies.count(**raw)) return not_found();
      std::string company_id = std::move(**raw);
      self->send(tenant_of(self, company_id), tenant_request{company_id, std::string{}, false, std::move(req.api)});
    },
    [=](const clock_changed& msg) {
      for (auto& [id, t] : self->state.tenants) self->send(t, msg);
    },
    [=](const cancel_exchanges& msg) {
      for (auto& [id, t] : self->state.tenants) self->send(t, msg);
      for (auto& [name, p] : self->state.platform->by_name) self->send(p.actor, msg);
    },
    [=](const bootstrap_company& req) -> caf::result<demo_bootstrap> {
      auto rec = create_company(self, req.name, req.credit_uot);
      if (!rec) return to_caf_error(rec.error());
      auto key = create_key(self, rec->id, "demo");
      if (!key) return to_caf_error(key.error());
      return demo_bootstrap{rec->id, key->plaintext};
    },
  };
}

} // namespace

result<caf::actor> spawn_directory(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                                   std::vector<platform_provider_config> platform) {
  std::unordered_map<std::string, key_ref> keys;
  std::unordered_set<std::string> companies;
  auto r = ctx->db->for_each(storage::global_prefix(record_kind::key_hash),
                             [&](std::string_view key, std::string_view value) {
                               auto hash = key.substr(storage::global_prefix(record_kind::key_hash).size());
                               auto nl = value.find('\n');
                               if (nl != std::string_view::npos)
                                 keys.emplace(std::string{hash}, key_ref{std::string{value.substr(0, nl)},
                                                                         std::string{value.substr(nl + 1)}});
                               return true;
                             });
  if (!r) return r.error();
  r = ctx->db->for_each(storage::global_prefix(record_kind::company_index),
                        [&](std::string_view, std::string_view id) {
                          companies.emplace(id);
                          return true;
                        });
  if (!r) return r.error();
  // The built-in mock is always there, unless the config declares its own "mock".
  if (std::none_of(platform.begin(), platform.end(), [](auto& p) { return p.name == "mock"; }))
    platform.push_back({"mock", "mock", "", std::nullopt, false});
  auto shared = std::make_shared<platform_providers>();
  for (auto& p : platform) {
    provider_handle h;
    h.endpoint = {p.name, p.kind, p.base_url, p.api_key, p.allow_insecure_http, {}};
    h.actor = spawn_provider(sys, ctx, h.endpoint);
    shared->by_name.emplace(p.name, std::move(h));
  }
  spdlog::info("directory restored: {} companies, {} active keys, {} platform providers", companies.size(),
               keys.size(), shared->by_name.size());
  return sys.spawn(directory_behavior, std::move(ctx), std::shared_ptr<const platform_providers>(shared),
                   std::move(keys), std::move(companies));
}

} // namespace oag::actors
