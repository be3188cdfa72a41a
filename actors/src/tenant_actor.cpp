// The tenant actor owns one company's state: its wallet (balance,
// reservations, ledger sequence), its connected providers and their
// provider actors. Every wallet transition is planned as a pure function,
// written as one RocksDB batch, and adopted in memory only after the write
// succeeded, so memory and disk never disagree.

#include "tenant_actor.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "assistants_actor.hpp"
#include "call_actor.hpp"
#include "oag/actors/routing.hpp"
#include "oag/adapters/adapter.hpp"
#include "oag/adapters/compat_adapters.hpp"
#include "oag/adapters/validate.hpp"
#include "oag/storage/keys.hpp"
#include "oag/storage/wallet.hpp"
#include "replies.hpp"

namespace oag::actors {

std::string provider_key_aad(const std::string& company_id, const std::string& provider) {
  return "oag/provider-key/" + company_id + "/" + provider;
}

namespace {

using nlohmann::json;
using storage::record_kind;

struct company_provider {
  storage::provider_record record;
  provider_handle handle;
  bool usable = true; ///< false when its sealed key could not be opened
};

struct tenant_state {
  std::shared_ptr<const gateway_context> ctx;
  std::shared_ptr<const platform_providers> platform;
  storage::company_record company;
  storage::wallet_record wallet;
  std::unordered_map<std::string, storage::reservation_record> reservations;
  std::uint64_t next_ledger_seq = 1;
  std::map<std::string, company_provider, std::less<>> providers;
  std::shared_ptr<const routing::policy> policy;
  /// Spend of the current day and month (in the routing zone), for budget rules.
  struct {
    std::int64_t day_start = 0, month_start = 0;
    money::uot today = 0, month = 0;
  } spend;
  std::optional<failure> restore_error;
  /// Serves the company's assistants, threads, runs, responses and tools.
  caf::actor assistants;
  static inline const char* name = "oag.tenant";
};

using tenant_actor = caf::stateful_actor<tenant_state>;

json wallet_json(const storage::wallet_record& w) {
  return {{"object", "wallet"},
          {"balance_uot", w.balance_uot},
          {"reserved_uot", w.reserved_uot},
          {"spent_uot", w.spent_uot},
          {"credits_uot", w.credits_uot},
          {"balance_ot", money::format_ot(w.balance_uot)}};
}

json ledger_json(const storage::ledger_entry& e) {
  json j = {{"id", e.id},
          {"object", "ledger.entry"},
          {"response_id", e.response_id},
          {"kind", e.kind},
          {"model", e.model},
          {"provider", e.provider},
          {"upstream_model", e.upstream_model},
          {"input_tokens", e.input_tokens},
          {"cached_input_tokens", e.cached_input_tokens},
          {"output_tokens", e.output_tokens},
          {"cost_uot", e.cost_uot},
          {"status", e.status},
          {"created_at", e.created_at}};
  j["route_rule"] = e.route_rule.empty() ? json(nullptr) : json(e.route_rule);
  auto attempts = e.attempts_json.empty() ? json::array() : json::parse(e.attempts_json, nullptr, false);
  j["attempts"] = attempts.is_discarded() ? json::array() : attempts;
  return j;
}

json provider_json(const storage::provider_record& r) {
  json j = {{"name", r.name},
            {"kind", r.kind},
            {"base_url", r.base_url},
            {"has_api_key", r.sealed_api_key.has_value()},
            {"headers", r.extra_headers},
            {"allow_insecure_http", r.allow_insecure_http},
            {"created_at", r.created_at}};
  if (!r.prices.empty()) {
    json prices = json::object();
    for (auto& [model, p] : r.prices)
      prices[model] = {{"input", static_cast<double>(p.input_musd_per_mtok) / 1e6},
                       {"cached_input", static_cast<double>(p.cached_input_musd_per_mtok) / 1e6},
                       {"output", static_cast<double>(p.output_musd_per_mtok) / 1e6}};
    j["prices"] = std::move(prices);
  }
  return j;
}

// -- restore -----------------------------------------------------------------

/// Sums this day's and month's charges from the end of the ledger.
result<void> restore_spend(tenant_state& st, const std::string& company_id) {
  auto lt = routing::to_local(st.policy->budget_zone(), st.ctx->now());
  st.spend.day_start = lt.day_start_utc;
  st.spend.month_start = lt.month_start_utc;
  st.spend.today = st.spend.month = 0;
  auto prefix = storage::tenant_prefix(company_id, record_kind::ledger);
  std::optional<std::string> cursor;
  for (;;) {
    std::optional<std::string_view> after;
    if (cursor) after = *cursor;
    auto page = st.ctx->db->scan(prefix, after, 256, true);
    if (!page) return page.error();
    for (auto& kv : *page) {
      auto e = storage::decode_ledger_entry(kv.value);
      if (!e) continue;
      if (e->created_at < st.spend.month_start) return {};
      st.spend.month += e->cost_uot;
      if (e->created_at >= st.spend.day_start) st.spend.today += e->cost_uot;
    }
    if (page->size() < 256) return {};
    cursor = page->back().key;
  }
}

result<void> restore(tenant_actor* self, const std::string& company_id) {
  auto& st = self->state;
  auto& db = *st.ctx->db;
  auto company = db.get(storage::tenant_key(company_id, record_kind::company));
  if (!company) return company.error();
  if (!*company) return make_failure(errc::not_found, "company not found");
  auto decoded = storage::decode_company(**company);
  if (!decoded) return decoded.error();
  st.company = std::move(decoded.value());

  auto wallet = db.get(storage::tenant_key(company_id, record_kind::wallet));
  if (!wallet) return wallet.error();
  if (*wallet) {
    auto w = storage::decode_wallet(**wallet);
    if (!w) return w.error();
    st.wallet = *w;
  }

  // Reservations on disk now belong to calls of a process that died.
  std::vector<storage::reservation_record> orphans;
  auto scan = db.for_each(storage::tenant_prefix(company_id, record_kind::reservation),
                          [&](std::string_view, std::string_view value) {
                            if (auto r = storage::decode_reservation(value)) orphans.push_back(*r);
                            return true;
                          });
  if (!scan) return scan.error();
  for (auto& r : orphans) {
    auto change = storage::plan_release(company_id, st.wallet, r);
    if (!change) return change.error();
    if (auto w = db.write(change->batch); !w) return w.error();
    st.wallet = change->after;
    spdlog::info("company {}: released reservation of call {} left by a previous run ({} µO₮)",
                 company_id, r.call_id, r.amount_uot);
  }

  auto last = db.scan(storage::tenant_prefix(company_id, record_kind::ledger), std::nullopt, 1, true);
  if (!last) return last.error();
  if (!last->empty()) {
    auto parts = storage::parse_tenant_key(last->front().key);
    if (parts)
      if (auto seq = storage::decode_be64(parts->suffix)) st.next_ledger_seq = *seq + 1;
  }

  // The routing policy: the company's own (admin API), else the config
  // file's for this company, else the platform default, else no rules.
  auto routing_raw = db.get(storage::tenant_key(company_id, record_kind::routing));
  if (!routing_raw) return routing_raw.error();
  if (*routing_raw) {
    auto doc = json::parse(**routing_raw, nullptr, false);
    auto compiled = doc.is_discarded() ? result<std::shared_ptr<const routing::policy>>(
                                             make_failure(errc::storage_failure, "stored routing config is not JSON"))
                                       : routing::policy::compile(doc);
    if (!compiled) return compiled.error();
    st.policy = compiled.value();
  } else if (auto it = st.ctx->settings.company_routing.find(company_id); it != st.ctx->settings.company_routing.end()) {
    st.policy = it->second;
  } else if (st.ctx->settings.default_routing) {
    st.policy = st.ctx->settings.default_routing;
  } else {
    st.policy = routing::policy::compile(json::object()).value();
  }
  if (auto r = restore_spend(st, company_id); !r) return r;

  auto providers = db.for_each(
      storage::tenant_prefix(company_id, record_kind::provider),
      [&](std::string_view, std::string_view value) {
        auto rec = storage::decode_provider(value);
        if (!rec) return true;
        company_provider cp;
        cp.record = *rec;
        cp.handle.endpoint.name = rec->name;
        cp.handle.endpoint.kind = rec->kind;
        cp.handle.endpoint.base_url = rec->base_url;
        cp.handle.endpoint.allow_insecure_http = rec->allow_insecure_http;
        for (auto& [hn, hv] : rec->extra_headers) cp.handle.endpoint.extra_headers.push_back({hn, hv});
        if (rec->sealed_api_key) {
          auto key = st.ctx->vault->open(*rec->sealed_api_key, provider_key_aad(company_id, rec->name));
          if (key) {
            cp.handle.endpoint.api_key = std::move(key.value());
          } else {
            cp.usable = false;
            spdlog::error("company {}: the key of provider '{}' cannot be decrypted (wrong master key?)",
                          company_id, rec->name);
          }
        }
        cp.handle.actor = spawn_provider(self->system(), st.ctx, cp.handle.endpoint);
        self->link_to(cp.handle.actor);
        st.providers.emplace(rec->name, std::move(cp));
        return true;
      });
  if (!providers) return providers.error();
  return {};
}

// -- model resolution ----------------------------------------------------------

struct resolved_model {
  std::string provider_name;
  std::string upstream_model;
  provider_handle handle;
  adapters::model_info info;
};

result<resolved_model> resolve_model(tenant_actor* self, const std::string& requested) {
  auto& st = self->state;
  std::string model = requested;
  if (auto alias = st.ctx->settings.aliases.find(model); alias != st.ctx->settings.aliases.end())
    model = alias->second;
  auto not_found = [&] {
    failure f = make_failure(errc::model_not_found, "The model `" + requested +
                                                        "` does not exist or you do not have access to it.",
                             std::string{"model"});
    return f;
  };
  auto slash = model.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == model.size()) return not_found();
  resolved_model out;
  out.provider_name = model.substr(0, slash);
  out.upstream_model = model.substr(slash + 1);
  const std::map<std::string, money::price>* overrides = nullptr;
  if (auto it = st.providers.find(out.provider_name); it != st.providers.end()) {
    overrides = &it->second.record.prices;
    if (!it->second.usable)
      return make_failure(errc::upstream_error, "provider '" + out.provider_name +
                                                    "' is misconfigured: its key cannot be decrypted");
    out.handle = it->second.handle;
  } else if (auto pit = st.platform->by_name.find(out.provider_name); pit != st.platform->by_name.end()) {
    out.handle = pit->second;
  } else {
    return not_found();
  }
  const auto& kind = out.handle.endpoint.kind;
  auto info = st.ctx->catalog->find(kind, out.upstream_model);
  if (!info && kind == "mock") info = st.ctx->catalog->find("mock", "echo");
  if (overrides) {
    if (auto p = overrides->find(out.upstream_model); p != overrides->end()) {
      if (!info) info = adapters::model_info{};
      info->price = p->second;
    }
  }
  if (!info) {
    failure f = not_found();
    f.message = "The model `" + requested + "` has no price in OAG's catalogue (" + kind + "/" +
                out.upstream_model + "), so it cannot be metered; add it to prices.json.";
    return f;
  }
  out.info = *info;
  return out;
}

// -- calls ---------------------------------------------------------------------

/// Rolls the day and month spend counters over when their period ended.
void roll_spend(tenant_state& st, std::int64_t now) {
  auto lt = routing::to_local(st.policy->budget_zone(), now);
  if (lt.day_start_utc != st.spend.day_start) {
    st.spend.day_start = lt.day_start_utc;
    st.spend.today = 0;
  }
  if (lt.month_start_utc != st.spend.month_start) {
    st.spend.month_start = lt.month_start_utc;
    st.spend.month = 0;
  }
}

void start_call(tenant_actor* self, api_request& api, call_spec::operation op,
                client_format format = client_format::openai) {
  auto& st = self->state;
  const json& body = api.body;
  const std::string requested = body.value("model", std::string{});
  const auto now = st.ctx->now();
  roll_spend(st, now);

  call_spec spec;
  spec.op = op;
  spec.format = format;
  spec.prompt_estimate = adapters::estimate_prompt_tokens(body);
  routing::request_facts facts;
  facts.model = requested;
  facts.body = &body;
  facts.prompt_tokens = spec.prompt_estimate;
  facts.now_utc = now;
  facts.budget = {st.wallet.balance_uot, st.spend.today, st.spend.month};
  std::uint64_t ticket = 0;
  auto ticket_bytes = crypto::random_bytes(sizeof(ticket));
  std::memcpy(&ticket, ticket_bytes.data(), sizeof(ticket));
  auto decision = st.policy->decide(facts, ticket);
  spec.route_rule = decision.rule;
  spec.retry = st.policy->retry();

  // Resolve every target; ones this company cannot reach are skipped, but
  // if none is left the first failure (usually 404) is the answer.
  std::optional<failure> first_error;
  for (auto& model_ref : decision.targets) {
    auto rm = resolve_model(self, model_ref);
    if (!rm) {
      if (!first_error) {
        first_error = rm.error();
        if (model_ref != requested) first_error->message = "The model `" + requested + "` was routed to `" + model_ref + "`: " + first_error->message;
      }
      continue;
    }
    call_target t;
    t.model_ref = rm->provider_name + "/" + rm->upstream_model; // aliases resolved
    t.provider_name = rm->provider_name;
    t.upstream_model = rm->upstream_model;
    t.provider = rm->handle;
    t.price = rm->info.price;
    t.max_output_tokens = rm->info.max_output_tokens;
    spec.targets.push_back(std::move(t));
  }
  if (spec.targets.empty()) return detail::respond_failure(api.sink, *first_error);

  spec.call_id = api.call_id ? *api.call_id : crypto::random_id("call-", 20);
  if (st.reservations.count(spec.call_id))
    return detail::respond_failure(api.sink, make_failure(errc::conflict, "call id '" + spec.call_id + "' is in use"));
  spec.response_id = op == call_spec::operation::chat ? crypto::random_id("chatcmpl-", 24)
                                                      : crypto::random_id("emb-", 24);
  spec.company_id = st.company.id;
  spec.request_id = api.request_id;
  spec.client_model = requested;
  spec.stream = op == call_spec::operation::chat && body.value("stream", false);
  if (spec.stream) {
    auto so = body.find("stream_options");
    spec.include_usage = so != body.end() && so->is_object() && so->value("include_usage", false);
  }

  // Worst case over every target: the estimated prompt plus every output
  // token allowed, at that target's price.
  money::uot worst_cost = 0;
  for (auto& t : spec.targets) {
    money::token_usage worst;
    worst.input_tokens = spec.prompt_estimate;
    if (op == call_spec::operation::chat) {
      std::int64_t n = 1;
      if (auto it = body.find("n"); it != body.end() && it->is_number_integer()) n = std::max<std::int64_t>(1, *it);
      auto requested_out = adapters::requested_output_tokens(body);
      std::int64_t full = t.max_output_tokens * n;
      if (st.ctx->settings.reserve_output_cap) full = std::min(full, *st.ctx->settings.reserve_output_cap * n);
      worst.output_tokens = requested_out ? *requested_out : full;
    }
    worst_cost = std::max(worst_cost, money::cost_of(worst, t.price));
  }
  storage::reservation_record res;
  res.call_id = spec.call_id;
  res.amount_uot = worst_cost;
  res.created_at = now;
  auto change = storage::plan_reserve(st.company.id, st.wallet, res);
  if (!change) return detail::respond_failure(api.sink, change.error());
  if (auto w = st.ctx->db->write(change->batch); !w) return detail::respond_failure(api.sink, w.error());
  st.wallet = change->after;
  st.reservations.emplace(res.call_id, res);

  spec.body = std::move(api.body);
  spec.tenant = caf::actor_cast<caf::actor>(self);
  spec.sink = std::move(api.sink);
  spawn_call(self->system(), st.ctx, std::move(spec));
}

/// Whether `model` reaches a callable model, routed as a call with no
/// content would be (a content rule may still route real calls elsewhere).
caf::result<model_ok> check_model(tenant_actor* self, const model_check& msg) {
  auto& st = self->state;
  const json body = {{"model", msg.model}, {"messages", json::array()}};
  routing::request_facts facts;
  facts.model = msg.model;
  facts.body = &body;
  facts.now_utc = st.ctx->now();
  facts.budget = {st.wallet.balance_uot, st.spend.today, st.spend.month};
  auto decision = st.policy->decide(facts, 0);
  std::optional<failure> first_error;
  for (auto& target : decision.targets) {
    auto rm = resolve_model(self, target);
    if (rm) return model_ok{};
    if (!first_error) first_error = rm.error();
  }
  if (!first_error)
    first_error = make_failure(errc::model_not_found,
                               "The model `" + msg.model + "` does not exist or you do not have access to it.",
                               std::string{"model"});
  return to_caf_error(*first_error);
}

caf::result<storage::wallet_record> settle(tenant_actor* self, settle_call& msg) {
  auto& st = self->state;
  auto it = st.reservations.find(msg.call_id);
  if (it == st.reservations.end()) return st.wallet; // already settled: idempotent
  auto entry = std::move(msg.entry);
  entry.seq = st.next_ledger_seq;
  entry.id = "led_" + std::to_string(entry.seq);
  auto change = storage::plan_settle(st.company.id, st.wallet, it->second, entry);
  if (!change) return to_caf_error(change.error());
  if (auto w = st.ctx->db->write(change->batch); !w) return to_caf_error(w.error());
  st.wallet = change->after;
  st.reservations.erase(it);
  ++st.next_ledger_seq;
  roll_spend(st, st.ctx->now());
  st.spend.today += entry.cost_uot;
  st.spend.month += entry.cost_uot;
  if (st.ctx->observer)
    st.ctx->observer->charged(st.company.id, entry.model,
                              {entry.input_tokens, entry.cached_input_tokens, entry.output_tokens},
                              entry.cost_uot);
  return st.wallet;
}

caf::result<storage::wallet_record> release(tenant_actor* self, const release_call& msg) {
  auto& st = self->state;
  auto it = st.reservations.find(msg.call_id);
  if (it == st.reservations.end()) return st.wallet;
  auto change = storage::plan_release(st.company.id, st.wallet, it->second);
  if (!change) return to_caf_error(change.error());
  if (auto w = st.ctx->db->write(change->batch); !w) return to_caf_error(w.error());
  st.wallet = change->after;
  st.reservations.erase(it);
  return st.wallet;
}

// -- reads -----------------------------------------------------------------------

std::size_t parse_limit(const std::map<std::string, std::string>& query, std::optional<failure>& err) {
  auto it = query.find("limit");
  if (it == query.end()) return 20;
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc{} || p != it->second.data() + it->second.size() || v < 1 || v > 100) {
    err = make_failure(errc::invalid_request, "'limit' must be an integer between 1 and 100",
                       std::string{"limit"});
    return 0;
  }
  return v;
}

void list_ledger(tenant_actor* self, const api_request& api) {
  auto& st = self->state;
  std::optional<failure> err;
  auto limit = parse_limit(api.query, err);
  if (err) return detail::respond_failure(api.sink, *err);
  bool desc = false;
  if (auto o = api.query.find("order"); o != api.query.end()) {
    if (o->second == "desc") desc = true;
    else if (o->second != "asc")
      return detail::respond_failure(api.sink, make_failure(errc::invalid_request,
                                                            "'order' must be 'asc' or 'desc'",
                                                            std::string{"order"}));
  }
  std::optional<std::string> after_key;
  if (auto a = api.query.find("after"); a != api.query.end()) {
    const auto& id = a->second;
    std::uint64_t seq = 0;
    bool ok = id.rfind("led_", 0) == 0 && id.size() > 4;
    if (ok) {
      auto [p, ec] = std::from_chars(id.data() + 4, id.data() + id.size(), seq);
      ok = ec == std::errc{} && p == id.data() + id.size();
    }
    if (!ok)
      return detail::respond_failure(api.sink, make_failure(errc::invalid_request,
                                                            "'after' must be a ledger entry id (led_…)",
                                                            std::string{"after"}));
    after_key = storage::ledger_key(st.company.id, seq);
  }
  std::optional<std::string_view> after;
  if (after_key) after = *after_key;
  auto rows = st.ctx->db->scan(storage::tenant_prefix(st.company.id, record_kind::ledger), after,
                               limit + 1, desc);
  if (!rows) return detail::respond_failure(api.sink, rows.error());
  bool has_more = rows->size() > limit;
  if (has_more) rows->resize(limit);
  json data = json::array();
  for (auto& kv : *rows)
    if (auto e = storage::decode_ledger_entry(kv.value)) data.push_back(ledger_json(*e));
  json out = {{"object", "list"}, {"data", data}, {"has_more", has_more}};
  out["first_id"] = data.empty() ? json(nullptr) : data.front()["id"];
  out["last_id"] = data.empty() ? json(nullptr) : data.back()["id"];
  detail::respond_json(api.sink, 200, out);
}

json models_json(tenant_actor* self) {
  auto& st = self->state;
  json data = json::array();
  std::map<std::string, std::string> providers; // name -> kind, company first
  for (auto& [name, p] : st.providers) providers.emplace(name, p.record.kind);
  for (auto& [name, p] : st.platform->by_name) providers.emplace(name, p.endpoint.kind);
  for (auto& [name, kind] : providers) {
    std::string prefix = kind + "/";
    for (auto& [key, info] : st.ctx->catalog->all()) {
      if (key.rfind(prefix, 0) != 0) continue;
      data.push_back({{"id", name + "/" + key.substr(prefix.size())},
                      {"object", "model"},
                      {"created", st.company.created_at},
                      {"owned_by", name}});
    }
  }
  for (auto& [alias, target] : st.ctx->settings.aliases) {
    auto slash = target.find('/');
    if (slash == std::string::npos || !providers.count(target.substr(0, slash))) continue;
    data.push_back({{"id", alias}, {"object", "model"}, {"created", st.company.created_at},
                    {"owned_by", "alias:" + target}});
  }
  return data;
}

// -- admin -----------------------------------------------------------------------

void add_credit(tenant_actor* self, const api_request& api) {
  auto& st = self->state;
  const json& body = api.body;
  if (!body.is_object())
    return detail::respond_failure(api.sink, make_failure(errc::invalid_request, "the body must be a JSON object"));
  auto amount_it = body.find("amount_ot");
  if (amount_it == body.end() || !(amount_it->is_string() || amount_it->is_number_unsigned()))
    return detail::respond_failure(api.sink, make_failure(errc::invalid_request,
                                                          "'amount_ot' is required: a decimal string such as \"12.5\"",
                                                          std::string{"amount_ot"}));
  auto amount = money::parse_ot(amount_it->is_string() ? amount_it->get<std::string>()
                                                       : std::to_string(amount_it->get<std::uint64_t>()));
  if (!amount) {
    auto f = amount.error();
    f.param = "amount_ot";
    return detail::respond_failure(api.sink, f);
  }
  auto idem = detail::optional_string(body, "idempotency_key");
  if (!idem) return detail::respond_failure(api.sink, idem.error());
  if (*idem) {
    if (idem.value()->empty() || idem.value()->size() > 200)
      return detail::respond_failure(api.sink, make_failure(errc::invalid_request,
                                                            "'idempotency_key' must be 1 to 200 characters",
                                                            std::string{"idempotency_key"}));
    auto prior = st.ctx->db->get(storage::idempotency_key(st.company.id, "credit", **idem));
    if (!prior) return detail::respond_failure(api.sink, prior.error());
    if (*prior) {
      // The same key with another amount is a client bug, not a repeat.
      auto doc = json::parse(**prior, nullptr, false);
      if (!doc.is_discarded() && doc.value("amount_uot", money::uot{-1}) != *amount)
        return detail::respond_failure(
            api.sink, make_failure(errc::conflict,
                                   "idempotency_key '" + **idem + "' was already used for a credit of " +
                                       money::format_ot(doc.value("amount_uot", money::uot{0})) + " O₮",
                                   std::string{"idempotency_key"}));
      api.sink->respond(200, **prior);
      return;
    }
  }
  storage::wallet_record after = st.wallet;
  after.balance_uot += *amount;
  after.credits_uot += *amount;
  json result = {{"object", "credit"},
                 {"company_id", st.company.id},
                 {"amount_uot", *amount},
                 {"idempotency_key", *idem ? json(**idem) : json(nullptr)},
                 {"wallet", wallet_json(after)}};
  std::string result_text = detail::dump_json(result);
  auto change = storage::plan_credit(st.company.id, st.wallet, *amount, *idem, result_text);
  if (!change) return detail::respond_failure(api.sink, change.error());
  if (auto w = st.ctx->db->write(change->batch); !w) return detail::respond_failure(api.sink, w.error());
  st.wallet = change->after;
  api.sink->respond(200, result_text);
}

bool valid_provider_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

void put_provider(tenant_actor* self, const api_request& api) {
  auto& st = self->state;
  const std::string& name = api.params.at(1);
  const json& body = api.body;
  auto bad = [&](std::string msg, std::string param) {
    detail::respond_failure(api.sink, make_failure(errc::invalid_request, std::move(msg), std::move(param)));
  };
  if (!valid_provider_name(name))
    return bad("provider names are 1 to 64 characters of a-z, 0-9, '-' and '_'", "name");
  if (!body.is_object()) return bad("the body must be a JSON object", "body");
  auto kind = detail::optional_string(body, "kind");
  if (!kind) return detail::respond_failure(api.sink, kind.error());
  if (!*kind || !adapters::find_adapter(**kind))
    return bad("'kind' must name a supported provider kind (openai, azure, anthropic, gemini, ollama, deepseek, "
               "groq, mistral, xai, openrouter, together, mock)",
               "kind");
  auto base_url = detail::optional_string(body, "base_url");
  if (!base_url) return detail::respond_failure(api.sink, base_url.error());
  auto api_key = detail::optional_string(body, "api_key");
  if (!api_key) return detail::respond_failure(api.sink, api_key.error());
  bool insecure = false;
  if (auto it = body.find("allow_insecure_http"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("'allow_insecure_http' must be a boolean", "allow_insecure_http");
    insecure = it->get<bool>();
  }
  storage::provider_record rec;
  rec.company_id = st.company.id;
  rec.name = name;
  rec.kind = **kind;
  rec.allow_insecure_http = insecure;
  rec.created_at = st.ctx->now();
  const auto* adapter = adapters::find_adapter(rec.kind);
  if (rec.kind != "mock") {
    std::string url_text;
    if (*base_url) url_text = **base_url;
    else if (auto d = adapter->default_base_url()) url_text = *d;
    else return bad("'base_url' is required for kind " + rec.kind, "base_url");
    // Azure's base URL may carry ?api-version=…; the origin is what is checked.
    std::string origin_text = url_text;
    if (rec.kind == "azure") {
      auto split = adapters::split_azure_base_url(url_text);
      if (!split) return bad(split.error().message, "base_url");
      origin_text = split->base_url;
    }
    auto url = adapters::parse_url(origin_text);
    if (!url) return bad(url.error().message, "base_url");
    if (!url->tls() && !insecure && !adapters::is_loopback_host(url->host))
      return bad("plain http is allowed only to loopback hosts; use https or set allow_insecure_http",
                 "base_url");
    rec.base_url = *base_url ? **base_url : std::string{};
  }
  if (auto h = body.find("headers"); h != body.end() && !h->is_null()) {
    if (!h->is_object()) return bad("'headers' must be an object of header name -> value", "headers");
    for (auto& [name, value] : h->items()) {
      bool ok_name = !name.empty() && name.size() <= 128 &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                     });
      if (!ok_name || !value.is_string() || value.get_ref<const std::string&>().find_first_of("\r\n") != std::string::npos)
        return bad("'headers." + name + "' must be a valid header name with a single-line string value", "headers." + name);
      rec.extra_headers[name] = value.get<std::string>();
    }
  }
  if (auto it = body.find("prices"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad("'prices' must map model names to {input, cached_input, output}", "prices");
    for (auto& [model, p] : it->items()) {
      const std::string path = "prices." + model;
      if (!p.is_object() || model.empty()) return bad("'" + path + "' must be an object", path);
      money::price price;
      for (auto [field, out] : {std::pair<const char*, std::int64_t*>{"input", &price.input_musd_per_mtok},
                                {"cached_input", &price.cached_input_musd_per_mtok},
                                {"output", &price.output_musd_per_mtok}}) {
        auto f = p.find(field);
        if (f == p.end() && std::string{field} == "cached_input") {
          *out = price.input_musd_per_mtok; // no cache discount unless stated
          continue;
        }
        if (f == p.end() || !f->is_number())
          return bad("'" + path + "." + field + "' must be a number (USD per 1M tokens)", path + "." + field);
        auto musd = money::usd_per_mtok_to_musd(f->get<double>());
        if (!musd) return bad(musd.error().message, path + "." + field);
        *out = *musd;
      }
      rec.prices[model] = price;
    }
  }
  if (*api_key) {
    auto sealed = st.ctx->vault->seal(**api_key, provider_key_aad(st.company.id, name));
    if (!sealed) return detail::respond_failure(api.sink, sealed.error());
    rec.sealed_api_key = std::move(sealed.value());
  }
  if (auto w = st.ctx->db->put(storage::tenant_key(st.company.id, record_kind::provider, name),
                               storage::encode(rec));
      !w)
    return detail::respond_failure(api.sink, w.error());
  if (auto old = st.providers.find(name); old != st.providers.end()) {
    self->unlink_from(old->second.handle.actor);
    self->send_exit(old->second.handle.actor, caf::exit_reason::user_shutdown);
    st.providers.erase(old);
  }
  company_provider cp;
  cp.record = rec;
  cp.handle.endpoint = {name, rec.kind, rec.base_url, *api_key, insecure, {}};
  for (auto& [hn, hv] : rec.extra_headers) cp.handle.endpoint.extra_headers.push_back({hn, hv});
  cp.handle.actor = spawn_provider(self->system(), st.ctx, cp.handle.endpoint);
  self->link_to(cp.handle.actor);
  st.providers.emplace(name, std::move(cp));
  detail::respond_json(api.sink, 200, provider_json(rec));
}

void handle(tenant_actor* self, tenant_request& req) {
  auto& st = self->state;
  auto& api = req.api;
  if (st.restore_error) return detail::respond_failure(api.sink, *st.restore_error);
  if (is_assistants_route(api.route) || is_agents_route(api.route)) return self->send(st.assistants, std::move(req));
  switch (api.route) {
    case route_id::chat_completions: return start_call(self, api, call_spec::operation::chat);
    case route_id::embeddings: return start_call(self, api, call_spec::operation::embeddings);
    case route_id::anthropic_messages:
      return start_call(self, api, call_spec::operation::chat, client_format::anthropic);
    case route_id::models_list:
      return detail::respond_json(api.sink, 200, {{"object", "list"}, {"data", models_json(self)}});
    case route_id::model_get: {
      auto models = models_json(self);
      for (auto& m : models)
        if (m["id"] == api.params.back()) return detail::respond_json(api.sink, 200, m);
      return detail::respond_failure(
          api.sink, make_failure(errc::model_not_found,
                                 "The model `" + api.params.back() + "` does not exist or you do not have access to it.",
                                 std::string{"model"}));
    }
    case route_id::wallet_get:
    case route_id::admin_wallet_get: return detail::respond_json(api.sink, 200, wallet_json(st.wallet));
    case route_id::ledger_list:
    case route_id::admin_ledger_list: return list_ledger(self, api);
    case route_id::admin_credits_add: return add_credit(self, api);
    case route_id::admin_company_get:
      return detail::respond_json(api.sink, 200,
                                  {{"id", st.company.id},
                                   {"object", "company"},
                                   {"name", st.company.name},
                                   {"created_at", st.company.created_at},
                                   {"wallet", wallet_json(st.wallet)}});
    case route_id::admin_provider_put: return put_provider(self, api);
    case route_id::admin_provider_get: {
      auto it = st.providers.find(api.params.at(1));
      if (it == st.providers.end())
        return detail::respond_failure(api.sink, make_failure(errc::not_found, "no provider named '" +
                                                                                   api.params.at(1) + "'"));
      return detail::respond_json(api.sink, 200, provider_json(it->second.record));
    }
    case route_id::admin_provider_delete: {
      auto it = st.providers.find(api.params.at(1));
      if (it == st.providers.end())
        return detail::respond_failure(api.sink, make_failure(errc::not_found, "no provider named '" +
                                                                                   api.params.at(1) + "'"));
      storage::write_batch batch;
      batch.del(storage::tenant_key(st.company.id, record_kind::provider, it->first));
      if (auto w = st.ctx->db->write(batch); !w) return detail::respond_failure(api.sink, w.error());
      self->unlink_from(it->second.handle.actor);
      self->send_exit(it->second.handle.actor, caf::exit_reason::user_shutdown);
      json out = {{"name", it->first}, {"deleted", true}};
      st.providers.erase(it);
      return detail::respond_json(api.sink, 200, out);
    }
    case route_id::admin_routing_put: {
      auto compiled = routing::policy::compile(api.body);
      if (!compiled) return detail::respond_failure(api.sink, compiled.error());
      if (auto w = st.ctx->db->put(storage::tenant_key(st.company.id, record_kind::routing), detail::dump_json(api.body));
          !w)
        return detail::respond_failure(api.sink, w.error());
      st.policy = compiled.value();
      if (auto r = restore_spend(st, st.company.id); !r) return detail::respond_failure(api.sink, r.error());
      return detail::respond_json(api.sink, 200, {{"object", "routing"}, {"source", "company"}, {"config", api.body}});
    }
    case route_id::admin_routing_get: {
      auto raw = st.ctx->db->get(storage::tenant_key(st.company.id, record_kind::routing));
      if (!raw) return detail::respond_failure(api.sink, raw.error());
      std::string source = *raw ? "company"
                           : st.ctx->settings.company_routing.count(st.company.id) ? "config"
                           : st.ctx->settings.default_routing ? "default"
                                                              : "none";
      return detail::respond_json(api.sink, 200,
                                  {{"object", "routing"}, {"source", source}, {"config", st.policy->source()}});
    }
    case route_id::admin_routing_delete: {
      storage::write_batch batch;
      batch.del(storage::tenant_key(st.company.id, record_kind::routing));
      if (auto w = st.ctx->db->write(batch); !w) return detail::respond_failure(api.sink, w.error());
      if (auto it = st.ctx->settings.company_routing.find(st.company.id); it != st.ctx->settings.company_routing.end())
        st.policy = it->second;
      else if (st.ctx->settings.default_routing)
        st.policy = st.ctx->settings.default_routing;
      else
        st.policy = routing::policy::compile(json::object()).value();
      if (auto r = restore_spend(st, st.company.id); !r) return detail::respond_failure(api.sink, r.error());
      return detail::respond_json(api.sink, 200, {{"object", "routing"}, {"deleted", true}});
    }
    case route_id::admin_providers_list: {
      json data = json::array();
      for (auto& [name, p] : st.providers) data.push_back(provider_json(p.record));
      return detail::respond_json(api.sink, 200, {{"object", "list"}, {"data", data}});
    }
    default:
      return detail::respond_failure(api.sink, make_failure(errc::not_found, "unknown route"));
  }
}

caf::behavior tenant_behavior(tenant_actor* self, std::shared_ptr<const gateway_context> ctx,
                              std::string company_id, std::shared_ptr<const platform_providers> platform) {
  self->state.ctx = std::move(ctx);
  self->state.platform = std::move(platform);
  if (auto r = restore(self, company_id); !r) {
    spdlog::error("company {}: cannot restore state: {}", company_id, r.error().message);
    self->state.restore_error = r.error();
  } else {
    self->state.assistants = spawn_assistants(self->system(), self->state.ctx, company_id,
                                              caf::actor_cast<caf::actor>(self));
    self->link_to(self->state.assistants);
  }
  return {
    [=](tenant_request& req) { handle(self, req); },
    [=](const cancel_exchanges& msg) {
      for (auto& [name, p] : self->state.providers) self->send(p.handle.actor, msg);
    },
    [=](const clock_changed& msg) {
      if (self->state.assistants) self->send(self->state.assistants, msg);
    },
    [=](settle_call& msg) { return settle(self, msg); },
    [=](const model_check& msg) { return check_model(self, msg); },
    [=](const release_call& msg) { return release(self, msg); },
  };
}

} // namespace

caf::actor spawn_tenant(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                        std::string company_id, std::shared_ptr<const platform_providers> platform) {
  return sys.spawn(tenant_behavior, std::move(ctx), std::move(company_id), std::move(platform));
}

} // namespace oag::actors
